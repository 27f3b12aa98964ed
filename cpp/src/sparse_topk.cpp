#include "turborec/sparse_topk.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/heap.hpp"
#include "turborec/kernels.hpp"
#include "turborec/threading.hpp"
#include "turborec/topk.hpp"

namespace turborec {

namespace {

// Top-k selection that does not care in which order scores arrive: candidates at or above the
// threshold are appended to a buffer; when it fills, the best k are kept and the threshold rises to
// the k-th score. (A heap degrades when scores arrive in increasing order, which the popularity
// relabelling of candidates tends to produce: cosine favours less popular items.)
struct Selector {
  int64_t cap = 0;  // small enough that the threshold rises early, large enough to amortise reduce()
  int k = 0;
  float floor = 0.0f;      // the caller's minimum score (or -inf)
  float threshold = 0.0f;  // max(floor, k-th best so far once the buffer overflowed)
  int64_t count = 0;
  bool nan_seen = false;
  std::vector<float> scores;
  std::vector<int32_t> ids;
  std::vector<std::pair<float, int32_t>> work;

  void init(int k_, float floor_) {
    k = k_;
    floor = floor_;
    cap = std::max<int64_t>(8 * static_cast<int64_t>(k), 512);
    scores.resize(static_cast<size_t>(cap));
    ids.resize(static_cast<size_t>(cap));
  }
  void start_row() {
    threshold = floor;
    count = 0;
    nan_seen = false;
  }
  void add(float s, int32_t id) {
    if (s != s) {
      nan_seen = true;
      return;
    }
    if (s < threshold) return;
    scores[count] = s;
    ids[count] = id;
    if (++count == cap) reduce();
  }
  // Keep the best k (score descending, id ascending) at the front.
  void reduce() {
    if (count <= k) return;
    work.resize(static_cast<size_t>(count));
    for (int64_t t = 0; t < count; ++t) work[t] = {scores[t], ids[t]};
    auto better = [](const auto& a, const auto& b) { return heap_beats(a.first, a.second, b.first, b.second); };
    std::nth_element(work.begin(), work.begin() + (k - 1), work.end(), better);
    for (int t = 0; t < k; ++t) {
      scores[t] = work[t].first;
      ids[t] = work[t].second;
    }
    count = k;
    threshold = std::max(floor, work[k - 1].first);
  }
  // Write the best k, best first, padded with -1 / -inf.
  void finish(float* out_s, int32_t* out_id) {
    reduce();
    work.resize(static_cast<size_t>(count));
    for (int64_t t = 0; t < count; ++t) work[t] = {scores[t], ids[t]};
    std::sort(work.begin(), work.end(),
              [](const auto& a, const auto& b) { return heap_beats(a.first, a.second, b.first, b.second); });
    for (int t = 0; t < k; ++t) {
      const bool real = t < count;
      out_s[t] = real ? work[t].first : -std::numeric_limits<float>::infinity();
      out_id[t] = real ? work[t].second : -1;
    }
  }
};

// Per-thread accumulator state. A slot holding -0.0 was never touched by a nonzero product: sums
// start from -0.0 (and -0.0 + x == x), so no separate "touched" flag is needed. Each update also
// marks its block of kAccBlock slots, so selection visits only blocks that were touched (all of
// them for a row reaching most candidates, a few for a light row) without a per-update list.
struct Scratch {
  std::vector<float> acc;
  std::vector<int32_t> support;  // shared columns per slot, when the options need them
  std::vector<uint8_t> marks;    // one per block, + 8 bytes of zero padding for word reads
  std::vector<uint8_t> skip;     // not a candidate for the current row
  Selector select;

