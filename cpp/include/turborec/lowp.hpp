#pragma once
// Low-precision (int8 / bf16) fused top-k retrieval, and the exact float32 re-rank of its candidates.
//
// Item factors arrive already quantized (turborec.QuantizedFactors does that in Python):
//   int8: symmetric per row, x ~= q * scale with q in [-127, 127];
//   bf16: the upper 16 bits of the float32, rounded to nearest even.
// Queries are quantized the same way by the caller. Results follow the top-k conventions (ids int32,
// scores float32, best first, ties by lower id, padded with -1 / -inf).
//
// The kernels are compiled per instruction set, each in its own translation unit with its own flags
// (cpp/src/lowp/), and picked at run time from the CPU's features and the active low-precision level.
#include <cstdint>
#include <vector>

#include "turborec/csr.hpp"

namespace turborec {

// Low-precision levels, lowest first. "avx512" means AVX-512 VNNI (vpdpbusd) for int8 and
// AVX512-BF16 (vdpbf16ps) for bf16; each data type may support a different highest level.
enum class LowpLevel : int { scalar = 0, avx512 = 1 };
enum class LowpType : int { int8 = 0, bf16 = 1 };

const char* lowp_level_name(LowpLevel level);
LowpLevel parse_lowp_level(const char* name);  // throws std::invalid_argument
// Highest level this CPU, its OS and this build support for the type.
LowpLevel best_lowp_level(LowpType type);
// The level cap chosen by set_lowp_level (starts at the highest); a type runs at
// min(cap, best_lowp_level(type)).
LowpLevel lowp_level_cap();
void set_lowp_level_cap(LowpLevel level);  // throws for a level above what any type supports
LowpLevel active_lowp_level(LowpType type);

// Items are packed in panels of kLowpPanel items. int8: [ceil(d/4)][16 items][4 bytes]; bf16:
// [ceil(d/2)][16 items][2 values], zero-padded in both directions.
constexpr int kLowpPanel = 16;
// Most queries one kernel call takes (their exclusion cursors live on the stack).
constexpr int64_t kLowpMaxQueries = 1024;

// What one kernel call needs. Query rows are row-major with a padded row stride (4 * ceil(d/4) bytes
// for int8, 2 * ceil(d/2) values for bf16), zero-padded.
struct LowpArgs {
  const void* queries;       // int8 or uint16 (bf16 bits)
  const float* query_scale;  // int8 only
  int64_t nq;                // <= kLowpMaxQueries
  const void* packed;        // items in panels
  const int32_t* item_sum;   // int8: per padded item, the sum of its quantized values (VNNI correction)
  const float* item_scale;   // int8: per padded item
  const float* bias;         // per padded item (zeros past m)
  int64_t m;
  int dsteps;                // ceil(d/4) for int8, ceil(d/2) for bf16
  const int32_t* const* excl;
  const int64_t* excl_len;
  int k;
  float* heap_vals;  // nq heaps of size k, initialised
  int32_t* heap_ids;
  void* scratch;     // round_up(nq, mr) query rows of the padded stride, 64-byte aligned
};

struct LowpKernels {
  int mr;  // queries per micro-tile (the scratch's row granule)
  // Offers every score of the call's queries to their heaps; false if a score that could enter a
  // heap was not finite (float32 overflow of scale products).
  bool (*topk_int8)(const LowpArgs& a);  // null when the level lacks int8
  bool (*topk_bf16)(const LowpArgs& a);  // null when the level lacks bf16
  // <a, b> over n floats, any n (the re-rank's float32 scores).
  float (*dot_f32)(const float* a, const float* b, int n);
  // Peak probe: `iters` rounds of 12 independent multiply-accumulates of the level's instruction;
  // returns the arithmetic operations done (2 per multiply-add). Null at the scalar level.
  double (*peak_loop)(int64_t iters);
};

namespace lowp_scalar { extern const LowpKernels table; }
#if TURBOREC_HAVE_AVX512
namespace lowp_vnni {
extern const LowpKernels table;
double fma_peak_loop(int64_t iters);  // vfmadd231ps probe (AVX-512F only)
}  // namespace lowp_vnni
namespace lowp_bf16 { extern const LowpKernels table; }
#endif

// Items packed once for many calls (turborec.QuantizedFactors and compressed models keep one): the
// panels above, a padded bias, and for int8 the per-item sums (VNNI correction) and scales.
// The layout is the same at every level (the tile widths divide kLowpPadItems), so a change of the
// active level needs no repacking. Immutable after construction; safe to share between threads.
constexpr int64_t kLowpPadItems = 192;  // items padded to whole groups of this many

class LowpItems {
 public:
  LowpItems(const int8_t* items, const float* scale, int64_t m, int d, const float* bias, int n_threads);
  LowpItems(const uint16_t* items, int64_t m, int d, const float* bias, int n_threads);
  LowpItems(const LowpItems&) = delete;
  LowpItems& operator=(const LowpItems&) = delete;

