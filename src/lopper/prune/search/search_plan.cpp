#include "lopper/prune/search/search_plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

nlohmann::json read_report(const std::filesystem::path& p) {
  try {
    return nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {  // also out-of-range numbers (1e3001)
    fail("--resume {}: not a JSON report ({})", p.string(), e.what());
  }
}

void print_step(const nlohmann::json& s) {
  if (s.contains("generation") || s.contains("predicted_speedup")) return;  // evopress, sprint: their own lines
  std::printf("   step %3d  removed %-10s  score %.6f%s%s\n", s.value("step", 0), s.value("label", "?").c_str(),
              s.value("score", 0.0), s.contains("ppl") ? fmt::format("  ppl {:.4f}", s["ppl"].get<double>()).c_str() : "",
              s.value("resumed", false) ? "  (resumed)" : "");
}

}  // namespace

PruningPlan plan_search(const Model& m, const Tokenizer& tok, const SearchRequest& req, nlohmann::json& report,
                        std::map<int, at::Tensor>* down_proj) {
  auto method = make_search_method(req.method);
  check(method != nullptr, "--method \"{}\" is not a search method", req.method);
  auto t0 = std::chrono::steady_clock::now();
  SearchOptions o = req.options;
  method->validate(m, o);  // impossible targets fail before calibration
  // Settings that change the choice, calibration included (seqlen resolved as load_calibration does).
  nlohmann::json settings = method->settings(o);
  settings["calibration"] = req.calib.to_json();
  settings["calibration"]["seqlen"] =
      req.calib.seqlen > 0 ? req.calib.seqlen : std::min<int64_t>(m.config.max_position_embeddings, 2048);
  if (!req.resume.empty()) {
    o.resume_steps = resumed_steps(read_report(req.resume), method->name(), m, settings);
    std::printf("-- resuming from %s: %zu completed steps\n", req.resume.string().c_str(), o.resume_steps.size());
  }
  auto calib = load_calibration(tok, req.calib, m.config.max_position_embeddings);
  report["calibration"] = report_calibration(req.calib, calib);

  o.on_step = [&](const nlohmann::json& steps) {
    if (!steps.empty()) print_step(steps.back());
    if (req.progress.empty()) return;
    nlohmann::json partial = report;
    partial["search"] = search_state(method->name(), m, settings, steps, false);
    partial["complete"] = false;
    write_file_atomic(req.progress, partial.dump(2) + "\n");
  };
  if (!req.progress.empty())
    std::printf("-- progress is saved to %s after every step (--resume %s continues an interrupted run)\n",
                req.progress.string().c_str(), req.progress.string().c_str());
  std::printf("-- %s search\n", method->name().c_str());
  auto t_search = std::chrono::steady_clock::now();
  auto r = method->run(m, calib, o);
  const double search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_search).count();

  report["method_description"] = method->description();
  report["search"] = search_state(method->name(), m, settings, r.steps, true);
  report["steps"] = r.steps;
  report["engine"] = r.engine;
  report["method_details"] = r.details;
  report["final_structure"] = describe_removal(m.config, r.removed);
  report["timing"]["score_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report["timing"]["search_s"] = search_s;  // the search alone (no calibration loading)
  if (down_proj) *down_proj = r.down_proj;
  if (req.method == "sprint")
    std::printf("   predicted speedup %.4f; %zu down_proj re-fitted\n", r.details.value("predicted_speedup", 0.0),
                r.down_proj.size());
  if (req.method == "evopress" && !r.steps.empty())
    std::printf("   %zu generations, final fitness (%s) %.6f\n", r.steps.size() - 1, o.metric.c_str(),
                r.steps.back().value("fitness", 0.0));
  std::printf("-- search took %.2f s\n", search_s);
  if (req.method == "sprint")
    std::printf("-- engine: %ld sublayer runs, %ld layer runs, %zu boundaries cached (%.3f GB)\n",
                static_cast<long>(r.engine.value("sublayer_runs", 0)), static_cast<long>(r.engine.value("layer_runs", 0)),
                r.engine["boundaries_cached"].size(), r.engine.value("cache_gb", 0.0));
  else
    std::printf("-- engine: %ld evaluations (%ld stopped early), %ld layer runs, %zu boundaries cached (%.3f GB)\n",
                static_cast<long>(r.engine.value("evaluations", 0)), static_cast<long>(r.engine.value("stopped_early", 0)),
                static_cast<long>(r.engine.value("layer_runs", 0)), r.engine["boundaries_cached"].size(),
                r.engine.value("cache_gb", 0.0));

  auto plan = PruningPlan::for_model(m, method->name());
  for (const auto& [layer, channels] : r.keep_channels) plan.actions.push_back({"keep_mlp_channels", layer, channels});
  add_removal_actions(plan, m.config, r.removed);
  return plan;
}

}  // namespace lopper