  void init(int64_t n_y, bool counted, const std::vector<uint8_t>& base_skip) {
    if (!acc.empty() || n_y == 0) return;
    acc.assign(static_cast<size_t>(n_y), -0.0f);
    if (counted) support.assign(static_cast<size_t>(n_y), 0);
    marks.assign(static_cast<size_t>((n_y + kAccBlock - 1) / kAccBlock + 8), 0);
    skip = base_skip;
  }
};

inline bool is_negative_zero(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return bits == 0x80000000u;
}

// B's rows are visited in an order the hardware prefetcher cannot guess: request the whole row a
// few visits ahead (measured: ~1.5x on power-law data, where rows are short and scattered).
// Finding a row's extent is itself a cache miss (B's indptr is megabytes, visited at random), so
// that entry is requested further ahead: otherwise each row prefetch waits for it (measured on
// the case, alternating runs: 10-20% faster).
constexpr int kPrefetchAhead = 4;
constexpr int kIndptrAhead = 16;

// GCC treats a loop of __builtin_prefetch as free of side effects and deletes it at -O2 (seen
// with GCC 12); an asm statement cannot be deleted. prefetcht0 is part of baseline x86-64.
inline void prefetch(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

template <class Ptr>
struct Context {
  const CsrView<Ptr>& a;
  const ProductOperand& y;
  const CsrView<Ptr>* exclude;
  const SparseTopkOptions& o;
  const KernelTable& K;
  float min_score;
  std::vector<uint8_t> base_skip;  // by new id
  std::vector<float> y_sizes;      // jaccard, by new id

  void prefetch_row(int64_t f) const {
    const CsrMatrix& b = y.b;
    for (int64_t l = b.indptr[f]; l < b.indptr[f + 1]; l += 16) {
      prefetch(b.indices.data() + l);
      if (!y.pattern_only) prefetch(b.data.data() + l);
    }
  }

  // Excluded candidates and the diagonal are skipped for row i only; the base flags come back after.
  void mark_skips(int64_t i, Scratch& sc, bool on) const {
    auto set = [&](int64_t j_new) { sc.skip[j_new] = on ? 1 : base_skip[j_new]; };
    if (exclude)
      for (int64_t p = exclude->row_begin(i); p < exclude->row_end(i); ++p) set(y.to_new[exclude->indices[p]]);
    if (o.exclude_diagonal && i < y.n_y()) set(y.to_new[i]);
  }

  // acc[j] += A[i, f] * Y[j, f] over the row, marking touched blocks (and counting support). A row
  // that will be scanned densely skips the marks: one store less per multiply-add.
  template <bool kPattern, bool kCounted, bool kMarked>
  void accumulate(int64_t i, Scratch& sc) const {
    float* acc = sc.acc.data();
    uint8_t* marks = sc.marks.data();
    int32_t* support = kCounted ? sc.support.data() : nullptr;
    const int64_t* bp = y.b.indptr.data();
    const int32_t* bi = y.b.indices.data();
    const float* bv = y.b.data.data();
    const int64_t pb = a.row_begin(i), pe = a.row_end(i);
    for (int64_t p = pb; p < pe; ++p) {
      if (p + kIndptrAhead < pe) prefetch(bp + a.indices[p + kIndptrAhead]);
      if (p + kPrefetchAhead < pe) prefetch_row(a.indices[p + kPrefetchAhead]);
      const int64_t f = a.indices[p];
      const float w = a.data[p];
      const int64_t e = bp[f + 1];
      for (int64_t q = bp[f]; q < e; ++q) {
        const int32_t j = bi[q];
        acc[j] += kPattern ? w : w * bv[q];
        if constexpr (kMarked) marks[j / kAccBlock] = 1;
        if constexpr (kCounted) ++support[j];
      }
    }
  }

  // Plain scores: the SIMD scan of the marked blocks (or of every slot) feeds the selector.
  void select_scores(Scratch& sc, bool dense) const {
    Selector& sel = sc.select;
    const float* scale = y.scale.empty() ? nullptr : y.scale.data();
    if (dense) {
      for (int64_t end = y.n_y(); end > 0;) {
        end = K.scan_dense(sc.acc.data(), end, scale, y.scale_bound.empty() ? nullptr : y.scale_bound.data(),
                           sc.skip.data(), y.to_original.data(), sel.threshold,
                           sel.scores.data(), sel.ids.data(), sel.cap, &sel.count, &sel.nan_seen);
        if (end > 0) sel.reduce();
      }
      return;
    }
    const int64_t n_blocks = (y.n_y() + kAccBlock - 1) / kAccBlock;
    for (int64_t block = n_blocks; block > 0;) {
      block = K.scan_marked(sc.acc.data(), sc.marks.data(), block, y.n_y(), scale, sc.skip.data(),
                            y.to_original.data(), sel.threshold, sel.scores.data(), sel.ids.data(), sel.cap,
                            &sel.count, &sel.nan_seen);
      if (block > 0) sel.reduce();
    }
  }

  // Scores that depend on support (jaccard, shrinkage, min_support): a scalar visit of the marked blocks.
  void select_supported(int64_t i, Scratch& sc) const {
    const int64_t n_blocks = (y.n_y() + kAccBlock - 1) / kAccBlock;
    for (int64_t block = 0; block < n_blocks; ++block) {
      if (!sc.marks[block]) continue;
      sc.marks[block] = 0;
      const int64_t end = std::min(y.n_y(), (block + 1) * kAccBlock);
      for (int64_t j = block * kAccBlock; j < end; ++j) {
        const int32_t shared = sc.support[j];
        float score = sc.acc[j];
        sc.support[j] = 0;
        sc.acc[j] = -0.0f;
        if (shared == 0 || is_negative_zero(score) || sc.skip[j] || shared < o.min_support) continue;
        if (!y.scale.empty()) score *= y.scale[j];
        if (o.jaccard) score = static_cast<float>(shared) / (o.a_sizes[i] + y_sizes[j] - static_cast<float>(shared));
        if (o.shrinkage > 0.0f) score *= static_cast<float>(shared) / (static_cast<float>(shared) + o.shrinkage);
        sc.select.add(score, y.to_original[j]);
      }
    }
  }

  // `cost` is the row's number of multiply-adds. With cost >= n_y / (4 kAccBlock), uniformly spread
  // updates touch at least 1 - e^(-1/4) ~ 22% of the blocks, and a vector compare per W slots then
  // costs less than a mark byte per update plus a branch per block (measured on the case:
  // thresholds of n_y, n_y / 4 and n_y / 16 were slower, n_y / 64 as fast as scanning every row
  // densely). The choice changes speed, not results.
  void row(int64_t i, int64_t cost, Scratch& sc) const {
    if (o.needs_support()) {
      y.pattern_only ? accumulate<true, true, true>(i, sc) : accumulate<false, true, true>(i, sc);
      select_supported(i, sc);
      return;
    }
    const bool dense = cost * 4 * kAccBlock >= y.n_y();
    if (dense)
      y.pattern_only ? accumulate<true, false, false>(i, sc) : accumulate<false, false, false>(i, sc);
    else
      y.pattern_only ? accumulate<true, false, true>(i, sc) : accumulate<false, false, true>(i, sc);
    select_scores(sc, dense);
  }
};

}  // namespace

template <class Ptr>
ProductOperand prepare_operand(const CsrView<Ptr>& y, const float* scale, int n_threads) {
  require_canonical(y, "Y", n_threads);
  if (y.n_rows >= INT32_MAX) throw std::invalid_argument("Y: at most 2^31 - 2 candidates");
  ProductOperand op;
  const int64_t n_y = y.n_rows;
  // Most-connected candidates first: they take most of the accumulator updates.
  op.to_original.resize(static_cast<size_t>(n_y));
  std::iota(op.to_original.begin(), op.to_original.end(), 0);
  std::stable_sort(op.to_original.begin(), op.to_original.end(), [&](int32_t x, int32_t z) {
    return y.row_end(x) - y.row_begin(x) > y.row_end(z) - y.row_begin(z);
  });
  op.to_new.resize(static_cast<size_t>(n_y));
  for (int64_t t = 0; t < n_y; ++t) op.to_new[op.to_original[t]] = static_cast<int32_t>(t);
  // Binary data needs no values in the inner loop: the common value moves into the scale.
  const int64_t nnz = y.nnz();
  float value = 1.0f;
  op.pattern_only = true;
  if (y.data && nnz > 0) {
    value = y.data[0];
    for (int64_t p = 1; p < nnz && op.pattern_only; ++p) op.pattern_only = y.data[p] == value;
  }
  // Only a positive common value moves into the scale: a negative one would turn the -0.0 of an
  // untouched slot into +0.0 and make it look like a candidate with score 0.
  if (!(value > 0.0f)) op.pattern_only = false;
  if (!op.pattern_only) value = 1.0f;
  op.b = transpose(y, n_threads, op.to_original.data(), !op.pattern_only);
  if (scale || value != 1.0f) {
    op.scale.resize(static_cast<size_t>(n_y));
    for (int64_t t = 0; t < n_y; ++t) op.scale[t] = (scale ? scale[op.to_original[t]] : 1.0f) * value;
  }
  // Cosine's scale (1 / norm) rises along the new ids, popular candidates first, so a block's
  // maximum is close to each of its slots' scale and the bound skips most of the scan's scale reads.
  if (!op.scale.empty() && std::all_of(op.scale.begin(), op.scale.end(), [](float v) { return v >= 0.0f; })) {
    op.scale_bound.resize(static_cast<size_t>((n_y + kScaleBlock - 1) / kScaleBlock));
    for (size_t b = 0; b < op.scale_bound.size(); ++b) {
      const int64_t lo = static_cast<int64_t>(b) * kScaleBlock, hi = std::min(n_y, lo + kScaleBlock);
      const float top = *std::max_element(op.scale.begin() + lo, op.scale.begin() + hi);
      op.scale_bound[b] = 1.0f / top;  // +inf for an all-zero block: nothing there can pass
    }
  }
  return op;
}

template <class Ptr>
void sparse_product_topk(const CsrView<Ptr>& a, const ProductOperand& y, const CsrView<Ptr>* exclude,
                         const SparseTopkOptions& o, int32_t* out_ids, float* out_scores, int n_threads) {
  if (o.k < 1) throw std::invalid_argument("k must be >= 1");
  if (a.n_cols != y.b.n_rows)
    throw std::invalid_argument("A has " + std::to_string(a.n_cols) + " columns but the candidates have " +
                                std::to_string(y.b.n_rows));
  if (o.jaccard && (!o.a_sizes || !o.y_sizes)) throw std::invalid_argument("jaccard needs row sizes");
  require_canonical(a, "A", n_threads);
  if (exclude) require_canonical(*exclude, "exclude", n_threads);
  const int64_t n_y = y.n_y();
  Context<Ptr> ctx{a, y, exclude, o, kernels(),
                   o.has_threshold ? o.threshold : -std::numeric_limits<float>::infinity(), {}, {}};
  ctx.base_skip.assign(static_cast<size_t>(n_y), 0);
  if (o.candidates)
    for (int64_t t = 0; t < n_y; ++t) ctx.base_skip[t] = o.candidates[y.to_original[t]] ? 0 : 1;
  if (o.jaccard) {
    ctx.y_sizes.resize(static_cast<size_t>(n_y));
    for (int64_t t = 0; t < n_y; ++t) ctx.y_sizes[t] = o.y_sizes[y.to_original[t]];
  }
  // Rows cost very different amounts (a popular item reaches most of the catalogue): schedule
  // the most expensive first, in small dynamic chunks, so no thread is left with a giant at the end.
  const int64_t* bp = y.b.indptr.data();
  std::vector<int64_t> cost(static_cast<size_t>(a.n_rows));
  parallel_chunks(a.n_rows, 4096, n_threads, [&](int, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      int64_t c = 0;
      for (int64_t p = a.row_begin(i); p < a.row_end(i); ++p) c += bp[a.indices[p] + 1] - bp[a.indices[p]];
      cost[i] = c;
    }
  });
  std::vector<int64_t> order(static_cast<size_t>(a.n_rows));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t z) { return cost[x] > cost[z]; });
  std::vector<Scratch> scratch(static_cast<size_t>(resolve_threads(n_threads)));
  std::vector<int64_t> bad_row(scratch.size(), -1);
  parallel_chunks(a.n_rows, 8, n_threads, [&](int tid, int64_t lo, int64_t hi) {
    Scratch& sc = scratch[tid];
    sc.init(n_y, o.needs_support(), ctx.base_skip);
    sc.select.init(o.k, ctx.min_score);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t i = order[t];
      sc.select.start_row();
      if (cost[i] > 0) {
        ctx.mark_skips(i, sc, true);
        ctx.row(i, cost[i], sc);
        ctx.mark_skips(i, sc, false);
        if (sc.select.nan_seen && (bad_row[tid] < 0 || i < bad_row[tid])) bad_row[tid] = i;
      }
      sc.select.finish(out_scores + i * o.k, out_ids + i * o.k);
    }
  });
  for (int64_t r : bad_row)
    if (r >= 0)
      throw std::invalid_argument("scores overflowed float32 (NaN) in row " + std::to_string(r) +
                                  "; rescale the values");
}

