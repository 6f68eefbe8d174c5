// 2SSP's balancing formula (FabrizioSandri/2SSP, src/pruning.py two_stage_2ssp), on shapes alone:
// how many attention sublayers to remove and how many FFN channels every layer keeps for a target
// sparsity s of the decoder-layer parameters.
//   P_attn, P_mlp: one layer's self_attn and mlp parameters (projections and biases; Qwen3's q/k
//                  norms belong to self_attn); the two RMSNorms are in neither.
//   P_total:       all decoder-layer parameters, norms included.
//   N_attn = round(L * s^((P_mlp / P_attn) / alpha))
//   target = int(round(s * P_total)); m = int(round((target - N_attn * P_attn) / L))
//   keep   = int(round(d_ff * (1 - m / P_mlp)))
// round() is Python's (halves to even). The reference refuses a target when N_attn * P_attn / P_total
// > s (too much removed by attention alone) or (N_attn * P_attn + L * P_mlp) / P_total < s (the
// MLPs cannot make up the rest); so does lopper, with the numbers.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"

namespace lopper {

struct TwoSspFormula {
  int64_t p_attn = 0, p_mlp = 0, p_total = 0;
  int num_layers = 0;
  int n_attn = 0;           // attention sublayers to remove
  int64_t target = 0;       // parameters to remove
  int64_t mlp_per_layer = 0;  // m: parameters removed from every MLP
  double rate = 0;          // m / P_mlp
  int64_t d_ff = 0;
  int64_t keep = 0;         // FFN channels kept per layer
  double attn_fraction = 0;   // N_attn * P_attn / P_total (check 1: <= s)
  double max_fraction = 0;    // (N_attn * P_attn + L * P_mlp) / P_total (check 2: >= s)
  nlohmann::json to_json() const;
};

// Throws InputError when the model's layers differ in shape or the reference's checks fail.
TwoSspFormula twossp_formula(const ModelConfig& c, double sparsity, double alpha = 1.5);

}  // namespace lopper
