// The demo server's request parsing (every bad setting is a message naming it) and the text stream
// (streamed pieces add up to the decode of all new ids, even when tokens split UTF-8 characters).
#include <gtest/gtest.h>

#include <random>

#include "lopper/serve/demo_request.h"
#include "lopper/serve/text_stream.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

DemoLimits limits() { return {2, 1024, 1000}; }

std::string error_of(const std::string& body) {
  try {
    parse_demo_request(body, limits());
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DemoRequest, ReadsNumbersAsJsonOrAsTyped) {
  auto r = parse_demo_request(R"({"model":1,"prompt":"Hi","max_new_tokens":"24","greedy":false,
      "temperature":" 0.7","top_k":40,"top_p":"0.9","seed":"7"})", limits());
  EXPECT_EQ(r.model, 1u);
  EXPECT_EQ(r.prompt, "Hi");
  EXPECT_EQ(r.gen.max_new_tokens, 24);
  EXPECT_FALSE(r.gen.greedy);
  EXPECT_DOUBLE_EQ(r.gen.temperature, 0.7);
  EXPECT_EQ(r.gen.top_k, 40);
  EXPECT_DOUBLE_EQ(r.gen.top_p, 0.9);
  EXPECT_EQ(r.gen.seed, 7u);
  auto d = parse_demo_request(R"({"model":0,"prompt":"Hi"})", limits());
  EXPECT_EQ(d.gen.max_new_tokens, 64);
  EXPECT_FALSE(d.gen.greedy);
  EXPECT_DOUBLE_EQ(d.gen.top_p, 1.0);
}

TEST(DemoRequest, BadSettingsNameTheSetting) {
  const std::string p = R"("model":0,"prompt":"Hi")";
  EXPECT_NE(error_of("{" + p + R"(,"max_new_tokens":-3})").find("max new tokens: -3 is out of range (1 to 1024)"),
            std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"max_new_tokens":"100000"})").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"max_new_tokens":"12abc"})").find("max new tokens: \"12abc\" is not a whole number"),
            std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"max_new_tokens":""})").find("max new tokens: give a whole number"),
            std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"max_new_tokens":2.5})").find("not a whole number"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"temperature":"-0.5"})").find("temperature: -0.5 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"temperature":"hot"})").find("temperature: \"hot\" is not a number"),
            std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"temperature":"nan"})").find("is not a number"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"top_p":"0"})").find("top-p: 0 is outside (0, 1]"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"top_p":1.5})").find("top-p: 1.5 is outside (0, 1]"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"top_k":-1})").find("top-k: -1 is out of range"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"seed":"-1"})").find("seed: -1 is negative"), std::string::npos);
  EXPECT_NE(error_of("{" + p + R"(,"greedy":"yes"})").find("greedy: \"yes\" is not true or false"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":0,"prompt":"  \n"})").find("prompt: the prompt is empty"), std::string::npos);
  EXPECT_NE(error_of(R"({"model":0})").find("prompt: missing"), std::string::npos);
  EXPECT_NE(error_of(R"({"model":0,"prompt":")" + std::string(1001, 'a') + "\"}").find("too long"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":2,"prompt":"Hi"})").find("model: there is no model 2 (this server has 2: 0 to 1)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":-1,"prompt":"Hi"})").find("there is no model -1"), std::string::npos);
  EXPECT_NE(error_of(R"({"prompt":"Hi"})").find("model: missing"), std::string::npos);
  EXPECT_NE(error_of("not json").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("[1,2]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("").find("not a JSON object"), std::string::npos);
}

// Random ids, byte-fallback tokens (<0x..>, which split UTF-8 characters) included: the pieces
// always add up to the decode of all ids.
TEST(DemoTextStream, PiecesAddUpToTheDecodeOfAllIds) {
  auto tok = Tokenizer::from_dir(test::bundled_model());
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> any(0, tok.vocab_size() - 1), bytes(3, 258);
  for (int trial = 0; trial < 200; ++trial) {
    TextStream s(tok);
    std::string joined;
    for (int i = 0; i < 1 + trial % 30; ++i) joined += s.push(rng() % 3 == 0 ? bytes(rng) : any(rng));
    joined += s.finish();
    ASSERT_FALSE(s.diverged());
    EXPECT_EQ(joined, s.text());
    EXPECT_EQ(joined, s.emitted());
    EXPECT_EQ(s.text(), tok.decode(s.ids(), true));
  }
}

TEST(DemoTextStream, HoldsBackARunOfByteTokens) {
  auto tok = Tokenizer::from_dir(test::bundled_model());
  // "é" is C3 A9 in UTF-8: the run <0xC3> <0xA9> is held back until a normal token ends it (or the
  // stream ends), since a byte that followed could still make the whole run U+FFFDs.
  auto c3 = tok.token_to_id("<0xC3>"), a9 = tok.token_to_id("<0xA9>"), a = tok.token_to_id("a");
  ASSERT_TRUE(c3 && a9 && a);
  TextStream s(tok);
  EXPECT_EQ(s.push(*c3), "");
  EXPECT_EQ(s.push(*a9), "");
  EXPECT_EQ(s.push(*a), "\xC3\xA9" "a");
  EXPECT_EQ(s.push(*c3), "");
  EXPECT_EQ(s.finish(), s.text().substr(3));
  EXPECT_FALSE(s.diverged());
}

}  // namespace
}  // namespace lopper
