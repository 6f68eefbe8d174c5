// Exact selections shared by the sparsity methods, the N:M parser, the role -> input-tap map and
// the measurement of achieved sparsity. Every selection sorts with a stable sort, so ties go to the
// lower index and two runs choose the same weights.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "lopper/prune/sparsity.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Indices of a stable ascending sort along `dim`.
at::Tensor stable_order(const at::Tensor& t, int64_t dim) {
  return std::get<1>(at::sort(t, /*stable=*/true, dim, /*descending=*/false));
}

}  // namespace

NMPattern parse_nm(const std::string& s) {
  auto colon = s.find(':');
  auto digits = [](const std::string& x) {
    return !x.empty() && x.size() < 6 && x.find_first_not_of("0123456789") == std::string::npos;
  };
  check(colon != std::string::npos && digits(s.substr(0, colon)) && digits(s.substr(colon + 1)),
        "--nm {}: expected N:M with whole numbers, e.g. 2:4", s);
  NMPattern p{std::stoi(s.substr(0, colon)), std::stoi(s.substr(colon + 1))};
  check(p.n >= 1, "--nm {}: N must be at least 1", s);
  check(p.n < p.m, "--nm {}: N must be < M", s);
  return p;
}

int64_t zero_count(int64_t numel, double s) {
  const double x = s * static_cast<double>(numel);
  const double r = std::round(x);
  // s = 0.3 gives 0.3 * 10 = 2.9999999999999996; a value that close to a whole number is that number.
  if (std::abs(x - r) <= 1e-10 * std::max(1.0, x)) return static_cast<int64_t>(r);
  return static_cast<int64_t>(std::floor(x));
}

at::Tensor mask_lowest(const at::Tensor& score, int64_t k) {
  const int64_t n = score.numel();
  check(k >= 0 && k <= n, "internal: cannot select {} of {} weights", k, n);
  auto mask = at::zeros({n}, score.options().dtype(at::kBool));
  if (k > 0) mask.index_fill_(0, stable_order(score.reshape({-1}), 0).narrow(0, 0, k), true);
  return mask.view(score.sizes());
}

at::Tensor mask_lowest_per_row(const at::Tensor& score, int64_t k) {
  const int64_t rows = score.size(0), cols = score.size(1);
  check(k >= 0 && k <= rows * cols, "internal: cannot select {} of {} weights", k, rows * cols);
  const int64_t base = k / rows, extra = k % rows;
  auto [sorted, order] = at::sort(score, /*stable=*/true, 1, false);  // [rows, cols] each
  auto mask = at::zeros_like(score, score.options().dtype(at::kBool));
  if (base > 0) mask.scatter_(1, order.narrow(1, 0, base), true);
  if (extra > 0) {
    // The remaining zeros go where the next candidate of a row is least important (rows compared
    // by the score of their (base+1)-th lowest weight; ties: lower row).
    auto pick = stable_order(sorted.select(1, base), 0).narrow(0, 0, extra);  // [extra] row ids
    auto col = order.select(1, base).index_select(0, pick);                     // [extra]
    mask.index_put_({pick, col}, true);
  }
  return mask;
}

at::Tensor mask_nm(const at::Tensor& score, const NMPattern& nm) {
  const int64_t rows = score.size(0), cols = score.size(1);
  check(cols % nm.m == 0, "internal: {} columns do not split into groups of {}", cols, nm.m);
  auto groups = score.reshape({rows, cols / nm.m, nm.m});  // [rows, groups, m]
  auto mask = at::zeros(groups.sizes(), score.options().dtype(at::kBool));
  mask.scatter_(2, stable_order(groups, 2).narrow(2, 0, nm.n), true);
  return mask.view({rows, cols});
}

bool has_nm_pattern(const at::Tensor& w, const NMPattern& nm) {
  c10::InferenceMode guard;
  if (w.size(1) % nm.m != 0) return false;
  auto zeros = (w.reshape({w.size(0), w.size(1) / nm.m, nm.m}) == 0).sum(2);  // [rows, groups]
  return zeros.eq(nm.n).all().item<bool>();
}

Tap input_tap(TensorRole role) {
  switch (role) {
    case TensorRole::Q: case TensorRole::K: case TensorRole::V: return Tap::AttnIn;
    case TensorRole::O: return Tap::AttnContext;
    case TensorRole::Gate: case TensorRole::Up: return Tap::MlpIn;
    case TensorRole::Down: return Tap::MlpAct;
    default: throw Error("internal: input_tap of a tensor that is not a Linear weight");
  }
}

std::vector<TensorSpec> linear_specs(const ModelConfig& c, int layer) {
  std::vector<TensorSpec> out;
  for_each_tensor(c, [&](const TensorSpec& s) {
    if (s.layer == layer && is_linear_weight(s.role)) out.push_back(s);
  });
  return out;
}

MeasuredSparsity measure_sparsity(const Model& model) {
  c10::InferenceMode guard;
  MeasuredSparsity r;
  const int L = model.config.num_layers();
  std::vector<int64_t> lz(L, 0), ln(L, 0);
  for_each_tensor(model.config, [&](const TensorSpec& s) {
    if (!is_linear_weight(s.role)) return;
    const auto& w = tensor_slot(model.weights, s);
    const int64_t z = (w == 0).sum().item<int64_t>(), n = w.numel();
    r.zeros[s.name] = z;
    r.numel[s.name] = n;
    r.per_matrix[s.name] = static_cast<double>(z) / static_cast<double>(n);
    lz[s.layer] += z;
    ln[s.layer] += n;
    r.total_zeros += z;
    r.total_numel += n;
  });
  for (int l = 0; l < L; ++l) r.per_layer.push_back(ln[l] ? static_cast<double>(lz[l]) / static_cast<double>(ln[l]) : 0.0);
  return r;
}

}  // namespace lopper
