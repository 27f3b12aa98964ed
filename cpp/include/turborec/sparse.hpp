#pragma once
// Owned CSR storage and basic sparse operations used by the similarity and neighbourhood kernels.
#include <cstdint>
#include <vector>

#include "turborec/csr.hpp"

namespace turborec {

// A CSR matrix the core allocated (int64 indptr); handed to Python without copying.
struct CsrMatrix {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<float> data;

  CsrView<int64_t> view() const {
    return CsrView<int64_t>{n_rows, n_cols, indptr.data(), indices.data(), data.data()};
  }
};

// The transpose as CSR (rows sorted), by a parallel counting sort: O(nnz + n_cols * n_threads).
// With `row_order` (a permutation of a's rows), row row_order[t] of `a` becomes column t of the
// result (a relabelling). With values = false only the pattern is built (data stays empty).
template <class Ptr>
CsrMatrix transpose(const CsrView<Ptr>& a, int n_threads, const int32_t* row_order = nullptr, bool values = true);

// Euclidean norm of every row (accumulated in double).
template <class Ptr>
std::vector<float> row_norms(const CsrView<Ptr>& a, int n_threads);

// data[p] * scale[row of p] for every stored entry: rows scaled without a Python-side repeat.
template <class Ptr>
std::vector<float> scale_rows(const CsrView<Ptr>& a, const float* scale, int n_threads);

}  // namespace turborec
