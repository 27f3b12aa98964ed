// int8 retrieval on AVX-512 VNNI. This file alone is compiled with -mavx512vnni (plus AVX-512F/BW/VL);
// it is reached only through the dispatch in lowp.cpp after the CPU was checked.
//
// vpdpbusd multiplies unsigned by signed bytes, so queries are offset by 128 (XOR 0x80):
// sum (q + 128) * i = sum q * i + 128 * sum i, and the second term (per item, precomputed at
// packing) is subtracted before the integer sum becomes a float. The arithmetic stays exact.
#include <immintrin.h>

#include <cstdint>

#include "turborec/lowp.hpp"

namespace turborec {
namespace lowp_vnni {

constexpr int kMR = 8;  // 8 x 48 tile: 24 int32 accumulators + 3 item vectors + 1 broadcast
constexpr int kNRV = 3;
constexpr uint8_t kQueryXor = 0x80;

// Bits where !(s < t): the candidates worth a look (NaN too, which the driver reports).
inline uint64_t ge_mask(__m512 s, __m512 t) { return static_cast<uint64_t>(_mm512_cmp_ps_mask(s, t, _CMP_NLT_UQ)); }

// vpdpbusd through asm: GCC 12 treats the intrinsic's tied accumulator badly (a register copy and a
// stack store per instruction, measured 3x slower); the asm keeps all 24 accumulators in registers.
inline void dpbusd(__m512i& acc, __m512i a_u8, __m512i b_s8) {
  asm("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a_u8), [b] "v"(b_s8));
}

inline void int8_tile(const uint8_t* qtile, int dsteps, const float* qs, const int8_t* ip, const int32_t* isum,
                      const float* iscale, const float* bias, const float* thresh, float* tile, uint64_t* masks) {
  // The accumulators start at the correction -128 * sum(i) instead of zero: one subtraction less
  // per score vector in the epilogue, which is what limits this kernel at small d.
  __m512i acc[kMR][kNRV];
#pragma GCC unroll 4
  for (int v = 0; v < kNRV; ++v) {
    const __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_loadu_si512(isum + v * 16), 7));
#pragma GCC unroll 32
    for (int r = 0; r < kMR; ++r) acc[r][v] = corr;
  }
  const int64_t row_bytes = int64_t(dsteps) * 4;
  const int64_t panel_bytes = row_bytes * kLowpPanel;
  for (int t = 0; t < dsteps; ++t) {
    __m512i b[kNRV];
#pragma GCC unroll 4
    for (int v = 0; v < kNRV; ++v) b[v] = _mm512_loadu_si512(ip + v * panel_bytes + t * 64);
#pragma GCC unroll 32
    for (int r = 0; r < kMR; ++r) {
      int32_t q4;
      __builtin_memcpy(&q4, qtile + r * row_bytes + t * 4, 4);
      const __m512i a = _mm512_set1_epi32(q4);
#pragma GCC unroll 4
      for (int v = 0; v < kNRV; ++v) dpbusd(acc[r][v], a, b[v]);
    }
  }
  // Scores are stored only for the rows with a candidate: once the heaps are warm that is rare, and
  // the offer step reads nothing else.
#pragma GCC unroll 32
  for (int r = 0; r < kMR; ++r) {
    __m512 score[kNRV];
    uint64_t m = 0;
    const __m512 sq = _mm512_set1_ps(qs[r]);
    const __m512 st = _mm512_set1_ps(thresh[r]);
#pragma GCC unroll 4
    for (int v = 0; v < kNRV; ++v) {
      const __m512 s = _mm512_cvtepi32_ps(acc[r][v]);
      const __m512 scale = _mm512_mul_ps(sq, _mm512_loadu_ps(iscale + v * 16));
      score[v] = _mm512_add_ps(_mm512_mul_ps(s, scale), _mm512_loadu_ps(bias + v * 16));
      m |= ge_mask(score[v], st) << (16 * v);
    }
    masks[r] = m;
    if (__builtin_expect(m != 0, 0)) {
#pragma GCC unroll 4
      for (int v = 0; v < kNRV; ++v) _mm512_storeu_ps(tile + r * kNRV * 16 + v * 16, score[v]);
    }
  }
}

// Any n: a masked load covers the tail.
float dot_f32(const float* a, const float* b, int n) {
  __m512 acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// 12 independent vpdpbusd chains (more than latency x throughput), registers only.
double peak_loop(int64_t iters) {
  __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
          a10 = a0, a11 = a0;
  const __m512i x = _mm512_set1_epi32(0x01010101), y = _mm512_set1_epi32(0x02020202);
  for (int64_t i = 0; i < iters; ++i) {
    dpbusd(a0, x, y); dpbusd(a1, x, y); dpbusd(a2, x, y); dpbusd(a3, x, y);
    dpbusd(a4, x, y); dpbusd(a5, x, y); dpbusd(a6, x, y); dpbusd(a7, x, y);
    dpbusd(a8, x, y); dpbusd(a9, x, y); dpbusd(a10, x, y); dpbusd(a11, x, y);
  }
  const __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                     _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
  const __m512i t = _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11));
  // a bitwise reduction: the sums wrap after long probes, and the header's add reduction is signed
  volatile int sink = _mm512_reduce_or_epi32(_mm512_add_epi32(s, t));
  (void)sink;
  return double(iters) * 12 * 64 * 2;
}

// The same probe for vfmadd231ps, the instruction of the float32 kernels, for the ratio.
double fma_peak_loop(int64_t iters) {
  __m512 a0 = _mm512_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
#define TURBOREC_FMA(acc) asm("vfmadd231ps %[b], %[a], %[c]" : [c] "+v"(acc) : [a] "v"(x), [b] "v"(y))
  for (int64_t i = 0; i < iters; ++i) {
    TURBOREC_FMA(a0); TURBOREC_FMA(a1); TURBOREC_FMA(a2); TURBOREC_FMA(a3); TURBOREC_FMA(a4); TURBOREC_FMA(a5);
    TURBOREC_FMA(a6); TURBOREC_FMA(a7); TURBOREC_FMA(a8); TURBOREC_FMA(a9); TURBOREC_FMA(a10); TURBOREC_FMA(a11);
  }
#undef TURBOREC_FMA
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                 _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  const __m512 t = _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11));
  volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(s, t));
  (void)sink;
  return double(iters) * 12 * 16 * 2;
}

#define TURBOREC_LOWP_INT8 1
#include "lowp/lowp_body.inl"

}  // namespace lowp_vnni
}  // namespace turborec
