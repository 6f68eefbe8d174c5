// LoRA adapters (Hu et al. 2021, PEFT's LoraLayer): for a Linear weight W [out, in] a pair
// A [r, in], B [out, r] adds (alpha / r) * B A dropout(x) to the layer's output. A starts
// kaiming-uniform and B at zero (PEFT's default), so a fresh adapter leaves the model unchanged.
// The adapters plug into the forward pass as a LinearAdapter; the base weights are never copied.
// A and B are fp32 master weights on the model's device, cast to the compute dtype in the forward.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/linear_adapter.h"
#include "lopper/model/model.h"

namespace lopper {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.05;
  std::vector<TensorRole> targets = {TensorRole::Q,    TensorRole::K,  TensorRole::V,   TensorRole::O,
                                     TensorRole::Gate, TensorRole::Up, TensorRole::Down};
  double scaling() const { return alpha / static_cast<double>(rank); }
};

// PEFT's module name of a projection role: "q_proj", ..., "down_proj".
std::string lora_module_name(TensorRole role);
// "q,k,v,o,gate,up,down" or PEFT names ("q_proj,v_proj"); "all" is every projection. InputError
// naming --lora-targets for anything else.
std::vector<TensorRole> parse_lora_targets(const std::string& s);

class LoraAdapters : public LinearAdapter {
 public:
  struct Pair {
    int layer;
    TensorRole role;
    at::Tensor a;  // [r, in] fp32
    at::Tensor b;  // [out, r] fp32
  };

  // One pair per targeted projection the model has (a layer without attention or MLP has none).
  // Throws InputError when the rank exceeds a targeted layer's smaller dimension.
  LoraAdapters(const Model& model, LoraConfig config, uint64_t seed);

  at::Tensor delta(int layer, TensorRole role, const at::Tensor& x) override;

  const LoraConfig& config() const { return config_; }
  std::vector<Pair>& pairs() { return pairs_; }
  const std::vector<Pair>& pairs() const { return pairs_; }
  // Every A and B, in pair order (A0, B0, A1, B1, ...): the optimizer's parameters.
  std::vector<at::Tensor> parameters() const;
  std::vector<at::Tensor> layer_parameters(int layer) const;
  int64_t num_params() const;

  // Dropout is applied only while training; its masks are drawn from `seed` mixed with the layer and
  // projection, so recomputing a layer (gradient checkpointing) or resuming draws the same masks.
  void set_training(bool training, uint64_t seed = 0);

  // W += scaling * B A for every pair, computed in fp32 and rounded once to W's dtype.
  void merge_into(Model& model) const;

  // PEFT's tensor name of a pair's A or B: "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight".
  static std::string peft_name(int layer, TensorRole role, bool b);
  // PEFT's layout: adapter_config.json + adapter_model.safetensors (fp32), written atomically.
  void save_peft(const std::filesystem::path& dir, const std::string& base_model) const;
  nlohmann::json peft_config(const std::string& base_model) const;
  // Reads A/B values saved by save_peft (same model structure and config), the tensor names prefixed
  // by `prefix`; InputError naming the file or tensor on a mismatch.
  void load_peft_weights(const std::filesystem::path& safetensors_file, const std::string& prefix = "");

 private:
  LoraConfig config_;
  std::vector<Pair> pairs_;
  std::vector<int> index_;  // [layer * kRoles + role slot] -> pair index, -1: none
  bool training_ = false;
  uint64_t dropout_seed_ = 0;
};

// Weights made under InferenceMode (random-weight benchmarks) cannot be saved for the backward pass:
// copies them into ordinary tensors. Loaded checkpoints are left as they are.
void prepare_for_training(Model& model);

}  // namespace lopper
