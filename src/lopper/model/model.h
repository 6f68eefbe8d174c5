// A loaded Llama-family model: config, weights on one device in one dtype, and the forward pass.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>

#include "lopper/model/config.h"
#include "lopper/model/kv_cache.h"
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
  at::Tensor cos, sin;  // [T, D]
  int64_t offset = -1, length = 0;
};

struct ForwardContext {
  KVCache* cache = nullptr;     // incremental decoding; positions continue from cache->length()
  TapHandler* taps = nullptr;   // observers / replacers of hidden states
  int64_t pos_offset = 0;       // position of the first token when no cache is used
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

  // Pieces of forward(), for code that caches block-boundary hidden states and recomputes only
  // from a given layer onward.
  at::Tensor embed(const at::Tensor& ids) const;                       // [B, T] -> [B, T, C]
  at::Tensor run_layer(int i, const at::Tensor& h, ForwardContext& ctx) const;  // [B, T, C]
  at::Tensor run_layers(at::Tensor h, int from, int to, ForwardContext& ctx) const;
  at::Tensor final_norm(const at::Tensor& h) const;                    // [B, T, C]
  at::Tensor lm_head(const at::Tensor& normed) const;                  // [B, T, V]

  // Moves/casts every weight.
  void to(const c10::Device& device, at::ScalarType dtype);
};

}  // namespace lopper
