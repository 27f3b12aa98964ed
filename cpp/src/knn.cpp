#include "turborec/knn.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "turborec/threading.hpp"
#include "turborec/topk.hpp"

namespace turborec {

namespace {

struct Vote {
  float sim;
  int32_t id;
  float rating;
};

// The voters for (t, o): the targets j that o rated and that are stored neighbours of t. `sims`
// holds row t of S scattered densely (0 elsewhere), so this is one pass over o's ratings.
template <class PtrM>
void collect_votes(const CsrView<PtrM>& M, const float* sims, int32_t t, int32_t o, std::vector<Vote>& votes) {
  votes.clear();
  for (int64_t q = M.row_begin(o); q < M.row_end(o); ++q) {
    const int32_t j = M.indices[q];
    const float s = sims[j];
    if (s > 0.0f && j != t) votes.push_back({s, j, M.data[q]});
  }
}

}  // namespace

template <class PtrS, class PtrM>
void knn_predict(const CsrView<PtrS>& S, const CsrView<PtrM>& M, const int32_t* targets, const int32_t* others,
                 int64_t n_pairs, const KnnPredictOptions& o, float* out, int32_t* used, int n_threads) {
  if (o.k < 1 || o.min_k < 0) throw std::invalid_argument("k must be >= 1 and min_k >= 0");
  if (S.n_rows != S.n_cols || M.n_cols != S.n_rows)
    throw std::invalid_argument("similarity must be square and match the rating matrix's columns");
  if (o.variant == KnnVariant::mean && !o.target_mean) throw std::invalid_argument("variant mean needs target means");
  if (!o.target_bias || !o.other_bias) throw std::invalid_argument("baselines are required (fallback)");
  require_canonical(S, "similarity", n_threads);
  require_canonical(M, "ratings", n_threads);
  for (int64_t p = 0; p < n_pairs; ++p)
    if (targets[p] < 0 || targets[p] >= S.n_rows || others[p] < 0 || others[p] >= M.n_rows)
      throw std::invalid_argument("pair " + std::to_string(p) + " is out of range");
  // Pairs are visited grouped by target, so each target's similarity row is scattered once into a
  // dense per-thread vector and every pair costs one pass over the other side's ratings.
  std::vector<int64_t> order(static_cast<size_t>(n_pairs));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return targets[x] < targets[y]; });
  const int threads = resolve_threads(n_threads);
  std::vector<std::vector<Vote>> scratch(static_cast<size_t>(threads));
  std::vector<std::vector<float>> dense(static_cast<size_t>(threads));
  parallel_chunks(n_pairs, 2048, n_threads, [&](int tid, int64_t lo, int64_t hi) {
    std::vector<Vote>& votes = scratch[tid];
    std::vector<float>& sims = dense[tid];
    if (sims.empty()) sims.assign(static_cast<size_t>(S.n_cols), 0.0f);
    int32_t loaded = -1;
    auto scatter = [&](int32_t t, bool on) {
      for (int64_t q = S.row_begin(t); q < S.row_end(t); ++q) sims[S.indices[q]] = on ? S.data[q] : 0.0f;
    };
    for (int64_t x = lo; x < hi; ++x) {
      const int64_t p = order[x];
      const int32_t t = targets[p], u = others[p];
      if (t != loaded) {
        if (loaded >= 0) scatter(loaded, false);
        scatter(t, true);
        loaded = t;
      }
      const float baseline = o.global_mean + o.target_bias[t] + o.other_bias[u];
      collect_votes(M, sims.data(), t, u, votes);
      // The k most similar voters (ties: lower id).
      auto better = [](const Vote& a, const Vote& b) { return a.sim > b.sim || (a.sim == b.sim && a.id < b.id); };
      // (The sum below runs in the array's order, which depends only on the input.)
      if (static_cast<int64_t>(votes.size()) > o.k) {
        std::nth_element(votes.begin(), votes.begin() + (o.k - 1), votes.end(), better);
        votes.resize(static_cast<size_t>(o.k));
      }
      const int n = static_cast<int>(votes.size());
      if (used) used[p] = n;
      if (n < std::max(o.min_k, 1)) {
        out[p] = o.variant == KnnVariant::mean ? o.target_mean[t] : baseline;
        continue;
      }
      double num = 0.0, den = 0.0;
      for (const Vote& v : votes) {
        double r = v.rating;
        if (o.variant == KnnVariant::mean) r -= o.target_mean[v.id];
        if (o.variant == KnnVariant::baseline) r -= o.global_mean + o.target_bias[v.id] + o.other_bias[u];
        num += v.sim * r;
        den += v.sim;
      }
      const double base = o.variant == KnnVariant::basic ? 0.0 : (o.variant == KnnVariant::mean ? o.target_mean[t] : baseline);
      out[p] = static_cast<float>(base + num / den);
    }
    if (loaded >= 0) scatter(loaded, false);
  });
}

