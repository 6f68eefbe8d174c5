#include "lopper/tokenizer/pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <optional>
#include <stdexcept>

#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

struct Pattern::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

// Rewrites the Oniguruma escapes that PCRE2 spells differently or lacks (see pattern.h).
std::string translate_onig(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 8);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      if (e == 'u' && i + 6 <= p.size() && is_hex(p[i + 2]) &&
          is_hex(p[i + 3]) && is_hex(p[i + 4]) && is_hex(p[i + 5])) {
        out += "\\x{" + p.substr(i + 2, 4) + "}";
        i += 5;
      } else if (e == 'h') {
        out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
        i += 1;
      } else if (e == 'H' && !in_class) {
        out += "[^0-9a-fA-F]";
        i += 1;
      } else {
        out += c;
        out += e;
        i += 1;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

Pattern Pattern::literal(std::string text) {
  Pattern p;
  p.literal_ = std::move(text);
  return p;
}

Pattern Pattern::regex(const std::string& onig_pattern) {
  std::string translated = translate_onig(onig_pattern);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  auto re = std::make_shared<Regex>();
  re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                           PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, nullptr);
  if (re->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw std::invalid_argument(std::string(reinterpret_cast<const char*>(msg)) + " at offset " +
                                std::to_string(err_offset));
  }
  // JIT makes the pre-tokenizer split several times faster; without it PCRE2 interprets.
  pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
  Pattern p;
  p.regex_ = std::move(re);
  return p;
}

void Pattern::for_each_match(std::string_view s,
                             FunctionRef<void(size_t, size_t)> on_match) const {
  if (!regex_) {
    if (literal_.empty()) {
      // An empty pattern matches (emptily) at every character boundary, end included.
      for (size_t i = 0; i <= s.size(); i += i < s.size() ? utf8_len(s[i]) : 1) on_match(i, i);
      return;
    }
    for (size_t pos = s.find(literal_); pos != std::string_view::npos;
         pos = s.find(literal_, pos + literal_.size()))
      on_match(pos, pos + literal_.size());
    return;
  }
  // One match data per thread, reused: only the whole-match offsets are needed.
  thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  if (!md) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  std::optional<size_t> last_match_end;
  size_t pos = 0;
  while (pos <= s.size()) {
    // The input was validated once up front, so PCRE2 need not re-check UTF-8 on every call.
    int rc = pcre2_match(regex_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, md.get(),
                         nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw std::runtime_error(std::string("regex match failed: ") +
                               reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t start = ov[0], end = ov[1];
    if (start == end && last_match_end == end) {
      pos += pos < s.size() ? utf8_len(s[pos]) : 1;
      continue;
    }
    on_match(start, end);
    pos = end;
    last_match_end = end;
  }
}

std::vector<std::pair<size_t, size_t>> Pattern::find_all(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto add = [&](size_t start, size_t end) { out.emplace_back(start, end); };
  for_each_match(s, add);
  return out;
}

void Pattern::for_each_span(std::string_view s, SpanSink sink) const {
  if (s.empty()) {
    sink({0, 0, false});
    return;
  }
  size_t prev = 0;
  auto on_match = [&](size_t start, size_t end) {
    if (prev != start) sink({prev, start, false});
    sink({start, end, true});
    prev = end;
  };
  for_each_match(s, on_match);
  if (prev != s.size()) sink({prev, s.size(), false});
}

Pattern parse_pattern(const JsonNode& node) {
  if (node.has("String")) return Pattern::literal(node["String"].str());
  if (node.has("Regex")) {
    JsonNode re = node["Regex"];
    try {
      return Pattern::regex(re.str());
    } catch (const std::invalid_argument& e) {
      re.fail(std::string("is not a valid regex: ") + e.what());
    }
  }
  node.fail("must be {\"String\": ...} or {\"Regex\": ...}");
}

void for_each_char_span(std::string_view s, FunctionRef<bool(char32_t)> pred, SpanSink sink) {
  if (s.empty()) {
    sink({0, 0, false});
    return;
  }
  size_t last_offset = 0;
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    char32_t c = next_char(s, i);
    if (pred(c)) {
      if (last_offset < b) sink({last_offset, b, false});
      sink({b, i, true});
      last_offset = i;
    }
  }
  if (s.size() > last_offset) sink({last_offset, s.size(), false});
}

bool parse_split_behavior(std::string_view name, SplitBehavior& out) {
  static const std::pair<std::string_view, SplitBehavior> kNames[] = {
      {"Removed", SplitBehavior::Removed},
      {"Isolated", SplitBehavior::Isolated},
      {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
      {"MergedWithNext", SplitBehavior::MergedWithNext},
      {"Contiguous", SplitBehavior::Contiguous}};
  for (const auto& [n, b] : kNames)
    if (n == name) {
      out = b;
      return true;
    }
  return false;
}

// Streaming forms of the folds in tokenizers' NormalizedString::split. MergedWithNext, a fold
// from the right there, becomes: a match waits for the next span and absorbs it if that is not
// a match.
void SplitStream::operator()(const Span& span) {
  switch (behavior_) {
    case SplitBehavior::Isolated:
      out_(span.start, span.end);
      return;
    case SplitBehavior::Removed:
      if (!span.match) out_(span.start, span.end);
      return;
    case SplitBehavior::Contiguous:
      if (has_pending_ && span.match == previous_match_) {
        pending_.end = span.end;
      } else {
        flush();
        pending_ = span, has_pending_ = true;
      }
      break;
    case SplitBehavior::MergedWithPrevious:
      if (has_pending_ && span.match && !previous_match_) {
        pending_.end = span.end;
      } else {
        flush();
        pending_ = span, has_pending_ = true;
      }
      break;
    case SplitBehavior::MergedWithNext:
      if (has_pending_) {  // a pending span is always a match
        if (!span.match) {
          out_(pending_.start, span.end);
          has_pending_ = false;
          return;
        }
        flush();
      }
      if (span.match) pending_ = span, has_pending_ = true;
      else out_(span.start, span.end);
      return;
  }
  previous_match_ = span.match;
}

void SplitStream::flush() {
  if (has_pending_) out_(pending_.start, pending_.end);
  has_pending_ = false;
}

void SplitStream::finish() { flush(); }

}  // namespace lopper::tok
