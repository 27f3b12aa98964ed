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

// splitmix64; next() = z(state += golden), below(n) = next() % n.
struct Stream {
  uint64_t state;
  explicit Stream(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

// Sum of a row's feature vectors (and biases) into out / *bias.
void represent(const KernelTable& K, const FeatureRows& M, int64_t row, const float* emb, const float* bias, int dpad,
               float* out, float* b) {
  std::fill(out, out + dpad, 0.0f);
  float s = 0.0f;
  for (int64_t t = M.indptr[row]; t < M.indptr[row + 1]; ++t) {
    const float w = M.data[t];
    K.axpy(w, emb + static_cast<int64_t>(M.indices[t]) * dpad, out, dpad);
    s += w * bias[M.indices[t]];
  }
  *b = s;
}

// Every feature row f of `row` takes the step for gradient coef * w_f * dir + reg * E[f]
// (and coef_b * w_f + reg_bias * bias[f] for its bias), AdaGrad-scaled per feature row. The
// padding of dir and E is zero, so is the gradient's.
void update(const KernelTable& K, const FeatureRows& M, int64_t row, float* emb, float* bias, float* acc, int dpad,
            int factors, const float* dir, float coef, float coef_b, const FeatureMfOptions& o, float* grad) {
  for (int64_t t = M.indptr[row]; t < M.indptr[row + 1]; ++t) {
    const int32_t f = M.indices[t];
    const float w = M.data[t];
    float* e = emb + static_cast<int64_t>(f) * dpad;
    const float sq = K.sgd_gradient(dir, e, coef * w, o.reg, grad, dpad);
    float step = o.lr;
    if (o.adagrad) {
      acc[2 * f] += sq / static_cast<float>(factors);
      step = o.lr / std::sqrt(acc[2 * f]);
    }
    K.axpy(-step, grad, e, dpad);
    if (o.biased) {
      const float gb = coef_b * w + o.reg_bias * bias[f];
      float bstep = o.lr;
      if (o.adagrad) {
        acc[2 * f + 1] += gb * gb;
        bstep = o.lr / std::sqrt(acc[2 * f + 1]);
      }
      bias[f] -= bstep * gb;
    }
  }
}

bool is_positive(const FeatureMfSampling& s, int32_t u, int32_t j) {
  const int32_t* lo = s.pos_indices + s.pos_indptr[u];
  const int32_t* hi = s.pos_indices + s.pos_indptr[u + 1];
  return std::binary_search(lo, hi, j);
}

int32_t negative(const FeatureMfSampling& s, int32_t u, Stream& rng) {
  int32_t j = s.pool[rng.below(static_cast<uint64_t>(s.pool_size))];
  for (int tries = 1; tries < 10 && is_positive(s, u, j); ++tries) j = s.pool[rng.below(static_cast<uint64_t>(s.pool_size))];
  return j;
}

}  // namespace

uint64_t feature_mf_stream(uint64_t seed, int epoch, int64_t chunk) {
  Stream a(seed ^ (0x5851f42d4c957f2dULL * (static_cast<uint64_t>(epoch) + 1)));
  Stream b(a.next() ^ (0x14057b7ef767814fULL * (static_cast<uint64_t>(chunk) + 1)));
  return b.next();
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
  std::vector<double> losses(static_cast<size_t>(threads), 0.0);
  const int d = st.dpad;
  const double warp_n = static_cast<double>(std::max<int64_t>(sampling.pool_size - 1, 1));
  parallel_chunks(threads, 1, threads, [&](int, int64_t c, int64_t) {
    const int64_t lo = n * c / threads, hi = n * (c + 1) / threads;
    FlushDenormals ftz;
    Stream rng(feature_mf_stream(o.seed, epoch, c));
    std::vector<float> buf(static_cast<size_t>(5 * d), 0.0f);
    float *p = buf.data(), *qi = p + d, *qj = qi + d, *dir = qj + d, *grad = dir + d;
    double loss = 0.0;
    for (int64_t s = lo; s < hi; ++s) {
      const int64_t t = order[s];
      const int32_t u = users[t], i = items[t];
      float bu, bi, bj;
      represent(K, U, u, st.user_emb, st.user_bias, d, p, &bu);
      represent(K, I, i, st.item_emb, st.item_bias, d, qi, &bi);
      if (!o.biased) bu = bi = 0.0f;
      if (!ranking) {
        const float e = st.mu + bu + bi + K.dot(p, qi, d) - values[t];
        loss += static_cast<double>(e) * e;
        update(K, U, u, st.user_emb, st.user_bias, st.user_acc, d, st.factors, qi, e, e, o, grad);
        update(K, I, i, st.item_emb, st.item_bias, st.item_acc, d, st.factors, p, e, e, o, grad);
        continue;
      }
      const float si = bi + K.dot(p, qi, d);
      int32_t j = -1;
      float coef = 0.0f, sj = 0.0f;
      if (o.loss == FeatureMfLoss::bpr) {
        j = negative(sampling, u, rng);
        represent(K, I, j, st.item_emb, st.item_bias, d, qj, &bj);
        if (!o.biased) bj = 0.0f;
        sj = bj + K.dot(p, qj, d);
        const float x = si - sj;
        const float sig = 1.0f / (1.0f + std::exp(x));  // d/dx of -log sigmoid(x) is -sig
        loss += x > -30.0f ? std::log1p(std::exp(-x)) : -x;
        coef = sig;
      } else {  // WARP: the first sampled negative that violates the margin, weighted by its rank
        for (int trial = 1; trial <= o.max_sampled; ++trial) {
          const int32_t cand = negative(sampling, u, rng);
          represent(K, I, cand, st.item_emb, st.item_bias, d, qj, &bj);
          if (!o.biased) bj = 0.0f;
          sj = bj + K.dot(p, qj, d);
          if (sj > si - 1.0f) {
            j = cand;
            coef = static_cast<float>(std::log(std::max(1.0, std::floor(warp_n / trial))));
            loss += coef * (1.0f - si + sj);
            break;
          }
        }
        if (j < 0) continue;
      }
      // minimise -log sigmoid(si - sj) (BPR) or coef * (1 - si + sj) (WARP): d/dp = -coef (qi - qj)
      for (int c = 0; c < d; ++c) dir[c] = qi[c] - qj[c];
      update(K, U, u, st.user_emb, st.user_bias, st.user_acc, d, st.factors, dir, -coef, 0.0f, o, grad);
      update(K, I, i, st.item_emb, st.item_bias, st.item_acc, d, st.factors, p, -coef, -coef, o, grad);
      update(K, I, j, st.item_emb, st.item_bias, st.item_acc, d, st.factors, p, coef, coef, o, grad);
    }
    losses[static_cast<size_t>(c)] = loss;
  });
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
    for (int64_t r = lo; r < hi; ++r) represent(K, M, r, emb, bias, dpad, rows + r * dpad, bias_out + r);
  });
}

}  // namespace turborec
