#include "cli/commands.h"
#include "cli/model_arg.h"
#include "lopper/export/export_command.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_export(CLI::App& app) {
  struct Opts {
    ExportRequest req;
    std::string model, out, json;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "export", "Write a (pruned) checkpoint for another engine: GGUF for llama.cpp, DeciLM for vLLM (docs/export.md)");
  sub->add_option("--model", o->model, kModelHelp)->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--to", o->req.to, "gguf | decilm")->required();
  sub->add_option("--out", o->out, "Output: a .gguf file, or a directory for decilm")->required();
  sub->add_option("--dtype", o->req.dtype, "auto | f32 | f16 | bf16 | q8_0 (gguf only); auto: the checkpoint's")
      ->default_val("auto");
  sub->add_flag("--force", o->req.force,
                "Replace an existing output (in a directory, lopper's own files only; other files are kept)");
  sub->add_option("--json", o->json, "Also write the report as JSON to this file");
  sub->callback([o] {
    o->model = resolve_model_arg(o->model, o->download);
    o->req.model_dir = o->model;
    o->req.out = o->out;
    auto report = run_export(o->req);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
