// GGUF v3 writer (the file format of llama.cpp / ggml; layout as in ggml's gguf.h and gguf-py):
//   "GGUF" u32 version=3, i64 n_tensors, i64 n_kv,
//   n_kv x (string key, u32 type, value), n_tensors x (string name, u32 n_dims, i64 ne[n_dims],
//   u32 ggml_type, u64 offset), zero padding to the alignment, then the tensor data, each tensor
//   starting at a multiple of the alignment (32) from the start of the data section.
// Strings are u64 length + bytes (no terminator); everything little-endian. Tensor data is produced
// lazily, one tensor at a time while writing, so a large model is never held twice in memory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lopper {

// ggml tensor types lopper writes (values from ggml.h's enum ggml_type).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType t);
// Bytes of a row of `n` elements; n must be a multiple of the block size (32 for Q8_0).
uint64_t ggml_row_bytes(GgmlType t, int64_t n);
int64_t ggml_block_size(GgmlType t);

class GgufWriter {
 public:
  static constexpr uint32_t kAlignment = 32;

  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_u32_array(const std::string& key, const std::vector<uint32_t>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);

  // `shape` in ggml order (ne[0] is the contiguous dimension: a torch [out, in] matrix is {in, out}).
  // `produce` returns exactly the tensor's bytes when called during write().
  void add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                  std::function<std::string()> produce);

  size_t tensor_count() const { return tensors_.size(); }
  // Writes the file atomically (temporary sibling, renamed when complete); `after_tensor` (optional)
  // is called after each tensor's data is written, e.g. to show progress.
  void write(const std::filesystem::path& path, const std::function<void()>& after_tensor = {}) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    uint64_t bytes, offset;
    std::function<std::string()> produce;
  };
  void key(const std::string& k, uint32_t type);
  std::string kv_;  // serialized key/value pairs
  int64_t n_kv_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
  uint64_t data_size_ = 0;
};

}  // namespace lopper
