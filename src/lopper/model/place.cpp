// Applying a placement (model/placement.h) to a model: the stream that makes device copies, and
// where each master tensor is kept.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/model/device.h"
#include "lopper/model/model.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

std::vector<c10::Device> placement_devices(const PlacementOptions& opts, const c10::Device& device) {
  if (opts.devices.empty()) return {indexed(device)};
  return parse_device_list(fmt::format("{}", fmt::join(opts.devices, ",")));
}

}  // namespace

void attach_stream(Model& m, const PlacementOptions& opts) {
  auto devices = placement_devices(opts, m.device);
  std::vector<int64_t> free_bytes;
  for (const auto& d : devices) free_bytes.push_back(available_memory_bytes(d));
  m.device = devices[0];
  m.stream = std::make_shared<LayerStream>(opts, devices, std::move(free_bytes));
  (void)m.stream->placement(m);  // checks the budget now, before any weight moves
}

c10::Device Model::layer_device(int layer) const { return stream ? stream->device_of(*this, layer) : device; }

c10::Device Model::master_device(int layer) const {
  if (!stream || layer < 0) return device;
  const auto& p = stream->placement(*this);
  if (stream->options().offload && !p.resident.at(layer)) return c10::Device(c10::kCPU);
  return p.devices.at(p.layer_device.at(layer));
}

void Model::place(const PlacementOptions& opts) {
  if (!opts.active()) return;
  check(!stream, "the model already has a placement");
  attach_stream(*this, opts);
  for_each_tensor(config, [&](const TensorSpec& s) {
    auto& t = tensor_slot(weights, s);
    t = t.to(master_device(s.layer));
  });
  if (config.tie_word_embeddings) weights.lm_head = weights.embed;
}

LayerOnDevice::LayerOnDevice(Model& m, int layer) : m_(m), layer_(layer) {
  if (!m.stream) return;
  home_ = m.master_device(layer);
  const c10::Device dev = m.layer_device(layer);
  if (home_ == dev) return;
  c10::InferenceMode normal(false);  // masters stay ordinary tensors, whatever the caller's mode
  for_each_layer_tensor(m.weights.layers.at(layer), [&](TensorRole, at::Tensor& t) { t = t.to(dev); });
  moved_ = true;
}

LayerOnDevice::~LayerOnDevice() {
  if (!moved_) return;
  // The layer's structure may have changed (channels kept): move whatever it holds now.
  c10::InferenceMode normal(false);
  for_each_layer_tensor(m_.weights.layers.at(layer_), [&](TensorRole, at::Tensor& t) { t = t.to(home_); });
}

nlohmann::json placement_report(const Model& m) {
  nlohmann::json j = m.stream ? m.stream->stats() : nlohmann::json::object();
  j["offload"] = m.offloaded() ? "cpu" : "none";
  j["peak_device_bytes"] = peak_memory_bytes(m.device);
  j["peak_host_bytes"] = peak_memory_bytes(c10::Device(c10::kCPU));
  return j;
}

}  // namespace lopper
