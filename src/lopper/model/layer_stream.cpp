#include "lopper/model/layer_stream.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <functional>

#ifdef LOPPER_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "lopper/model/model.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Reads every tensor of a layer (for_each_layer_tensor visits slots, which are writable).
void visit(const LayerWeights& l, const std::function<void(const at::Tensor&)>& fn) {
  for_each_layer_tensor(const_cast<LayerWeights&>(l), [&](TensorRole, at::Tensor& t) { fn(t); });
}

// A master's version counter; inference tensors have none, and -1 makes their copies never reused.
int64_t version_of(const at::Tensor& t) { return t.is_inference() ? -1 : static_cast<int64_t>(t._version()); }

bool needs_graph(const LayerWeights& master) {
  if (!c10::GradMode::is_enabled() || c10::InferenceMode::is_enabled()) return false;
  bool any = false;
  visit(master, [&](const at::Tensor& t) {
    any = any || t.requires_grad();
  });
  return any;
}

}  // namespace

LayerStream::LayerStream(PlacementOptions opts, std::vector<c10::Device> devices, std::vector<int64_t> free_bytes)
    : opts_(std::move(opts)), devices_(std::move(devices)), free_bytes_(std::move(free_bytes)) {}

LayerStream::~LayerStream() {
  if (pending_.valid()) pending_.wait();
}

const LayerPlacement& LayerStream::placement(const Model& m) {
  // Called for every layer run: the per-layer specs tell cheaply whether the structure changed (a
  // SliceGPT model's widths live elsewhere, so its bytes are compared in full).
  const bool same = placement_ && m.config.layers == placed_layers_ && m.dtype == placed_dtype_ &&
                    m.config.hidden_size == placed_hidden_ &&
                    (!m.config.slicegpt || layer_weight_bytes(m.config, m.dtype) == placement_->layer_bytes);
  if (!same) {
    clear();
    placement_ = plan_placement(m.config, m.dtype, opts_, devices_, free_bytes_);
    placed_layers_ = m.config.layers;
    placed_dtype_ = m.dtype;
    placed_hidden_ = m.config.hidden_size;
  }
  return *placement_;
}

c10::Device LayerStream::device_of(const Model& m, int layer) {
  const auto& p = placement(m);
  return p.devices.at(p.layer_device.at(layer));
}

void LayerStream::clear() {
  if (pending_.valid()) pending_.wait();
  pending_ = {};
  pending_layer_ = -1;
  resident_.clear();
  slot_.reset();
}

