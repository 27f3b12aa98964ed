#pragma once
// A read-only view of a CSR matrix owned elsewhere (numpy/scipy). Index widths follow the data
// conventions: int32 column indices; indptr int32 or int64, chosen by the template parameter.
#include <cstdint>

namespace turborec {

template <class Ptr>
struct CsrView {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  const Ptr* indptr = nullptr;      // n_rows + 1 entries
  const int32_t* indices = nullptr;  // sorted within each row, no duplicates
  const float* data = nullptr;       // may be null where only the pattern matters

  int64_t row_begin(int64_t r) const { return static_cast<int64_t>(indptr[r]); }
  int64_t row_end(int64_t r) const { return static_cast<int64_t>(indptr[r + 1]); }
  int64_t nnz() const { return static_cast<int64_t>(indptr[n_rows]); }
};

}  // namespace turborec
