#include "lopper/model/placement.h"

#include <ATen/Context.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "lopper/model/model.h"
#include "lopper/util/error.h"

namespace lopper {

int64_t parse_memory_size(const std::string& s, const std::string& option) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    fail("{} \"{}\" is not a size (e.g. 4GB, 512MiB, 123456)", option, s);
  }
  std::string unit = s.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB") mult = 1e3;
  else if (unit == "M" || unit == "MB") mult = 1e6;
  else if (unit == "G" || unit == "GB") mult = 1e9;
  else if (unit == "T" || unit == "TB") mult = 1e12;
  else if (unit == "KIB") mult = 1024.0;
  else if (unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  else fail("{} \"{}\": unknown unit \"{}\" (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", option, s, s.substr(used));
  if (!std::isfinite(v) || v <= 0 || v * mult >= 9.2e18) fail("{} \"{}\" must be a positive size", option, s);
  return static_cast<int64_t>(v * mult);
}

c10::Device indexed(const c10::Device& d) {
  if (d.is_cuda() && !d.has_index()) return c10::Device(c10::kCUDA, 0);
  return d;
}

std::vector<c10::Device> parse_device_list(const std::string& s) {
  std::vector<c10::Device> out;
  std::stringstream ss(s);
  std::string item;
  const int64_t gpus = at::hasCUDA() ? static_cast<int64_t>(at::getNumGPUs()) : 0;
  while (std::getline(ss, item, ',')) {
    c10::Device d(c10::kCPU);
    try {
      d = c10::Device(item);
    } catch (const std::exception&) {
      fail("--devices: \"{}\" is not a device (use e.g. cuda:0,cuda:1)", item);
    }
    if (!d.is_cpu() && !d.is_cuda()) fail("--devices: \"{}\": only cpu and cuda devices are supported", item);
    if (d.is_cuda()) {
      if (gpus == 0)
        fail("--devices: {} is not available: this lopper has no CUDA support or no GPU is visible", item);
      d = indexed(d);
      if (d.index() >= gpus)
        fail("--devices: {} is not available: {} CUDA device{} visible (cuda:0..cuda:{})", item, gpus,
             gpus == 1 ? " is" : "s are", gpus - 1);
    }
    for (const auto& prev : out)
      if (prev == d) fail("--devices: {} is listed twice", item);
    out.push_back(d);
  }
  if (out.empty()) fail("--devices \"{}\" names no device", s);
  return out;
}

std::string format_bytes(int64_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1e9) return fmt::format("{:.2f} GB", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} MB", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} KB", v / 1e3);
  return fmt::format("{} B", b);
}

std::vector<int64_t> layer_weight_bytes(const ModelConfig& config, at::ScalarType dtype) {
  std::vector<int64_t> out(config.num_layers(), 0);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  for_each_tensor(config, [&](const TensorSpec& s) {
    if (s.layer < 0) return;
    out[s.layer] += elem * std::accumulate(s.shape.begin(), s.shape.end(), int64_t{1}, std::multiplies<>());
  });
  return out;
}

namespace {

int64_t global_weight_bytes(const ModelConfig& config, at::ScalarType dtype) {
  int64_t out = 0;
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  for_each_tensor(config, [&](const TensorSpec& s) {
    if (s.layer < 0) out += elem * std::accumulate(s.shape.begin(), s.shape.end(), int64_t{1}, std::multiplies<>());
  });
  return out;
}

// Contiguous runs of layers, one per device, with about equal weight bytes (device 0 counts the
// globals too): layer l goes to the device whose share of the cumulative bytes it falls in.
std::vector<int> split_layers(const std::vector<int64_t>& bytes, int64_t globals, int n_dev) {
  std::vector<int> dev(bytes.size(), 0);
  if (n_dev == 1) return dev;
  const double total = static_cast<double>(globals + std::accumulate(bytes.begin(), bytes.end(), int64_t{0}));
  double before = static_cast<double>(globals);
  for (size_t l = 0; l < bytes.size(); ++l) {
    const double mid = before + 0.5 * static_cast<double>(bytes[l]);
    dev[l] = std::min(n_dev - 1, static_cast<int>(mid / total * n_dev));
    if (l > 0) dev[l] = std::max(dev[l], dev[l - 1]);
    before += static_cast<double>(bytes[l]);
  }
  return dev;
}

}  // namespace

