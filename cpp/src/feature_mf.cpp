#include "turborec/feature_mf.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/kernels.hpp"
#include "turborec/threading.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define TURBOREC_FTZ 1
#endif

namespace turborec {

namespace {

// Denormal floats appear once a ranking loss saturates (sigmoid(-x) ~ 1e-39 for a well-ranked
// pair) and make every later update an order of magnitude slower. They are flushed to zero while
// an epoch runs, per thread, and the caller's mode is restored.
class FlushDenormals {
 public:
  FlushDenormals() {
#ifdef TURBOREC_FTZ
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040);  // FTZ | DAZ
#endif
  }
  ~FlushDenormals() {
#ifdef TURBOREC_FTZ
    _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

// splitmix64: next() = z(state += golden); the kernels draw below(n) = (next() * n) >> 64.
struct Stream {
  uint64_t state;
  explicit Stream(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// The sorted values a[0 .. n) in breadth-first order of the implicit tree with children 2k + 1 and
// 2k + 2: an in-order walk of the tree takes them in turn. Returns the next unused value's index.
int64_t eytzinger(const int32_t* a, int32_t* out, int64_t n, int64_t next, int64_t k) {
  if (k >= n) return next;
  next = eytzinger(a, out, n, next, 2 * k + 1);
  out[k] = a[next++];
  return eytzinger(a, out, n, next, 2 * k + 2);
}

// Samples per unit of work handed to a thread (the prefetch pipeline restarts at each one).
constexpr int64_t kSampleChunk = 4096;
// Samples per thread between merges of the threads' private feature rows.
constexpr int64_t kMergeSamples = 2 * kSampleChunk;
// The most shared feature columns (x row width) kept per thread: beyond it copying and merging
// them costs more than the cache traffic it saves (the long tail of a big vocabulary is rarely hot).
constexpr int64_t kMaxPrivateFloats = 1 << 18;

// Threads' private copies of the item tables' first `n` rows (factors, bias, accumulators) and the
// values they all started from; merge() adds every copy's change to the tables and restarts them.
class PrivateRows {
 public:
  PrivateRows(FeatureMfState& st, int64_t n, int threads)
      : st_(st), n_(n), emb_(threads), bias_(threads), acc_(threads) {
    if (n_ == 0) return;
    base_emb_.assign(st.item_emb, st.item_emb + n_ * st.dpad);
    base_bias_.assign(st.item_bias, st.item_bias + n_);
    base_acc_.assign(st.item_acc, st.item_acc + 2 * n_);
    for (int t = 0; t < threads; ++t) {
      emb_[t] = base_emb_;
      bias_[t] = base_bias_;
      acc_[t] = base_acc_;
    }
  }
  void attach(FeatureMfArgs& a, int tid) {
    if (n_ == 0) return;
    a.item_private_end = static_cast<int32_t>(n_);
    a.item_private_emb = emb_[tid].data();
    a.item_private_bias = bias_[tid].data();
    a.item_private_acc = acc_[tid].data();
  }
  void merge() {
    if (n_ == 0) return;
    fold(emb_, base_emb_, st_.item_emb);
    fold(bias_, base_bias_, st_.item_bias);
    fold(acc_, base_acc_, st_.item_acc);
  }

 private:
  static void fold(std::vector<std::vector<float>>& copies, std::vector<float>& base, float* table) {
    for (size_t x = 0; x < base.size(); ++x) {
      float v = base[x];
      for (const auto& c : copies) v += c[x] - base[x];
      base[x] = table[x] = v;
    }
    for (auto& c : copies) c = base;
  }
  FeatureMfState& st_;
  int64_t n_;
  std::vector<float> base_emb_, base_bias_, base_acc_;
  std::vector<std::vector<float>> emb_, bias_, acc_;
};

}  // namespace

uint64_t feature_mf_stream(uint64_t seed, int epoch, int64_t chunk) {
  Stream a(seed ^ (0x5851f42d4c957f2dULL * (static_cast<uint64_t>(epoch) + 1)));
  Stream b(a.next() ^ (0x14057b7ef767814fULL * (static_cast<uint64_t>(chunk) + 1)));
  return b.next();
}

int64_t feature_mf_refresh_interval(const FeatureRows& I) {
  return std::max<int64_t>(16384, 2 * I.indptr[I.n_rows]);
}

double feature_mf_epoch(const FeatureRows& U, const FeatureRows& I, const int32_t* users, const int32_t* items,
                        const float* values, const int64_t* order, int64_t n, const FeatureMfSampling& sampling,
                        FeatureMfState& st, const FeatureMfOptions& o, int epoch, int n_threads) {
  const KernelTable& K = kernels();
  if (st.dpad % 16 != 0) throw std::invalid_argument("dpad must be a multiple of 16");
  const bool ranking = o.loss != FeatureMfLoss::squared;
  if (ranking && (!sampling.pos_indptr || !sampling.pool || sampling.pool_size < 1))
    throw std::invalid_argument("ranking losses need the positives and a non-empty negative pool");
  if (!ranking && !values) throw std::invalid_argument("squared loss needs rating values");
  const int threads = std::max(1, static_cast<int>(std::min<int64_t>(resolve_threads(n_threads), std::max<int64_t>(n / 256, 1))));
  const int d = st.dpad;
  const bool warp = o.loss == FeatureMfLoss::warp;
  // WARP scores its candidate negatives from materialised item vectors, refreshed every round.
  // (rows start on 64-byte boundaries: a row of d floats then fills d / 16 whole cache lines)
  std::vector<float> cache_buf(warp ? static_cast<size_t>(I.n_rows) * d + 16 : 0), cache_bias(warp ? I.n_rows : 0);
  float* const cache = warp ? cache_buf.data() + (16 - (reinterpret_cast<uintptr_t>(cache_buf.data()) % 64) / 4) % 16
                            : nullptr;
  const int64_t round = !warp ? std::max<int64_t>(n, 1) : o.refresh > 0 ? o.refresh : feature_mf_refresh_interval(I);
  std::vector<int32_t> pos_tree;
  if (ranking) {
    pos_tree.resize(static_cast<size_t>(sampling.pos_indptr[U.n_rows]));
    parallel_chunks(U.n_rows, 256, threads, [&](int, int64_t lo, int64_t hi) {
      for (int64_t u = lo; u < hi; ++u) {
        const int64_t b = sampling.pos_indptr[u];
        eytzinger(sampling.pos_indices + b, pos_tree.data() + b, sampling.pos_indptr[u + 1] - b, 0, 0);
      }
    });
  }
  std::vector<FeatureMfStream> rng(static_cast<size_t>(threads));
  for (int c = 0; c < threads; ++c) rng[static_cast<size_t>(c)] = FeatureMfStream{feature_mf_stream(o.seed, epoch, c), {}, 0, 0};
  std::vector<std::vector<float>> scratch(static_cast<size_t>(threads));
  std::vector<double> losses(static_cast<size_t>(threads), 0.0);
  FeatureMfArgs a{};
  a.u_indptr = U.indptr;
  a.u_indices = U.indices;
  a.u_data = U.data;
  a.i_indptr = I.indptr;
  a.i_indices = I.indices;
  a.i_data = I.data;
  a.users = users;
  a.items = items;
  a.values = values;
  a.order = order;
  a.user_emb = st.user_emb;
  a.item_emb = st.item_emb;
  a.user_bias = st.user_bias;
  a.item_bias = st.item_bias;
  a.user_acc = st.user_acc;
  a.item_acc = st.item_acc;
  a.cache = cache;
  a.cache_bias = warp ? cache_bias.data() : nullptr;
  a.dpad = d;
  a.factors = st.factors;
  a.loss = static_cast<int>(o.loss);
  a.max_sampled = o.max_sampled;
  a.mu = st.mu;
  a.lr = o.lr;
  a.reg = o.reg;
  a.reg_bias = o.reg_bias;
  a.adagrad = o.adagrad;
  a.biased = o.biased;
  a.pos_indptr = sampling.pos_indptr;
  a.pos_tree = ranking ? pos_tree.data() : nullptr;
  a.pool = sampling.pool;
  a.pool_size = sampling.pool_size;
  a.item_private_end = 0;
  const int64_t n_private =
      threads > 1 && static_cast<int64_t>(o.shared_item_features) * (d + 3) <= kMaxPrivateFloats
          ? std::min<int64_t>(o.shared_item_features, I.n_cols)
          : 0;
  PrivateRows private_rows(st, n_private, threads);
  const int64_t merge_every = n_private ? kMergeSamples * threads : std::max<int64_t>(n, 1);
  for (int64_t r0 = 0; r0 < n; r0 += round) {
    const int64_t r1 = std::min(n, r0 + round), len = r1 - r0;
    if (warp)
      parallel_chunks(sampling.pool_size, 1024, threads, [&](int, int64_t lo, int64_t hi) {
        K.feature_mf_rows(I.indptr, I.indices, I.data, sampling.pool + lo, hi - lo, st.item_emb, st.item_bias, d, cache,
                          cache_bias.data());
      });
    // Threads take the round's samples a chunk at a time, each on its own random stream: a thread
    // the OS preempts (or one with costlier samples) no longer holds the other up at the end of
    // every round, as fixed halves did (an epoch here is ~15 ms). One thread runs the chunks in
    // order on stream 0: the same samples and draws as a single call.
    for (int64_t m0 = r0; m0 < r1; m0 += merge_every) {
      const int64_t m1 = std::min(r1, m0 + merge_every);
      parallel_chunks(m1 - m0, kSampleChunk, threads, [&](int tid, int64_t lo, int64_t hi) {
        FlushDenormals ftz;
        std::vector<float>& buf = scratch[static_cast<size_t>(tid)];
        if (buf.empty()) buf.assign(static_cast<size_t>(5 * d), 0.0f);
        FeatureMfArgs mine = a;
        mine.begin = m0 + lo;
        mine.end = m0 + hi;
        mine.scratch = buf.data();
        mine.rng = &rng[static_cast<size_t>(tid)];
        private_rows.attach(mine, tid);
        losses[static_cast<size_t>(tid)] += K.feature_mf_samples(mine);
      });
      private_rows.merge();
    }
  }
  double total = 0.0;
  for (double l : losses) total += l;
  if (!std::isfinite(total))
    throw std::domain_error("SGD diverged in epoch " + std::to_string(epoch) +
                            ": the loss is not finite; lower the learning rate (lr) or raise the regularisation (reg)");
  return total;
}

void feature_mf_materialise(const FeatureRows& M, const float* emb, const float* bias, int dpad, float* rows,
                            float* bias_out, int n_threads) {
  const KernelTable& K = kernels();
  parallel_chunks(M.n_rows, 1024, n_threads, [&](int, int64_t lo, int64_t hi) {
    K.feature_mf_rows(M.indptr + lo, M.indices, M.data, nullptr, hi - lo, emb, bias, dpad, rows + lo * dpad,
                      bias_out + lo);
  });
}

}  // namespace turborec
