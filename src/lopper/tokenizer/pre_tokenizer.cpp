#include "lopper/tokenizer/pre_tokenizer.h"

#include <optional>
#include <vector>

#include "lopper/tokenizer/byte_level.h"
#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/pattern.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

namespace {

// Splits `piece` (PreTokenizedString::split with NormalizedString::split): `feed` passes the
// spans of the piece's text to a SpanSink; they go through `behavior` and the non-empty ranges
// are emitted as pieces.
template <typename Feed>
void split_piece(const Piece& piece, SplitBehavior behavior, Feed&& feed, const PieceSink& emit) {
  auto out = [&](size_t start, size_t end) {
    if (start != end) emit({piece.text.substr(start, end - start), piece.at_start && start == 0});
  };
  SplitStream split(behavior, out);
  auto to_split = [&](const Span& span) { split(span); };
  feed(SpanSink(to_split));
  split.finish();
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    run(0, std::move(piece), emit);
  }

 private:
  void run(size_t stage, Piece&& piece, const PieceSink& emit) const {
    if (stage == parts_.size()) {
      emit(std::move(piece));
      return;
    }
    auto next = [&](Piece&& p) { run(stage + 1, std::move(p), emit); };
    parts_[stage]->pre_tokenize(std::move(piece), next);
  }

  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    split_piece(piece, behavior_, [&](SpanSink sink) {
      auto flip = [&](const Span& span) { sink({span.start, span.end, span.match != invert_}); };
      pattern_.for_each_span(piece.text, flip);
    }, emit);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits on characters selected by a predicate (Digits, Punctuation, WhitespaceSplit, ...).
class CharSplitPreTokenizer : public PreTokenizer {
 public:
  using Pred = bool (*)(char32_t);
  CharSplitPreTokenizer(Pred pred, SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    auto pred = [this](char32_t c) { return pred_(c); };
    split_piece(piece, behavior_, [&](SpanSink sink) { for_each_char_span(piece.text, pred, sink); },
                emit);
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

class CharDelimiterPreTokenizer : public PreTokenizer {
 public:
  explicit CharDelimiterPreTokenizer(char32_t delimiter) : delimiter_(delimiter) {}
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    auto is_delimiter = [this](char32_t c) { return c == delimiter_; };
    split_piece(piece, SplitBehavior::Removed,
                [&](SpanSink sink) { for_each_char_span(piece.text, is_delimiter, sink); }, emit);
  }

 private:
  char32_t delimiter_;
};

// tokenizers' Whitespace: the matches of `\w+|[^\w\s]+` (runs of word characters, runs of other
// non-space characters); whitespace between them is dropped.
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    const std::string& s = piece.text;
    std::vector<std::pair<size_t, size_t>> runs;
    int run_class = 0;  // 0: whitespace, 1: word run, 2: run of other characters
    for (size_t i = 0; i < s.size();) {
      size_t at = i;
      char32_t c = next_char(s, i);
      int cls = is_word_char(c) ? 1 : is_whitespace(c) ? 0 : 2;
      if (cls != 0 && cls == run_class) runs.back().second = i;
      else if (cls != 0) runs.emplace_back(at, i);
      run_class = cls;
    }
    for (auto [start, end] : runs)
      emit({s.substr(start, end - start), piece.at_start && start == 0});
  }
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = Pattern::regex(kGpt2SplitRegex);
  }
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    if (add_prefix_space_ && piece.text.front() != ' ') piece.text.insert(0, " ");
    auto map_bytes = [&](Piece&& p) {
      std::string mapped;
      bytes_to_byte_level(p.text, mapped);
      emit({std::move(mapped), p.at_start});
    };
    if (regex_) {
      split_piece(piece, SplitBehavior::Isolated,
                  [&](SpanSink sink) { regex_->for_each_span(piece.text, sink); }, map_bytes);
    } else {
      map_bytes(std::move(piece));
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<Pattern> regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    append_utf8(rep_, replacement);
  }
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    std::string out;
    out.reserve(piece.text.size() + rep_.size());
    for (char ch : piece.text) {
      if (ch == ' ') out += rep_;
      else out += ch;
    }
    bool prepend =
        scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && piece.at_start);
    if (prepend && out.compare(0, rep_.size(), rep_) != 0) out.insert(0, rep_);
    piece.text = std::move(out);
    if (!split_) {
      emit(std::move(piece));
      return;
    }
    auto is_replacement = [this](char32_t c) { return c == replacement_; };
    split_piece(piece, SplitBehavior::MergedWithNext,
                [&](SpanSink sink) { for_each_char_span(piece.text, is_replacement, sink); }, emit);
  }

 private:
  char32_t replacement_;
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(Piece&& piece, const PieceSink& emit) const override {
    auto split_punctuation = [&](Piece&& p) { punctuation_.pre_tokenize(std::move(p), emit); };
    whitespace_.pre_tokenize(std::move(piece), split_punctuation);
  }

 private:
  CharSplitPreTokenizer whitespace_{is_whitespace, SplitBehavior::Removed};
  CharSplitPreTokenizer punctuation_{is_punctuation, SplitBehavior::Isolated};
};

