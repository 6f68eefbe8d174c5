// Patterns used by the Split pre-tokenizer and the Replace normalizer/decoder, and the split
// behaviours of tokenizers' NormalizedString::split. Matches are streamed through callbacks so that
// splitting a megabyte of text does not build megabyte-sized match lists.
//
// `tokenizers` compiles regexes with Oniguruma (Ruby syntax); lopper uses PCRE2 (JIT, UTF + UCP).
// The two agree on everything the Llama/Qwen/GPT-2 patterns use (\p{L}, \p{N}, \s incl. U+0085,
// (?i:...) with Unicode case folding, look-ahead). Oniguruma-only escapes are rewritten:
// \uHHHH -> \x{HHHH}, \h / \H (hex digit) -> [0-9a-fA-F] / [^0-9a-fA-F]; ^ and $ match at line
// boundaries as in Ruby.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lopper/tokenizer/function_ref.h"

namespace lopper::tok {

class JsonNode;

// A piece of the input: [start, end) and whether it is a match of the pattern.
struct Span {
  size_t start;
  size_t end;
  bool match;
};

using SpanSink = FunctionRef<void(const Span&)>;

class Pattern {
 public:
  // An exact string (tokenizers' {"String": ...}).
  static Pattern literal(std::string text);
  // An Oniguruma-syntax regex (tokenizers' {"Regex": ...}); throws std::invalid_argument with the
  // PCRE2 message when it does not compile.
  static Pattern regex(const std::string& onig_pattern);

  // Calls on_match(start, end) for the non-overlapping matches, left to right, with Oniguruma's
  // find_iter rule for empty matches (an empty match right where the previous one ended is skipped).
  void for_each_match(std::string_view s, FunctionRef<void(size_t, size_t)> on_match) const;
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

  // tokenizers' Pattern::find_matches: spans covering all of `s` in order (matches and the text
  // between them); empty input gives one empty non-match span.
  void for_each_span(std::string_view s, SpanSink sink) const;

 private:
  struct Regex;
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

// A tokenizer.json pattern object: {"String": "..."} or {"Regex": "..."}.
Pattern parse_pattern(const JsonNode& node);

// tokenizers' Pattern for a `Fn(char) -> bool`: every matching character is its own match.
void for_each_char_span(std::string_view s, FunctionRef<bool(char32_t)> pred, SpanSink sink);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Parses "Removed", "Isolated", ...; returns false for an unknown name.
bool parse_split_behavior(std::string_view name, SplitBehavior& out);

// Applies a split behavior (NormalizedString::split) to spans fed in order, passing each range
// to keep to `out(start, end)`. Empty ranges are passed on too; callers drop them where
// tokenizers does. Call finish() after the last span.
class SplitStream {
 public:
  SplitStream(SplitBehavior behavior, FunctionRef<void(size_t, size_t)> out)
      : behavior_(behavior), out_(out) {}
  void operator()(const Span& span);
  void finish();

 private:
  void flush();

  SplitBehavior behavior_;
  FunctionRef<void(size_t, size_t)> out_;
  bool has_pending_ = false;
  Span pending_{};
  bool previous_match_ = false;
};

}  // namespace lopper::tok
