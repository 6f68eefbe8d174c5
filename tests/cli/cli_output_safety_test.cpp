// `lopper prune --out DIR` into an existing folder: refused unless --force, and with --force only
// lopper's own files are replaced (the user's files stay, stale shards of an earlier save go).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

using test::run;

std::string prune_into(const fs::path& out) {
  return "prune --model " + test::bundled_model().string() +
         " --method shortgpt --remove 1 --calib tinystories --nsamples 4 --seqlen 64 --eval-ppl none --out " +
         out.string();
}

TEST(CliOutputSafety, NonEmptyOutNeedsForceAndKeepsTheUsersFiles) {
  auto dir = test::temp_dir("cli-out");
  auto out = dir / "pruned";
  fs::create_directories(out / "mine");
  std::ofstream(out / "notes.txt") << "my notes";
  std::ofstream(out / "mine" / "eval.json") << "{}";
  std::ofstream(out / "model-00001-of-00002.safetensors") << "stale shard of an earlier save";

  auto r = run(prune_into(out));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out.rfind("lopper: error: ", 0), 0u) << r.out;  // one line, before any pruning output
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find(out.string() + ": exists and is not empty; pass --force"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(out / "notes.txt"), "my notes");
  EXPECT_FALSE(fs::exists(out / "config.json"));

  r = run(prune_into(out) + " --force");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_file(out / "notes.txt"), "my notes");
  EXPECT_EQ(read_file(out / "mine" / "eval.json"), "{}");
  EXPECT_FALSE(fs::exists(out / "model-00001-of-00002.safetensors"));  // stale lopper output removed
  EXPECT_EQ(nlohmann::json::parse(read_file(out / "config.json"))["num_hidden_layers"], 4);
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));

  // Again with --force over its own output: replaced, the user's files still there.
  ASSERT_EQ(run(prune_into(out) + " --force").code, 0);
  EXPECT_EQ(read_file(out / "notes.txt"), "my notes");
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename() == "pruned" ? 1 : 100;
  EXPECT_EQ(entries, 1u);  // no temp folder left next to it
  remove_tree(dir);
}

TEST(CliOutputSafety, EmptyExistingOutIsAccepted) {
  auto dir = test::temp_dir("cli-out-empty");
  fs::create_directory(dir / "pruned");
  auto r = run(prune_into(dir / "pruned"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "pruned" / "config.json"));
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
