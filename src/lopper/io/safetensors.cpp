#include "lopper/io/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "lopper/io/mapped_file.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

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

const std::filesystem::path& SafetensorsFile::path() const { return file_->path(); }

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: file not found", path.string());
  auto st = std::make_shared<SafetensorsFile>();
  st->file_ = MappedFile::open(path);
  const std::string p = path.string();
  const size_t size = st->file_->size();
  if (size < 8) fail("{}: truncated safetensors file ({} bytes, the header length alone needs 8)", p, size);
  uint64_t n = 0;
  std::memcpy(&n, st->file_->data(), 8);  // little-endian hosts only (x86-64, aarch64)
  if (n > kMaxHeader) fail("{}: header length {} is implausible (limit {} bytes): corrupt file?", p, n, kMaxHeader);
  if (n > size - 8) fail("{}: header length {} runs past the end of the file ({} bytes)", p, n, size);
  st->data_start_ = 8 + n;
  const size_t data_size = size - st->data_start_;

  json h;
  try {
    h = json::parse(reinterpret_cast<const char*>(st->file_->data()) + 8,
                    reinterpret_cast<const char*>(st->file_->data()) + 8 + n);
  } catch (const json::parse_error& e) {
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
        st->metadata_[m.key()] = m.value().get<std::string>();
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
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail("{}: shape {} has a non-integer or negative entry", where, v["shape"].dump());
      uint64_t dim = d.get<uint64_t>();
      if (dim > 0 && numel > std::numeric_limits<uint64_t>::max() / dim) fail("{}: shape overflows", where);
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) fail("{}: data_offsets {} are not non-negative integers", where, v["data_offsets"].dump());
    uint64_t b = v["data_offsets"][0].get<uint64_t>(), en = v["data_offsets"][1].get<uint64_t>();
    if (b > en) fail("{}: data_offsets [{}, {}] are reversed", where, b, en);
    if (en > data_size)
      fail("{}: data_offsets [{}, {}] are out of range (data section has {} bytes; truncated file?)", where, b, en, data_size);
    uint64_t want = numel * c10::elementSize(scalar);
    if (en - b != want)
      fail("{}: data_offsets span {} bytes but dtype {} and shape {} need {}", where, en - b, e.dtype,
           v["shape"].dump(), want);
    e.begin = b;
    e.end = en;
    st->entries_.push_back(std::move(e));
  }
  // Overlapping tensors would alias each other's bytes: reject them.
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : st->entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end)
      fail("{}: tensors \"{}\" and \"{}\" overlap in the data section", p, sorted[i - 1]->name, sorted[i]->name);
  for (size_t i = 0; i < st->entries_.size(); ++i) st->index_[st->entries_[i].name] = i;
  return st;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail("{}: no tensor named \"{}\"", path().string(), name);
  auto type = safetensors_dtype(e->dtype, path().string());
  uint8_t* ptr = file_->mutable_data() + data_start_ + e->begin;
  auto opts = at::TensorOptions().dtype(type).device(at::kCPU);
  if (e->begin == e->end) return at::empty(e->shape, opts);
  auto keep = file_;
  auto view = at::from_blob(ptr, e->shape, [keep](void*) {}, opts);
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(type) != 0) return view.clone();
  return view;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       std::map<std::string, std::string> metadata) {
  metadata.emplace("format", "pt");
  json h = json::object();
  h["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  data.reserve(tensors.size());
  size_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    if (h.contains(name) || name == "__metadata__") fail("{}: duplicate or reserved tensor name \"{}\"", path.string(), name);
    at::Tensor t = t0.detach().to(at::kCPU).contiguous();
    size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    h[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
               {"shape", t.sizes().vec()},
               {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  write_atomic_with(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot open for writing", tmp.string());
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : data)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    out.close();
    if (!out) fail("{}: write failed (disk full?)", path.string());
  });
}

}  // namespace lopper
