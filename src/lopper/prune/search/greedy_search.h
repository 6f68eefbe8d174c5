// The greedy loop shared by SLEB, BlockPruner and 2SSP's second stage: at every step, list the
// candidates for the current removal set, score them all with the engine (greedy_step), remove the
// best, record the step, stop at the target. Replays resumed steps first.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/prune/search/search.h"

namespace lopper {

// One greedy step: every candidate group (sublayers removed together) is added to `current` and
// scored; the lowest score wins, ties to the earlier candidate in list order. Candidates are
// evaluated in `order` (positions into `groups`, best-first guesses) with bounded evaluation unless
// `full`; the result's scores are null for candidates stopped early.
struct GreedyStep {
  int best = -1;                      // position in groups
  double best_score = 0;
  std::vector<std::optional<double>> scores;
};
GreedyStep greedy_step(CandidateEngine& engine, const SublayerSet& current, const std::vector<std::vector<int>>& groups,
                       const std::vector<RowSpan>& rows, const std::vector<int>& order, bool full);

// Evaluation order for the next step: by the previous step's scores (known ones first, ascending),
// the rest in list order. `prev` maps a candidate key to its score.
std::vector<int> order_by_previous(const std::vector<int>& keys, const std::map<int, double>& prev);

struct GreedyCandidates {
  std::vector<std::vector<int>> groups;  // sublayers removed together, in tie-break order
  std::vector<std::string> labels;       // "block 5", "attn 3", ...
};

struct GreedySpec {
  std::string label;                     // progress label
  // Candidates for the current set at step `step` (0-based).
  std::function<GreedyCandidates(const SublayerSet& current, int step)> candidates;
  // Whether the target is met after `steps` steps with `current` removed.
  std::function<bool(const SublayerSet& current, int steps)> done;
  std::vector<RowSpan> rows;             // calibration rows that score candidates
  int expected_steps = 0;                // for the progress ETA (0: unknown)
};

// Runs from `start` (already removed; the engine's base is set to it) and returns the final set;
// appends one JSON record per step to `steps`.
SublayerSet run_greedy(CandidateEngine& engine, const SublayerSet& start, const GreedySpec& spec,
                       const SearchOptions& o, nlohmann::json& steps);

}  // namespace lopper
