// Low-precision top-k: level selection, item packing, the threaded drivers, and the float32 re-rank.
// Compiled with the baseline flags; the per-ISA work happens in cpp/src/lowp/.
#include "turborec/lowp.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

#include "turborec/heap.hpp"
#include "turborec/simd_level.hpp"
#include "turborec/threading.hpp"
#include "turborec/topk.hpp"

namespace turborec {

const char* lowp_level_name(LowpLevel level) {
  switch (level) {
    case LowpLevel::scalar: return "scalar";
    case LowpLevel::avx512: return "avx512";
  }
  return "unknown";
}

LowpLevel parse_lowp_level(const char* name) {
  const std::string n(name);
  if (n == "scalar") return LowpLevel::scalar;
  if (n == "avx512") return LowpLevel::avx512;
  throw std::invalid_argument("unknown low-precision level '" + n + "'; expected scalar or avx512");
}

namespace {

struct LowpCpu {
  bool vnni = false;
  bool bf16 = false;
};

// CPUID leaf 7: sub-leaf 0 ECX bit 11 is AVX512_VNNI, sub-leaf 1 EAX bit 5 is AVX512_BF16. Both need
// the AVX-512 register state, which best_supported_simd_level() already checked with the OS.
LowpCpu detect_lowp_cpu() {
  LowpCpu c;
#if TURBOREC_HAVE_AVX512 && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (best_supported_simd_level() != SimdLevel::avx512) return c;
  unsigned a, b, cx, d;
  if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
    c.vnni = (cx >> 11) & 1u;
    const unsigned max_sub = a;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &cx, &d)) c.bf16 = (a >> 5) & 1u;
  }
#endif
  return c;
}

const LowpCpu& lowp_cpu() {
  static const LowpCpu c = detect_lowp_cpu();
  return c;
}

std::atomic<int>& lowp_cap_storage() {
  static std::atomic<int> cap{static_cast<int>(LowpLevel::avx512)};
  return cap;
}

}  // namespace

LowpLevel best_lowp_level(LowpType type) {
  const bool has = type == LowpType::int8 ? lowp_cpu().vnni : lowp_cpu().bf16;
  return has ? LowpLevel::avx512 : LowpLevel::scalar;
}

LowpLevel lowp_level_cap() { return static_cast<LowpLevel>(lowp_cap_storage().load()); }

void set_lowp_level_cap(LowpLevel level) {
  const LowpLevel best = std::max(best_lowp_level(LowpType::int8), best_lowp_level(LowpType::bf16));
  if (static_cast<int>(level) > static_cast<int>(best))
    throw std::invalid_argument(std::string("low-precision level '") + lowp_level_name(level) +
                                "' is not available here; the highest this CPU and build support is '" +
                                lowp_level_name(best) + "'");
  lowp_cap_storage().store(static_cast<int>(level));
}

// The SIMD level set by the user caps these paths too: forcing TURBOREC_SIMD=scalar runs no AVX.
LowpLevel active_lowp_level(LowpType type) {
  LowpLevel l = std::min(lowp_level_cap(), best_lowp_level(type));
  if (active_simd_level() != SimdLevel::avx512) l = LowpLevel::scalar;
  return l;
}

namespace {

const LowpKernels& kernels_for_type(LowpType type) {
#if TURBOREC_HAVE_AVX512
  if (active_lowp_level(type) == LowpLevel::avx512) return type == LowpType::int8 ? lowp_vnni::table : lowp_bf16::table;
#endif
  return lowp_scalar::table;
}

// Packs `m` rows of `d` elements of `step` values each into panels [dsteps][16][step].
template <class T>
void pack_panels(const T* items, int64_t m, int d, int step, int64_t m_pad, T* out, int n_threads) {
  const int dsteps = (d + step - 1) / step;
  const int64_t n_panels = m_pad / kLowpPanel;
  parallel_chunks(n_panels, 256, n_threads, [&](int, int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* panel = out + p * int64_t(dsteps) * kLowpPanel * step;
      for (int c = 0; c < kLowpPanel; ++c) {
        const int64_t j = p * kLowpPanel + c;
        for (int t = 0; t < dsteps; ++t)
          for (int e2 = 0; e2 < step; ++e2) {
            const int col = t * step + e2;
            panel[(int64_t(t) * kLowpPanel + c) * step + e2] = (j < m && col < d) ? items[j * d + col] : T(0);
          }
      }
    }
  });
}

