// Zero-shot tasks as lm-evaluation-harness scores them (../shared/specs/zeroshot.md, docs/zeroshot.md):
// each document becomes one or more (context, continuation) requests scored by log-likelihood.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lopper {

// How a task turns its requests' log-likelihoods into metrics.
enum class TaskKind {
  MultipleChoice,  // one context, one request per choice (continuation " " + choice): acc, acc_norm
  ContextChoice,   // one request per context option, one shared continuation (winogrande): acc
  Loglikelihood,   // one request (lambada): acc = the continuation is the greedy one, perplexity
};

// The lm-eval version whose rules are reproduced. They differ in COPA's continuation (v0.4's
// doc_to_choice adds a space of its own: two spaces before the choice) and in the default BOS.
enum class Harness { V03, V04 };

struct LLRequest {
  std::string context, continuation;
};

struct TaskDoc {
  std::vector<LLRequest> requests;
  int gold = -1;                      // index of the right request (choice tasks)
  std::vector<int64_t> choice_chars;  // acc_norm's lengths: code points of each choice, no delimiter
};

struct TaskData {
  std::string name;                 // task name, or the user's path
  TaskKind kind = TaskKind::MultipleChoice;
  std::vector<std::string> metrics;  // in report order, e.g. {"acc", "acc_norm"}
  std::vector<TaskDoc> docs;
  std::vector<std::string> sources;  // files read
  std::string note;                  // where the local file cannot reproduce lm-eval exactly
};

const char* kind_name(TaskKind k);
const char* harness_name(Harness h);

}  // namespace lopper
