// Generic driver of the low-precision top-k kernels, compiled once per level. Included inside
// namespace turborec::lowp_<level> after that level defines:
//   kMR (queries per tile), kNRV (16-item panels per tile), kQueryXor (byte XORed into int8 queries:
//   0x80 turns signed into the unsigned operand vpdpbusd wants), and, for each type it supports,
//   int8_tile / bf16_tile filling a float tile [kMR][kNR] with final scores (bias included) and, per
//   row r, masks[r] with bit c set where !(tile[r][c] < thresh[r]) (the candidates worth a look,
//   found while the scores are still in registers).
// Raw pointers only, no allocation, nothing out of line from the standard library.

#include "turborec/heap_impl.inl"

namespace {

constexpr int kNR = kNRV * kLowpPanel;
constexpr int64_t kLowpL2Bytes = 1 << 18;  // item block kept hot in L2 while all query tiles pass

inline int64_t lowp_min(int64_t a, int64_t b) { return a < b ? a : b; }

// Copies the call's queries into tiles of kMR rows (zero rows past nq), XOR-ing each byte.
inline void lowp_copy_queries(const LowpArgs& a, int64_t row_bytes, uint8_t xor_byte, uint8_t* out) {
  const int64_t rows = (a.nq + kMR - 1) / kMR * kMR;
  const uint8_t* q = static_cast<const uint8_t*>(a.queries);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < row_bytes; ++b) out[r * row_bytes + b] = (r < a.nq ? q[r * row_bytes + b] : 0) ^ xor_byte;
}

// For small k the heap is kept fully sorted, worst first (a sorted array is a valid min-heap, so
// heap_init, the threshold read at [0] and heap_reorder are unchanged): a new candidate walks up
// from the bottom with one predictable branch per step, where the heap's sift takes an unpredictable
// branch per level. Measured on random data at k = 20 (10,000 x 50,000 x 64, one core), the
// selection's cost fell from ~0.087 s to ~0.022 s. Larger k keeps the heap (k = 50: 0.40 s vs 0.46 s).
constexpr int kLowpSortedMaxK = 32;

inline void sorted_push(float* vals, int32_t* ids, int k, float s, int32_t i) {
  if (!heap_beats(s, i, vals[0], ids[0])) return;
  int p = 0;
  while (p + 1 < k && heap_beats(s, i, vals[p + 1], ids[p + 1])) {
    vals[p] = vals[p + 1];
    ids[p] = ids[p + 1];
    ++p;
  }
  vals[p] = s;
  ids[p] = i;
}

// Offers the candidates of one tile (masks from the tile function) to the heaps of its rows. The ids
// of a query only grow from one call to the next, so its exclusion cursor only moves forward.
inline bool lowp_offer(const LowpArgs& a, const float* tile, const uint64_t* masks, int64_t q0, int rows,
                       int64_t id0, int64_t* cursor) {
  bool ok = true;
  const int valid = static_cast<int>(lowp_min(kNR, a.m - id0));
  const uint64_t valid_mask = valid >= 64 ? ~uint64_t(0) : ((uint64_t(1) << valid) - 1);
  for (int r = 0; r < rows; ++r) {
    uint64_t mask = masks[r] & valid_mask;
    if (!mask) continue;
    const int64_t q = q0 + r;
    float* hv = a.heap_vals + q * a.k;
    int32_t* hi = a.heap_ids + q * a.k;
    while (mask) {
      const int c = __builtin_ctzll(mask);
      mask &= mask - 1;
      const float s = tile[r * kNR + c];
      if (!__builtin_isfinite(s)) {  // finite inputs: only float32 overflow of the scales gets here
        ok = false;
        continue;
      }
      const int32_t j = static_cast<int32_t>(id0 + c);
      const int32_t* ex = a.excl[q];
      int64_t& cur = cursor[q];
      while (cur < a.excl_len[q] && ex[cur] < j) ++cur;
      if (cur < a.excl_len[q] && ex[cur] == j) continue;
      if (a.k <= kLowpSortedMaxK)
        sorted_push(hv, hi, a.k, s, j);
      else
        heap_push(hv, hi, a.k, s, j);
    }
  }
  return ok;
}

