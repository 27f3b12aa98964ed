// Generic kernel bodies, written once against a small vector interface and compiled per instruction
// set. Included inside namespace turborec::kernels_<level> after that level defines:
//   W, vf, vload, vstore, vset1, vzero, vadd, vsub, vmul, vfmadd, vreduce_add, vreduce_add2, vmask_not_less,
//   vmask_touched,
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

// The exact rules for one slot that a vector compare let through: untouched (-0.0) and skipped
// slots are dropped, NaN is reported (finite inputs: only float32 overflow, inf - inf, gets here),
// and a score >= threshold is appended at out[c].
inline void take_candidate(int64_t j, float s, const uint8_t* skip, const int32_t* id_map, float threshold,
                           float* out_s, int32_t* out_id, int64_t& c, bool* nan_seen) {
  if (is_negative_zero(s) || skip[j]) return;
  if (s != s) {
    *nan_seen = true;
    return;
  }
  if (s < threshold) return;
  out_s[c] = s;
  out_id[c] = id_map ? id_map[j] : static_cast<int32_t>(j);
  ++c;
}

int64_t scan_marked(float* acc, uint8_t* marks, int64_t block, int64_t n, const float* scale, const uint8_t* skip,
                    const int32_t* id_map, float threshold, float* out_s, int32_t* out_id, int64_t cap,
                    int64_t* count, bool* nan_seen) {
  static_assert(kAccBlock % W == 0, "a block is a whole number of vectors");
  const vf neg_zero = vset1(-0.0f);
  const vf t = vset1(threshold);
  int64_t c = *count;
  auto take = [&](int64_t j, float s) { take_candidate(j, s, skip, id_map, threshold, out_s, out_id, c, nan_seen); };
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
        if (is_negative_zero(s)) continue;  // untouched: decided before scaling, as the vector path does
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

int64_t scan_dense(float* acc, int64_t end, const float* scale, const float* bound, const uint8_t* skip,
                   const int32_t* id_map, float threshold, float* out_s, int32_t* out_id, int64_t cap, int64_t* count,
                   bool* nan_seen) {
  constexpr int U = 4;  // vectors per step: one branch per U * W slots
  static_assert(kScaleBlock % (U * W) == 0, "a step must lie inside one bound block");
  // Rounding margin: s * scale can round up to the threshold while s sits a few ulps under
  // threshold / max(scale); such a step still takes the exact path.
  const bool bounded = scale && bound && threshold > 0.0f;
  const float margin = threshold * (1.0f - 1e-5f);
  const vf neg_zero = vset1(-0.0f);
  const vf t = vset1(threshold);
  int64_t c = *count;
  auto take = [&](int64_t j, float s) { take_candidate(j, s, skip, id_map, threshold, out_s, out_id, c, nan_seen); };
  int64_t j = end;
  const int64_t whole = end - end % (U * W);
  for (; j > whole; --j) {  // the slots above the last whole step, one by one
    if (c + 1 > cap) break;
    const float s = acc[j - 1];
    acc[j - 1] = -0.0f;
    if (is_negative_zero(s)) continue;  // untouched: decided before scaling, as the vector path does
    take(j - 1, scale ? s * scale[j - 1] : s);
  }
  if (j > whole) {
    *count = c;
    return j;
  }
  float buf[U * W];
  for (; j > 0; j -= U * W) {
    if (c + U * W > cap) break;
    const int64_t j0 = j - U * W;
    vf a[U];
    uint64_t mask = 0;
    if (bounded) {  // untouched slots hold -0.0, under any positive bound
      const vf tb = vset1(margin * bound[j0 / kScaleBlock]);
      for (int u = 0; u < U; ++u) {
        a[u] = vload(acc + j0 + u * W);
        vstore(acc + j0 + u * W, neg_zero);
        mask |= static_cast<uint64_t>(vmask_not_less(a[u], tb));
      }
      if (!mask) continue;
      mask = 0;
      for (int u = 0; u < U; ++u) {
        const uint64_t touched = vmask_touched(a[u]);
        a[u] = vmul(a[u], vload(scale + j0 + u * W));
        mask |= (touched & vmask_not_less(a[u], t)) << (u * W);
      }
    } else {
      for (int u = 0; u < U; ++u) {
        a[u] = vload(acc + j0 + u * W);
        const uint64_t touched = vmask_touched(a[u]);
        vstore(acc + j0 + u * W, neg_zero);
        if (scale) a[u] = vmul(a[u], vload(scale + j0 + u * W));
        mask |= (touched & vmask_not_less(a[u], t)) << (u * W);
      }
    }
    if (!mask) continue;
    for (int u = 0; u < U; ++u) vstore(buf + u * W, a[u]);
    while (mask) {
      const int b = __builtin_ctzll(mask);
      mask &= mask - 1;
      take(j0 + b, buf[b]);
    }
  }
  *count = c;
  return j;
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

// R x kDotNR scores (R <= kDotMR) of a query panel [d][kDotMR] against an item panel [d][NR], bias
// included, accumulated in registers over the whole of d. R < kDotMR serves the last, partly filled
// query panel: a single query costs one row of FMAs, not kDotMR (the serving case).
template <int R>
inline void dot_micro_tile(const float* qp, const float* ip, int d, const float* bias, float* tile) {
  vf acc[R][kDotNRV];
#pragma GCC unroll 32
  for (int v = 0; v < kDotNRV; ++v) {
    const vf b = vload(bias + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  for (int t = 0; t < d; ++t) {
    vf b[kDotNRV];
#pragma GCC unroll 32
    for (int v = 0; v < kDotNRV; ++v) b[v] = vload(ip + t * kDotNR + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
      const vf a = vset1(qp[t * kDotMR + r]);
#pragma GCC unroll 32
      for (int v = 0; v < kDotNRV; ++v) acc[r][v] = vfmadd(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 32
    for (int v = 0; v < kDotNRV; ++v) vstore(tile + r * kDotNR + v * W, acc[r][v]);
}

// The tile for the first `rows` queries of a panel: rows rounded up to 1, 2, 4 or kDotMR.
inline void dot_tile_rows(int rows, const float* qp, const float* ip, int d, const float* bias, float* tile) {
  if (rows == 1) {
    dot_micro_tile<1>(qp, ip, d, bias, tile);
  } else if (rows <= 2 && kDotMR > 2) {
    dot_micro_tile<(kDotMR > 2 ? 2 : kDotMR)>(qp, ip, d, bias, tile);
  } else if (rows <= 4 && kDotMR > 4) {
    dot_micro_tile<(kDotMR > 4 ? 4 : kDotMR)>(qp, ip, d, bias, tile);
  } else {
    dot_micro_tile<kDotMR>(qp, ip, d, bias, tile);
  }
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
        dot_tile_rows(rows, qbuf + qp * d * kDotMR, packed + p * d * kDotNR, d, bias + p * kDotNR, tile);
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

// ---- matrix factorisation ------------------------------------------------------------------------

inline float dot_inline(const float* a, const float* b, int n) {
  vf acc0 = vzero(), acc1 = vzero();
  int v = 0;
  for (; v + 2 * W <= n; v += 2 * W) {
    acc0 = vfmadd(vload(a + v), vload(b + v), acc0);
    acc1 = vfmadd(vload(a + v + W), vload(b + v + W), acc1);
  }
  for (; v < n; v += W) acc0 = vfmadd(vload(a + v), vload(b + v), acc0);
  return vreduce_add(vadd(acc0, acc1));
}

// GCC may delete __builtin_prefetch loops at -O2; an asm statement stays. prefetcht0 exists on every
// x86-64.
inline void prefetch_line(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }

// SGD entries are in random order, so their factor rows are random memory accesses: request the
// rows (and the per-row scalars) of the entry kSgdAhead updates ahead.
constexpr int64_t kSgdAhead = 8;

inline void prefetch_entry(const SgdBlockArgs& a, int32_t u, int32_t i) {
  const float* p = a.P + static_cast<int64_t>(u) * a.dpad;
  const float* q = a.Q + static_cast<int64_t>(i) * a.dpad;
  for (int v = 0; v < a.dpad; v += 16) {
    prefetch_line(p + v);
    prefetch_line(q + v);
  }
  prefetch_line(a.user_meta + 4 * static_cast<int64_t>(u));
  prefetch_line(a.item_meta + 4 * static_cast<int64_t>(i));
}

float dot(const float* a, const float* b, int n) { return dot_inline(a, b, n); }

// The four AdaGrad step sizes of an update, lr / sqrt(accumulator), in one go: rsqrtps plus a
// Newton step (~23 bits) instead of four square roots and four divisions, which made the divider
// the bottleneck of the whole update. Without SSE (not x86), the exact expression.
inline void adagrad_steps(float lr, float g0, float g1, float g2, float g3, float* out) {
#if defined(__SSE__)
  const __m128 g = _mm_set_ps(g3, g2, g1, g0);
  __m128 r = _mm_rsqrt_ps(g);
  const __m128 half_g_r2 = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(0.5f), g), _mm_mul_ps(r, r));
  r = _mm_mul_ps(r, _mm_sub_ps(_mm_set1_ps(1.5f), half_g_r2));
  _mm_storeu_ps(out, _mm_mul_ps(_mm_set1_ps(lr), r));
#else
  out[0] = lr / __builtin_sqrtf(g0);
  out[1] = lr / __builtin_sqrtf(g1);
  out[2] = lr / __builtin_sqrtf(g2);
  out[3] = lr / __builtin_sqrtf(g3);
#endif
}

// p -= sp * (rp p - e q); q -= sq * (rq q - e p), both from the old values; returns the squared
// gradient norms through gpp, gqq (for AdaGrad) from one combined horizontal reduction.
inline void pair_update(float* p, float* q, float e, float sp, float sq, float rp, float rq, int dpad, float& gpp,
                        float& gqq) {
  const vf ve = vset1(e), vrp = vset1(rp), vrq = vset1(rq), vsp = vset1(sp), vsq = vset1(sq);
  vf np = vzero(), nq = vzero();
  for (int v = 0; v < dpad; v += W) {
    const vf pv = vload(p + v), qv = vload(q + v);
    const vf gp = vsub(vmul(vrp, pv), vmul(ve, qv));
    const vf gq = vsub(vmul(vrq, qv), vmul(ve, pv));
    vstore(p + v, vsub(pv, vmul(vsp, gp)));
    vstore(q + v, vsub(qv, vmul(vsq, gq)));
    np = vfmadd(gp, gp, np);
    nq = vfmadd(gq, gq, nq);
  }
  vreduce_add2(np, nq, gpp, gqq);
}

// The squared-loss updates of one block. The row length D (0: a.dpad, read at run time) and the two
// flags are template parameters so the vector loops unroll and the per-update branches vanish; the
// arguments are copied into locals because the factor stores could otherwise alias them and force a
// reload of every scalar on every update. The arithmetic is the same for every instantiation.
template <int D, bool kBiased, bool kAdagrad>
double sgd_squared_fixed(const SgdBlockArgs& a) {
  const int dpad = D ? D : a.dpad;
  const int32_t* const users = a.users;
  const int32_t* const items = a.items;
  const float* const values = a.values;
  float* const P = a.P;
  float* const Q = a.Q;
  float* const user_meta = a.user_meta;
  float* const item_meta = a.item_meta;
  const int64_t n = a.n;
  const float mu = a.mu, lr = a.lr, reg = a.reg, reg_bias = a.reg_bias;
  const float inv_d = 1.0f / static_cast<float>(a.factors);
  double loss = 0.0;
  for (int64_t t = 0; t < n; ++t) {
    if (t + kSgdAhead < n) prefetch_entry(a, users[t + kSgdAhead], items[t + kSgdAhead]);
    const int32_t u = users[t], i = items[t];
    float* p = P + static_cast<int64_t>(u) * dpad;
    float* q = Q + static_cast<int64_t>(i) * dpad;
    float* um = user_meta + 4 * static_cast<int64_t>(u);  // [bias, g factors, g bias, reg weight]
    float* im = item_meta + 4 * static_cast<int64_t>(i);
    float pred = dot_inline(p, q, dpad);
    if (kBiased) pred += mu + um[0] + im[0];
    const float e = values[t] - pred;
    loss += static_cast<double>(e) * e;
    float steps[4] = {lr, lr, lr, lr};  // p, q, b_u, b_i
    if (kAdagrad) adagrad_steps(lr, um[1], im[1], um[2], im[2], steps);
    // Each row's regularisation is reg (reg_bias) times its own weight (meta[3]): the model sets the
    // weights from the rows' rating counts (see MatrixFactorization's reg_exponent).
    const float wu = um[3], wi = im[3];
    float gpp, gqq;
    pair_update(p, q, e, steps[0], steps[1], reg * wu, reg * wi, dpad, gpp, gqq);
    if (kAdagrad) {
      um[1] += gpp * inv_d;
      im[1] += gqq * inv_d;
    }
    if (kBiased) {
      const float gu = reg_bias * wu * um[0] - e, gi = reg_bias * wi * im[0] - e;
      um[0] -= steps[2] * gu;
      im[0] -= steps[3] * gi;
      if (kAdagrad) {
        um[2] += gu * gu;
        im[2] += gi * gi;
      }
    }
  }
  return loss;
}

template <bool kBiased, bool kAdagrad>
double sgd_squared_sized(const SgdBlockArgs& a) {
  switch (a.dpad) {  // the row lengths of 1..64 factors; longer rows take the run-time loop
    case 16: return sgd_squared_fixed<16, kBiased, kAdagrad>(a);
    case 32: return sgd_squared_fixed<32, kBiased, kAdagrad>(a);
    case 48: return sgd_squared_fixed<48, kBiased, kAdagrad>(a);
    case 64: return sgd_squared_fixed<64, kBiased, kAdagrad>(a);
    default: return sgd_squared_fixed<0, kBiased, kAdagrad>(a);
  }
}

double sgd_squared(const SgdBlockArgs& a) {
  if (a.biased) return a.adagrad ? sgd_squared_sized<true, true>(a) : sgd_squared_sized<true, false>(a);
  return a.adagrad ? sgd_squared_sized<false, true>(a) : sgd_squared_sized<false, false>(a);
}

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline bool is_positive(const SgdBlockArgs& a, int32_t u, int32_t j) {
  int64_t lo = a.pos_indptr[u], hi = a.pos_indptr[u + 1];
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (a.pos_indices[mid] < j) lo = mid + 1; else hi = mid;
  }
  return lo < a.pos_indptr[u + 1] && a.pos_indices[lo] == j;
}

// BPR: for a positive (u, i) and a sampled negative j, ascend log sigmoid(x_uij) with
// x_uij = b_i - b_j + <p_u, q_i - q_j>, L2-regularised.
// A negative for user u from the pool: a few tries, rejecting u's positives; -1 if every try hit
// a positive (a user owning most of the pool), and the update is skipped.
inline int32_t draw_negative(const SgdBlockArgs& a, int32_t u, uint64_t& rng) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int32_t c = a.pool[splitmix64(rng) % static_cast<uint64_t>(a.pool_size)];
    if (!is_positive(a, u, c)) return c;
  }
  return -1;
}

double sgd_bpr(const SgdBlockArgs& a) {
  uint64_t rng = a.rng_seed;
  double loss = 0.0;
  const float inv_d = 1.0f / static_cast<float>(a.factors);
  if (a.pool_size == 0) return 0.0;
  const vf vreg = vset1(a.reg);
  // Negatives are drawn kSgdAhead updates early so their rows can be prefetched like the others.
  int32_t ahead[kSgdAhead];
  for (int64_t t = 0; t < kSgdAhead && t < a.n; ++t) ahead[t] = draw_negative(a, a.users[t], rng);
  for (int64_t t = 0; t < a.n; ++t) {
    const int32_t j = ahead[t % kSgdAhead];
    if (t + kSgdAhead < a.n) {
      const int32_t u2 = a.users[t + kSgdAhead];
      const int32_t j2 = draw_negative(a, u2, rng);
      ahead[t % kSgdAhead] = j2;
      prefetch_entry(a, u2, a.items[t + kSgdAhead]);
      if (j2 >= 0) {
        for (int v = 0; v < a.dpad; v += 16) prefetch_line(a.Q + static_cast<int64_t>(j2) * a.dpad + v);
        prefetch_line(a.item_meta + 4 * static_cast<int64_t>(j2));
      }
    }
    const int32_t u = a.users[t], i = a.items[t];
    if (j < 0) continue;
    float* p = a.P + static_cast<int64_t>(u) * a.dpad;
    float* qi = a.Q + static_cast<int64_t>(i) * a.dpad;
    float* qj = a.Q + static_cast<int64_t>(j) * a.dpad;
    float* um = a.user_meta + 4 * static_cast<int64_t>(u);
    float* im = a.item_meta + 4 * static_cast<int64_t>(i);
    float* jm = a.item_meta + 4 * static_cast<int64_t>(j);
    float x = dot_inline(p, qi, a.dpad) - dot_inline(p, qj, a.dpad);
    if (a.biased) x += im[0] - jm[0];
    // loss = log(1 + e^-x) and its slope g = sigmoid(-x), computed without overflow
    const float ex = __builtin_expf(-__builtin_fabsf(x));
    loss += (x > 0 ? 0.0 : -static_cast<double>(x)) + __builtin_log1pf(ex);
    const float g = x > 0 ? ex / (1.0f + ex) : 1.0f / (1.0f + ex);
    float steps[4] = {a.lr, a.lr, a.lr, a.lr};  // p, q_i, q_j, (unused)
    float bias_steps[4] = {a.lr, a.lr, a.lr, a.lr};  // b_i, b_j
    if (a.adagrad) {
      adagrad_steps(a.lr, um[1], im[1], jm[1], 1.0f, steps);
      if (a.biased) adagrad_steps(a.lr, im[2], jm[2], 1.0f, 1.0f, bias_steps);
    }
    const vf vg = vset1(g), sp = vset1(steps[0]), si = vset1(steps[1]), sj = vset1(steps[2]);
    vf np = vzero(), ni = vzero(), nj = vzero();
    for (int v = 0; v < a.dpad; v += W) {
      const vf pv = vload(p + v), qiv = vload(qi + v), qjv = vload(qj + v);
      const vf gp = vsub(vmul(vreg, pv), vmul(vg, vsub(qiv, qjv)));
      const vf gi = vsub(vmul(vreg, qiv), vmul(vg, pv));
      const vf gj = vadd(vmul(vreg, qjv), vmul(vg, pv));
      vstore(p + v, vsub(pv, vmul(sp, gp)));
      vstore(qi + v, vsub(qiv, vmul(si, gi)));
      vstore(qj + v, vsub(qjv, vmul(sj, gj)));
      np = vfmadd(gp, gp, np);
      ni = vfmadd(gi, gi, ni);
      nj = vfmadd(gj, gj, nj);
    }
    if (a.adagrad) {
      um[1] += vreduce_add(np) * inv_d;
      im[1] += vreduce_add(ni) * inv_d;
      jm[1] += vreduce_add(nj) * inv_d;
    }
    if (a.biased) {
      const float gbi = a.reg_bias * im[0] - g, gbj = a.reg_bias * jm[0] + g;
      im[0] -= bias_steps[0] * gbi;
      jm[0] -= bias_steps[1] * gbj;
      if (a.adagrad) {
        im[2] += gbi * gbi;
        jm[2] += gbj * gbj;
      }
    }
  }
  return loss;
}

// ---- feature-aware factorisation (cpp/src/feature_mf.cpp) ----------------------------------------

#include "kernels/feature_mf_body.inl"

}  // namespace

extern const KernelTable table = {
    kLevel, topk_scan, scan_marked, scan_dense, kDotMR, kDotNR, dot_pack_items, dot_topk, sgd_squared, sgd_bpr, dot,
    feature_mf_samples, feature_mf_rows,
};
