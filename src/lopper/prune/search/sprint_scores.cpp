#include "lopper/prune/search/sprint_scores.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lopper/util/error.h"
#include "lopper/eval/eval_command.h"

namespace lopper {

std::vector<SensitivityMetric> parse_sensitivity_metrics(const std::string& list) {
  std::vector<SensitivityMetric> out;
  for (auto item : split_list(list)) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    auto us = item.find('_');
    check(us != std::string::npos, "--sensitivity \"{}\": expected <distance>_<normalization>, e.g. l2_sentence", item);
    SensitivityMetric m{item.substr(0, us), item.substr(us + 1)};
    check(m.distance == "l1" || m.distance == "l2" || m.distance == "l2true" || m.distance == "cos",
          "--sensitivity \"{}\": distance \"{}\" is not known (l1, l2, l2true, cos)", item, m.distance);
    check(m.normalization == "sentence" || m.normalization == "token" || m.normalization == "channel",
          "--sensitivity \"{}\": normalization \"{}\" is not known (sentence, token, channel)", item, m.normalization);
    out.push_back(m);
  }
  check(!out.empty(), "--sensitivity is empty");
  return out;
}

double sensitivity_sum(const SensitivityMetric& m, const at::Tensor& origin, const at::Tensor& compressed) {
  check(origin.sizes() == compressed.sizes() && origin.dim() == 3, "sensitivity: outputs must be two [n, T, C] tensors");
  const int64_t n = origin.size(0), T = origin.size(1), C = origin.size(2);
  auto rows = [&](const at::Tensor& x) {
    at::Tensor f = x.to(at::kFloat);
    if (m.normalization == "sentence") return f.reshape({n, T * C});
    if (m.normalization == "token") return f.reshape({n * T, C});
    return f.permute({0, 2, 1}).reshape({n * C, T});  // channel
  };
  auto o = rows(origin), c = rows(compressed);  // [rows, k]
  at::Tensor per_row;
  if (m.distance == "l1" || m.distance == "l2") {
    per_row = (o - c).abs().sum(1) / o.abs().sum(1);
  } else if (m.distance == "l2true") {
    per_row = (o - c).norm(2, 1) / o.norm(2, 1);
  } else {
    per_row = 1 - (o * c).sum(1) / (o.norm(2, 1) * c.norm(2, 1));
  }
  // A row with no signal (all-zero output) gives 0/0: it says nothing about the removal.
  return per_row.nansum().item<double>();
}

std::vector<int> rank_by_metrics(const std::vector<std::vector<double>>& scores, const std::vector<double>& weight) {
  check(!scores.empty(), "rank_by_metrics: no metrics");
  const size_t n = weight.size();
  std::vector<int64_t> total(n, 0);
  for (const auto& s : scores) {
    check(s.size() == n, "rank_by_metrics: {} scores for {} items", s.size(), n);
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto key = [&](int i) {
      const double v = s[i] * weight[i];
      return std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
    };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
    for (size_t r = 0; r < n; ++r) total[order[r]] += static_cast<int64_t>(r);
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return total[a] < total[b]; });
  return order;
}

}  // namespace lopper
