#include "lopper/io/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "lopper/io/mapped_file.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

using json = nlohmann::json;

const std::filesystem::path& SafetensorsFile::path() const { return file_->path(); }

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: file not found", path.string());
  auto st = std::make_shared<SafetensorsFile>();
  st->file_ = MappedFile::open(path);
  SafetensorsHeader h = parse_safetensors_header(st->file_->data(), st->file_->size(), path.string());
  st->data_start_ = h.data_start;
  st->entries_ = std::move(h.entries);
  st->metadata_ = std::move(h.metadata);
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
