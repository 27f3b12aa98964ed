// Baseline kernels: plain C++ on a 4-wide "vector" of floats. Compiled with the baseline flags only
// (plain x86-64), so the compiler may use SSE2 and nothing above it. This is also the reference the
// other levels are tested against.
#include <cstdint>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "turborec/kernels.hpp"

namespace turborec {
namespace kernels_scalar {

constexpr int W = 4;
struct vf {
  float x[W];
};
inline vf vload(const float* p) {
  vf r;
  for (int i = 0; i < W; ++i) r.x[i] = p[i];
  return r;
}
inline void vstore(float* p, vf a) {
  for (int i = 0; i < W; ++i) p[i] = a.x[i];
}
inline vf vset1(float s) {
  vf r;
  for (int i = 0; i < W; ++i) r.x[i] = s;
  return r;
}
inline vf vzero() { return vset1(0.0f); }
inline vf vadd(vf a, vf b) {
  for (int i = 0; i < W; ++i) a.x[i] += b.x[i];
  return a;
}
inline vf vsub(vf a, vf b) {
  for (int i = 0; i < W; ++i) a.x[i] -= b.x[i];
  return a;
}
inline vf vmul(vf a, vf b) {
  for (int i = 0; i < W; ++i) a.x[i] *= b.x[i];
  return a;
}
// a * b + c, rounded twice: the scalar level has no fused multiply-add.
inline vf vfmadd(vf a, vf b, vf c) {
  for (int i = 0; i < W; ++i) c.x[i] += a.x[i] * b.x[i];
  return c;
}
inline float vreduce_add(vf a) { return (a.x[0] + a.x[2]) + (a.x[1] + a.x[3]); }
// Bit i set where !(s[i] < t[i]): the candidate may beat the threshold, or is NaN.
inline uint32_t vmask_not_less(vf s, vf t) {
  uint32_t m = 0;
  for (int i = 0; i < W; ++i) m |= static_cast<uint32_t>(!(s.x[i] < t.x[i])) << i;
  return m;
}

// Bit i set where a[i] is not -0.0 (the accumulators' "never touched" mark).
inline uint32_t vmask_touched(vf a) {
  uint32_t m = 0;
  for (int i = 0; i < W; ++i) {
    uint32_t bits;
    __builtin_memcpy(&bits, &a.x[i], 4);
    m |= static_cast<uint32_t>(bits != 0x80000000u) << i;
  }
  return m;
}

// Two horizontal sums at once.
inline void vreduce_add2(vf a, vf b, float& sa, float& sb) {
  sa = vreduce_add(a);
  sb = vreduce_add(b);
}

constexpr SimdLevel kLevel = SimdLevel::scalar;
constexpr int kDotMR = 4;   // queries per micro-tile
constexpr int kDotNRV = 2;  // vectors of items per micro-tile

#include "kernels/kernels_body.inl"

}  // namespace kernels_scalar
}  // namespace turborec
