// Calibration samples: token windows drawn from a dataset or user file (random GPTQ-style windows or
// consecutive 2SSP-style chunks, deterministic for a seed), as one [N, L] batch of ids.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "lopper/data/windows.h"

namespace lopper {

class Tokenizer;

struct CalibOptions {
  std::string dataset;             // named dataset or a file; required (no default on purpose)
  int64_t nsamples = 128;
  int64_t seqlen = 0;              // 0: min(model context, 2048)
  uint64_t seed = 0;
  Sampler sampler = Sampler::Random;
  std::filesystem::path data_dir;  // --data-dir
  nlohmann::json to_json() const;
};

struct CalibData {
  at::Tensor ids;                  // [N, L] int64, CPU
  std::vector<int64_t> starts;     // window offsets in the tokenized text
  int64_t text_tokens = 0;         // tokens in the whole tokenized text
  bool eval_split = false;         // calibrating on an evaluation split (a warning was printed)
};

// Tokenizes the dataset and cuts the windows. Prints a warning on stderr when the data is an
// evaluation split (selection on the test set inflates results).
CalibData load_calibration(const Tokenizer& tok, CalibOptions opts, int64_t model_context);

// Prints the one-line calibration summary to stdout and returns the report's "calibration" section
// (the options, the resolved seqlen, the text's token count, the evaluation-split warning).
nlohmann::json report_calibration(const CalibOptions& opts, const CalibData& data);

}  // namespace lopper