template <class Ptr>
void als_baselines(const CsrView<Ptr>& R, float reg_user, float reg_item, int epochs, float* mu_out, float* b_user,
                   float* b_item) {
  const int64_t nnz = R.nnz();
  double total = 0.0;
  for (int64_t p = 0; p < nnz; ++p) total += R.data[p];
  const double mu = nnz ? total / static_cast<double>(nnz) : 0.0;
  std::vector<double> bu(static_cast<size_t>(R.n_rows), 0.0), bi(static_cast<size_t>(R.n_cols), 0.0);
  std::vector<double> sum_i(static_cast<size_t>(R.n_cols));
  std::vector<int64_t> n_i(static_cast<size_t>(R.n_cols), 0);
  for (int64_t p = 0; p < nnz; ++p) ++n_i[R.indices[p]];
  for (int e = 0; e < epochs; ++e) {
    std::fill(sum_i.begin(), sum_i.end(), 0.0);
    for (int64_t u = 0; u < R.n_rows; ++u)
      for (int64_t p = R.row_begin(u); p < R.row_end(u); ++p) sum_i[R.indices[p]] += R.data[p] - mu - bu[u];
    for (int64_t i = 0; i < R.n_cols; ++i) bi[i] = sum_i[i] / (reg_item + static_cast<double>(n_i[i]));
    for (int64_t u = 0; u < R.n_rows; ++u) {
      double sum_u = 0.0;
      for (int64_t p = R.row_begin(u); p < R.row_end(u); ++p) sum_u += R.data[p] - mu - bi[R.indices[p]];
      bu[u] = sum_u / (reg_user + static_cast<double>(R.row_end(u) - R.row_begin(u)));
    }
  }
  *mu_out = static_cast<float>(mu);
  for (int64_t u = 0; u < R.n_rows; ++u) b_user[u] = static_cast<float>(bu[u]);
  for (int64_t i = 0; i < R.n_cols; ++i) b_item[i] = static_cast<float>(bi[i]);
}

template void als_baselines(const CsrView<int32_t>&, float, float, int, float*, float*, float*);
template void als_baselines(const CsrView<int64_t>&, float, float, int, float*, float*, float*);
template void knn_predict(const CsrView<int32_t>&, const CsrView<int32_t>&, const int32_t*, const int32_t*, int64_t,
                          const KnnPredictOptions&, float*, int32_t*, int);
template void knn_predict(const CsrView<int32_t>&, const CsrView<int64_t>&, const int32_t*, const int32_t*, int64_t,
                          const KnnPredictOptions&, float*, int32_t*, int);
template void knn_predict(const CsrView<int64_t>&, const CsrView<int32_t>&, const int32_t*, const int32_t*, int64_t,
                          const KnnPredictOptions&, float*, int32_t*, int);
template void knn_predict(const CsrView<int64_t>&, const CsrView<int64_t>&, const int32_t*, const int32_t*, int64_t,
                          const KnnPredictOptions&, float*, int32_t*, int);

}  // namespace turborec
