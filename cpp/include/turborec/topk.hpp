#pragma once
// Row-wise top-k selection: over a dense score matrix, and fused with a matrix product so the
// (queries x items) score matrix never exists.
//
// Results follow the data conventions: ids int32 (n, k) and scores float32 (n, k), each row best
// first (score descending, ties by lower id), padded with id -1 / score -inf.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "turborec/csr.hpp"
#include "turborec/simd_level.hpp"

namespace turborec {

// Top-k of each row of a dense (n, m) matrix. Positions stored in `exclude` (n x m, may be null) are
// never selected. NaN scores throw std::invalid_argument; infinities are ordinary scores.
template <class Ptr>
void topk_dense(const float* scores, int64_t n, int64_t m, int k, const CsrView<Ptr>* exclude,
                int32_t* out_ids, float* out_scores, int n_threads);

// Items (m, d) (+ item_bias (m), may be null) packed once into the SIMD panels topk_dot streams:
// built when a model is fitted and reused by every recommend call until the items change. Packed
// for the SIMD level active when built; a call at another level repacks into a temporary copy.
// Memory: round_up(m, panel width) * (d + 1) floats.
class PackedItems {
 public:
  PackedItems(const float* items, int64_t m, int d, const float* item_bias, int n_threads);
  ~PackedItems();
  PackedItems(const PackedItems&) = delete;
  PackedItems& operator=(const PackedItems&) = delete;

  int64_t n_items() const { return m_; }
  int dim() const { return d_; }
  SimdLevel level() const { return level_; }
  size_t nbytes() const { return floats_ * sizeof(float); }
  const float* panels() const { return panels_; }
  const float* bias() const { return bias_; }  // round_up(m, panel width) floats, zero-padded
  // Row-major (m, d) items and (m) biases recovered from the panels (for repacking).
  void unpack(float* items, float* item_bias) const;

 private:
  int64_t m_;
  int d_;
  SimdLevel level_;
  size_t floats_;
  float* raw_;
  float* panels_;
  float* bias_;
};

// Top-k of each row of queries (n, d) @ items^T (+ item bias), computed in cache blocks with the
// heaps updated as each block of scores is produced: the (n, m) score matrix never exists.
// Extra memory per thread: ~kDotMaxQueries * d floats. Throws std::invalid_argument if a score
// that could enter the top-k overflows float32.
template <class Ptr>
void topk_dot(const float* queries, int64_t n, const PackedItems& items, const CsrView<Ptr>* exclude, int k,
              int32_t* out_ids, float* out_scores, int n_threads);

}  // namespace turborec
