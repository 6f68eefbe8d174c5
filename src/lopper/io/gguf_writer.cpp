#include "lopper/io/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

// gguf_type values (ggml's gguf.h).
enum : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8,
  kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

template <typename T>
void put(std::string& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the machines lopper runs on are little-endian, as GGUF is
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

uint64_t pad_to(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "f32";
    case GgmlType::F16: return "f16";
    case GgmlType::Q8_0: return "q8_0";
    case GgmlType::BF16: return "bf16";
  }
  return "?";
}

int64_t ggml_block_size(GgmlType t) { return t == GgmlType::Q8_0 ? 32 : 1; }

uint64_t ggml_row_bytes(GgmlType t, int64_t n) {
  switch (t) {
    case GgmlType::F32: return 4 * uint64_t(n);
    case GgmlType::F16:
    case GgmlType::BF16: return 2 * uint64_t(n);
    case GgmlType::Q8_0: return uint64_t(n / 32) * 34;  // per block: f16 scale + 32 int8
  }
  return 0;
}

void GgufWriter::key(const std::string& k, uint32_t type) {
  if (std::find(keys_.begin(), keys_.end(), k) != keys_.end())
    throw Error(fmt::format("gguf: metadata key {} written twice", k));
  keys_.push_back(k);
  ++n_kv_;
  put_string(kv_, k);
  put<uint32_t>(kv_, type);
}

void GgufWriter::add_u32(const std::string& k, uint32_t v) { key(k, kU32); put(kv_, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { key(k, kI32); put(kv_, v); }
void GgufWriter::add_f32(const std::string& k, float v) { key(k, kF32); put(kv_, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { key(k, kBool); put<uint8_t>(kv_, v ? 1 : 0); }
void GgufWriter::add_string(const std::string& k, const std::string& v) { key(k, kString); put_string(kv_, v); }

void GgufWriter::add_u32_array(const std::string& k, const std::vector<uint32_t>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kU32);
  put<uint64_t>(kv_, v.size());
  for (auto x : v) put(kv_, x);
}

void GgufWriter::add_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kI32);
  put<uint64_t>(kv_, v.size());
  for (auto x : v) put(kv_, x);
}

void GgufWriter::add_f32_array(const std::string& k, const std::vector<float>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kF32);
  put<uint64_t>(kv_, v.size());
  for (auto x : v) put(kv_, x);
}

void GgufWriter::add_string_array(const std::string& k, const std::vector<std::string>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kString);
  put<uint64_t>(kv_, v.size());
  for (const auto& x : v) put_string(kv_, x);
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> shape, GgmlType type,
                            std::function<std::string()> produce) {
  for (const auto& t : tensors_)
    if (t.name == name) throw Error(fmt::format("gguf: tensor {} written twice", name));
  if (shape.empty() || shape.size() > 4) throw Error(fmt::format("gguf: tensor {} has {} dims", name, shape.size()));
  if (shape[0] % ggml_block_size(type) != 0)
    throw Error(fmt::format("gguf: tensor {}: row length {} is not a multiple of {}'s block size {}", name,
                            shape[0], ggml_type_name(type), ggml_block_size(type)));
  uint64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= uint64_t(shape[i]);
  uint64_t bytes = ggml_row_bytes(type, shape[0]) * rows;
  tensors_.push_back({name, std::move(shape), type, bytes, data_size_, std::move(produce)});
  data_size_ = pad_to(data_size_ + bytes, kAlignment);
}

void GgufWriter::write(const std::filesystem::path& path, const std::function<void()>& after_tensor) const {
  std::string head;
  head += "GGUF";
  put<uint32_t>(head, 3);
  put<int64_t>(head, static_cast<int64_t>(tensors_.size()));
  put<int64_t>(head, n_kv_);
  head += kv_;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) put<int64_t>(head, d);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, t.offset);
  }
  head.resize(pad_to(head.size(), kAlignment), '\0');

  write_atomic_with(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot open for writing", tmp.string());
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    uint64_t pos = 0;
    for (const auto& t : tensors_) {
      std::string pad(t.offset - pos, '\0');
      out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
      std::string data = t.produce();
      if (data.size() != t.bytes)
        throw Error(fmt::format("gguf: tensor {} produced {} bytes, expected {}", t.name, data.size(), t.bytes));
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
      pos = t.offset + t.bytes;
      if (!out) fail("{}: write failed (disk full?)", path.string());
      if (after_tensor) after_tensor();
    }
    std::string pad(data_size_ - pos, '\0');
    out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
    out.close();
    if (!out) fail("{}: write failed (disk full?)", path.string());
  });
}

}  // namespace lopper
