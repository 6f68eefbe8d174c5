// Fine-tuning data: Alpaca-style instruction files and plain text, tokenized into examples with
// per-token labels (-100: no loss), following alpaca-lora's finetune.py (Shortened LLaMA's recipe):
//   prompt = the Alpaca template filled with instruction (and input), full = prompt + output;
//   ids = BOS + encode(full) cut to cutoff_len, plus EOS when it was not cut;
//   labels = ids, with the prompt's tokens set to -100 unless train_on_inputs.
// Plain text is encoded as one sequence (BOS first) and cut into cutoff_len windows, every token a label.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lopper {

class Tokenizer;

constexpr int64_t kIgnoreLabel = -100;

struct TrainExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;  // same length as ids; kIgnoreLabel for tokens without loss
};

struct FinetuneDataOptions {
  std::string format = "auto";  // auto (.json/.jsonl: alpaca, else text) | alpaca | text
  int64_t cutoff_len = 256;
  bool train_on_inputs = false;
};

// The Alpaca prompt (alpaca-lora's templates/alpaca.json) for an instruction and optional input.
std::string alpaca_prompt(const std::string& instruction, const std::string& input);

// Reads and tokenizes a data file. Alpaca data is JSON Lines (one object per line) or one JSON array
// (alpaca_data_cleaned.json); each row needs string "instruction" and "output", and "input" is an
// optional string. InputError naming the file and line (or array item) for a malformed row.
std::vector<TrainExample> load_finetune_data(const std::filesystem::path& path, const Tokenizer& tok,
                                             const FinetuneDataOptions& opts);

// Splits off `val_size` examples (a seeded shuffle, as datasets' train_test_split) for validation;
// returns {train, val}. InputError when nothing would be left to train on.
std::pair<std::vector<TrainExample>, std::vector<TrainExample>> split_validation(std::vector<TrainExample> examples,
                                                                               int64_t val_size, uint64_t seed);

// Fisher-Yates shuffle of 0..n-1 with a 64-bit Mersenne Twister: the same order on every platform.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

}  // namespace lopper
