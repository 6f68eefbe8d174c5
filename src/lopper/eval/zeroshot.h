// `lopper eval --tasks`: zero-shot accuracy with lm-eval's rules (docs/zeroshot.md) on named tasks,
// paper presets, name=FILE overrides and user task files.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/eval/loglikelihood.h"
#include "lopper/model/model.h"
#include "lopper/tasks/request_tokens.h"
#include "lopper/tasks/task.h"
#include "lopper/tokenizer/tokenizer.h"

namespace lopper {

struct ZeroShotRequest {
  std::vector<std::string> tasks;  // task names, preset names, name=FILE, or paths of user task files
  // Unset: what the requested presets' papers used when they all agree, else the current lm-eval
  // behaviour (BOS as the tokenizer decides, v0.4 rules).
  std::optional<BosMode> bos;
  std::optional<Harness> harness;
  std::optional<int64_t> limit;  // the first N documents of each task (N >= 1)
  LoglikelihoodOptions ll;
  std::filesystem::path data_dir;
};

// Parses "v0.3" / "v0.4" (also "0.3", "0.4").
Harness parse_harness(const std::string& s);

struct Preset;

// The request resolved: presets expanded, settings chosen, every task file loaded and checked (so
// that bad input is reported before the model runs).
struct PreparedTasks {
  std::vector<TaskData> tasks;
  std::vector<const Preset*> presets;
  BosMode bos = BosMode::Auto;
  Harness harness = Harness::V04;
  std::string bos_source, harness_source;  // why these settings (option, preset, default)
  std::optional<int64_t> limit;
  LoglikelihoodOptions ll;
};
PreparedTasks prepare_zeroshot(const ZeroShotRequest& req);

// Scores every task, prints the result table to stdout and returns {"tasks": {<task>: {acc,
// acc_stderr, acc_norm, acc_norm_stderr, perplexity, n, ...}}, "presets": {<preset>: {tasks,
// average, average_stderr, left_out, ...}}, "zeroshot": {settings}}.
nlohmann::json run_zeroshot(const Model& model, const Tokenizer& tok, const PreparedTasks& prepared);

}  // namespace lopper
