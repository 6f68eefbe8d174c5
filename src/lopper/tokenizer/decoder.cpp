#include "lopper/tokenizer/decoder.h"

#include "lopper/tokenizer/byte_level.h"
#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/pattern.h"
#include "lopper/tokenizer/pre_tokenizer.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

namespace {

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : parts_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

// Maps byte-level characters back to bytes (a token with any other character, e.g. an added token
// like "<|end_of_text|>" containing a space, contributes its own bytes), then decodes the whole
// byte string with U+FFFD for invalid sequences (Rust's String::from_utf8_lossy).
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens)
      if (!byte_level_to_bytes(t, bytes)) bytes += t;
    tokens.assign(1, to_valid_utf8(bytes));
  }
};

// The replacement character becomes a space; in the first token it is dropped instead, unless
// the pre-tokenizer never prepends one.
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, PrependScheme scheme) : scheme_(scheme) {
    append_utf8(rep_, replacement);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      std::string out;
      out.reserve(t.size());
      for (size_t pos = 0; pos < t.size();) {
        if (t.compare(pos, rep_.size(), rep_) == 0) {
          if (i != 0 || scheme_ == PrependScheme::Never) out += ' ';
          pos += rep_.size();
        } else {
          out += t[pos++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string rep_;
  PrependScheme scheme_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      auto add = [&](const Span& span) {
        if (span.match) out += content_;
        else out.append(t, span.start, span.end - span.start);
      };
      pattern_.for_each_span(t, add);
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Runs of <0xXX> tokens become the text they encode when it is valid UTF-8; otherwise every byte
// of the run becomes one U+FFFD (tokenizers does not try to salvage the valid part).
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back(kReplacementChar);
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      int byte = byte_value(t);
      if (byte >= 0) {
        run += static_cast<char>(byte);
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
    return -1;
  }
  // "<0xHH>" -> HH, else -1. Rust's u8::from_str_radix also accepts a leading '+' ("<0x+A>").
  static int byte_value(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    if (t[3] == '+') return hex(t[4]);
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character from each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // byte offset, character
      for (size_t i = 0; i < t.size();) {
        size_t at = i;
        chars.emplace_back(at, next_char(t, i));
      }
      size_t begin = 0, end = chars.size();
      while (begin < std::min(start_, chars.size()) && chars[begin].second == content_) ++begin;
      for (size_t k = 0; k < stop_ && end > begin && chars[end - 1].second == content_; ++k) --end;
      size_t b = begin < chars.size() ? chars[begin].first : t.size();
      size_t e = end < chars.size() ? chars[end].first : t.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

// Classic BPE end-of-word suffix: a space between words, nothing after the last one.
class BpeSuffixDecoder : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(Pattern::literal(std::move(suffix))) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string sep = i + 1 == tokens.size() ? "" : " ";
      const std::string& t = tokens[i];
      std::string out;
      auto add = [&](const Span& span) {
        if (span.match) out += sep;
        else out.append(t, span.start, span.end - span.start);
      };
      suffix_.for_each_span(t, add);
      tokens[i] = std::move(out);
    }
  }

 private:
  Pattern suffix_;
};

size_t count_of(const JsonNode& node) {
  int64_t v = node.integer();
  if (v < 0) node.fail("must not be negative");
  return static_cast<size_t>(v);
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const JsonNode& node) {
  const std::string type = node.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const JsonNode& child : node["decoders"].elements()) parts.push_back(parse_decoder(child));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace")
    return std::make_unique<MetaspaceDecoder>(node["replacement"].single_char(),
                                              parse_prepend_scheme(node));
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(parse_pattern(node["pattern"]), node["content"].str());
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(node["content"].single_char(), count_of(node["start"]),
                                          count_of(node["stop"]));
  if (type == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(node.str_or("suffix", "</w>"));
  node.unsupported_type(type,
                        "Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, "
                        "BPEDecoder");
}

}  // namespace lopper::tok
