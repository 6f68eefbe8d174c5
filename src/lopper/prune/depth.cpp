#include "lopper/prune/depth.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lopper/util/error.h"

namespace lopper {

std::unique_ptr<DepthMethod> make_shortgpt();
std::unique_ptr<DepthMethod> make_angular();
std::unique_ptr<DepthMethod> make_window_ppl();
std::unique_ptr<DepthMethod> make_block_ppl();
std::unique_ptr<DepthMethod> make_taylor();

std::vector<std::string> depth_method_names() { return {"shortgpt", "angular", "window-ppl", "block-ppl", "taylor"}; }

std::unique_ptr<DepthMethod> make_depth_method(const std::string& name) {
  if (name == "shortgpt") return make_shortgpt();
  if (name == "angular") return make_angular();
  if (name == "window-ppl") return make_window_ppl();
  if (name == "block-ppl") return make_block_ppl();
  if (name == "taylor") return make_taylor();
  return nullptr;
}

int blocks_for_ratio(const ModelConfig& c, double ratio) {
  check(ratio > 0 && ratio < 1, "--ratio {} must be in (0, 1)", ratio);
  int n = std::max(1, static_cast<int>(std::floor(ratio * c.num_layers() + 0.5)));
  check(n < c.num_layers(), "--ratio {} would remove {} of {} layers; at least one must remain", ratio, n,
        c.num_layers());
  return n;
}

std::vector<int> lowest_k(const std::vector<std::optional<double>>& scores, int k, const std::set<int>& protect) {
  std::vector<int> idx;
  for (int i = 0; i < static_cast<int>(scores.size()); ++i)
    if (scores[i] && !protect.count(i)) idx.push_back(i);
  check(k <= static_cast<int>(idx.size()), "cannot remove {} blocks: only {} are eligible", k, idx.size());
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return *scores[a] < *scores[b]; });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<int> best_window(const std::vector<std::optional<double>>& scores, int n) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(scores.size()); ++i)
    if (scores[i] && (best < 0 || *scores[i] < *scores[best])) best = i;
  check(best >= 0, "no window of {} blocks fits", n);
  std::vector<int> out(n);
  std::iota(out.begin(), out.end(), best);
  return out;
}

}  // namespace lopper
