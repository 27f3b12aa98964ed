"""FeatureMF: SGD replayed in numpy on tiny data (every loss), cold items from features, fold-in, contract."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import FeatureMF
from turborec.models.feature_mf import _identity_and
from turborec import _kernels

MASK = (1 << 64) - 1


class Stream:
    """splitmix64, as the kernels draw negatives: below(n) = (next() * n) >> 64."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next() * n) >> 64


def reference_fit(model, R):
    """The same updates as the C++ epoch with one thread, in float64 numpy. WARP scores candidate
    negatives from a cache of the pool items' vectors, rebuilt every ``round`` samples
    (max(16384, 2 nnz(I)), cpp/src/feature_mf.cpp) and refreshed for the two items of an update."""
    rng = np.random.default_rng(model.seed)
    own = np.full(R.shape[0], model.own_vectors), np.full(R.shape[1], model.own_vectors)
    Fu = sp.csr_matrix((R.shape[0], 0), dtype=np.float32) if model.user_features_.shape[1] == 0 else model.user_features_
    U = _identity_and(Fu, R.shape[0], own[0], model.normalize)
    I = _identity_and(model.item_features_, R.shape[1], own[1], model.normalize)
    d, dpad = model.factors, -(-model.factors // 16) * 16
    emb = []
    for n in (U.shape[1], I.shape[1]):
        t = np.zeros((n, dpad), np.float32)
        t[:, :d] = rng.normal(0.0, model.init_std, (n, d))
        emb.append(t.astype(np.float64))
    Eu, Ei = emb
    bu_w, bi_w = np.zeros(U.shape[1]), np.zeros(I.shape[1])
    acc_u, acc_i = np.ones((U.shape[1], 2)), np.ones((I.shape[1], 2))
    users = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
    items = R.indices
    pool = np.flatnonzero(np.bincount(items, minlength=R.shape[1]) > 0)
    mu = float(R.data.mean()) if model.loss == "squared" and model.biased else 0.0
    lr, reg, reg_b = model.lr, model.reg, model.reg_bias

    def rep(M, E, B, r):
        cols, w = M.indices[M.indptr[r]:M.indptr[r + 1]], M.data[M.indptr[r]:M.indptr[r + 1]].astype(np.float64)
        return w @ E[cols] if cols.size else np.zeros(dpad), float(w @ B[cols]) if cols.size else 0.0

    def upd(M, E, B, A, r, direction, coef, coef_b):
        for t in range(M.indptr[r], M.indptr[r + 1]):
            f, w = M.indices[t], float(M.data[t])
            g = coef * w * direction[:d] + reg * E[f, :d]
            step = lr
            if model.lr_schedule == "adagrad":
                A[f, 0] += (g @ g) / d
                step = lr / np.sqrt(A[f, 0])
            E[f, :d] -= step * g
            if model.biased:
                gb = coef_b * w + reg_b * B[f]
                bstep = lr
                if model.lr_schedule == "adagrad":
                    A[f, 1] += gb * gb
                    bstep = lr / np.sqrt(A[f, 1])
                B[f] -= bstep * gb

    def negative(u, s):
        pos = set(R.indices[R.indptr[u]:R.indptr[u + 1]])
        j = pool[s.below(pool.size)]
        tries = 1
        while tries < 10 and j in pos:
            j = pool[s.below(pool.size)]
            tries += 1
        return j

    round_len = model._warp_refresh or max(16384, 2 * I.nnz)
    cache = np.zeros((R.shape[1], dpad))
    cache_b = np.zeros(R.shape[1])

    def refresh(r):
        cache[r], cache_b[r] = rep(I, Ei, bi_w, r)

    for epoch in range(model.epochs):
        order = rng.permutation(R.nnz)
        s = Stream(_kernels.feature_mf_stream(seed=model.seed, epoch=epoch, chunk=0))
        for n_done, t in enumerate(order):
            if model.loss == "warp" and n_done % round_len == 0:
                for r in pool:
                    refresh(r)
            u, i = users[t], items[t]
            p, bu = rep(U, Eu, bu_w, u)
            qi, bi = rep(I, Ei, bi_w, i)
            if not model.biased:
                bu = bi = 0.0
            if model.loss == "squared":
                e = mu + bu + bi + p @ qi - R.data[t]
                upd(U, Eu, bu_w, acc_u, u, qi, e, e)
                upd(I, Ei, bi_w, acc_i, i, p, e, e)
                continue
            si = bi + p @ qi
            j = -1
            if model.loss == "bpr":
                j = negative(u, s)
                qj, bj = rep(I, Ei, bi_w, j)
                sj = (bj if model.biased else 0.0) + p @ qj
                coef = 1.0 / (1.0 + np.exp(si - sj))
            else:
                pos = set(R.indices[R.indptr[u]:R.indptr[u + 1]])
                for trial in range(1, model.max_sampled + 1):
                    cand = pool[s.below(pool.size)]
                    sc = (cache_b[cand] if model.biased else 0.0) + p @ cache[cand]
                    if not sc > si - 1.0 or cand in pos:
                        continue
                    qj, bj = rep(I, Ei, bi_w, cand)
                    sj = (bj if model.biased else 0.0) + p @ qj
                    if sj > si - 1.0:
                        j = cand
                        coef = float(np.log(max(1.0, np.floor(max(pool.size - 1, 1) / trial))))
                        break
                if j < 0:
                    continue
            upd(U, Eu, bu_w, acc_u, u, qi - qj, -coef, 0.0)
            upd(I, Ei, bi_w, acc_i, i, p, -coef, -coef)
            upd(I, Ei, bi_w, acc_i, j, p, coef, coef)
            if model.loss == "warp":
                refresh(i)
                refresh(j)
    return Eu, Ei, bu_w, bi_w


@pytest.fixture
def tiny(rng):
    R = sp.random(12, 9, density=0.35, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    F = sp.random(9, 4, density=0.4, format="csr", random_state=rng, dtype=np.float32)
    Fu = sp.random(12, 3, density=0.4, format="csr", random_state=rng, dtype=np.float32)
    return R, F, Fu


@pytest.mark.parametrize("loss", ["squared", "bpr", "warp"])
@pytest.mark.parametrize("variant", [dict(), dict(lr_schedule="constant", normalize=False, reg=0.05, reg_bias=0.01),
                                     dict(own_vectors=False, biased=False)])
def test_sgd_matches_numpy_replay(tiny, loss, variant, simd):
    R, F, Fu = tiny
    lr = 0.02 if loss == "squared" and variant.get("lr_schedule") == "constant" else 0.05
    m = FeatureMF(factors=5, epochs=3, loss=loss, lr=lr, seed=7, n_threads=1, **variant)
    m.fit(R, item_features=F, user_features=Fu)
    Eu, Ei, bu, bi = reference_fit(m, R)
    np.testing.assert_allclose(m.embeddings["user_emb"], Eu, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_emb"], Ei, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_bias"], bi, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["user_bias"], bu, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("loss", ["squared", "bpr", "warp"])
@pytest.mark.parametrize("factors", [40, 70])  # rows of 48 (a fixed-length kernel) and 80 floats (the run-time loop)
def test_sgd_matches_numpy_replay_at_other_row_lengths(tiny, loss, factors, simd):
    R, F, Fu = tiny
    m = FeatureMF(factors=factors, epochs=2, loss=loss, lr=0.05, seed=5, n_threads=1).fit(R, item_features=F,
                                                                                        user_features=Fu)
    Eu, Ei, bu, bi = reference_fit(m, R)
    np.testing.assert_allclose(m.embeddings["user_emb"], Eu, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_emb"], Ei, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_bias"], bi, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("refresh", [1, 7])
def test_warp_cache_rounds_match_numpy_replay(tiny, refresh, simd):
    """WARP's candidate cache rebuilt every `refresh` samples (several rounds per epoch), 1 thread."""
    R, F, Fu = tiny
    m = FeatureMF(factors=5, epochs=3, loss="warp", seed=11, n_threads=1, max_sampled=4)
    m._warp_refresh = refresh
    m.fit(R, item_features=F, user_features=Fu)
    Eu, Ei, bu, bi = reference_fit(m, R)
    np.testing.assert_allclose(m.embeddings["user_emb"], Eu, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_emb"], Ei, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.embeddings["item_bias"], bi, rtol=2e-4, atol=2e-5)


def test_scores_and_cold_items_from_features(tiny):
    R, F, _ = tiny
    R = sp.csr_matrix(R.multiply((np.arange(9) != 8)[None, :]))  # item 8: nobody, has features
    R.eliminate_zeros()
    F = F + sp.csr_matrix(([1.0, 1.0], ([8, 8], [0, 2])), shape=F.shape)
    m = FeatureMF(factors=4, epochs=2, seed=1, n_threads=1).fit(R, item_features=F)
    # warm item: (features + own) / (sum); cold item 8: its features alone, renormalised
    n_feat = F.shape[1]
    row = F.getrow(3).toarray().ravel()
    w = np.concatenate([row, [1.0]]) / (row.sum() + 1.0)
    q3 = w[:n_feat] @ m.embeddings["item_emb"][:n_feat, :4] + w[n_feat] * m.embeddings["item_emb"][n_feat + 3, :4]
    np.testing.assert_allclose(m.item_vectors[3], q3, rtol=1e-5, atol=1e-6)
    row = F.getrow(8).toarray().ravel()
    np.testing.assert_allclose(m.item_vectors[8], (row / row.sum()) @ m.embeddings["item_emb"][:n_feat, :4], rtol=1e-5, atol=1e-6)
    users, items = np.repeat(np.arange(12), 9), np.tile(np.arange(9), 12)
    scores = m.predict(users, items).reshape(12, 9)
    want = m.user_vectors @ m.item_vectors.T + m.item_bias[None, :] + m.user_bias[:, None]
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
    ids, top = m.recommend(np.arange(12), 3, exclude_seen=False)
    for u in range(12):
        order = np.lexsort((np.arange(9), -(want[u] - m.user_bias[u])))[:3]
        np.testing.assert_array_equal(ids[u], order)
    ids, _ = m.recommend(np.arange(12), 1, items=[8])
    assert (ids == 8).all()


def test_deterministic_at_one_thread_and_threads_work(tiny):
    R, F, Fu = tiny
    a = FeatureMF(factors=6, epochs=3, seed=3, n_threads=1).fit(R, item_features=F, user_features=Fu)
    b = FeatureMF(factors=6, epochs=3, seed=3, n_threads=1).fit(R, item_features=F, user_features=Fu)
    np.testing.assert_array_equal(a.embeddings["item_emb"], b.embeddings["item_emb"])
    big = sp.random(300, 200, density=0.1, format="csr", random_state=0, dtype=np.float32)
    two = FeatureMF(factors=8, epochs=2, seed=3, n_threads=2).fit(big)
    assert np.isfinite(two.embeddings["item_emb"]).all() and two.history_[-1]["train_loss"] >= 0
    for loss in ("warp", "bpr"):  # WARP also with many cache rounds per epoch, each split over the threads
        m = FeatureMF(factors=8, epochs=2, loss=loss, seed=3, n_threads=2)
        m._warp_refresh = 700
        m.fit(big, item_features=sp.random(200, 5, density=0.3, format="csr", random_state=1, dtype=np.float32))
        assert np.isfinite(m.embeddings["item_emb"]).all() and m.history_[-1]["train_loss"] >= 0


@pytest.mark.parametrize("loss", ["squared", "bpr", "warp"])
def test_threads_keep_private_feature_rows_and_merge_every_change(loss):
    # With several threads the side-feature rows are updated in per-thread copies and merged every
    # 8,192 samples per thread; 48k samples give several merges per epoch. A merge that dropped a
    # thread's changes would leave those rows near their start, one that doubled them far past it.
    R = sp.random(600, 400, density=0.2, format="csr", random_state=0, dtype=np.float32)
    F = sp.random(400, 6, density=0.5, format="csr", random_state=1, dtype=np.float32)
    start = FeatureMF(factors=8, epochs=0, loss=loss, seed=3, n_threads=1).fit(R, item_features=F).embeddings["item_emb"]
    moved = {}
    for threads in (1, 2):
        m = FeatureMF(factors=8, epochs=3, loss=loss, seed=3, n_threads=threads).fit(R, item_features=F)
        emb = m.embeddings["item_emb"]
        assert np.isfinite(emb).all()
        moved[threads] = (np.abs(emb[:6] - start[:6]).sum(), np.abs(emb[6:] - start[6:]).sum())
    for part in (0, 1):  # the shared feature rows, then the own vectors
        assert 0.5 < moved[2][part] / moved[1][part] < 2.0, (part, moved)


def test_save_load_fold_in(tiny, tmp_path):
    R, F, Fu = tiny
    for loss in ("squared", "warp"):
        m = FeatureMF(factors=4, epochs=2, loss=loss, seed=0, n_threads=1).fit(R, item_features=F, user_features=Fu)
        m.save(tmp_path / "f.npz")
        back = turborec.load(tmp_path / "f.npz")
        for copy in (back, pickle.loads(pickle.dumps(m))):
            for x, y in zip(copy.recommend([0, 1, 2], 4), m.recommend([0, 1, 2], 4)):
                np.testing.assert_array_equal(x, y)
        row = R[[2]]
        p_before = m.user_vectors[2].copy()
        m.partial_fit_users([2, 12], sp.vstack([row, row], format="csr"))
        assert m.n_users == 13 and m.user_features_.shape[0] == 13
        np.testing.assert_allclose(m.user_vectors[12], m._solve_user(m._live, row.indices, row.data)[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m.user_vectors[2], m.user_vectors[12], rtol=1e-4, atol=1e-5)
        assert not np.allclose(p_before, m.user_vectors[2])
        ids, _ = m.recommend([12], 3)
        assert not set(ids[0]) & set(row.indices)


def test_interactions_with_features_objects():
    pd = pytest.importorskip("pandas")
    ratings = turborec.Interactions.from_arrays(["a", "a", "b", "c"], [1, 2, 2, 3], [5.0, 3.0, 4.0, 2.0])
    movies = pd.DataFrame({"movieId": [1, 2, 3, 4], "genres": ["X", "X|Y", "Y", "Y"]})
    F = turborec.features.item_features(movies, "movieId", interactions=ratings, multi_valued="genres")
    m = FeatureMF(factors=4, epochs=3, seed=0).fit(ratings, item_features=F)
    assert m.n_items == 4 and list(m.item_ids_) == [1, 2, 3, 4]
    assert list(F.names) == ["genres=X", "genres=Y"]
    np.testing.assert_allclose(m.item_vectors[3], m.embeddings["item_emb"][1, :4], rtol=1e-6)  # movie 4 is cold: Y alone
    ids, _ = m.recommend([0], 2)
    assert set(ids[0]) <= {2, 3}


def test_errors(tiny):
    R, F, _ = tiny
    for bad, match in ((dict(loss="hinge"), "loss"), (dict(factors=0), "factors"), (dict(lr=0), "lr must be > 0"),
                       (dict(lr_schedule="decay"), "lr_schedule"), (dict(reg=-1), "reg"), (dict(seed=-1), "seed"),
                       (dict(max_sampled=0), "max_sampled")):
        with pytest.raises(ValueError, match=match):
            FeatureMF(**bad).fit(R)
    with pytest.raises(TypeError, match="normalize must be a bool"):
        FeatureMF(normalize=1).fit(R)
    with pytest.raises(ValueError, match="one row per item"):
        FeatureMF().fit(R, item_features=F[:3])
    with pytest.raises(TypeError, match="scipy.sparse"):
        FeatureMF().fit(R.toarray())
    with pytest.raises(FloatingPointError, match="diverged"):
        FeatureMF(loss="squared", lr=1e6, lr_schedule="constant", epochs=3, seed=0).fit(R * 1e4)
    m = FeatureMF(epochs=1, own_vectors=False, seed=0).fit(R, item_features=F)
    with pytest.raises(ValueError, match="own_vectors=True"):
        m.partial_fit_users([0], R[[0]])
    assert FeatureMF(epochs=1).clone().get_params() == FeatureMF(epochs=1).get_params()
