#include "turborec/mf_sgd.hpp"

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "turborec/kernels.hpp"
#include "turborec/threading.hpp"

namespace turborec {

namespace {

// A small seeded generator (splitmix64): portable, so a seed means the same model everywhere.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }  // bias is negligible for n << 2^64
};

uint64_t mix(uint64_t a, uint64_t b) { return Rng(a * 0x2545f4914f6cdd1dULL ^ (b + 0x632be59bd9b4e019ULL)).next(); }

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t t = v.size(); t > 1; --t) std::swap(v[t - 1], v[rng.below(t)]);
}

// Deal n rows into G groups of near-equal size at random, in runs of kSgdRun consecutive rows: the
// per-row scalars are 16 bytes, so with 64-byte aligned arrays a cache line never holds rows of two
// groups, and threads working on different groups never write to the same line (false sharing).
constexpr int64_t kSgdRun = 4;

std::vector<int32_t> deal(int64_t n, int G, Rng& rng) {
  const int64_t runs = (n + kSgdRun - 1) / kSgdRun;
  std::vector<int32_t> run_group(static_cast<size_t>(runs));
  for (int64_t t = 0; t < runs; ++t) run_group[t] = static_cast<int32_t>(t % G);
  shuffle(run_group, rng);
  std::vector<int32_t> group(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) group[t] = run_group[t / kSgdRun];
  return group;
}

// Interleaved update streams inside a block (see sgd_make_grid).
constexpr int64_t kSgdStreams = 4;

// Fewer updates than this in a stratum run on one thread (~0.5 ms of work).
constexpr int64_t kSgdParallelMin = 32768;

}  // namespace

SgdGrid sgd_make_grid(const int32_t* users, const int32_t* items, const float* values, int64_t n, int64_t n_users,
                      int64_t n_items, int G, uint64_t seed, bool user_sorted) {
  if (G < 1) throw std::invalid_argument("the grid needs at least one block per side");
  for (int64_t t = 0; t < n; ++t)
    if (users[t] < 0 || users[t] >= n_users || items[t] < 0 || items[t] >= n_items)
      throw std::invalid_argument("rating " + std::to_string(t) + " has a user or item out of range");
  SgdGrid grid;
  grid.G = G;
  Rng rng(mix(seed, 1));
  grid.user_group = deal(n_users, G, rng);
  grid.item_group = deal(n_items, G, rng);
  // Visiting order inside a block, when user_sorted: users in increasing order, each user's entries
  // in random order, so a user's factor row is fetched once per block and then reused from L1. The
  // sequence (user-sorted or random) is dealt round-robin into kSgdStreams interleaved streams:
  // consecutive updates belong to different users, so the dependency chains through p_u of
  // successive updates overlap instead of running back to back. Built by stable counting sorts (by
  // user, then by block) of a random permutation.
  std::vector<int64_t> seq(static_cast<size_t>(n));
  std::iota(seq.begin(), seq.end(), int64_t(0));
  shuffle(seq, rng);
  if (user_sorted) {
    std::vector<int64_t> start(static_cast<size_t>(n_users + 1), 0), by_user(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) ++start[users[t] + 1];
    for (int64_t u = 0; u < n_users; ++u) start[u + 1] += start[u];
    for (int64_t s = 0; s < n; ++s) by_user[start[users[seq[s]]]++] = seq[s];
    seq.swap(by_user);
  }
  const int64_t n_blocks = static_cast<int64_t>(G) * G;
  grid.block_ptr.assign(static_cast<size_t>(n_blocks + 1), 0);
  auto block_of = [&](int64_t t) { return static_cast<int64_t>(grid.user_group[users[t]]) * G + grid.item_group[items[t]]; };
  for (int64_t t = 0; t < n; ++t) ++grid.block_ptr[block_of(t) + 1];
  for (int64_t b = 0; b < n_blocks; ++b) grid.block_ptr[b + 1] += grid.block_ptr[b];
  std::vector<int64_t> next(grid.block_ptr.begin(), grid.block_ptr.end() - 1);
  std::vector<int64_t> bucketed(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) bucketed[next[block_of(seq[s])]++] = seq[s];
  grid.users.resize(static_cast<size_t>(n));
  grid.items.resize(static_cast<size_t>(n));
  grid.values.resize(values ? static_cast<size_t>(n) : 0);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t lo = grid.block_ptr[b], len = grid.block_ptr[b + 1] - lo;
    const int64_t per = (len + kSgdStreams - 1) / kSgdStreams;  // stream r holds sorted positions [r per, (r+1) per)
    int64_t dst = lo;
    for (int64_t j = 0; j < per; ++j)
      for (int64_t r = 0; r < kSgdStreams; ++r) {
        const int64_t src = r * per + j;
        if (src >= len) continue;
        const int64_t t = bucketed[lo + src];
        grid.users[dst] = users[t];
        grid.items[dst] = items[t];
        if (values) grid.values[dst] = values[t];
        ++dst;
      }
  }
  grid.group_items_ptr.assign(static_cast<size_t>(G + 1), 0);
  for (int64_t i = 0; i < n_items; ++i) ++grid.group_items_ptr[grid.item_group[i] + 1];
  for (int g = 0; g < G; ++g) grid.group_items_ptr[g + 1] += grid.group_items_ptr[g];
  grid.group_items.resize(static_cast<size_t>(n_items));
  std::vector<int64_t> gnext(grid.group_items_ptr.begin(), grid.group_items_ptr.end() - 1);
  for (int64_t i = 0; i < n_items; ++i) grid.group_items[gnext[grid.item_group[i]]++] = static_cast<int32_t>(i);
  return grid;
}

