#include "lopper/export/export_command.h"

#include <chrono>
#include <cstdio>

#include "lopper/export/decilm.h"
#include "lopper/export/gguf_export.h"
#include "lopper/model/model.h"
#include "lopper/model/save.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

nlohmann::json run_export(const ExportRequest& req) {
  auto t0 = std::chrono::steady_clock::now();
  check(req.to == "gguf" || req.to == "decilm", "--to {}: expected gguf (llama.cpp) or decilm (vLLM)", req.to);
  check(!req.out.empty(), "export: give --out PATH");
  // Fail before loading anything: the output must be writable, and a DeciLM dtype valid.
  std::optional<at::ScalarType> save_dtype;
  if (req.to == "gguf") {
    check_output_path(req.out, req.force, "--out");
  } else {
    check(req.dtype != "q8_0", "--dtype q8_0: a DeciLM checkpoint is safetensors, which holds f32, f16 or bf16");
    if (req.dtype != "auto") save_dtype = parse_dtype(req.dtype, c10::Device(c10::kCPU));
    check_output_dir(req.out, req.force);
  }
  // Loaded in the checkpoint's own dtype: no rounding, no second copy of a memory-mapped checkpoint;
  // each tensor is converted to the output type as it is written.
  auto stored = config_dtype(ModelConfig::load(req.model_dir).dtype).value_or(at::kFloat);
  Model model = Model::load(req.model_dir, LoadOptions{"cpu", dtype_name(stored)});
  nlohmann::json report = {{"model", req.model_dir.string()}, {"to", req.to}, {"out", req.out.string()}};
  if (req.to == "gguf") {
    auto r = export_gguf(model, req.out, GgufExportOptions{req.dtype, req.force});
    report["gguf"] = r.to_json();
    std::printf("-- wrote %s: GGUF, architecture %s, %s, %lld tensors, %.1f MB\n", req.out.string().c_str(),
                r.architecture.c_str(), r.dtype.c_str(), static_cast<long long>(r.tensors), r.bytes / 1e6);
    for (const auto& n : r.notes) std::printf("   %s\n", n.c_str());
  } else {
    SaveOptions so;
    so.dtype = save_dtype;
    so.force = req.force;
    export_decilm(model, req.out, so);
    std::printf("-- wrote %s: DeciLMForCausalLM (nemotron-nas) checkpoint, %d layers\n", req.out.string().c_str(),
                model.config.num_layers());
  }
  report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace lopper
