// The cache layout huggingface_hub writes and transformers reads, offline:
//   <cache>/models--org--name/refs/<branch>              the commit hash the branch (or tag) was at
//   <cache>/models--org--name/snapshots/<commit>/<file>  a relative symlink to ../../blobs/<etag>
//   <cache>/models--org--name/blobs/<etag>               the content (<etag>.incomplete while it downloads)
// A file's etag is its sha256 for files in Git LFS and its git blob id otherwise.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lopper::hub {

namespace fs = std::filesystem;

// The commit a revision names in the cache: the revision itself when it is a commit hash, else the
// content of refs/<revision>; nullopt when the cache does not know it.
std::optional<std::string> cached_commit(const fs::path& repo_dir, const std::string& revision);

// What a snapshot folder lacks to be loaded (config.json, and model.safetensors or the index and every
// shard it names), in words for an error message ("no config.json"); empty when nothing is missing.
std::string snapshot_missing(const fs::path& snapshot);

struct CacheLookup {
  fs::path snapshot;    // set when a complete snapshot is cached
  std::string missing;  // otherwise what is missing, relative to the repo folder ("no refs/main")
};
CacheLookup find_snapshot(const fs::path& repo_dir, const std::string& revision);

// The shard file names an index's weight_map points at, sorted and without repeats; throws naming the
// file if it is not a safetensors index.
std::vector<std::string> index_shards(const fs::path& index_file);

// refs/<revision> := commit, replaced atomically (huggingface_hub writes it for any revision that is not
// itself a commit hash).
void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit);

// snapshots/<commit>/<file> := relative symlink to blobs/<etag>, replacing what was there.
void link_snapshot_file(const fs::path& repo_dir, const std::string& commit, const std::string& file,
                        const std::string& etag);

}  // namespace lopper::hub
