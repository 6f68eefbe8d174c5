// The zero-shot options `lopper eval` and `lopper compare` share.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "lopper/eval/zeroshot.h"

namespace lopper::cli {

struct ZeroShotCliOptions {
  std::string tasks, bos, harness;
  int64_t limit = 0, max_length = 0;
  bool no_prefix_reuse = false;
  CLI::Option* limit_option = nullptr;

  void add(CLI::App* sub);
  // Fills `r` (tasks, settings, limit, scoring options) from what was given; `batch` is --batch.
  void apply(ZeroShotRequest& r, int64_t batch) const;
};

}  // namespace lopper::cli
