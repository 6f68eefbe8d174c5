#include "lopper/hub/resolve_model.h"

#include "lopper/hub/hub_cache.h"
#include "lopper/hub/hub_download.h"
#include "lopper/hub/hub_id.h"
#include "lopper/util/error.h"

namespace lopper::hub {

std::filesystem::path resolve_model(const std::string& spec, const HubOptions& opts) {
  std::error_code ec;
  if (!spec.empty() && std::filesystem::exists(spec, ec)) return spec;
  auto id = parse_hub_id(spec);
  if (!id) fail("no such model folder: {} (and not a hub id org/name[@revision])", spec);
  auto repo_dir = opts.cache_dir / repo_folder_name(id->repo);
  auto cached = find_snapshot(repo_dir, id->revision);
  if (!opts.download && !cached.snapshot.empty()) return cached.snapshot;
  if (opts.offline && opts.download)
    fail("{}: --download needs the network, but HF_HUB_OFFLINE is set", spec);
  if (opts.offline)
    fail("{}: no local folder of that name, and not in the Hugging Face cache at {} ({}); "
         "HF_HUB_OFFLINE is set, so nothing is downloaded", spec, repo_dir.string(), cached.missing);
  return download_snapshot(*id, opts);
}

}  // namespace lopper::hub