std::vector<int> sgd_strata_order(int G, uint64_t seed, int epoch) {
  Rng rng(mix(seed, 1000003ULL + static_cast<uint64_t>(epoch)));
  std::vector<int> shifts(static_cast<size_t>(G));
  std::iota(shifts.begin(), shifts.end(), 0);
  shuffle(shifts, rng);
  return shifts;
}

double sgd_epoch(const SgdGrid& grid, SgdState& st, const SgdOptions& o, const SgdPositives& positives, int epoch,
                 int n_threads) {
  const KernelTable& K = kernels();
  const int G = grid.G;
  if (st.dpad % 16 != 0) throw std::invalid_argument("dpad must be a multiple of 16");
  if (o.loss == SgdLoss::bpr && (!positives.indptr || !positives.indices))
    throw std::invalid_argument("BPR needs the users' positive items");
  // The strata run in an order drawn from (seed, epoch): the same for any thread count.
  const std::vector<int> shifts = sgd_strata_order(G, o.seed, epoch);
  float lr = o.lr;
  if (o.schedule == SgdSchedule::decay) lr = o.lr / (1.0f + o.decay * static_cast<float>(epoch));
  std::vector<double> losses(static_cast<size_t>(G) * G, 0.0);
  for (int s = 0; s < G; ++s) {
    // A stratum too small to share is run by one thread: waking a team would cost more than its
    // updates (results do not depend on the thread count either way).
    int64_t stratum_size = 0;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t b = g * G + (g + shifts[s]) % G;
      stratum_size += grid.block_ptr[b + 1] - grid.block_ptr[b];
    }
    const int threads = stratum_size < kSgdParallelMin ? 1 : n_threads;
    parallel_chunks(G, 1, threads, [&](int, int64_t g, int64_t) {
      const int64_t col = (g + shifts[s]) % G;
      const int64_t b = g * G + col;
      SgdBlockArgs a{};
      a.users = grid.users.data() + grid.block_ptr[b];
      a.items = grid.items.data() + grid.block_ptr[b];
      a.values = grid.values.empty() ? nullptr : grid.values.data() + grid.block_ptr[b];
      a.n = grid.block_ptr[b + 1] - grid.block_ptr[b];
      a.P = st.P;
      a.Q = st.Q;
      a.user_meta = st.user_meta;
      a.item_meta = st.item_meta;
      a.dpad = st.dpad;
      a.factors = st.factors;
      a.mu = st.mu;
      a.lr = lr;
      a.reg = o.reg;
      a.reg_bias = o.reg_bias;
      a.adagrad = o.schedule == SgdSchedule::adagrad;
      a.biased = o.biased;
      a.pool = grid.group_items.data() + grid.group_items_ptr[col];
      a.pool_size = grid.group_items_ptr[col + 1] - grid.group_items_ptr[col];
      a.pos_indptr = positives.indptr;
      a.pos_indices = positives.indices;
      a.rng_seed = mix(mix(o.seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(b));
      losses[b] = o.loss == SgdLoss::bpr ? K.sgd_bpr(a) : K.sgd_squared(a);
    });
  }
  double total = 0.0;
  for (double l : losses) total += l;  // block order: independent of the thread count
  // A diverging learning rate shows as inf/NaN in the loss or, at the very end, in the factors.
  bool finite = std::isfinite(total);
  for (const float* arr : {st.P, st.Q}) {
    const int64_t len = (arr == st.P ? grid.user_group.size() : grid.item_group.size()) * static_cast<int64_t>(st.dpad);
    for (int64_t t = 0; t < len && finite; ++t) finite = std::isfinite(arr[t]);
  }
  if (!finite)
    throw std::domain_error("SGD diverged in epoch " + std::to_string(epoch) +
                            ": the loss or the factors are not finite; lower the learning rate (lr) or raise the "
                            "regularisation (reg)");
  return total;
}

void mf_predict(const SgdState& st, const int32_t* users, const int32_t* items, int64_t n, bool biased, float* out,
                int n_threads) {
  const KernelTable& K = kernels();
  parallel_chunks(n, 8192, n_threads, [&](int, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int32_t u = users[t], i = items[t];
      float s = K.dot(st.P + static_cast<int64_t>(u) * st.dpad, st.Q + static_cast<int64_t>(i) * st.dpad, st.dpad);
      if (biased) s += st.mu + st.user_meta[4 * static_cast<int64_t>(u)] + st.item_meta[4 * static_cast<int64_t>(i)];
      out[t] = s;
    }
  });
}

}  // namespace turborec
