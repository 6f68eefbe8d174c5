// SPRINT's sensitivity metrics and candidate ranking (utils/CompressionManager.py).
//
// A metric is "<distance>_<normalization>". The outputs o (sublayer present) and c (removed), each
// [n, T, C], are cut into rows by the normalization and every row gives one distance; the
// sensitivity is the sum over rows (and calibration samples):
//   sentence  one row per sample (T x C numbers)
//   token     one row per token (C numbers)
//   channel   one row per sample and channel (T numbers)
// Distances of a row:
//   l1      sum|o - c| / sum|o|
//   l2      the reference's "l2": sqrt((o - c)^2) summed, over sqrt(o^2) summed - element-wise, so
//           sum|o - c| / sum|o| again, a relative L1 error. Kept under the reference's name (its
//           default is l2_sentence) so that its settings mean the same here.
//   l2true  the Euclidean relative error ||o - c||_2 / ||o||_2
//   cos     1 - <o, c> / (||o|| ||c||)
// Ranking: each metric's scores (divided by the latency of the sublayer's type when latency-aware)
// give ranks; the ranks of several metrics add up; the lowest total is removed first, ties to the
// lower sublayer index.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace lopper {

struct SensitivityMetric {
  std::string distance;       // l1 | l2 | l2true | cos
  std::string normalization;  // sentence | token | channel
  std::string name() const { return distance + "_" + normalization; }
};

// "l2_sentence,cos_token" -> metrics; throws InputError naming the option.
std::vector<SensitivityMetric> parse_sensitivity_metrics(const std::string& list);

// Sum over rows of one metric's distance between `origin` and `compressed` ([n, T, C], any float
// dtype; computed in fp32).
double sensitivity_sum(const SensitivityMetric& m, const at::Tensor& origin, const at::Tensor& compressed);

// scores[k][i]: metric k's score of item i; weight[i] multiplies every score (1 / latency when
// latency-aware). Returns the items ordered best (lowest total rank) first.
std::vector<int> rank_by_metrics(const std::vector<std::vector<double>>& scores, const std::vector<double>& weight);

}  // namespace lopper
