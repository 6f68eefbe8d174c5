// LoRA adapters: creation (PEFT's initialization), the forward addition, merging, PEFT's file layout.
#include "lopper/train/lora.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>

#include "lopper/io/safetensors.h"
#include "lopper/train/seed_mix.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

constexpr int kRoles = 7;

int role_slot(TensorRole r) {
  switch (r) {
    case TensorRole::Q: return 0;
    case TensorRole::K: return 1;
    case TensorRole::V: return 2;
    case TensorRole::O: return 3;
    case TensorRole::Gate: return 4;
    case TensorRole::Up: return 5;
    case TensorRole::Down: return 6;
    default: return -1;
  }
}

// The weight a role names in layer `layer`, or nullptr when the layer lacks that sublayer.
const at::Tensor* weight_of(const ModelWeights& w, int layer, TensorRole role) {
  const LayerWeights& lw = w.layers.at(layer);
  switch (role) {
    case TensorRole::Q: return lw.attn ? &lw.attn->q : nullptr;
    case TensorRole::K: return lw.attn ? &lw.attn->k : nullptr;
    case TensorRole::V: return lw.attn ? &lw.attn->v : nullptr;
    case TensorRole::O: return lw.attn ? &lw.attn->o : nullptr;
    case TensorRole::Gate: return lw.mlp ? &lw.mlp->gate : nullptr;
    case TensorRole::Up: return lw.mlp ? &lw.mlp->up : nullptr;
    case TensorRole::Down: return lw.mlp ? &lw.mlp->down : nullptr;
    default: return nullptr;
  }
}

}  // namespace

void prepare_for_training(Model& model) {
  for_each_tensor(model.config, [&](const TensorSpec& spec) {
    at::Tensor& t = tensor_slot(model.weights, spec);
    if (t.defined() && t.is_inference()) t = t.clone();
  });
  if (model.config.tie_word_embeddings)
    model.weights.lm_head = model.weights.embed;  // keep the alias
  else if (model.weights.lm_head.is_inference())
    model.weights.lm_head = model.weights.lm_head.clone();
}

std::string lora_module_name(TensorRole role) {
  // "model.layers.0.self_attn.q_proj.weight" -> "q_proj": the names come from the one naming function.
  std::string name = tensor_name(role, 0);
  name = name.substr(0, name.rfind('.'));
  return name.substr(name.rfind('.') + 1);
}

std::vector<TensorRole> parse_lora_targets(const std::string& s) {
  const TensorRole all[] = {TensorRole::Q,    TensorRole::K,  TensorRole::V,   TensorRole::O,
                            TensorRole::Gate, TensorRole::Up, TensorRole::Down};
  std::vector<TensorRole> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? s.size() + 1 : end + 1;
    if (item.empty()) continue;
    if (item == "all") {
      out.assign(std::begin(all), std::end(all));
      continue;
    }
    bool found = false;
    for (TensorRole r : all) {
      std::string module = lora_module_name(r);  // "gate_proj"
      if (item == module || item == module.substr(0, module.size() - 5)) {
        if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
        found = true;
      }
    }
    check(found, "--lora-targets: unknown projection \"{}\" (use q,k,v,o,gate,up,down, PEFT names like q_proj, or all)",
          item);
  }
  check(!out.empty(), "--lora-targets is empty");
  return out;
}

LoraAdapters::LoraAdapters(const Model& model, LoraConfig config, uint64_t seed) : config_(std::move(config)) {
  check(config_.rank >= 1, "--lora-rank must be at least 1, got {}", config_.rank);
  check(config_.dropout >= 0 && config_.dropout < 1, "--lora-dropout must be in [0, 1), got {}", config_.dropout);
  check(!config_.targets.empty(), "LoRA needs at least one target projection");
  const int layers = model.config.num_layers();
  index_.assign(static_cast<size_t>(layers) * kRoles, -1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  for (int i = 0; i < layers; ++i) {
    for (TensorRole role : config_.targets) {
      const at::Tensor* w = weight_of(model.weights, i, role);
      if (!w || !w->defined()) continue;
      const int64_t out = w->size(0), in = w->size(1);
      check(config_.rank <= std::min(in, out), "--lora-rank {} is larger than layer {}'s {} ({} x {})", config_.rank, i,
            lora_module_name(role), out, in);
      // PEFT: kaiming_uniform_(A, a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)); B = 0.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      at::Tensor a = at::empty({config_.rank, in}, opts).uniform_(-bound, bound, gen).to(model.device);
      at::Tensor b = at::zeros({out, config_.rank}, opts.device(model.device));
      index_[static_cast<size_t>(i) * kRoles + role_slot(role)] = static_cast<int>(pairs_.size());
      pairs_.push_back({i, role, a.requires_grad_(true), b.requires_grad_(true)});
    }
  }
  check(!pairs_.empty(), "the model has none of the LoRA target projections");
}

at::Tensor LoraAdapters::delta(int layer, TensorRole role, const at::Tensor& x) {
  const int slot = role_slot(role);
  if (slot < 0 || layer < 0 || static_cast<size_t>(layer) * kRoles >= index_.size()) return {};
  const int idx = index_[static_cast<size_t>(layer) * kRoles + slot];
  if (idx < 0) return {};
  const Pair& p = pairs_[static_cast<size_t>(idx)];
  at::Tensor xin = x;  // [..., in]
  if (training_ && config_.dropout > 0) {
    // The default generator of x's device, reseeded per (step seed, layer, projection).
    auto gen = at::globalContext().defaultGenerator(x.device());
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed_mix(dropout_seed_, static_cast<uint64_t>(layer) * kRoles + slot));
    }
    xin = at::dropout(x, config_.dropout, true);
  }
  const auto dt = x.scalar_type();
  at::Tensor h = at::linear(xin, p.a.to(dt));                 // [..., r]
  return at::linear(h, p.b.to(dt)) * config_.scaling();        // [..., out]
}

