// `--model org/name` end to end: lopper fetches the bundled model from a fake hub on loopback
// (tests/hub/fake_hub.h) into a temporary cache named by HF_HUB_CACHE, then runs from that cache
// offline; without the model and with HF_HUB_OFFLINE=1 it fails with one line naming the cache path.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "hub/hub_test_util.h"
#include "lopper/util/fs.h"
#include "test_paths.h"

namespace lopper {
namespace {

using hub_test::FakeHub;
using hub_test::ScopedEnv;

// stories260k as the hub would hold it: the weights in LFS, the rest in git.
std::map<std::string, FakeHub::File> stories_repo() {
  std::map<std::string, FakeHub::File> files;
  for (const char* f : {"config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.json",
                        "tokenizer_config.json", "model.safetensors"})
    files[f] = {read_file(test::bundled_model() / f), std::string(f) == "model.safetensors"};
  return files;
}

struct CliHub : ::testing::Test {
  FakeHub hub;
  hub_test::TempDir cache;
  ScopedEnv env{{{"HF_ENDPOINT", hub.endpoint()}, {"HF_HUB_CACHE", cache.path.string()},
                 {"HF_HUB_OFFLINE", std::nullopt}, {"TRANSFORMERS_OFFLINE", std::nullopt}, {"HF_TOKEN", std::nullopt},
                 {"HF_TOKEN_PATH", (cache.path / "no-token").string()}}};
};

TEST_F(CliHub, InfoDownloadsAHubIdThenRunsFromTheCacheOffline) {
  auto commit = hub.add_commit("lopper-test/stories260k", stories_repo());
  auto json = cache.path / "info.json";
  auto r = test::run("info --model lopper-test/stories260k --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(read_file(json))["params_total"], 260032);
  auto snap = cache.path / "models--lopper-test--stories260k" / "snapshots" / commit;
  EXPECT_EQ(read_file(snap / "model.safetensors"), read_file(test::bundled_model() / "model.safetensors"));

  const auto n = hub.requests().size();
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  r = test::run("generate --model lopper-test/stories260k --ids 1,403,407 -n 3 --greedy");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(hub.requests().size(), n);
  // --download asks the hub, which offline mode forbids: one line.
  test::expect_one_line_error(test::run("info --model lopper-test/stories260k --download"), "HF_HUB_OFFLINE");
}

TEST_F(CliHub, OfflineWithoutTheModelIsOneLineNamingTheCachePath) {
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  auto r = test::run("info --model lopper-test/absent");
  test::expect_one_line_error(r, (cache.path / "models--lopper-test--absent").string());
  EXPECT_TRUE(hub.requests().empty());
  test::expect_one_line_error(test::run("info --model no/such/folder/x"), "no such model folder: no/such/folder/x");
}

TEST_F(CliHub, GatedModelWithoutATokenIsOneLine) {
  hub.add_commit("lopper-test/gated", stories_repo());
  hub.gate("lopper-test/gated", "hf_ok");
  test::expect_one_line_error(test::run("info --model lopper-test/gated"), "gated or private");
  ScopedEnv token("HF_TOKEN", "hf_ok");
  auto r = test::run("tokenize --model lopper-test/gated --text hello");
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace
}  // namespace lopper
