"""topk_similarity per metric against a scipy baseline of the same definition (weight or normalise
the rows, sparse X X^T, per-row top-k), both checked against the dense reference of tests/reference.py.

The check is tie-proof: the top-k scores must match the reference's, every returned pair must be a
candidate, and each returned score must be that pair's true score; equal-score neighbours may come
in any order.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from reference import best_first, similarity_reference
from similarity_speed import select_topk

import turborec
from turborec.similarity import METRICS

N_USERS, N_ITEMS, NNZ, K = 1500, 1000, 25_000, 20
K1, B = 100.0, 0.8  # implicit's BM25 defaults, as turborec.similarity.bm25_weight


def _with(X: sp.csr_matrix, data) -> sp.csr_matrix:
    out = sp.csr_matrix((np.asarray(data, dtype=np.float64), X.indices.copy(), X.indptr.copy()), shape=X.shape)
    out.eliminate_zeros()  # in place: hence the copies, X must not change
    return out


def weigh(X: sp.csr_matrix, metric: str) -> sp.csr_matrix:
    """The metric's row vectors, by the definitions in turborec.similarity (rows are documents)."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    x = X.data.astype(np.float64)
    df = np.bincount(X.indices, minlength=X.shape[1])
    idf = np.log(X.shape[0]) - np.log1p(df)
    if metric in ("binary_cosine", "jaccard"):
        return _with(X, np.ones_like(x))
    if metric == "adjusted_cosine":
        col_mean = np.bincount(X.indices, x, X.shape[1]) / np.maximum(df, 1)
        return _with(X, x - col_mean[X.indices])
    if metric == "pearson":
        lens = np.diff(X.indptr)
        row_mean = np.bincount(rows, x, X.shape[0]) / np.maximum(lens, 1)
        return _with(X, x - row_mean[rows])
    if metric == "bm25":
        length = np.bincount(rows, x, X.shape[0])
        norm = (1 - B) + B * length / length.mean()
        return _with(X, x * (K1 + 1) / (K1 * norm[rows] + x) * idf[X.indices])
    if metric == "tfidf":
        return _with(X, np.sqrt(x) * idf[X.indices])
    return _with(X, x)


def scipy_similarity(X: sp.csr_matrix, k: int, metric: str):
    """The baseline: (rows, cols, scores) of each row's top k. Candidates are the pairs sharing a
    column (the support product), so a pair whose products sum to exactly 0 still counts."""
    W = weigh(X, metric)
    P = _with(W, np.ones_like(W.data))
    support = (P @ P.T).tocoo()
    r, c, s = support.row, support.col, support.data
    if metric == "jaccard":
        n = np.diff(P.indptr)
        v = s / (n[r] + n[c] - s)
    else:
        if metric != "dot":
            norm = np.sqrt(np.asarray(W.multiply(W).sum(1)).ravel())
            W = sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ W
        D = (W @ W.T).tocsr()
        D.sort_indices()
        v = np.asarray(D[r, c]).ravel() if r.size else s  # 0 where the products cancelled exactly
    S = sp.csr_matrix((v, (r, c)), shape=(X.shape[0], X.shape[0]))
    S.data[S.data == 0] = 0.0  # keep explicit zero scores: they are candidates
    return select_topk(S, k, self_cols=np.arange(X.shape[0]))


def as_padded(r, c, v, n, k):
    ids = np.full((n, k), -1, dtype=np.int64)
    out = np.full((n, k), -np.inf)
    pos = np.arange(r.size) - np.searchsorted(r, r, side="left")
    ids[r, pos], out[r, pos] = c, v
    return ids, out


def check(ids, got, scores, candidate, k, tol=2e-5):
    _, exp = best_first(scores, candidate, k)
    np.testing.assert_allclose(got, exp, rtol=tol, atol=tol)
    real = ids >= 0
    np.testing.assert_array_equal(real, np.isfinite(exp))
    rows = np.nonzero(real)[0]
    assert candidate[rows, ids[real]].all(), "a returned pair is not a candidate"
    np.testing.assert_allclose(scores[rows, ids[real]], got[real], rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def items():
    data = turborec.synthetic(N_USERS, N_ITEMS, NNZ, seed=5)
    X = data.matrix.T.tocsr()  # items x users, 1..5 stars: plenty of ties
    ref = {m: similarity_reference(X, metric=m) for m in METRICS}
    return X, ref


@pytest.fixture(scope="module")
def baseline_checked(items):
    """The scipy baseline itself is right (once per metric, before anyone is timed against it)."""
    X, ref = items
    for m in METRICS:
        check(*as_padded(*scipy_similarity(X, K, m), X.shape[0], K), *ref[m], K)
    return True


@pytest.mark.parametrize("metric", METRICS)
def test_similarity_turborec(benchmark, items, metric):
    X, ref = items
    benchmark.group = f"topk_similarity {metric} {N_ITEMS}x{N_USERS} k={K}"
    S = benchmark(turborec.topk_similarity, X, K, metric=metric)
    ids, got = turborec.similarity.neighbours(S, k=K)
    check(ids, got.astype(np.float64), *ref[metric], K)


@pytest.mark.parametrize("metric", METRICS)
def test_similarity_scipy(benchmark, items, baseline_checked, metric):
    X, ref = items
    benchmark.group = f"topk_similarity {metric} {N_ITEMS}x{N_USERS} k={K}"
    r, c, v = benchmark(scipy_similarity, X, K, metric)
    check(*as_padded(r, c, v, X.shape[0], K), *ref[metric], K)
