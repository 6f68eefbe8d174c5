// File helpers. Outputs are written to a temporary sibling path and renamed into place only once
// complete, so a crash or error never leaves a half-written file or directory behind.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace lopper {

namespace fs = std::filesystem;

// Reads a whole file; throws InputError naming the file if it cannot be read.
std::string read_file(const fs::path& path);

// Writes `data` to `path` atomically (temp file in the same directory, fsync, rename).
void write_file_atomic(const fs::path& path, const std::string& data);

// Calls `fill(tmp_path)` to produce the file at a temporary sibling path, then renames it to `path`.
// On any exception the temporary is removed and the exception propagates.
void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& fill);

// Same for a directory: `fill(tmp_dir)` populates a fresh temporary directory that then replaces
// `dir` (an existing `dir` is removed only after the new one is complete).
void write_dir_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill);

// Removes a file or a directory tree (symlinks are removed, not followed); a missing path is not an
// error; returns false if something could not be removed. Used instead of std::filesystem::remove_all:
// PyTorch's wheels export their own copy of that function, which crashes when it is the one bound.
bool remove_tree(const fs::path& path) noexcept;

}  // namespace lopper
