#include "lopper/tokenizer/normalizer.h"

#include <vector>

#include "lopper/tokenizer/byte_level.h"
#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/pattern.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(std::string& s) const override {
    for (const auto& n : parts_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// Only non-empty text gets the prefix: "" must stay "" so that it encodes to no tokens.
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& s) const override {
    auto matches = pattern_.find_all(s);
    if (matches.empty()) return;
    std::string out;
    out.reserve(s.size() + matches.size() * content_.size());
    size_t last = 0;
    for (auto [start, end] : matches) {
      out.append(s, last, start - last);
      out += content_;
      last = end;
    }
    out.append(s, last, std::string::npos);
    s = std::move(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(std::string& s) const override { s = unicode_normalize(s, form_); }

 private:
  NormalForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = to_lowercase(s); }
};

// Removes leading and/or trailing Unicode whitespace.
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    size_t begin = 0, end = s.size();
    if (left_) {
      for (size_t i = 0; i < s.size();) {
        if (!is_whitespace(next_char(s, i))) break;
        begin = i;
      }
    }
    if (right_) {
      size_t i = begin;
      size_t last_non_space_end = begin;
      while (i < s.size())
        if (!is_whitespace(next_char(s, i))) last_non_space_end = i;
      end = last_non_space_end;
    }
    s = s.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// Filters characters by a predicate, optionally mapping the survivors (StripAccents, Nmt).
class FilterMapNormalizer : public Normalizer {
 public:
  using Keep = bool (*)(char32_t);
  using Map = char32_t (*)(char32_t);
  FilterMapNormalizer(Keep keep, Map map) : keep_(keep), map_(map) {}
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      char32_t c = next_char(s, i);
      if (keep_(c)) append_utf8(out, map_(c));
    }
    s = std::move(out);
  }

 private:
  Keep keep_;
  Map map_;
};

char32_t identity(char32_t c) { return c; }

bool nmt_keep(char32_t c) {
  return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           c == 0x8F || c == 0x9F);
}

char32_t nmt_map(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0C: case 0x0D: case 0x1680: case 0x2028: case 0x2029:
    case 0x2581: case 0xFEFF: case 0xFFFD:
      return ' ';
    default:
      return c >= 0x200B && c <= 0x200F ? U' ' : c;
  }
}

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    std::string out;
    bytes_to_byte_level(s, out);
    s = std::move(out);
  }
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const JsonNode& node) {
  const std::string type = node.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const JsonNode& child : node["normalizers"].elements())
      parts.push_back(parse_normalizer(child));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(node["prepend"].str());
  if (type == "Replace")
    return std::make_unique<ReplaceNormalizer>(parse_pattern(node["pattern"]),
                                               node["content"].str());
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(node["strip_left"].boolean(),
                                             node["strip_right"].boolean());
  if (type == "StripAccents")
    return std::make_unique<FilterMapNormalizer>([](char32_t c) { return !is_combining_mark(c); },
                                                 identity);
  if (type == "Nmt") return std::make_unique<FilterMapNormalizer>(nmt_keep, nmt_map);
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  node.unsupported_type(type,
                        "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip, "
                        "StripAccents, Nmt, ByteLevel");
}

}  // namespace lopper::tok