  LowpType type() const { return type_; }
  int64_t n_items() const { return m_; }
  int dim() const { return d_; }
  int dsteps() const { return dsteps_; }
  int64_t padded_items() const { return m_pad_; }
  bool has_bias() const { return has_bias_; }
  const void* panels() const { return panels_; }
  const int32_t* sums() const { return sums_.data(); }
  const float* scales() const { return scales_.data(); }
  const float* bias() const { return bias_.data(); }
  size_t nbytes() const;

 private:
  void init(LowpType type, int64_t m, int d, int step, size_t elem, const float* bias);
  LowpType type_;
  int64_t m_, m_pad_;
  int d_, dsteps_;
  bool has_bias_;
  std::vector<uint8_t> raw_;
  void* panels_;
  std::vector<int32_t> sums_;
  std::vector<float> scales_, bias_;
};

// Top-k on packed items; call_bias (m floats) replaces the items' own bias when not null.
template <class Ptr>
void topk_int8_packed(const int8_t* queries, const float* query_scale, int64_t n, const LowpItems& items,
                      const float* call_bias, const CsrView<Ptr>* exclude, int k, int32_t* out_ids,
                      float* out_scores, int n_threads);
// The same on float32 queries, quantized inside (per row, exactly as turborec.quantized.quantize_int8).
template <class Ptr>
void topk_int8_packed_f32(const float* queries, int64_t n, const LowpItems& items, const float* call_bias,
                          const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores, int n_threads);
template <class Ptr>
void topk_bf16_packed(const uint16_t* queries, int64_t n, const LowpItems& items, const float* call_bias,
                      const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores, int n_threads);

// Top-k of int8 queries (n, d) x int8 items (m, d): score = float(sum q*i) * (qscale * iscale) + bias,
// in exactly that float32 order, so the result is reproducible by a numpy reference.
template <class Ptr>
void topk_int8(const int8_t* queries, const float* query_scale, int64_t n, const int8_t* items,
               const float* item_scale, int64_t m, int d, const float* item_bias, const CsrView<Ptr>* exclude,
               int k, int32_t* out_ids, float* out_scores, int n_threads);

// Top-k of bf16 queries x bf16 items (uint16 bit patterns), products accumulated in float32.
template <class Ptr>
void topk_bf16(const uint16_t* queries, int64_t n, const uint16_t* items, int64_t m, int d,
               const float* item_bias, const CsrView<Ptr>* exclude, int k, int32_t* out_ids, float* out_scores,
               int n_threads);

// Exact re-rank: for each query, re-scores its candidate ids (n, kc; -1 = none) in float32 against
// `items` (m, d) (+ item_bias) and keeps the best k (k <= kc), best first, ties by lower id.
void rerank_exact(const float* queries, int64_t n, const float* items, int64_t m, int d, const float* item_bias,
                  const int32_t* candidates, int kc, int k, int32_t* out_ids, float* out_scores, int n_threads);

// The machine's measured peak for one instruction, in GOP/s over n_threads threads (each thread's
// operations over its own CPU time, summed), from a tight register-only loop of `what`: "int8" (vpdpbusd), "bf16" (vdpbf16ps) or "fp32" (vfmadd231ps, the
// float32 kernels' instruction). 0 when the level lacks it. For benchmarks: the fraction of peak a
// kernel reaches, measured in the same run.
double lowp_peak_gops(const char* what, double seconds, int n_threads);

}  // namespace turborec
