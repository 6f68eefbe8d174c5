// Safetensors reader and writer (https://github.com/huggingface/safetensors format):
//   [u64 little-endian header length N][N bytes of JSON header][data]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end)} relative to the data
// section, plus an optional "__metadata__" string map. The reader validates everything against the
// file before any tensor is touched and hands out zero-copy views of the memory-mapped file.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lopper {

class MappedFile;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as written: "F32", "BF16", ...
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte range within the data section
};

// The header of a safetensors file, validated against the file's size: what SafetensorsFile::open
// checks before any tensor is touched. `data` holds the whole file (`size` bytes); `name` starts every
// error message (InputError / UnsupportedError). Public so that the checks run on bytes in memory
// (tests, fuzz/fuzz_safetensors.cpp).
struct SafetensorsHeader {
  size_t data_start = 0;  // offset of the data section: 8 + header length
  std::vector<SafetensorsEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
};
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& name);

class SafetensorsFile {
 public:
  // Maps and validates the file; throws InputError naming the file (and tensor) on any problem.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A CPU tensor viewing the mapped bytes (copy-on-write); keeps the mapping alive. Copied when
  // the data is not aligned to its element size.
  at::Tensor tensor(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  size_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Maps a safetensors dtype string to a libtorch scalar type; throws for unsupported ones.
at::ScalarType safetensors_dtype(const std::string& dtype, const std::string& context);
std::string safetensors_dtype_name(at::ScalarType t);

// Writes tensors (any device/dtype; written in their own dtype) atomically: a temporary file
// renamed into place. Names must be unique. Metadata gets "format": "pt" (transformers needs it).
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       std::map<std::string, std::string> metadata = {});

}  // namespace lopper
