#include "lopper/train/grad_checkpoint.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "lopper/util/error.h"

namespace lopper {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  // Non-tensor arguments travel in saved_data as integers (IValue holds no raw pointers). The
  // arguments are h, model, layer, ctx, then the parameters: backward returns one gradient per argument.
  static constexpr size_t kFirstParam = 4;

  static variable_list forward(AutogradContext* actx, const at::Tensor& h, int64_t model_ptr, int64_t layer,
                               int64_t ctx_ptr, at::TensorList params) {
    actx->saved_data["model"] = model_ptr;
    actx->saved_data["layer"] = layer;
    // The caller's context may be gone when backward runs: keep what the layer needs to run again.
    auto* ctx = reinterpret_cast<ForwardContext*>(ctx_ptr);
    actx->saved_data["adapter"] = reinterpret_cast<int64_t>(ctx->adapter);
    actx->saved_data["taps"] = reinterpret_cast<int64_t>(ctx->taps);
    actx->saved_data["pos_offset"] = ctx->pos_offset;
    actx->saved_data["row_start"] = ctx->row_start;
    variable_list saved{h};
    saved.insert(saved.end(), params.begin(), params.end());
    actx->save_for_backward(saved);
    // Function::forward runs without grad mode: nothing of the layer is kept.
    const auto* model = reinterpret_cast<const Model*>(model_ptr);
    return {model->run_layer(static_cast<int>(layer), h, *ctx)};
  }

  static variable_list backward(AutogradContext* actx, variable_list grad_out) {
    const auto* model = reinterpret_cast<const Model*>(actx->saved_data["model"].toInt());
    ForwardContext ctx;
    ctx.adapter = reinterpret_cast<LinearAdapter*>(actx->saved_data["adapter"].toInt());
    ctx.taps = reinterpret_cast<TapHandler*>(actx->saved_data["taps"].toInt());
    ctx.pos_offset = actx->saved_data["pos_offset"].toInt();
    ctx.row_start = actx->saved_data["row_start"].toIntVector();
    const int layer = static_cast<int>(actx->saved_data["layer"].toInt());
    variable_list saved = actx->get_saved_variables();  // h, params...
    const bool h_needs_grad = saved[0].requires_grad();
    at::Tensor h = saved[0].detach().requires_grad_(h_needs_grad);
    at::Tensor out;
    {
      c10::AutoGradMode enable(true);
      out = model->run_layer(layer, h, ctx);  // the parameters enter again through ctx.adapter
    }
    variable_list grads_in(kFirstParam + saved.size() - 1);
    variable_list inputs;
    if (h_needs_grad) inputs.push_back(h);
    for (size_t i = 1; i < saved.size(); ++i)
      if (saved[i].requires_grad()) inputs.push_back(saved[i]);
    if (inputs.empty() || !out.requires_grad()) return grads_in;
    auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    size_t k = 0;
    if (h_needs_grad) grads_in[0] = grads[k++];
    for (size_t i = 1; i < saved.size(); ++i)
      if (saved[i].requires_grad()) grads_in[kFirstParam + i - 1] = grads[k++];
    return grads_in;
  }
};

}  // namespace

at::Tensor checkpointed_layer(const Model& model, int layer, const at::Tensor& h, ForwardContext& ctx,
                              const std::vector<at::Tensor>& params) {
  check(ctx.cache == nullptr, "gradient checkpointing runs without a KV cache");
  return CheckpointedLayer::apply(h, reinterpret_cast<int64_t>(&model), static_cast<int64_t>(layer),
                                  reinterpret_cast<int64_t>(&ctx), at::TensorList(params))[0];
}

}  // namespace lopper
