// Fine-tuning data: the Alpaca template and label masking (alpaca-lora's rules), JSON arrays and JSON
// Lines, plain-text windows, malformed rows named by file and line, the validation split.
#include <gtest/gtest.h>

#include <fstream>

#include "lopper/tokenizer/tokenizer.h"
#include "lopper/train/finetune_data.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct DataFixture : ::testing::Test {
  Tokenizer tok = Tokenizer::from_dir(test::bundled_model());
  std::filesystem::path dir = test::temp_dir("ft-data");
  ~DataFixture() override { remove_tree(dir); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  std::vector<int64_t> enc(const std::string& s) {
    auto ids = tok.encode(s);
    return {ids.begin(), ids.end()};
  }
  void expect_error(const std::filesystem::path& p, const std::string& needle, FinetuneDataOptions o = {}) {
    try {
      load_finetune_data(p, tok, o);
      FAIL() << "accepted " << p;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
};

TEST_F(DataFixture, AlpacaRowsMaskThePromptAndEndWithEos) {
  auto p = write("a.jsonl",
                 "{\"instruction\": \"Tell a story.\", \"input\": \"\", \"output\": \"Once upon a time.\"}\n\n"
                 "{\"instruction\": \"Name the cat.\", \"input\": \"The cat is red.\", \"output\": \"Tom\"}\n");
  auto ex = load_finetune_data(p, tok, {});
  ASSERT_EQ(ex.size(), 2u);
  const std::string prompt0 = alpaca_prompt("Tell a story.", "");
  EXPECT_EQ(prompt0.rfind("Below is an instruction that describes a task. Write", 0), 0u);
  EXPECT_NE(alpaca_prompt("a", "b").find("### Input:\nb\n\n### Response:\n"), std::string::npos);
  auto full = enc(prompt0 + "Once upon a time.");
  full.push_back(*tok.eos_id());
  EXPECT_EQ(ex[0].ids, full);
  const size_t plen = enc(prompt0).size();
  for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(ex[0].labels[i], i < plen ? kIgnoreLabel : full[i]) << i;
  FinetuneDataOptions on_inputs;
  on_inputs.train_on_inputs = true;
  EXPECT_EQ(load_finetune_data(p, tok, on_inputs)[0].labels, full);
  // Cut at cutoff_len: no EOS added.
  FinetuneDataOptions short_cut;
  short_cut.cutoff_len = 10;
  auto cut = load_finetune_data(p, tok, short_cut);
  EXPECT_EQ(cut[0].ids, std::vector<int64_t>(full.begin(), full.begin() + 10));
}

TEST_F(DataFixture, JsonArrayIsAcceptedLikeAlpacaDataCleaned) {
  auto p = write("a.json", "[{\"instruction\": \"Say hi.\", \"output\": \"hi\"}, {\"instruction\": \"x\", \"input\": null, "
                           "\"output\": \"y\"}]");
  EXPECT_EQ(load_finetune_data(p, tok, {}).size(), 2u);
}

TEST_F(DataFixture, MalformedRowsNameFileAndLine) {
  expect_error(write("bad1.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\"\n"), "bad1.jsonl:2: not valid JSON");
  expect_error(write("bad2.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"a\"}\n"),
               "bad2.jsonl:3: missing \"output\"");
  expect_error(write("bad3.jsonl", "{\"instruction\": 5, \"output\": \"b\"}\n"), "bad3.jsonl:1: \"instruction\" must be a string");
  expect_error(write("bad4.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\"text\"\n"),
               "bad4.jsonl:2: expected a JSON object");
  expect_error(write("bad5.json", "[{\"instruction\": \"a\", \"output\": \"b\"}, {\"output\": \"b\"}]"),
               "bad5.json: item 2: missing \"instruction\"");
  expect_error(write("empty.txt", ""), "empty.txt: no training examples");
  expect_error(dir / "missing.txt", "missing.txt");
  FinetuneDataOptions bad_format;
  bad_format.format = "csv";
  expect_error(write("x.txt", "abc"), "--data-format", bad_format);
}

TEST_F(DataFixture, PlainTextIsCutIntoWindows) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Lily saw a big red ball in the park. ";
  auto p = write("t.txt", text);
  FinetuneDataOptions o;
  o.cutoff_len = 32;
  auto ex = load_finetune_data(p, tok, o);
  auto all = enc(text);
  std::vector<int64_t> joined;
  for (const auto& e : ex) {
    EXPECT_LE(e.ids.size(), 32u);
    EXPECT_EQ(e.labels, e.ids);
    joined.insert(joined.end(), e.ids.begin(), e.ids.end());
  }
  EXPECT_EQ(joined, all);
  EXPECT_EQ(ex.size(), (all.size() + 31) / 32);
}

TEST_F(DataFixture, ValidationSplitIsSeededAndComplete) {
  std::vector<TrainExample> ex(10);
  for (int i = 0; i < 10; ++i) ex[i].ids = {i};
  auto [train, val] = split_validation(ex, 3, 42);
  EXPECT_EQ(train.size(), 7u);
  EXPECT_EQ(val.size(), 3u);
  std::vector<int64_t> seen;
  for (const auto* part : {&train, &val})
    for (const auto& e : *part) seen.push_back(e.ids[0]);
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);
  auto again = split_validation(ex, 3, 42);
  EXPECT_EQ(again.second[0].ids, val[0].ids);
  EXPECT_THROW(split_validation(ex, 10, 42), InputError);
}

}  // namespace
}  // namespace lopper
