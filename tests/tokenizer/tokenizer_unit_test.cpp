// Unit tests of the tokenizer pieces on small hand-made inputs; the expected values follow the
// `tokenizers` library's semantics (its own unit tests where it has them).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lopper/tokenizer/byte_level.h"
#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/pattern.h"
#include "lopper/tokenizer/pre_tokenizer.h"
#include "lopper/tokenizer/unicode.h"
#include "lopper/util/error.h"
#include "tokenizer/tokenizer_test_util.h"

namespace lopper {
namespace {

using nlohmann::json;

std::vector<std::string> pre_tokenize(const json& spec, const std::string& text) {
  tok::JsonNode node(spec, std::make_shared<const std::string>("test.json"), "pre_tokenizer");
  auto pt = tok::parse_pre_tokenizer(node);
  std::vector<std::string> out;
  auto collect = [&](tok::Piece&& p) { out.push_back(std::move(p.text)); };
  pt->pre_tokenize({text, true}, collect);
  return out;
}

std::vector<std::string> split_with(tok::SplitBehavior behavior, const std::string& s) {
  std::vector<std::string> out;
  auto keep = [&](size_t b, size_t e) { out.push_back(s.substr(b, e - b)); };
  tok::SplitStream split(behavior, keep);
  auto is_dash = [](char32_t c) { return c == '-'; };
  auto to_split = [&](const tok::Span& span) { split(span); };
  tok::for_each_char_span(s, is_dash, to_split);
  split.finish();
  return out;
}

TEST(TokenizerUnicodeTest, InvalidUtf8BecomesReplacementPerMaximalSubpart) {
  EXPECT_TRUE(tok::is_valid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_EQ(tok::to_valid_utf8("a\xFF" "b"), "a\uFFFD" "b");
  // A truncated 3-byte sequence is one maximal subpart, so one U+FFFD (as Python/Rust do).
  EXPECT_EQ(tok::to_valid_utf8("\xE2\x82" "x"), "\uFFFD" "x");
  // Encoded surrogates are not valid: each byte is replaced.
  EXPECT_EQ(tok::to_valid_utf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(tok::to_valid_utf8("\xC0\xAF"), "\uFFFD\uFFFD");  // overlong
  EXPECT_EQ(tok::to_valid_utf8("\xF0\x9F\x98"), "\uFFFD");
}

TEST(TokenizerByteLevelTest, Gpt2ByteTable) {
  std::string out;
  tok::bytes_to_byte_level(" \n!\xC3\xA9", out);
  EXPECT_EQ(out, "\xC4\xA0\xC4\x8A!\xC3\x83\xC2\xA9");  // "ĠĊ!Ã©"
  for (int b = 0; b < 256; ++b) {
    std::string mapped, back;
    tok::bytes_to_byte_level(std::string(1, static_cast<char>(b)), mapped);
    ASSERT_TRUE(tok::byte_level_to_bytes(mapped, back));
    EXPECT_EQ(back, std::string(1, static_cast<char>(b)));
  }
  std::string none;
  EXPECT_FALSE(tok::byte_level_to_bytes("a b", none));  // ' ' is not a byte-level character
}

TEST(TokenizerPatternTest, SplitBehaviorsMatchTokenizers) {
  using B = tok::SplitBehavior;
  const std::string s = "the-final--countdown";
  using V = std::vector<std::string>;
  EXPECT_EQ(split_with(B::Removed, s), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split_with(B::Isolated, s), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_with(B::MergedWithPrevious, s), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_with(B::MergedWithNext, s), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_with(B::Contiguous, s), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(TokenizerPatternTest, RegexEmptyMatchesAndOnigEscapes) {
  auto p = tok::Pattern::regex("a*");
  using M = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(p.find_all("baa"), (M{{0, 0}, {1, 3}}));
  EXPECT_EQ(tok::Pattern::regex(R"(\u0041+)").find_all("xAAy"), (M{{1, 3}}));
  EXPECT_EQ(tok::Pattern::literal("ab").find_all("abab"), (M{{0, 2}, {2, 4}}));
  EXPECT_THROW(tok::Pattern::regex("(unclosed"), std::invalid_argument);
}

TEST(TokenizerPreTokenizerTest, Llama3RegexSplit) {
  json spec = {{"type", "Sequence"},
               {"pretokenizers",
                {{{"type", "Split"},
                  {"pattern",
                   {{"Regex",
                     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                  {"behavior", "Isolated"},
                  {"invert", false}},
                 {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  EXPECT_EQ(pre_tokenize(spec, "I'M 12345 ok\n"),
            (std::vector<std::string>{"I", "'M", "Ġ", "123", "45", "Ġok", "Ċ"}));
}

TEST(TokenizerPreTokenizerTest, MetaspaceAndDigits) {
  json meta = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"},
               {"split", true}};
  EXPECT_EQ(pre_tokenize(meta, "Hey  friend"),
            (std::vector<std::string>{"\u2581Hey", "\u2581", "\u2581friend"}));
  json digits = {{"type", "Digits"}, {"individual_digits", true}};
  EXPECT_EQ(pre_tokenize(digits, "a12"), (std::vector<std::string>{"a", "1", "2"}));
  json ws = {{"type", "Whitespace"}};
  EXPECT_EQ(pre_tokenize(ws, "Hey, you!  ok"),
            (std::vector<std::string>{"Hey", ",", "you", "!", "ok"}));
}

// vocab a b c ab bc abc: which pair merges first is decided by merge rank, not position.
TEST(TokenizerBpeTest, MergeOrderFollowsRank) {
  json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"cab", 6}};
  auto tok1 = test::tokenizer_from(
      test::tiny_bpe_json(vocab, json::array({{"b", "c"}, {"a", "b"}, {"a", "bc"}})));
  EXPECT_EQ(tok1.encode("abc"), (std::vector<int32_t>{5}));  // b+c, then a+bc
  auto tok2 = test::tokenizer_from(
      test::tiny_bpe_json(vocab, json::array({"a b", "b c", "c ab"})));  // legacy "a b" form
  EXPECT_EQ(tok2.encode("abc"), (std::vector<int32_t>{3, 2}));  // a+b first; no "ab c" merge
  EXPECT_EQ(tok2.encode("cab"), (std::vector<int32_t>{6}));
  // Equal ranks resolve leftmost first.
  EXPECT_EQ(tok2.encode("abab"), (std::vector<int32_t>{3, 3}));
  // Long words merge in O(n log n); a 200k-symbol word still gives the expected result.
  std::string long_word;
  for (int i = 0; i < 100000; ++i) long_word += "ab";
  EXPECT_EQ(tok2.encode(long_word), std::vector<int32_t>(100000, 3));
}

TEST(TokenizerBpeTest, SubwordPrefixAndSuffix) {
  json j = test::tiny_bpe_json({{"a", 0}, {"##b", 1}, {"ab", 2}}, json::array({{"a", "##b"}}));
  j["model"]["continuing_subword_prefix"] = "##";
  EXPECT_EQ(test::tokenizer_from(j).encode("ab"), (std::vector<int32_t>{2}));
  j = test::tiny_bpe_json({{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}}, json::array({{"a", "b</w>"}}));
  j["model"]["end_of_word_suffix"] = "</w>";
  EXPECT_EQ(test::tokenizer_from(j).encode("ab"), (std::vector<int32_t>{2}));
}

TEST(TokenizerBpeTest, UnknownCharactersFuseOrNot) {
  json vocab = {{"<unk>", 0}, {"a", 1}};
  json j = test::tiny_bpe_json(vocab, json::array());
  j["model"]["unk_token"] = "<unk>";
  j["model"]["fuse_unk"] = true;
  EXPECT_EQ(test::tokenizer_from(j).encode("xya\xC3\xA9"), (std::vector<int32_t>{0, 1, 0}));
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(test::tokenizer_from(j).encode("xya"), (std::vector<int32_t>{0, 0, 1}));
  // Without an unk token, tokenizers drops what it cannot encode.
  j["model"]["unk_token"] = nullptr;
  EXPECT_EQ(test::tokenizer_from(j).encode("xya"), (std::vector<int32_t>{1}));
}

// Llama-2 style pipeline: Prepend("▁") + Replace(" ", "▁"), byte fallback, <s> added token.
json sentencepiece_like() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"\u2581", 2}, {"a", 3}, {"b", 4}, {"\u2581a", 5},
                {"<0xC3>", 6}, {"<0xA9>", 7}, {"<0xE2>", 8}, {"<0x82>", 9}};
  json j = test::tiny_bpe_json(vocab, json::array({{"\u2581", "a"}}));
  j["model"]["unk_token"] = "<unk>";
  j["model"]["byte_fallback"] = true;
  j["model"]["fuse_unk"] = true;
  j["added_tokens"] = {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false},
                        {"lstrip", false}, {"rstrip", false}, {"single_word", false}}};
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  return j;
}

TEST(TokenizerSentencePieceTest, AddedTokensSplitFirstAndPrependOnlyNonEmpty) {
  auto tok = test::tokenizer_from(sentencepiece_like());
  EXPECT_EQ(tok.encode(""), (std::vector<int32_t>{1}));  // Prepend never applies to ""
  EXPECT_EQ(tok.encode("", false), (std::vector<int32_t>{}));
  EXPECT_EQ(tok.encode("<s>", false), (std::vector<int32_t>{1}));  // no "▁" before the token
  // Each stretch between added tokens is normalized separately, so each gets its own "▁".
  EXPECT_EQ(tok.encode("a<s>a", false), (std::vector<int32_t>{5, 1, 5}));
  EXPECT_EQ(tok.encode("a a"), (std::vector<int32_t>{1, 5, 5}));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.unk_id(), 0);
}

TEST(TokenizerSentencePieceTest, ByteFallbackEncodeAndDecode) {
  auto tok = test::tokenizer_from(sentencepiece_like());
  // "é" is not in the vocabulary: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(tok.encode("\xC3\xA9", false), (std::vector<int32_t>{2, 6, 7}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 2, 6, 7}), "\xC3\xA9");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 2, 6, 7}, false), "<s> \xC3\xA9");
  // An invalid byte run becomes one U+FFFD per byte, not per maximal subpart.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{3, 8, 9, 3}), "a\uFFFD\uFFFD" "a");
  // "€" = E2 82 AC, but <0xAC> is missing and there is no unk for partial bytes: fused <unk>.
  EXPECT_EQ(tok.encode("\xE2\x82\xAC", false), (std::vector<int32_t>{2, 0}));
  // Unknown ids are skipped when decoding, as in tokenizers.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{3, 999, 3}), "aa");
}

TEST(TokenizerByteLevelTest, DecodeInvalidUtf8IsLossy) {
  json vocab = {{"a", 0}, {"\xC3\xA2", 1}, {"\xC4\xA4", 2}};  // byte-level "â" = E2, "Ĥ" = 82
  json j = test::tiny_bpe_json(vocab, json::array());
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}};
  auto tok = test::tokenizer_from(j);
  // E2 82 is a truncated 3-byte sequence: one U+FFFD, as String::from_utf8_lossy gives.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 2, 0}), "\uFFFD" "a");
}

TEST(TokenizerAddedTokenTest, StripAndSingleWordFlags) {
  json vocab = {{"a", 0}, {" ", 1}, {"b", 2}};
  json j = test::tiny_bpe_json(vocab, json::array());
  j["added_tokens"] = {
      {{"id", 3}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"special", true},
       {"normalized", false}, {"single_word", false}},
      {{"id", 4}, {"content", "ab"}, {"single_word", true}, {"special", false},
       {"normalized", true}, {"lstrip", false}, {"rstrip", false}}};
  auto tok = test::tokenizer_from(j);
  EXPECT_EQ(tok.encode("a  <m>  b"), (std::vector<int32_t>{0, 3, 2}));
  EXPECT_EQ(tok.encode("a ab b"), (std::vector<int32_t>{0, 1, 4, 1, 2}));
  EXPECT_EQ(tok.encode("aab"), (std::vector<int32_t>{0, 0, 2}));  // not a single word here
  EXPECT_EQ(tok.vocab_size(), 5);
  EXPECT_EQ(tok.token_to_id("<m>"), 3);
  EXPECT_EQ(tok.id_to_token(4), "ab");
  EXPECT_THROW(tok.id_to_token(99), InputError);
}

}  // namespace
}  // namespace lopper
