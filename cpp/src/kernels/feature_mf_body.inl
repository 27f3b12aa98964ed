// The feature-aware factorisation's SGD loop, compiled per instruction set like kernels_body.inl
// (included from there, inside its anonymous namespace; same rules: raw pointers, no allocation).
// cpp/src/feature_mf.cpp cuts an epoch into threads and rounds and owns the buffers; the model
// and the update rules are documented in turborec/feature_mf.hpp.
//
// Why a per-ISA loop: a sample touches a few short rows (one per feature of the user, the positive
// and the negative). Through the table's axpy / gradient kernels every row cost an indirect call
// and a trip through memory; here the row length D is a template parameter, so a row's vector
// lives in registers while its features are summed and while its update is computed and applied.

// Uniform in [0, n): the high half of next() * n (Lemire), no 64-bit division.
inline uint64_t fmf_below(uint64_t& state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(splitmix64(state)) * n) >> 64);
}

// Whether j is among u's positives: a descent of the user's Eytzinger tree (children of node k
// at 2k + 1, 2k + 2), prefetching the 16 descendants four levels down (one line) at every step.
inline bool fmf_is_positive(const FeatureMfArgs& a, int32_t u, int32_t j) {
  const int32_t* base = a.pos_tree + a.pos_indptr[u];
  const int64_t n = a.pos_indptr[u + 1] - a.pos_indptr[u];
  int64_t k = 0;
  while (k < n) {
    if (16 * k + 15 < n) prefetch_line(base + 16 * k + 15);
    const int32_t v = base[k];
    if (v == j) return true;
    k = 2 * k + 1 + (v < j);
  }
  return false;
}

// One side's feature tables. Features f < private_end live in this thread's private copies (see
// FeatureMfArgs::item_private_end), the others in the shared tables.
struct FmfRows {
  float* emb;
  float* bias;
  float* acc;
  int32_t private_end;
  float* private_emb;
  float* private_bias;
  float* private_acc;

  float* row(int32_t f, int dpad) const {
    return (f < private_end ? private_emb : emb) + static_cast<int64_t>(f) * dpad;
  }
  float& bias_of(int32_t f) const { return (f < private_end ? private_bias : bias)[f]; }
  float* acc_of(int32_t f) const { return (f < private_end ? private_acc : acc) + 2 * static_cast<int64_t>(f); }
};

inline FmfRows fmf_user_rows(const FeatureMfArgs& a) {
  return {a.user_emb, a.user_bias, a.user_acc, 0, nullptr, nullptr, nullptr};
}
inline FmfRows fmf_item_rows(const FeatureMfArgs& a) {
  return {a.item_emb, a.item_bias, a.item_acc, a.item_private_end, a.item_private_emb, a.item_private_bias,
          a.item_private_acc};
}

// out = sum_t data[t] * emb[indices[t]] over row r; returns sum_t data[t] * bias[indices[t]].
template <int D>
inline float fmf_represent(const int64_t* indptr, const int32_t* indices, const float* data, int64_t r,
                           const FmfRows& rows, int dpad, float* out) {
  float b = 0.0f;
  const int64_t t0 = indptr[r], t1 = indptr[r + 1];
  if constexpr (D > 0) {
    constexpr int NV = D / W;
    vf acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = vzero();
    for (int64_t t = t0; t < t1; ++t) {
      const float w = data[t];
      const float* e = rows.row(indices[t], D);
      const vf vw = vset1(w);
      for (int v = 0; v < NV; ++v) acc[v] = vfmadd(vw, vload(e + v * W), acc[v]);
      b += w * rows.bias_of(indices[t]);
    }
    for (int v = 0; v < NV; ++v) vstore(out + v * W, acc[v]);
  } else {
    for (int c = 0; c < dpad; c += W) vstore(out + c, vzero());
    for (int64_t t = t0; t < t1; ++t) {
      const float w = data[t];
      const float* e = rows.row(indices[t], dpad);
      const vf vw = vset1(w);
      for (int c = 0; c < dpad; c += W) vstore(out + c, vfmadd(vw, vload(e + c), vload(out + c)));
      b += w * rows.bias_of(indices[t]);
    }
  }
  return b;
}

