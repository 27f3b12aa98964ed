#pragma once
// Row-wise top-k selection: over a dense score matrix, and fused with a matrix product so the
// (queries x items) score matrix never exists.
//
// Results follow the data conventions: ids int32 (n, k) and scores float32 (n, k), each row best
// first (score descending, ties by lower id), padded with id -1 / score -inf.
#include <cstdint>

#include "turborec/csr.hpp"

namespace turborec {

// Checks the pattern of a CSR matrix (indptr monotone from 0, column indices in range and strictly
// increasing within rows); throws std::invalid_argument naming `what` and the first bad row.
template <class Ptr>
void check_csr_pattern(const CsrView<Ptr>& csr, const char* what);

// Top-k of each row of a dense (n, m) matrix. Positions stored in `exclude` (n x m, may be null) are
// never selected. NaN scores throw std::invalid_argument; infinities are ordinary scores.
template <class Ptr>
void topk_dense(const float* scores, int64_t n, int64_t m, int k, const CsrView<Ptr>* exclude,
                int32_t* out_ids, float* out_scores, int n_threads);

// Top-k of each row of queries (n, d) @ items (m, d)^T (+ item_bias (m), may be null), computed in
// cache blocks with the heaps updated as each block of scores is produced.
// Extra memory: m * d floats of packed items plus, per thread, ~kDotMaxQueries * d floats.
template <class Ptr>
void topk_dot(const float* queries, int64_t n, const float* items, int64_t m, int d,
              const float* item_bias, const CsrView<Ptr>* exclude, int k, int32_t* out_ids,
              float* out_scores, int n_threads);

}  // namespace turborec
