// What osscar and ffn-l2 share: the checks of their options and the FFN removal ratio a target
// means. Both remove the same fraction r of FFN channels in every layer that has an MLP; --params R
// (fraction of decoder-layer parameters) becomes r = R * P_decoder / P_ffn, where P_ffn counts the
// gate / up / down weights and biases of those layers (FFN channels are the only thing removed, so
// the FFNs must hold more than R of the decoder parameters).
#pragma once
#include <cstdint>
#include <string>

#include "lopper/model/config.h"
#include "lopper/prune/width/width.h"

namespace lopper {

// --align default of the FFN-channel methods (Quark's multiple of 128).
constexpr int64_t kFfnDefaultAlign = 128;
inline int64_t ffn_align(const WidthOptions& o) { return o.align_or(kFfnDefaultAlign); }

struct FfnTarget {
  double ratio = 0;            // fraction of every layer's FFN channels removed
  int64_t decoder_params = 0;  // parameters of all decoder layers
  int64_t ffn_params = 0;      // gate / up / down weights and biases of all layers with an MLP
  nlohmann::json to_json() const;
};

// The FFN ratio for --ratio or --params; InputError when --params asks for more than the FFNs hold.
FfnTarget ffn_target(const ModelConfig& c, const WidthOptions& o);

// The validation shared by the FFN-channel methods: the target (check_width_target), no head-only
// options (--allocation other than uniform, --refit), a model with at least one MLP, --align no
// larger than any layer's FFN width, and a --params target the FFNs can meet.
void check_ffn_width_options(const ModelConfig& c, const WidthOptions& o, const std::string& method);

// Channels kept in layer `layer` of width `d_ff` for the target: aligned_keep with the error naming
// the layer, with --align or its default.
int64_t ffn_keep(int layer, int64_t d_ff, const FfnTarget& t, const WidthOptions& o);

}  // namespace lopper
