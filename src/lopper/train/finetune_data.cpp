// Reading and tokenizing fine-tuning data (Alpaca JSON / JSON Lines, plain text).
#include "lopper/train/finetune_data.h"

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

std::string string_field(const nlohmann::json& row, const char* key, bool required, const std::string& where) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) {
    check(!required, "{}: missing \"{}\"", where, key);
    return "";
  }
  check(it->is_string(), "{}: \"{}\" must be a string, got {}", where, key, it->type_name());
  return it->get<std::string>();
}

std::vector<int64_t> encode64(const Tokenizer& tok, const std::string& text) {
  auto ids = tok.encode(text, true);
  return {ids.begin(), ids.end()};
}

TrainExample alpaca_example(const nlohmann::json& row, const std::string& where, const Tokenizer& tok,
                            const FinetuneDataOptions& opts) {
  check(row.is_object(), "{}: expected a JSON object with \"instruction\" and \"output\", got {}", where,
        row.type_name());
  const std::string instruction = string_field(row, "instruction", true, where);
  const std::string input = string_field(row, "input", false, where);
  const std::string output = string_field(row, "output", true, where);
  const std::string prompt = alpaca_prompt(instruction, input);
  TrainExample ex;
  ex.ids = encode64(tok, prompt + output);
  const auto cutoff = static_cast<size_t>(opts.cutoff_len);
  if (ex.ids.size() > cutoff) ex.ids.resize(cutoff);
  // alpaca-lora: EOS unless the sequence was cut (or already ends with it).
  if (auto eos = tok.eos_id(); eos && ex.ids.size() < cutoff && (ex.ids.empty() || ex.ids.back() != *eos))
    ex.ids.push_back(*eos);
  ex.labels = ex.ids;
  if (!opts.train_on_inputs) {
    const size_t prompt_len = std::min(encode64(tok, prompt).size(), ex.labels.size());
    std::fill(ex.labels.begin(), ex.labels.begin() + static_cast<std::ptrdiff_t>(prompt_len), kIgnoreLabel);
  }
  return ex;
}

std::vector<TrainExample> load_alpaca(const std::filesystem::path& path, const std::string& text, const Tokenizer& tok,
                                      const FinetuneDataOptions& opts) {
  std::vector<TrainExample> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json rows;
    try {
      rows = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON ({})", path.string(), e.what());
    }
    for (size_t i = 0; i < rows.size(); ++i)
      out.push_back(alpaca_example(rows[i], fmt::format("{}: item {}", path.string(), i + 1), tok, opts));
    return out;
  }
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path.string(), line_no);
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON ({})", where, e.what());
    }
    out.push_back(alpaca_example(row, where, tok, opts));
  }
  return out;
}

std::vector<TrainExample> load_text(const std::string& text, const Tokenizer& tok, const FinetuneDataOptions& opts) {
  std::vector<int64_t> ids = encode64(tok, text);
  std::vector<TrainExample> out;
  for (size_t start = 0; start + 1 < ids.size(); start += static_cast<size_t>(opts.cutoff_len)) {
    const size_t end = std::min(ids.size(), start + static_cast<size_t>(opts.cutoff_len));
    TrainExample ex;
    ex.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.begin() + static_cast<std::ptrdiff_t>(end));
    ex.labels = ex.ids;
    if (ex.ids.size() >= 2) out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace

std::string alpaca_prompt(const std::string& instruction, const std::string& input) {
  if (input.empty())
    return "Below is an instruction that describes a task. Write a response that appropriately completes the "
           "request.\n\n### Instruction:\n" + instruction + "\n\n### Response:\n";
  return "Below is an instruction that describes a task, paired with an input that provides further context. "
         "Write a response that appropriately completes the request.\n\n### Instruction:\n" +
         instruction + "\n\n### Input:\n" + input + "\n\n### Response:\n";
}

std::vector<TrainExample> load_finetune_data(const std::filesystem::path& path, const Tokenizer& tok,
                                             const FinetuneDataOptions& opts) {
  check(opts.cutoff_len >= 2, "--cutoff-len must be at least 2, got {}", opts.cutoff_len);
  std::string format = opts.format;
  if (format == "auto") {
    const std::string ext = path.extension().string();
    format = (ext == ".json" || ext == ".jsonl") ? "alpaca" : "text";
  }
  check(format == "alpaca" || format == "text", "--data-format must be auto, alpaca or text, got \"{}\"", opts.format);
  const std::string text = read_file(path);
  auto out = format == "alpaca" ? load_alpaca(path, text, tok, opts) : load_text(text, tok, opts);
  check(!out.empty(), "{}: no training examples (empty file?)", path.string());
  return out;
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::pair<std::vector<TrainExample>, std::vector<TrainExample>> split_validation(std::vector<TrainExample> examples,
                                                                               int64_t val_size, uint64_t seed) {
  const auto n = static_cast<int64_t>(examples.size());
  check(val_size >= 0, "--val-size must be >= 0, got {}", val_size);
  check(val_size < n, "--val-size {} leaves nothing to train on: the data has {} examples (lower --val-size)", val_size,
        n);
  std::vector<TrainExample> train, val;
  auto perm = seeded_permutation(n, seed);
  for (int64_t k = 0; k < n; ++k) {
    auto& ex = examples[static_cast<size_t>(perm[static_cast<size_t>(k)])];
    (k < val_size ? val : train).push_back(std::move(ex));
  }
  return {std::move(train), std::move(val)};
}

}  // namespace lopper
