// Where a model's weights live when they do not all fit on one device. Decoder layers may be spread
// over several devices (--devices cuda:0,cuda:1: contiguous runs of layers, the hidden state moving
// between them) and/or kept in host memory and copied to their device when they run (--offload cpu),
// within a per-device budget for weights (--max-device-memory). The embeddings, final norm and LM
// head stay on the first device. A placement is plain data, computed from the config alone, so it
// is recomputed whenever pruning changes the model's structure.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"

namespace lopper {

struct PlacementOptions {
  bool offload = false;            // --offload cpu: layers that do not fit stay in host memory
  int64_t max_device_memory = 0;   // --max-device-memory: bytes of weights per device; 0: no limit
                                   // (with --offload: the device's free memory at load time)
  std::vector<std::string> devices;  // --devices; empty: the model's --device alone
  bool active() const { return offload || max_device_memory > 0 || devices.size() > 1; }
};

// "4GB", "4G", "512MiB", "1.5GiB", "300MB", "123456" (bytes). Decimal units are powers of 1000
// (as accelerate's max_memory), binary ones powers of 1024. Throws InputError naming `option`.
int64_t parse_memory_size(const std::string& s, const std::string& option);
// "cuda:0,cuda:1" -> devices, each checked to exist (an absent GPU is a one-line error).
std::vector<c10::Device> parse_device_list(const std::string& s);
// A device with its index filled in (cuda -> cuda:0), so that equal devices compare equal.
c10::Device indexed(const c10::Device& d);

struct LayerPlacement {
  std::vector<c10::Device> devices;  // [0] also holds the embeddings, final norm and LM head
  std::vector<int> layer_device;     // per layer: index into devices
  std::vector<bool> resident;        // per layer: kept on its device (else streamed from host)
  int slots = 0;                     // streamed layers a device holds at once (2: the next is prefetched)
  int64_t budget = 0;                // weight bytes per device (0: no limit)
  int64_t global_bytes = 0;          // embeddings + final norm + untied LM head
  std::vector<int64_t> layer_bytes;
  int64_t streamed_layers() const;
  int64_t resident_bytes(int device) const;  // what stays on the device for good (globals included)
  nlohmann::json to_json() const;
};

// Bytes of each decoder layer's weights in `dtype` (per-layer structure respected).
std::vector<int64_t> layer_weight_bytes(const ModelConfig& config, at::ScalarType dtype);

// Decides the placement; throws InputError when the budget is smaller than what one device must
// hold (the message gives the minimum) or when the model does not fit and --offload is not given.
// `free_bytes` (per device, -1 unknown) stands in for a budget of 0 with --offload.
LayerPlacement plan_placement(const ModelConfig& config, at::ScalarType dtype, const PlacementOptions& opts,
                              const std::vector<c10::Device>& devices, const std::vector<int64_t>& free_bytes);

std::string format_bytes(int64_t bytes);  // "12.3 MB"

}  // namespace lopper
