#pragma once
// A read-only view of a CSR matrix owned elsewhere (numpy/scipy). Index widths follow the data
// conventions: int32 column indices; indptr int32 or int64, chosen by the template parameter.
#include <cstdint>
#include <string>

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

// The one check of a CSR pattern, used by every kernel that takes a CSR and by the Python layer.
enum class CsrPattern : int {
  canonical = 0,  // indptr from 0, non-decreasing, within nnz; indices in [0, n_cols), strictly increasing per row
  unsorted = 1,   // valid, but some row has unsorted or duplicate indices (the Python layer canonicalises it)
  invalid = 2,    // a broken indptr or an index outside [0, n_cols): never usable
};

struct CsrCheck {
  CsrPattern pattern = CsrPattern::canonical;
  std::string problem;  // what is wrong and where, for an error message; empty when canonical
};

// Checks the whole pattern in parallel; reports the first problem of the worst kind found.
template <class Ptr>
CsrCheck check_csr(const CsrView<Ptr>& a, int64_t stored, int n_threads);

// Throws std::invalid_argument("<what>: <problem>") unless the pattern is canonical.
template <class Ptr>
void require_canonical(const CsrView<Ptr>& a, const char* what, int n_threads);

}  // namespace turborec
