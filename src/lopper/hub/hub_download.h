// Fetching a model from the hub into the cache, as huggingface_hub's snapshot_download would lay it out:
// the repo's file list from the API, then each file from /resolve/ into blobs/ (resumed from a leftover
// .incomplete file, size and hash checked before it gets its name), linked from snapshots/<commit>/.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lopper/hub/hub_id.h"
#include "lopper/hub/hub_options.h"

namespace lopper::hub {

struct RepoFile {
  std::string name;  // path in the repo ("rfilename")
  int64_t size = 0;
  std::string etag;  // the blob's name: the LFS sha256 for LFS files, the git blob id otherwise
  bool lfs = false;
};

struct RepoInfo {
  std::string commit;  // what the revision resolved to
  std::vector<RepoFile> files;
};

// GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true. The etags come from this metadata
// (huggingface_hub reads the same values from each file's ETag / X-Linked-Etag header).
RepoInfo fetch_repo_info(const HubId& id, const HubOptions& opts);

// The files lopper and transformers need, in download order: config.json, generation config and
// tokenizer files where present, then model.safetensors or model.safetensors.index.json (whose shards
// are added once it is downloaded). Other weight formats (*.bin, *.pth, *.h5, *.msgpack, onnx) and
// files in subfolders are left out.
std::vector<RepoFile> model_files(const RepoInfo& info, const HubId& id);

// Downloads what the snapshot of `id` lacks and returns the snapshot folder; refs/<revision> is written
// when the revision is not a commit hash. Throws InputError with one line on any failure, and leaves no
// blob or link for a file that failed its size or hash check.
std::filesystem::path download_snapshot(const HubId& id, const HubOptions& opts);

}  // namespace lopper::hub
