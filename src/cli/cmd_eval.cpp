#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/placement_options.h"
#include "cli/zeroshot_options.h"
#include "lopper/eval/eval_command.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string model, ppl, json, data_dir, device = "cpu", dtype = "auto";
    PerplexityOptions p;
    ZeroShotCliOptions z;
    PlacementCliOptions place;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "eval", "Evaluate perplexity (WikiText-2, C4, PTB, your text) and zero-shot accuracy (lm-eval's rules)");
  sub->add_option("--model", o->model, kModelHelp)->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--ppl", o->ppl, "Datasets or files, comma-separated (wikitext2,c4,ptb,FILE)");
  o->z.add(sub);
  sub->add_option("--seqlen", o->p.seqlen, "Window length (default: min(context, 2048))");
  sub->add_option("--stride", o->p.stride, "Distance between window starts (default: seqlen, no overlap)");
  sub->add_option("--max-windows", o->p.max_windows, "Evaluate only the first N windows");
  sub->add_option("--batch", o->p.batch, "Windows (ppl) or sequences (tasks) per forward pass (0: automatic)")
      ->default_val(0);
  sub->add_flag("--allow-long-context", o->p.allow_long_context, "Allow --seqlen beyond max_position_embeddings");
  sub->add_option("--data-dir", o->data_dir, "Where named datasets and task files live (else $LOPPER_DATA_DIR, then bundled)");
  sub->add_option("--device", o->device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  o->place.add(sub);
  sub->add_option("--json", o->json, "Write the report as JSON to this file");
  sub->callback([o] {
    o->model = resolve_model_arg(o->model, o->download);
    LoadOptions load{o->device, o->dtype};
    o->place.apply(load);
    EvalRequest req{split_list(o->ppl), o->p, o->data_dir, {}};
    o->z.apply(req.zeroshot, o->p.batch);
    check(!req.ppl_datasets.empty() || !req.zeroshot.tasks.empty(), "eval: give --ppl and/or --tasks");
    auto inputs = prepare_eval(req);  // datasets and task files are checked before the model loads
    auto model = Model::load(o->model, load);
    auto tok = Tokenizer::from_dir(o->model);
    auto report = run_eval(model, tok, inputs);
    report["model"] = o->model;
    report["device"] = load.device;
    report["dtype"] = dtype_name(model.dtype);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
