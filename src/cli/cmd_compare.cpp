#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/placement_options.h"
#include "cli/zeroshot_options.h"
#include "lopper/eval/compare.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_compare(CLI::App& app) {
  struct Opts {
    std::vector<std::string> models;
    std::string ppl, json, data_dir, device = "cpu", dtype = "auto", batches = "1", gen_lens = "128";
    PerplexityOptions p;
    GenerateBenchOptions g;
    ZeroShotCliOptions z;
    bool bench = false;
    int rounds = 2;
    PlacementCliOptions place;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "compare", "Measure a dense model and pruned ones side by side: params, perplexity, zero-shot, generation speed");
  sub->add_option("--model", o->models,
                  "Model directory or hub id org/name[@rev]; repeat it (the first is the baseline)")->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--ppl", o->ppl, "Perplexity datasets or files, comma-separated");
  o->z.add(sub);
  sub->add_option("--seqlen", o->p.seqlen, "Perplexity window length (default: min(context, 2048))");
  sub->add_option("--max-windows", o->p.max_windows, "Evaluate only the first N windows");
  sub->add_flag("--bench", o->bench, "Time forced-length greedy generation on every model");
  sub->add_option("--prompt-len", o->g.prompt_len, "--bench: prompt tokens")->default_val(128);
  sub->add_option("--gen-len", o->gen_lens, "--bench: new tokens, comma-separated")->default_val("128");
  sub->add_option("--batch", o->batches, "--bench: batch sizes, comma-separated")->default_val("1");
  sub->add_option("--warmup", o->g.warmup, "--bench: untimed runs per setting")->default_val(1);
  sub->add_option("--repeats", o->g.repeats, "--bench: timed runs per setting")->default_val(3);
  sub->add_option("--bench-rounds", o->rounds,
                  "--bench: rounds, the model order reversed every other round; each setting keeps its fastest")
      ->default_val(2);
  sub->add_option("--data-dir", o->data_dir, "Where named datasets and task files live");
  sub->add_option("--device", o->device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  o->place.add(sub);
  sub->add_option("--json", o->json, "Write the report as JSON to this file");
  sub->callback([o] {
    resolve_model_args(o->models, o->download);
    CompareRequest req;
    req.models = o->models;
    req.load = {o->device, o->dtype};
    o->place.apply(req.load);
    req.eval = EvalRequest{split_list(o->ppl), o->p, o->data_dir, {}};
    o->z.apply(req.eval.zeroshot, 0);
    check(!req.eval.ppl_datasets.empty() || !req.eval.zeroshot.tasks.empty() || o->bench,
          "compare: nothing to measure (give --ppl, --tasks and/or --bench)");
    if (o->bench) {
      o->g.batches = parse_int_list(o->batches, "--batch");
      o->g.gen_lens = parse_int_list(o->gen_lens, "--gen-len");
      req.bench = o->g;
      req.bench_rounds = o->rounds;
    }
    auto report = run_compare(req);
    report["device"] = o->device;
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
