// Named tap points in the forward pass. Calibration code observes (and may replace) hidden states
// there without the forward code knowing who listens.
//
//   LayerIn      residual stream entering decoder layer i          [B, T, C]
//   AttnIn       normalized input of q/k/v projections             [B, T, C]
//   AttnContext  attention output before o_proj (o_proj's input)   [B, T, H*D]
//   AttnOut      o_proj output, before the residual add            [B, T, C]
//   MlpIn        normalized input of gate/up projections           [B, T, C]
//   MlpAct       silu(gate) * up, down_proj's input                [B, T, F]
//   MlpOut       down_proj output, before the residual add         [B, T, C]
//   LayerOut     residual stream leaving layer i                   [B, T, C]
// Every Linear layer's input is one of AttnIn (q, k, v), AttnContext (o), MlpIn (gate, up), MlpAct (down).
#pragma once
#include <ATen/core/Tensor.h>

namespace lopper {

enum class Tap { LayerIn, AttnIn, AttnContext, AttnOut, MlpIn, MlpAct, MlpOut, LayerOut };

const char* tap_name(Tap t);

class TapHandler {
 public:
  virtual ~TapHandler() = default;
  // Asked before anything is computed for the tap; returning false keeps the hot path free.
  virtual bool wants(int layer, Tap tap) const = 0;
  // Called with the tensor at the tap; assigning to `x` replaces it downstream.
  virtual void on(int layer, Tap tap, at::Tensor& x) = 0;
};

}  // namespace lopper
