#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/placement_options.h"
#include "lopper/eval/bench.h"
#include "lopper/eval/bench_generate.h"
#include "lopper/eval/eval_command.h"
#include "lopper/model/device.h"
#include "lopper/model/random_init.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/train/lora_bench.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_bench(CLI::App& app) {
  struct Opts {
    std::string model, config, device = "cpu", dtype = "auto", batches = "1", gen_lens = "128", ppl, tokenizer,
        data_dir, json;
    BenchOptions b;
    GenerateBenchOptions g;
    bool generate = false, lora_train = false;
    LoraBenchOptions l;
    std::string lora_data;
    PerplexityOptions p;
    uint64_t seed = 0;
    PlacementCliOptions place;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "bench", "Time prefill (tokens/s, TFLOP/s, peak memory) and optionally a perplexity pass, on a checkpoint "
               "or on random weights of any shape");
  auto* model_opt = sub->add_option("--model", o->model, "Model directory (real weights) or hub id org/name[@rev]");
  add_download_flag(sub, &o->download);
  sub->add_option("--config", o->config, "config.json (or its directory): time this shape with random weights")
      ->excludes(model_opt);
  sub->add_option("--device", o->device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  o->place.add(sub);
  sub->add_option("--seqlen", o->b.seqlen, "Tokens per sequence")->default_val(512);
  sub->add_option("--batch", o->batches, "Batch sizes, comma-separated")->default_val("1");
  sub->add_option("--iters", o->b.iters, "Timed passes per batch size (after one warm-up)")->default_val(3);
  sub->add_option("--peak-tflops", o->b.peak_tflops, "Device peak TFLOP/s in this dtype, to report MFU");
  sub->add_option("--seed", o->seed, "Seed of the random weights")->default_val(0);
  sub->add_flag("--generate", o->generate,
                "Time forced-length greedy generation (latency, TTFT, decode tokens/s, throughput, memory) "
                "instead of prefill");
  sub->add_option("--prompt-len", o->g.prompt_len, "--generate: prompt tokens (random ids)")->default_val(128);
  sub->add_option("--gen-len", o->gen_lens, "--generate: new tokens, comma-separated")->default_val("128");
  sub->add_option("--warmup", o->g.warmup, "--generate: untimed runs per setting")->default_val(1);
  sub->add_option("--repeats", o->g.repeats, "--generate: timed runs per setting (median reported)")->default_val(3);
  sub->add_flag("--lora-train", o->lora_train,
                "Time LoRA training steps (forward, backward, AdamW) instead of prefill; micro-batch = first --batch");
  sub->add_option("--lora-data", o->lora_data, "--lora-train: text file to train on (needs --tokenizer or --model)");
  sub->add_option("--steps", o->l.steps, "--lora-train: timed steps (after two warm-up steps)")->default_val(5);
  sub->add_option("--lora-rank", o->l.lora.rank, "--lora-train: LoRA rank")->default_val(8);
  sub->add_flag("--gradient-checkpointing", o->l.grad_checkpointing, "--lora-train: recompute layers in backward");
  sub->add_option("--ppl", o->ppl, "Also time perplexity on these datasets (wikitext2,c4,ptb,FILE)");
  sub->add_option("--tokenizer", o->tokenizer, "Tokenizer directory for --ppl (default: --model)");
  sub->add_option("--ppl-seqlen", o->p.seqlen, "Window length for --ppl (default: min(context, 2048))");
  sub->add_option("--ppl-batch", o->p.batch, "Windows per forward pass for --ppl (0: automatic)")->default_val(0);
  sub->add_option("--max-windows", o->p.max_windows, "Evaluate only the first N windows of each --ppl set");
  sub->add_option("--data-dir", o->data_dir, "Where named datasets live (else $LOPPER_DATA_DIR, then bundled)");
  sub->add_option("--json", o->json, "Write the report as JSON to this file");
  sub->callback([o] {
    check(!o->model.empty() || !o->config.empty(), "bench: give --model DIR or --config FILE");
    if (!o->model.empty()) o->model = resolve_model_arg(o->model, o->download);
    o->b.batches = o->g.batches = parse_int_list(o->batches, "--batch");
    o->g.gen_lens = parse_int_list(o->gen_lens, "--gen-len");
    std::string tok_dir = o->tokenizer.empty() ? o->model : o->tokenizer;
    check(o->ppl.empty() || !tok_dir.empty(), "--ppl with random weights needs --tokenizer DIR");
    // Everything that can fail on bad input is checked before the (possibly long) model set-up.
    check(o->lora_data.empty() || !tok_dir.empty(), "--lora-data with random weights needs --tokenizer DIR");
    check(!o->lora_train || !o->generate, "bench: --lora-train and --generate are separate runs");
    std::optional<Tokenizer> tok;
    if (!o->ppl.empty() || !o->lora_data.empty()) tok = Tokenizer::from_dir(tok_dir);
    std::vector<int64_t> lora_tokens;
    if (!o->lora_data.empty()) {
      auto ids = tok->encode(read_file(o->lora_data));
      lora_tokens.assign(ids.begin(), ids.end());
    }

    auto t0 = std::chrono::steady_clock::now();
    const bool random = o->model.empty();
    // --config is a config.json or a directory holding one.
    auto shape = [&] {
      return std::filesystem::is_directory(o->config) ? ModelConfig::load(o->config) : ModelConfig::load_file(o->config);
    };
    LoadOptions load{o->device, o->dtype};
    o->place.apply(load);
    // Random weights are made on the device, then placed (a shape larger than the device needs a
    // checkpoint to stream from).
    Model model = random ? random_model(shape(), {load.device, o->dtype}, o->seed) : Model::load(o->model, load);
    if (random) model.place(load.placement);
    synchronize(model.device);
    double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto params = count_params(model.config).total;
    std::printf("%s: %s, %.3fB parameters, %s %s, %s in %.1f s\n", random ? o->config.c_str() : o->model.c_str(),
                model.config.architecture.c_str(), static_cast<double>(params) / 1e9, o->device.c_str(),
                dtype_name(model.dtype).c_str(), random ? "random weights made" : "loaded", setup_s);
    std::fflush(stdout);

    nlohmann::json report;
    if (o->lora_train) {
      o->l.seqlen = o->b.seqlen;
      o->l.micro_batch = o->b.batches.at(0);
      report["lora_train"] = bench_lora_training(model, lora_tokens, o->l);
    } else {
      report = o->generate ? nlohmann::json{{"generate", bench_generate(model, o->g)}} : bench_prefill(model, o->b);
    }
    report["model"] = random ? o->config : o->model;
    report["random_weights"] = random;
    report["device"] = load.device;
    report["dtype"] = dtype_name(model.dtype);
    report["params"] = params;
    report["setup_seconds"] = setup_s;
    if (tok && !o->ppl.empty()) {
      reset_peak_memory(model.device);
      auto ev = run_eval(model, *tok, EvalRequest{split_list(o->ppl), o->p, o->data_dir, {}});
      report["ppl"] = ev["ppl"];
      report["ppl_peak_memory_bytes"] = peak_memory_bytes(model.device);
      report["ppl_peak_host_memory_bytes"] = peak_memory_bytes(c10::Device(c10::kCPU));
    }
    if (model.stream) report["placement"] = placement_report(model);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
