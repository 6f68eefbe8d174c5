#include "lopper/tasks/metrics.h"

#include <cmath>

#include "lopper/util/error.h"

namespace lopper {

int argmax_first(const std::vector<double>& v) {
  int best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int>(i);
  return best;
}

std::map<std::string, double> doc_metrics(TaskKind kind, const TaskDoc& doc, const std::vector<RequestScore>& scores) {
  check(scores.size() == doc.requests.size(), "internal: {} scores for {} requests", scores.size(),
        doc.requests.size());
  if (kind == TaskKind::Loglikelihood) return {{"acc", scores[0].greedy ? 1.0 : 0.0}, {"perplexity", scores[0].ll}};
  std::vector<double> lls;
  for (const auto& s : scores) lls.push_back(s.ll);
  std::map<std::string, double> m{{"acc", argmax_first(lls) == doc.gold ? 1.0 : 0.0}};
  if (kind == TaskKind::MultipleChoice && doc.choice_chars.size() == lls.size()) {
    std::vector<double> norm(lls.size());
    for (size_t i = 0; i < lls.size(); ++i) norm[i] = lls[i] / static_cast<double>(doc.choice_chars[i]);
    m["acc_norm"] = argmax_first(norm) == doc.gold ? 1.0 : 0.0;
  }
  return m;
}

MetricValue mean_with_stderr(const std::vector<double>& values) {
  MetricValue r;
  if (values.empty()) return r;
  const double n = static_cast<double>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  r.value = sum / n;
  if (values.size() < 2) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.value) * (v - r.value);
  r.stderr_ = std::sqrt(ss / (n - 1)) / std::sqrt(n);
  return r;
}

std::map<std::string, MetricValue> aggregate_metrics(const TaskData& task,
                                                     const std::vector<std::vector<RequestScore>>& scores) {
  check(scores.size() == task.docs.size(), "internal: {} results for {} documents", scores.size(), task.docs.size());
  std::map<std::string, std::vector<double>> per_metric;
  for (size_t d = 0; d < task.docs.size(); ++d)
    for (const auto& [name, v] : doc_metrics(task.kind, task.docs[d], scores[d])) per_metric[name].push_back(v);
  std::map<std::string, MetricValue> out;
  for (const auto& [name, values] : per_metric) {
    MetricValue m = mean_with_stderr(values);
    if (name == "perplexity") {
      m.value = std::exp(-m.value);
      m.stderr_ *= m.value;
    }
    out[name] = m;
  }
  return out;
}

}  // namespace lopper
