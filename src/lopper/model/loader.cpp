// Loading a Hugging Face checkpoint directory: config.json plus model.safetensors or shards listed in
// model.safetensors.index.json. Every tensor the config implies must be present with the implied
// shape; a tensor the config does not imply is an error (it means config and weights disagree).
#include <ATen/ATen.h>

#include <map>
#include <set>

#include "lopper/io/safetensors.h"
#include "lopper/model/cpu_threads.h"
#include "lopper/model/model.h"
#include "lopper/util/allocator.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

namespace fs = std::filesystem;

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// Opens every shard and returns name -> shard; validates the index against the shards.
std::map<std::string, std::shared_ptr<SafetensorsFile>> open_shards(const fs::path& dir) {
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_name;
  auto index_path = dir / "model.safetensors.index.json";
  auto single = dir / "model.safetensors";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    nlohmann::json idx;
    try {
      idx = nlohmann::json::parse(read_file(index_path));
    } catch (const nlohmann::json::exception& e) {  // also out-of-range numbers (1e3001)
      fail("{}: not valid JSON ({})", index_path.string(), e.what());
    }
    if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
      fail("{}: missing \"weight_map\" object", index_path.string());
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it.value().is_string()) fail("{}: weight_map[\"{}\"] is not a file name", index_path.string(), it.key());
      std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == "..")
        fail("{}: shard name \"{}\" must be a plain file name", index_path.string(), file);
      auto& shard = shards[file];
      if (!shard) {
        if (!fs::exists(dir / file, ec))
          fail("{}: shard {} listed in {} is missing", (dir / file).string(), file, index_path.filename().string());
        shard = SafetensorsFile::open(dir / file);
      }
      if (!shard->find(it.key()))
        fail("{}: tensor \"{}\" is listed in {} but not present in this shard", shard->path().string(),
             it.key(), index_path.filename().string());
      by_name[it.key()] = shard;
    }
    // Tensors in a shard but absent from the index are still loadable; record them too.
    for (auto& [file, shard] : shards)
      for (const auto& e : shard->entries()) by_name.emplace(e.name, shard);
  } else if (fs::exists(single, ec)) {
    auto shard = SafetensorsFile::open(single);
    for (const auto& e : shard->entries()) by_name[e.name] = shard;
  } else {
    std::string hint = fs::exists(dir / "pytorch_model.bin", ec)
                           ? " (pytorch_model.bin found: convert it to safetensors first)"
                           : "";
    fail("{}: no model.safetensors or model.safetensors.index.json{}", dir.string(), hint);
  }
  return by_name;
}

}  // namespace

Model Model::load(const fs::path& dir, const LoadOptions& opts) {
  tune_allocator();
  Model m;
  m.config = ModelConfig::load(dir);
  m.device = parse_device(opts.device);
  m.dtype = parse_dtype(opts.dtype, m.device);
  if (m.device.is_cpu()) configure_cpu_threads();
  m.source_dir = dir;
  m.weights = make_structure(m.config);
  // With a placement each master goes straight where it is kept (a model larger than the device
  // never passes through it whole).
  if (opts.placement.active()) attach_stream(m, opts.placement);
  auto shards = open_shards(dir);
  std::set<std::string> used;
  const std::string cfg = (dir / "config.json").string();
  for_each_tensor(m.config, [&](const TensorSpec& s) {
    auto it = shards.find(s.name);
    if (it == shards.end())
      fail("{}: tensor \"{}\" is missing (implied by {})", dir.string(), s.name, cfg);
    const SafetensorsEntry* e = it->second->find(s.name);
    auto where = fmt::format("{}: tensor \"{}\"", it->second->path().string(), s.name);
    if (e->shape != s.shape)
      fail("{} has shape {} but config.json implies {}", where, shape_str(e->shape), shape_str(s.shape));
    auto st = safetensors_dtype(e->dtype, where);
    if (st != at::kFloat && st != at::kHalf && st != at::kBFloat16)
      fail("{} has dtype {}; model weights must be F32, F16 or BF16", where, e->dtype);
    tensor_slot(m.weights, s) = it->second->tensor(s.name).to(m.master_device(s.layer), m.dtype);
    used.insert(s.name);
  });
  if (m.config.tie_word_embeddings) m.weights.lm_head = m.weights.embed;
  for (const auto& [name, shard] : shards) {
    if (used.count(name)) continue;
    bool benign = name.ends_with("rotary_emb.inv_freq") ||
                  (m.config.tie_word_embeddings && name == "lm_head.weight");
    if (!benign)
      fail("{}: unexpected tensor \"{}\" (not implied by {}: {} layers)", shard->path().string(), name,
           cfg, m.config.num_layers());
  }
  return m;
}

void Model::to(const c10::Device& dev, at::ScalarType dt) {
  if (stream) {
    check(indexed(dev) == device, "a model placed with --offload/--devices cannot move to {}", dev.str());
    stream->clear();
  }
  for_each_tensor(config, [&](const TensorSpec& s) {
    auto& t = tensor_slot(weights, s);
    t = t.to(stream ? t.device() : dev, dt);
  });
  if (config.tie_word_embeddings) weights.lm_head = weights.embed;
  if (!stream) device = dev;
  dtype = dt;
}

c10::Device parse_device(const std::string& s) {
  c10::Device d(c10::kCPU);
  try {
    d = c10::Device(s);
  } catch (const std::exception&) {
    fail("--device \"{}\" is not a device (use cpu, cuda or cuda:N)", s);
  }
  if (!d.is_cpu() && !d.is_cuda()) fail("--device \"{}\": only cpu and cuda are supported", s);
  if (d.is_cuda()) {
    if (!at::hasCUDA())
      fail("--device {}: this lopper has no CUDA support or no GPU is visible (build with -DLOPPER_CUDA=ON)", s);
    const int64_t gpus = static_cast<int64_t>(at::getNumGPUs());
    if (d.has_index() && d.index() >= gpus)
      fail("--device {} is not available: {} CUDA device{} visible", s, gpus, gpus == 1 ? " is" : "s are");
  }
  return d;
}

at::ScalarType parse_dtype(const std::string& s, const c10::Device& device) {
  if (s == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (s == "f32" || s == "float32" || s == "fp32") return at::kFloat;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  if (s == "f16" || s == "float16" || s == "fp16") return at::kHalf;
  fail("--dtype \"{}\" is not supported (use f32, bf16 or f16)", s);
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "f32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "f16";
    default: return c10::toString(t);
  }
}

}  // namespace lopper
