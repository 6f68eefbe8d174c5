// Downloads from a fake hub on loopback (tests/hub/fake_hub.h) into a temporary cache: the exact layout
// huggingface_hub writes, offline reuse, revisions, resuming, gated models, checksum failures that leave
// nothing behind, and HF_ENDPOINT. No test touches the internet.
#include <gtest/gtest.h>

#include <algorithm>

#include "hub/hub_test_util.h"
#include "lopper/hub/checksum.h"
#include "lopper/hub/hub_id.h"
#include "lopper/hub/resolve_model.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper::hub {
namespace {

using hub_test::FakeHub;

struct HubDownload : ::testing::Test {
  static void SetUpTestSuite() { Progress::set_enabled(false); }
  static void TearDownTestSuite() { Progress::set_enabled(true); }
  FakeHub hub;
  hub_test::TempDir dir;
  HubOptions opts = hub_test::test_options(dir.path, hub);
  fs::path repo = dir.path / "models--org--tiny";

  std::vector<FakeHub::Request> requests_for(const std::string& suffix) const {
    std::vector<FakeHub::Request> out;
    for (const auto& r : hub.requests())
      if (r.path.size() >= suffix.size() && r.path.compare(r.path.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(r);
    return out;
  }
  std::string error_of(const std::string& spec) {
    try {
      resolve_model(spec, opts);
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return e.what();
    }
    ADD_FAILURE() << spec << " resolved";
    return "";
  }
  std::vector<std::string> names_in(const fs::path& d) const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_F(HubDownload, WritesHuggingfaceHubsLayoutAndThenStaysOffline) {
  auto files = hub_test::tiny_repo();
  auto commit = hub.add_commit("org/tiny", files);
  auto snap = resolve_model("org/tiny", opts);
  EXPECT_EQ(snap, repo / "snapshots" / commit);
  EXPECT_EQ(hub_test::slurp(repo / "refs" / "main"), commit);  // no newline, as huggingface_hub writes it
  const auto w = sha256_hex(files["model.safetensors"].content);
  const auto cfg = git_blob_sha1_hex(files["config.json"].content);
  const auto tok = git_blob_sha1_hex(files["tokenizer.json"].content);
  std::vector<std::string> blobs = {w, cfg, tok};
  std::sort(blobs.begin(), blobs.end());
  EXPECT_EQ(names_in(repo / "blobs"), blobs);  // README, .bin and onnx/ are not fetched; no .incomplete left
  EXPECT_EQ(names_in(snap), (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.json"}));
  EXPECT_EQ(fs::read_symlink(snap / "model.safetensors"), fs::path("../../blobs") / w);
  EXPECT_EQ(fs::read_symlink(snap / "config.json"), fs::path("../../blobs") / cfg);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    EXPECT_EQ(hub_test::slurp(snap / f), files[f].content) << f;
  EXPECT_TRUE(fs::exists(dir.path / ".locks" / "models--org--tiny" / (w + ".lock")));

  const auto n = hub.requests().size();
  EXPECT_EQ(n, 5u);  // the API, 2 small files, the weights' resolve (a redirect) and the CDN's answer
  EXPECT_EQ(resolve_model("org/tiny", opts), snap);
  EXPECT_EQ(hub.requests().size(), n);  // the second time comes from the cache alone
}

TEST_F(HubDownload, TokenGoesToTheHubButNotToTheCdn) {
  hub.add_commit("org/tiny", hub_test::tiny_repo());
  opts.token = "hf_secret";
  resolve_model("org/tiny", opts);
  for (const auto& r : hub.requests())
    EXPECT_EQ(r.authorization, r.server == "hub" ? "Bearer hf_secret" : "") << r.server << " " << r.path;
  EXPECT_EQ(requests_for("/blobs/" + sha256_hex(hub_test::tiny_repo()["model.safetensors"].content)).size(), 1u);
}

TEST_F(HubDownload, RevisionByBranchAndByCommit) {
  auto old_commit = hub.add_commit("org/tiny", hub_test::tiny_repo(1));
  auto dev = hub.add_commit("org/tiny", hub_test::tiny_repo(2), "dev");
  EXPECT_EQ(resolve_model("org/tiny@dev", opts), repo / "snapshots" / dev);
  EXPECT_EQ(hub_test::slurp(repo / "refs" / "dev"), dev);
  EXPECT_EQ(resolve_model("org/tiny@" + old_commit, opts), repo / "snapshots" / old_commit);
  EXPECT_EQ(names_in(repo / "refs"), std::vector<std::string>{"dev"});  // a commit gets no ref
  EXPECT_EQ(hub_test::slurp(repo / "snapshots" / old_commit / "config.json"), hub_test::tiny_repo(1)["config.json"].content);
  EXPECT_NE(error_of("org/tiny@nope").find("revision nope not found on the hub"), std::string::npos);
}

TEST_F(HubDownload, DownloadFlagChecksTheHubAndFetchesOnlyWhatChanged) {
  auto first = hub.add_commit("org/tiny", hub_test::tiny_repo(1));
  resolve_model("org/tiny", opts);
  auto files = hub_test::tiny_repo(1);
  files["config.json"].content = "{\"changed\": true}\n";  // the weights stay the same blob
  auto second = hub.add_commit("org/tiny", files);
  const auto n = hub.requests().size();
  EXPECT_EQ(resolve_model("org/tiny", opts), repo / "snapshots" / first);  // cached: no network
  EXPECT_EQ(hub.requests().size(), n);
  opts.download = true;
  EXPECT_EQ(resolve_model("org/tiny", opts), repo / "snapshots" / second);
  EXPECT_EQ(hub_test::slurp(repo / "refs" / "main"), second);
  EXPECT_EQ(hub.requests().size(), n + 2);  // the API and the changed config.json only
  EXPECT_EQ(hub_test::slurp(repo / "snapshots" / second / "model.safetensors"), files["model.safetensors"].content);
}

TEST_F(HubDownload, ResumesAnInterruptedTransfer) {
  auto files = hub_test::tiny_repo();
  hub.add_commit("org/tiny", files);
  hub.cut("model.safetensors", 1000);  // the first transfer breaks after 1000 bytes
  auto snap = resolve_model("org/tiny", opts);
  auto cdn = requests_for("/blobs/" + sha256_hex(files["model.safetensors"].content));
  ASSERT_EQ(cdn.size(), 2u);
  EXPECT_EQ(cdn[0].range, "");
  EXPECT_EQ(cdn[1].range, "bytes=1000-");
  EXPECT_EQ(hub_test::slurp(snap / "model.safetensors"), files["model.safetensors"].content);
}

TEST_F(HubDownload, ResumesAnIncompleteFileLeftByAnEarlierRun) {
  auto files = hub_test::tiny_repo();
  hub.add_commit("org/tiny", files);
  const auto& w = files["model.safetensors"].content;
  fs::create_directories(repo / "blobs");
  std::ofstream(repo / "blobs" / (sha256_hex(w) + ".incomplete"), std::ios::binary) << w.substr(0, 1500);
  auto snap = resolve_model("org/tiny", opts);
  auto cdn = requests_for("/blobs/" + sha256_hex(w));
  ASSERT_EQ(cdn.size(), 1u);
  EXPECT_EQ(cdn[0].range, "bytes=1500-");
  EXPECT_EQ(hub_test::slurp(snap / "model.safetensors"), w);
  EXPECT_FALSE(fs::exists(repo / "blobs" / (sha256_hex(w) + ".incomplete")));
}

TEST_F(HubDownload, StartsOverWhenTheServerIgnoresRange) {
  auto files = hub_test::tiny_repo();
  hub.add_commit("org/tiny", files);
  hub.ignore_range(true);
  const auto& w = files["model.safetensors"].content;
  fs::create_directories(repo / "blobs");
  std::ofstream(repo / "blobs" / (sha256_hex(w) + ".incomplete"), std::ios::binary) << std::string(1500, 'x');
  auto snap = resolve_model("org/tiny", opts);  // a 200 answer replaces the stale prefix
  EXPECT_EQ(requests_for("/blobs/" + sha256_hex(w)).at(0).range, "bytes=1500-");
  EXPECT_EQ(hub_test::slurp(snap / "model.safetensors"), w);
}

TEST_F(HubDownload, GatedModelNeedsAToken) {
  hub.add_commit("org/tiny", hub_test::tiny_repo());
  hub.gate("org/tiny", "hf_granted");
  auto msg = error_of("org/tiny");
  EXPECT_NE(msg.find("org/tiny: the hub refused access (HTTP 401): the model is gated or private"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("set HF_TOKEN"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(repo / "snapshots"));
  opts.token = "hf_other";
  msg = error_of("org/tiny");
  EXPECT_NE(msg.find("HTTP 403"), std::string::npos) << msg;
  opts.token = "hf_granted";
  EXPECT_EQ(hub_test::slurp(resolve_model("org/tiny", opts) / "config.json"), hub_test::tiny_repo()["config.json"].content);
}

TEST_F(HubDownload, ChecksumMismatchLeavesNothingInTheCache) {
  auto files = hub_test::tiny_repo();
  auto commit = hub.add_commit("org/tiny", files);
  const auto& w = files["model.safetensors"].content;
  const auto bad = hub_test::noise(w.size(), 99);  // same size, other bytes
  hub.corrupt("model.safetensors", bad);
  auto msg = error_of("org/tiny");
  EXPECT_NE(msg.find("model.safetensors: checksum mismatch: expected sha256 " + sha256_hex(w) + ", got " + sha256_hex(bad)),
            std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(repo / "blobs" / sha256_hex(w)));
  EXPECT_FALSE(fs::exists(repo / "blobs" / (sha256_hex(w) + ".incomplete")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(repo / "snapshots" / commit / "model.safetensors")));
  EXPECT_FALSE(fs::exists(repo / "refs" / "main"));

  hub.corrupt("model.safetensors", w.substr(0, 100));  // short: a size mismatch
  msg = error_of("org/tiny");
  EXPECT_NE(msg.find("size mismatch: expected 4096 bytes, got 100"), std::string::npos) << msg;
  hub.corrupt("model.safetensors", w + "more");  // long: refused as it arrives
  msg = error_of("org/tiny");
  EXPECT_NE(msg.find("sent more than the 4096 bytes"), std::string::npos) << msg;
  EXPECT_EQ(names_in(repo / "blobs").size(), 2u);  // config.json and tokenizer.json only
  remove_tree(repo);  // tokenizer.json is cached by now
  hub.corrupt("tokenizer.json", "{\"model\": {\"type\": \"BPX\"}}\n");  // a git file: its blob sha1 is checked
  msg = error_of("org/tiny");
  EXPECT_NE(msg.find("tokenizer.json: checksum mismatch: expected git blob sha1"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(fs::symlink_status(repo / "snapshots" / commit / "tokenizer.json")));
}

TEST_F(HubDownload, ShardedModelGetsTheShardsItsIndexNames) {
  std::map<std::string, FakeHub::File> files = {
      {"config.json", {"{}\n"}},
      {"model.safetensors.index.json",
       {R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}})"}},
      {"model-00001-of-00002.safetensors", {hub_test::noise(3000, 1), true}},
      {"model-00002-of-00002.safetensors", {hub_test::noise(2000, 2), true}},
      {"consolidated.safetensors", {hub_test::noise(5000, 3), true}},  // Mistral's other copy: not needed
  };
  auto snap = resolve_model("org/tiny@" + hub.add_commit("org/tiny", files), opts);
  EXPECT_EQ(names_in(snap), (std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                                      "model-00002-of-00002.safetensors", "model.safetensors.index.json"}));
  EXPECT_EQ(hub_test::slurp(snap / "model-00002-of-00002.safetensors"), files["model-00002-of-00002.safetensors"].content);
}

TEST_F(HubDownload, NotOnTheHubAndUnreachableHubAreOneLine) {
  EXPECT_NE(error_of("org/missing").find("org/missing: not found on the hub at " + hub.endpoint()), std::string::npos);
  std::map<std::string, FakeHub::File> bin_only = {{"config.json", {"{}"}}, {"pytorch_model.bin", {"x", true}}};
  hub.add_commit("org/bin", bin_only);
  EXPECT_NE(error_of("org/bin").find("no model.safetensors or model.safetensors.index.json"), std::string::npos);
  opts.endpoint = "http://127.0.0.1:9";  // nothing listens there
  EXPECT_NE(error_of("org/tiny").find("org/tiny: cannot reach the hub at http://127.0.0.1:9"), std::string::npos);
}

TEST_F(HubDownload, HonoursHfEndpointAndHfHubCacheFromTheEnvironment) {
  auto commit = hub.add_commit("org/tiny", hub_test::tiny_repo());
  hub_test::ScopedEnv env({{"HF_ENDPOINT", hub.endpoint()}, {"HF_HUB_CACHE", dir.path.string()},
                       {"HF_HUB_OFFLINE", std::nullopt}, {"TRANSFORMERS_OFFLINE", std::nullopt},
                       {"HF_TOKEN", std::nullopt}, {"HF_TOKEN_PATH", (dir.path / "no-token").string()}});
  EXPECT_EQ(resolve_model("org/tiny", HubOptions::from_env()), repo / "snapshots" / commit);
  EXPECT_FALSE(hub.requests().empty());
}

}  // namespace
}  // namespace lopper::hub
