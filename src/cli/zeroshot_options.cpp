#include "cli/zeroshot_options.h"

#include "lopper/eval/eval_command.h"

namespace lopper::cli {

void ZeroShotCliOptions::add(CLI::App* sub) {
  sub->add_option("--tasks", tasks,
                  "Zero-shot tasks or presets, comma-separated: piqa, hellaswag, winogrande, arc_easy, arc_challenge, "
                  "boolq, openbookqa, copa, lambada_openai; presets shortened-llama, 2ssp, wanda, sleb, sprint; "
                  "NAME=FILE or a task file path");
  sub->add_option("--bos", bos,
                  "auto (the tokenizer decides, current lm-eval) | always | never (lm-eval <= 0.4.9.1); "
                  "default: a preset's paper setting, else auto");
  sub->add_option("--harness", harness, "lm-eval rules v0.4 | v0.3 (COPA spacing); default: a preset's, else v0.4");
  limit_option = sub->add_option("--limit", limit, "Score only the first N documents of each task");
  sub->add_option("--max-length", max_length, "Zero-shot context limit (default: max_position_embeddings)");
  sub->add_flag("--no-prefix-reuse", no_prefix_reuse, "Zero-shot: one full pass per choice (slower; for checks)");
}

void ZeroShotCliOptions::apply(ZeroShotRequest& r, int64_t batch) const {
  r.tasks = split_list(tasks);
  if (!bos.empty()) r.bos = parse_bos_mode(bos);
  if (!harness.empty()) r.harness = parse_harness(harness);
  if (limit_option && limit_option->count() > 0) r.limit = limit;
  r.ll.batch = batch;
  r.ll.max_length = max_length;
  r.ll.prefix_reuse = !no_prefix_reuse;
}

}  // namespace lopper::cli
