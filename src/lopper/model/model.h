// A loaded Llama-family model: config, weights on one device in one dtype, and the forward pass.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lopper/model/config.h"
#include "lopper/model/kv_cache.h"
#include "lopper/model/linear_adapter.h"
#include "lopper/model/taps.h"
#include "lopper/model/weights.h"

namespace lopper {

struct LoadOptions {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "auto";  // auto (f32 on CPU, bf16 on CUDA) | f32 | bf16 | f16
};

// Parses --device / --dtype values; throws InputError naming the option.
c10::Device parse_device(const std::string& s);
at::ScalarType parse_dtype(const std::string& s, const c10::Device& device);
std::string dtype_name(at::ScalarType t);  // "f32", "bf16", "f16"

// RoPE cos/sin for a run of positions, shared by all layers of one forward step.
struct RopeTables {
  at::Tensor cos, sin;  // [T, D], or [B, 1, T, D] with per-row starts
  int64_t offset = -1, length = 0;
  bool per_row = false;
};

struct ForwardContext {
  KVCache* cache = nullptr;     // incremental decoding; positions continue from cache->length()
  TapHandler* taps = nullptr;   // observers / replacers of hidden states
  LinearAdapter* adapter = nullptr;  // additions to Linear outputs (LoRA fine-tuning)
  int64_t pos_offset = 0;       // position of the first token when no cache is used
  // Left padding, one entry per batch row: the first row_start[b] tokens of row b's sequence (cache
  // included) are padding that no token attends to, and row b's positions count from there. Lets
  // sequences of different lengths share a batch with their ends aligned (batched decoding after
  // prompts of different lengths, zero-shot prefixes). Empty: no padding.
  std::vector<int64_t> row_start;
  RopeTables rope;              // filled lazily
};

class Model {
 public:
  static Model load(const std::filesystem::path& dir, const LoadOptions& opts = {});

  ModelConfig config;
  ModelWeights weights;
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  std::filesystem::path source_dir;  // where tokenizer / generation config files come from

  // ids [B, T] (int64 or int32) -> logits [B, T, V] in the model dtype.
  at::Tensor forward(const at::Tensor& ids, ForwardContext& ctx) const;
  at::Tensor forward(const at::Tensor& ids) const;
  // The same, but only the last position's logits [B, V]: what a generation step needs (the LM head
  // over the whole prompt would be wasted work and memory).
  at::Tensor forward_last(const at::Tensor& ids, ForwardContext& ctx) const;

  // Pieces of forward(), for code that caches block-boundary hidden states and recomputes only
  // from a given layer onward.
  at::Tensor embed(const at::Tensor& ids) const;                       // [B, T] -> [B, T, C]
  // attn / mlp false: that sublayer is skipped (the residual passes through), as if removed; search
  // methods evaluate removals this way without editing the model. In a SliceGPT-rotated model a
  // skipped sublayer still applies its shortcut matrix (the residual's change of basis).
  at::Tensor run_layer(int i, const at::Tensor& h, ForwardContext& ctx, bool attn = true,
                       bool mlp = true) const;                          // [B, T, C]
  at::Tensor run_layers(at::Tensor h, int from, int to, ForwardContext& ctx) const;
  at::Tensor final_norm(const at::Tensor& h) const;                    // [B, T, C]
  at::Tensor lm_head(const at::Tensor& normed) const;                  // [B, T, V]

  // Moves/casts every weight.
  void to(const c10::Device& device, at::ScalarType dtype);
};

}  // namespace lopper
