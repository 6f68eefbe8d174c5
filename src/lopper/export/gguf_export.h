// Export of a loaded model (uniform or with per-layer structure) to one GGUF file for llama.cpp.
//
// Architecture: `llama` for uniform Llama / Mistral models, `qwen2` / `qwen3` for uniform Qwen ones,
// `deci` (llama.cpp's per-layer Llama: per-layer head, KV-head and FFN counts, attention-free and
// FFN-free layers) for heterogeneous Llama / Mistral / Qwen2 models. llama.cpp's deci graph has two
// limits that the export works around exactly:
//   * the head size is derived from layer 0's head count, so a layer 0 without attention gets a
//     one-head attention whose projections are all zero (its output is exactly 0);
//   * a layer whose FFN length is 0 skips the rest of the layer, dropping its attention output, so a
//     layer with attention but no MLP gets a 32-wide FFN whose weights are zero (output exactly 0).
// A heterogeneous Qwen3 model is refused (deci has no per-head Q/K norms). Q and K rows are permuted
// from the rotate-half RoPE layout to llama.cpp's interleaved one wherever the architecture's RoPE
// is the "normal" one (llama, deci), as llama.cpp's converter does; llama3 RoPE scaling becomes the
// rope_freqs tensor.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct GgufExportOptions {
  // f32 | f16 | bf16 | q8_0 | auto (the checkpoint's dtype: f32, f16 or bf16). Norms, biases and the
  // RoPE factors are always f32; q8_0 keeps matrices whose rows are not a multiple of 32 in f16.
  std::string dtype = "auto";
  bool force = false;  // replace an existing output file
};

struct GgufExportReport {
  std::string architecture;  // llama | qwen2 | qwen3 | deci
  std::string dtype;
  int64_t tensors = 0;
  uint64_t bytes = 0;
  std::vector<std::string> notes;  // fill-in tensors, dtype fallbacks, dropped layers
  nlohmann::json to_json() const;
};

// The GGUF architecture a model would be exported as; throws InputError naming the layer and the
// rule when llama.cpp cannot hold it.
std::string gguf_architecture(const ModelConfig& config);

GgufExportReport export_gguf(const Model& model, const std::filesystem::path& out, const GgufExportOptions& opts = {});

}  // namespace lopper
