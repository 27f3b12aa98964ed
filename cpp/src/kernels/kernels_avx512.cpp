// AVX-512 kernels (16 floats per vector). This file alone is compiled with -mavx512{f,bw,dq,vl,cd};
// it is only reached through the dispatch table after the CPU was checked.
#include <immintrin.h>

#include <cstdint>

#include "turborec/kernels.hpp"

namespace turborec {
namespace kernels_avx512 {

constexpr int W = 16;
using vf = __m512;
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf a) { _mm512_storeu_ps(p, a); }
inline vf vset1(float s) { return _mm512_set1_ps(s); }
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline float vreduce_add(vf a) { return _mm512_reduce_add_ps(a); }
inline uint32_t vmask_not_less(vf s, vf t) {
  return static_cast<uint32_t>(_mm512_cmp_ps_mask(s, t, _CMP_NLT_UQ));
}

inline uint32_t vmask_touched(vf a) {
  return static_cast<uint32_t>(
      _mm512_cmpneq_epi32_mask(_mm512_castps_si512(a), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
}

// Two horizontal sums at once: a's and b's 256-bit halves are added, then one 8-lane tree serves both.
inline void vreduce_add2(vf a, vf b, float& sa, float& sb) {
  const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  const __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
  const __m256 ab = _mm256_hadd_ps(a8, b8);  // per 128-bit lane: a01 a23 b01 b23
  const __m256 s4 = _mm256_hadd_ps(ab, ab);  // per lane: a b a b
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(s4), _mm256_extractf128_ps(s4, 1));
  sa = _mm_cvtss_f32(s);
  sb = _mm_cvtss_f32(_mm_shuffle_ps(s, s, 1));
}

constexpr SimdLevel kLevel = SimdLevel::avx512;
constexpr int kDotMR = 12;  // 12 x 32 tile: 24 accumulators + 2 item vectors + 1 broadcast <= 32 zmm
constexpr int kDotNRV = 2;

#include "kernels/kernels_body.inl"

}  // namespace kernels_avx512
}  // namespace turborec
