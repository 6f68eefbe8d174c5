// `lopper export` and `prune --out-gguf` from the command line: outputs, reports, one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "export/gguf_read.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;

using test::expect_one_line_error;

TEST(CliExport, GgufOfTheBundledModel) {
  auto dir = test::temp_dir("cli-export");
  auto out = dir / "s.gguf";
  auto r = test::run("export --model " + test::bundled_model().string() + " --to gguf --dtype f16 --out " +
                         out.string() + " --json " + (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("architecture llama, f16"), std::string::npos) << r.out;
  auto rep = nlohmann::json::parse(read_file(dir / "r.json"));
  EXPECT_EQ(rep["gguf"]["architecture"], "llama");
  EXPECT_EQ(rep["gguf"]["bytes"], fs::file_size(out));
  auto f = test::read_gguf(out.string());
  EXPECT_EQ(f.kv["llama.block_count"], 5);
  EXPECT_EQ(f.kv["tokenizer.ggml.model"], "llama");
  EXPECT_EQ(f.tensors.count("output.weight"), 0u);  // tied: llama.cpp reuses token_embd

  // An existing output is kept unless --force.
  std::ofstream(dir / "mine.gguf") << "keep me";
  r = test::run("export --model " + test::bundled_model().string() + " --to gguf --out " +
                    (dir / "mine.gguf").string());
  expect_one_line_error(r, "already exists; pass --force");
  EXPECT_EQ(read_file(dir / "mine.gguf"), "keep me");
  r = test::run("export --model " + test::bundled_model().string() + " --to gguf --force --out " +
                    (dir / "mine.gguf").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::read_gguf((dir / "mine.gguf").string()).version, 3u);
  remove_tree(dir);
}

TEST(CliExport, BadInput) {
  auto dir = test::temp_dir("cli-export-bad");
  const std::string m = " --model " + test::bundled_model().string();
  expect_one_line_error(test::run("export" + m + " --to onnx --out " + (dir / "x").string()), "--to onnx");
  expect_one_line_error(test::run("export" + m + " --to gguf --dtype q4_k --out " + (dir / "x.gguf").string()),
                        "--dtype q4_k");
  expect_one_line_error(test::run("export" + m + " --to decilm --dtype q8_0 --out " + (dir / "d").string()),
                        "--dtype q8_0");
  expect_one_line_error(test::run("export --model " + (dir / "none").string() + " --to gguf --out " +
                                      (dir / "x.gguf").string()),
                        "none");
  expect_one_line_error(test::run("export" + m + " --to gguf --out " + (dir / "no/such/dir/x.gguf").string()),
                        "does not exist");
  EXPECT_TRUE(fs::is_empty(dir));  // nothing half-written
  remove_tree(dir);
}

TEST(CliExport, PruneWritesGgufToo) {
  auto dir = test::temp_dir("cli-prune-gguf");
  auto r = test::run("prune --model " + test::bundled_model().string() +
                         " --method shortgpt --remove 1 --calib tinystories --nsamples 4 --seqlen 64 --eval-ppl none"
                         " --out-gguf " + (dir / "p.gguf").string() + " --gguf-dtype f32");
  ASSERT_EQ(r.code, 0) << r.out;
  auto f = test::read_gguf((dir / "p.gguf").string());
  EXPECT_EQ(f.kv["llama.block_count"], 4);
  EXPECT_EQ(f.kv["general.file_type"], 0);
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
