"""ItemKNN / UserKNN predict and ItemKNN recommend against numpy/scipy baselines of the same formulas,
on the same fitted neighbour graph (the graph itself is benchmarked in test_bench_similarity.py).

predict: the baseline gathers each pair's voters with sparse row products, ranks them with one
lexsort and sums with bincount; it is checked against tests/reference.py's per-pair loop first.
recommend: scipy R[users] @ S, seen items dropped, argpartition; compared tie-proof (top-k scores
equal, and each returned id's score is its true score).
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import knn_predict_reference
from similarity_speed import scipy_recommend

import turborec

N_USERS, N_ITEMS, NNZ, N_PAIRS, N_REC, K = 3000, 1200, 60_000, 20_000, 2000, 40
VARIANTS = ("basic", "mean", "baseline")


def numpy_knn_predict(S, M, targets, others, k, min_k, variant, target_mean, mu, target_bias, other_bias, clip=None):
    """Vectorised Surprise-style kNN prediction (formulas in cpp/include/turborec/knn.hpp).

    S: (n_t, n_t) CSR neighbour graph; M: (n_o, n_t) CSR ratings; the pair p is (targets[p], others[p])."""
    n = targets.size
    Bm = M[others]
    Bm.data[:] = 1.0
    V = S[targets].multiply(Bm).tocoo()  # the similarities of the voters: stored neighbours the other rated
    r, c, s = V.row, V.col, V.data.astype(np.float64)
    keep = (s > 0) & (c != targets[r])
    r, c, s = r[keep], c[keep], s[keep]
    order = np.lexsort((c, -s, r))  # per pair: most similar first, ties to the lower id
    r, c, s = r[order], c[order], s[order]
    keep = np.arange(r.size) - np.searchsorted(r, r, side="left") < k
    r, c, s = r[keep], c[keep], s[keep]
    ratings = np.asarray(M[others[r], c]).ravel().astype(np.float64)
    baseline = mu + target_bias[targets] + other_bias[others]
    if variant == "basic":
        dev, base, fallback = ratings, np.zeros(n), baseline
    elif variant == "mean":
        dev, base, fallback = ratings - target_mean[c], target_mean[targets].astype(np.float64), target_mean[targets]
    else:
        dev, base, fallback = ratings - (mu + target_bias[c] + other_bias[others[r]]), baseline, baseline
    num = np.bincount(r, s * dev, n)
    den = np.bincount(r, s, n)
    count = np.bincount(r, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count >= max(min_k, 1), base + num / den, fallback)
    return np.clip(out, *clip) if clip else out


def _arguments(model):
    """numpy_knn_predict's model-side arguments, for ItemKNN (targets = items) or UserKNN."""
    if isinstance(model, turborec.ItemKNN):
        return (model.similarity_, model.user_items_, model.item_mean_, model.item_bias_, model.user_bias_)
    return (model.similarity_, model.user_items_.T.tocsr(), model.user_mean_, model.user_bias_, model.item_bias_)


def baseline_predict(model, users, items):
    S, M, tm, tb, ob = _arguments(model)
    t, o = (items, users) if isinstance(model, turborec.ItemKNN) else (users, items)
    return numpy_knn_predict(S, M, t, o, model.k, model.min_k, model.variant, tm, float(model.global_mean_), tb, ob,
                             model.rating_range_ if model.clip else None)


@pytest.fixture(scope="module")
def data():
    inter = turborec.synthetic(N_USERS, N_ITEMS, NNZ, seed=9)
    train, test = turborec.random_split(inter, 0.2, seed=0)
    R = train.matrix
    T = test.matrix
    users = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr)).astype(np.int32)[:N_PAIRS]
    items = T.indices[:N_PAIRS].astype(np.int32)
    return R, users, items


@pytest.fixture(scope="module", params=[(cls, v) for cls in ("ItemKNN", "UserKNN") for v in VARIANTS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def fitted(request, data):
    R, users, items = data
    cls, variant = request.param
    model = getattr(turborec, cls)(k=K, variant=variant).fit(R)
    # The baseline is right: the per-pair loop of tests/reference.py on the first 300 pairs.
    S, M, tm, tb, ob = _arguments(model)
    t, o = (items, users) if cls == "ItemKNN" else (users, items)
    ref = knn_predict_reference(S.toarray(), M, t[:300], o[:300], K, model.min_k, variant, tm,
                                float(model.global_mean_), tb, ob)
    np.testing.assert_allclose(baseline_predict(model, users[:300], items[:300]), np.clip(ref, *model.rating_range_),
                               rtol=1e-5, atol=1e-5)
    return model, baseline_predict(model, users, items)


def test_knn_predict_turborec(benchmark, data, fitted):
    _, users, items = data
    model, expected = fitted
    benchmark.group = f"{type(model).__name__}({model.variant}).predict {users.size:,} pairs k={K}"
    got = benchmark(model.predict, users, items)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_knn_predict_numpy(benchmark, data, fitted):
    _, users, items = data
    model, expected = fitted
    benchmark.group = f"{type(model).__name__}({model.variant}).predict {users.size:,} pairs k={K}"
    got = benchmark(baseline_predict, model, users, items)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def recommending(data):
    R, _, _ = data
    R = R.copy()
    R.data[:] = 1.0  # implicit feedback: the recommend score is sum over seen items of s_ji
    model = turborec.ItemKNN(k=50, max_neighbours=50).fit(R)
    users = np.arange(N_REC, dtype=np.int32)
    S = model.similarity_
    dense = (R[users] @ S).toarray().astype(np.float64)
    candidate = dense != 0
    rows = np.repeat(np.arange(users.size), np.diff(R[users].indptr))
    candidate[rows, R[users].indices] = False
    return model, R, S, users, dense, candidate


def check_recommend(ids, got, dense, candidate, k, tol=1e-4):
    expected = -np.sort(-np.where(candidate, dense, -np.inf), axis=1)[:, :k]
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    real = ids >= 0
    np.testing.assert_array_equal(real, np.isfinite(expected))
    rows = np.nonzero(real)[0]
    assert candidate[rows, ids[real]].all(), "recommended a seen or unreachable item"
    np.testing.assert_allclose(dense[rows, ids[real]], got[real], rtol=tol, atol=tol)


GROUP_REC = f"ItemKNN.recommend {N_REC:,} users top-10 (50 neighbours)"


@pytest.mark.benchmark(group=GROUP_REC)
def test_knn_recommend_turborec(benchmark, recommending):
    model, R, S, users, dense, candidate = recommending
    ids, scores = benchmark(model.recommend, users, 10)
    check_recommend(ids, scores.astype(np.float64), dense, candidate, 10)


@pytest.mark.benchmark(group=GROUP_REC)
def test_knn_recommend_scipy(benchmark, recommending):
    model, R, S, users, dense, candidate = recommending
    ids, scores = benchmark(scipy_recommend, R, S, users, 10, with_scores=True)
    check_recommend(ids, scores, dense, candidate, 10)