// Every feature row f of row r takes the step for the gradient g = coef * w_f * dir + reg * E[f]
// (bias: coef_b * w_f + reg_bias * bias[f]); with AdaGrad the row's accumulators first grow by
// |g|^2 / factors (bias: gb^2) and the steps are lr / sqrt(accumulator). `g` is scratch for the
// run-time row length.
template <int D>
inline void fmf_update(const int64_t* indptr, const int32_t* indices, const float* data, int64_t r,
                       const FmfRows& rows, const float* dir, float coef, float coef_b, const FeatureMfArgs& a,
                       float inv_d, float* g) {
  const int dpad = D ? D : a.dpad;
  const vf vr = vset1(a.reg);
  // The steps of feature row f once its squared gradient norm is known (bias: gb).
  auto steps_of = [&](int32_t f, float gsq, float gb, float* steps) {
    steps[0] = steps[1] = a.lr;
    if (a.adagrad) {
      float* acc = rows.acc_of(f);
      acc[0] += gsq * inv_d;
      if (a.biased) acc[1] += gb * gb;
      adagrad_steps(a.lr, acc[0], acc[1], 1.0f, 1.0f, steps);
    }
  };
  for (int64_t t = indptr[r]; t < indptr[r + 1]; ++t) {
    const int32_t f = indices[t];
    const float w = data[t];
    float* e = rows.row(f, dpad);
    float& bias = rows.bias_of(f);
    const vf vc = vset1(coef * w);
    const float gb = a.biased ? coef_b * w + a.reg_bias * bias : 0.0f;
    float steps[4];
    if constexpr (D > 0) {
      constexpr int NV = D / W;
      vf gv[NV];
      vf sq = vzero();
      for (int v = 0; v < NV; ++v) {
        gv[v] = vfmadd(vc, vload(dir + v * W), vmul(vr, vload(e + v * W)));
        sq = vfmadd(gv[v], gv[v], sq);
      }
      steps_of(f, vreduce_add(sq), gb, steps);
      const vf vs = vset1(-steps[0]);
      for (int v = 0; v < NV; ++v) vstore(e + v * W, vfmadd(vs, gv[v], vload(e + v * W)));
    } else {
      vf sq = vzero();
      for (int c = 0; c < dpad; c += W) {
        const vf x = vfmadd(vc, vload(dir + c), vmul(vr, vload(e + c)));
        vstore(g + c, x);
        sq = vfmadd(x, x, sq);
      }
      steps_of(f, vreduce_add(sq), gb, steps);
      const vf vs = vset1(-steps[0]);
      for (int c = 0; c < dpad; c += W) vstore(e + c, vfmadd(vs, vload(g + c), vload(e + c)));
    }
    if (a.biased) bias -= steps[1] * gb;
  }
}

// ---- prefetching: samples come in random order, so every row they touch is a random access ----

// Row r's column indices and weights (its indptr entry must be cached: the stage before).
inline void fmf_prefetch_cols(const int64_t* indptr, const int32_t* indices, const float* data, int64_t r) {
  const int64_t t0 = indptr[r];
  prefetch_line(indices + t0);
  prefetch_line(data + t0);
}

// Every cache line of a row of dpad floats, also when it does not start on a line boundary.
inline void fmf_prefetch_row(const float* row, int dpad) {
  for (int c = 0; c < dpad; c += 16) prefetch_line(row + c);
  prefetch_line(row + dpad - 1);
}

// The embedding rows (and AdaGrad accumulators) of row r's first features.
inline void fmf_prefetch_features(const int64_t* indptr, const int32_t* indices, int64_t r, const FmfRows& rows,
                                  int dpad) {
  const int64_t t0 = indptr[r], t1 = indptr[r + 1] < t0 + 8 ? indptr[r + 1] : t0 + 8;
  for (int64_t t = t0; t < t1; ++t) {
    const int32_t f = indices[t];
    fmf_prefetch_row(rows.row(f, dpad), dpad);
    prefetch_line(rows.acc_of(f));
  }
}

// The stages of sample s + ahead (ahead = 24, 18, 12, 6): its user and item ids, their CSR row
// pointers, their columns, their feature rows, each stage reading what the one before fetched.
inline void fmf_prefetch_sample(const FeatureMfArgs& a, int64_t s, int dpad) {
  if (s + 24 < a.end) {
    const int64_t t = a.order[s + 24];
    prefetch_line(a.users + t);
    prefetch_line(a.items + t);
  }
  if (s + 18 < a.end) {
    const int64_t t = a.order[s + 18];
    prefetch_line(a.u_indptr + a.users[t]);
    prefetch_line(a.i_indptr + a.items[t]);
    if (a.loss != 0) prefetch_line(a.pos_indptr + a.users[t]);
  }
  if (s + 12 < a.end) {
    const int64_t t = a.order[s + 12];
    fmf_prefetch_cols(a.u_indptr, a.u_indices, a.u_data, a.users[t]);
    fmf_prefetch_cols(a.i_indptr, a.i_indices, a.i_data, a.items[t]);
    if (a.loss != 0) {  // the top five levels of the user's positives tree
      const int32_t* tree = a.pos_tree + a.pos_indptr[a.users[t]];
      prefetch_line(tree);
      prefetch_line(tree + 16);
    }
  }
  if (s + 6 < a.end) {
    const int64_t t = a.order[s + 6];
    fmf_prefetch_features(a.u_indptr, a.u_indices, a.users[t], fmf_user_rows(a), dpad);
    fmf_prefetch_features(a.i_indptr, a.i_indices, a.items[t], fmf_item_rows(a), dpad);
  }
}

