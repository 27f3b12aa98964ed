#pragma once
// A feature-aware factorisation (LightFM's model): a user's vector is the weighted sum of the
// vectors of its features, p_u = sum_f U[u, f] E_user[f], an item's q_i = sum_g I[i, g] E_item[g],
// and likewise their biases; an identity block in U / I gives every row an own vector.
// score(u, i) = mu + b_u + b_i + <p_u, q_i>.
//
// Trained by lock-free parallel SGD (Hogwild): the samples of an epoch, in a caller-given order,
// are cut into one contiguous chunk per thread (per round, see feature_mf_epoch), and every thread
// updates the shared embedding rows without locks. Feature rows (a genre) are shared by many items, so the grid partition of
// mf_sgd.hpp cannot keep threads apart; sparse updates make collisions rare. With one thread the
// run is sequential and, given the same order and seed, bit for bit reproducible.
#include <cstdint>

namespace turborec {

// A CSR matrix with int64 row pointers (rows = users or items, columns = their features).
struct FeatureRows {
  const int64_t* indptr;
  const int32_t* indices;
  const float* data;
  int64_t n_rows;
  int64_t n_cols;
};

// Model state (caller-owned). Embedding tables are n_features x dpad (dpad a multiple of 16,
// padding zero); per feature row: a bias and two AdaGrad accumulators (factors, bias).
struct FeatureMfState {
  float* user_emb;
  float* item_emb;
  float* user_bias;  // n_user_features
  float* item_bias;  // n_item_features
  float* user_acc;   // n_user_features x 2
  float* item_acc;   // n_item_features x 2
  int dpad;
  int factors;
  float mu;
};

enum class FeatureMfLoss : int { squared = 0, bpr = 1, warp = 2 };

struct FeatureMfOptions {
  FeatureMfLoss loss = FeatureMfLoss::bpr;
  float lr = 0.05f;
  float reg = 0.0f;
  float reg_bias = 0.0f;
  bool adagrad = true;
  bool biased = true;
  int max_sampled = 10;  // WARP: negatives tried per positive
  int64_t refresh = 0;   // WARP: samples per round (0: feature_mf_refresh_interval)
  uint64_t seed = 0;
  // Item feature columns [0, shared_item_features) are shared by many items (genres, tags; the
  // own-vector columns come after them). With several threads, and when they are few, each thread
  // updates its own copy of their rows, merged into the tables every kMergeSamples samples per
  // thread: every sample writes a few of them, and shared they moved between the cores' caches on
  // most writes. One thread always writes the tables directly.
  int32_t shared_item_features = 0;
};

// What the ranking losses sample negatives from: `pool` (items with interactions), rejecting the
// user's positives (CSR, sorted).
struct FeatureMfSampling {
  const int64_t* pos_indptr = nullptr;
  const int32_t* pos_indices = nullptr;
  const int32_t* pool = nullptr;
  int64_t pool_size = 0;
};

// One epoch over samples order[0 .. n) (indices into users / items / values). The epoch runs in
// rounds of options.refresh (default feature_mf_refresh_interval(I)) samples (WARP; the other
// losses: one round); each
// round is cut into one contiguous chunk per thread, and chunk c always draws its negatives from
// the stream feature_mf_stream(seed, epoch, c), continued from round to round: pool[below(n)]
// with below(n) = (next() * n) >> 64 on splitmix64.
//
// BPR: the negative is the first of up to 10 draws that is not one of the user's positives.
// WARP: up to max_sampled draws; a draw is scored from a cache of the pool items' vectors and
// biases (rebuilt at the start of every round, and refreshed for the positive and the negative
// after each update), and it becomes the negative when that score is within the margin
// (score > s_ui - 1), it is not a positive, and its exact score is within the margin too (so only
// the cache's stale scores that miss a violation differ from scoring every draw exactly, as
// LightFM does). Weight log(max(1, floor((pool_size - 1) / trial))), trial its 1-based draw.
// The updates then use the exact vectors of the user, the positive and the negative.
//
// Returns the summed loss; throws std::domain_error if it is not finite (a diverging learning rate).
double feature_mf_epoch(const FeatureRows& U, const FeatureRows& I, const int32_t* users, const int32_t* items,
                        const float* values, const int64_t* order, int64_t n, const FeatureMfSampling& sampling,
                        FeatureMfState& state, const FeatureMfOptions& options, int epoch, int n_threads);

// WARP's cache rebuild interval in samples: max(16384, 2 * nnz(I)), so a rebuild costs a small
// fraction of the round it serves.
int64_t feature_mf_refresh_interval(const FeatureRows& I);

// The seed of the random stream of chunk `chunk` in epoch `epoch` (splitmix64, documented so a
// reference implementation can replay it).
uint64_t feature_mf_stream(uint64_t seed, int epoch, int64_t chunk);

// rows (n x dpad) = M @ emb and bias_out (n) = M @ bias: the materialised vectors of M's rows.
void feature_mf_materialise(const FeatureRows& M, const float* emb, const float* bias, int dpad, float* rows,
                            float* bias_out, int n_threads);

}  // namespace turborec