int64_t chunk_for(int64_t n, int mr, int n_threads) {
  const int threads = resolve_threads(n_threads);
  int64_t chunk = kLowpMaxQueries / 4;
  while (chunk > mr && n / chunk < 4 * threads) chunk /= 2;
  return std::max<int64_t>(mr, chunk / mr * mr);
}

// The threaded loop shared by both types: per chunk of queries, padded query rows, heaps, one kernel
// call, then the heaps sorted.
// numpy's quantize_int8 (turborec/quantized.py), row by row, in the same float32 operations:
// scale = max|x| / 127, q = clip(rint(x / scale), -127, 127), a zero scale gives zeros.
void quantize_row_int8(const float* x, int d, int8_t* q, float* scale) {
  float amax = 0.0f;
  for (int t = 0; t < d; ++t) amax = std::max(amax, std::fabs(x[t]));
  const float s = amax / 127.0f;
  *scale = s;
  if (!(s > 0.0f)) {
    std::memset(q, 0, static_cast<size_t>(d));
    return;
  }
  for (int t = 0; t < d; ++t) {
    const float v = std::nearbyint(x[t] / s);  // round half to even, like np.rint
    q[t] = static_cast<int8_t>(v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v));
  }
}

// fqueries (int8 only): float32 query rows, quantized per chunk into the padded rows (no (n, d)
// int8 copy, done on every thread); then query_scale is ignored.
template <class Ptr, class Elem>
void lowp_run(bool (*kernel)(const LowpArgs&), int mr, const Elem* queries, const float* query_scale, int64_t n,
              int d, int step, LowpArgs base, const CsrView<Ptr>* exclude, int32_t* out_ids, float* out_scores,
              int n_threads, const float* fqueries = nullptr) {
  const int64_t row_elems = int64_t(base.dsteps) * step;
  const int64_t row_bytes = row_elems * int64_t(sizeof(Elem));
  const int threads = resolve_threads(n_threads);
  const int64_t chunk = chunk_for(n, mr, n_threads);
  std::vector<std::vector<uint8_t>> rows_buf(static_cast<size_t>(threads)), scratch_buf(static_cast<size_t>(threads));
  std::vector<int64_t> bad_row(static_cast<size_t>(threads), -1);
  const int k = base.k;
  parallel_chunks(n, chunk, n_threads, [&](int tid, int64_t b, int64_t e) {
    const int64_t nq = e - b;
    std::vector<uint8_t>& rb = rows_buf[tid];
    std::vector<uint8_t>& sb = scratch_buf[tid];
    rb.assign(static_cast<size_t>(nq * row_bytes), 0);
    sb.resize(static_cast<size_t>((nq + mr - 1) / mr * mr * row_bytes + 64));
    Elem* rows = reinterpret_cast<Elem*>(rb.data());
    float chunk_scale[kLowpMaxQueries];
    if (fqueries) {
      for (int64_t q = 0; q < nq; ++q)
        quantize_row_int8(fqueries + (b + q) * d, d, reinterpret_cast<int8_t*>(rows + q * row_elems), chunk_scale + q);
    } else {
      for (int64_t q = 0; q < nq; ++q) std::memcpy(rows + q * row_elems, queries + (b + q) * d, sizeof(Elem) * d);
    }
    const int32_t* excl[kLowpMaxQueries];
    int64_t excl_len[kLowpMaxQueries];
    for (int64_t q = 0; q < nq; ++q) {
      heap_init(out_scores + (b + q) * k, out_ids + (b + q) * k, k);
      excl[q] = exclude ? exclude->indices + exclude->row_begin(b + q) : nullptr;
      excl_len[q] = exclude ? exclude->row_end(b + q) - exclude->row_begin(b + q) : 0;
    }
    LowpArgs a = base;
    a.queries = rows;
    a.query_scale = fqueries ? chunk_scale : (query_scale ? query_scale + b : nullptr);
    a.nq = nq;
    a.excl = excl;
    a.excl_len = excl_len;
    a.heap_vals = out_scores + b * k;
    a.heap_ids = out_ids + b * k;
    a.scratch = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(sb.data()) + 63) & ~uintptr_t(63));
    if (!kernel(a) && (bad_row[tid] < 0 || b < bad_row[tid])) bad_row[tid] = b;
    for (int64_t q = b; q < e; ++q) heap_reorder(out_scores + q * k, out_ids + q * k, k);
  });
  for (int64_t r : bad_row)
    if (r >= 0)
      throw std::invalid_argument("low-precision scores overflowed float32 (inf or NaN) in query rows from " +
                                  std::to_string(r) + "; rescale queries or items");
}

