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

// How write_dir_atomic treats an existing, non-empty target directory.
struct DirWritePolicy {
  // Without force such a target is refused; with it, lopper's own files are replaced and the rest kept.
  bool force = false;
  // Whether a top-level name in the existing directory is one of lopper's own outputs (e.g. an old
  // shard the new output no longer has): such names are dropped, all others are kept. Default: none.
  std::function<bool(const std::string& relative_name)> owned;
};

// Refuses, with an error naming `dir`, an output directory that cannot be written: its parent is
// missing, it exists and is not a directory, or it exists, is not empty and `force` is false.
// Call it before expensive work so that a bad --out fails fast; write_dir_atomic calls it too.
void check_output_dir(const fs::path& dir, bool force);

// The same for a single-file output such as `--out model.gguf` (`option` names the flag in the error,
// may be null): an existing file is refused unless `force`, an existing directory always is.
void check_output_path(const fs::path& path, bool force, const char* option);

// Same as write_atomic_with for a directory: `fill(tmp_dir)` populates a fresh temporary sibling
// directory that then takes the place of `dir` in one atomic step, so `dir` never holds a partial
// output, and an exception (or a kill) during `fill` leaves `dir` as it was. An existing non-empty
// `dir` needs `policy.force`; then its entries that the new output does not produce and that
// `policy.owned` does not claim are carried over (hard links, or copies across file systems).
void write_dir_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill,
                      const DirWritePolicy& policy = {});

// Removes a file or a directory tree (symlinks are removed, not followed); a missing path is not an
// error; returns false if something could not be removed. Used instead of std::filesystem::remove_all:
// PyTorch's wheels export their own copy of that function, which crashes when it is the one bound.
bool remove_tree(const fs::path& path) noexcept;

}  // namespace lopper
