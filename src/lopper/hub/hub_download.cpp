#include "lopper/hub/hub_download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "lopper/hub/checksum.h"
#include "lopper/hub/hub_cache.h"
#include "lopper/hub/http.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"

namespace lopper::hub {

namespace {

using json = nlohmann::json;

const char* const kSmallFiles[] = {"config.json",           "generation_config.json", "tokenizer.json",
                                   "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"};
const char* const kIndex = "model.safetensors.index.json";

struct Ctx {
  const HubId& id;
  const HubOptions& opts;
  fs::path repo_dir;
  std::string commit;
};

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); });
}

// The etag becomes a file name under blobs/ and the size bounds the download: both must be sound.
void check_metadata(const HubId& id, const RepoFile& f) {
  if (f.size < 0 || !(is_hex(f.etag, 40) || (f.lfs && is_hex(f.etag, 64))))
    fail("{}: the hub's metadata for {} has no usable size and blob id", id.repo, f.name);
}

HttpGet request(const HubOptions& opts, std::string url, int64_t range_from = 0) {
  return {std::move(url), opts.token, range_from, opts.connect_timeout_s, opts.stall_timeout_s};
}

// One line for an HTTP failure, in the hub's terms (its X-Error-Code header says which 404 it is).
[[noreturn]] void fail_http(const HubId& id, const HubOptions& opts, const HttpResponse& r, const std::string& url,
                            const std::string& file) {
  const std::string& repo = id.repo;
  if (r.status == 0) fail("{}: cannot reach the hub at {}: {}", repo, opts.endpoint, r.error);
  if (r.status == 401 && opts.token.empty())
    fail("{}: the hub refused access (HTTP 401): the model is gated or private (or does not exist); "
         "set HF_TOKEN to a token that has access to it", repo);
  if (r.status == 401) fail("{}: the hub refused the token (HTTP 401): check HF_TOKEN or the token file", repo);
  if (r.status == 403)
    fail("{}: access denied (HTTP 403): the model is gated or private and this token has no access to it; "
         "request access at {}/{}", repo, opts.endpoint, repo);
  if (r.status == 404 && r.header("x-error-code") == "RevisionNotFound")
    fail("{}: revision {} not found on the hub", repo, id.revision);
  if (r.status == 404 && !file.empty()) fail("{}: {} not found on the hub ({})", repo, file, url);
  if (r.status == 404) fail("{}: not found on the hub at {} (and no local folder of that name)", repo, opts.endpoint);
  fail("{}{}{}: HTTP {} from {}", repo, file.empty() ? "" : ": ", file, r.status, url);
}

// huggingface_hub's lock for a blob (<cache>/.locks/<repo folder>/<etag>.lock, flock'ed as its filelock
// does), so that lopper and Python processes never write the same blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) fail("{}: cannot lock: {}", path.string(), std::strerror(errno));
  }
  ~BlobLock() { ::close(fd_); }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

// Empties a download that turned out not to be the file, so that none of it is kept (best effort: the
// error that follows is the one to report).
void discard(int fd) {
  if (::ftruncate(fd, 0) != 0) return;
}