SplitBehavior behavior_of(const JsonNode& node) {
  SplitBehavior b{};
  std::string name = node.str();
  if (!parse_split_behavior(name, b))
    node.fail("\"" + name + "\" is not a split behavior (Removed, Isolated, MergedWithPrevious, "
              "MergedWithNext, Contiguous)");
  return b;
}

}  // namespace

PrependScheme parse_prepend_scheme(const JsonNode& node) {
  PrependScheme scheme = PrependScheme::Always;
  if (node.has("prepend_scheme")) {
    JsonNode s = node["prepend_scheme"];
    std::string name = s.str();
    if (name == "always") scheme = PrependScheme::Always;
    else if (name == "first") scheme = PrependScheme::First;
    else if (name == "never") scheme = PrependScheme::Never;
    else s.fail("\"" + name + "\" is not one of always, first, never");
  }
  // Files written before prepend_scheme existed say add_prefix_space: false instead.
  if (node.has("add_prefix_space") && !node["add_prefix_space"].boolean()) {
    if (scheme != PrependScheme::Never && node.has("prepend_scheme"))
      node.fail("add_prefix_space does not match declared prepend_scheme");
    scheme = PrependScheme::Never;
  }
  return scheme;
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonNode& node) {
  const std::string type = node.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const JsonNode& child : node["pretokenizers"].elements())
      parts.push_back(parse_pre_tokenizer(child));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Split")
    return std::make_unique<SplitPreTokenizer>(parse_pattern(node["pattern"]),
                                               behavior_of(node["behavior"]),
                                               node.bool_or("invert", false));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(node.bool_or("add_prefix_space", true),
                                                   node.bool_or("use_regex", true));
  if (type == "Metaspace")
    return std::make_unique<MetaspacePreTokenizer>(node["replacement"].single_char(),
                                                   parse_prepend_scheme(node),
                                                   node.bool_or("split", true));
  if (type == "Digits")
    return std::make_unique<CharSplitPreTokenizer>(
        is_numeric, node.bool_or("individual_digits", false) ? SplitBehavior::Isolated
                                                             : SplitBehavior::Contiguous);
  if (type == "Punctuation")
    return std::make_unique<CharSplitPreTokenizer>(
        is_punctuation,
        node.has("behavior") ? behavior_of(node["behavior"]) : SplitBehavior::Isolated);
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit")
    return std::make_unique<CharSplitPreTokenizer>(is_whitespace, SplitBehavior::Removed);
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "CharDelimiterSplit")
    return std::make_unique<CharDelimiterPreTokenizer>(node["delimiter"].single_char());
  node.unsupported_type(type,
                        "Sequence, Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace, "
                        "WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit");
}

}  // namespace lopper::tok
