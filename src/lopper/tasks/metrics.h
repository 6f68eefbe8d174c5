// lm-eval's per-document metrics and their aggregation (api/metrics.py): acc / acc_norm as the mean
// over documents with the standard error of the mean (sample std, n-1, / sqrt(n)); LAMBADA's
// perplexity = exp(-mean(log-likelihood per document)).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lopper/tasks/task.h"

namespace lopper {

// One request's result: log-likelihood of the continuation (natural log) and whether every
// continuation token was the argmax.
struct RequestScore {
  double ll = 0;
  bool greedy = false;
};

struct MetricValue {
  double value = 0, stderr_ = 0;
};

// argmax with ties to the first index, as numpy.argmax.
int argmax_first(const std::vector<double>& v);

// Per-document metric values (acc, acc_norm, perplexity's ll) for one task kind.
std::map<std::string, double> doc_metrics(TaskKind kind, const TaskDoc& doc, const std::vector<RequestScore>& scores);

// Mean and standard error of per-document values (stderr 0 for fewer than 2 values).
MetricValue mean_with_stderr(const std::vector<double>& values);

// Aggregates every metric of `task` over its documents. Perplexity's stderr is the delta-method
// estimate exp(-m) * stderr(ll) (lm-eval bootstraps it; the two agree closely for n in the
// thousands).
std::map<std::string, MetricValue> aggregate_metrics(const TaskData& task,
                                                     const std::vector<std::vector<RequestScore>>& scores);

}  // namespace lopper
