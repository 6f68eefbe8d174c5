// Task sets of the papers lopper replaces, with the metric each paper reports per task and the
// lm-eval version (rules, BOS) it used. Sources are in docs/zeroshot.md.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "lopper/tasks/request_tokens.h"
#include "lopper/tasks/task.h"

namespace lopper {

struct PresetTask {
  std::string_view task, metric;
};

struct Preset {
  std::string_view name;
  std::string_view paper;
  Harness harness;
  BosMode bos;                      // what that lm-eval version did for Llama tokenizers
  std::vector<PresetTask> tasks;    // averaged with equal weight
  std::vector<std::string_view> left_out;  // tasks of the paper lopper cannot run, with the reason
};

const std::vector<Preset>& known_presets();
const Preset* find_preset(std::string_view name);
std::string known_preset_names();

}  // namespace lopper
