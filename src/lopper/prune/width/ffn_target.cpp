#include "lopper/prune/width/ffn_target.h"

#include <fmt/format.h>

#include "lopper/model/weights.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

bool is_ffn_role(TensorRole r) {
  return r == TensorRole::Gate || r == TensorRole::Up || r == TensorRole::Down || r == TensorRole::GateBias ||
         r == TensorRole::UpBias || r == TensorRole::DownBias;
}

int64_t ffn_params(const ModelConfig& c) {
  int64_t n = 0;
  for_each_tensor(c, [&](const TensorSpec& s) {
    if (!is_ffn_role(s.role)) return;
    int64_t k = 1;
    for (auto d : s.shape) k *= d;
    n += k;
  });
  return n;
}

}  // namespace

nlohmann::json FfnTarget::to_json() const {
  return {{"ffn_ratio", ratio}, {"decoder_params", decoder_params}, {"ffn_params", ffn_params}};
}

FfnTarget ffn_target(const ModelConfig& c, const WidthOptions& o) {
  FfnTarget t;
  for (auto n : count_params(c).per_layer) t.decoder_params += n;
  t.ffn_params = ffn_params(c);
  check(t.ffn_params > 0, "the model has no MLP: FFN-channel pruning has nothing to prune");
  if (o.ratio) {
    t.ratio = *o.ratio;
    return t;
  }
  check(o.params.has_value(), "internal: an FFN target needs --ratio or --params");
  const double share = static_cast<double>(t.ffn_params) / static_cast<double>(t.decoder_params);
  t.ratio = *o.params / share;
  check(t.ratio < 1.0,
        "--params {} cannot be reached by removing FFN channels: the FFNs hold only {:.1f}% of the decoder-layer "
        "parameters", *o.params, 100.0 * share);
  return t;
}

void check_ffn_width_options(const ModelConfig& c, const WidthOptions& o, const std::string& method) {
  check_width_target(o, method);
  check(o.allocation == "uniform", "--allocation {} applies to --method heads; --method {} removes the same "
        "fraction of FFN channels in every layer", o.allocation, method);
  check(!o.refit, "--refit applies to --method heads, not {}", method);
  check(o.micro_batch >= 1, "--micro-batch {} must be at least 1", o.micro_batch);
  bool any_mlp = false;
  for (int l = 0; l < c.num_layers(); ++l) {
    const auto& s = c.layers[l];
    if (!s.has_mlp) continue;
    any_mlp = true;
    check(ffn_align(o) <= s.intermediate_size, "--align {} is larger than layer {}'s FFN width ({})", ffn_align(o),
          l, s.intermediate_size);
  }
  check(any_mlp, "--method {} prunes FFN channels, but the model has no MLP", method);
  ffn_target(c, o);  // --params reachable
}

int64_t ffn_keep(int layer, int64_t d_ff, const FfnTarget& t, const WidthOptions& o) {
  return aligned_keep(d_ff, t.ratio, ffn_align(o), fmt::format("layer {}'s FFN width", layer));
}

}  // namespace lopper
