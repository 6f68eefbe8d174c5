// The sparsity job: validate, allocate (uniform / ATP search / OWL / AlphaPruning), prune layer by
// layer on the calibration samples (each layer's statistics gathered with its predecessors already
// pruned), measure what was achieved and build the report section.
#include "lopper/prune/sparsity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "lopper/calib/block_runner.h"
#include "lopper/prune/sparsity_allocation.h"
#include "lopper/prune/sparsity_stats.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

std::unique_ptr<SparsityMethod> make_magnitude_sparsity();
std::unique_ptr<SparsityMethod> make_wanda_sparsity();
std::unique_ptr<SparsityMethod> make_sparsegpt_sparsity();

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

using Targets = std::map<std::string, double>;  // matrix name -> fraction of zeros

Targets targets_from_layers(const ModelConfig& c, const std::vector<double>& per_layer) {
  Targets t;
  for (const auto& s : all_linear_specs(c)) t[s.name] = per_layer[s.layer];
  return t;
}

// Parameter-weighted mean target of each layer.
std::vector<double> layer_means(const ModelConfig& c, const Targets& t) {
  std::vector<double> num(c.num_layers(), 0.0), den(c.num_layers(), 0.0);
  for (const auto& s : all_linear_specs(c)) {
    const double n = static_cast<double>(s.shape[0] * s.shape[1]);
    num[s.layer] += n * t.at(s.name);
    den[s.layer] += n;
  }
  for (size_t l = 0; l < num.size(); ++l) num[l] = den[l] > 0 ? num[l] / den[l] : 0.0;
  return num;
}

void check_targets(const Targets& t, const std::string& allocation) {
  for (const auto& [name, s] : t)
    check(s >= 0.0 && s < 1.0 && std::isfinite(s),
          "--allocation {} gives {} sparsity {:.4f}, outside [0, 1): lower --sparsity or the allocation's range "
          "(--owl-lambda / --alpha-eps)", allocation, name, s);
}

// Copies of every Linear weight on the CPU (ATP's search restores the dense model between candidates).
std::vector<at::Tensor> snapshot(const Model& m) {
  std::vector<at::Tensor> out;
  for (const auto& s : all_linear_specs(m.config)) {
    const at::Tensor& w = tensor_slot(m.weights, s);
    out.push_back(w.to(at::Device(at::kCPU), w.scalar_type(), /*non_blocking=*/false, /*copy=*/true));
  }
  return out;
}
void restore(Model& m, const std::vector<at::Tensor>& snap) {
  size_t i = 0;
  for (const auto& s : all_linear_specs(m.config)) tensor_slot(m.weights, s).copy_(snap[i++]);
}

