// A plain GGUF reader for tests: header, metadata (scalars and arrays as JSON) and tensor infos, with
// the data section's start. Independent of the writer, so that the layout is checked, not assumed.
// Fuzzed by fuzz/fuzz_gguf.cpp (it also reads files llama.cpp writes).
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lopper::test {

struct GgufTensorInfo {
  std::vector<int64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct GgufFile {
  uint32_t version = 0;
  std::map<std::string, nlohmann::json> kv;
  std::map<std::string, uint32_t> kv_type;  // gguf_type of scalars; 9 (array) for arrays
  std::map<std::string, GgufTensorInfo> tensors;
  std::vector<std::string> tensor_order;
  uint64_t data_start = 0;
  std::string bytes;
};

// Parses a whole GGUF file held in memory; std::runtime_error for a malformed one.
inline GgufFile parse_gguf(std::string bytes) {
  GgufFile f;
  f.bytes = std::move(bytes);
  size_t p = 0;
  auto take = [&](size_t n) {
    // Not p + n > size: a length near 2^64 would wrap around (found by fuzz/fuzz_gguf.cpp).
    if (n > f.bytes.size() - p) throw std::runtime_error("gguf: truncated");
    const char* s = f.bytes.data() + p;
    p += n;
    return s;
  };
  auto rd = [&]<typename T>(T) { T v; std::memcpy(&v, take(sizeof(T)), sizeof(T)); return v; };
  auto str = [&] { uint64_t n = rd(uint64_t{}); return std::string(take(n), n); };
  int depth = 0;  // of nested arrays: bounded, so that a crafted file cannot overflow the stack
  std::function<nlohmann::json(uint32_t)> value = [&](uint32_t t) -> nlohmann::json {
    switch (t) {
      case 0: return rd(uint8_t{});
      case 1: return rd(int8_t{});
      case 2: return rd(uint16_t{});
      case 3: return rd(int16_t{});
      case 4: return rd(uint32_t{});
      case 5: return rd(int32_t{});
      case 6: return rd(float{});
      case 7: return rd(uint8_t{}) != 0;
      case 8: return str();
      case 9: {
        uint32_t et = rd(uint32_t{});
        uint64_t n = rd(uint64_t{});
        if (++depth > 8) throw std::runtime_error("gguf: arrays nested too deep");
        nlohmann::json a = nlohmann::json::array();
        for (uint64_t i = 0; i < n; ++i) a.push_back(value(et));
        --depth;
        return a;
      }
      case 10: return rd(uint64_t{});
      case 11: return rd(int64_t{});
      case 12: return rd(double{});
    }
    throw std::runtime_error("gguf: bad type");
  };
  if (std::string(take(4), 4) != "GGUF") throw std::runtime_error("gguf: bad magic");
  f.version = rd(uint32_t{});
  int64_t n_tensors = rd(int64_t{}), n_kv = rd(int64_t{});
  for (int64_t i = 0; i < n_kv; ++i) {
    auto k = str();
    uint32_t t = rd(uint32_t{});
    f.kv_type[k] = t;
    f.kv[k] = value(t);
  }
  for (int64_t i = 0; i < n_tensors; ++i) {
    auto name = str();
    GgufTensorInfo ti;
    uint32_t nd = rd(uint32_t{});
    for (uint32_t d = 0; d < nd; ++d) ti.ne.push_back(rd(int64_t{}));
    ti.type = rd(uint32_t{});
    ti.offset = rd(uint64_t{});
    f.tensors[name] = ti;
    f.tensor_order.push_back(name);
  }
  // general.alignment is a uint32 (GGUF spec); any other type, or 0, is a malformed file.
  uint64_t align = 32;
  if (f.kv.count("general.alignment")) {
    if (f.kv_type["general.alignment"] != 4 || f.kv["general.alignment"] == 0)
      throw std::runtime_error("gguf: general.alignment must be a non-zero uint32");
    align = f.kv["general.alignment"].get<uint64_t>();
  }
  f.data_start = (p + align - 1) / align * align;
  return f;
}

inline GgufFile read_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return parse_gguf(std::string(std::istreambuf_iterator<char>(in), {}));
}

}  // namespace lopper::test
