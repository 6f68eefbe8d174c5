// Sublayers as search methods see them: s = 2 * layer + (0 attention, 1 MLP), always indexed in the
// model the search started from. A SublayerSet says which of them are removed; removing one leaves
// the residual stream unchanged (the layer's output is its input plus the other sublayer's update).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"
#include "lopper/prune/plan.h"

namespace lopper {

enum class SublayerKind { Attention = 0, Mlp = 1 };

inline int sublayer_index(int layer, SublayerKind k) { return 2 * layer + static_cast<int>(k); }
inline int sublayer_layer(int s) { return s / 2; }
inline SublayerKind sublayer_kind(int s) { return s % 2 == 0 ? SublayerKind::Attention : SublayerKind::Mlp; }
// "attn 3" / "mlp 3"
std::string sublayer_label(int s);

class SublayerSet {
 public:
  SublayerSet() = default;
  explicit SublayerSet(int num_layers) : off_(2 * static_cast<size_t>(num_layers), 0) {}

  int num_layers() const { return static_cast<int>(off_.size() / 2); }
  int size() const { return static_cast<int>(off_.size()); }
  bool removed(int s) const { return off_.at(s) != 0; }
  void set(int s, bool removed = true) { off_.at(s) = removed ? 1 : 0; }
  void remove_block(int layer) { set(2 * layer), set(2 * layer + 1); }
  bool attn_removed(int layer) const { return removed(2 * layer); }
  bool mlp_removed(int layer) const { return removed(2 * layer + 1); }
  int count() const;
  int count(SublayerKind k) const;
  // The first layer whose sublayers differ between the two sets (num_layers() if none).
  int first_difference(const SublayerSet& other) const;
  std::vector<int> removed_list() const;
  bool operator==(const SublayerSet& o) const { return off_ == o.off_; }
  bool operator<(const SublayerSet& o) const { return off_ < o.off_; }

 private:
  std::vector<char> off_;
};

// Sublayers the model has (a loaded model may already lack some): present[s].
std::vector<bool> present_sublayers(const ModelConfig& c);

// Parameters of every sublayer ([2L]): attention = input_layernorm + q/k/v/o (+ biases, q/k norms);
// MLP = post_attention_layernorm + gate/up/down (+ biases). A layer's two sublayers sum to its
// parameters.
std::vector<int64_t> sublayer_param_counts(const ModelConfig& c);
// All decoder-layer parameters (the denominator of --ratio).
int64_t decoder_params(const ModelConfig& c);
// Parameters removed by `removed` (sublayers the model lacks already count zero).
int64_t removed_params(const ModelConfig& c, const SublayerSet& removed);

// Plan actions for a set of removed sublayers: a layer that loses both (or its only remaining one)
// is removed whole, other removals are remove_attention / remove_mlp.
void add_removal_actions(PruningPlan& plan, const ModelConfig& c, const SublayerSet& removed);

// {"attention": [layers], "mlp": [layers], "layers": [layers removed whole]}
nlohmann::json describe_removal(const ModelConfig& c, const SublayerSet& removed);

}  // namespace lopper
