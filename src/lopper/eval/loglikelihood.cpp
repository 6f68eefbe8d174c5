#include "lopper/eval/loglikelihood.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <numeric>

#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

struct Item {  // one request, truncated as lm-eval truncates it
  std::vector<int64_t> input;  // (context + continuation)[-(L+1):][:-1]
  std::vector<int64_t> cont;
  size_t doc = 0, req = 0;
};

struct DocPlan {
  std::vector<Item> items;
  int64_t prefix = 0;   // leading input tokens shared by every item, none of them scored
  int64_t longest = 0;  // longest input
};

DocPlan plan_doc(const std::vector<RequestTokens>& reqs, size_t d, int64_t max_len, bool reuse) {
  DocPlan p;
  for (size_t r = 0; r < reqs.size(); ++r) {
    const auto& t = reqs[r];
    check(!t.context.empty() && !t.continuation.empty(), "internal: empty context or continuation");
    check(static_cast<int64_t>(t.continuation.size()) <= max_len,
          "a continuation of {} tokens is longer than the model's context ({})", t.continuation.size(), max_len);
    std::vector<int64_t> full(t.context.begin(), t.context.end());
    full.insert(full.end(), t.continuation.begin(), t.continuation.end());
    const int64_t keep = std::min<int64_t>(static_cast<int64_t>(full.size()), max_len + 1);
    Item it;
    it.input.assign(full.end() - keep, full.end() - 1);
    it.cont.assign(t.continuation.begin(), t.continuation.end());
    it.doc = d;
    it.req = r;
    p.longest = std::max<int64_t>(p.longest, static_cast<int64_t>(it.input.size()));
    p.items.push_back(std::move(it));
  }
  if (!reuse || p.items.size() < 2) return p;  // a lone request gains nothing from a separate prefix pass
  int64_t common = static_cast<int64_t>(p.items[0].input.size());
  for (const auto& it : p.items) {
    int64_t n = 0;
    const auto& a = p.items[0].input;
    while (n < common && n < static_cast<int64_t>(it.input.size()) && a[static_cast<size_t>(n)] == it.input[static_cast<size_t>(n)]) ++n;
    // Positions that score a continuation token must be computed in the suffix pass.
    common = std::min<int64_t>(n, static_cast<int64_t>(it.input.size() - it.cont.size()));
  }
  p.prefix = common;
  return p;
}

at::Tensor ids_tensor(const std::vector<int64_t>& flat, int64_t rows, int64_t cols, const c10::Device& device) {
  return at::tensor(flat, at::kLong).view({rows, cols}).to(device);
}

// Runs one batch of documents: their shared prefixes once (left-padded to the longest), then every
// request's suffix (right-padded) on top of its document's cached prefix. Writes each score.
void run_batch(const Model& model, const std::vector<const DocPlan*>& batch, std::vector<std::vector<RequestScore>>& out) {
  const int L = model.config.num_layers();
  int64_t P = 0, S = 0;
  for (const DocPlan* d : batch) P = std::max(P, d->prefix);
  std::vector<const Item*> items;
  std::vector<int64_t> row_doc, doc_start;  // doc_start: left padding of each document's prefix row
  for (size_t b = 0; b < batch.size(); ++b) {
    doc_start.push_back(P - batch[b]->prefix);
    for (const auto& it : batch[b]->items) {
      items.push_back(&it);
      row_doc.push_back(static_cast<int64_t>(b));
      S = std::max<int64_t>(S, static_cast<int64_t>(it.input.size()) - batch[b]->prefix);
    }
  }
  const int64_t R = static_cast<int64_t>(items.size());

  KVCache cache(L);
  ForwardContext ctx;
  if (P > 0) {
    std::vector<int64_t> flat(batch.size() * static_cast<size_t>(P), 0);  // left padding with id 0, masked
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto& in = batch[b]->items[0].input;
      std::copy(in.begin(), in.begin() + batch[b]->prefix, flat.begin() + static_cast<int64_t>(b + 1) * P - batch[b]->prefix);
    }
    KVCache shared(L);
    ForwardContext pctx;
    pctx.cache = &shared;
    pctx.row_start = doc_start;
    auto ids = ids_tensor(flat, static_cast<int64_t>(batch.size()), P, model.device);  // [D, P]
    (void)model.run_layers(model.embed(ids), 0, L, pctx);
    shared.commit(P);
    cache = shared.select_rows(at::tensor(row_doc, at::kLong).to(model.device), S);  // [R, KV, P+S, D] per layer
    ctx.cache = &cache;
    for (int64_t d : row_doc) ctx.row_start.push_back(doc_start[static_cast<size_t>(d)]);
  }
  std::vector<int64_t> flat(static_cast<size_t>(R * S), 0);  // right padding with id 0: never seen by real tokens
  std::vector<int64_t> rows, pos, targets;
  for (int64_t r = 0; r < R; ++r) {
    const Item& it = *items[static_cast<size_t>(r)];
    const int64_t p = batch[static_cast<size_t>(row_doc[static_cast<size_t>(r)])]->prefix;
    const int64_t n = static_cast<int64_t>(it.input.size()), c = static_cast<int64_t>(it.cont.size());
    std::copy(it.input.begin() + p, it.input.end(), flat.begin() + r * S);
    for (int64_t j = 0; j < c; ++j) {  // input position n-c+j predicts continuation token j
      rows.push_back(r);
      pos.push_back(n - c + j - p);
      targets.push_back(it.cont[static_cast<size_t>(j)]);
    }
  }
  auto h = model.run_layers(model.embed(ids_tensor(flat, R, S, model.device)), 0, L, ctx);  // [R, S, C]
  auto sel = h.index({at::tensor(rows, at::kLong).to(model.device), at::tensor(pos, at::kLong).to(model.device)});  // [N, C]
  auto tgt = at::tensor(targets, at::kLong).to(model.device);                                                       // [N]
  const int64_t N = sel.size(0);
  // The LM head in chunks of ~64 MB of fp32 logits: N x vocab at once would take gigabytes (a
  // 128k vocabulary, or thousands of scored positions per batch).
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 26) / (4 * model.config.vocab_size));
  std::vector<at::Tensor> lps, greedy;
  for (int64_t a = 0; a < N; a += chunk) {
    const int64_t n = std::min(chunk, N - a);
    auto logits = model.lm_head(model.final_norm(sel.narrow(0, a, n))).to(at::kFloat);  // [n, V]
    auto t = tgt.narrow(0, a, n);
    lps.push_back(at::log_softmax(logits, -1).gather(1, t.unsqueeze(1)).squeeze(1));  // [n]
    greedy.push_back(logits.argmax(-1).eq(t));
  }
  auto lp = at::cat(lps).to(at::kCPU, at::kDouble).contiguous();
  auto gr = at::cat(greedy).to(at::kCPU).contiguous();
  const double* lpp = lp.data_ptr<double>();
  const bool* grp = gr.data_ptr<bool>();
  size_t k = 0;
  for (int64_t r = 0; r < R; ++r) {
    const Item& it = *items[static_cast<size_t>(r)];
    RequestScore s{0.0, true};
    for (size_t j = 0; j < it.cont.size(); ++j, ++k) {
      s.ll += lpp[k];
      s.greedy = s.greedy && grp[k];
    }
    out[it.doc][it.req] = s;
  }
}

}  // namespace