void check_common(int64_t m, int d, int k) {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  if (d < 1) throw std::invalid_argument("queries and items need at least one column");
  if (d > (1 << 16)) throw std::invalid_argument("low-precision retrieval supports at most 65536 columns");
  if (m >= INT32_MAX - kLowpPadItems) throw std::invalid_argument("items: too many rows");
}

// The padded bias of a call (a memcpy-sized pass, no repacking).
struct CallBias {
  std::vector<float> bias;
  CallBias(const LowpItems& it, const float* b) : bias(static_cast<size_t>(it.padded_items()), 0.0f) {
    std::memcpy(bias.data(), b, sizeof(float) * static_cast<size_t>(it.n_items()));
  }
};

}  // namespace

size_t LowpItems::nbytes() const {
  return raw_.size() + sizeof(int32_t) * sums_.size() + sizeof(float) * (scales_.size() + bias_.size());
}

void LowpItems::init(LowpType type, int64_t m, int d, int step, size_t elem, const float* bias) {
  check_common(m, d, 1);
  type_ = type;
  m_ = m;
  d_ = d;
  dsteps_ = (d + step - 1) / step;
  m_pad_ = (m + kLowpPadItems - 1) / kLowpPadItems * kLowpPadItems;
  has_bias_ = bias != nullptr;
  raw_.assign(static_cast<size_t>(m_pad_) * dsteps_ * step * elem + 64, 0);
  panels_ = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(raw_.data()) + 63) & ~uintptr_t(63));
  bias_.assign(static_cast<size_t>(m_pad_), 0.0f);
  if (bias) std::memcpy(bias_.data(), bias, sizeof(float) * static_cast<size_t>(m));
}

LowpItems::LowpItems(const int8_t* items, const float* scale, int64_t m, int d, const float* bias, int n_threads) {
  init(LowpType::int8, m, d, 4, 1, bias);
  pack_panels(items, m, d, 4, m_pad_, static_cast<int8_t*>(panels_), n_threads);
  sums_.assign(static_cast<size_t>(m_pad_), 0);
  scales_.assign(static_cast<size_t>(m_pad_), 0.0f);
  for (int64_t j = 0; j < m; ++j) {
    int32_t s = 0;
    for (int t = 0; t < d; ++t) s += items[j * d + t];
    sums_[j] = s;
    scales_[j] = scale[j];
  }
}

LowpItems::LowpItems(const uint16_t* items, int64_t m, int d, const float* bias, int n_threads) {
  init(LowpType::bf16, m, d, 2, 2, bias);
  pack_panels(items, m, d, 2, m_pad_, static_cast<uint16_t*>(panels_), n_threads);
}

// What both int8 entry points check and pass: the packed items' arrays, and the call's own bias
// (kept alive by `cb`) in place of the packed one when given.
template <class Ptr>
LowpArgs int8_call(const LowpItems& items, const float* call_bias, const CsrView<Ptr>* exclude, int k, int n_threads,
                   std::unique_ptr<CallBias>& cb) {
  if (items.type() != LowpType::int8) throw std::invalid_argument("items: packed bf16 items given to the int8 kernel");
  check_common(items.n_items(), items.dim(), k);
  if (exclude) require_canonical(*exclude, "exclude", n_threads);
  if (call_bias) cb.reset(new CallBias(items, call_bias));
  LowpArgs base{};
  base.packed = items.panels();
  base.item_sum = items.sums();
  base.item_scale = items.scales();
  base.bias = cb ? cb->bias.data() : items.bias();
  base.m = items.n_items();
  base.dsteps = items.dsteps();
  base.k = k;
  return base;
}

template <class Ptr>
void topk_int8_packed(const int8_t* queries, const float* query_scale, int64_t n, const LowpItems& items,
                      const float* call_bias, const CsrView<Ptr>* exclude, int k, int32_t* out_ids,
                      float* out_scores, int n_threads) {
  std::unique_ptr<CallBias> cb;
  const LowpArgs base = int8_call(items, call_bias, exclude, k, n_threads, cb);
  const LowpKernels& K = kernels_for_type(LowpType::int8);
  lowp_run(K.topk_int8, K.mr, queries, query_scale, n, items.dim(), 4, base, exclude, out_ids, out_scores, n_threads);
}

