// Depth pruning: methods that score decoder blocks and choose whole blocks to remove. One method per
// file (depth_<name>.cpp) behind this interface; scoring and selection live in the method, surgery
// in surgery.h, and the choice is recorded as a PruningPlan.
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"

namespace lopper {

struct DepthOptions {
  int n_remove = 1;
  bool last_token = false;      // shortgpt: last-token BI (2SSP's reference code)
  bool all_tokens = false;      // angular: mean over all tokens instead of the final token
  bool plus_heuristic = true;   // taylor: never remove the first 4 or the last 2 blocks
  int64_t micro_batch = 8;      // samples per forward pass
};

struct DepthResult {
  // One entry per layer; for window methods the score of the window starting at that layer
  // (null where no window of the requested size starts).
  std::vector<std::optional<double>> scores;
  std::string score_name;       // what the score is, e.g. "block_influence"
  bool lower_is_removed = true; // blocks/windows with the lowest scores are removed
  std::vector<int> removed;     // sorted
  nlohmann::json details;       // method-specific extras for the report
};

class DepthMethod {
 public:
  virtual ~DepthMethod() = default;
  virtual std::string name() const = 0;
  // One line: what it does and the reference defaults.
  virtual std::string description() const = 0;
  virtual DepthResult run(const Model& model, const CalibData& calib, const DepthOptions& o) const = 0;
};

std::unique_ptr<DepthMethod> make_depth_method(const std::string& name);
std::vector<std::string> depth_method_names();

// Number of blocks for --ratio R of decoder-layer parameters: round(R * L), at least 1.
int blocks_for_ratio(const ModelConfig& c, double ratio);

// Indices of the k lowest scores (ties: lower index first), skipping null scores and `protect`.
std::vector<int> lowest_k(const std::vector<std::optional<double>>& scores, int k, const std::set<int>& protect = {});

// The window [start, start + n) with the lowest score.
std::vector<int> best_window(const std::vector<std::optional<double>>& scores, int n);

}  // namespace lopper
