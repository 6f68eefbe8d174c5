#include <cstdio>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "lopper/model/info.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_info(CLI::App& app) {
  struct Opts {
    std::string model, json;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("info", "Show a checkpoint's architecture, per-layer structure and parameter counts");
  sub->add_option("--model", o->model, "Model directory (Hugging Face layout) or hub id org/name[@rev]")->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--json", o->json, "Also write the report as JSON to this file");
  sub->callback([o] {
    o->model = resolve_model_arg(o->model, o->download);
    auto info = model_info(ModelConfig::load(o->model));
    std::fputs(format_model_info(info).c_str(), stdout);
    if (!o->json.empty()) write_file_atomic(o->json, info.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
