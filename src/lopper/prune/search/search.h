// Iterative search methods: try candidates (a block or one attention / MLP sublayer removed),
// measure the damage on calibration data with the CandidateEngine, keep the best, repeat. One method
// per file (search_<name>.cpp) behind this interface. A method returns the removal set (plus FFN
// channels for 2ssp) and its steps; prune_command turns that into a plan.
//
// Resuming: after every completed step the method calls on_step with its steps so far, which the
// prune command writes into the report (--json). Given those back (--resume REPORT), a method replays
// the recorded steps and continues, so the final choice is that of an uninterrupted run.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/eval/latency.h"
#include "lopper/model/model.h"
#include "lopper/prune/search/candidate_engine.h"
#include "lopper/prune/search/sublayers.h"

namespace lopper {

// SPRINT (search_sprint.cpp); its sublayer target is SearchOptions::remove.
struct SprintOptions {
  std::optional<double> target_speedup;  // stop when the predicted speedup reaches this
  std::string sensitivity = "l2_sentence";  // metrics, comma-separated (sprint_scores.h)
  bool latency_aware = true;             // score / latency of the sublayer's type
  bool tuning = true;                    // stage 2: least-squares refit of the next MLP's down_proj
  int candidates = 5;                    // stage-1 best re-scored with refits
  double tuning_ratio = 1.0;             // fraction of down_proj rows re-fitted
  std::string tuning_dtype = "f32";      // f32 | f64 sums and solve
  double damping = 0;
  int checkpoints = 8;                   // cached layer boundaries besides the embedding (-1: all)
  LatencySettings latency;
  std::filesystem::path latency_file;    // --latency FILE (empty: the per-user cache)
};

struct SearchOptions {
  std::optional<int> remove;        // blocks (sleb) or sublayers (blockpruner); evopress: k of each type
  std::optional<double> ratio;      // fraction of decoder-layer parameters
  std::optional<double> sparsity;   // 2ssp target
  int barrier_first = 1;            // sleb: the first / last remaining blocks are never candidates
  int barrier_last = 1;
  std::string variant;              // blockpruner: "" (free competition) | "2ssp-baseline"
  int64_t search_samples = 0;       // calibration samples used to score candidates (0: method default)
  double alpha = 1.5;               // 2ssp balance exponent
  // evopress
  int initial = 64;                 // random candidates scored first
  int offspring = 32;               // per generation
  int max_mutations = 3;            // flips = min(U{1..m}, U{1..m})
  std::optional<int> generations;   // default int(k (L - k) / 1.5)
  int64_t initial_tokens = 2048;
  std::vector<int64_t> stage_tokens{2048, 32768};
  std::vector<int> stage_keep{2, 1};
  uint64_t seed = 0;
  std::string metric = "kl";        // evopress fitness: kl | nll
  EngineOptions engine;
  SprintOptions sprint;
  bool full_scores = false;         // score every candidate in full (no bounded evaluation)
  nlohmann::json resume_steps;      // steps of an earlier run (validated by resumed_steps); null: fresh
  std::function<void(const nlohmann::json& steps)> on_step;  // after every completed step
};

struct SearchResult {
  SublayerSet removed;                                // sublayers of the input model
  std::map<int, std::vector<int64_t>> keep_channels;  // 2ssp: FFN channels kept per layer
  nlohmann::json steps = nlohmann::json::array();
  nlohmann::json details = nlohmann::json::object();
  std::map<int, at::Tensor> down_proj;                // sprint: re-fitted down_proj weights by layer
  nlohmann::json engine;                              // CandidateEngine::report()
  std::string unit;                                   // "blocks" | "sublayers"
};

class SearchMethod {
 public:
  virtual ~SearchMethod() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Options that change the choice (recorded in the report; --resume must match them).
  virtual nlohmann::json settings(const SearchOptions& o) const = 0;
  // Refuses impossible targets and bad options before any work (run() checks them too).
  virtual void validate(const Model& model, const SearchOptions& o) const = 0;
  virtual SearchResult run(const Model& model, const CalibData& calib, const SearchOptions& o) const = 0;
};

std::unique_ptr<SearchMethod> make_search_method(const std::string& name);
std::vector<std::string> search_method_names();
bool is_search_method(const std::string& name);

// The prefix of the resumed steps (empty when not resuming). Throws when `resume` was made by
// another method, for another model, or with other settings.
nlohmann::json resumed_steps(const nlohmann::json& resume, const std::string& method, const Model& m,
                             const nlohmann::json& settings);
// The search state reported after each step ("search" section of the report).
nlohmann::json search_state(const std::string& method, const Model& m, const nlohmann::json& settings,
                            const nlohmann::json& steps, bool complete);

// The first n calibration samples (all when n == 0): the rows that score candidates.
at::Tensor rows_of(const CalibData& calib, int64_t n);

// When to stop removing: --remove N units, or --ratio R of decoder parameters (the first step at
// which the removed fraction reaches R).
struct RemovalTarget {
  std::optional<int> units;
  std::optional<double> ratio;
  int64_t decoder_params = 0;
  bool reached(const ModelConfig& c, const SublayerSet& removed, int units_removed) const;
  // Steps the search will take at most (for the progress ETA): the units, or for a ratio the count
  // of the smallest candidate units (parameters each) whose sum reaches it.
  int max_steps(std::vector<int64_t> unit_params) const;
};
RemovalTarget removal_target(const ModelConfig& c, const SearchOptions& o, const std::string& unit);

}  // namespace lopper
