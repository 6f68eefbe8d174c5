#include "lopper/util/fs.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28, _GNU_SOURCE)
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

namespace {

// "out/" names the directory "out".
fs::path dir_target(const fs::path& dir) {
  return dir.filename().empty() ? dir.parent_path() : dir;
}

void check_parent_exists(const fs::path& path) {
  auto parent = path.parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    fail("{}: cannot write, directory {} does not exist", path.string(), parent.string());
}

[[noreturn]] void fail_not_empty(const fs::path& dir) {
  fail("{}: exists and is not empty; pass --force to replace lopper's files in it (other files are kept)",
       dir.string());
}

// Recreates `from` (a file, symlink or directory tree) at `to` without copying file contents where
// possible: a hard link shares the data, and the old name goes away with the old directory.
void carry_entry(const fs::path& from, const fs::path& to) {
  auto st = fs::symlink_status(from);
  if (fs::is_symlink(st)) {
    fs::copy_symlink(from, to);
  } else if (fs::is_directory(st)) {
    fs::create_directory(to, from);  // with `from`'s permissions
    for (const auto& e : fs::directory_iterator(from)) carry_entry(e.path(), to / e.path().filename());
  } else if (fs::is_regular_file(st)) {
    std::error_code ec;
    fs::create_hard_link(from, to, ec);
    if (ec) fs::copy_file(from, to);  // another file system, or links not allowed
  } else {
    fail("{}: cannot keep it in the new output (not a file, folder or symlink); move it elsewhere",
         from.string());
  }
}

// Brings every top-level entry of `old_dir` that the new output in `tmp` does not produce and that
// `owned` does not claim into `tmp`, so that the swap keeps the user's files.
void carry_user_entries(const fs::path& old_dir, const fs::path& tmp, const DirWritePolicy& policy) {
  for (const auto& e : fs::directory_iterator(old_dir)) {
    auto name = e.path().filename();
    std::error_code ec;
    if (fs::exists(fs::symlink_status(tmp / name, ec))) continue;  // replaced by the new output
    if (policy.owned && policy.owned(name.string())) continue;     // a stale output of lopper's
    carry_entry(e.path(), tmp / name);
  }
}

// Atomically swaps the complete `tmp` with `target`, then deletes the old contents (now at `tmp`).
// Where the file system cannot exchange, falls back to two renames: `target` is then briefly absent,
// but never partial.
void swap_into_place(const fs::path& tmp, const fs::path& target) {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    remove_tree(tmp);
    return;
  }
  const int err = errno;
  if (err != EINVAL && err != ENOSYS)
    throw fs::filesystem_error("cannot replace", tmp, target, std::error_code(err, std::generic_category()));
  auto old = temp_sibling(target);
  fs::rename(target, old);
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::rename(old, target);  // put the old contents back
    throw fs::filesystem_error("cannot replace", tmp, target, ec);
  }
  remove_tree(old);
}

// rename(2) replaces an empty directory atomically and refuses one that has meanwhile filled up.
void replace_empty_dir(const fs::path& tmp, const fs::path& target) {
  if (::rename(tmp.c_str(), target.c_str()) == 0) return;
  const int err = errno;
  if (err == ENOTEMPTY || err == EEXIST) fail_not_empty(target);
  throw fs::filesystem_error("cannot replace", tmp, target, std::error_code(err, std::generic_category()));
}

}  // namespace

void check_output_dir(const fs::path& dir, bool force) {
  fs::path target = dir_target(dir);
  check_parent_exists(target);
  std::error_code ec;
  if (!fs::exists(target, ec)) return;
  if (!fs::is_directory(target, ec)) fail("{}: exists and is not a directory", target.string());
  if (!force && !fs::is_empty(target, ec)) fail_not_empty(target);
}

void check_output_path(const fs::path& path, bool force, const char* option) {
  auto name = option && *option ? fmt::format("{} {}", option, path.string()) : path.string();
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail("{}: is a directory; give a file path", name);
  check_parent_exists(path);
  if (!force && fs::exists(fs::symlink_status(path, ec)))
    fail("{}: already exists; pass --force to replace it", name);
}

void write_dir_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill,
                      const DirWritePolicy& policy) {
  fs::path target = dir_target(dir);
  check_output_dir(target, policy.force);
  auto tmp = temp_sibling(target);
  fs::create_directory(tmp);
  try {
    fill(tmp);
    std::error_code ec;
    if (!fs::exists(target, ec)) {
      fs::rename(tmp, target);
    } else if (!policy.force) {
      replace_empty_dir(tmp, target);  // check_output_dir found it empty
    } else {
      carry_user_entries(target, tmp, policy);
      fs::permissions(tmp, fs::status(target).permissions());
      swap_into_place(tmp, target);
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
