// `lopper eval`: perplexity of a model on named datasets or user files, as a report.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/eval/perplexity.h"
#include "lopper/model/model.h"

namespace lopper {

class Tokenizer;

struct EvalRequest {
  std::vector<std::string> ppl_datasets;  // names or files
  PerplexityOptions ppl;
  std::filesystem::path data_dir;
};

// Evaluates every requested dataset; the JSON is {"ppl": {<dataset>: PerplexityResult::to_json()}}.
// Prints one result line per dataset to stdout.
nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalRequest& req);

// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);

}  // namespace lopper
