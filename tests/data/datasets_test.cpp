#include "lopper/data/datasets.h"

#include <algorithm>
#include <cstdlib>

#include <gtest/gtest.h>

#include "data/data_test_util.h"
#include "lopper/data/pystr.h"
#include "lopper/util/fs.h"
#include "test_paths.h"

namespace lopper {
namespace {

using test::gzip_bytes;
using test::input_error_of;
using test::TempDir;
using test::write_bytes;

DataDirs only_dir(const std::filesystem::path& dir) { return DataDirs{dir, {}, {}}; }

// Sets (or, given nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// The figures of the HF wikitext-2-raw-v1 test split (ASSETS.md 5.1), from either copy of the file.
void expect_wikitext2(const std::filesystem::path& data_dir) {
  auto rows = wikitext2_rows(read_file(data_dir / "wikitext2/wiki.test.raw"));
  EXPECT_EQ(rows.size(), 4358u);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), ""), 1467);
  for (const auto& r : rows)
    if (!r.empty()) EXPECT_EQ(r.back(), '\n');

  auto ds = load_dataset("wikitext2", only_dir(data_dir));
  EXPECT_EQ(ds.name, "wikitext2");
  EXPECT_EQ(ds.rows, 4358);
  EXPECT_TRUE(ds.eval_split);
  EXPECT_EQ(ds.source, data_dir / "wikitext2/wiki.test.raw");
  EXPECT_EQ(count_code_points(ds.text), 1294336);
  EXPECT_EQ(ds.text.rfind("\n\n = Robert Boulter = \n", 0), 0u);
  EXPECT_EQ(ds.text, join(rows, "\n\n"));
}

TEST(Datasets, Wikitext2FromShared) {
  LOPPER_REQUIRE_SHARED();
  expect_wikitext2(test::shared_dir() / "data");
}

TEST(Datasets, Wikitext2FromBundled) { expect_wikitext2(test::source_dir() / "assets/data"); }

void expect_c4_sample(const std::filesystem::path& data_dir) {
  auto ds = load_dataset("c4", only_dir(data_dir));
  EXPECT_EQ(ds.rows, 118);
  EXPECT_EQ(ds.source, data_dir / "c4/c4-sample.txt");
  EXPECT_EQ(ds.default_max_windows, 0);
  EXPECT_TRUE(ds.eval_split);
  // 118 lines joined with " ": the 118 line ends become 117 spaces.
  EXPECT_EQ(ds.text.size(), 332173u - 1);
  EXPECT_EQ(count_code_points(ds.text), 327627 - 1);
  EXPECT_EQ(ds.text.find('\n'), std::string::npos);
  EXPECT_EQ(ds.text.rfind("Restore from larger disk to smaller disk | MacRumors Forums", 0), 0u);
}

TEST(Datasets, C4SampleFromShared) {
  LOPPER_REQUIRE_SHARED();
  expect_c4_sample(test::shared_dir() / "data");
}

TEST(Datasets, C4SampleFromBundled) { expect_c4_sample(test::source_dir() / "assets/data"); }

TEST(Datasets, PtbTestAndValid) {
  LOPPER_REQUIRE_SHARED();
  auto dirs = only_dir(test::shared_dir() / "data");
  auto ds = load_dataset("ptb", dirs);
  EXPECT_EQ(ds.rows, 3761);
  EXPECT_TRUE(ds.eval_split);
  EXPECT_EQ(ds.text.rfind("no it was n't black monday but while the new york stock exchange", 0), 0u);
  EXPECT_EQ(ds.text.find('\n'), std::string::npos);
  EXPECT_EQ(ds.text.find("  "), std::string::npos);  // stripped rows, single-space joiner
  EXPECT_NE(ds.text.find("<unk>"), std::string::npos);

  auto valid = load_dataset("ptb-valid", dirs);
  EXPECT_EQ(valid.rows, 3370);
  EXPECT_FALSE(valid.eval_split);
}

TEST(Datasets, TinyStories) {
  LOPPER_REQUIRE_SHARED();
  auto ds = load_dataset("tinystories", only_dir(test::shared_dir() / "data"));
  EXPECT_EQ(ds.rows, 317);  // 316 separators, the last story (cut short) follows the last one
  EXPECT_FALSE(ds.eval_split);
  EXPECT_EQ(ds.text.find("<|endoftext|>"), std::string::npos);
  EXPECT_EQ(ds.text.find("\n\n\n"), std::string::npos);
  EXPECT_EQ(ds.text.rfind("One day, a little girl named Lily found a needle", 0), 0u);
}

TEST(Datasets, RowConstructions) {
  EXPECT_EQ(wikitext2_rows(" \n = A = \n \n\ttext\r\n"),
            (std::vector<std::string>{"", " = A = \n", "", "\ttext\n"}));
  EXPECT_EQ(ptb_rows(" a b \n\n c"), (std::vector<std::string>{"a b", "", "c"}));
  EXPECT_EQ(line_documents("d1 \nd2\r\nd3"), (std::vector<std::string>{"d1 ", "d2", "d3"}));
  EXPECT_EQ(tinystories_stories("s1 a\ns1 b\n<|endoftext|>\n\ns2\n<|endoftext|>\n<|endoftext|>\n"),
            (std::vector<std::string>{"s1 a\ns1 b", "s2"}));
}

