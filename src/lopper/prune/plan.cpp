#include "lopper/prune/plan.h"

#include <algorithm>

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
  PruningPlan p;
  p.method = j.value("method", "");
  p.model = j.value("model", nlohmann::json::object());
  p.refits_omitted = j.contains("refits_omitted") && j["refits_omitted"].is_boolean() && j["refits_omitted"].get<bool>();
  try {
    for (const auto& a : j["actions"]) {
      PlanAction act;
      act.op = a.at("op").get<std::string>();
      check(std::find(std::begin(kOps), std::end(kOps), act.op) != std::end(kOps),
            "{}: unknown plan action \"{}\"", src, act.op);
      if (act.op == "remove_layers") act.indices = a.at("layers").get<std::vector<int64_t>>();
      else act.layer = a.at("layer").get<int>();
      if (act.op == "keep_mlp_channels") act.indices = a.at("channels").get<std::vector<int64_t>>();
      if (act.op == "keep_kv_groups") act.indices = a.at("groups").get<std::vector<int64_t>>();
      p.actions.push_back(std::move(act));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed plan action ({})", src, e.what());
  }
  return p;
}

PruningPlan PruningPlan::load(const std::filesystem::path& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON ({})", path.string(), e.what());
  }
  return from_json(j, path.string());
}

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
