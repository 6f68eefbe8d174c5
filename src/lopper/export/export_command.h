// `lopper export`: a checkpoint (uniform or pruned, with per-layer structure) to a format another
// engine loads: one GGUF file for llama.cpp, or a DeciLM (nemotron-nas) checkpoint for vLLM.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace lopper {

struct ExportRequest {
  std::filesystem::path model_dir;
  std::string to;                // gguf | decilm
  std::filesystem::path out;     // GGUF file, or DeciLM directory
  std::string dtype = "auto";    // gguf: auto | f32 | f16 | bf16 | q8_0; decilm: auto | f32 | f16 | bf16
  bool force = false;            // replace an existing output (a directory keeps files lopper does not write)
};

// Loads, exports, prints a summary; returns the report.
nlohmann::json run_export(const ExportRequest& req);

}  // namespace lopper
