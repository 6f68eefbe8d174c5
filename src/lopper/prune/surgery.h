// Structural edits of a loaded model. Each keeps config and weights consistent, so the result can
// run, be measured and be saved. Scoring and planning decide *what* to remove; these only do it.
#pragma once
#include <vector>

#include "lopper/model/model.h"

namespace lopper {

// Removes whole decoder layers (indices into the current model); the rest are renumbered.
void remove_layers(Model& m, std::vector<int> layers);
// Removes one sublayer (norm + projections) of a layer; the residual stream passes through.
void remove_attention(Model& m, int layer);
void remove_mlp(Model& m, int layer);
// Keeps only the given FFN channels (rows of gate/up, columns of down) of a layer, in that order.
void keep_mlp_channels(Model& m, int layer, const std::vector<int64_t>& channels);
// Keeps only the given KV groups of a layer (each group: one k/v head and its query heads).
void keep_kv_groups(Model& m, int layer, const std::vector<int64_t>& groups);

}  // namespace lopper