// The next pool item of the stream. The draw replacing it in the ring gets its CSR row pointer
// prefetched, and the draws nearer the front their columns and then (BPR, where every draw is
// likely the negative) their feature rows; WARP prefetches each new draw's cached vector instead
// of feature rows, as few of its candidates are represented exactly.
inline int32_t fmf_draw(const FeatureMfArgs& a, FeatureMfStream& st, int dpad) {
  constexpr int M = kFeatureMfAhead - 1;
  const int32_t c = st.ahead[st.head];
  const int32_t next = a.pool[fmf_below(st.state, static_cast<uint64_t>(a.pool_size))];
  st.ahead[st.head] = next;
  st.head = (st.head + 1) & M;
  prefetch_line(a.i_indptr + next);
  if (a.loss == 2) {
    fmf_prefetch_row(a.cache + static_cast<int64_t>(next) * dpad, dpad);
    prefetch_line(a.cache_bias + next);
    fmf_prefetch_cols(a.i_indptr, a.i_indices, a.i_data, st.ahead[(st.head + 7) & M]);
  } else {
    fmf_prefetch_cols(a.i_indptr, a.i_indices, a.i_data, st.ahead[(st.head + 3) & M]);
    fmf_prefetch_features(a.i_indptr, a.i_indices, st.ahead[(st.head + 1) & M], fmf_item_rows(a), dpad);
  }
  return c;
}

// BPR's negative: up to 10 draws, rejecting the user's positives.
inline int32_t fmf_bpr_negative(const FeatureMfArgs& a, int32_t u, FeatureMfStream& st, int dpad) {
  int32_t j = fmf_draw(a, st, dpad);
  for (int tries = 1; tries < 10 && fmf_is_positive(a, u, j); ++tries) j = fmf_draw(a, st, dpad);
  return j;
}

