// Fused matrix product + top-k: items are packed once into SIMD panels (PackedItems, kept by the
// model), then each thread takes chunks of queries and streams the panels through L2-sized blocks,
// updating heaps tile by tile.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/heap.hpp"
#include "turborec/kernels.hpp"
#include "turborec/threading.hpp"
#include "turborec/topk.hpp"

namespace turborec {

PackedItems::PackedItems(const float* items, int64_t m, int d, const float* item_bias, int n_threads)
    : m_(m), d_(d), level_(active_simd_level()) {
  if (d < 1) throw std::invalid_argument("items need at least one column");
  if (m < 0 || m >= INT32_MAX) throw std::invalid_argument("items: at most 2^31 - 2 rows");
  const KernelTable& K = kernels_for(level_);
  const int64_t nr = K.dot_nr;
  const int64_t n_panels = (m + nr - 1) / nr;
  floats_ = static_cast<size_t>(n_panels * nr) * static_cast<size_t>(d + 1);
  // 64-byte aligned (operator new only promises 16): the panels are streamed by aligned vector loads.
  raw_ = static_cast<float*>(::operator new[](floats_ * sizeof(float) + 64));
  panels_ = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(raw_) + 63) & ~uintptr_t(63));
  bias_ = panels_ + static_cast<size_t>(n_panels * nr) * static_cast<size_t>(d);
  parallel_chunks(n_panels, 256, n_threads, [&](int, int64_t b, int64_t e) {
    const int64_t m_end = std::min(m, e * nr);
    K.dot_pack_items(items + b * nr * d, m_end - b * nr, d, panels_ + b * nr * d);
  });
  for (int64_t j = 0; j < n_panels * nr; ++j) bias_[j] = (item_bias && j < m) ? item_bias[j] : 0.0f;
}

PackedItems::~PackedItems() { ::operator delete[](raw_); }

void PackedItems::unpack(float* items, float* item_bias) const {
  const int64_t nr = kernels_for(level_).dot_nr;
  for (int64_t j = 0; j < m_; ++j) {
    const float* panel = panels_ + (j / nr) * nr * d_;
    for (int t = 0; t < d_; ++t) items[j * d_ + t] = panel[t * nr + j % nr];
    item_bias[j] = bias_[j];
  }
}

template <class Ptr>
void topk_dot(const float* queries, int64_t n, const PackedItems& items, const CsrView<Ptr>* exclude, int k,
              int32_t* out_ids, float* out_scores, int n_threads) {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  const int64_t m = items.n_items();
  const int d = items.dim();
  if (exclude) {
    if (exclude->n_rows != n || exclude->n_cols != m) throw std::invalid_argument("exclude: shape must be (queries, items)");
    require_canonical(*exclude, "exclude", n_threads);
  }
  if (items.level() != active_simd_level()) {  // the SIMD level changed since packing: repack for this call
    std::vector<float> rows(static_cast<size_t>(m) * d), bias(static_cast<size_t>(m));
    items.unpack(rows.data(), bias.data());
    const PackedItems repacked(rows.data(), m, d, bias.data(), n_threads);
    topk_dot(queries, n, repacked, exclude, k, out_ids, out_scores, n_threads);
    return;
  }
  const KernelTable& K = kernels();

  // Query chunks: big enough to reuse each L2 block of items many times, small enough that the
  // packed queries stay in L2 and several chunks exist per thread for load balance.
  const int threads = resolve_threads(n_threads);
  int64_t chunk = kDotMaxQueries / 4;
  while (chunk > K.dot_mr && n / chunk < 4 * threads) chunk /= 2;
  chunk = std::max<int64_t>(K.dot_mr, chunk / K.dot_mr * K.dot_mr);

  std::vector<std::vector<float>> qbufs(static_cast<size_t>(threads));
  std::vector<int64_t> bad_row(static_cast<size_t>(threads), -1);
  parallel_chunks(n, chunk, n_threads, [&](int tid, int64_t b, int64_t e) {
    std::vector<float>& qbuf = qbufs[tid];
    const int64_t nq = e - b;
    qbuf.resize(static_cast<size_t>((nq + K.dot_mr - 1) / K.dot_mr * K.dot_mr * d));
    const int32_t* excl[kDotMaxQueries];
    int64_t excl_len[kDotMaxQueries];
    for (int64_t q = 0; q < nq; ++q) {
      heap_init(out_scores + (b + q) * k, out_ids + (b + q) * k, k);
      if (exclude) {
        excl[q] = exclude->indices + exclude->row_begin(b + q);
        excl_len[q] = exclude->row_end(b + q) - exclude->row_begin(b + q);
      } else {
        excl[q] = nullptr;
        excl_len[q] = 0;
      }
    }
    const bool ok = K.dot_topk(queries + b * d, nq, items.panels(), m, d, items.bias(), excl, excl_len, k,
                               out_scores + b * k, out_ids + b * k, qbuf.data());
    if (!ok && (bad_row[tid] < 0 || b < bad_row[tid])) bad_row[tid] = b;
    for (int64_t q = b; q < e; ++q) heap_reorder(out_scores + q * k, out_ids + q * k, k);
  });
  for (int64_t r : bad_row)
    if (r >= 0)
      throw std::invalid_argument("queries @ items.T overflowed float32 (scores reached inf or NaN) in query rows from " +
                                  std::to_string(r) + "; rescale queries or items");
}

template void topk_dot(const float*, int64_t, const PackedItems&, const CsrView<int32_t>*, int, int32_t*, float*, int);
template void topk_dot(const float*, int64_t, const PackedItems&, const CsrView<int64_t>*, int, int32_t*, float*, int);

}  // namespace turborec
