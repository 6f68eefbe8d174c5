// Hub ids as the hub takes them, the cache folder names huggingface_hub uses, the two blob hashes,
// and the environment variables HubOptions::from_env reads (with huggingface_hub's precedence).
#include <gtest/gtest.h>

#include "hub/hub_test_util.h"
#include "lopper/hub/checksum.h"
#include "lopper/hub/hub_id.h"

namespace lopper::hub {
namespace {

using hub_test::ScopedEnv;

TEST(HubId, ParsesRepoAndRevision) {
  auto a = parse_hub_id("TinyLlama/TinyLlama-1.1B-Chat-v1.0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->repo, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
  EXPECT_EQ(a->revision, "main");
  auto b = parse_hub_id("HuggingFaceTB/SmolLM2-135M@v1.0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->repo, "HuggingFaceTB/SmolLM2-135M");
  EXPECT_EQ(b->revision, "v1.0");
  auto c = parse_hub_id("org/name@refs/pr/1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->revision, "refs/pr/1");
  EXPECT_TRUE(parse_hub_id("a_b/c_d@0123456789abcdef0123456789abcdef01234567"));
}

TEST(HubId, RejectsWhatTheHubRejects) {
  for (const char* bad : {"gpt2", "a/b/c", "-a/b", "a/b-", "a/.b", "a--b/c", "a/b..c", "a/b.git", "a b/c", "a/b@",
                          "a/b@../x", "a/b@x/../y", "a/b@x//y", "a/b@/x", "./x/y", "/abs/path", "org/na\xc3\xa9"})
    EXPECT_FALSE(parse_hub_id(bad)) << bad;
  EXPECT_TRUE(parse_hub_id("o/" + std::string(94, 'x')));   // 96 characters
  EXPECT_FALSE(parse_hub_id("o/" + std::string(95, 'x')));  // 97
}

TEST(HubId, CacheFolderCommitHashAndQuoting) {
  EXPECT_EQ(repo_folder_name("meta-llama/Llama-3.2-1B"), "models--meta-llama--Llama-3.2-1B");
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));  // the hub's are lowercase
  EXPECT_FALSE(is_commit_hash("0123456"));                                    // short hashes are not resolved
  EXPECT_EQ(url_quote("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(url_quote("sub dir/a+b.json", true), "sub%20dir/a%2Bb.json");
}

TEST(HubChecksum, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(git_blob_sha1_hex("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");  // git hash-object
  EXPECT_EQ(git_blob_sha1_hex(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  hub_test::TempDir dir;
  auto big = hub_test::noise(3 << 20, 7);  // several read chunks
  std::ofstream(dir.path / "f", std::ios::binary) << big;
  EXPECT_EQ(sha256_file(dir.path / "f"), sha256_hex(big));
  EXPECT_EQ(git_blob_sha1_file(dir.path / "f"), git_blob_sha1_hex(big));
}

TEST(HubOptions, FromEnvironmentWithHuggingfaceHubPrecedence) {
  hub_test::TempDir dir;
  std::ofstream(dir.path / "token") << "  hf_fromfile\n";
  {
    ScopedEnv env({{"HF_HUB_CACHE", std::nullopt}, {"HUGGINGFACE_HUB_CACHE", std::nullopt},
                   {"HF_HOME", dir.path.string()}, {"XDG_CACHE_HOME", "/xdg"}, {"HF_ENDPOINT", "http://mirror.test//"},
                   {"HF_TOKEN", std::nullopt}, {"HUGGING_FACE_HUB_TOKEN", std::nullopt}, {"HF_TOKEN_PATH", std::nullopt},
                   {"HF_HUB_OFFLINE", "yes"}, {"TRANSFORMERS_OFFLINE", std::nullopt},
                   {"HF_HUB_DOWNLOAD_TIMEOUT", "42"}});
    auto o = HubOptions::from_env();
    EXPECT_EQ(o.cache_dir, dir.path / "hub");
    EXPECT_EQ(o.endpoint, "http://mirror.test");
    EXPECT_EQ(o.token, "hf_fromfile");  // $HF_HOME/token, trimmed
    EXPECT_TRUE(o.offline);
    EXPECT_EQ(o.stall_timeout_s, 42);
  }
  {
    ScopedEnv env({{"HF_HUB_CACHE", "/explicit/hub"}, {"HF_HOME", std::nullopt}, {"XDG_CACHE_HOME", "/xdg"},
                   {"HF_ENDPOINT", std::nullopt}, {"HF_TOKEN", "hf_env"}, {"HF_HUB_OFFLINE", "0"},
                   {"TRANSFORMERS_OFFLINE", "1"}});  // HF_HUB_OFFLINE, being set, decides
    auto o = HubOptions::from_env();
    EXPECT_EQ(o.cache_dir, "/explicit/hub");
    EXPECT_EQ(o.endpoint, "https://huggingface.co");
    EXPECT_EQ(o.token, "hf_env");
    EXPECT_FALSE(o.offline);
  }
  {
    ScopedEnv env({{"HF_HUB_CACHE", std::nullopt}, {"HUGGINGFACE_HUB_CACHE", std::nullopt}, {"HF_HOME", std::nullopt},
                   {"XDG_CACHE_HOME", "/xdg"}, {"HF_HUB_OFFLINE", std::nullopt}, {"TRANSFORMERS_OFFLINE", "TRUE"}});
    auto o = HubOptions::from_env();
    EXPECT_EQ(o.cache_dir, "/xdg/huggingface/hub");
    EXPECT_TRUE(o.offline);
  }
  {
    ScopedEnv env({{"HF_HUB_CACHE", std::nullopt}, {"HUGGINGFACE_HUB_CACHE", std::nullopt}, {"HF_HOME", std::nullopt},
                   {"XDG_CACHE_HOME", std::nullopt}, {"HOME", "/home/u"}});
    EXPECT_EQ(HubOptions::from_env().cache_dir, "/home/u/.cache/huggingface/hub");
  }
}

}  // namespace
}  // namespace lopper::hub
