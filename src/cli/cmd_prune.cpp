#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/placement_options.h"
#include "lopper/eval/eval_command.h"
#include "lopper/prune/prune_command.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

namespace {

// "2048,32768" -> {2048, 32768}; a clear error naming the option otherwise.
template <typename T>
std::vector<T> parse_int_list(const std::string& s, const char* option) {
  std::vector<T> out;
  for (const auto& part : split_list(s)) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == part.size() && used > 0, "{} \"{}\": expected integers separated by commas", option, s);
    out.push_back(static_cast<T>(v));
  }
  check(!out.empty(), "{} is empty", option);
  return out;
}

}  // namespace

void register_prune(CLI::App& app) {
  struct Opts {
    PruneRequest req;
    std::string model, sampler = "random", plan_in, save_plan, out, json, save_dtype, data_dir, eval = "wikitext2";
    int remove = 0, generations = 0;
    double ratio = 0, sparsity = 0, target_speedup = 0, params = 0;
    int kv_groups = 0;
    int64_t align = 0;
    int remove_sublayers = 0;
    bool no_latency_aware = false, no_tuning = false, no_measure = false;
    bool no_plus = false;
    std::string checkpoints = "all", stage_tokens = "2048,32768", stage_keep = "2,1", resume;
    PlacementCliOptions place;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "prune", "Remove decoder blocks, narrow them (FFN channels, KV groups, hidden size), or zero weights (unstructured / N:M sparsity); save the pruned checkpoint and a report");
  sub->add_option("--model", o->model, kModelHelp)->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--method", o->req.method,
                  "depth: shortgpt | angular | window-ppl | block-ppl | taylor; search: sleb | blockpruner | 2ssp | "
                  "evopress | sprint (docs/methods.md); width: osscar | ffn-l2 | heads | slicegpt (docs/width.md); sparsity: "
                  "magnitude | wanda | sparsegpt (docs/sparsity.md)");
  auto* rem = sub->add_option("--remove", o->remove,
                              "Blocks to remove (depth, sleb), sublayers (blockpruner), sublayers of each kind (evopress)");
  auto* rat = sub->add_option("--ratio", o->ratio,
                              "Fraction of decoder parameters to remove (depth: round(R x layers) blocks; search: "
                              "until the removed fraction reaches R); width: fraction of the FFN channels (osscar, "
                              "ffn-l2), KV groups (heads) or hidden size (slicegpt) removed");
  rem->excludes(rat);
  auto* par = sub->add_option("--params", o->params, "Width methods: fraction of decoder-layer parameters to remove");
  auto* kvg = sub->add_option("--kv-groups", o->kv_groups,
                              "heads: KV groups removed per layer (global: that many per layer on average)");
  auto* ali = sub->add_option("--align", o->align,
                              "Width methods: kept widths a multiple of N (osscar, ffn-l2: 128, as Quark; slicegpt: 8)");
  sub->add_flag("--refit", o->req.width.refit, "heads: least-squares refit of o_proj on the kept heads");
  auto* dmp = sub->add_option("--damp", o->req.width.damp,
                              "Width methods: Gram / covariance damping, fraction of the mean diagonal")->default_val(0.01);
  (void)dmp;
  auto* spo = sub->add_option("--sparsity", o->sparsity,
                              "Sparsity methods: fraction of each Linear matrix's weights to zero (mean under "
                              "--allocation); 2ssp: fraction of decoder-layer parameters to remove");
  sub->add_option("--nm", o->req.sparsity.nm, "Sparsity methods: N:M, N zeros in every M consecutive inputs (2:4, 4:8)");
  spo->excludes(sub->get_option("--nm"));
  sub->add_option("--allocation", o->req.sparsity.allocation, "Layer-wise sparsity: uniform | atp | owl | alphapruning; heads: uniform | global")
      ->default_val("uniform");
  sub->add_option("--owl-m", o->req.sparsity.owl_m, "owl: outlier threshold M (score > M x layer mean)")->default_val(5.0);
  sub->add_option("--owl-lambda", o->req.sparsity.owl_lambda, "owl: layer sparsities within S +- lambda")
      ->default_val(0.08);
  sub->add_option("--alpha-eps", o->req.sparsity.alpha_eps, "alphapruning: ratios in S x [1 - eps, 1 + eps]")
      ->default_val(0.3);
  sub->add_option("--alpha-xmin", o->req.sparsity.alpha_xmin, "alphapruning: Hill estimator xmin, peak | mid")
      ->default_val("peak");
  sub->add_flag("--alpha-per-matrix", o->req.sparsity.alpha_per_matrix,
                "alphapruning: one alpha per matrix (default: block-wise mean, the reference's)");
  sub->add_option("--atp-steps", o->req.sparsity.atp_steps, "atp: common differences tried, d_max x k / steps")
      ->default_val(10);
  sub->add_option("--sparsegpt-block", o->req.sparsity.sparsegpt_block, "sparsegpt: columns per lazy-update block")
      ->default_val(128);
  sub->add_option("--sparsegpt-damp", o->req.sparsity.sparsegpt_damp, "sparsegpt: damping, fraction of mean diag(H)")
      ->default_val(0.01);
  sub->add_option("--calib", o->req.calib.dataset,
                  "Calibration dataset or file (required except for magnitude with a weights-only allocation)");
  sub->add_option("--nsamples", o->req.calib.nsamples, "Calibration samples")->default_val(128);
  sub->add_option("--seqlen", o->req.calib.seqlen, "Calibration sample length (default: min(context, 2048))");
  sub->add_option("--seed", o->req.calib.seed, "Calibration sampling seed")->default_val(0);
  sub->add_option("--sampler", o->sampler, "random (GPTQ-style windows) | consecutive (chunks from the start)")
      ->default_val("random");
  sub->add_option("--data-dir", o->data_dir, "Where named datasets live (else $LOPPER_DATA_DIR, then bundled)");
  sub->add_option("--micro-batch", o->req.depth.micro_batch, "Calibration samples per forward pass")->default_val(8);
  sub->add_flag("--last-token", o->req.depth.last_token, "shortgpt: block influence at the last token only");
  sub->add_flag("--all-tokens", o->req.depth.all_tokens, "angular: average over all tokens, not the final one");
  sub->add_flag("--no-plus-heuristic", o->no_plus, "taylor: allow removing the first 4 and last 2 blocks");
  auto& so = o->req.search;
  sub->add_option("--barrier-first", so.barrier_first, "sleb: the first N remaining blocks are never removed")
      ->default_val(1);
  sub->add_option("--barrier-last", so.barrier_last, "sleb: the last N remaining blocks are never removed")
      ->default_val(1);
  sub->add_option("--variant", so.variant, "blockpruner: 2ssp-baseline (each round the best attention, then the best MLP); osscar: canonical | quark");
  sub->add_option("--search-samples", so.search_samples,
                  "Search methods: score candidates on the first N calibration samples (0: all; 2ssp stage 2: 1)")
      ->default_val(0);
  sub->add_option("--alpha", so.alpha, "2ssp: balance exponent alpha")->default_val(1.5);
  sub->add_option("--initial", so.initial, "evopress: random initial candidates")->default_val(64);
  sub->add_option("--offspring", so.offspring, "evopress: offspring per generation")->default_val(32);
  sub->add_option("--max-mutations", so.max_mutations, "evopress: flips = min(U{1..m}, U{1..m})")->default_val(3);
  auto* gen = sub->add_option("--generations", o->generations, "evopress: generations (default int(k (L - k) / 1.5))");
  sub->add_option("--initial-tokens", so.initial_tokens, "evopress: tokens scoring the initial candidates")
      ->default_val(2048);
  sub->add_option("--stage-tokens", o->stage_tokens, "evopress: tokens per selection stage")->default_val("2048,32768");
  sub->add_option("--stage-keep", o->stage_keep, "evopress: survivors per selection stage")->default_val("2,1");
  sub->add_option("--metric", so.metric, "evopress: fitness, kl | nll")->default_val("kl");
  auto* ck = sub->add_option("--checkpoints", o->checkpoints,
                             "Search engine: cached layer boundaries, all | none (full recompute) | K (default: all; "
                             "sprint: 8 besides the embedding, as the reference)");
  auto& sp = o->req.search.sprint;
  auto* tsp = sub->add_option("--target-speedup", o->target_speedup,
                              "sprint: remove sublayers until the latency table predicts this speedup (e.g. 1.41)");
  auto* rsub = sub->add_option("--remove-sublayers", o->remove_sublayers, "sprint: remove this many sublayers");
  tsp->excludes(rsub);
  rsub->excludes(rem);
  sub->add_option("--sensitivity", sp.sensitivity,
                  "sprint: metrics <l1|l2|l2true|cos>_<sentence|token|channel>, comma-separated (rank sum); l2 is the "
                  "reference's (a relative L1 error), l2true the Euclidean one")->default_val("l2_sentence");
  sub->add_flag("--no-latency-aware", o->no_latency_aware, "sprint: rank by sensitivity alone, not per unit of latency");
  sub->add_flag("--no-tuning", o->no_tuning, "sprint: no least-squares refit (stage 1 alone chooses)");
  sub->add_option("--candidates", sp.candidates, "sprint: stage-1 best re-scored with a refit")->default_val(5);
  sub->add_option("--tuning-ratio", sp.tuning_ratio, "sprint: fraction of down_proj rows re-fitted")->default_val(1.0);
  sub->add_option("--tuning-dtype", sp.tuning_dtype, "sprint: refit sums and solve in f32 | f64")->default_val("f32");
  sub->add_option("--damping", sp.damping, "sprint: refit damping (the reference's regularized system; 0: none)")
      ->default_val(0.0);
  sub->add_option("--latency", sp.latency_file,
                  "sprint: latency table file: read if it exists (same device, model and settings), else measured and "
                  "written there (default: a per-user cache)");
  sub->add_option("--latency-mode", sp.latency.mode, "sprint: generation | prompt")->default_val("generation");
  sub->add_option("--latency-prompt", sp.latency.prompt_len,
                  "sprint: prompt tokens (default: generation 1024, prompt 2048, fitted to the context)");
  sub->add_option("--latency-gen", sp.latency.gen_len, "sprint: forced new tokens in generation mode (default 512)");
  sub->add_option("--latency-batch", sp.latency.batch, "sprint: batch of the latency runs")->default_val(1);
  sub->add_option("--latency-warmup", sp.latency.warmup, "sprint: untimed runs per model")->default_val(1);
  sub->add_option("--latency-repeats", sp.latency.repeats, "sprint: timed rounds (median)")->default_val(3);
  sub->add_flag("--no-measure-speedup", o->no_measure, "sprint: do not time the output against the input at the end");
  sub->add_option("--cache-device", so.engine.cache_device, "Search engine: where cached states live, auto | cpu")
      ->default_val("auto");
  sub->add_option("--cache-dtype", so.engine.cache_dtype, "Search engine: dtype of cached states, auto | f32 | bf16 | f16")
      ->default_val("auto");
  sub->add_option("--cache-budget", so.engine.cache_budget_gb,
                  "Search engine: memory for cached states, GB (0: half of what the cache device has free)")
      ->default_val(0);
  sub->add_flag("--full-scores", so.full_scores,
                "Search methods: score every candidate in full (no early stop for clearly worse candidates)");
  sub->add_option("--resume", o->resume, "Search methods: continue the search recorded in this report (--json)");
  sub->add_option("--plan", o->plan_in, "Apply a saved plan (or prune report) instead of scoring");
  sub->add_flag("--plan-only", o->req.plan_only, "Stop after writing the plan (needs --save-plan)");
  sub->add_option("--save-plan", o->save_plan, "Write the plan to this file");
  sub->add_option("--out", o->out, "Directory for the pruned checkpoint (Hugging Face layout)");
  sub->add_flag("--force", o->req.force,
                "Write into an existing non-empty --out: lopper's own files are replaced, other files kept");
  sub->add_option("--out-gguf", o->req.out_gguf, "Also export the pruned model as one GGUF file for llama.cpp (docs/export.md)");
  sub->add_option("--gguf-dtype", o->req.gguf_dtype, "--out-gguf tensor type: auto | f32 | f16 | bf16 | q8_0")
      ->default_val("auto");
  sub->add_option("--save-dtype", o->save_dtype, "f32 | bf16 | f16 (default: the input checkpoint's dtype)");
  sub->add_option("--eval-ppl", o->eval, "Datasets to measure before and after, comma-separated, or none")
      ->default_val("wikitext2");
  sub->add_option("--eval-seqlen", o->req.eval.seqlen, "Evaluation window length (default: min(context, 2048))");
  sub->add_option("--eval-max-windows", o->req.eval.max_windows, "Evaluate only the first N windows");
  sub->add_option("--eval-batch", o->req.eval.batch, "Evaluation windows per forward pass (0: automatic)")->default_val(0);
  sub->add_option("--device", o->req.load.device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->req.load.dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  o->place.add(sub);
  sub->add_option("--json", o->json, "Write the report as JSON to this file");
  auto* alloc = sub->get_option("--allocation");
  auto* variant = sub->get_option("--variant");
  sub->callback([o, rem, rat, spo, gen, ck, tsp, rsub, par, kvg, ali, alloc, variant] {
    o->model = resolve_model_arg(o->model, o->download);
    PruneRequest& r = o->req;
    o->place.apply(r.load);
    r.model_dir = o->model;
    if (rem->count()) r.remove = o->remove;
    if (rat->count()) r.ratio = o->ratio;
    if (spo->count()) r.sparsity.sparsity = o->sparsity;
    if (par->count()) r.width.params = o->params;
    if (kvg->count()) r.width.kv_groups = o->kv_groups;
    if (ali->count()) r.width.align = o->align;
    if (is_width_method(r.method)) {  // --allocation and --variant are shared with sparsity / search methods
      if (alloc->count()) r.width.allocation = r.sparsity.allocation;
      if (variant->count()) r.width.variant = r.search.variant;
      r.sparsity.allocation = "uniform";
      r.search.variant.clear();
    }
    r.sparsity.micro_batch = r.depth.micro_batch;
    r.calib.sampler = parse_sampler(o->sampler);
    r.calib.data_dir = o->data_dir;
    r.depth.plus_heuristic = !o->no_plus;
    if (gen->count()) r.search.generations = o->generations;
    r.search.stage_tokens = parse_int_list<int64_t>(o->stage_tokens, "--stage-tokens");
    r.search.stage_keep = parse_int_list<int>(o->stage_keep, "--stage-keep");
    if (ck->count()) {
      if (o->checkpoints == "all") r.search.engine.checkpoints = -1;
      else if (o->checkpoints == "none") r.search.engine.checkpoints = 0;
      else r.search.engine.checkpoints = parse_int_list<int>(o->checkpoints, "--checkpoints").at(0);
      check(r.search.engine.checkpoints >= -1, "--checkpoints {} must be all, none or a count", o->checkpoints);
      r.search.sprint.checkpoints = r.search.engine.checkpoints;
    }
    if (tsp->count()) r.search.sprint.target_speedup = o->target_speedup;
    if (rsub->count()) r.remove = o->remove_sublayers;
    r.search.sprint.latency_aware = !o->no_latency_aware;
    r.search.sprint.tuning = !o->no_tuning;
    r.measure_speedup = !o->no_measure;
    r.resume = o->resume;
    r.progress = o->json;
    r.plan_in = o->plan_in;
    r.save_plan = o->save_plan;
    r.out_dir = o->out;
    if (!o->save_dtype.empty()) r.save_dtype = o->save_dtype;
    if (o->eval != "none") r.eval_ppl = split_list(o->eval);
    if (r.plan_in.empty() && r.method.empty()) fail("prune: give --method NAME (or --plan FILE)");
    if (!r.plan_in.empty() && !r.method.empty()) fail("prune: --plan and --method exclude each other");
    auto report = run_prune(r);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
