#include "lopper/prune/plan.h"

#include <algorithm>
#include <climits>

#include "lopper/prune/surgery.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

nlohmann::json fingerprint(const Model& m) {
  return {{"architecture", m.config.architecture},
          {"num_layers", m.config.num_layers()},
          {"hidden_size", m.config.hidden_size}};
}

const char* kOps[] = {"remove_layers", "remove_attention", "remove_mlp", "keep_mlp_channels", "keep_kv_groups"};

// An index of a plan: an integer that fits in int64 (in int for a layer). nlohmann's get<int>()
// would silently turn 4294967296 into layer 0 and 1.5 into layer 1 (fuzz/corpus/plan/crash-layer-wraps).
// Ranges are checked against the model when the plan is applied.
int64_t plan_index(const nlohmann::json& v, bool layer, const std::string& where) {
  const bool whole = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX);
  const int64_t i = whole ? v.get<int64_t>() : 0;
  check(whole && (!layer || (i >= INT_MIN && i <= INT_MAX)), "{}: {} is not a valid {} index", where, v.dump(),
        layer ? "layer" : "channel or group");
  return i;
}

// The index list `key` of an action. Kept channels and groups must be distinct: a repeated one would
// duplicate weights instead of pruning them (found by fuzz/fuzz_plan.cpp).
std::vector<int64_t> plan_indices(const nlohmann::json& a, const char* key, bool layers, const std::string& where) {
  const nlohmann::json& list = a.at(key);
  check(list.is_array(), "{}: \"{}\" must be a list", where, key);
  std::vector<int64_t> out;
  for (const auto& v : list) out.push_back(plan_index(v, layers, where));
  if (!layers) {
    auto sorted = out;
    std::sort(sorted.begin(), sorted.end());
    auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    check(dup == sorted.end(), "{}: \"{}\" lists {} twice", where, key, dup == sorted.end() ? 0 : *dup);
  }
  return out;
}

}  // namespace

PruningPlan PruningPlan::for_model(const Model& m, std::string method) {
  PruningPlan p;
  p.method = std::move(method);
  p.model = fingerprint(m);
  return p;
}

nlohmann::json PruningPlan::to_json() const {
  nlohmann::json acts = nlohmann::json::array();
  for (const auto& a : actions) {
    nlohmann::json j{{"op", a.op}};
    if (a.op == "remove_layers") j["layers"] = a.indices;
    else j["layer"] = a.layer;
    if (a.op == "keep_mlp_channels") j["channels"] = a.indices;
    if (a.op == "keep_kv_groups") j["groups"] = a.indices;
    acts.push_back(j);
  }
  nlohmann::json j = {{"lopper_plan", 1}, {"method", method}, {"model", model}, {"actions", acts}};
  if (refits_omitted) j["refits_omitted"] = true;
  return j;
}

PruningPlan PruningPlan::from_json(const nlohmann::json& j0, const std::string& src) {
  const nlohmann::json& j = j0.contains("plan") && j0["plan"].is_object() ? j0["plan"] : j0;
  check(j.is_object() && j.contains("lopper_plan"), "{}: not a lopper plan (no \"lopper_plan\" field)", src);
  check(j.contains("actions") && j["actions"].is_array(), "{}: plan has no \"actions\" list", src);
  // Checked first: json::value() throws nlohmann's type_error for a field of another type.
  check(!j.contains("method") || j["method"].is_string(), "{}: plan \"method\" must be a string", src);
  check(!j.contains("model") || j["model"].is_object(), "{}: plan \"model\" must be an object", src);
  PruningPlan p;
  p.method = j.value("method", "");
  p.model = j.value("model", nlohmann::json::object());
  p.refits_omitted = j.contains("refits_omitted") && j["refits_omitted"].is_boolean() && j["refits_omitted"].get<bool>();
  try {
    for (size_t i = 0; i < j["actions"].size(); ++i) {
      const nlohmann::json& a = j["actions"][i];
      const std::string where = fmt::format("{}: action {}", src, i);
      PlanAction act;
      act.op = a.at("op").get<std::string>();
      check(std::find(std::begin(kOps), std::end(kOps), act.op) != std::end(kOps),
            "{}: unknown plan action \"{}\"", src, act.op);
      if (act.op == "remove_layers") act.indices = plan_indices(a, "layers", true, where);
      else act.layer = static_cast<int>(plan_index(a.at("layer"), true, where));
      if (act.op == "keep_mlp_channels") act.indices = plan_indices(a, "channels", false, where);
      if (act.op == "keep_kv_groups") act.indices = plan_indices(a, "groups", false, where);
      p.actions.push_back(std::move(act));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed plan action ({})", src, e.what());
  }
  return p;
}

PruningPlan PruningPlan::parse(std::string_view text, const std::string& src) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    fail("{}: not valid JSON ({})", src, e.what());
  }
  return from_json(j, src);
}

PruningPlan PruningPlan::load(const std::filesystem::path& path) { return parse(read_file(path), path.string()); }

std::vector<int> PruningPlan::removed_layers() const {
  std::vector<int> out;
  for (const auto& a : actions)
    if (a.op == "remove_layers")
      for (auto l : a.indices) out.push_back(static_cast<int>(l));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void PruningPlan::apply(Model& m) const {
  auto fp = fingerprint(m);
  for (const char* key : {"architecture", "num_layers", "hidden_size"})
    if (model.contains(key))
      check(model[key] == fp[key], "plan was made for a model with {} = {}, this one has {}", key,
            model[key].dump(), fp[key].dump());
  // Width and sublayer edits first: they address layers by their original index.
  for (const auto& a : actions) {
    if (a.op == "remove_attention") remove_attention(m, a.layer);
    else if (a.op == "remove_mlp") remove_mlp(m, a.layer);
    else if (a.op == "keep_mlp_channels") keep_mlp_channels(m, a.layer, a.indices);
    else if (a.op == "keep_kv_groups") keep_kv_groups(m, a.layer, a.indices);
  }
  auto layers = removed_layers();
  if (!layers.empty()) remove_layers(m, layers);
}

}  // namespace lopper