// The same from float32 queries, quantized inside the call on every thread.
template <class Ptr>
void topk_int8_packed_f32(const float* queries, int64_t n, const LowpItems& items, const float* call_bias,
                          const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores, int n_threads) {
  std::unique_ptr<CallBias> cb;
  const LowpArgs base = int8_call(items, call_bias, exclude, k, n_threads, cb);
  const LowpKernels& K = kernels_for_type(LowpType::int8);
  lowp_run(K.topk_int8, K.mr, static_cast<const int8_t*>(nullptr), static_cast<const float*>(nullptr), n, items.dim(),
           4, base, exclude, out_ids, out_scores, n_threads, queries);
}

template <class Ptr>
void topk_bf16_packed(const uint16_t* queries, int64_t n, const LowpItems& items, const float* call_bias,
                      const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores, int n_threads) {
  if (items.type() != LowpType::bf16) throw std::invalid_argument("items: packed int8 items given to the bf16 kernel");
  check_common(items.n_items(), items.dim(), k);
  if (exclude) require_canonical(*exclude, "exclude", n_threads);
  const LowpKernels& K = kernels_for_type(LowpType::bf16);
  std::unique_ptr<CallBias> cb(call_bias ? new CallBias(items, call_bias) : nullptr);
  LowpArgs base{};
  base.packed = items.panels();
  base.bias = cb ? cb->bias.data() : items.bias();
  base.m = items.n_items();
  base.dsteps = items.dsteps();
  base.k = k;
  lowp_run(K.topk_bf16, K.mr, queries, static_cast<const float*>(nullptr), n, items.dim(), 2, base, exclude, out_ids,
           out_scores, n_threads);
}

// One-off calls on raw arrays: pack, then the packed path (callers with many calls keep a LowpItems).
template <class Ptr>
void topk_int8(const int8_t* queries, const float* query_scale, int64_t n, const int8_t* items,
               const float* item_scale, int64_t m, int d, const float* item_bias, const CsrView<Ptr>* exclude,
               int k, int32_t* out_ids, float* out_scores, int n_threads) {
  check_common(m, d, k);
  const LowpItems packed(items, item_scale, m, d, item_bias, n_threads);
  topk_int8_packed(queries, query_scale, n, packed, static_cast<const float*>(nullptr), exclude, k, out_ids,
                   out_scores, n_threads);
}

template <class Ptr>
void topk_bf16(const uint16_t* queries, int64_t n, const uint16_t* items, int64_t m, int d,
               const float* item_bias, const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores,
               int n_threads) {
  check_common(m, d, k);
  const LowpItems packed(items, m, d, item_bias, n_threads);
  topk_bf16_packed(queries, n, packed, static_cast<const float*>(nullptr), exclude, k, out_ids, out_scores, n_threads);
}

void rerank_exact(const float* queries, int64_t n, const float* items, int64_t m, int d, const float* item_bias,
                  const int32_t* candidates, int kc, int k, int32_t* out_ids, float* out_scores, int n_threads) {
  if (k < 1 || kc < k) throw std::invalid_argument("re-rank needs 1 <= k <= candidates");
  for (int64_t i = 0; i < n * kc; ++i)
    if (candidates[i] >= m) throw std::invalid_argument("candidates: id out of range");
  const LowpKernels& K = kernels_for_type(LowpType::int8);
  // Candidate rows are scattered over the item matrix (cache misses, not arithmetic, dominate):
  // the rows of the next query are requested while the current one is scored.
  auto prefetch_rows = [&](int64_t q) {
    for (int c = 0; c < kc; ++c) {
      const int32_t j = candidates[q * kc + c];
      if (j < 0) continue;
      const char* row = reinterpret_cast<const char*>(items + int64_t(j) * d);
      for (int64_t off = 0; off < int64_t(d) * 4; off += 64) __builtin_prefetch(row + off);
    }
  };
  parallel_chunks(n, 256, n_threads, [&](int, int64_t b, int64_t e) {
    prefetch_rows(b);
    for (int64_t q = b; q < e; ++q) {
      if (q + 1 < e) prefetch_rows(q + 1);
      float* hv = out_scores + q * k;
      int32_t* hi = out_ids + q * k;
      heap_init(hv, hi, k);
      for (int c = 0; c < kc; ++c) {
        const int32_t j = candidates[q * kc + c];
        if (j < 0) continue;
        float s = K.dot_f32(queries + q * d, items + int64_t(j) * d, d);
        if (item_bias) s += item_bias[j];
        heap_push(hv, hi, k, s, j);
      }
      heap_reorder(hv, hi, k);
    }
  });
}