// Appends the body of GET url to `part` from its current size on (a Range request), restarting from
// zero when the server ignores the range, and resuming broken transfers; returns when `part` is whole.
void fetch_into(const Ctx& c, const RepoFile& f, const fs::path& part, const std::function<void(int64_t)>& on_bytes) {
  const auto url = fmt::format("{}/{}/resolve/{}/{}", c.opts.endpoint, c.id.repo, c.commit, url_quote(f.name, true));
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open for writing: {}", part.string(), std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto have = static_cast<int64_t>(::lseek(fd, 0, SEEK_END));
  if (have > f.size) have = 0;  // not a prefix of this file: start over
  int stalls = 0;  // attempts in a row that brought nothing
  while (have < f.size) {
    if (::ftruncate(fd, have) != 0 || ::lseek(fd, have, SEEK_SET) != have)
      fail("{}: cannot truncate: {}", part.string(), std::strerror(errno));
    const int64_t start = have;
    bool first = true;
    auto res = http_get(request(c.opts, url, have), [&](const HttpResponse& head, const char* d, size_t n) {
      if (first && start > 0) {
        first = false;
        if (head.status == 200) {  // the server ignored the Range header: this is the whole file again
          if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
            fail("{}: cannot truncate: {}", part.string(), std::strerror(errno));
          on_bytes(-have);
          have = 0;
        } else if (head.header("content-range").rfind(fmt::format("bytes {}-", start), 0) != 0) {
          discard(fd);
          fail("{}: {}: the hub resumed at the wrong place (Content-Range \"{}\", expected bytes {}-)", c.id.repo,
               f.name, head.header("content-range"), start);
        }
      }
      if (have + static_cast<int64_t>(n) > f.size) {
        discard(fd);
        fail("{}: {}: the hub sent more than the {} bytes its metadata gives", c.id.repo, f.name, f.size);
      }
      for (size_t done = 0; done < n;) {
        auto w = ::write(fd, d + done, n - done);
        if (w < 0) fail("{}: write failed: {}", part.string(), std::strerror(errno));
        done += static_cast<size_t>(w);
      }
      have += static_cast<int64_t>(n);
      on_bytes(static_cast<int64_t>(n));
    });
    if (res.status == 416 && start > 0) {  // the leftover is no prefix the server knows: start over
      have = 0;
      continue;
    }
    if (res.status >= 300 || (res.status == 0 && !res.retryable)) fail_http(c.id, c.opts, res, url, f.name);
    if (res.error.empty()) return;  // complete; a short body shows in the size check
    stalls = have > start ? 0 : stalls + 1;
    if (!res.retryable || stalls > c.opts.retries)
      fail("{}: download of {} stopped after {} of {} bytes ({}); run again to {}", c.id.repo, f.name, have, f.size,
           res.error, have > 0 ? "resume" : "retry");
    std::this_thread::sleep_for(c.opts.retry_delay);
  }
}

// Downloads one file to blobs/<etag> unless it is there, then links it from the snapshot.
void fetch_file(const Ctx& c, const RepoFile& f, const std::function<void(int64_t)>& on_bytes) {
  auto blob = c.repo_dir / "blobs" / f.etag;
  std::error_code ec;
  if (!fs::exists(blob, ec)) {
    fs::create_directories(blob.parent_path());
    BlobLock lock(c.opts.cache_dir / ".locks" / repo_folder_name(c.id.repo) / (f.etag + ".lock"));
    if (!fs::exists(blob, ec)) {  // another process may have finished it while we waited for the lock
      auto part = blob;
      part += ".incomplete";
      try {
        fetch_into(c, f, part, on_bytes);
      } catch (...) {  // keep a partial download for resuming, not an empty file
        if (fs::file_size(part, ec) == 0) fs::remove(part, ec);
        throw;
      }
      // Checked before the blob gets its name: a bad download leaves nothing behind.
      auto size = static_cast<int64_t>(fs::file_size(part));
      auto actual = size != f.size ? "" : f.lfs ? sha256_file(part) : git_blob_sha1_file(part);
      if (size != f.size || actual != f.etag) {
        fs::remove(part, ec);
        if (size != f.size)
          fail("{}: {}: size mismatch: expected {} bytes, got {}; the download was deleted", c.id.repo, f.name,
               f.size, size);
        fail("{}: {}: checksum mismatch: expected {} {}, got {}; the download was deleted", c.id.repo, f.name,
             f.lfs ? "sha256" : "git blob sha1", f.etag, actual);
      }
      fs::rename(part, blob);
    }
  }
  link_snapshot_file(c.repo_dir, c.commit, f.name, f.etag);
}

}  // namespace

