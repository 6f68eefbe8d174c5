#include "lopper/prune/prune_command.h"

#include <chrono>
#include <cstdio>

#include "lopper/eval/eval_command.h"
#include "lopper/export/gguf_export.h"
#include "lopper/model/device.h"
#include "lopper/model/save.h"
#include "lopper/prune/plan.h"
#include "lopper/prune/search/sprint_latency.h"
#include "lopper/prune/search/search_plan.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string methods_list() {
  std::string s;
  for (const auto& n : depth_method_names()) s += (s.empty() ? "" : ", ") + n;
  std::string sp;
  for (const auto& n : sparsity_method_names()) sp += (sp.empty() ? "" : ", ") + n;
  std::string se;
  for (const auto& n : search_method_names()) se += (se.empty() ? "" : ", ") + n;
  std::string wi;
  for (const auto& n : width_method_names()) wi += (wi.empty() ? "" : ", ") + n;
  return "depth methods: " + s + "; search methods: " + se + "; width methods: " + wi + "; sparsity methods: " + sp;
}

nlohmann::json measure(const Model& m, const Tokenizer& tok, const PruneRequest& req, const char* when) {
  if (req.eval_ppl.empty()) return nullptr;
  std::printf("-- perplexity %s pruning\n", when);
  EvalRequest e{req.eval_ppl, req.eval, req.calib.data_dir, {}};
  return run_eval(m, tok, e)["ppl"];
}

// Scores blocks with a depth method and turns the choice into a plan.
PruningPlan plan_depth(const Model& m, const Tokenizer& tok, const PruneRequest& req, nlohmann::json& report) {
  auto method = make_depth_method(req.method);
  if (!method) fail("--method \"{}\" is not known ({})", req.method, methods_list());
  check(req.remove.has_value() != req.ratio.has_value(), "give exactly one target: --remove N or --ratio R");
  DepthOptions o = req.depth;
  const int L = m.config.num_layers();
  if (req.remove) {
    check(*req.remove >= 1, "--remove {} must be at least 1", *req.remove);
    check(*req.remove < L, "--remove {} must be less than the number of layers ({})", *req.remove, L);
    o.n_remove = *req.remove;
  } else {
    o.n_remove = blocks_for_ratio(m.config, *req.ratio);
  }
  auto t0 = Clock::now();
  auto calib = load_calibration(tok, req.calib, m.config.max_position_embeddings);
  report["calibration"] = report_calibration(req.calib, calib);
  auto r = method->run(m, calib, o);
  double score_s = seconds_since(t0);
  nlohmann::json layers = nlohmann::json::array();
  std::printf("-- %s scores (%s; lowest removed)\n", method->name().c_str(), r.score_name.c_str());
  for (size_t i = 0; i < r.scores.size(); ++i) {
    layers.push_back({{"index", i}, {"score", r.scores[i] ? nlohmann::json(*r.scores[i]) : nlohmann::json(nullptr)}});
    if (r.scores[i]) std::printf("   layer %3zu  %.6f\n", i, *r.scores[i]);
  }
  report["layers"] = layers;
  report["score_name"] = r.score_name;
  report["method_description"] = method->description();
  report["method_options"] = {{"n_remove", o.n_remove}, {"last_token", o.last_token}, {"all_tokens", o.all_tokens},
                              {"plus_heuristic", o.plus_heuristic}, {"micro_batch", o.micro_batch}};
  if (!r.details.is_null()) report["method_details"] = r.details;
  report["timing"]["score_s"] = score_s;
  auto plan = PruningPlan::for_model(m, method->name());
  plan.actions.push_back({"remove_layers", -1, std::vector<int64_t>(r.removed.begin(), r.removed.end())});
  return plan;
}

