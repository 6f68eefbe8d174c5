// `--model DIR | org/name[@revision]`: the one place a model argument becomes a folder to load.
#pragma once
#include <filesystem>
#include <string>

#include "lopper/hub/hub_options.h"

namespace lopper::hub {

// An existing local path is returned as it is (a local folder always wins). Otherwise `spec` must be a
// hub id, org/name[@revision] (default revision main), and the snapshot folder in the hub cache is
// returned: offline when the cache holds a complete snapshot of that revision and `opts.download` is
// off; else, unless `opts.offline`, after downloading what is missing. Throws InputError with one line:
// for a spec that is neither (names it), for offline mode without a cached snapshot (names the cache
// path looked in), for any download failure (names the repo and file).
std::filesystem::path resolve_model(const std::string& spec, const HubOptions& opts);

}  // namespace lopper::hub