// The arguments are copied into a local: the embedding stores could otherwise alias its float
// fields and force a reload of every scalar after every store.
template <int D>
double fmf_samples_fixed(const FeatureMfArgs& args) {
  const FeatureMfArgs a = args;
  const int dpad = D ? D : a.dpad;
  float* const p = a.scratch;
  float* const qi = p + dpad;
  float* const qj = qi + dpad;
  float* const dir = qj + dpad;
  float* const g = dir + dpad;
  const float inv_d = 1.0f / static_cast<float>(a.factors);
  const FmfRows user_rows = fmf_user_rows(a), item_rows = fmf_item_rows(a);
  const double warp_n = static_cast<double>(a.pool_size > 1 ? a.pool_size - 1 : 1);
  FeatureMfStream st = *a.rng;
  const bool ranking = a.loss != 0;
  if (ranking && !st.primed) {
    for (int k = 0; k < kFeatureMfAhead; ++k) st.ahead[k] = a.pool[fmf_below(st.state, static_cast<uint64_t>(a.pool_size))];
    st.head = 0;
    st.primed = 1;
  }
  double loss = 0.0;
  for (int64_t s = a.begin; s < a.end; ++s) {
    fmf_prefetch_sample(a, s, dpad);
    const int64_t t = a.order[s];
    const int32_t u = a.users[t], i = a.items[t];
    float bu = fmf_represent<D>(a.u_indptr, a.u_indices, a.u_data, u, user_rows, dpad, p);
    float bi = fmf_represent<D>(a.i_indptr, a.i_indices, a.i_data, i, item_rows, dpad, qi);
    if (!a.biased) bu = bi = 0.0f;
    if (!ranking) {
      const float e = a.mu + bu + bi + dot_inline(p, qi, dpad) - a.values[t];
      loss += static_cast<double>(e) * e;
      fmf_update<D>(a.u_indptr, a.u_indices, a.u_data, u, user_rows, qi, e, e, a, inv_d, g);
      fmf_update<D>(a.i_indptr, a.i_indices, a.i_data, i, item_rows, p, e, e, a, inv_d, g);
      continue;
    }
    const float si = bi + dot_inline(p, qi, dpad);
    int32_t j = -1;
    float coef = 0.0f;
    if (a.loss == 1) {
      j = fmf_bpr_negative(a, u, st, dpad);
      const float bj = fmf_represent<D>(a.i_indptr, a.i_indices, a.i_data, j, item_rows, dpad, qj);
      const float x = si - ((a.biased ? bj : 0.0f) + dot_inline(p, qj, dpad));
      coef = 1.0f / (1.0f + __builtin_expf(x));  // d/dx of -log sigmoid(x) is -coef
      loss += x > -30.0f ? __builtin_log1pf(__builtin_expf(-x)) : -x;
    } else {
      // WARP: candidates are scored from the cache; one that seems to violate the margin is
      // checked against the user's positives and its exact score, and the first that passes is
      // the negative, weighted by log floor((n - 1) / trial), trial = its 1-based draw.
      // Batches of up to 8 upcoming draws are scored at once (independent dot products) and
      // consumed up to the chosen one, so the stream is used exactly as one draw per trial.
      int trial = 0;
      float sj = 0.0f;
      while (j < 0 && trial < a.max_sampled) {
        constexpr int M = kFeatureMfAhead - 1;
        const int batch = a.max_sampled - trial < 8 ? a.max_sampled - trial : 8;
        float sc[8];
        for (int b = 0; b < batch; ++b) {
          const int32_t c = st.ahead[(st.head + b) & M];
          sc[b] = (a.biased ? a.cache_bias[c] : 0.0f) + dot_inline(p, a.cache + static_cast<int64_t>(c) * dpad, dpad);
        }
        int used = batch;
        for (int b = 0; b < batch; ++b) {
          const int32_t c = st.ahead[(st.head + b) & M];
          if (!(sc[b] > si - 1.0f) || fmf_is_positive(a, u, c)) continue;
          const float bj = fmf_represent<D>(a.i_indptr, a.i_indices, a.i_data, c, item_rows, dpad, qj);
          sj = (a.biased ? bj : 0.0f) + dot_inline(p, qj, dpad);
          if (sj > si - 1.0f) {
            j = c;
            used = b + 1;
            break;
          }
        }
        for (int b = 0; b < used; ++b) fmf_draw(a, st, dpad);
        trial += used;
      }
      if (j < 0) continue;
      const double rank = __builtin_floor(warp_n / trial);
      coef = static_cast<float>(__builtin_log(rank > 1.0 ? rank : 1.0));
      loss += coef * (1.0f - si + sj);
    }
    // minimise -log sigmoid(si - sj) (BPR) or coef * (1 - si + sj) (WARP): d/dp = -coef (qi - qj)
    for (int c = 0; c < dpad; c += W) vstore(dir + c, vsub(vload(qi + c), vload(qj + c)));
    fmf_update<D>(a.u_indptr, a.u_indices, a.u_data, u, user_rows, dir, -coef, 0.0f, a, inv_d, g);
    fmf_update<D>(a.i_indptr, a.i_indices, a.i_data, i, item_rows, p, -coef, -coef, a, inv_d, g);
    fmf_update<D>(a.i_indptr, a.i_indices, a.i_data, j, item_rows, p, coef, coef, a, inv_d, g);
    if (a.loss == 2) {  // the two items just updated are scored exactly again
      a.cache_bias[i] = fmf_represent<D>(a.i_indptr, a.i_indices, a.i_data, i, item_rows, dpad,
                                         a.cache + static_cast<int64_t>(i) * dpad);
      a.cache_bias[j] = fmf_represent<D>(a.i_indptr, a.i_indices, a.i_data, j, item_rows, dpad,
                                         a.cache + static_cast<int64_t>(j) * dpad);
    }
  }
  *a.rng = st;
  return loss;
}

double feature_mf_samples(const FeatureMfArgs& a) {
  switch (a.dpad) {  // the row lengths of 1..64 factors; longer rows take the run-time loop
    case 16: return fmf_samples_fixed<16>(a);
    case 32: return fmf_samples_fixed<32>(a);
    case 48: return fmf_samples_fixed<48>(a);
    case 64: return fmf_samples_fixed<64>(a);
    default: return fmf_samples_fixed<0>(a);
  }
}

// out[rows[k]] = sum of row rows[k]'s feature vectors, out_bias likewise (rows null: 0 .. n - 1).
void feature_mf_rows(const int64_t* indptr, const int32_t* indices, const float* data, const int32_t* rows, int64_t n,
                     const float* emb, const float* bias, int dpad, float* out, float* out_bias) {
  const FmfRows tables{const_cast<float*>(emb), const_cast<float*>(bias), nullptr, 0, nullptr, nullptr, nullptr};
  for (int64_t k = 0; k < n; ++k) {
    const int64_t r = rows ? rows[k] : k;
    float* o = out + r * dpad;
    switch (dpad) {
      case 16: out_bias[r] = fmf_represent<16>(indptr, indices, data, r, tables, dpad, o); break;
      case 32: out_bias[r] = fmf_represent<32>(indptr, indices, data, r, tables, dpad, o); break;
      case 48: out_bias[r] = fmf_represent<48>(indptr, indices, data, r, tables, dpad, o); break;
      case 64: out_bias[r] = fmf_represent<64>(indptr, indices, data, r, tables, dpad, o); break;
      default: out_bias[r] = fmf_represent<0>(indptr, indices, data, r, tables, dpad, o);
    }
  }
}
