// bf16 retrieval on AVX512-BF16 (vdpbf16ps: pairs of bf16 products accumulated into float32). This
// file alone is compiled with -mavx512bf16 (plus AVX-512F/BW/VL); reached only through the dispatch
// in lowp.cpp after the CPU was checked.
#include <immintrin.h>

#include <cstdint>

#include "turborec/lowp.hpp"

namespace turborec {
namespace lowp_bf16 {

constexpr int kMR = 12;  // 12 x 32 tile: 24 float accumulators + 2 item vectors + 1 broadcast
constexpr int kNRV = 2;

// Bits where !(s < t): the candidates worth a look (NaN too, which the driver reports).
inline uint64_t ge_mask(__m512 s, __m512 t) { return static_cast<uint64_t>(_mm512_cmp_ps_mask(s, t, _CMP_NLT_UQ)); }

// vdpbf16ps through asm, for the same register-allocation reason as vpdpbusd in lowp_vnni.cpp.
inline void dpbf16(__m512& acc, __m512i a, __m512i b) {
  asm("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
}

inline void bf16_tile(const uint16_t* qtile, int dsteps, const uint16_t* ip, const float* bias, const float* thresh,
                      float* tile, uint64_t* masks) {
  __m512 acc[kMR][kNRV];
#pragma GCC unroll 32
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNRV; ++v) acc[r][v] = _mm512_setzero_ps();
  const int64_t row = int64_t(dsteps) * 2;            // bf16 values per query row
  const int64_t panel = row * kLowpPanel;             // bf16 values per item panel
  for (int t = 0; t < dsteps; ++t) {
    __m512i b[kNRV];
#pragma GCC unroll 4
    for (int v = 0; v < kNRV; ++v) b[v] = _mm512_loadu_si512(ip + v * panel + t * 32);
#pragma GCC unroll 32
    for (int r = 0; r < kMR; ++r) {
      int32_t q2;
      __builtin_memcpy(&q2, qtile + r * row + t * 2, 4);
      const __m512i a = _mm512_set1_epi32(q2);
#pragma GCC unroll 4
      for (int v = 0; v < kNRV; ++v) dpbf16(acc[r][v], a, b[v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < kMR; ++r) masks[r] = 0;
#pragma GCC unroll 4
  for (int v = 0; v < kNRV; ++v) {
    const __m512 bv = _mm512_loadu_ps(bias + v * 16);
#pragma GCC unroll 32
    for (int r = 0; r < kMR; ++r) {
      const __m512 score = _mm512_add_ps(acc[r][v], bv);
      _mm512_storeu_ps(tile + r * kNRV * 16 + v * 16, score);
      masks[r] |= ge_mask(score, _mm512_set1_ps(thresh[r])) << (16 * v);
    }
  }
}

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

// 12 independent vdpbf16ps chains, registers only (32 bf16 products, 64 operations, each).
double peak_loop(int64_t iters) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const __m512i x = _mm512_set1_epi32(0x3c003c00), y = _mm512_set1_epi32(0x3c003c00);
  for (int64_t i = 0; i < iters; ++i) {
    dpbf16(a0, x, y); dpbf16(a1, x, y); dpbf16(a2, x, y); dpbf16(a3, x, y);
    dpbf16(a4, x, y); dpbf16(a5, x, y); dpbf16(a6, x, y); dpbf16(a7, x, y);
    dpbf16(a8, x, y); dpbf16(a9, x, y); dpbf16(a10, x, y); dpbf16(a11, x, y);
  }
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                 _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  const __m512 t = _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11));
  volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(s, t));
  (void)sink;
  return double(iters) * 12 * 32 * 2;
}

#define TURBOREC_LOWP_BF16 1
#include "lowp/lowp_body.inl"

}  // namespace lowp_bf16
}  // namespace turborec
