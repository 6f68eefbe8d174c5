// `lopper compare`: the same perplexity, zero-shot and generation measurements on several models
// (a dense one first, pruned ones after), in one table with the ratios to the first.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/eval/bench_generate.h"
#include "lopper/eval/eval_command.h"
#include "lopper/model/model.h"

namespace lopper {

struct CompareRequest {
  std::vector<std::string> models;  // model directories; the first is the baseline of the ratios
  LoadOptions load;
  EvalRequest eval;                           // perplexity datasets and zero-shot tasks (either may be empty)
  std::optional<GenerateBenchOptions> bench;  // generation timing, when asked for
  // Generation timing rounds. The models take turns, in reversed order every other round (A B, B A,
  // ...), and each setting keeps its fastest round: on a shared machine a slow spell then cannot
  // land on one model only. Each round is the median of bench->repeats runs.
  int bench_rounds = 2;
};

// Checks every input first (model folders, datasets, task files), then loads and measures one
// model at a time (only one is in memory; a model is loaded again for each further bench round). Prints each model's results as they come and the
// comparison table at the end. JSON: {"models": [{"model", "params", "eval", "generate"}],
// "table": [{"name", "values", "ratios"}]}.
nlohmann::json run_compare(const CompareRequest& req);

}  // namespace lopper
