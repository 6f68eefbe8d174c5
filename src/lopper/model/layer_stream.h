// Device copies of decoder layers whose master weights live elsewhere: layers streamed from host
// memory (--offload cpu) and layers placed on another device (--devices). The model's weights stay
// the masters that methods read and edit; a copy is made when its layer runs and is kept only while
// the master is unchanged (each copy remembers the identity and version counter of every master
// tensor, so an in-place edit or a replaced tensor is seen at the next use). Streamed copies live in
// a few slots and are released after use; on CUDA the next layer is copied on a side stream while
// the current one runs.
#pragma once
#include <ATen/core/Tensor.h>

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/placement.h"
#include "lopper/model/weights.h"

namespace lopper {

class Model;

class LayerStream {
 public:
  LayerStream(PlacementOptions opts, std::vector<c10::Device> devices, std::vector<int64_t> free_bytes);
  ~LayerStream();

  // The placement for the model's structure now (recomputed when pruning changed it).
  const LayerPlacement& placement(const Model& m);
  c10::Device device_of(const Model& m, int layer);
  // Weights of `layer` on its device, ready to run; valid while the returned pointer is held.
  std::shared_ptr<const LayerWeights> get(const Model& m, int layer);
  // Starts copying `layer` if it is streamed (a no-op otherwise, and on CPU: see the .cpp).
  void prefetch(const Model& m, int layer);
  // Drops every copy (the next use copies again).
  void clear();

  const PlacementOptions& options() const { return opts_; }
  // Layers copied, bytes copied, time spent waiting for copies.
  nlohmann::json stats() const;

 private:
  struct Copy {
    std::vector<std::pair<const void*, int64_t>> key;  // master tensors' identity and version
    std::shared_ptr<LayerWeights> weights;
  };
  Copy make_copy(const LayerWeights& master, const c10::Device& dev) const;
  bool fresh(const Copy& c, const LayerWeights& master) const;

  PlacementOptions opts_;
  std::vector<c10::Device> devices_;
  std::vector<int64_t> free_bytes_;
  std::optional<LayerPlacement> placement_;
  std::vector<LayerSpec> placed_layers_;  // the structure the placement was made for
  at::ScalarType placed_dtype_ = at::kFloat;
  int64_t placed_hidden_ = 0;
  std::map<int, Copy> resident_;                 // copies kept for good
  std::optional<std::pair<int, Copy>> slot_;     // the streamed copy in use (the prefetch is the other)
  int pending_layer_ = -1;
  std::future<Copy> pending_;
  int64_t copies_ = 0, bytes_copied_ = 0;
  double wait_seconds_ = 0;
};

}  // namespace lopper
