// SPRINT's latency table (compression_utils.py get_latencies): how long one attention and one MLP
// sublayer take, measured end to end on the device lopper runs on.
//
//   n  = int(0.25 L) layers: L-2, L-3, ..., L-1-n (the last n layers before the final one; in a model
//        that already lacks sublayers, the last n before the final one that have both)
//   T1 = the model as it is, T2 = without those layers' MLPs, T3 = without their attentions
//   attention = (T1 - T3) / n, MLP = (T1 - T2) / n
//
// The three models are timed in interleaved rounds (eval/latency.h). A non-positive difference is
// timing noise swamping the sublayers (a tiny model, a busy machine): it is never used as is; the
// latency is floored at 5% of the mean per-sublayer time T1 / (2L) and a warning says so.
//
// Tables are cached: `--latency FILE` reads the table in FILE if it exists (it must have been
// measured on this device, for this model's shape and dtype, with these settings; anything else is
// an error naming the difference) and otherwise measures and writes it there. Without --latency the
// per-user cache ($LOPPER_CACHE_DIR, else $XDG_CACHE_HOME/lopper, else ~/.cache/lopper;
// latency.json) holds one table per key and a missing key is measured.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/eval/latency.h"
#include "lopper/model/model.h"
#include "lopper/prune/search/sublayers.h"

namespace lopper {

struct SublayerLatency {
  double attn_s = 0, mlp_s = 0;        // per sublayer
  double t1_s = 0, t2_s = 0, t3_s = 0;
  std::vector<int> layers;             // the n layers whose sublayers T2 / T3 lack
  std::vector<std::string> warnings;   // floored latencies
  nlohmann::json key;                  // device, model shape, settings
  LatencySettings settings;
  std::string source;                  // "measured" or the file it came from

  double of(int sublayer) const { return sublayer % 2 == 0 ? attn_s : mlp_s; }
  nlohmann::json to_json() const;
};

// The predicted speedup of removing `removed`: the summed latency of the sublayers the model has
// (`present`) over that of the ones left (infinite when none is left).
double predicted_speedup(const SublayerLatency& t, const std::vector<bool>& present, const SublayerSet& removed);

// The present sublayers, cheapest first (ties to the lower index). Removing them in this order takes
// the most steps to any target; keeping only the first gives the largest reachable speedup.
std::vector<int> cheapest_first(const SublayerLatency& t, const std::vector<bool>& present);

// The key a table for this model and these settings must carry.
nlohmann::json latency_key(const Model& m, const LatencySettings& s);

// Reads, or measures and stores, the table (see above). `file` empty: the per-user cache.
SublayerLatency sublayer_latency(const Model& m, const LatencySettings& s, const std::filesystem::path& file);

// Measures the table (no files).
SublayerLatency measure_sublayer_latency(const Model& m, const LatencySettings& s);

}  // namespace lopper
