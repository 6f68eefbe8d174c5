// The real tokenizers: the bundled stories260k (no ../shared needed), the WikiText-2 token count
// cross-check of the Llama-2 tokenizer, and concurrent use.
#include <gtest/gtest.h>

#include <thread>

#include "lopper/data/datasets.h"
#include "lopper/util/fs.h"
#include "test_paths.h"
#include "tokenizer/tokenizer_test_util.h"

namespace lopper {
namespace {

TEST(TokenizerModelTest, BundledStories260k) {
  const Tokenizer tok = Tokenizer::from_dir(test::bundled_model());
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.unk_id(), 0);
  // Prompt ids listed in ASSETS.md 5.4 / section 3 (llama2.c's encoder agrees).
  EXPECT_EQ(tok.encode("Once upon a time"), (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.encode("Zoo"), (std::vector<int32_t>{1, 410, 469, 347}));
  EXPECT_EQ(tok.encode("Zoo", false), (std::vector<int32_t>{410, 469, 347}));
  const std::string text = "One day, Lily met a dog named Max.\n\"Hi!\" she said. <unk> 42";
  auto ids = tok.encode(text);
  // The text after <unk> is normalized on its own and gets its own "▁" (decoded as a space).
  EXPECT_EQ(tok.decode(ids), "One day, Lily met a dog named Max.\n\"Hi!\" she said.   42");
  EXPECT_EQ(tok.decode(ids, false),
            "<s> One day, Lily met a dog named Max.\n\"Hi!\" she said. <unk>  42");
  EXPECT_EQ(tok.id_to_token(1), "<s>");
  EXPECT_EQ(tok.token_to_id("\xE2\x96\x81" "a"), tok.encode("a", false).at(0));
}

TEST(TokenizerModelTest, CopiesShareStateAndEncodeConcurrently) {
  const Tokenizer tok = Tokenizer::from_dir(test::bundled_model());
  const std::string raw = read_file(test::source_dir() / "assets/data/wikitext2/wiki.test.raw");
  const std::string text = raw.substr(0, 200000);
  const auto expected = tok.encode(text);
  std::vector<std::vector<int32_t>> got(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i, copy = tok] { got[i] = copy.encode(text); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got[0], expected);
  EXPECT_EQ(got[1], expected);
}

// The perplexity texts of ASSETS.md 5.1 (built by lopper's data module): token counts and first
// ids of the goldens, and the Llama-2 cross-check of ASSETS.md 2.1 (341,469 WikiText-2 tokens, as
// SentencePiece gives). These texts are long single "words" for the SentencePiece-style
// tokenizers, so they exercise the cutting of long words in bpe.cpp.
TEST(TokenizerModelTest, PerplexityTextsMatchGoldenTokenCounts) {
  LOPPER_REQUIRE_SHARED();
  const auto dirs = DataDirs::resolve(test::shared_dir() / "data");
  for (const char* model : {"stories260k", "testbed-15m"}) {
    const Tokenizer tok = Tokenizer::from_dir(test::shared_dir() / "models" / model);
    const auto golden = nlohmann::json::parse(
        read_file(test::shared_dir() / "golden" / (std::string(model) + ".json")));
    for (const char* dataset : {"wikitext2", "c4", "ptb"}) {
      SCOPED_TRACE(std::string(model) + " " + dataset);
      const auto& expected = golden.at("perplexity").at(dataset);
      const auto ids = tok.encode(load_dataset(dataset, dirs).text);
      EXPECT_EQ(ids.size(), expected.at("n_tokens").get<size_t>());
      const auto first = expected.at("first_ids").get<std::vector<int32_t>>();
      ASSERT_GE(ids.size(), first.size());
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + first.size()), first);
    }
  }
  const Tokenizer llama2 = Tokenizer::from_dir(test::shared_dir() / "tokenizers/llama2");
  EXPECT_EQ(llama2.encode(load_dataset("wikitext2", dirs).text).size(), 341469u);
}

}  // namespace
}  // namespace lopper
