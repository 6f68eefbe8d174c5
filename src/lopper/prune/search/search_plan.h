// `lopper prune --method sleb|blockpruner|2ssp|evopress`: calibrate, run the search (resuming from
// an earlier report when asked, writing the partial report after every step), and turn the result
// into a plan (sublayer and layer removals, 2ssp's FFN channels).
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"
#include "lopper/prune/plan.h"
#include "lopper/prune/search/search.h"

namespace lopper {

class Tokenizer;

struct SearchRequest {
  std::string method;
  SearchOptions options;              // targets included
  CalibOptions calib;
  std::filesystem::path resume;       // --resume REPORT
  std::filesystem::path progress;     // where the partial report goes after each step (--json)
};

// Fills report["search"], ["steps"], ["engine"], ["method_details"], ["calibration"],
// ["final_structure"] and ["timing"]["score_s"]; returns the plan. Weights a method changes (SPRINT's
// re-fitted down_proj, by layer of the input model) go to `down_proj`: a plan is plain data and
// does not hold them.
PruningPlan plan_search(const Model& m, const Tokenizer& tok, const SearchRequest& req, nlohmann::json& report,
                        std::map<int, at::Tensor>* down_proj = nullptr);

}  // namespace lopper
