// Dense row-wise top-k and the shared finishing step (sorting heaps into results).
#include "turborec/topk.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/heap.hpp"
#include "turborec/kernels.hpp"
#include "turborec/threading.hpp"

namespace turborec {

int heap_reorder(float* vals, int32_t* ids, int k) {
  // k is small (a result row): a sort of (score, id) pairs is simpler than popping the heap.
  std::vector<std::pair<float, int32_t>> items(static_cast<size_t>(k));
  for (int t = 0; t < k; ++t) items[t] = {vals[t], ids[t]};
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return heap_beats(a.first, a.second, b.first, b.second);
  });
  int filled = 0;
  for (int t = 0; t < k; ++t) {
    vals[t] = items[t].first;
    ids[t] = items[t].second == kHeapEmptyId ? -1 : items[t].second;
    if (ids[t] >= 0) ++filled;
  }
  return filled;
}

template <class Ptr>
void topk_dense(const float* scores, int64_t n, int64_t m, int k, const CsrView<Ptr>* exclude,
                int32_t* out_ids, float* out_scores, int n_threads) {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  if (exclude) require_canonical(*exclude, "exclude", n_threads);
  const KernelTable& K = kernels();
  std::vector<int64_t> nan_rows(static_cast<size_t>(resolve_threads(n_threads)), -1);
  // Rows are independent; ~64K scores per chunk keeps scheduling overhead negligible.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(m, 1));
  parallel_chunks(n, chunk, n_threads, [&](int tid, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* hv = out_scores + r * k;
      int32_t* hi = out_ids + r * k;
      heap_init(hv, hi, k);
      const float* row = scores + r * m;
      bool ok = true;
      int64_t lo = 0;
      if (exclude) {  // scan the stretches between excluded columns
        for (int64_t p = exclude->row_begin(r); p < exclude->row_end(r); ++p) {
          const int64_t c = exclude->indices[p];
          ok &= K.topk_scan(row + lo, c - lo, static_cast<int32_t>(lo), k, hv, hi);
          lo = c + 1;
        }
      }
      ok &= K.topk_scan(row + lo, m - lo, static_cast<int32_t>(lo), k, hv, hi);
      if (!ok && (nan_rows[tid] < 0 || r < nan_rows[tid])) nan_rows[tid] = r;
      heap_reorder(hv, hi, k);
    }
  });
  int64_t first_nan = -1;
  for (int64_t r : nan_rows)
    if (r >= 0 && (first_nan < 0 || r < first_nan)) first_nan = r;
  if (first_nan >= 0)
    throw std::invalid_argument("scores: row " + std::to_string(first_nan) +
                                " contains NaN; NaN cannot be ranked (use -inf for 'never recommend')");
}

template void topk_dense(const float*, int64_t, int64_t, int, const CsrView<int32_t>*, int32_t*, float*, int);
template void topk_dense(const float*, int64_t, int64_t, int, const CsrView<int64_t>*, int32_t*, float*, int);

}  // namespace turborec