template void topk_int8(const int8_t*, const float*, int64_t, const int8_t*, const float*, int64_t, int, const float*,
                        const CsrView<int32_t>*, int, int32_t*, float*, int);
template void topk_int8(const int8_t*, const float*, int64_t, const int8_t*, const float*, int64_t, int, const float*,
                        const CsrView<int64_t>*, int, int32_t*, float*, int);
template void topk_bf16(const uint16_t*, int64_t, const uint16_t*, int64_t, int, const float*,
                        const CsrView<int32_t>*, int, int32_t*, float*, int);
template void topk_bf16(const uint16_t*, int64_t, const uint16_t*, int64_t, int, const float*,
                        const CsrView<int64_t>*, int, int32_t*, float*, int);

}  // namespace turborec

namespace turborec {
template void topk_int8_packed(const int8_t*, const float*, int64_t, const LowpItems&, const float*,
                               const CsrView<int32_t>*, int, int32_t*, float*, int);
template void topk_int8_packed(const int8_t*, const float*, int64_t, const LowpItems&, const float*,
                               const CsrView<int64_t>*, int, int32_t*, float*, int);
template void topk_int8_packed_f32(const float*, int64_t, const LowpItems&, const float*, const CsrView<int32_t>*,
                                   int, int32_t*, float*, int);
template void topk_int8_packed_f32(const float*, int64_t, const LowpItems&, const float*, const CsrView<int64_t>*,
                                   int, int32_t*, float*, int);
template void topk_bf16_packed(const uint16_t*, int64_t, const LowpItems&, const float*, const CsrView<int32_t>*,
                               int, int32_t*, float*, int);
template void topk_bf16_packed(const uint16_t*, int64_t, const LowpItems&, const float*, const CsrView<int64_t>*,
                               int, int32_t*, float*, int);
}  // namespace turborec

namespace turborec {

namespace {
double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}
}  // namespace

double lowp_peak_gops(const char* what, double seconds, int n_threads) {
  const std::string w(what);
  if (w != "int8" && w != "bf16" && w != "fp32")
    throw std::invalid_argument("peak: expected 'int8', 'bf16' or 'fp32', got '" + w + "'");
  double (*loop)(int64_t) = nullptr;
#if TURBOREC_HAVE_AVX512
  if (w == "int8" && active_lowp_level(LowpType::int8) == LowpLevel::avx512) loop = lowp_vnni::table.peak_loop;
  if (w == "bf16" && active_lowp_level(LowpType::bf16) == LowpLevel::avx512) loop = lowp_bf16::table.peak_loop;
  if (w == "fp32" && active_simd_level() == SimdLevel::avx512) loop = lowp_vnni::fma_peak_loop;
#endif
  if (!loop) return 0.0;
  const int threads = resolve_threads(n_threads);
  using clock = std::chrono::steady_clock;
  int64_t iters = 1 << 16;
  for (;;) {  // grow the probe until one run lasts long enough to time
    const auto t0 = clock::now();
    loop(iters);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > seconds / 20 || iters > (int64_t(1) << 40)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(double(iters) * seconds / std::max(dt, 1e-9)));
      break;
    }
    iters *= 4;
  }
  // Each thread's rate over its own CPU time, summed: the hardware's peak on `threads` cores, which
  // time slices lost to other processes on a shared machine do not lower.
  std::vector<double> rate(static_cast<size_t>(threads), 0.0);
  parallel_chunks(threads, 1, n_threads, [&](int tid, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double c0 = thread_cpu_seconds();
      const double ops = loop(iters);
      rate[static_cast<size_t>(tid)] += ops / std::max(thread_cpu_seconds() - c0, 1e-9);
    }
  });
  double total = 0;
  for (double r : rate) total += r;
  return total / 1e9;
}

}  // namespace turborec
