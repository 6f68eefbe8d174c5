#include "lopper/hub/hub_cache.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "lopper/hub/hub_id.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::hub {

std::optional<std::string> cached_commit(const fs::path& repo_dir, const std::string& revision) {
  if (is_commit_hash(revision)) return revision;
  std::error_code ec;
  auto ref = repo_dir / "refs" / revision;
  if (!fs::is_regular_file(ref, ec)) return std::nullopt;
  auto commit = read_file(ref);
  commit.erase(commit.find_last_not_of(" \t\r\n") + 1);  // huggingface_hub writes none; tolerate one
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

std::vector<std::string> index_shards(const fs::path& index_file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index_file));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", index_file.string(), e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail("{}: no weight_map object: not a safetensors index", index_file.string());
  std::set<std::string> shards;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    // A shard name becomes a path in the snapshot: keep it there.
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos ||
        file.get<std::string>().rfind(".", 0) == 0)
      fail("{}: weight_map entry for {} is not a plain file name", index_file.string(), tensor);
    shards.insert(file.get<std::string>());
  }
  return {shards.begin(), shards.end()};
}

std::string snapshot_missing(const fs::path& snapshot) {
  std::error_code ec;
  // exists() follows the symlinks: a link whose blob is gone counts as missing.
  if (!fs::exists(snapshot / "config.json", ec)) return "no config.json";
  if (fs::exists(snapshot / "model.safetensors.index.json", ec)) {
    for (const auto& shard : index_shards(snapshot / "model.safetensors.index.json"))
      if (!fs::exists(snapshot / shard, ec)) return "no " + shard;
    return "";
  }
  if (!fs::exists(snapshot / "model.safetensors", ec)) return "no model.safetensors";
  return "";
}

CacheLookup find_snapshot(const fs::path& repo_dir, const std::string& revision) {
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) return {{}, "no such folder"};
  auto commit = cached_commit(repo_dir, revision);
  if (!commit) return {{}, "no refs/" + revision};
  auto snapshot = repo_dir / "snapshots" / *commit;
  if (auto missing = snapshot_missing(snapshot); !missing.empty())
    return {{}, "snapshots/" + *commit + ": " + missing};
  return {snapshot, ""};
}

void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit) {
  auto ref = repo_dir / "refs" / revision;
  fs::create_directories(ref.parent_path());
  write_file_atomic(ref, commit);
}

void link_snapshot_file(const fs::path& repo_dir, const std::string& commit, const std::string& file,
                        const std::string& etag) {
  auto pointer = repo_dir / "snapshots" / commit / file;
  fs::create_directories(pointer.parent_path());
  // Relative, as huggingface_hub makes them, so that the cache folder can be moved as a whole.
  auto target = (repo_dir / "blobs" / etag).lexically_relative(pointer.parent_path());
  std::error_code ec;
  fs::remove(pointer, ec);
  fs::create_symlink(target, pointer);
}

}  // namespace lopper::hub
