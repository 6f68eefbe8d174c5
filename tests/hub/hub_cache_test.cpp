// Offline resolution of hub ids in a cache laid out by hand the way huggingface_hub writes it: branch,
// tag and commit revisions, incomplete snapshots, local folders first, and the one-line errors for
// something that is neither a folder nor a hub id, and for offline mode without the model.
#include <gtest/gtest.h>

#include "hub/hub_test_util.h"
#include "lopper/hub/checksum.h"
#include "lopper/hub/hub_cache.h"
#include "lopper/hub/resolve_model.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper::hub {
namespace {

const std::string kOld = "1111111111111111111111111111111111111111";
const std::string kNew = "2222222222222222222222222222222222222222";

// blobs/<sha256> + snapshots/<commit>/<name> -> ../../blobs/<sha256>, as huggingface_hub leaves them.
void put(const fs::path& repo, const std::string& commit, const std::string& name, const std::string& content) {
  auto etag = sha256_hex(content);
  fs::create_directories(repo / "blobs");
  std::ofstream(repo / "blobs" / etag, std::ios::binary) << content;
  link_snapshot_file(repo, commit, name, etag);
}

// A cache holding org/name at two commits: main -> kNew, tag v1 -> kOld.
struct Cache {
  hub_test::TempDir dir;
  fs::path repo = dir.path / "models--org--name";
  HubOptions opts;
  Cache() {
    for (const auto& c : {kOld, kNew}) {
      put(repo, c, "config.json", "{\"commit\": \"" + c + "\"}");
      put(repo, c, "model.safetensors", "weights of " + c);
    }
    write_ref(repo, "main", kNew);
    write_ref(repo, "v1", kOld);
    opts.cache_dir = dir.path;
    opts.endpoint = "http://127.0.0.1:9";  // discard port: any network use would fail the test
    opts.offline = false;                  // offline resolution must not need the flag
  }
};

TEST(HubCache, ResolvesBranchTagAndCommitWithoutNetwork) {
  Cache c;
  EXPECT_EQ(resolve_model("org/name", c.opts), c.repo / "snapshots" / kNew);
  EXPECT_EQ(resolve_model("org/name@v1", c.opts), c.repo / "snapshots" / kOld);
  EXPECT_EQ(resolve_model("org/name@" + kOld, c.opts), c.repo / "snapshots" / kOld);
  EXPECT_EQ(hub_test::slurp(resolve_model("org/name", c.opts) / "config.json"), "{\"commit\": \"" + kNew + "\"}");
  // The links are relative, so the cache folder can move.
  EXPECT_EQ(fs::read_symlink(c.repo / "snapshots" / kNew / "config.json"),
            fs::path("../../blobs") / sha256_hex("{\"commit\": \"" + kNew + "\"}"));
}

TEST(HubCache, ShardedSnapshotNeedsEveryShard) {
  Cache c;
  const std::string commit = "3333333333333333333333333333333333333333";
  put(c.repo, commit, "config.json", "{}");
  put(c.repo, commit, "model.safetensors.index.json",
      R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  put(c.repo, commit, "model-00001-of-00002.safetensors", "one");
  write_ref(c.repo, "sharded", commit);
  c.opts.offline = true;
  try {
    resolve_model("org/name@sharded", c.opts);
    FAIL() << "resolved an incomplete snapshot";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no model-00002-of-00002.safetensors"), std::string::npos) << e.what();
  }
  put(c.repo, commit, "model-00002-of-00002.safetensors", "two");
  EXPECT_EQ(resolve_model("org/name@sharded", c.opts), c.repo / "snapshots" / commit);
}

TEST(HubCache, LocalFolderWins) {
  Cache c;
  auto local = test::bundled_model().string();
  EXPECT_EQ(resolve_model(local, c.opts), local);
}

TEST(HubCache, NeitherFolderNorHubIdIsOneLine) {
  Cache c;
  try {
    resolve_model("no/such/folder", c.opts);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "no such model folder: no/such/folder (and not a hub id org/name[@revision])");
  }
}

TEST(HubCache, OfflineWithoutTheModelNamesTheCachePath) {
  Cache c;
  c.opts.offline = true;
  for (std::string spec : {"other/model", "org/name@dev"}) {
    try {
      resolve_model(spec, c.opts);
      FAIL() << spec;
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_NE(msg.find("HF_HUB_OFFLINE"), std::string::npos) << msg;
      auto looked = c.dir.path / (spec == "other/model" ? "models--other--model" : "models--org--name");
      EXPECT_NE(msg.find(looked.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(spec == "other/model" ? "no such folder" : "no refs/dev"), std::string::npos) << msg;
    }
  }
  c.opts.download = true;  // --download contradicts offline mode, even for a cached model
  EXPECT_THROW(resolve_model("org/name", c.opts), InputError);
}

TEST(HubCache, DanglingLinkCountsAsMissing) {
  Cache c;
  fs::remove(fs::canonical(c.repo / "snapshots" / kNew / "model.safetensors"));  // the blob, not the link
  c.opts.offline = true;
  EXPECT_THROW(resolve_model("org/name", c.opts), InputError);
  EXPECT_EQ(resolve_model("org/name@v1", c.opts), c.repo / "snapshots" / kOld);
}

}  // namespace
}  // namespace lopper::hub
