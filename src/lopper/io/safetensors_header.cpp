// The safetensors format's dtype table and header validation: everything SafetensorsFile::open checks
// before a tensor exists. Kept apart from safetensors.cpp because it needs no tensor operations, only
// c10's scalar types, so fuzz/fuzz_safetensors.cpp can build it with clang (which cannot compile the
// full <ATen/ATen.h> of libtorch 1.13 in C++20 mode against libstdc++ 12).
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include "lopper/io/safetensors.h"
#include "lopper/util/error.h"

namespace lopper {

using json = nlohmann::json;

namespace {

// The safetensors library refuses headers above 100 MB; so do we (a corrupt length field would
// otherwise make us parse garbage).
constexpr uint64_t kMaxHeader = 100u << 20;

struct DTypeInfo {
  const char* name;
  at::ScalarType type;
};
constexpr DTypeInfo kDTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

}  // namespace

at::ScalarType safetensors_dtype(const std::string& dtype, const std::string& context) {
  for (const auto& d : kDTypes)
    if (dtype == d.name) return d.type;
  throw UnsupportedError(fmt::format("{}: dtype \"{}\" is not supported", context, dtype));
}

std::string safetensors_dtype_name(at::ScalarType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  throw UnsupportedError(fmt::format("scalar type {} cannot be written to safetensors", c10::toString(t)));
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& p) {
  SafetensorsHeader out;
  if (size < 8) fail("{}: truncated safetensors file ({} bytes, the header length alone needs 8)", p, size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);  // little-endian hosts only (x86-64, aarch64)
  if (n > kMaxHeader) fail("{}: header length {} is implausible (limit {} bytes): corrupt file?", p, n, kMaxHeader);
  if (n > size - 8) fail("{}: header length {} runs past the end of the file ({} bytes)", p, n, size);
  out.data_start = 8 + n;
  const size_t data_size = size - out.data_start;

  json h;
  try {
    h = json::parse(reinterpret_cast<const char*>(data) + 8, reinterpret_cast<const char*>(data) + 8 + n);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    fail("{}: header is not valid JSON ({})", p, e.what());
  }
  if (!h.is_object()) fail("{}: header is not a JSON object", p);

  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("{}: __metadata__ is not an object", p);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("{}: __metadata__ value \"{}\" is not a string", p, m.key());
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto where = fmt::format("{}: tensor \"{}\"", p, name);
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() || !v.contains("shape") ||
        !v["shape"].is_array() || !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      fail("{}: malformed header entry {}", where, v.dump());
    SafetensorsEntry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    auto scalar = safetensors_dtype(e.dtype, where);
    // The byte size must fit in int64, as libtorch's sizes do, whatever zeros the shape also has: a
    // product wrapping past 2^64 would otherwise match a tiny byte range ([2^62] F32 needing 0 bytes),
    // and an extent above 2^63 would turn negative (fuzz/corpus/safetensors/crash-numel-wraps, -extent-*).
    constexpr uint64_t kMaxBytes = std::numeric_limits<int64_t>::max();
    uint64_t bytes = c10::elementSize(scalar);  // of the nonzero extents
    bool empty = false;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail("{}: shape {} has a non-integer or negative entry", where, v["shape"].dump());
      uint64_t dim = d.get<uint64_t>();
      if (dim > 0 && bytes > kMaxBytes / dim) fail("{}: shape {} overflows", where, v["shape"].dump());
      if (dim > 0) bytes *= dim;
      empty = empty || dim == 0;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) fail("{}: data_offsets {} are not non-negative integers", where, v["data_offsets"].dump());
    uint64_t b = v["data_offsets"][0].get<uint64_t>(), en = v["data_offsets"][1].get<uint64_t>();
    if (b > en) fail("{}: data_offsets [{}, {}] are reversed", where, b, en);
    if (en > data_size)
      fail("{}: data_offsets [{}, {}] are out of range (data section has {} bytes; truncated file?)", where, b, en, data_size);
    uint64_t want = empty ? 0 : bytes;
    if (en - b != want)
      fail("{}: data_offsets span {} bytes but dtype {} and shape {} need {}", where, en - b, e.dtype,
           v["shape"].dump(), want);
    e.begin = b;
    e.end = en;
    out.entries.push_back(std::move(e));
  }
  // Overlapping tensors would alias each other's bytes: reject them.
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : out.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end)
      fail("{}: tensors \"{}\" and \"{}\" overlap in the data section", p, sorted[i - 1]->name, sorted[i]->name);
  return out;
}

}  // namespace lopper
