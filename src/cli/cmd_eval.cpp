#include "cli/commands.h"
#include "lopper/eval/eval_command.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string model, ppl, tasks, bos, harness, json, data_dir, device = "cpu", dtype = "auto";
    PerplexityOptions p;
    int64_t limit = 0, max_length = 0;
    bool no_prefix_reuse = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "eval", "Evaluate perplexity (WikiText-2, C4, PTB, your text) and zero-shot accuracy (lm-eval's rules)");
  sub->add_option("--model", o->model, "Model directory")->required();
  sub->add_option("--ppl", o->ppl, "Datasets or files, comma-separated (wikitext2,c4,ptb,FILE)");
  sub->add_option("--tasks", o->tasks,
                  "Zero-shot tasks or presets, comma-separated: piqa, hellaswag, winogrande, arc_easy, arc_challenge, "
                  "boolq, openbookqa, copa, lambada_openai; presets shortened-llama, 2ssp, wanda, sleb, sprint; "
                  "NAME=FILE or a task file path");
  sub->add_option("--bos", o->bos,
                  "auto (the tokenizer decides, current lm-eval) | always | never (lm-eval <= 0.4.9.1); "
                  "default: a preset's paper setting, else auto");
  sub->add_option("--harness", o->harness, "lm-eval rules v0.4 | v0.3 (COPA spacing); default: a preset's, else v0.4");
  auto* limit = sub->add_option("--limit", o->limit, "Score only the first N documents of each task");
  sub->add_option("--max-length", o->max_length, "Zero-shot context limit (default: max_position_embeddings)");
  sub->add_flag("--no-prefix-reuse", o->no_prefix_reuse, "Zero-shot: one full pass per choice (slower; for checks)");
  sub->add_option("--seqlen", o->p.seqlen, "Window length (default: min(context, 2048))");
  sub->add_option("--stride", o->p.stride, "Distance between window starts (default: seqlen, no overlap)");
  sub->add_option("--max-windows", o->p.max_windows, "Evaluate only the first N windows");
  sub->add_option("--batch", o->p.batch, "Windows (ppl) or sequences (tasks) per forward pass (0: automatic)")
      ->default_val(0);
  sub->add_flag("--allow-long-context", o->p.allow_long_context, "Allow --seqlen beyond max_position_embeddings");
  sub->add_option("--data-dir", o->data_dir, "Where named datasets and task files live (else $LOPPER_DATA_DIR, then bundled)");
  sub->add_option("--device", o->device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  sub->add_option("--json", o->json, "Write the report as JSON to this file");
  sub->callback([o, limit] {
    EvalRequest req{split_list(o->ppl), o->p, o->data_dir, {}};
    req.zeroshot.tasks = split_list(o->tasks);
    check(!req.ppl_datasets.empty() || !req.zeroshot.tasks.empty(), "eval: give --ppl and/or --tasks");
    if (!o->bos.empty()) req.zeroshot.bos = parse_bos_mode(o->bos);
    if (!o->harness.empty()) req.zeroshot.harness = parse_harness(o->harness);
    if (limit->count() > 0) req.zeroshot.limit = o->limit;
    req.zeroshot.ll.batch = o->p.batch;
    req.zeroshot.ll.max_length = o->max_length;
    req.zeroshot.ll.prefix_reuse = !o->no_prefix_reuse;
    auto inputs = prepare_eval(req);  // datasets and task files are checked before the model loads
    auto model = Model::load(o->model, {o->device, o->dtype});
    auto tok = Tokenizer::from_dir(o->model);
    auto report = run_eval(model, tok, inputs);
    report["model"] = o->model;
    report["device"] = o->device;
    report["dtype"] = dtype_name(model.dtype);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
