#pragma once
// Neighbourhood rating prediction (the Surprise KNNBasic / KNNWithMeans / KNNBaseline family).
//
// For a pair (target t, other o) -- (item, user) for item-based, (user, item) for user-based --
// the neighbours are the targets j stored in row t of the similarity graph S that o has rated
// (row o of M). The k most similar of them with a positive similarity vote:
//   basic     r = sum_j s_tj r_oj / sum_j s_tj
//   mean      r = mu_t + sum_j s_tj (r_oj - mu_j) / sum_j s_tj
//   baseline  r = b_ot + sum_j s_tj (r_oj - b_oj) / sum_j s_tj,  b_ot = mu + b_o + b_t
// With fewer than min_k such neighbours the prediction is the fallback: b_ot for basic and
// baseline, mu_t for mean.
#include <cstdint>

#include "turborec/csr.hpp"

namespace turborec {

enum class KnnVariant : int { basic = 0, mean = 1, baseline = 2 };

struct KnnPredictOptions {
  int k = 40;
  int min_k = 1;
  KnnVariant variant = KnnVariant::mean;
  const float* target_mean = nullptr;  // mu_t (n_targets), for `mean`
  float global_mean = 0.0f;            // mu, for baselines
  const float* target_bias = nullptr;  // b_t (n_targets)
  const float* other_bias = nullptr;   // b_o (n_others)
};

// S: n_targets x n_targets (sorted rows); M: n_others x n_targets (sorted rows).
// out[p] is the prediction for (targets[p], others[p]); used[p] (may be null) the neighbours that voted.
// Scratch: one dense n_targets vector per thread.
template <class PtrS, class PtrM>
void knn_predict(const CsrView<PtrS>& S, const CsrView<PtrM>& M, const int32_t* targets, const int32_t* others,
                 int64_t n_pairs, const KnnPredictOptions& opts, float* out, int32_t* used, int n_threads);

// Baselines mu, b_user, b_item minimising sum (r - mu - b_u - b_i)^2 + reg_user |b_u|^2 +
// reg_item |b_i|^2 by alternating least squares (Surprise's baseline_only); empty rows get 0.
template <class Ptr>
void als_baselines(const CsrView<Ptr>& R, float reg_user, float reg_item, int epochs, float* mu, float* b_user,
                   float* b_item);

}  // namespace turborec
