#pragma once
// Sparse matrix product fused with per-row top-k selection: the engine behind all-pairs
// similarity (A = weighted rows of X, candidates = weighted rows of Y) and neighbourhood
// recommend (A = users' ratings, candidates = the item-item graph, transposed).
//
// scores[i, j] = scale[j] * sum_f A[i, f] * Y[j, f]. Row i is accumulated Gustavson-style into a
// per-thread dense accumulator of n_y slots, reduced to its top k, and cleared as it is read; the
// product never exists. Memory: O(n_threads * n_y) scratch + nnz(Y) for the prepared operand.
#include <cstdint>
#include <vector>

#include "turborec/csr.hpp"
#include "turborec/sparse.hpp"

namespace turborec {

// The candidate side, prepared once and reusable across calls: Y transposed to (n_f x n_y) with
// candidates relabelled most-connected first (so the accumulator slots that get most of the updates
// share few cache lines), values dropped when they are all equal (binary data: half the memory
// traffic), and per-candidate scale factors in the new order.
struct ProductOperand {
  CsrMatrix b;                 // n_f x n_y in new ids; b.data empty when pattern_only
  bool pattern_only = false;   // every value of Y equals `value` (folded into scale)
  std::vector<int32_t> to_original;  // new id -> candidate id
  std::vector<int32_t> to_new;       // candidate id -> new id
  std::vector<float> scale;          // by new id; empty when all ones
  std::vector<float> scale_bound;    // 1 / max(scale) per kScaleBlock new ids; empty unless scale >= 0
  int64_t n_y() const { return b.n_cols; }
};

template <class Ptr>
ProductOperand prepare_operand(const CsrView<Ptr>& y, const float* scale, int n_threads);

struct SparseTopkOptions {
  int k = 10;
  // Applied in this order (support = number of shared columns with a nonzero product):
  bool jaccard = false;        // score = support / (a_sizes[i] + y_sizes[j] - support)
  int min_support = 1;         // drop pairs with support < min_support
  float shrinkage = 0.0f;      // score *= support / (support + shrinkage)
  bool has_threshold = false;  // drop scores < threshold
  float threshold = 0.0f;
  bool exclude_diagonal = false;        // rows of A are the candidates themselves: skip j == i
  const float* a_sizes = nullptr;       // jaccard: entries per row of A (n_a)
  const float* y_sizes = nullptr;       // jaccard: entries per candidate (n_y, candidate ids)
  const uint8_t* candidates = nullptr;  // optional (n_y, candidate ids): only flagged ones qualify

  bool needs_support() const { return jaccard || min_support > 1 || shrinkage > 0.0f; }
};

// Top-k of each row of A (n_a x n_f) against the prepared candidates. Only candidates sharing a
// column with a nonzero product are ranked. `exclude` (n_a x n_y candidate ids, may be null) removes
// positions per row. Results are written padded (ids -1 / score -inf) to out_ids/out_scores
// (n_a x k), rows best first, ties by lower candidate id. Deterministic: every score is summed in
// A's row order, whatever the thread count or SIMD level.
template <class Ptr>
void sparse_product_topk(const CsrView<Ptr>& a, const ProductOperand& y, const CsrView<Ptr>* exclude,
                         const SparseTopkOptions& opts, int32_t* out_ids, float* out_scores, int n_threads);

// Padded top-k rows (n x k, ids -1 for empty slots) to a canonical CSR (columns sorted per row).
CsrMatrix padded_topk_to_csr(const int32_t* ids, const float* scores, int64_t n, int k, int64_t n_cols,
                             int n_threads);

}  // namespace turborec
