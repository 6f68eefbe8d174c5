#include "lopper/prune/width/width.h"

#include <cmath>

#include "lopper/util/error.h"

namespace lopper {

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<WidthMethod> (*make)();
};

// One line per method file.
const std::vector<Entry>& methods() {
  static const std::vector<Entry> v = {
      {"heads", make_heads_method},
      {"osscar", make_osscar_method},
      {"ffn-l2", make_ffn_l2_method},
      {"slicegpt", make_slicegpt_method},
  };
  return v;
}

}  // namespace

nlohmann::json WidthOptions::to_json() const {
  nlohmann::json j = {{"variant", variant}, {"allocation", allocation}, {"refit", refit},
                      {"damp", damp},       {"micro_batch", micro_batch}};
  j["align"] = align ? nlohmann::json(*align) : nlohmann::json(nullptr);
  j["ratio"] = ratio ? nlohmann::json(*ratio) : nlohmann::json(nullptr);
  j["params"] = params ? nlohmann::json(*params) : nlohmann::json(nullptr);
  j["kv_groups"] = kv_groups ? nlohmann::json(*kv_groups) : nlohmann::json(nullptr);
  return j;
}

std::unique_ptr<WidthMethod> make_width_method(const std::string& name) {
  for (const auto& e : methods())
    if (name == e.name) return e.make();
  return nullptr;
}

std::vector<std::string> width_method_names() {
  std::vector<std::string> v;
  for (const auto& e : methods()) v.emplace_back(e.name);
  return v;
}

bool is_width_method(const std::string& name) { return make_width_method(name) != nullptr; }

void check_width_target(const WidthOptions& o, const std::string& method) {
  const int given = (o.ratio ? 1 : 0) + (o.params ? 1 : 0) + (o.kv_groups ? 1 : 0);
  if (o.kv_groups) check(method == "heads", "--kv-groups applies to --method heads, not {}", method);
  check(given == 1, "--method {} needs exactly one target: --ratio R or --params R{}", method,
        method == "heads" ? " or --kv-groups N" : "");
  if (o.ratio) check(*o.ratio > 0 && *o.ratio < 1, "--ratio {} must be in (0, 1)", *o.ratio);
  if (o.params) check(*o.params > 0 && *o.params < 1, "--params {} must be in (0, 1)", *o.params);
  if (o.kv_groups) check(*o.kv_groups >= 1, "--kv-groups {} must be at least 1", *o.kv_groups);
  if (o.align) check(*o.align >= 1, "--align {} must be at least 1", *o.align);
  check(o.damp >= 0 && std::isfinite(o.damp), "--damp {} must be a finite number >= 0", o.damp);
}

int64_t aligned_keep(int64_t width, double ratio, int64_t align, const std::string& what) {
  check(align <= width, "--align {} is larger than {} ({})", align, what, width);
  const auto raw = static_cast<int64_t>(static_cast<double>(width) * (1.0 - ratio));  // int() truncates
  // Python's round(), halves to even (the default floating-point rounding mode).
  int64_t keep = static_cast<int64_t>(std::nearbyint(static_cast<double>(raw) / static_cast<double>(align))) * align;
  if (keep < align) keep = align;
  if (keep > width) keep = width - width % align;
  return keep;
}

}  // namespace lopper