CsrMatrix padded_topk_to_csr(const int32_t* ids, const float* scores, int64_t n, int k, int64_t n_cols, int n_threads) {
  CsrMatrix m;
  m.n_rows = n;
  m.n_cols = n_cols;
  m.indptr.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i) {
    int c = 0;
    while (c < k && ids[i * k + c] >= 0) ++c;  // rows are best first, padding at the end
    m.indptr[i + 1] = m.indptr[i] + c;
  }
  m.indices.resize(static_cast<size_t>(m.indptr[n]));
  m.data.resize(static_cast<size_t>(m.indptr[n]));
  parallel_chunks(n, 256, n_threads, [&](int, int64_t lo, int64_t hi) {
    std::vector<int64_t> keys(static_cast<size_t>(k));  // column << 32 | slot: sorts by column
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t len = m.indptr[i + 1] - m.indptr[i];
      for (int64_t c = 0; c < len; ++c) keys[c] = (static_cast<int64_t>(ids[i * k + c]) << 32) | c;
      std::sort(keys.begin(), keys.begin() + len);
      for (int64_t c = 0; c < len; ++c) {
        const int64_t slot = keys[c] & 0xffffffff;
        m.indices[m.indptr[i] + c] = static_cast<int32_t>(keys[c] >> 32);
        m.data[m.indptr[i] + c] = scores[i * k + slot];
      }
    }
  });
  return m;
}

template ProductOperand prepare_operand(const CsrView<int32_t>&, const float*, int);
template ProductOperand prepare_operand(const CsrView<int64_t>&, const float*, int);
template void sparse_product_topk(const CsrView<int32_t>&, const ProductOperand&, const CsrView<int32_t>*,
                                  const SparseTopkOptions&, int32_t*, float*, int);
template void sparse_product_topk(const CsrView<int64_t>&, const ProductOperand&, const CsrView<int64_t>*,
                                  const SparseTopkOptions&, int32_t*, float*, int);

}  // namespace turborec
