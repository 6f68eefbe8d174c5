#include "lopper/prune/search/search.h"

#include <algorithm>
#include <cmath>

#include "lopper/util/error.h"

namespace lopper {

std::unique_ptr<SearchMethod> make_sleb();
std::unique_ptr<SearchMethod> make_blockpruner();
std::unique_ptr<SearchMethod> make_2ssp();
std::unique_ptr<SearchMethod> make_evopress();
std::unique_ptr<SearchMethod> make_sprint();

std::vector<std::string> search_method_names() { return {"sleb", "blockpruner", "2ssp", "evopress", "sprint"}; }

bool is_search_method(const std::string& name) {
  auto n = search_method_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

std::unique_ptr<SearchMethod> make_search_method(const std::string& name) {
  if (name == "sleb") return make_sleb();
  if (name == "blockpruner") return make_blockpruner();
  if (name == "2ssp") return make_2ssp();
  if (name == "evopress") return make_evopress();
  if (name == "sprint") return make_sprint();
  return nullptr;
}

namespace {

nlohmann::json model_fingerprint(const Model& m) {
  return {{"architecture", m.config.architecture},
          {"num_layers", m.config.num_layers()},
          {"hidden_size", m.config.hidden_size},
          {"decoder_params", decoder_params(m.config)}};
}

}  // namespace

nlohmann::json search_state(const std::string& method, const Model& m, const nlohmann::json& settings,
                            const nlohmann::json& steps, bool complete) {
  return {{"method", method}, {"model", model_fingerprint(m)}, {"settings", settings}, {"steps", steps},
          {"complete", complete}};
}

nlohmann::json resumed_steps(const nlohmann::json& resume, const std::string& method, const Model& m,
                             const nlohmann::json& settings) {
  if (resume.is_null()) return nlohmann::json::array();
  const nlohmann::json& s = resume.contains("search") ? resume["search"] : resume;
  check(s.is_object() && s.contains("method") && s.contains("steps") && s["steps"].is_array(),
        "--resume: the report has no search steps (it was not written by a search method)");
  check(s["method"] == method, "--resume: the report was made by --method {}, not {}", s["method"].dump(), method);
  auto fp = model_fingerprint(m);
  for (auto& [k, v] : fp.items())
    check(s["model"].value(k, nlohmann::json()) == v, "--resume: the report was made for another model ({} = {}, "
          "this one has {})", k, s["model"].value(k, nlohmann::json()).dump(), v.dump());
  for (auto& [k, v] : settings.items())
    check(s["settings"].value(k, nlohmann::json()) == v, "--resume: the report was made with {} = {}, this run has "
          "{}; resume with the same settings", k, s["settings"].value(k, nlohmann::json()).dump(), v.dump());
  return s["steps"];
}

at::Tensor rows_of(const CalibData& calib, int64_t n) {
  const int64_t N = calib.ids.size(0);
  check(n >= 0 && n <= N, "--search-samples {} must be between 1 and the {} calibration samples", n, N);
  return n == 0 ? calib.ids : calib.ids.narrow(0, 0, n);
}

bool RemovalTarget::reached(const ModelConfig& c, const SublayerSet& removed, int units_removed) const {
  if (units) return units_removed >= *units;
  return static_cast<double>(removed_params(c, removed)) >= *ratio * static_cast<double>(decoder_params);
}

int RemovalTarget::max_steps(std::vector<int64_t> unit_params) const {
  if (units) return *units;
  std::sort(unit_params.begin(), unit_params.end());
  const double need = *ratio * static_cast<double>(decoder_params);
  double sum = 0;
  int n = 0;
  for (auto p : unit_params) {
    if (sum >= need) break;
    sum += static_cast<double>(p);
    ++n;
  }
  return std::max(n, 1);
}

RemovalTarget removal_target(const ModelConfig& c, const SearchOptions& o, const std::string& unit) {
  check(o.remove.has_value() != o.ratio.has_value(), "give exactly one target: --remove N ({}) or --ratio R", unit);
  RemovalTarget t;
  t.decoder_params = decoder_params(c);
  if (o.remove) {
    check(*o.remove >= 1, "--remove {} must be at least 1", *o.remove);
    t.units = o.remove;
  } else {
    check(*o.ratio > 0 && *o.ratio < 1, "--ratio {} must be in (0, 1)", *o.ratio);
    t.ratio = o.ratio;
  }
  return t;
}

}  // namespace lopper
