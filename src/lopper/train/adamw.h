// AdamW (Loshchilov & Hutter; torch.optim.AdamW's update, step by step) on fp32 parameters, and the
// learning-rate schedule of transformers' get_linear_schedule_with_warmup.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lopper {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, AdamWOptions opts);
  // One update with learning rate `lr` from the parameters' .grad() (a parameter without a gradient
  // is skipped, as in PyTorch).
  void step(double lr);
  int64_t steps() const { return step_; }
  // Moments, for saving and resuming: exp_avg and exp_avg_sq per parameter, in parameter order.
  std::vector<at::Tensor>& exp_avg() { return m_; }
  std::vector<at::Tensor>& exp_avg_sq() { return v_; }
  void set_steps(int64_t n) { step_ = n; }

 private:
  std::vector<at::Tensor> params_, m_, v_;
  AdamWOptions opts_;
  int64_t step_ = 0;
};

// Learning rate of optimizer step `step` (0-based): linear warm-up from 0 over `warmup` steps, then
// linear decay to 0 at `total`.
double linear_warmup_decay(double lr, int64_t step, int64_t warmup, int64_t total);

// Scales the gradients so that their global L2 norm is at most max_norm (torch's clip_grad_norm_);
// returns the norm before clipping. max_norm <= 0: only measures.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace lopper
