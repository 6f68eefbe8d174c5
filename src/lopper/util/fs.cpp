#include "lopper/util/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "lopper/util/error.h"

namespace lopper {

namespace {

fs::path temp_sibling(const fs::path& path) {
  std::random_device rd;
  auto name = path.filename().string();
  if (name.empty()) name = "out";
  return path.parent_path() / fmt::format(".{}.tmp{:08x}", name, rd());
}

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: file not found", path.string());
  if (fs::is_directory(path, ec)) fail("{}: is a directory, expected a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open for reading", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read error", path.string());
  return ss.str();
}

void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& fill) {
  auto parent = path.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    fail("{}: cannot write, directory {} does not exist", path.string(), parent.string());
  auto tmp = temp_sibling(path);
  try {
    fill(tmp);
    fsync_path(tmp);
    fs::rename(tmp, path);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, const std::string& data) {
  write_atomic_with(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot open for writing", tmp.string());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) fail("{}: write failed (disk full?)", path.string());
  });
}

void write_dir_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill) {
  fs::path target = dir;
  if (target.filename().empty()) target = target.parent_path();  // "out/" -> "out"
  auto parent = target.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    fail("{}: cannot write, directory {} does not exist", target.string(), parent.string());
  if (fs::exists(target, ec) && !fs::is_directory(target, ec))
    fail("{}: exists and is not a directory", target.string());
  auto tmp = temp_sibling(target);
  fs::create_directory(tmp);
  try {
    fill(tmp);
    if (fs::exists(target, ec)) {
      auto old = temp_sibling(target);
      fs::rename(target, old);
      fs::rename(tmp, target);
      remove_tree(old);
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
}

namespace {

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  return (type == FTW_DP ? ::rmdir(path) : ::unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

}  // namespace

bool remove_tree(const fs::path& path) noexcept {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return ::unlink(path.c_str()) == 0;
  // Depth-first (children before their directory), without following symlinks or crossing mounts.
  return ::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0;
}

}  // namespace lopper