std::vector<std::vector<RequestScore>> score_requests(const Model& model,
                                                      const std::vector<std::vector<RequestTokens>>& docs,
                                                      const LoglikelihoodOptions& o, const std::string& label,
                                                      LoglikelihoodStats* stats) {
  c10::InferenceMode guard;
  const int64_t max_len = o.max_length > 0 ? o.max_length : model.config.max_position_embeddings;
  const int64_t budget = o.token_budget > 0 ? o.token_budget : (model.device.is_cuda() ? 32768 : 8192);
  const int64_t max_rows = o.batch > 0 ? o.batch : 256;
  // Every request row holds its document's prefix keys/values for all layers during the suffix
  // pass: rows x (prefix + suffix) x this many bytes, kept under CPU 256 MB / CUDA 4 GB.
  const int64_t kv_token_bytes = KVCache::bytes_per_token(model.config, model.dtype);
  const int64_t kv_budget = (model.device.is_cuda() ? int64_t{4} << 30 : int64_t{256} << 20) / std::max<int64_t>(1, kv_token_bytes);
  check(max_len >= 1, "max_length must be at least 1");

  std::vector<std::vector<RequestScore>> out(docs.size());
  std::vector<DocPlan> plans;
  plans.reserve(docs.size());
  for (size_t d = 0; d < docs.size(); ++d) {
    out[d].resize(docs[d].size());
    plans.push_back(plan_doc(docs[d], d, max_len, o.prefix_reuse));
  }
  // Longest suffix first (suffix padding costs once per request, prefix padding once per document),
  // then longest prefix: neighbours have similar shapes, and the biggest batches come first
  // (memory problems show at once, the ETA errs on the safe side).
  std::vector<size_t> order(plans.size());
  std::iota(order.begin(), order.end(), 0);
  auto suffix = [&](const DocPlan& p) { return p.longest - p.prefix; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (suffix(plans[a]) != suffix(plans[b])) return suffix(plans[a]) > suffix(plans[b]);
    return plans[a].prefix > plans[b].prefix;
  });

  Progress bar(label, static_cast<int64_t>(docs.size()), "docs");
  int64_t done = 0;
  for (size_t i = 0; i < order.size();) {
    // A batch pads every prefix to its longest and every suffix to its longest. A document joins
    // while the batch fits the budget and computes at most a third more tokens than its documents
    // would in batches of their own.
    std::vector<const DocPlan*> batch;
    int64_t rows = 0, P = 0, S = 0, useful = 0;
    for (; i < order.size(); ++i) {
      const DocPlan& p = plans[order[i]];
      const int64_t r = rows + static_cast<int64_t>(p.items.size());
      const int64_t pm = std::max(P, p.prefix), sm = std::max(S, suffix(p));
      const int64_t cost = static_cast<int64_t>(batch.size() + 1) * pm + r * sm;
      const int64_t own = p.prefix + static_cast<int64_t>(p.items.size()) * suffix(p);
      const bool fits = r <= max_rows && cost <= budget && (pm == 0 || r * (pm + sm) <= kv_budget);
      if (!batch.empty() && (!fits || 3 * cost > 4 * (useful + own))) break;
      batch.push_back(&p);
      rows = r;
      P = pm;
      S = sm;
      useful += own;
    }
    run_batch(model, batch, out);
    if (stats) {
      stats->forward_tokens += static_cast<int64_t>(batch.size()) * P + rows * S;
      stats->passes += P > 0 ? 2 : 1;
      for (const DocPlan* p : batch)
        for (const auto& it : p->items) stats->request_tokens += static_cast<int64_t>(it.input.size());
    }
    done += static_cast<int64_t>(batch.size());
    bar.set(done);
  }
  bar.finish();
  return out;
}

}  // namespace lopper