// Streams L2-sized blocks of item panels past every query tile;
// tile_fn(qtile, qt, group, thresholds, tile, masks).
template <class TileFn>
bool lowp_drive(const LowpArgs& a, int64_t row_bytes, int64_t group_bytes, uint8_t xor_byte, TileFn tile_fn) {
  uint8_t* qbuf = static_cast<uint8_t*>(a.scratch);
  lowp_copy_queries(a, row_bytes, xor_byte, qbuf);
  int64_t cursor[kLowpMaxQueries];
  for (int64_t q = 0; q < a.nq; ++q) cursor[q] = 0;
  const int64_t n_groups = (a.m + kNR - 1) / kNR;
  const int64_t n_qtiles = (a.nq + kMR - 1) / kMR;
  int64_t block = kLowpL2Bytes / group_bytes;
  if (block < 1) block = 1;
  bool ok = true;
  alignas(64) float tile[kMR * kNR];
  uint64_t masks[kMR];
  float thresh[kMR];
  for (int64_t gb = 0; gb < n_groups; gb += block) {
    const int64_t ge = lowp_min(n_groups, gb + block);
    for (int64_t qt = 0; qt < n_qtiles; ++qt) {
      const int rows = static_cast<int>(lowp_min(kMR, a.nq - qt * kMR));
      const uint8_t* qtile = qbuf + qt * kMR * row_bytes;
      for (int64_t g = gb; g < ge; ++g) {
        // The heaps' current worst scores; padding rows take +inf and never offer anything.
        for (int r = 0; r < kMR; ++r) thresh[r] = r < rows ? a.heap_vals[(qt * kMR + r) * a.k] : __builtin_inff();
        tile_fn(qtile, qt, g, thresh, tile, masks);
        ok &= lowp_offer(a, tile, masks, qt * kMR, rows, g * kNR, cursor);
      }
    }
  }
  return ok;
}

#ifdef TURBOREC_LOWP_INT8
bool topk_int8(const LowpArgs& a) {
  const int64_t row_bytes = int64_t(a.dsteps) * 4;
  const int64_t panel_bytes = row_bytes * kLowpPanel;
  const int8_t* packed = static_cast<const int8_t*>(a.packed);
  return lowp_drive(a, row_bytes, panel_bytes * kNRV, kQueryXor, [&](const uint8_t* qtile, int64_t qt, int64_t g, const float* thresh, float* tile,
                                                                   uint64_t* masks) {
    float qs[kMR];
    for (int r = 0; r < kMR; ++r) qs[r] = qt * kMR + r < a.nq ? a.query_scale[qt * kMR + r] : 0.0f;
    const int64_t j0 = g * kNR;
    int8_tile(qtile, a.dsteps, qs, packed + g * kNRV * panel_bytes, a.item_sum + j0, a.item_scale + j0, a.bias + j0,
              thresh, tile, masks);
  });
}
#endif

#ifdef TURBOREC_LOWP_BF16
bool topk_bf16(const LowpArgs& a) {
  const int64_t row_bytes = int64_t(a.dsteps) * 4;  // two bf16 per step
  const int64_t panel_bytes = row_bytes * kLowpPanel;
  const uint8_t* packed = static_cast<const uint8_t*>(a.packed);
  return lowp_drive(a, row_bytes, panel_bytes * kNRV, 0, [&](const uint8_t* qtile, int64_t, int64_t g, const float* thresh, float* tile,
                                                         uint64_t* masks) {
    bf16_tile(reinterpret_cast<const uint16_t*>(qtile), a.dsteps,
              reinterpret_cast<const uint16_t*>(packed + g * kNRV * panel_bytes), a.bias + g * kNR, thresh, tile,
              masks);
  });
}
#endif

}  // namespace

extern const LowpKernels table = {
    kMR,
#ifdef TURBOREC_LOWP_INT8
    topk_int8,
#else
    nullptr,
#endif
#ifdef TURBOREC_LOWP_BF16
    topk_bf16,
#else
    nullptr,
#endif
    dot_f32,
    peak_loop,
};
