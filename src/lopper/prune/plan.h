// A pruning plan: plain data saying what to remove, separate from how it was chosen. It serializes
// to JSON (`lopper prune --plan-only` writes one, `--plan FILE` applies one) and is applied by the
// surgery functions.
//
//   {"lopper_plan": 1, "method": "...", "model": {"architecture", "num_layers", "hidden_size"},
//    "actions": [{"op": "remove_layers", "layers": [..]},
//                {"op": "remove_attention" | "remove_mlp", "layer": i},
//                {"op": "keep_mlp_channels", "layer": i, "channels": [..]},
//                {"op": "keep_kv_groups", "layer": i, "groups": [..]}],
//    "refits_omitted": true (only when the method also re-fitted weights the plan does not hold)}
// Layer indices always refer to the model the plan was made for (before any action); actions are
// applied so that this holds (layer removal last).
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct PlanAction {
  std::string op;
  int layer = -1;
  std::vector<int64_t> indices;  // layers / channels / groups, depending on op
};

struct PruningPlan {
  std::string method;
  nlohmann::json model;     // fingerprint of the model the plan was made for
  std::vector<PlanAction> actions;
  // The method also re-fitted weights (SPRINT's down_proj, OSSCAR's down_proj, heads --refit's
  // o_proj); those live in the checkpoint it saved, not in the plan. Serialized as "refits_omitted".
  bool refits_omitted = false;

  static PruningPlan for_model(const Model& m, std::string method);
  nlohmann::json to_json() const;
  // Accepts a plan or a prune report that contains one under "plan"; `source` names the file.
  static PruningPlan from_json(const nlohmann::json& j, const std::string& source);
  // The same from the file's text (InputError for text that is not JSON); load() reads and parses.
  static PruningPlan parse(std::string_view json_text, const std::string& source);
  static PruningPlan load(const std::filesystem::path& path);

  // Layers removed whole by the plan (sorted).
  std::vector<int> removed_layers() const;
  // Checks the fingerprint and applies every action; throws InputError on a mismatch.
  void apply(Model& m) const;
};

}  // namespace lopper
