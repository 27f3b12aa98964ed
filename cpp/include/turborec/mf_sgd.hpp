#pragma once
// Matrix factorisation by parallel SGD: r_ui ~ mu + b_u + b_i + <p_u, q_i> (squared loss), or BPR
// for implicit feedback.
//
// Parallel without locks or races: users and items are dealt at random into G groups each, which
// cuts the rating matrix into a G x G grid of blocks. An epoch runs G strata; stratum s holds the
// blocks (g, (g + shift_s) mod G), which share no user and no item, so its G blocks run in
// parallel. The grid, the order of entries inside blocks, the strata order and the random streams
// (one per block and epoch) depend on the seed only: the model is the same bit for bit for any
// number of threads.
#include <cstdint>
#include <vector>

namespace turborec {

// Ratings dealt into the grid: entries of block b are [block_ptr[b], block_ptr[b + 1]) in a fixed
// order drawn from the seed: sorted by user and interleaved (user_sorted, for speed: see
// sgd_make_grid), or random (BPR, whose ranking quality measured better that way).
struct SgdGrid {
  int G = 1;
  std::vector<int64_t> block_ptr;  // G * G + 1
  std::vector<int32_t> users, items;
  std::vector<float> values;
  std::vector<int32_t> user_group, item_group;  // group of each user / item
  std::vector<int64_t> group_items_ptr;         // items of each group, for BPR negatives: G + 1
  std::vector<int32_t> group_items;
};

SgdGrid sgd_make_grid(const int32_t* users, const int32_t* items, const float* values, int64_t n, int64_t n_users,
                      int64_t n_items, int G, uint64_t seed, bool user_sorted = true);

enum class SgdLoss : int { squared = 0, bpr = 1 };
enum class SgdSchedule : int { constant = 0, adagrad = 1, decay = 2 };

struct SgdOptions {
  SgdLoss loss = SgdLoss::squared;
  SgdSchedule schedule = SgdSchedule::adagrad;
  float lr = 0.05f;
  float reg = 0.02f;
  float reg_bias = 0.02f;
  float decay = 0.0f;  // decay schedule: lr / (1 + decay * epoch)
  bool biased = true;
  uint64_t seed = 0;
};

// Model state (caller-owned). P: n_users x dpad, Q: n_items x dpad (dpad a multiple of 16, padding
// columns zero); user_meta / item_meta: 4 floats per row, [bias, AdaGrad accumulator of the factors,
// AdaGrad accumulator of the bias, regularisation weight (squared loss: reg and reg_bias are
// multiplied by it; BPR ignores it)], kept together so an update touches one line for them.
struct SgdState {
  float* P;
  float* Q;
  float* user_meta;
  float* item_meta;
  int dpad;
  int factors;  // real factors (the AdaGrad gradient norm is averaged over them)
  float mu;
};

// BPR needs each user's positive items (CSR, sorted) to reject sampled negatives that are positives.
struct SgdPositives {
  const int64_t* indptr = nullptr;
  const int32_t* indices = nullptr;
};

// The column shift of each stratum, in the order epoch `epoch` runs them: stratum s processes
// blocks (g, (g + shift_s) mod G).
std::vector<int> sgd_strata_order(int G, uint64_t seed, int epoch);

// One epoch; returns the summed loss (squared error, or -log sigmoid for BPR) over its updates.
// Throws std::domain_error if a factor became non-finite (a diverging learning rate).
double sgd_epoch(const SgdGrid& grid, SgdState& state, const SgdOptions& options, const SgdPositives& positives,
                 int epoch, int n_threads);

// mu + b_u + b_i + <p_u, q_i> for pairs (<p_u, q_i> alone when not biased).
void mf_predict(const SgdState& state, const int32_t* users, const int32_t* items, int64_t n, bool biased, float* out,
                int n_threads);

}  // namespace turborec