std::vector<at::Tensor> LoraAdapters::parameters() const {
  std::vector<at::Tensor> out;
  for (const Pair& p : pairs_) {
    out.push_back(p.a);
    out.push_back(p.b);
  }
  return out;
}

std::vector<at::Tensor> LoraAdapters::layer_parameters(int layer) const {
  std::vector<at::Tensor> out;
  for (const Pair& p : pairs_) {
    if (p.layer != layer) continue;
    out.push_back(p.a);
    out.push_back(p.b);
  }
  return out;
}

int64_t LoraAdapters::num_params() const {
  int64_t n = 0;
  for (const Pair& p : pairs_) n += p.a.numel() + p.b.numel();
  return n;
}

void LoraAdapters::set_training(bool training, uint64_t seed) {
  training_ = training;
  dropout_seed_ = seed;
}

void LoraAdapters::merge_into(Model& model) const {
  c10::NoGradGuard no_grad;
  for (const Pair& p : pairs_) {
    at::Tensor& w = const_cast<at::Tensor&>(*weight_of(model.weights, p.layer, p.role));
    // fp64: the merged weight is W + s B A rounded once.
    at::Tensor merged = w.to(at::kDouble) + at::matmul(p.b.to(at::kDouble), p.a.to(at::kDouble)) * config_.scaling();
    w = merged.to(w.scalar_type()).contiguous();
  }
}

std::string LoraAdapters::peft_name(int layer, TensorRole role, bool b) {
  std::string module = tensor_name(role, layer);  // "model.layers.3.self_attn.q_proj.weight"
  module = module.substr(0, module.rfind('.'));
  return "base_model.model." + module + (b ? ".lora_B.weight" : ".lora_A.weight");
}

nlohmann::json LoraAdapters::peft_config(const std::string& base_model) const {
  std::vector<std::string> modules;
  for (TensorRole r : config_.targets) modules.push_back(lora_module_name(r));
  // The keys every PEFT version since 0.3 accepts; newer keys take their defaults on loading.
  return {{"base_model_name_or_path", base_model}, {"bias", "none"}, {"fan_in_fan_out", false},
          {"inference_mode", true}, {"init_lora_weights", true}, {"layers_pattern", nullptr},
          {"layers_to_transform", nullptr}, {"lora_alpha", config_.alpha}, {"lora_dropout", config_.dropout},
          {"modules_to_save", nullptr}, {"peft_type", "LORA"}, {"r", config_.rank}, {"revision", nullptr},
          {"target_modules", modules}, {"task_type", "CAUSAL_LM"}};
}

void LoraAdapters::save_peft(const std::filesystem::path& dir, const std::string& base_model) const {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const Pair& p : pairs_) {
    tensors.emplace_back(peft_name(p.layer, p.role, false), p.a.detach().to(at::kCPU).contiguous());
    tensors.emplace_back(peft_name(p.layer, p.role, true), p.b.detach().to(at::kCPU).contiguous());
  }
  write_safetensors(dir / "adapter_model.safetensors", tensors);
  write_file_atomic(dir / "adapter_config.json", peft_config(base_model).dump(2) + "\n");
}

void LoraAdapters::load_peft_weights(const std::filesystem::path& file, const std::string& prefix) {
  auto st = SafetensorsFile::open(file);
  c10::NoGradGuard no_grad;
  for (Pair& p : pairs_) {
    for (bool is_b : {false, true}) {
      const std::string name = prefix + peft_name(p.layer, p.role, is_b);
      at::Tensor& dst = is_b ? p.b : p.a;
      check(st->find(name) != nullptr, "{}: tensor {} is missing", file.string(), name);
      at::Tensor src = st->tensor(name);
      check(src.sizes() == dst.sizes(), "{}: tensor {} has shape {}, expected {}", file.string(), name,
            fmt::join(src.sizes(), "x"), fmt::join(dst.sizes(), "x"));
      dst.copy_(src);
    }
  }
}

}  // namespace lopper
