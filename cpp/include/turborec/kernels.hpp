#pragma once
// The per-instruction-set kernels, reached through a table of function pointers.
//
// Each table is compiled from the same generic source (cpp/src/kernels/kernels_body.inl) with its own
// compiler flags into its own namespace; callers pick the table once per call with kernels(), never
// inside loops. Kernels take raw pointers and sizes only and never allocate.
#include <cstdint>

#include "turborec/simd_level.hpp"

namespace turborec {

// Accumulator slots per mark in KernelTable::scan_marked.
constexpr int64_t kAccBlock = 16;
constexpr int64_t kScaleBlock = 64;  // slots per entry of scan_dense's scale bound

// Most queries one dot_topk call may take (its per-query cursors live on the stack).
constexpr int64_t kDotMaxQueries = 1024;

// Everything an SGD kernel needs for one block of the grid (see mf_sgd.hpp).
struct SgdBlockArgs {
  const int32_t* users;
  const int32_t* items;
  const float* values;  // ratings (squared loss); unused by BPR
  int64_t n;
  float* P;
  float* Q;
  // Per-row scalars, four floats per user / item so one cache line serves them all:
  // [bias, AdaGrad accumulator of the factor row, AdaGrad accumulator of the bias, unused].
  float* user_meta;
  float* item_meta;
  int dpad;     // row stride of P and Q, a multiple of 16
  int factors;  // real factors (<= dpad); the padding stays zero
  float mu;
  float lr;
  float reg;
  float reg_bias;
  bool adagrad;
  bool biased;
  // BPR: negatives are drawn from `pool` (the block's item group), rejecting the user's positives.
  const int32_t* pool;
  int64_t pool_size;
  const int64_t* pos_indptr;
  const int32_t* pos_indices;
  uint64_t rng_seed;
};

// A thread's negative-sampling stream in the feature-aware factorisation: the splitmix64 state
// and the next kFeatureMfAhead draws from the pool, taken early so their rows can be prefetched;
// the draws are handed out in stream order (`ahead` is filled once, when primed).
constexpr int kFeatureMfAhead = 16;
struct FeatureMfStream {
  uint64_t state;
  int32_t ahead[kFeatureMfAhead];
  int32_t head;
  int32_t primed;
};

// Everything the feature-aware factorisation's SGD needs for one thread's run of samples (see
// feature_mf.hpp for the model). CSR rows: users / items -> feature columns (int64 indptr).
struct FeatureMfArgs {
  const int64_t* u_indptr;
  const int32_t* u_indices;
  const float* u_data;
  const int64_t* i_indptr;
  const int32_t* i_indices;
  const float* i_data;
  const int32_t* users;    // per sample
  const int32_t* items;    // per sample
  const float* values;     // per sample (squared loss)
  const int64_t* order;    // samples order[begin .. end) are visited
  int64_t begin;
  int64_t end;
  float* user_emb;  // feature rows x dpad
  float* item_emb;
  float* user_bias;
  float* item_bias;
  float* user_acc;  // feature rows x 2: AdaGrad accumulators (factors, bias)
  float* item_acc;
  // WARP: the materialised item vectors (items x dpad) and biases that score sampled negatives;
  // rows of the positive and the chosen negative are recomputed after their update.
  float* cache;
  float* cache_bias;
  // Item features f < item_private_end are read and written in this thread's copies of their
  // rows, bias and accumulators (item_private_*, indexed by f like the shared tables), which the
  // epoch merges into the shared ones between rounds; 0: none.
  int32_t item_private_end;
  float* item_private_emb;
  float* item_private_bias;
  float* item_private_acc;
  float* scratch;  // 5 x dpad floats
  int dpad;        // a multiple of 16
  int factors;
  int loss;        // 0 squared, 1 BPR, 2 WARP (FeatureMfLoss)
  int max_sampled;
  float mu;
  float lr;
  float reg;
  float reg_bias;
  bool adagrad;
  bool biased;
  // Users' positives (ranking losses): row u of a CSR, each row's sorted items laid out as an
  // implicit binary search tree in breadth-first (Eytzinger) order, so a search can prefetch the
  // nodes four levels below it in one cache line.
  const int64_t* pos_indptr;
  const int32_t* pos_tree;
  const int32_t* pool;        // negatives are drawn uniformly from here
  int64_t pool_size;
  FeatureMfStream* rng;       // advanced in place
};

struct KernelTable {
  SimdLevel level;

  // ---- top-k selection --------------------------------------------------------------------------
  // Offer scores[j] (ids id_base + j) for j in [0, n) to one heap of size k. Returns false if a score
  // is NaN (the scan still completes).
  bool (*topk_scan)(const float* scores, int64_t n, int32_t id_base, int k, float* heap_vals,
                    int32_t* heap_ids);

