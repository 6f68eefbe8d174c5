#include "cli/placement_options.h"

#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void PlacementCliOptions::add(CLI::App* sub) {
  sub->add_option("--offload", offload,
                  "none | cpu: keep decoder layers that do not fit --max-device-memory in host memory and "
                  "copy each to the device when it runs")
      ->default_val("none");
  sub->add_option("--max-device-memory", max_device_memory,
                  "Weight bytes each device may hold, e.g. 4GB or 512MiB (default: no limit; with --offload "
                  "cpu, 90% of the device's free memory)");
  sub->add_option("--devices", devices,
                  "Spread decoder layers over these devices, e.g. cuda:0,cuda:1 (the first also holds the "
                  "embeddings and LM head; replaces --device)");
}

void PlacementCliOptions::apply(LoadOptions& load) const {
  if (offload != "none" && offload != "cpu") fail("--offload \"{}\" is not supported (use cpu or none)", offload);
  load.placement.offload = offload == "cpu";
  if (!max_device_memory.empty())
    load.placement.max_device_memory = parse_memory_size(max_device_memory, "--max-device-memory");
  if (!devices.empty()) {
    for (const auto& d : parse_device_list(devices)) load.placement.devices.push_back(d.str());
    load.device = load.placement.devices.front();
  }
}

}  // namespace lopper::cli
