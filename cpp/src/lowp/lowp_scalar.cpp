// Portable low-precision kernels: plain C++ on the same packed layouts, compiled with the baseline
// flags. Slow, but the reference the SIMD levels are tested against and the path of plain x86-64.
#include <cstdint>
#include <cstring>

#include "turborec/lowp.hpp"

namespace turborec {
namespace lowp_scalar {

constexpr int kMR = 4;
constexpr int kNRV = 1;
constexpr uint8_t kQueryXor = 0;  // signed x signed: no offset, no correction
constexpr int kNRs = kNRV * kLowpPanel;

// Bit c of masks[r] set where !(tile[r][c] < thresh[r]).
inline void tile_masks(const float* tile, const float* thresh, uint64_t* masks) {
  for (int r = 0; r < kMR; ++r) {
    uint64_t m = 0;
    for (int c = 0; c < kNRs; ++c) m |= static_cast<uint64_t>(!(tile[r * kNRs + c] < thresh[r])) << c;
    masks[r] = m;
  }
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Integer dot products, then score = float(acc) * (qscale * iscale) + bias.
inline void int8_tile(const uint8_t* qtile, int dsteps, const float* qs, const int8_t* ip, const int32_t*,
                      const float* iscale, const float* bias, const float* thresh, float* tile, uint64_t* masks) {
  int32_t acc[kMR][kNRs] = {};
  const int64_t row_bytes = int64_t(dsteps) * 4;
  for (int t = 0; t < dsteps; ++t)
    for (int r = 0; r < kMR; ++r) {
      const int8_t* q = reinterpret_cast<const int8_t*>(qtile + r * row_bytes + t * 4);
      for (int v = 0; v < kNRV; ++v) {
        const int8_t* b = ip + (int64_t(v) * dsteps + t) * 4 * kLowpPanel;
        for (int c = 0; c < kLowpPanel; ++c)
          for (int e = 0; e < 4; ++e) acc[r][v * kLowpPanel + c] += int32_t(q[e]) * int32_t(b[c * 4 + e]);
      }
    }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kNRs; ++c) {
      const float scale = qs[r] * iscale[c];
      tile[r * kNRs + c] = static_cast<float>(acc[r][c]) * scale + bias[c];
    }
  tile_masks(tile, thresh, masks);
}

// bf16 products are exact in float32; they are added pair by pair, like vdpbf16ps.
inline void bf16_tile(const uint16_t* qtile, int dsteps, const uint16_t* ip, const float* bias, const float* thresh,
                      float* tile, uint64_t* masks) {
  float acc[kMR][kNRs] = {};
  const int64_t row = int64_t(dsteps) * 2;
  for (int t = 0; t < dsteps; ++t)
    for (int r = 0; r < kMR; ++r) {
      const float q0 = bf16_to_float(qtile[r * row + 2 * t]), q1 = bf16_to_float(qtile[r * row + 2 * t + 1]);
      for (int v = 0; v < kNRV; ++v) {
        const uint16_t* b = ip + (int64_t(v) * dsteps + t) * 2 * kLowpPanel;
        for (int c = 0; c < kLowpPanel; ++c) {
          float& a = acc[r][v * kLowpPanel + c];
          a += q0 * bf16_to_float(b[2 * c]);
          a += q1 * bf16_to_float(b[2 * c + 1]);
        }
      }
    }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kNRs; ++c) tile[r * kNRs + c] = acc[r][c] + bias[c];
  tile_masks(tile, thresh, masks);
}

float dot_f32(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

constexpr double (*peak_loop)(int64_t) = nullptr;  // no instruction to probe at this level

#define TURBOREC_LOWP_INT8 1
#define TURBOREC_LOWP_BF16 1
#include "lowp/lowp_body.inl"

}  // namespace lowp_scalar
}  // namespace turborec