void print_plan(const PruningPlan& plan) {
  std::printf("-- plan: remove layers [%s]\n", fmt::format("{}", fmt::join(plan.removed_layers(), ", ")).c_str());
  for (const auto& a : plan.actions)
    if (a.op == "remove_attention" || a.op == "remove_mlp")
      std::printf("   %s %d\n", a.op.c_str(), a.layer);
    else if (a.op == "keep_mlp_channels")
      std::printf("   layer %d keeps %zu FFN channels\n", a.layer, a.indices.size());
    else if (a.op == "keep_kv_groups")
      std::printf("   layer %d keeps KV groups [%s]\n", a.layer, fmt::format("{}", fmt::join(a.indices, ", ")).c_str());
}

struct Measured {
  nlohmann::json before, after;
  double before_s = 0, after_s = 0;
};

// Sparsity methods: calibrate (when the method or allocation needs data), measure the dense model,
// zero weights in place, measure again. The "plan" is the allocation, recorded for reading; it is
// not a plan that --plan can apply.
Measured sparsify(Model& m, const Tokenizer& tok, const PruneRequest& req, nlohmann::json& report) {
  validate_sparsity_options(req.method, req.sparsity, m.config);  // bad options fail before any work
  std::optional<CalibData> calib;
  if (sparsity_needs_calibration(req.method, req.sparsity)) {
    auto t0 = Clock::now();
    calib = load_calibration(tok, req.calib, m.config.max_position_embeddings);
    report["calibration"] = report_calibration(req.calib, *calib);
    report["timing"]["calibration_s"] = seconds_since(t0);
  } else {
    report["calibration"] = nullptr;  // magnitude with a weights-only allocation reads no data
  }
  Measured r;
  auto t_eval = Clock::now();
  r.before = measure(m, tok, req, "before");
  r.before_s = seconds_since(t_eval);
  auto t_prune = Clock::now();
  auto sp = run_sparsity(m, calib ? &*calib : nullptr, req.method, req.sparsity);
  report["timing"]["prune_s"] = seconds_since(t_prune);
  report["method"] = req.method;
  report["sparsity"] = sp;
  report["plan"] = {{"lopper_plan", 1},
                    {"method", req.method},
                    {"model", {{"architecture", m.config.architecture}, {"num_layers", m.config.num_layers()},
                               {"hidden_size", m.config.hidden_size}}},
                    {"actions", nlohmann::json::array({{{"op", "sparsify"},
                                                        {"nm", sp["nm"]},
                                                        {"allocation", sp["allocation"]["name"]},
                                                        {"targets", sp["per_matrix_target"]}}})}};
  report["removed_layers"] = nlohmann::json::array();
  std::printf("-- %s: %.4f of the Linear weights are zero (%s, allocation %s)%s\n", req.method.c_str(),
              sp["overall"].get<double>(),
              sp["nm"].is_null() ? fmt::format("target {}", sp["target"].get<double>()).c_str()
                                 : sp["nm"].get<std::string>().c_str(),
              req.sparsity.allocation.c_str(), sp["exact"].get<bool>() ? "" : " [not exact: see report]");
  auto t_eval2 = Clock::now();
  r.after = measure(m, tok, req, "after");
  r.after_s = seconds_since(t_eval2);
  return r;
}


// Width methods: calibrate, measure the dense model, prune in place (sequential methods feed each
// layer with its pruned predecessors), measure again. The plan records the kept indices.
Measured prune_width(Model& m, const Tokenizer& tok, const PruneRequest& req, const WidthMethod& method,
                     const WidthOptions& o, nlohmann::json& report) {
  auto t0 = Clock::now();
  auto calib = load_calibration(tok, req.calib, m.config.max_position_embeddings);
  report["calibration"] = report_calibration(req.calib, calib);
  report["timing"]["calibration_s"] = seconds_since(t0);
  Measured r;
  auto t_eval = Clock::now();
  r.before = measure(m, tok, req, "before");
  r.before_s = seconds_since(t_eval);
  auto t_prune = Clock::now();
  auto w = method.run(m, calib, o);
  report["timing"]["prune_s"] = seconds_since(t_prune);
  report["method"] = method.name();
  report["method_description"] = method.description();
  report["method_options"] = o.to_json();
  report["method_details"] = w.details;
  report["plan"] = w.plan.to_json();
  report["plan_reapplies"] = w.plan_reapplies;
  report["removed_layers"] = w.plan.removed_layers();
  if (!req.save_plan.empty()) write_file_atomic(req.save_plan, w.plan.to_json().dump(2) + "\n");
  std::printf("-- %s: %s\n", method.name().c_str(), method.description().c_str());
  print_plan(w.plan);
  if (w.plan.refits_omitted)
    std::printf("-- note: the plan holds the kept indices only; the re-fitted weights are in the checkpoint (--out)\n");
  auto t_eval2 = Clock::now();
  r.after = measure(m, tok, req, "after");
  r.after_s = seconds_since(t_eval2);
  return r;
}

}  // namespace

