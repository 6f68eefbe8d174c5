// All 978 tokenizer cases of shared/golden/tokenizer_cases.jsonl (326 strings x 3 tokenizers),
// produced with the Hugging Face `tokenizers` library: ids with and without special tokens and
// both decodings must match exactly.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/fs.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct GoldenCase {
  std::string text;
  std::vector<int32_t> ids, ids_no_special;
  std::string decoded, decoded_keep_special;
};

std::vector<GoldenCase> load_cases(const std::string& tokenizer) {
  std::vector<GoldenCase> cases;
  std::istringstream in(read_file(test::shared_dir() / "golden/tokenizer_cases.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j.at("tokenizer") != tokenizer) continue;
    cases.push_back({j.at("text"), j.at("ids"), j.at("ids_no_special"), j.at("decoded"),
                     j.at("decoded_keep_special")});
  }
  return cases;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

void run_golden(const std::string& name, const std::filesystem::path& dir) {
  LOPPER_REQUIRE_SHARED();
  const auto cases = load_cases(name);
  ASSERT_EQ(cases.size(), 326u) << "cases for " << name;
  const Tokenizer tok = Tokenizer::from_dir(dir);
  int failures = 0;
  std::ostringstream diffs;
  for (const GoldenCase& c : cases) {
    auto ids = tok.encode(c.text, true);
    auto ids_no_special = tok.encode(c.text, false);
    auto decoded = tok.decode(ids, true);
    auto decoded_keep = tok.decode(ids, false);
    bool ok = ids == c.ids && ids_no_special == c.ids_no_special && decoded == c.decoded &&
              decoded_keep == c.decoded_keep_special;
    if (ok) continue;
    if (++failures <= 5) {
      diffs << "\n  text " << nlohmann::json(c.text).dump() << ":";
      if (ids != c.ids) diffs << "\n    ids      " << show(ids) << "\n    expected " << show(c.ids);
      if (ids_no_special != c.ids_no_special)
        diffs << "\n    ids_no_special " << show(ids_no_special) << "\n    expected       "
              << show(c.ids_no_special);
      if (decoded != c.decoded)
        diffs << "\n    decoded  " << nlohmann::json(decoded).dump() << "\n    expected "
              << nlohmann::json(c.decoded).dump();
      if (decoded_keep != c.decoded_keep_special)
        diffs << "\n    decoded_keep_special " << nlohmann::json(decoded_keep).dump()
              << "\n    expected             " << nlohmann::json(c.decoded_keep_special).dump();
    }
  }
  EXPECT_EQ(failures, 0) << name << ": " << failures << " of " << cases.size()
                         << " cases differ; first ones:" << diffs.str();
  std::printf("[ golden   ] %s: %zu/%zu cases identical\n", name.c_str(),
              cases.size() - static_cast<size_t>(failures), cases.size());
}

TEST(TokenizerGoldenTest, Stories260k) {
  run_golden("stories260k", test::shared_dir() / "models/stories260k");
}

TEST(TokenizerGoldenTest, Testbed15m) {
  run_golden("testbed-15m", test::shared_dir() / "models/testbed-15m");
}

TEST(TokenizerGoldenTest, Llama2) {
  run_golden("llama2", test::shared_dir() / "tokenizers/llama2");
}

}  // namespace
}  // namespace lopper
