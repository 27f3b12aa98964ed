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
#pragma GCC unroll 32
  for (int r = 0; r < kMR; ++r) masks[r] = 0;
#pragma GCC unroll 4
  for (int v = 0; v < kNRV; ++v) {
    const __m512 isc = _mm512_loadu_ps(iscale + v * 16);
    const __m512 bv = _mm512_loadu_ps(bias + v * 16);
#pragma GCC unroll 32
    for (int r = 0; r < kMR; ++r) {
      const __m512 s = _mm512_cvtepi32_ps(acc[r][v]);
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(qs[r]), isc);
      const __m512 score = _mm512_add_ps(_mm512_mul_ps(s, scale), bv);
      _mm512_storeu_ps(tile + r * kNRV * 16 + v * 16, score);
      masks[r] |= ge_mask(score, _mm512_set1_ps(thresh[r])) << (16 * v);
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

#define TURBOREC_LOWP_INT8 1
#include "lowp/lowp_body.inl"

}  // namespace lowp_vnni
}  // namespace turborec
