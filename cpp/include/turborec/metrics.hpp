#pragma once
// Ranking metrics of top-k recommendation lists, one value per user, computed in parallel over users.
//
// Inputs, for n_users users:
//   recommended  int32 (n_users, width), row-major: each row best first; -1 marks an empty slot
//                (topk's padding). Only the first k columns are read (1 <= k <= width). Ids lie in
//                [-1, n_items) and a row's first k ids hold no item twice.
//   relevant     CSR (n_users, n_rel_items <= n_items), sorted indices: the held-out (test) items.
//                Stored entries are the relevant items whatever their value; the values are read
//                only for graded NDCG gains and must then be finite and >= 0.
//   exclude      optional CSR (n_users, n_items): items that are no candidates (e.g. the train
//                items). Used by AUC only.
//
// For a user u with relevant set R (|R| = n_rel) and list L_1..L_k (position i is 1-based), let
// hit_i = 1 if L_i is in R (an empty slot never hits) and hits = sum_i hit_i. Then
//
//   precision@k  = hits / k                  (k, not min(k, n_rel): a user with 2 relevant items
//                                             scores at most 2/k; implicit's "precision" divides
//                                             by min(k, n_rel) and so is really a recall-like ratio)
//   recall@k     = hits / n_rel
//   hit_rate@k   = 1 if hits > 0 else 0
//   RR@k         = 1 / (first i with hit_i), 0 without a hit   (MRR is its mean)
//   AP@k         = (1 / min(k, n_rel)) * sum_{i: hit_i} (sum_{j <= i} hit_j) / i     (MAP: its mean)
//   NDCG@k       = DCG / IDCG,  DCG = sum_{i: hit_i} g(L_i) / log2(i + 1),
//                  IDCG = sum_{j=1}^{min(k, n_rel)} g_(j) / log2(j + 1) with g_(1) >= g_(2) >= ...
//                  the gains of R sorted descending. Gains g: binary 1; linear rel; exponential
//                  2^rel - 1. IDCG = 0 (every gain 0) gives NaN.
//   AUC          the probability that a random positive ranks above a random negative, ties
//                counting 1/2, over the user's candidates C = all n_items items minus the excluded
//                ones. Positives P = R ∩ C, negatives N = C \ R. Listed candidates rank by
//                position; every candidate not in the list ranks below every listed one, all tied.
//                With n_neg_before(p) the negatives listed above a listed positive p:
//                  AUC = ( sum_{listed p in P} (|N| - n_neg_before(p))
//                          + 1/2 * |P unlisted| * |N unlisted| ) / (|P| |N|).
//                Listed excluded items are skipped. NaN when P or N is empty.
//
// A user with no relevant items gets NaN in every metric.
#include <cstdint>

#include "turborec/csr.hpp"

namespace turborec {

enum class Gain : int { kBinary = 0, kLinear = 1, kExponential = 2 };

// One output array of n_users values per metric; a null pointer skips that metric.
template <class T>
struct RankingOutputs {
  T* precision = nullptr;
  T* recall = nullptr;
  T* ndcg = nullptr;
  T* average_precision = nullptr;
  T* hit_rate = nullptr;
  T* reciprocal_rank = nullptr;
  T* auc = nullptr;
};

// Fills the requested per-user metrics (formulas above). `relevant.data` must be set unless gain is
// kBinary. Inputs are checked as they are read (id ranges, duplicates, CSR patterns); the first
// offending row is reported by std::invalid_argument naming the argument.
template <class Ptr, class T>
void ranking_metrics(const int32_t* recommended, int64_t n_users, int64_t width, int k, int64_t n_items,
                     const CsrView<Ptr>& relevant, Gain gain, const CsrView<Ptr>* exclude,
                     const RankingOutputs<T>& out, int n_threads);

}  // namespace turborec