TEST(Datasets, LookupOrderDataDirThenEnvThenBundled) {
  TempDir a, b, c;
  write_bytes(a / "wikitext2/wiki.test.raw", "from a\n");
  write_bytes(b / "wikitext2/wiki.test.raw", "from b\n");
  write_bytes(c / "wikitext2/wiki.test.raw", "from c\n");
  EXPECT_EQ(load_dataset("wikitext2", DataDirs{a.path(), b.path(), c.path()}).text, "from a\n");
  EXPECT_EQ(load_dataset("wikitext2", DataDirs{{}, b.path(), c.path()}).text, "from b\n");
  EXPECT_EQ(load_dataset("wikitext2", DataDirs{{}, {}, c.path()}).text, "from c\n");
  // A directory without the file is passed over.
  std::filesystem::remove(a / "wikitext2/wiki.test.raw");
  EXPECT_EQ(load_dataset("wikitext2", DataDirs{a.path(), b.path(), c.path()}).text, "from b\n");
}

TEST(Datasets, ResolveReadsEnvironment) {
  TempDir env, bundled;
  ScopedEnv e1("LOPPER_DATA_DIR", env.path().c_str());
  ScopedEnv e2("LOPPER_BUNDLED_DATA", bundled.path().c_str());
  auto dirs = DataDirs::resolve("given");
  EXPECT_EQ(dirs.data_dir, "given");
  EXPECT_EQ(dirs.env_dir, env.path());
  EXPECT_EQ(dirs.bundled_dir, bundled.path().lexically_normal());
}

TEST(Datasets, BundledDirFoundNextToTheBuild) {
  ScopedEnv unset("LOPPER_BUNDLED_DATA", nullptr);
  auto dir = default_bundled_data_dir();
  // Found from the test binary's location when the build tree sits inside the source tree.
  if (dir.empty()) GTEST_SKIP() << "build directory outside the source tree";
  EXPECT_TRUE(std::filesystem::equivalent(dir, test::source_dir() / "assets/data")) << dir;
}

TEST(Datasets, MissingDatasetListsEveryPlace) {
  TempDir a, b, c;
  std::string msg = input_error_of([&] { load_dataset("ptb", DataDirs{a.path(), b.path(), c.path()}); });
  EXPECT_NE(msg.find("dataset ptb not found"), std::string::npos) << msg;
  for (const auto* d : {&a, &b, &c})
    EXPECT_NE(msg.find((d->path() / "ptb/ptb.test.txt").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("(--data-dir)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(LOPPER_DATA_DIR)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(bundled data)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);

  // c4 names each file it would accept, in every directory; unset places are mentioned.
  msg = input_error_of([&] { load_dataset("c4", DataDirs{{}, {}, a.path()}); });
  for (const char* f :
       {"c4-validation.00000-of-00008.json.gz", "c4-validation.00000-of-00008.json", "c4-sample.txt"})
    EXPECT_NE(msg.find((a.path() / "c4" / f).string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no --data-dir given"), std::string::npos) << msg;
  EXPECT_NE(msg.find("LOPPER_DATA_DIR not set"), std::string::npos) << msg;

  msg = input_error_of([&] { load_dataset("wikitext2", DataDirs{}); });
  EXPECT_NE(msg.find("no bundled assets/data found"), std::string::npos) << msg;
}

TEST(Datasets, ExplicitDirectoriesMustExist) {
  TempDir a;
  auto missing = a / "nope";
  EXPECT_NE(input_error_of([&] { load_dataset("wikitext2", DataDirs{missing, {}, {}}); })
                .find("--data-dir " + missing.string() + ": not a directory"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { load_dataset("wikitext2", DataDirs{{}, missing, {}}); })
                .find("LOPPER_DATA_DIR=" + missing.string()),
            std::string::npos);
}

TEST(Datasets, C4ValidationShardWinsAndKeepsGptqProtocol) {
  TempDir dir;
  write_bytes(dir / "c4/c4-sample.txt", "sample doc\n");
  std::string shard;
  for (int i = 0; i < 1200; ++i) shard += "{\"text\": \"doc" + std::to_string(i) + "\", \"url\": \"u\"}\n";
  write_bytes(dir / "c4/c4-validation.00000-of-00008.json.gz", gzip_bytes(shard));
  auto ds = load_dataset("c4", only_dir(dir.path()));
  EXPECT_EQ(ds.source, dir / "c4/c4-validation.00000-of-00008.json.gz");
  EXPECT_EQ(ds.rows, 1100);
  EXPECT_EQ(ds.default_max_windows, 256);
  EXPECT_EQ(ds.text.rfind("doc0 doc1 doc2 ", 0), 0u);
  EXPECT_TRUE(ds.text.ends_with(" doc1099"));
}

TEST(Datasets, UserFiles) {
  TempDir dir;
  write_bytes(dir / "mine.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
  auto ds = load_dataset((dir / "mine.jsonl").string(), DataDirs{});
  EXPECT_EQ(ds.name, (dir / "mine.jsonl").string());
  EXPECT_EQ(ds.text, "a\n\nb");
  EXPECT_EQ(ds.rows, 2);
  EXPECT_FALSE(ds.eval_split);

  std::string msg = input_error_of([] { load_dataset("wikitext-2", DataDirs{}); });
  EXPECT_NE(msg.find("dataset wikitext-2: not a known dataset (wikitext2, c4, ptb, ptb-valid, tinystories)"),
            std::string::npos)
      << msg;
}

TEST(Datasets, Registry) {
  EXPECT_TRUE(is_known_dataset("wikitext2"));
  EXPECT_FALSE(is_known_dataset("WikiText2"));
  EXPECT_TRUE(is_eval_split("wikitext2"));
  EXPECT_TRUE(is_eval_split("c4"));
  EXPECT_TRUE(is_eval_split("ptb"));
  EXPECT_FALSE(is_eval_split("ptb-valid"));
  EXPECT_FALSE(is_eval_split("tinystories"));
  EXPECT_FALSE(is_eval_split("my.txt"));
  EXPECT_EQ(known_datasets().size(), 5u);
}

}  // namespace
}  // namespace lopper
