// AVX2 + FMA kernels (8 floats per vector). This file alone is compiled with -mavx2 -mfma; it is only
// reached through the dispatch table after the CPU was checked.
#include <immintrin.h>

#include <cstdint>

#include "turborec/kernels.hpp"

namespace turborec {
namespace kernels_avx2 {

constexpr int W = 8;
using vf = __m256;
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf a) { _mm256_storeu_ps(p, a); }
inline vf vset1(float s) { return _mm256_set1_ps(s); }
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vfmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline float vreduce_add(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline uint32_t vmask_not_less(vf s, vf t) {
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(s, t, _CMP_NLT_UQ)));
}

inline uint32_t vmask_touched(vf a) {
  const __m256i neg_zero = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i eq = _mm256_cmpeq_epi32(_mm256_castps_si256(a), neg_zero);
  return static_cast<uint32_t>(~_mm256_movemask_ps(_mm256_castsi256_ps(eq))) & 0xffu;
}

// Two horizontal sums at once: the halves of a and b are added pairwise before one shared tree.
inline void vreduce_add2(vf a, vf b, float& sa, float& sb) {
  const __m128 a4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 b4 = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
  const __m128 ab = _mm_hadd_ps(a4, b4);  // a0+a1 a2+a3 b0+b1 b2+b3
  const __m128 s = _mm_hadd_ps(ab, ab);   // a b a b
  sa = _mm_cvtss_f32(s);
  sb = _mm_cvtss_f32(_mm_shuffle_ps(s, s, 1));
}

constexpr SimdLevel kLevel = SimdLevel::avx2;
constexpr int kDotMR = 6;   // 6 x 16 tile: 12 accumulators + 2 item vectors + 1 broadcast <= 16 ymm
constexpr int kDotNRV = 2;

#include "kernels/kernels_body.inl"

}  // namespace kernels_avx2
}  // namespace turborec