  // Collects the candidates of an accumulator row, resetting it as it goes. The row is split in
  // blocks of kAccBlock slots and only blocks with marks[b] set are visited (marks are cleared).
  // For each slot j of such a block: s = acc[j] * scale[j] (scale may be null), acc[j] = -0.0, and
  // (s, id_map[j] or j) is appended to out_s/out_id unless acc[j] was -0.0 (never touched), skip[j]
  // is set, or s < threshold. Blocks are visited from `block` - 1 down to 0 (start with n_blocks).
  // Stops before *count could exceed cap and returns the number of blocks still to visit (0 when
  // done), so the caller can keep the best k, raise the threshold, and go on: robust whatever order
  // the scores come in. Sets *nan_seen for NaN scores (never collected).
  int64_t (*scan_marked)(float* acc, uint8_t* marks, int64_t block, int64_t n, const float* scale,
                         const uint8_t* skip, const int32_t* id_map, float threshold, float* out_s, int32_t* out_id,
                         int64_t cap, int64_t* count, bool* nan_seen);

  // The same for a row that touched most slots and was accumulated without marks: every slot of
  // [0, end) is visited, from end - 1 down, a vector compare per W slots and no mark to consult.
  // Returns the end of the part still to visit (0 when done) when *count could exceed cap.
  // `bound` (optional, with a non-negative scale) holds 1 / max(scale) per kScaleBlock slots: once
  // the threshold is positive, a step whose sums all fall below threshold * bound needs no scale
  // read (a third of the scan's bytes).
  int64_t (*scan_dense)(float* acc, int64_t end, const float* scale, const float* bound, const uint8_t* skip,
                        const int32_t* id_map, float threshold, float* out_s, int32_t* out_id, int64_t cap,
                        int64_t* count, bool* nan_seen);

  // ---- fused dot-product top-k ------------------------------------------------------------------
  int dot_mr;  // queries per micro-tile
  int dot_nr;  // items per micro-tile (packed panel width)
  // Pack items (m, d) row-major into panels of dot_nr items laid out [panel][d][dot_nr], zero-padded
  // to a multiple of dot_nr items. `packed` holds round_up(m, dot_nr) * d floats.
  void (*dot_pack_items)(const float* items, int64_t m, int d, float* packed);
  // For `nq` queries (row-major, stride d) offer every score q.items[j] + bias[j] (j < m, not in the
  // query's sorted exclusion list) to that query's heap; nq <= kDotMaxQueries. `qbuf` is scratch of
  // round_up(nq, dot_mr) * d floats. Returns false if a score that could enter a heap was not
  // finite (float32 overflow; the inputs are finite).
  bool (*dot_topk)(const float* queries, int64_t nq, const float* packed, int64_t m, int d,
                   const float* bias_padded, const int32_t* const* excl, const int64_t* excl_len,
                   int k, float* heap_vals, int32_t* heap_ids, float* qbuf);

  // ---- matrix factorisation --------------------------------------------------------------------
  // One pass of SGD over a block's entries in order; returns the summed loss.
  double (*sgd_squared)(const SgdBlockArgs& args);
  double (*sgd_bpr)(const SgdBlockArgs& args);
  // <a, b> over n floats (n a multiple of 16).
  float (*dot)(const float* a, const float* b, int n);

  // ---- feature-aware factorisation (dpad a multiple of 16) --------------------------------------
  // SGD over samples order[begin .. end): returns the summed loss (see cpp/src/feature_mf.cpp).
  double (*feature_mf_samples)(const FeatureMfArgs& args);
  // out[r] = sum_t data[t] * emb[indices[t]] over row r = rows[k] (k < n; rows null: r = k) of a
  // CSR, out_bias[r] the same for bias: the rows' materialised vectors (out has stride dpad).
  void (*feature_mf_rows)(const int64_t* indptr, const int32_t* indices, const float* data, const int32_t* rows,
                          int64_t n, const float* emb, const float* bias, int dpad, float* out, float* out_bias);
};

const KernelTable& kernels();                   // the active level
const KernelTable& kernels_for(SimdLevel level);  // a given level (it must be compiled in)

namespace kernels_scalar { extern const KernelTable table; }
#if TURBOREC_HAVE_AVX2
namespace kernels_avx2 { extern const KernelTable table; }
#endif
#if TURBOREC_HAVE_AVX512
namespace kernels_avx512 { extern const KernelTable table; }
#endif

}  // namespace turborec
