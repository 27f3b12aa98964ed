#include "turborec/sparse.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "turborec/threading.hpp"

namespace turborec {

template <class Ptr>
CsrMatrix transpose(const CsrView<Ptr>& a, int n_threads, const int32_t* row_order, bool values) {
  CsrMatrix t;
  t.n_rows = a.n_cols;
  t.n_cols = a.n_rows;
  const int64_t nnz = a.nnz();
  t.indptr.assign(static_cast<size_t>(a.n_cols + 1), 0);
  t.indices.resize(static_cast<size_t>(nnz));
  const bool with_data = values && a.data;
  t.data.resize(with_data ? static_cast<size_t>(nnz) : 0);
  // Each thread owns a contiguous band of rows: count its columns, then (after a prefix over
  // bands) scatter. Bands in order keep every output row sorted.
  const int threads = std::max(1, std::min<int>(resolve_threads(n_threads), static_cast<int>(std::max<int64_t>(1, nnz / 100000))));
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(threads));
  auto band = [&](int b) { return a.n_rows * b / threads; };
  parallel_chunks(threads, 1, threads, [&](int, int64_t b, int64_t) {
    auto& c = counts[b];
    c.assign(static_cast<size_t>(a.n_cols), 0);
    for (int64_t s = band(static_cast<int>(b)); s < band(static_cast<int>(b) + 1); ++s) {
      const int64_t r = row_order ? row_order[s] : s;
      for (int64_t p = a.row_begin(r); p < a.row_end(r); ++p) ++c[a.indices[p]];
    }
  });
  // counts[b][col] becomes the write position of band b in output row col.
  int64_t pos = 0;
  for (int64_t col = 0; col < a.n_cols; ++col) {
    t.indptr[col] = pos;
    for (int b = 0; b < threads; ++b) {
      const int64_t c = counts[b][col];
      counts[b][col] = pos;
      pos += c;
    }
  }
  t.indptr[a.n_cols] = pos;
  parallel_chunks(threads, 1, threads, [&](int, int64_t b, int64_t) {
    auto& next = counts[b];
    for (int64_t s = band(static_cast<int>(b)); s < band(static_cast<int>(b) + 1); ++s) {
      const int64_t r = row_order ? row_order[s] : s;
      for (int64_t p = a.row_begin(r); p < a.row_end(r); ++p) {
        const int64_t dst = next[a.indices[p]]++;
        t.indices[dst] = static_cast<int32_t>(s);
        if (with_data) t.data[dst] = a.data[p];
      }
    }
  });
  return t;
}

template <class Ptr>
CsrCheck check_csr(const CsrView<Ptr>& a, int64_t stored, int n_threads) {
  CsrCheck out;
  if (a.n_rows < 0 || a.n_cols < 0) return {CsrPattern::invalid, "negative shape"};
  if (a.indptr[0] != 0) return {CsrPattern::invalid, "indptr[0] must be 0"};
  if (static_cast<int64_t>(a.indptr[a.n_rows]) > stored)
    return {CsrPattern::invalid, "indptr[-1] exceeds the number of stored entries"};
  // Per thread: the first row with each kind of problem (rows are visited in order within a chunk).
  const int threads = resolve_threads(n_threads);
  std::vector<int64_t> first_invalid(static_cast<size_t>(threads), -1), first_unsorted(static_cast<size_t>(threads), -1);
  parallel_chunks(a.n_rows, 16384, n_threads, [&](int tid, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = a.row_begin(r), e = a.row_end(r);
      bool invalid = e < b || b < 0 || e > stored;  // never read an index outside the stored ones
      bool unsorted = false;
      for (int64_t p = b; p < e && !invalid; ++p) {
        const int32_t c = a.indices[p];
        if (c < 0 || c >= a.n_cols) invalid = true;
        else if (p > b && a.indices[p - 1] >= c) unsorted = true;
      }
      if (invalid && (first_invalid[tid] < 0 || r < first_invalid[tid])) first_invalid[tid] = r;
      if (unsorted && (first_unsorted[tid] < 0 || r < first_unsorted[tid])) first_unsorted[tid] = r;
    }
  });
  auto first = [](const std::vector<int64_t>& rows) {
    int64_t best = -1;
    for (int64_t r : rows)
      if (r >= 0 && (best < 0 || r < best)) best = r;
    return best;
  };
  if (const int64_t r = first(first_invalid); r >= 0) {
    const int64_t b = a.row_begin(r), e = a.row_end(r);
    if (e < b) return {CsrPattern::invalid, "indptr decreases at row " + std::to_string(r)};
    if (b < 0 || e > stored)
      return {CsrPattern::invalid, "indptr of row " + std::to_string(r) + " points outside the " +
                                       std::to_string(stored) + " stored entries"};
    for (int64_t p = b; p < e; ++p) {
      const int32_t c = a.indices[p];
      if (c < 0 || c >= a.n_cols)
        return {CsrPattern::invalid, "row " + std::to_string(r) + " has column index " + std::to_string(c) +
                                         " outside [0, " + std::to_string(a.n_cols) + ")"};
    }
  }
  if (const int64_t r = first(first_unsorted); r >= 0)
    return {CsrPattern::unsorted,
            "column indices of row " + std::to_string(r) + " are not strictly increasing (unsorted or duplicated)"};
  return out;
}

template <class Ptr>
void require_canonical(const CsrView<Ptr>& a, const char* what, int n_threads) {
  const CsrCheck c = check_csr(a, a.nnz(), n_threads);
  if (c.pattern != CsrPattern::canonical) throw std::invalid_argument(std::string(what) + ": " + c.problem);
}

template <class Ptr>
std::vector<float> row_norms(const CsrView<Ptr>& a, int n_threads) {
  std::vector<float> out(static_cast<size_t>(a.n_rows));
  parallel_chunks(a.n_rows, 16384, n_threads, [&](int, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      double s = 0.0;
      for (int64_t p = a.row_begin(r); p < a.row_end(r); ++p) s += static_cast<double>(a.data[p]) * a.data[p];
      out[r] = static_cast<float>(std::sqrt(s));
    }
  });
  return out;
}

template <class Ptr>
std::vector<float> scale_rows(const CsrView<Ptr>& a, const float* scale, int n_threads) {
  std::vector<float> out(static_cast<size_t>(a.nnz()));
  parallel_chunks(a.n_rows, 16384, n_threads, [&](int, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r)
      for (int64_t p = a.row_begin(r); p < a.row_end(r); ++p) out[p] = a.data[p] * scale[r];
  });
  return out;
}

template CsrCheck check_csr(const CsrView<int32_t>&, int64_t, int);
template CsrCheck check_csr(const CsrView<int64_t>&, int64_t, int);
template void require_canonical(const CsrView<int32_t>&, const char*, int);
template void require_canonical(const CsrView<int64_t>&, const char*, int);
template std::vector<float> row_norms(const CsrView<int32_t>&, int);
template std::vector<float> row_norms(const CsrView<int64_t>&, int);
template std::vector<float> scale_rows(const CsrView<int32_t>&, const float*, int);
template std::vector<float> scale_rows(const CsrView<int64_t>&, const float*, int);
template CsrMatrix transpose(const CsrView<int32_t>&, int, const int32_t*, bool);
template CsrMatrix transpose(const CsrView<int64_t>&, int, const int32_t*, bool);

}  // namespace turborec
