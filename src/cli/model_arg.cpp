#include "cli/model_arg.h"

#include "lopper/hub/resolve_model.h"

namespace lopper::cli {

void add_download_flag(CLI::App* sub, bool* download) {
  sub->add_flag("--download", *download,
                "Hub id: ask the hub even if cached, fetch what is missing (uncached models are fetched "
                "anyway unless HF_HUB_OFFLINE is set)");
}

std::string resolve_model_arg(const std::string& model, bool download) {
  auto opts = hub::HubOptions::from_env();
  opts.download = download;
  return hub::resolve_model(model, opts).string();
}

void resolve_model_args(std::vector<std::string>& models, bool download) {
  for (auto& m : models) m = resolve_model_arg(m, download);
}

}  // namespace lopper::cli
