#include "lopper/prune/search/sublayers.h"

#include <fmt/format.h>

#include "lopper/model/weights.h"
#include "lopper/util/error.h"

namespace lopper {

std::string sublayer_label(int s) {
  return fmt::format("{} {}", sublayer_kind(s) == SublayerKind::Attention ? "attn" : "mlp", sublayer_layer(s));
}

int SublayerSet::count() const {
  int n = 0;
  for (char c : off_) n += c != 0;
  return n;
}

int SublayerSet::count(SublayerKind k) const {
  int n = 0;
  for (int s = static_cast<int>(k); s < size(); s += 2) n += off_[s] != 0;
  return n;
}

int SublayerSet::first_difference(const SublayerSet& other) const {
  check(size() == other.size(), "sublayer sets of different models compared");
  for (int s = 0; s < size(); ++s)
    if (off_[s] != other.off_[s]) return sublayer_layer(s);
  return num_layers();
}

std::vector<int> SublayerSet::removed_list() const {
  std::vector<int> out;
  for (int s = 0; s < size(); ++s)
    if (off_[s]) out.push_back(s);
  return out;
}

std::vector<bool> present_sublayers(const ModelConfig& c) {
  std::vector<bool> p(2 * c.layers.size());
  for (size_t l = 0; l < c.layers.size(); ++l) {
    p[2 * l] = c.layers[l].has_attn;
    p[2 * l + 1] = c.layers[l].has_mlp;
  }
  return p;
}

namespace {

bool is_attention_role(TensorRole r) {
  switch (r) {
    case TensorRole::AttnNorm: case TensorRole::Q: case TensorRole::K: case TensorRole::V: case TensorRole::O:
    case TensorRole::QBias: case TensorRole::KBias: case TensorRole::VBias: case TensorRole::OBias:
    case TensorRole::QNorm: case TensorRole::KNorm:
      return true;
    default:
      return false;
  }
}

// [2L] parameter counts, from the one list of tensors a config stores.
}  // namespace

std::vector<int64_t> sublayer_param_counts(const ModelConfig& c) {
  std::vector<int64_t> p(2 * c.layers.size(), 0);
  for_each_tensor(c, [&](const TensorSpec& t) {
    if (t.layer < 0) return;
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    p[2 * t.layer + (is_attention_role(t.role) ? 0 : 1)] += n;
  });
  return p;
}

int64_t decoder_params(const ModelConfig& c) {
  int64_t n = 0;
  for (auto v : sublayer_param_counts(c)) n += v;
  return n;
}

int64_t removed_params(const ModelConfig& c, const SublayerSet& removed) {
  auto p = sublayer_param_counts(c);
  int64_t n = 0;
  for (int s : removed.removed_list()) n += p.at(s);
  return n;
}

void add_removal_actions(PruningPlan& plan, const ModelConfig& c, const SublayerSet& removed) {
  check(removed.num_layers() == c.num_layers(), "removal set has {} layers, the model {}", removed.num_layers(),
        c.num_layers());
  auto present = present_sublayers(c);
  std::vector<int64_t> whole;
  for (int l = 0; l < c.num_layers(); ++l) {
    bool attn_gone = removed.attn_removed(l) || !present[2 * l];
    bool mlp_gone = removed.mlp_removed(l) || !present[2 * l + 1];
    if (attn_gone && mlp_gone) whole.push_back(l);
    else if (removed.attn_removed(l) && present[2 * l]) plan.actions.push_back({"remove_attention", l, {}});
    else if (removed.mlp_removed(l) && present[2 * l + 1]) plan.actions.push_back({"remove_mlp", l, {}});
  }
  if (!whole.empty()) plan.actions.push_back({"remove_layers", -1, whole});
}

nlohmann::json describe_removal(const ModelConfig& c, const SublayerSet& removed) {
  nlohmann::json attn = nlohmann::json::array(), mlp = nlohmann::json::array(), layers = nlohmann::json::array();
  auto present = present_sublayers(c);
  for (int l = 0; l < removed.num_layers(); ++l) {
    if (removed.attn_removed(l)) attn.push_back(l);
    if (removed.mlp_removed(l)) mlp.push_back(l);
    if ((removed.attn_removed(l) || !present[2 * l]) && (removed.mlp_removed(l) || !present[2 * l + 1]))
      layers.push_back(l);
  }
  return {{"attention", attn}, {"mlp", mlp}, {"layers", layers}};
}

}  // namespace lopper
