// FFN channel importance by activation norm (2SSP's first stage, FabrizioSandri/2SSP): channel j of a
// layer scores the mean over calibration samples of the L2 norm over tokens of down_proj's input
// channel j, measured on the model as given (one pass, not sequential). Shared by the 2ssp search
// method and the ffn-l2 width method.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "lopper/model/model.h"

namespace lopper {

// One score vector per layer ([F_l], fp64, CPU); undefined for layers without an MLP. ids [N, T].
std::vector<at::Tensor> ffn_importance(const Model& m, const at::Tensor& ids, int64_t micro_batch);

// Indices of the `keep` largest scores (ties: lower index), in ascending order. score [F] fp64.
std::vector<int64_t> top_channels(const at::Tensor& score, int64_t keep);

}  // namespace lopper
