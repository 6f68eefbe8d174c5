// Unstructured and N:M sparsity: weights set to zero in place inside every Linear matrix of the
// decoder layers (q, k, v, o, gate, up, down), the checkpoint keeps its shapes. Three methods behind
// one interface (one file each: sparsity_magnitude.cpp, sparsity_wanda.cpp, sparsity_sparsegpt.cpp)
// and four layer-wise allocations (sparsity_allocation.h). docs/sparsity.md has the formulas, the
// references followed and the measured numbers.
//
// Exactness rule (all methods, unstructured): a matrix with target fraction s gets exactly
// zero_count(numel, s) = floor(s * numel) zeros, chosen by the method's score with ties broken by the
// lower index. N:M: in every group of M consecutive input columns of every row exactly N weights are
// zero (the references' --sparsity_type N:M, prune_n = N of every prune_m = M).
//
// Sequential convention (the references'): layers are pruned in order; the statistics of layer i's
// inputs are gathered with layers 0..i-1 already pruned, all matrices of layer i use statistics taken
// before any of them is pruned, and one layer's statistics are in memory at a time.
#pragma once
#include <ATen/core/Tensor.h>
#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"

namespace lopper {

// N zeros in every group of M consecutive input columns; m == 0 means unstructured.
struct NMPattern {
  int n = 0, m = 0;
  bool active() const { return m > 0; }
  std::string str() const { return fmt::format("{}:{}", n, m); }
};
// Parses "N:M"; InputError naming --nm on bad input (format, N < 1, N >= M).
NMPattern parse_nm(const std::string& s);

struct SparsityOptions {
  std::optional<double> sparsity;      // --sparsity S (mean target under non-uniform allocations)
  std::string nm;                      // --nm N:M (empty: unstructured)
  std::string allocation = "uniform";  // uniform | atp | owl | alphapruning
  double owl_m = 5.0;                  // OWL: outlier when score > M * mean score of the layer
  double owl_lambda = 0.08;            // OWL: layer sparsities span 2 * lambda around S
  double alpha_eps = 0.3;              // AlphaPruning: ratios mapped to S * [1 - eps, 1 + eps] before rescaling
  std::string alpha_xmin = "peak";     // AlphaPruning Hill-estimator xmin: peak (alpha_peak) | mid (alpha_mid)
  bool alpha_per_matrix = false;       // AlphaPruning: per-matrix alphas (default: block_wise mean, the reference's)
  int atp_steps = 10;                  // ATP: candidates d = d_max * k / steps, k = 0..steps-1
  int64_t sparsegpt_block = 128;       // SparseGPT: columns per lazy-update block
  double sparsegpt_damp = 0.01;        // SparseGPT: damping as a fraction of mean(diag H)
  int64_t micro_batch = 8;             // calibration samples per forward pass
  nlohmann::json to_json() const;
};

// Statistics of one Linear input (a tap) over the calibration tokens, fp32, on the model device.
struct InputStats {
  at::Tensor sq_sum;    // [in]      sum over tokens of x_j^2 / nsamples (Wanda's scaler_row)
  at::Tensor hessian;   // [in, in]  2 / nsamples * sum over tokens of x x^T (SparseGPT's H)
  int64_t nsamples = 0;  // calibration sequences seen (the references' normalizer)
  // SparseGPT's derived factor, cached because q/k/v (and gate/up) share one input and so one H.
  at::Tensor hinv_upper;  // [in, in] upper Cholesky factor of (H + damp I)^-1 (dead columns fixed)
  at::Tensor dead;        // [in] bool, H_jj == 0
  double damp_used = 0;
};

enum class StatsNeed { None, ColumnNorms, Hessian };

class SparsityMethod {
 public:
  virtual ~SparsityMethod() = default;
  virtual std::string name() const = 0;
  // One line: what it scores and the reference it follows.
  virtual std::string description() const = 0;
  virtual StatsNeed needs() const = 0;
  // Prunes w [out, in] in place: exactly `zeros` zeros (unstructured), or the N:M pattern when
  // nm.active() (then `zeros` is ignored). `stats` is null when needs() is None.
  virtual void prune(at::Tensor& w, InputStats* stats, int64_t zeros, const NMPattern& nm,
                     const SparsityOptions& o) const = 0;
};

std::unique_ptr<SparsityMethod> make_sparsity_method(const std::string& name);  // null when unknown
std::vector<std::string> sparsity_method_names();                             // magnitude, wanda, sparsegpt
bool is_sparsity_method(const std::string& name);

// ---- exact, deterministic selections (masks are bool, true = set to zero) ----

// floor(s * numel), tolerant of floating-point noise in s * numel (0.3 * 10 counts as 3).
int64_t zero_count(int64_t numel, double s);
// The k lowest entries of `score` (any shape) over the whole tensor; ties: lower flat index first.
at::Tensor mask_lowest(const at::Tensor& score, int64_t k);
// k lowest entries of score [rows, cols] compared within each row: every row gets floor(k / rows),
// and the k mod rows extra ones go to the rows whose next candidate has the lowest score. When k is
// a multiple of rows this is exactly the Wanda reference's per-row int(cols * s).
at::Tensor mask_lowest_per_row(const at::Tensor& score, int64_t k);
// score [rows, cols], cols % m == 0: the n lowest of every group of m consecutive columns.
at::Tensor mask_nm(const at::Tensor& score, const NMPattern& nm);

// The decoder input each Linear role reads (q/k/v: AttnIn, o: AttnContext, gate/up: MlpIn, down: MlpAct).
Tap input_tap(TensorRole role);
// Every Linear weight spec of layer `layer`, in checkpoint order (from for_each_tensor).
std::vector<TensorSpec> linear_specs(const ModelConfig& c, int layer);

// ---- the whole job ----

// Prunes `model` in place with `method` under `o`; `calib` may be null when neither the method nor
// the allocation needs data. Returns the report's "sparsity" section (targets, allocation, achieved
// per layer and per matrix measured on the final weights, timing).
nlohmann::json run_sparsity(Model& model, const CalibData* calib, const std::string& method,
                            const SparsityOptions& o);
// Whether the method / allocation pair needs calibration data.
bool sparsity_needs_calibration(const std::string& method, const SparsityOptions& o);
// Validates the options (one line errors naming the option); returns the parsed N:M pattern.
NMPattern validate_sparsity_options(const std::string& method, const SparsityOptions& o, const ModelConfig& c);

// Measured: zeros / numel of every Linear matrix (name -> fraction) and per layer.
struct MeasuredSparsity {
  std::map<std::string, double> per_matrix;
  std::map<std::string, int64_t> zeros, numel;
  std::vector<double> per_layer;
  int64_t total_zeros = 0, total_numel = 0;
};
MeasuredSparsity measure_sparsity(const Model& model);
// Whether every group of m consecutive input columns of every row of w [out, in] holds exactly n zeros.
bool has_nm_pattern(const at::Tensor& w, const NMPattern& nm);

}  // namespace lopper