LayerStream::Copy LayerStream::make_copy(const LayerWeights& master, const c10::Device& dev) const {
  Copy c;
  c.weights = std::make_shared<LayerWeights>(master);  // same structure; tensors replaced below
  visit(master, [&](const at::Tensor& t) {
    c.key.emplace_back(t.unsafeGetTensorImpl(), version_of(t));
  });
  for_each_layer_tensor(*c.weights, [&](TensorRole, at::Tensor& t) {
    // copy=true: a master that already lives on `dev` (CPU offload) is still copied, so that what
    // the budget counts is what is held. Under grad mode the copy is differentiable: gradients
    // reach the master (Taylor scores on a streamed model).
    t = t.to(dev, t.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  });
  return c;
}

bool LayerStream::fresh(const Copy& c, const LayerWeights& master) const {
  size_t i = 0;
  bool ok = true;
  visit(master, [&](const at::Tensor& t) {
    ok = ok && i < c.key.size() && c.key[i].first == t.unsafeGetTensorImpl() && c.key[i].second >= 0 &&
         c.key[i].second == version_of(t);
    ++i;
  });
  return ok && i == c.key.size();
}

std::shared_ptr<const LayerWeights> LayerStream::get(const Model& m, int layer) {
  const auto& p = placement(m);
  const LayerWeights& master = m.weights.layers.at(layer);
  const c10::Device dev = p.devices.at(p.layer_device.at(layer));
  // A layer kept where it runs is used as it is (no copy; gradients reach it directly).
  bool on_dev = true;
  visit(master, [&](const at::Tensor& t) {
    on_dev = on_dev && t.device() == dev;
  });
  if (p.resident.at(layer) && on_dev) return std::shared_ptr<const LayerWeights>(std::shared_ptr<void>(), &master);
  const bool graph = needs_graph(master);
  auto count = [&](const Copy& c) {
    ++copies_;
    for_each_layer_tensor(*c.weights, [&](TensorRole, at::Tensor& t) { bytes_copied_ += t.nbytes(); });
  };
  if (graph) {  // a copy that carries autograd history is made for this use only
    Copy c = make_copy(master, dev);
    count(c);
    return c.weights;
  }
  if (p.resident.at(layer)) {
    auto it = resident_.find(layer);
    if (it == resident_.end() || !fresh(it->second, master)) {
      Copy c = make_copy(master, dev);
      count(c);
      it = resident_.insert_or_assign(layer, std::move(c)).first;
    }
    return it->second.weights;
  }
  if (slot_ && slot_->first == layer && fresh(slot_->second, master)) return slot_->second.weights;
  // Release the previous streamed layer before copying this one: with the prefetch in flight, at
  // most `slots` streamed layers are alive (its caller has let go of it by now).
  slot_.reset();
  Copy c;
  if (pending_layer_ == layer) {
    auto t0 = std::chrono::steady_clock::now();
    c = pending_.get();
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pending_layer_ = -1;
    if (!fresh(c, master)) c = make_copy(master, dev);  // edited since the prefetch started
  } else {
    if (pending_.valid()) {  // a prefetch nobody wants: finish it so its memory can go
      pending_.wait();
      pending_ = {};
      pending_layer_ = -1;
    }
    auto t0 = std::chrono::steady_clock::now();
    c = make_copy(master, dev);
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
#ifdef LOPPER_WITH_CUDA
  // The copy was made on the side stream: tell the allocator the compute stream uses it too, so its
  // memory is not handed out again before the kernels reading it have run.
  if (dev.is_cuda())
    for_each_layer_tensor(*c.weights, [&](TensorRole, at::Tensor& t) {
      t.record_stream(c10::cuda::getCurrentCUDAStream(dev.index()));
    });
#endif
  count(c);
  slot_.emplace(layer, c);
  return c.weights;
}

void LayerStream::prefetch(const Model& m, int layer) {
  const auto& p = placement(m);
  if (layer < 0 || layer >= static_cast<int>(p.resident.size()) || p.resident[layer] || p.slots < 2) return;
  const c10::Device dev = p.devices.at(p.layer_device.at(layer));
  // On CPU the "device" is host memory and a copy thread would take a core from the OpenMP threads
  // computing the current layer; the copy is made when the layer runs.
  if (!dev.is_cuda() || pending_layer_ == layer) return;
  const LayerWeights& master = m.weights.layers.at(layer);
  if (needs_graph(master)) return;
  if (slot_ && slot_->first == layer && fresh(slot_->second, master)) return;
  if (pending_.valid()) pending_.wait();
#ifdef LOPPER_WITH_CUDA
  const bool inference = c10::InferenceMode::is_enabled();
  LayerWeights snapshot = master;  // the worker holds the master tensors while it copies them
  pending_ = std::async(std::launch::async, [this, snapshot, dev, inference]() {
    c10::InferenceMode mode(inference);
    c10::NoGradGuard no_grad;
    auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, dev.index());
    c10::cuda::CUDAStreamGuard guard(side);
    Copy c = make_copy(snapshot, dev);
    side.synchronize();  // complete before the compute stream reads it
    return c;
  });
  pending_layer_ = layer;
#endif
}

nlohmann::json LayerStream::stats() const {
  nlohmann::json j = {{"layer_copies", copies_}, {"bytes_copied", bytes_copied_},
                      {"copy_wait_seconds", wait_seconds_}};
  if (placement_) j["placement"] = placement_->to_json();
  return j;
}

}  // namespace lopper
