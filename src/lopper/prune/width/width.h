// Width pruning: methods that keep every decoder block and make it narrower (FFN channels, attention
// heads by KV group, or the hidden dimension). One method per file (prune/width/<name>.cpp) behind
// this interface. Sequential methods need each layer fed by its pruned predecessors, so a method
// prunes the model in place as it goes and returns what it did as a plan (kept channel / group
// indices), which `--plan` re-applies without re-scoring (least-squares refits are in the saved
// checkpoint, not in the plan). SliceGPT rotates the hidden dimension; its result is not a plan of
// kept indices, so its plan is informational only.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"
#include "lopper/prune/plan.h"

namespace lopper {

struct WidthOptions {
  // Exactly one target: ratio = fraction of the pruned dimension removed (FFN channels for osscar /
  // ffn-l2, KV groups for heads, hidden size for slicegpt); params = fraction of decoder-layer
  // parameters removed; kv_groups (heads only) = KV groups removed per layer (global: that many per
  // layer on average).
  std::optional<double> ratio;
  std::optional<double> params;
  std::optional<int> kv_groups;
  // Kept widths are multiples of this; unset: the method's default (osscar / ffn-l2: 128, Quark's;
  // slicegpt: 8, the reference's round_interval). Read it with align_or().
  std::optional<int64_t> align;
  std::string variant = "canonical";   // osscar: canonical | quark
  std::string allocation = "uniform";  // heads: uniform | global
  bool refit = false;                  // heads: least-squares refit of o_proj on the kept heads
  double damp = 0.01;                  // Gram / covariance damping, fraction of the mean diagonal
  int64_t micro_batch = 8;             // calibration samples per forward pass
  int64_t align_or(int64_t method_default) const { return align.value_or(method_default); }
  nlohmann::json to_json() const;
};

struct WidthResult {
  PruningPlan plan;        // what was kept, in indices of the input model
  bool plan_reapplies = true;  // false: the plan only records (slicegpt)
  nlohmann::json details;  // per-layer stats for the report
};

class WidthMethod {
 public:
  virtual ~WidthMethod() = default;
  virtual std::string name() const = 0;
  // One line: what it does and the reference defaults.
  virtual std::string description() const = 0;
  // Bad options or an unsuitable model fail here, before any work (InputError naming the option).
  virtual void validate(const ModelConfig& c, const WidthOptions& o) const = 0;
  // Prunes `m` in place; calibration data drives the scores.
  virtual WidthResult run(Model& m, const CalibData& calib, const WidthOptions& o) const = 0;
};

std::unique_ptr<WidthMethod> make_width_method(const std::string& name);  // nullptr when unknown
std::vector<std::string> width_method_names();
bool is_width_method(const std::string& name);

// Factories, one per method file.
std::unique_ptr<WidthMethod> make_osscar_method();
std::unique_ptr<WidthMethod> make_ffn_l2_method();
std::unique_ptr<WidthMethod> make_heads_method();
std::unique_ptr<WidthMethod> make_slicegpt_method();

// Checks the target options shared by all width methods (exactly one of ratio / params / kv_groups,
// each in range; align >= 1); InputError naming the option.
void check_width_target(const WidthOptions& o, const std::string& method);

// Kept width for a removal fraction: int(width * (1 - ratio)) rounded to the nearest multiple of
// `align` (Quark's rule: Python's round, halves to even), clamped to [align, width]. InputError when align
// exceeds the width (naming --align and the layer's width).
int64_t aligned_keep(int64_t width, double ratio, int64_t align, const std::string& what);

}  // namespace lopper
