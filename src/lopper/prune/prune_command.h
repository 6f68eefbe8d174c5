// `lopper prune`: the whole job. Load a checkpoint, measure it, choose what to remove (a method on
// calibration data, or a saved plan), apply the plan, measure again, save the pruned checkpoint and
// a JSON report. Width methods (prune/width) prune the model in place as they go and return their
// plan of kept channels / KV groups. Sparsity methods (magnitude, wanda, sparsegpt) zero weights in place instead: load,
// calibrate, measure, sparsify, measure again, save; the report's "sparsity" section has the targets,
// the allocation and the achieved sparsity per layer and per matrix.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/eval/perplexity.h"
#include "lopper/model/model.h"
#include "lopper/prune/depth.h"
#include "lopper/prune/search/search.h"
#include "lopper/prune/sparsity.h"
#include "lopper/prune/width/width.h"

namespace lopper {

struct PruneRequest {
  std::filesystem::path model_dir;
  LoadOptions load;
  std::string method;                  // depth, search, width or sparsity method (methods_list())
  std::optional<int> remove;           // --remove N blocks
  std::optional<double> ratio;         // --ratio R of decoder parameters
  CalibOptions calib;
  DepthOptions depth;
  SearchOptions search;                // search methods (sleb, blockpruner, 2ssp, evopress); targets
                                       // come from remove / ratio / sparsity.sparsity
  std::filesystem::path resume;        // --resume REPORT: continue an interrupted search
  std::filesystem::path progress;      // search methods write the partial report here after each step
  SparsityOptions sparsity;            // --sparsity / --nm / --allocation ... (sparsity methods)
  WidthOptions width;                  // width methods (osscar, ffn-l2, heads, slicegpt): --params,
                                       // --kv-groups, --align, --variant, --allocation, --refit; their
                                       // --ratio (fraction of the pruned dimension) comes from `ratio`
  std::filesystem::path plan_in;       // --plan FILE: apply a saved plan instead of scoring
  bool plan_only = false;              // stop after writing the plan
  std::filesystem::path save_plan;     // where --plan-only (or any run) writes the plan
  std::filesystem::path out_dir;       // pruned checkpoint
  bool force = false;                  // replace an existing out_dir
  std::filesystem::path out_gguf;      // also export the pruned model as GGUF for llama.cpp
  std::string gguf_dtype = "auto";     // auto | f32 | f16 | bf16 | q8_0
  std::optional<std::string> save_dtype;  // f32 | bf16 | f16 (default: the source checkpoint's)
  bool measure_speedup = true;         // sprint: time the output against the input after pruning
  std::vector<std::string> eval_ppl;   // datasets to measure before and after (empty: none)
  PerplexityOptions eval;
};

// Runs the job, printing a summary to stdout; returns the report.
nlohmann::json run_prune(const PruneRequest& req);

}  // namespace lopper
