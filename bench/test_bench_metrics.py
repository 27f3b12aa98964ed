"""ranking_metrics (C++, one pass per user) against a vectorised numpy baseline of the same formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from reference import ranking_reference

from turborec import metrics as M

N_USERS, N_ITEMS, K = 200_000, 20_000, 10
NAMES = M.RANKING_METRICS


def _member(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """queries found in the sorted key array."""
    if keys.size == 0:
        return np.zeros(queries.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, queries), keys.size - 1)
    return keys[pos] == queries


def _keys(m: sp.csr_matrix, n_items: int) -> np.ndarray:
    """row * n_items + column of every stored entry: sorted, since the CSR is canonical."""
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows * n_items + m.indices


def numpy_ranking_metrics(rec, relevant, k, exclude=None, n_items=None):
    """Per-user metrics (binary gains) by whole-array numpy operations: the baseline to beat."""
    n = rec.shape[0]
    n_items = relevant.shape[1] if n_items is None else n_items
    rec = rec[:, :k].astype(np.int64)
    listed = rec >= 0
    q = np.arange(n, dtype=np.int64)[:, None] * n_items + rec
    rel_keys = _keys(relevant, n_items)
    hit = _member(rel_keys, q) & listed
    n_rel = np.diff(relevant.indptr).astype(np.float64)
    pos = np.arange(1, k + 1, dtype=np.float64)
    hits = hit.sum(1)
    m = np.minimum(k, n_rel)
    disc = 1.0 / np.log2(pos + 1)
    ideal = np.concatenate(([0.0], np.cumsum(disc)))
    if exclude is not None:
        ex_keys = _keys(exclude, n_items)
        n_ex = np.diff(exclude.indptr)
        listed_ex = _member(ex_keys, q)
        rel_ex = np.bincount(rel_keys[_member(ex_keys, rel_keys)] // n_items, minlength=n)
    else:
        n_ex, listed_ex, rel_ex = 0, np.zeros_like(hit), 0
    n_pos = n_rel - rel_ex
    n_neg = n_items - n_ex - n_pos
    cand = listed & ~listed_ex
    pos_l, neg_l = cand & hit, cand & ~hit
    neg_before = np.cumsum(neg_l, 1)
    correct = (pos_l * (n_neg[:, None] - neg_before)).sum(1) + 0.5 * (n_pos - pos_l.sum(1)) * (n_neg - neg_l.sum(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "precision": hits / k,
            "recall": hits / n_rel,
            "ndcg": (hit * disc).sum(1) / ideal[m.astype(np.int64)],
            "map": (hit * np.cumsum(hit, 1) / pos).sum(1) / m,
            "hit_rate": (hits > 0).astype(np.float64),
            "mrr": np.where(hits > 0, 1.0 / (np.argmax(hit, 1) + 1), 0.0),
            "auc": np.where((n_pos > 0) & (n_neg > 0), correct / (n_pos * n_neg), np.nan),
        }
    for v in out.values():
        v[n_rel == 0] = np.nan
    return out


def generate(n_users, n_items, k, seed):
    """Lists from a noisy popularity ranking over a pool of popular items, test and train items
    drawn by popularity: ~5 relevant and ~20 excluded items per user, 5% of the lists half padded."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (np.arange(n_items) + 10.0)
    popularity /= popularity.sum()
    item_of_rank = rng.permutation(n_items).astype(np.int32)
    pool = 4 * k
    noisy = rng.random((n_users, pool), dtype=np.float32) * np.arange(pool, dtype=np.float32)
    rec = item_of_rank[np.argsort(noisy, axis=1)[:, :k]]
    rec[rng.random(n_users) < 0.05, k // 2:] = -1

    def drawn(mean):
        counts = rng.poisson(mean, n_users)
        rows = np.repeat(np.arange(n_users), counts)
        cols = item_of_rank[rng.choice(n_items, size=rows.size, p=popularity)]
        m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
        m.sum_duplicates()
        return m

    return rec, drawn(5), drawn(20)


@pytest.fixture(scope="module")
def lists():
    small = generate(300, 60, K, seed=12)  # the baseline itself is right (the reference is slow)
    check = ranking_reference(small[0], small[1], K, small[2])
    got = numpy_ranking_metrics(small[0], small[1], K, small[2])
    for name in NAMES:
        np.testing.assert_allclose(got[name], check[name], rtol=1e-12, atol=1e-12, err_msg=name)
    rec, relevant, exclude = generate(N_USERS, N_ITEMS, K, seed=11)
    return rec, relevant, exclude, numpy_ranking_metrics(rec, relevant, K, exclude)


def _same(got, expected):
    for name in NAMES:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.benchmark(group=f"ranking_metrics {N_USERS}x{K}")
@pytest.mark.parametrize("n_threads", [1, 0], ids=["1thread", "all"])
def test_ranking_metrics_turborec(benchmark, lists, n_threads):
    rec, relevant, exclude, expected = lists
    got = benchmark(M.ranking_metrics, rec, relevant, K, exclude=exclude, per_user=True, n_threads=n_threads)
    _same(got, expected)


@pytest.mark.benchmark(group=f"ranking_metrics {N_USERS}x{K}")
def test_ranking_metrics_numpy(benchmark, lists):
    rec, relevant, exclude, expected = lists
    got = benchmark(numpy_ranking_metrics, rec, relevant, K, exclude)
    _same(got, expected)
