// The placement options every command that runs a model shares: --offload, --devices and
// --max-device-memory (lopper/model/placement.h).
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "lopper/model/model.h"

namespace lopper::cli {

struct PlacementCliOptions {
  std::string offload = "none", max_device_memory, devices;

  void add(CLI::App* sub);
  // Fills load.placement (and load.device from --devices' first entry); throws InputError naming the option.
  void apply(LoadOptions& load) const;
};

}  // namespace lopper::cli
