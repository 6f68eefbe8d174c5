// `lopper eval`: perplexity of a model on named datasets or user files, as a report.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/data/datasets.h"
#include "lopper/eval/perplexity.h"
#include "lopper/eval/zeroshot.h"
#include "lopper/model/model.h"

namespace lopper {

class Tokenizer;

struct EvalRequest {
  std::vector<std::string> ppl_datasets;  // names or files
  PerplexityOptions ppl;
  std::filesystem::path data_dir;
  ZeroShotRequest zeroshot;  // zero-shot tasks (none when zeroshot.tasks is empty); its data_dir is set from data_dir
};

// Evaluates every requested dataset and task (all inputs are loaded and checked first); the JSON
// is {"ppl": {<dataset>: PerplexityResult::to_json()}} plus run_zeroshot()'s keys when tasks were
// asked for. Prints one result line per dataset and the task table to stdout.
nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalRequest& req);

// The same in two steps, so that every dataset and task file is read and checked before a model
// is loaded.
struct EvalInputs {
  std::vector<DatasetText> texts;
  PerplexityOptions ppl;
  std::optional<PreparedTasks> tasks;
};
EvalInputs prepare_eval(const EvalRequest& req);
nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalInputs& inputs);

// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);
// Parses "1,8,64" as integers; InputError naming `option` for an item that is not one.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option);

}  // namespace lopper
