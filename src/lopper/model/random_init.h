// Models with random weights, for timing a shape without downloading it (e.g. a Llama-3-8B-shaped
// model on a GPU) and for tests that need a structure rather than trained weights.
#pragma once
#include <cstdint>

#include "lopper/model/model.h"

namespace lopper {

// Every tensor for_each_tensor lists is created directly on the target device in the target dtype:
// linear and embedding weights ~ N(0, std^2) (transformers' initializer_range, 0.02 by default),
// norms = 1, biases = 0. Deterministic for a given seed on a given device.
Model random_model(const ModelConfig& config, const LoadOptions& opts, uint64_t seed = 0, double stddev = 0.02);

}  // namespace lopper