// One pass of the method over all layers with the given targets. With calibration data the layers
// are pruned in order on BlockRunner's boundary states; returns the mean calibration NLL of the
// pruned model when `want_loss` (else NaN).
double prune_pass(Model& model, const CalibData* calib, const SparsityMethod& method, const Targets& targets,
                  const NMPattern& nm, const SparsityOptions& o, bool want_loss) {
  const int L = model.config.num_layers();
  auto prune_matrix = [&](const TensorSpec& s, InputStats* st) {
    at::Tensor& w = tensor_slot(model.weights, s);
    method.prune(w, st, nm.active() ? 0 : zero_count(w.numel(), targets.at(s.name)), nm, o);
  };
  Progress bar(method.name(), L, "layers");
  if (method.needs() == StatsNeed::None && !want_loss) {  // magnitude: weights only
    for (int l = 0; l < L; ++l) {
      for (const auto& s : linear_specs(model.config, l)) prune_matrix(s, nullptr);
      bar.advance();
    }
    bar.finish();
    return std::numeric_limits<double>::quiet_NaN();
  }
  check(calib != nullptr, "internal: this sparsity pass needs calibration data");
  BlockRunner runner(model, calib->ids, o.micro_batch);
  for (int l = 0; l < L; ++l) {
    LayerOnDevice on_device(model, l);  // a streamed layer's masters are edited where its statistics are
    auto specs = linear_specs(model.config, l);
    InputStatsCollector col(l, method.needs(), specs);
    if (method.needs() != StatsNeed::None) {
      runner.run_layer(l, runner.hidden(), &col);  // statistics with layers < l already pruned
      col.finish();
    }
    for (const auto& s : specs) {
      InputStats* st = col.get(input_tap(s.role));
      check(method.needs() == StatsNeed::None || st != nullptr, "internal: no statistics for {}", s.name);
      prune_matrix(s, st);
    }
    runner.advance();  // layer l's outputs recomputed with its pruned weights
    bar.advance();
  }
  bar.finish();
  return want_loss ? runner.loss_from(L, runner.hidden()) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

nlohmann::json SparsityOptions::to_json() const {
  nlohmann::json j{{"sparsity", sparsity ? nlohmann::json(*sparsity) : nlohmann::json(nullptr)},
                   {"nm", nm.empty() ? nlohmann::json(nullptr) : nlohmann::json(nm)},
                   {"allocation", allocation},
                   {"micro_batch", micro_batch}};
  return j;
}

std::unique_ptr<SparsityMethod> make_sparsity_method(const std::string& name) {
  if (name == "magnitude") return make_magnitude_sparsity();
  if (name == "wanda") return make_wanda_sparsity();
  if (name == "sparsegpt") return make_sparsegpt_sparsity();
  return nullptr;
}

std::vector<std::string> sparsity_method_names() { return {"magnitude", "wanda", "sparsegpt"}; }

bool is_sparsity_method(const std::string& name) { return make_sparsity_method(name) != nullptr; }

bool sparsity_needs_calibration(const std::string& method, const SparsityOptions& o) {
  return method != "magnitude" || o.allocation == "owl" || o.allocation == "atp";
}

NMPattern validate_sparsity_options(const std::string& method, const SparsityOptions& o, const ModelConfig& c) {
  check(is_sparsity_method(method), "--method \"{}\" is not a sparsity method ({})", method,
        join(sparsity_method_names()));
  check(o.sparsity.has_value() != !o.nm.empty(), "--method {}: give exactly one target: --sparsity S or --nm N:M",
        method);
  const auto allocs = allocation_names();
  check(std::find(allocs.begin(), allocs.end(), o.allocation) != allocs.end(),
        "--allocation \"{}\" is not known (allocations: {})", o.allocation, join(allocs));
  NMPattern nm;
  if (o.sparsity) {
    check(*o.sparsity >= 0.0 && *o.sparsity < 1.0, "--sparsity {} must be in [0, 1)", *o.sparsity);
  } else {
    nm = parse_nm(o.nm);
    check(o.allocation == "uniform",
          "--nm with --allocation {} is not supported: N:M fixes every matrix at N/M (give --sparsity S for a "
          "non-uniform allocation)", o.allocation);
    for (const auto& s : all_linear_specs(c))
      check(s.shape[1] % nm.m == 0, "--nm {}: {} has {} input columns, not a multiple of {}", o.nm, s.name,
            s.shape[1], nm.m);
  }
  check(o.micro_batch >= 1, "--micro-batch {} must be at least 1", o.micro_batch);
  check(o.owl_m > 0, "--owl-m {} must be positive", o.owl_m);
  check(o.owl_lambda >= 0 && o.owl_lambda < 1, "--owl-lambda {} must be in [0, 1)", o.owl_lambda);
  check(o.alpha_eps >= 0 && o.alpha_eps < 1, "--alpha-eps {} must be in [0, 1)", o.alpha_eps);
  check(o.alpha_xmin == "peak" || o.alpha_xmin == "mid", "--alpha-xmin \"{}\" must be peak or mid", o.alpha_xmin);
  check(o.atp_steps >= 1, "--atp-steps {} must be at least 1", o.atp_steps);
  check(o.sparsegpt_block >= 1, "--sparsegpt-block {} must be at least 1", o.sparsegpt_block);
  check(!nm.active() || o.sparsegpt_block % nm.m == 0, "--sparsegpt-block {} must be a multiple of M ({})",
        o.sparsegpt_block, nm.m);
  check(o.sparsegpt_damp > 0, "--sparsegpt-damp {} must be positive", o.sparsegpt_damp);
  return nm;
}

nlohmann::json run_sparsity(Model& model, const CalibData* calib, const std::string& method_name,
                            const SparsityOptions& o) {
  c10::InferenceMode guard;
  const NMPattern nm = validate_sparsity_options(method_name, o, model.config);
  auto method = make_sparsity_method(method_name);
  check(calib != nullptr || !sparsity_needs_calibration(method_name, o),
        "--method {} with --allocation {} needs calibration data: give --calib", method_name, o.allocation);
  const ModelConfig& c = model.config;
  const int L = c.num_layers();
  const double S = nm.active() ? static_cast<double>(nm.n) / nm.m : *o.sparsity;

  nlohmann::json alloc{{"name", o.allocation}};
  Targets targets = targets_from_layers(c, std::vector<double>(L, S));
  auto t_alloc = Clock::now();
  double prune_s = 0;
  bool pruned = false;
  if (o.allocation == "owl") {
    auto D = owl_outlier_ratios(model, *calib, o);
    targets = targets_from_layers(c, owl_layer_sparsities(D, S, o.owl_lambda));
    alloc["params"] = {{"M", o.owl_m}, {"lambda", o.owl_lambda}};
    alloc["outlier_ratio_percent"] = D;
  } else if (o.allocation == "alphapruning") {
    auto specs = all_linear_specs(c);
    auto alphas = esd_alphas(model, specs, o.alpha_xmin);
    std::vector<double> metric = alphas;
    if (!o.alpha_per_matrix) {  // block_wise: every matrix gets its block's mean alpha
      std::vector<double> sum(L, 0.0);
      std::vector<int> cnt(L, 0);
      for (size_t i = 0; i < specs.size(); ++i) sum[specs[i].layer] += alphas[i], cnt[specs[i].layer]++;
      for (size_t i = 0; i < specs.size(); ++i) metric[i] = sum[specs[i].layer] / cnt[specs[i].layer];
    }
    std::vector<int64_t> numel;
    for (const auto& s : specs) numel.push_back(s.shape[0] * s.shape[1]);
    auto s = alpha_sparsities(metric, numel, S, o.alpha_eps);
    for (size_t i = 0; i < specs.size(); ++i) targets[specs[i].name] = s[i];
    alloc["params"] = {{"epsilon", o.alpha_eps},
                       {"metric", o.alpha_xmin == "peak" ? "alpha_peak" : "alpha_mid"},
                       {"mapping", o.alpha_per_matrix ? "per_matrix" : "block_wise"}};
    nlohmann::json a = nlohmann::json::object();
    for (size_t i = 0; i < specs.size(); ++i) a[specs[i].name] = alphas[i];
    alloc["alpha"] = a;
  } else if (o.allocation == "atp") {
    // Grid search of the common difference, each candidate scored by the calibration NLL of the model
    // pruned with it by the chosen method (never an evaluation split unless the user calibrates on one).
    const double dmax = atp_max_step(S, L);
    auto dense = snapshot(model);
    std::vector<at::Tensor> best_weights;
    double best_loss = std::numeric_limits<double>::infinity(), best_d = 0;
    nlohmann::json search = nlohmann::json::array();
    for (double d : atp_candidates(S, L, o.atp_steps)) {
      auto t = targets_from_layers(c, atp_layer_sparsities(S, L, d));
      check_targets(t, "atp");
      auto t0 = Clock::now();
      double loss = prune_pass(model, calib, *method, t, nm, o, true);
      const double sec = seconds_since(t0);
      std::printf("-- atp: d = %.6f  calibration loss %.6f  (%.1f s)\n", d, loss, sec);
      search.push_back({{"d", d}, {"calib_loss", loss}, {"seconds", sec}});
      if (loss < best_loss) {  // strict: ties keep the smaller d
        best_loss = loss, best_d = d, prune_s = sec;
        best_weights = snapshot(model);
      }
      restore(model, dense);
    }
    restore(model, best_weights);
    pruned = true;
    targets = targets_from_layers(c, atp_layer_sparsities(S, L, best_d));
    alloc["params"] = {{"steps", o.atp_steps}, {"scored_on", "calibration samples (mean next-token NLL)"}};
    alloc["common_difference"] = best_d;
    alloc["d_max"] = dmax;
    alloc["best_calib_loss"] = best_loss;
    alloc["search"] = search;
  } else {
    alloc["params"] = nlohmann::json::object();
  }
  check_targets(targets, o.allocation);
  // OWL's dense pass, the ESD, or ATP's whole search (whose chosen pass is also reported as prune_s).
  const double alloc_s = seconds_since(t_alloc);

  if (!pruned) {
    auto t0 = Clock::now();
    prune_pass(model, calib, *method, targets, nm, o, false);
    prune_s += seconds_since(t0);
  }

  // Achieved, counted on the final weights.
  auto m = measure_sparsity(model);
  nlohmann::json per_matrix = nlohmann::json::object(), per_matrix_target = nlohmann::json::object();
  std::vector<std::string> mismatches;
  for (const auto& s : all_linear_specs(c)) {
    per_matrix[s.name] = m.per_matrix.at(s.name);
    per_matrix_target[s.name] = targets.at(s.name);
    bool ok = nm.active() ? has_nm_pattern(tensor_slot(model.weights, s), nm)
                          : m.zeros.at(s.name) == zero_count(m.numel.at(s.name), targets.at(s.name));
    if (!ok) mismatches.push_back(s.name);
  }
  if (!mismatches.empty())
    std::fprintf(stderr, "lopper: warning: %zu matrices do not hold exactly their target zeros (first: %s); "
                 "pre-existing zeros or dead inputs add to the pruned ones\n", mismatches.size(), mismatches[0].c_str());
  alloc["per_layer_target"] = layer_means(c, targets);
  nlohmann::json r{
      {"method", method->name()},
      {"method_description", method->description()},
      {"target", S},
      {"nm", nm.active() ? nlohmann::json(nm.str()) : nlohmann::json(nullptr)},
      {"rule", nm.active() ? fmt::format("exactly {} zeros in every group of {} consecutive input columns of every row",
                                         nm.n, nm.m)
                           : std::string("floor(s * numel) zeros in every matrix (s: its allocated target)")},
      {"allocation", alloc},
      {"per_layer", m.per_layer},
      {"per_matrix", per_matrix},
      {"per_matrix_target", per_matrix_target},
      {"zeros", m.total_zeros},
      {"linear_params", m.total_numel},
      {"overall", static_cast<double>(m.total_zeros) / static_cast<double>(std::max<int64_t>(m.total_numel, 1))},
      {"exact", mismatches.empty()},
      {"mismatched_matrices", mismatches},
      {"timing", {{"allocation_s", alloc_s}, {"prune_s", prune_s}}}};
  if (method->name() == "sparsegpt")
    r["sparsegpt"] = {{"block", o.sparsegpt_block}, {"percdamp", o.sparsegpt_damp}};
  return r;
}

}  // namespace lopper
