// Generic kernel bodies, written once against a small vector interface and compiled per instruction
// set. Included inside namespace turborec::kernels_<level> after that level defines:
//   W, vf, vload, vstore, vset1, vzero, vadd, vsub, vmul, vfmadd, vreduce_add, vmask_not_less, vmask_touched,
//   kDotMR, kDotNRV, kLevel.
// Rules for this file: raw pointers and sizes only, no allocation, nothing from the standard library
// that could be emitted out of line (it would be shared with baseline code by the linker).

#include "turborec/heap_impl.inl"

namespace {

constexpr int kDotNR = kDotNRV * W;

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- top-k selection ----------------------------------------------------------------------------

// Slow path for the candidates a vector compare let through: NaN is reported, the rest offered.
inline bool offer_masked(uint64_t mask, const float* s, int32_t id, int k, float* hv, int32_t* hi) {
  bool ok = true;
  while (mask) {
    const int b = __builtin_ctzll(mask);
    mask &= mask - 1;
    const float v = s[b];
    if (v != v) {
      ok = false;
      continue;
    }
    heap_push(hv, hi, k, v, id + b);
  }
  return ok;
}

bool topk_scan(const float* s, int64_t n, int32_t id_base, int k, float* hv, int32_t* hi) {
  bool ok = true;
  int64_t j = 0;
  constexpr int U = 4;  // vectors per step: one compare-and-branch per 4*W scores
  for (; j + U * W <= n; j += U * W) {
    const vf t = vset1(hv[0]);
    uint64_t mask = 0;
    for (int u = 0; u < U; ++u) mask |= static_cast<uint64_t>(vmask_not_less(vload(s + j + u * W), t)) << (u * W);
    if (mask) ok &= offer_masked(mask, s + j, id_base + static_cast<int32_t>(j), k, hv, hi);
  }
  for (; j < n; ++j) {
    const float v = s[j];
    if (!(v < hv[0])) {
      if (v != v) {
        ok = false;
        continue;
      }
      heap_push(hv, hi, k, v, id_base + static_cast<int32_t>(j));
    }
  }
  return ok;
}

inline bool is_negative_zero(float v) {
  uint32_t bits;
  __builtin_memcpy(&bits, &v, 4);
  return bits == 0x80000000u;
}

int64_t scan_marked(float* acc, uint8_t* marks, int64_t block, int64_t n, const float* scale, const uint8_t* skip,
                    const int32_t* id_map, float threshold, float* out_s, int32_t* out_id, int64_t cap,
                    int64_t* count, bool* nan_seen) {
  static_assert(kAccBlock % W == 0, "a block is a whole number of vectors");
  const vf neg_zero = vset1(-0.0f);
  const vf t = vset1(threshold);
  int64_t c = *count;
  auto take = [&](int64_t j, float s) {
    if (is_negative_zero(s) || skip[j]) return;
    if (s != s) {  // finite inputs: only float32 overflow (inf - inf) gets here
      *nan_seen = true;
      return;
    }
    if (s < threshold) return;
    out_s[c] = s;
    out_id[c] = id_map ? id_map[j] : static_cast<int32_t>(j);
    ++c;
  };
  float buf[W];
  // Blocks are visited from the last to the first: candidates are numbered most-connected first,
  // and the least connected tend to score highest under normalised metrics, so the threshold rises
  // early and fewer scores reach the slow path.
  for (; block > 0; --block) {
    const int64_t bl = block - 1;
    if ((bl & 7) == 7) {  // skip eight unmarked blocks with one load
      uint64_t word;
      __builtin_memcpy(&word, marks + bl - 7, 8);
      if (word == 0) {
        block -= 7;
        continue;
      }
    }
    if (!marks[bl]) continue;
    if (c + kAccBlock > cap) break;  // the caller makes room and calls again
    marks[bl] = 0;
    const int64_t j0 = bl * kAccBlock;
    if (j0 + kAccBlock > n) {  // the last, partial block
      for (int64_t j = j0; j < n; ++j) {
        const float s = acc[j];
        acc[j] = -0.0f;
        take(j, scale ? s * scale[j] : s);
      }
      continue;
    }
    for (int v = 0; v < kAccBlock / W; ++v) {
      const int64_t j = j0 + v * W;
      vf a = vload(acc + j);
      const uint32_t touched = vmask_touched(a);
      if (!touched) continue;
      vstore(acc + j, neg_zero);
      if (scale) a = vmul(a, vload(scale + j));
      // Touched slots with scores >= t (or NaN); take() checks skip flags and the exact rules.
      uint32_t mask = touched & vmask_not_less(a, t);
      if (!mask) continue;
      vstore(buf, a);
      while (mask) {
        const int b = __builtin_ctz(mask);
        mask &= mask - 1;
        take(j + b, buf[b]);
      }
    }
  }
  *count = c;
  return block;
}

// ---- fused dot-product top-k --------------------------------------------------------------------

void dot_pack_items(const float* items, int64_t m, int d, float* packed) {
  const int64_t n_panels = (m + kDotNR - 1) / kDotNR;
  for (int64_t p = 0; p < n_panels; ++p) {
    float* out = packed + p * d * kDotNR;
    for (int c = 0; c < kDotNR; ++c) {
      const int64_t j = p * kDotNR + c;
      if (j < m) {
        const float* row = items + j * d;
        for (int t = 0; t < d; ++t) out[t * kDotNR + c] = row[t];
      } else {
        for (int t = 0; t < d; ++t) out[t * kDotNR + c] = 0.0f;
      }
    }
  }
}

// kDotMR x kDotNR scores of a query panel [d][MR] against an item panel [d][NR], bias included,
// accumulated in registers over the whole of d.
inline void dot_micro_tile(const float* qp, const float* ip, int d, const float* bias, float* tile) {
  vf acc[kDotMR][kDotNRV];
#pragma GCC unroll 32
  for (int v = 0; v < kDotNRV; ++v) {
    const vf b = vload(bias + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < kDotMR; ++r) acc[r][v] = b;
  }
  for (int t = 0; t < d; ++t) {
    vf b[kDotNRV];
#pragma GCC unroll 32
    for (int v = 0; v < kDotNRV; ++v) b[v] = vload(ip + t * kDotNR + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < kDotMR; ++r) {
      const vf a = vset1(qp[t * kDotMR + r]);
#pragma GCC unroll 32
      for (int v = 0; v < kDotNRV; ++v) acc[r][v] = vfmadd(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < kDotMR; ++r)
#pragma GCC unroll 32
    for (int v = 0; v < kDotNRV; ++v) vstore(tile + r * kDotNR + v * W, acc[r][v]);
}

constexpr int64_t kDotL2Bytes = 1 << 20;  // item block kept hot in L2 while all query panels pass

bool dot_topk(const float* queries, int64_t nq, const float* packed, int64_t m, int d,
              const float* bias, const int32_t* const* excl, const int64_t* excl_len, int k,
              float* heap_vals, int32_t* heap_ids, float* qbuf) {
  const int64_t n_qpanels = (nq + kDotMR - 1) / kDotMR;
  for (int64_t qp = 0; qp < n_qpanels; ++qp) {  // queries to [panel][d][MR], zero-padded
    float* out = qbuf + qp * d * kDotMR;
    for (int r = 0; r < kDotMR; ++r) {
      const int64_t q = qp * kDotMR + r;
      for (int t = 0; t < d; ++t) out[t * kDotMR + r] = q < nq ? queries[q * d + t] : 0.0f;
    }
  }
  int64_t cursor[kDotMaxQueries];  // position in each query's exclusion list; ids only grow
  for (int64_t q = 0; q < nq; ++q) cursor[q] = 0;

  const int64_t n_panels = (m + kDotNR - 1) / kDotNR;
  int64_t block = kDotL2Bytes / (static_cast<int64_t>(d) * kDotNR * 4);
  if (block < 1) block = 1;
  bool ok = true;
  alignas(64) float tile[kDotMR * kDotNR];
  for (int64_t pb = 0; pb < n_panels; pb += block) {
    const int64_t pe = min_i64(n_panels, pb + block);
    for (int64_t qp = 0; qp < n_qpanels; ++qp) {
      const int rows = static_cast<int>(min_i64(kDotMR, nq - qp * kDotMR));
      for (int64_t p = pb; p < pe; ++p) {
        dot_micro_tile(qbuf + qp * d * kDotMR, packed + p * d * kDotNR, d, bias + p * kDotNR, tile);
        const int32_t id0 = static_cast<int32_t>(p * kDotNR);
        const int valid = static_cast<int>(min_i64(kDotNR, m - p * kDotNR));
        const uint64_t valid_mask = valid >= 64 ? ~uint64_t(0) : ((uint64_t(1) << valid) - 1);
        for (int r = 0; r < rows; ++r) {
          const int64_t q = qp * kDotMR + r;
          float* hv = heap_vals + q * k;
          int32_t* hi = heap_ids + q * k;
          const vf t = vset1(hv[0]);
          uint64_t mask = 0;
#pragma GCC unroll 32
          for (int v = 0; v < kDotNRV; ++v)
            mask |= static_cast<uint64_t>(vmask_not_less(vload(tile + r * kDotNR + v * W), t)) << (v * W);
          mask &= valid_mask;
          while (mask) {
            const int c = __builtin_ctzll(mask);
            mask &= mask - 1;
            const float s = tile[r * kDotNR + c];
            if (!__builtin_isfinite(s)) {  // finite inputs: only float32 overflow gets here
              ok = false;
              continue;
            }
            const int32_t j = id0 + c;
            const int32_t* ex = excl[q];
            int64_t& cur = cursor[q];
            while (cur < excl_len[q] && ex[cur] < j) ++cur;
            if (cur < excl_len[q] && ex[cur] == j) continue;
            heap_push(hv, hi, k, s, j);
          }
        }
      }
    }
  }
  return ok;
}

}  // namespace

extern const KernelTable table = {
    kLevel, topk_scan, scan_marked, kDotMR, kDotNR, dot_pack_items, dot_topk,
};
