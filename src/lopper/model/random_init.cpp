#include "lopper/model/random_init.h"

#include "lopper/model/cpu_threads.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace lopper {

namespace {

bool is_norm(TensorRole r) {
  return r == TensorRole::FinalNorm || r == TensorRole::AttnNorm || r == TensorRole::MlpNorm ||
         r == TensorRole::QNorm || r == TensorRole::KNorm;
}

}  // namespace

Model random_model(const ModelConfig& config, const LoadOptions& opts, uint64_t seed, double stddev) {
  c10::InferenceMode guard;
  Model m;
  m.config = config;
  m.device = parse_device(opts.device);
  m.dtype = parse_dtype(opts.dtype, m.device);
  if (m.device.is_cpu()) configure_cpu_threads();
  m.weights = make_structure(config);
  auto topts = at::TensorOptions().device(m.device).dtype(m.dtype);
  // A generator of the target device keeps an 8B model's init on the GPU (seconds, not minutes).
  at::manual_seed(seed);
  for_each_tensor(config, [&](const TensorSpec& s) {
    at::Tensor& t = tensor_slot(m.weights, s);
    if (is_norm(s.role))
      t = at::ones(s.shape, topts);
    else if (s.role == TensorRole::Embed || s.role == TensorRole::LmHead || is_linear_weight(s.role) ||
             s.role == TensorRole::AttnShortcut || s.role == TensorRole::MlpShortcut)
      t = at::empty(s.shape, topts).normal_(0.0, stddev);
    else
      t = at::zeros(s.shape, topts);  // biases
  });
  if (config.tie_word_embeddings) m.weights.lm_head = m.weights.embed;
  return m;
}

}  // namespace lopper
