// One document of each task from one row of its file, with lm-eval's context / continuation
// strings (table in docs/zeroshot.md). `where` ("file:line") prefixes every error.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/tasks/task.h"

namespace lopper {

// A multiple-choice document: requests (context, " " + choice), acc_norm lengths in code points.
TaskDoc multiple_choice_doc(const std::string& context, const std::vector<std::string>& choices, int gold,
                            const std::string& where);

// PIQA (ybisk's valid.jsonl + valid-labels.lst): "Question: " + goal + "\nAnswer:", [sol1, sol2].
TaskDoc piqa_doc(const nlohmann::json& row, int label, const std::string& where);
// HellaSwag (original fields): pre(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()),
// [pre(ending) ...], int(label).
TaskDoc hellaswag_doc(const nlohmann::json& row, const std::string& where);
// llm-foundry schema {context_options, continuation, gold}: one request per context option with
// the continuation " " + continuation.strip() (winogrande; also user files of this schema).
TaskDoc context_options_doc(const nlohmann::json& row, const std::string& where);
// llm-foundry ARC: query ("Question: ...") + "\nAnswer:", choices, gold.
TaskDoc arc_doc(const nlohmann::json& row, const std::string& where);
// llm-foundry BoolQ: "Passage: P\nQuestion: Q?" -> P + "\nQuestion: " + Q + "\nAnswer:", ["no", "yes"].
TaskDoc boolq_doc(const nlohmann::json& row, const std::string& where);
// llm-foundry schema {query, choices, gold} with the query as the context (openbookqa, user files).
TaskDoc query_choices_doc(const nlohmann::json& row, const std::string& where);
// llm-foundry COPA: "premise, because" -> "premise because"; choices convert_choice'd; continuation
// " " + " " + choice in v0.4 (doc_to_choice adds its own space), " " + choice in v0.3.
TaskDoc copa_doc(const nlohmann::json& row, Harness harness, const std::string& where);
// llm-foundry schema {context, continuation}: one request (context, " " + continuation) (lambada).
TaskDoc context_continuation_doc(const nlohmann::json& row, const std::string& where);

}  // namespace lopper
