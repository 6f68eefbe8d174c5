// Bad input: malformed or missing files, unsupported components, invalid UTF-8 text.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "test_paths.h"
#include "tokenizer/tokenizer_test_util.h"

namespace lopper {
namespace {

using nlohmann::json;

// Runs `f`, expecting exception E whose message contains every string in `parts`.
template <typename E, typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL() << "no exception";
  } catch (const E& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line message expected: " << msg;
  }
}

json minimal() { return test::tiny_bpe_json({{"a", 0}}, json::array()); }

TEST(TokenizerErrorsTest, MalformedJson) {
  expect_error<InputError>([] { Tokenizer::from_json("{\"model\": ", std::nullopt, "/m/tokenizer.json"); },
                           {"/m/tokenizer.json", "malformed JSON"});
  expect_error<InputError>([] { Tokenizer::from_json("[1, 2]"); }, {"must contain a JSON object"});
  expect_error<InputError>([] { Tokenizer::from_json("{}"); }, {"model is missing"});
  json j = minimal();
  j["model"]["vocab"]["b"] = -3;
  expect_error<InputError>([&] { test::tokenizer_from(j); }, {"model.vocab", "\"b\""});
  j = minimal();
  j["model"]["merges"] = json::array({{"a", "zz"}});
  expect_error<InputError>([&] { test::tokenizer_from(j); }, {"model.merges[0]", "\"zz\""});
  j = minimal();
  j["model"]["merges"] = json::array({"a b c"});
  expect_error<InputError>([&] { test::tokenizer_from(j); }, {"model.merges[0]"});
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(["}}}, {"behavior", "Isolated"},
                        {"invert", false}};
  expect_error<InputError>([&] { test::tokenizer_from(j); },
                           {"pre_tokenizer.pattern.Regex", "not a valid regex"});
  j = minimal();
  j["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
  expect_error<InputError>([&] { test::tokenizer_from(j); }, {"decoder.content", "single character"});
}

TEST(TokenizerErrorsTest, MissingFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "lopper_tok_missing_test";
  std::filesystem::create_directories(dir);
  expect_error<InputError>([&] { Tokenizer::from_dir(dir); }, {"tokenizer.json", "not found"});
  expect_error<InputError>([&] { Tokenizer::from_dir(dir / "nope"); }, {"not a directory"});
  write_file_atomic(dir / "tokenizer.json", minimal().dump());
  write_file_atomic(dir / "tokenizer_config.json", "{\"bos_token\": ");
  expect_error<InputError>([&] { Tokenizer::from_dir(dir); },
                           {"tokenizer_config.json", "malformed JSON"});
  remove_tree(dir);
}

TEST(TokenizerErrorsTest, UnsupportedModelsAndComponents) {
  for (const char* type : {"Unigram", "WordPiece", "WordLevel"}) {
    json j = minimal();
    j["model"]["type"] = type;
    expect_error<UnsupportedError>(
        [&] { Tokenizer::from_json(j.dump(), std::nullopt, "/m/tokenizer.json"); },
        {"/m/tokenizer.json: model.type \"" + std::string(type) +
         "\" is not supported (supported: BPE)"});
  }
  json j = minimal();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "UnicodeScripts"}}}}};
  expect_error<UnsupportedError>([&] { test::tokenizer_from(j); },
                                 {"pre_tokenizer.pretokenizers[0].type \"UnicodeScripts\""});
  j = minimal();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  expect_error<UnsupportedError>([&] { test::tokenizer_from(j); },
                                 {"normalizer.type \"Precompiled\" is not supported"});
  j = minimal();
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  expect_error<UnsupportedError>([&] { test::tokenizer_from(j); }, {"decoder.type \"WordPiece\""});
  j = minimal();
  j["version"] = "2.0";
  expect_error<UnsupportedError>([&] { test::tokenizer_from(j); }, {"version \"2.0\""});
}

// `tokenizers` only takes valid strings; lopper replaces invalid bytes with U+FFFD first, like
// Python's bytes.decode("utf-8", errors="replace").
TEST(TokenizerErrorsTest, InvalidUtf8InputIsReplacedLikePython) {
  const Tokenizer tok = Tokenizer::from_dir(test::bundled_model());
  auto ids = tok.encode("caf\xC3" " \xFF\xFE ok");
  EXPECT_EQ(ids, tok.encode("caf\uFFFD \uFFFD\uFFFD ok"));
  EXPECT_EQ(tok.decode(ids), "caf\uFFFD \uFFFD\uFFFD ok");
}

}  // namespace
}  // namespace lopper
