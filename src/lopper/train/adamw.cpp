#include "lopper/train/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

namespace lopper {

AdamW::AdamW(std::vector<at::Tensor> params, AdamWOptions opts) : params_(std::move(params)), opts_(opts) {
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous).detach());
    v_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous).detach());
  }
}

void AdamW::step(double lr) {
  c10::NoGradGuard no_grad;
  ++step_;
  const double bc1 = 1 - std::pow(opts_.beta1, static_cast<double>(step_));
  const double bc2 = 1 - std::pow(opts_.beta2, static_cast<double>(step_));
  // Multi-tensor (foreach) ops: one kernel per operation for all parameters on CUDA, instead of one per
  // parameter (a LoRA on an 8B model has 448 parameter tensors).
  std::vector<at::Tensor> p, g, m, v;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    p.push_back(params_[i]);
    g.push_back(params_[i].grad());
    m.push_back(m_[i]);
    v.push_back(v_[i]);
  }
  if (p.empty()) return;
  if (opts_.weight_decay != 0) at::_foreach_mul_(p, 1 - lr * opts_.weight_decay);  // decoupled decay
  at::_foreach_mul_(m, opts_.beta1);
  at::_foreach_add_(m, g, 1 - opts_.beta1);
  at::_foreach_mul_(v, opts_.beta2);
  at::_foreach_addcmul_(v, g, g, 1 - opts_.beta2);
  auto denom = at::_foreach_sqrt(v);
  at::_foreach_div_(denom, std::sqrt(bc2));
  at::_foreach_add_(denom, opts_.eps);
  at::_foreach_addcdiv_(p, m, denom, -lr / bc1);
}

double linear_warmup_decay(double lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  return lr * std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0;
  // One device sync for the whole model, not one per parameter.
  auto norms = at::_foreach_norm(grads);
  for (auto& n : norms) n = n.to(at::kDouble);
  const double norm = at::stack(norms).norm().item<double>();
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1) at::_foreach_mul_(grads, coef);
  }
  return norm;
}

}  // namespace lopper
