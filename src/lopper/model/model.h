// A loaded Llama-family model: config, weights on one device in one dtype, and the forward pass.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lopper/model/config.h"
#include "lopper/model/kv_cache.h"
#include "lopper/model/layer_stream.h"
#include "lopper/model/linear_adapter.h"
#include "lopper/model/placement.h"
#include "lopper/model/taps.h"
#include "lopper/model/weights.h"

namespace lopper {

struct LoadOptions {
  LoadOptions() = default;
  LoadOptions(std::string device_, std::string dtype_ = "auto", PlacementOptions placement_ = {})
      : device(std::move(device_)), dtype(std::move(dtype_)), placement(std::move(placement_)) {}
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "auto";  // auto (f32 on CPU, bf16 on CUDA) | f32 | bf16 | f16
  PlacementOptions placement;  // --offload / --devices / --max-device-memory (model/placement.h)
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
  // Set when layers are streamed from host memory or spread over devices (LoadOptions::placement):
  // `weights` are then the masters (streamed layers' in host memory) and run_layer() runs a copy
  // on the layer's device. `device` is the first device (embeddings, final norm, LM head).
  std::shared_ptr<LayerStream> stream;
  bool offloaded() const { return stream && stream->options().offload; }
  c10::Device layer_device(int layer) const;
  // Where the master of `layer` (-1: embeddings, final norm, LM head) is kept: host memory for a
  // streamed layer, else its device.
  c10::Device master_device(int layer) const;

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

  // Moves/casts every weight. A streamed model keeps its placement: only the dtype may change.
  void to(const c10::Device& device, at::ScalarType dtype);
  // Applies a placement to a model whose weights are all on `device`: moves masters where the
  // placement wants them (host memory for streamed layers) and attaches the stream.
  void place(const PlacementOptions& opts);
};

// Sets m.device to the placement's first device and attaches the stream (LoadOptions::placement);
// throws InputError when the budget cannot hold what one device must (message with the minimum).
void attach_stream(Model& m, const PlacementOptions& opts);
// For methods that read and edit one layer's weights directly (sparsity, OSSCAR): while it lives,
// the masters of `layer` are on the layer's device (streamed layers' masters are otherwise in host
// memory); when it ends, they go back where they are kept, edits included. A no-op for models
// without a placement and for CPU offload (host memory is the device).
class LayerOnDevice {
 public:
  LayerOnDevice(Model& m, int layer);
  ~LayerOnDevice();
  LayerOnDevice(const LayerOnDevice&) = delete;
  LayerOnDevice& operator=(const LayerOnDevice&) = delete;

 private:
  Model& m_;
  int layer_;
  c10::Device home_{c10::kCPU};
  bool moved_ = false;
};

// For reports of a placed model: the placement, layer copies made and bytes moved, and peak device
// and host memory so far.
nlohmann::json placement_report(const Model& m);

}  // namespace lopper