int64_t LayerPlacement::streamed_layers() const {
  return std::count(resident.begin(), resident.end(), false);
}

int64_t LayerPlacement::resident_bytes(int d) const {
  int64_t out = d == 0 ? global_bytes : 0;
  for (size_t l = 0; l < layer_device.size(); ++l)
    if (layer_device[l] == d && resident[l]) out += layer_bytes[l];
  return out;
}

nlohmann::json LayerPlacement::to_json() const {
  nlohmann::json devs = nlohmann::json::array();
  for (size_t d = 0; d < devices.size(); ++d) {
    std::vector<int> res, str;
    for (size_t l = 0; l < layer_device.size(); ++l)
      if (layer_device[l] == static_cast<int>(d)) (resident[l] ? res : str).push_back(static_cast<int>(l));
    devs.push_back({{"device", devices[d].str()}, {"resident_layers", res}, {"streamed_layers", str},
                    {"resident_bytes", resident_bytes(static_cast<int>(d))}});
  }
  return {{"devices", devs}, {"budget_bytes", budget}, {"streaming_slots", slots},
          {"global_bytes", global_bytes}};
}

LayerPlacement plan_placement(const ModelConfig& config, at::ScalarType dtype, const PlacementOptions& opts,
                              const std::vector<c10::Device>& devices, const std::vector<int64_t>& free_bytes) {
  check(!devices.empty(), "placement: no device");
  LayerPlacement p;
  p.devices = devices;
  p.layer_bytes = layer_weight_bytes(config, dtype);
  p.global_bytes = global_weight_bytes(config, dtype);
  const int n_dev = static_cast<int>(devices.size());
  const int L = config.num_layers();
  p.layer_device = split_layers(p.layer_bytes, p.global_bytes, n_dev);
  p.resident.assign(L, true);
  p.budget = opts.max_device_memory;
  for (int d = 0; d < n_dev; ++d) {
    int64_t budget = p.budget;
    // --offload without a budget: what the device has free, less a tenth for activations.
    if (budget == 0 && opts.offload && d < static_cast<int>(free_bytes.size()) && free_bytes[d] > 0)
      budget = free_bytes[d] / 10 * 9;
    if (budget == 0) continue;  // no limit: everything stays
    const int64_t globals = d == 0 ? p.global_bytes : 0;
    int64_t mine = 0, largest = 0;
    for (int l = 0; l < L; ++l)
      if (p.layer_device[l] == d) {
        mine += p.layer_bytes[l];
        largest = std::max(largest, p.layer_bytes[l]);
      }
    const std::string dev = devices[d].str();
    if (globals + mine <= budget) continue;
    if (!opts.offload)
      fail("the model's weights need {} on {}, more than --max-device-memory {}: add --offload cpu to keep "
           "layers in host memory and stream them{}",
           format_bytes(globals + mine), dev, format_bytes(budget), n_dev == 1 ? " (or spread them with --devices)" : "");
    const int64_t minimum = globals + largest;
    if (budget < minimum)
      fail("--max-device-memory {} is less than the minimum for {}: {} ({}its largest decoder layer {})",
           format_bytes(budget), dev, format_bytes(minimum),
           globals ? fmt::format("embeddings, final norm and LM head {} + ", format_bytes(globals)) : "",
           format_bytes(largest));
    // Room for two streamed layers lets the next one be copied while the current one runs.
    const int slots = budget - globals >= 2 * largest ? 2 : 1;
    p.slots = std::max(p.slots, slots);
    int64_t keep = budget - globals - slots * largest;  // what may stay resident for good
    for (int l = 0; l < L; ++l) {
      if (p.layer_device[l] != d) continue;
      if (p.layer_bytes[l] <= keep) {
        keep -= p.layer_bytes[l];
      } else {
        p.resident[l] = false;
        keep = -1;  // a contiguous resident prefix: later layers stream too
      }
    }
  }
  return p;
}

}  // namespace lopper
