#include "lopper/tasks/presets.h"

namespace lopper {

const std::vector<Preset>& known_presets() {
  static const std::vector<Preset> presets = {
      {"shortened-llama", "Shortened LLaMA (Kim et al. 2024), lm-eval 3326c54", Harness::V03, BosMode::Never,
       {{"boolq", "acc"}, {"piqa", "acc"}, {"hellaswag", "acc_norm"}, {"winogrande", "acc"}, {"arc_easy", "acc"},
        {"arc_challenge", "acc_norm"}, {"openbookqa", "acc_norm"}},
       {}},
      {"2ssp", "2SSP (Sandri et al. 2025), lm-eval 0.4.7", Harness::V04, BosMode::Never,
       {{"winogrande", "acc"}, {"arc_easy", "acc"}, {"arc_challenge", "acc"}, {"hellaswag", "acc"}, {"piqa", "acc"}},
       {"mmlu: no data file (lopper has no MMLU task)"}},
      {"wanda", "Wanda (Sun et al. 2024) and ATP, v0.3-era lm-eval", Harness::V03, BosMode::Never,
       {{"boolq", "acc"}, {"hellaswag", "acc"}, {"winogrande", "acc"}, {"arc_easy", "acc"}, {"arc_challenge", "acc"},
        {"openbookqa", "acc"}},
       {"rte: no data file in the zero-shot folder"}},
      {"sleb", "SLEB (Song et al. 2024), lm-eval 0.4.1", Harness::V04, BosMode::Never,
       {{"piqa", "acc_norm"}, {"winogrande", "acc"}, {"hellaswag", "acc_norm"}, {"arc_challenge", "acc_norm"},
        {"arc_easy", "acc_norm"}},
       {}},
      {"sprint", "SPRINT (IJCAI 2025), lm-eval 0.4.1", Harness::V04, BosMode::Never,
       {{"piqa", "acc_norm"}, {"hellaswag", "acc_norm"}, {"arc_challenge", "acc_norm"}, {"arc_easy", "acc_norm"},
        {"boolq", "acc"}},
       {}},
  };
  return presets;
}

const Preset* find_preset(std::string_view name) {
  for (const auto& p : known_presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::string known_preset_names() {
  std::string out;
  for (const auto& p : known_presets()) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

}  // namespace lopper