nlohmann::json run_prune(const PruneRequest& req) {
  auto t_start = Clock::now();
  const bool sparse = req.plan_in.empty() && is_sparsity_method(req.method);
  const bool search = req.plan_in.empty() && is_search_method(req.method);
  auto width_method = req.plan_in.empty() ? make_width_method(req.method) : nullptr;
  const bool width = width_method != nullptr;
  // 2ssp's target is a sparsity too (of decoder-layer parameters, not of each matrix).
  const bool sparse_opts = (req.sparsity.sparsity.has_value() && !(search && req.method == "2ssp")) ||
                           !req.sparsity.nm.empty();
  if (req.plan_in.empty() && !sparse && !search && !width && !make_depth_method(req.method))
    fail("--method \"{}\" is not known ({})", req.method, methods_list());
  check(search || req.resume.empty(), "--resume applies to search methods ({})",
        fmt::format("{}", fmt::join(search_method_names(), ", ")));
  if (sparse) {
    check(!req.remove && !req.ratio, "--remove / --ratio apply to depth methods; --method {} takes --sparsity S or "
          "--nm N:M", req.method);
    check(!req.plan_only, "--plan-only is not supported for sparsity methods (the allocation is made while pruning)");
  } else {
    check(!sparse_opts, "--sparsity / --nm apply to sparsity methods ({}), not to {}",
          fmt::format("{}", fmt::join(sparsity_method_names(), ", ")),
          req.plan_in.empty() ? "--method " + req.method : std::string("--plan"));
  }
  check(width || (!req.width.params && !req.width.kv_groups && !req.width.align && !req.width.refit),
        "--params / --kv-groups / --align / --refit apply to width methods ({})",
        fmt::format("{}", fmt::join(width_method_names(), ", ")));
  WidthOptions width_opts = req.width;
  if (width) {
    check(!req.remove, "--remove applies to depth and search methods; --method {} takes --ratio R (fraction of its "
          "dimension) or --params R (fraction of decoder parameters)", req.method);
    check(!req.plan_only, "--plan-only is not supported for width methods (they prune while they choose)");
    if (req.ratio) width_opts.ratio = req.ratio;
    width_opts.micro_batch = req.depth.micro_batch;
  }
  check(!req.plan_only || !req.save_plan.empty(), "--plan-only needs --save-plan FILE (where to write the plan)");
  check(req.plan_only || !req.out_dir.empty() || !req.out_gguf.empty() || !req.eval_ppl.empty(),
        "nothing to do: give --out DIR (pruned checkpoint), --out-gguf FILE, --eval-ppl, or --plan-only");
  check(req.out_gguf.empty() || req.method != "slicegpt",
        "--out-gguf: a SliceGPT-sliced model has shortcut matrices between sublayers, which llama.cpp's GGUF cannot "
        "hold; save it with --out and run it with lopper");
  if (!req.out_gguf.empty()) check_output_path(req.out_gguf, req.force, "--out-gguf");
  if (!req.out_dir.empty()) {
    std::error_code ec;
    check(!std::filesystem::exists(req.model_dir, ec) || !std::filesystem::exists(req.out_dir, ec) ||
              !std::filesystem::equivalent(req.model_dir, req.out_dir, ec),
          "--out {} is the input model's folder; write the pruned model elsewhere", req.out_dir.string());
    check_output_dir(req.out_dir, req.force);  // fail before the pruning work, not after it
  }
  std::optional<at::ScalarType> save_dtype;
  if (req.save_dtype) save_dtype = parse_dtype(*req.save_dtype, c10::Device(c10::kCPU));
  auto model = Model::load(req.model_dir, req.load);
  if (is_sliced(model.config) && req.plan_in.empty() && !sparse && (!width || req.method == "slicegpt"))
    fail("{} is SliceGPT-rotated (shortcut matrices between sublayers): --method {} would {}; run it before "
         "slicing", req.model_dir.string(), req.method,
         req.method == "slicegpt" ? "slice it twice" : "remove layers or sublayers across the shortcuts");
  if (width) width_method->validate(model.config, width_opts);  // bad targets fail before calibration
  auto tok = Tokenizer::from_dir(req.model_dir);
  nlohmann::json report;
  report["model"] = req.model_dir.string();
  report["architecture"] = model.config.architecture;
  report["device"] = req.load.device;
  report["dtype"] = dtype_name(model.dtype);
  const auto before = count_params(model.config);
  const int layers_before = model.config.num_layers();

  Measured ppl;
  std::optional<Model> dense;  // SPRINT: the input model, to time against the output
  if (sparse) {
    ppl = sparsify(model, tok, req, report);
    if (!req.save_plan.empty()) write_file_atomic(req.save_plan, report["plan"].dump(2) + "\n");
  } else if (width) {
    ppl = prune_width(model, tok, req, *width_method, width_opts, report);
  } else {
    PruningPlan plan;
    std::map<int, at::Tensor> refits;  // layer of the input model -> re-fitted down_proj weight
    if (!req.plan_in.empty()) {
      plan = PruningPlan::load(req.plan_in);
      report["plan_source"] = req.plan_in.string();
      if (plan.method == "sprint" || plan.refits_omitted)
        std::printf("-- note: a plan holds %s's removals only; its re-fitted weights are in the checkpoint it saved, "
                    "not here (this applies the removals without the refit)\n", plan.method.c_str());
    } else if (search) {
      SearchRequest sr{req.method, req.search, req.calib, req.resume, req.progress};
      sr.options.remove = req.remove;
      sr.options.ratio = req.ratio;
      sr.options.sparsity = req.sparsity.sparsity;
      sr.options.engine.micro_batch = req.depth.micro_batch;
      sr.options.seed = req.calib.seed;
      plan = plan_search(model, tok, sr, report, &refits);
      plan.refits_omitted = !refits.empty();
    } else {
      plan = plan_depth(model, tok, req, report);
    }
    report["method"] = plan.method;
    report["plan"] = plan.to_json();
    report["removed_layers"] = plan.removed_layers();
    if (!req.save_plan.empty()) write_file_atomic(req.save_plan, plan.to_json().dump(2) + "\n");
    print_plan(plan);
    if (req.plan_only) {
      if (!refits.empty())
        std::printf("-- note: the plan holds the removals only; the %zu re-fitted down_proj are kept only in a "
                    "checkpoint written with --out\n", refits.size());
      report["timing"]["total_s"] = seconds_since(t_start);
      return report;
    }

    auto t_eval = Clock::now();
    ppl.before = measure(model, tok, req, "before");
    ppl.before_s = seconds_since(t_eval);
    auto t_apply = Clock::now();
    if (req.method == "sprint" && req.measure_speedup) dense = model;  // shallow: shares the unchanged weights
    for (const auto& [layer, w] : refits) model.weights.layers.at(layer).mlp->down = w;  // before renumbering
    plan.apply(model);
    report["timing"]["apply_s"] = seconds_since(t_apply);
    auto t_eval2 = Clock::now();
    ppl.after = measure(model, tok, req, "after");
    ppl.after_s = seconds_since(t_eval2);
  }
  const auto after = count_params(model.config);
  const auto& ppl_before = ppl.before;
  const auto& ppl_after = ppl.after;
  const double eval_before_s = ppl.before_s, eval_after_s = ppl.after_s;

  report["params_before"] = before.total;
  report["params_after"] = after.total;
  report["params_removed_fraction"] = 1.0 - static_cast<double>(after.total) / static_cast<double>(before.total);
  const int64_t dec_before = before.total - before.embeddings, dec_after = after.total - after.embeddings;
  report["decoder_params_before"] = dec_before;
  report["decoder_params_after"] = dec_after;
  report["decoder_params_removed_fraction"] = 1.0 - static_cast<double>(dec_after) / static_cast<double>(dec_before);
  report["num_layers_before"] = layers_before;
  report["num_layers_after"] = model.config.num_layers();
  if (!ppl_before.is_null()) {
    report["ppl_before"] = ppl_before;
    report["ppl_after"] = ppl_after;
  }
  report["timing"]["eval_before_s"] = eval_before_s;
  report["timing"]["eval_after_s"] = eval_after_s;
  std::printf("-- params: %ld -> %ld (%.2f%% removed; decoder layers %.2f%%)\n", static_cast<long>(before.total),
              static_cast<long>(after.total), 100.0 * report["params_removed_fraction"].get<double>(),
              100.0 * report["decoder_params_removed_fraction"].get<double>());
  if (!ppl_before.is_null())
    for (auto& [name, b] : ppl_before.items())
      std::printf("-- ppl %s: %.4f -> %.4f\n", name.c_str(), b["ppl"].get<double>(), ppl_after[name]["ppl"].get<double>());
  if (!req.out_dir.empty()) {
    auto t_save = Clock::now();
    SaveOptions so;
    so.dtype = save_dtype;
    so.force = req.force;
    save_model(model, req.out_dir, so);
    report["out"] = req.out_dir.string();
    report["timing"]["save_s"] = seconds_since(t_save);
    std::printf("-- saved %s\n", req.out_dir.string().c_str());
  }
  if (!req.out_gguf.empty()) {
    auto t_export = Clock::now();
    auto g = export_gguf(model, req.out_gguf, GgufExportOptions{req.gguf_dtype, req.force});
    report["gguf"] = g.to_json();
    report["gguf"]["out"] = req.out_gguf.string();
    report["timing"]["gguf_s"] = seconds_since(t_export);
    std::printf("-- exported %s (GGUF, %s, %s)\n", req.out_gguf.string().c_str(), g.architecture.c_str(),
                g.dtype.c_str());
  }
  if (dense) {
    // The output model against the input, timed side by side in the search's latency mode.
    const auto& table = report["method_details"]["latency_table"];
    auto r = measure_latency({&*dense, &model}, req.search.sprint.latency);
    const double measured = r.median_s[0] / r.median_s[1];
    report["speedup"] = {{"predicted", report["method_details"]["predicted_speedup"]},
                         {"measured", measured},
                         {"dense_s", r.median_s[0]},
                         {"pruned_s", r.median_s[1]},
                         {"dense_runs_s", r.runs_s[0]},
                         {"pruned_runs_s", r.runs_s[1]},
                         {"settings", table.value("settings", nlohmann::json())}};
    std::printf("-- speedup (%s mode): predicted %.4f, measured %.4f (%.2f ms -> %.2f ms)\n",
                req.search.sprint.latency.mode.c_str(), report["speedup"]["predicted"].get<double>(), measured,
                r.median_s[0] * 1e3, r.median_s[1] * 1e3);
  }
  report["timing"]["total_s"] = seconds_since(t_start);
  // The whole job's peak (device tensor memory on CUDA, resident set on CPU).
  report["peak_memory_bytes"] = peak_memory_bytes(model.device);
  report["peak_host_memory_bytes"] = peak_memory_bytes(c10::Device(c10::kCPU));
  std::printf("-- peak memory %.1f MB (%s)", static_cast<double>(report["peak_memory_bytes"].get<int64_t>()) / 1e6,
              model.device.is_cuda() ? "device" : "resident set");
  if (model.device.is_cuda())
    std::printf(", host %.1f MB", static_cast<double>(report["peak_host_memory_bytes"].get<int64_t>()) / 1e6);
  std::printf("\n");
  if (model.stream) report["placement"] = placement_report(model);
  return report;
}

}  // namespace lopper