RepoInfo fetch_repo_info(const HubId& id, const HubOptions& opts) {
  auto url = fmt::format("{}/api/models/{}/revision/{}?blobs=true", opts.endpoint, id.repo, url_quote(id.revision, false));
  auto res = http_get(request(opts, url));
  if (res.status != 200) fail_http(id, opts, res, url, "");
  if (!res.error.empty()) fail("{}: reading {} failed: {}", id.repo, url, res.error);
  RepoInfo info;
  try {
    auto j = json::parse(res.body);
    info.commit = j.at("sha").get<std::string>();
    for (const auto& s : j.at("siblings")) {
      RepoFile f;
      f.name = s.at("rfilename").get<std::string>();
      f.lfs = s.contains("lfs") && s["lfs"].is_object();
      f.etag = f.lfs ? s["lfs"].at("sha256").get<std::string>() : s.value("blobId", "");
      f.size = f.lfs ? s["lfs"].at("size").get<int64_t>() : s.value("size", int64_t{-1});
      info.files.push_back(std::move(f));
    }
  } catch (const json::exception& e) {
    fail("{}: unexpected answer from {} ({})", id.repo, url, e.what());
  }
  if (!is_commit_hash(info.commit)) fail("{}: the hub gave no commit hash for revision {} ({})", id.repo, id.revision, url);
  return info;
}

std::vector<RepoFile> model_files(const RepoInfo& info, const HubId& id) {
  auto find = [&](const std::string& name) {
    return std::find_if(info.files.begin(), info.files.end(), [&](const RepoFile& f) { return f.name == name; });
  };
  std::vector<RepoFile> out;
  for (const char* name : kSmallFiles)
    if (auto it = find(name); it != info.files.end()) out.push_back(*it);
  if (out.empty() || out.front().name != "config.json")
    fail("{}@{}: the repo has no config.json: not a transformers model", id.repo, id.revision);
  auto weights = find(kIndex);
  if (weights == info.files.end()) weights = find("model.safetensors");
  if (weights == info.files.end())
    fail("{}@{}: the repo has no model.safetensors or {} (lopper reads safetensors weights only)", id.repo,
         id.revision, kIndex);
  out.push_back(*weights);
  for (const auto& f : out) check_metadata(id, f);
  return out;
}

fs::path download_snapshot(const HubId& id, const HubOptions& opts) {
  auto info = fetch_repo_info(id, opts);
  Ctx c{id, opts, opts.cache_dir / repo_folder_name(id.repo), info.commit};
  auto files = model_files(info, id);
  auto snapshot = c.repo_dir / "snapshots" / c.commit;
  // A sharded model: the index first, to learn its shards.
  if (files.back().name == kIndex) {
    fetch_file(c, files.back(), [](int64_t) {});
    for (const auto& shard : index_shards(snapshot / kIndex)) {
      auto it = std::find_if(info.files.begin(), info.files.end(), [&](const RepoFile& f) { return f.name == shard; });
      if (it == info.files.end()) fail("{}: {} names {}, which the repo does not have", id.repo, kIndex, shard);
      check_metadata(id, *it);
      files.push_back(*it);
    }
  }
  std::error_code ec;
  std::vector<RepoFile> todo;
  int64_t bytes = 0;
  for (const auto& f : files)
    if (!fs::exists(snapshot / f.name, ec)) todo.push_back(f), bytes += f.size;
  // Progress starts with the first byte: a refusal (401, 404) then prints its error line alone.
  constexpr int64_t kMB = 1000 * 1000;
  const int64_t total_mb = std::max<int64_t>(1, (bytes + kMB - 1) / kMB);
  std::optional<Progress> progress;
  int64_t done = 0;
  for (const auto& f : todo)
    fetch_file(c, f, [&](int64_t n) {
      if (!progress) progress.emplace("download " + id.repo, total_mb, "MB");
      progress->set((done += n) / kMB);
    });
  if (progress) progress->set(total_mb);
  if (!is_commit_hash(id.revision)) write_ref(c.repo_dir, id.revision, c.commit);
  if (auto missing = snapshot_missing(snapshot); !missing.empty()) fail("{}: after download, {}: {}", id.repo, snapshot.string(), missing);
  return snapshot;
}

}  // namespace lopper::hub
