#include <cstdio>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "lopper/tokenizer/tokenize_command.h"

namespace lopper::cli {

void register_tokenize(CLI::App& app) {
  struct Opts {
    std::string model, text, file, json;
    bool no_special = false;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "tokenize", "Encode text with a model's tokenizer.json and print the ids and decoded text");
  sub->add_option("--model", o->model, "Model or tokenizer directory (needs tokenizer.json) or hub id org/name[@rev]")
      ->required();
  add_download_flag(sub, &o->download);
  auto* input = sub->add_option_group("input", "Text to encode (exactly one)");
  auto* text = input->add_option("--text", o->text, "Text to encode");
  auto* file = input->add_option("--file", o->file, "File whose whole content is encoded");
  input->require_option(1);
  sub->add_flag("--no-special", o->no_special, "Do not add BOS/EOS (add_special_tokens=False)");
  sub->add_option("--json", o->json, "Also write {ids, tokens, decoded, ...} as JSON to this file");
  sub->callback([o, text, file] {
    o->model = resolve_model_arg(o->model, o->download);
    TokenizeOptions options;
    options.model_dir = o->model;
    // --text "" is a valid (empty) text, so presence is checked rather than emptiness.
    if (text->count() > 0) options.text = o->text;
    if (file->count() > 0) options.file = o->file;
    options.add_special_tokens = !o->no_special;
    if (!o->json.empty()) options.json_out = o->json;
    std::fputs(format_tokenize_report(run_tokenize(options)).c_str(), stdout);
  });
}

}  // namespace lopper::cli
