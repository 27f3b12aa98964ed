"""ContentKNN: a hand-computed example, numpy references on random data, cold items, the contract."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ContentKNN
from turborec.similarity import topk_similarity

A = 1 / math.sqrt(2)


@pytest.fixture
def tiny():
    """3 users x 3 items; item 2 nobody rated, user 2 rated nothing.

    features: i0 = [1, 0], i1 = [1, 1], i2 = [0, 1]; u0 rated i0 = 5, i1 = 3; u1 rated i1 = 4."""
    R = sp.csr_matrix(np.array([[5, 3, 0], [0, 4, 0], [0, 0, 0]], np.float32))
    F = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], np.float32))
    return R, F


def test_hand_computed_example(tiny):
    R, F = tiny
    m = ContentKNN().fit(R, item_features=F)
    # u0: mean 4, weights +1 / -1; profile = v0 - v1 = [1 - a, -a]
    ids, scores = m.recommend([0], 3, exclude_seen=False)
    np.testing.assert_array_equal(ids, [[0, 1, 2]])
    np.testing.assert_allclose(scores, [[1 - A, A - 1, -A]], rtol=1e-6)
    ids, scores = m.recommend([0], 3)  # seen items excluded: the cold item is what is left
    np.testing.assert_array_equal(ids, [[2, -1, -1]])
    np.testing.assert_allclose(scores[0, 0], -A, rtol=1e-6)
    # u1: one rating, its centred weight is 0, so weight 1: profile v1; tie i0 / i2 -> lower id first
    ids, scores = m.recommend([1], 2)
    np.testing.assert_array_equal(ids, [[0, 2]])
    np.testing.assert_allclose(scores, [[A, A]], rtol=1e-6)
    # u2 has no history: no candidates
    ids, scores = m.recommend([2], 2)
    np.testing.assert_array_equal(ids, [[-1, -1]])
    # predict: mean_u + sum s (r - mean_u) / sum s over the similar rated items (self excluded)
    p = m.predict([0, 0, 0, 1, 2], [2, 1, 0, 0, 2])
    np.testing.assert_allclose(p, [4 + (3 - 4), 5.0, 4 + (3 - 4), 4.0, 4.0], rtol=1e-6)
    p = ContentKNN(center=False).fit(R, item_features=F).predict([0, 0], [2, 1])
    np.testing.assert_allclose(p, [3.0, 5.0], rtol=1e-6)
    ids, scores = m.similar_items([0], 2)
    np.testing.assert_array_equal(ids, [[1, -1]])
    np.testing.assert_allclose(scores[0, 0], A, rtol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "tfidf", "bm25", "binary_cosine"])
def test_recommend_matches_the_similarity_kernel(metric, rng, n_threads):
    R = sp.random(40, 30, density=0.15, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    F = sp.random(30, 12, density=0.25, format="csr", random_state=rng, dtype=np.float32)
    F = F + sp.csr_matrix((np.ones(1, np.float32), ([3], [0])), shape=F.shape)  # at least one non-empty
    F.data = np.ceil(F.data * 3)
    F = sp.csr_matrix(F.toarray() * (np.arange(30) % 7 != 0)[:, None])  # some items without features
    m = ContentKNN(metric=metric, n_threads=n_threads).fit(R, item_features=F)
    S = topk_similarity(F, 30, metric=metric, include_self=True).toarray()
    dense = R.toarray().astype(np.float64)
    counts = (dense != 0).sum(1)
    mean = np.divide(dense.sum(1), counts, out=np.zeros(40), where=counts > 0)
    W = np.where(dense != 0, dense - mean[:, None], 0.0)
    flat = (counts > 0) & (np.abs(W).sum(1) == 0)
    W[flat] = (dense[flat] != 0)
    expected = W @ S
    users = np.arange(40)
    ids, scores = m.recommend(users, 30, exclude_seen=False)
    for u in users:
        real = ids[u] >= 0
        np.testing.assert_allclose(scores[u][real], expected[u, ids[u][real]], rtol=1e-4, atol=1e-5)
        has_vector = np.flatnonzero(np.abs(S).sum(1) > 0)
        if W[u].any():
            assert set(ids[u][real]) <= set(has_vector)
    # predictions against a direct numpy loop
    pu, pi = rng.integers(0, 40, 200), rng.integers(0, 30, 200)
    got = m.predict(pu, pi)
    k = m.k
    lo, hi = R.data.min(), R.data.max()
    for t in range(200):
        u, i = pu[t], pi[t]
        rated = np.flatnonzero(dense[u])
        if rated.size == 0:
            want = R.data.mean()
        else:
            s = S[i, rated].copy()
            s[rated == i] = 0
            s[s < 0] = 0
            if k < rated.size:
                s[s < np.sort(s)[::-1][k - 1]] = 0
            want = mean[u] + (s @ (dense[u, rated] - mean[u]) / s.sum() if s.sum() > 0 else 0.0)
        np.testing.assert_allclose(got[t], np.clip(want, lo, hi), rtol=1e-4, atol=1e-5)


def test_threads_do_not_change_results(tiny, rng):
    R = sp.random(50, 40, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    F = sp.random(40, 10, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    one = ContentKNN(n_threads=1).fit(R, item_features=F)
    two = ContentKNN(n_threads=2).fit(R, item_features=F)
    for a, b in zip(one.recommend(np.arange(50), 7), two.recommend(np.arange(50), 7)):
        np.testing.assert_array_equal(a, b)


def test_interactions_and_features_with_cold_items(tmp_path):
    pd = pytest.importorskip("pandas")
    ratings = turborec.Interactions.from_arrays(["u1", "u1", "u2"], [10, 20, 20], [5.0, 1.0, 4.0])
    movies = pd.DataFrame({"movieId": [10, 20, 30], "genres": ["Action", "Drama", "Action|Drama"]})
    F = turborec.features.item_features(movies, "movieId", interactions=ratings, multi_valued="genres")
    m = ContentKNN().fit(ratings, item_features=F)
    assert m.n_items == 3 and list(m.item_ids_) == [10, 20, 30]
    ids, _ = m.recommend([0], 1)  # u1 liked Action (10), disliked Drama (20): 30 is the only one left
    assert m.item_ids_[ids[0, 0]] == 30
    assert m.predict([0], [2])[0] == pytest.approx(3.0)  # 30 is as similar to both: mean 3 + 0
    assert list(m.feature_names_) == ["genres=Action", "genres=Drama"]
    m.save(tmp_path / "c.npz")
    back = turborec.load(tmp_path / "c.npz")
    assert type(back) is ContentKNN and list(back.item_ids_) == [10, 20, 30]
    for copy in (back, pickle.loads(pickle.dumps(m))):
        for a, b in zip(copy.recommend([0, 1], 3, exclude_seen=False), m.recommend([0, 1], 3, exclude_seen=False)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(copy.predict([0, 1], [2, 0]), m.predict([0, 1], [2, 0]))


def test_contract_and_errors(tiny):
    R, F = tiny
    m = ContentKNN(k=3)
    assert m.clone().get_params() == m.get_params() and "ContentKNN" in repr(m)
    with pytest.raises(turborec.NotFittedError):
        m.recommend([0])
    with pytest.raises(ValueError, match="item_features is required"):
        ContentKNN().fit(R)
    with pytest.raises(ValueError, match="one row per item"):
        ContentKNN().fit(R, item_features=F[:2])
    with pytest.raises(ValueError, match="metric must be one of"):
        ContentKNN(metric="pearson").fit(R, item_features=F)
    with pytest.raises(ValueError, match="k must be"):
        ContentKNN(k=0).fit(R, item_features=F)
    with pytest.raises(TypeError, match="center must be a bool"):
        ContentKNN(center="yes").fit(R, item_features=F)
    with pytest.raises(ValueError, match="non-negative"):
        ContentKNN(metric="tfidf").fit(R, item_features=-F)
    with pytest.raises(TypeError, match="scipy.sparse"):
        ContentKNN().fit(R, item_features=F.toarray())
    bad = F.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ContentKNN().fit(R, item_features=bad)
    m.fit(R, item_features=F)
    with pytest.raises(ValueError, match="items contains 3"):
        m.predict([0], [3])
    ids, _ = m.similar_users([0], 2)
    assert 0 not in ids
    before = (F.data.copy(), R.data.copy())
    ContentKNN(metric="bm25").fit(R, item_features=F)
    np.testing.assert_array_equal(F.data, before[0])
    np.testing.assert_array_equal(R.data, before[1])
    ids, _ = m.recommend([0, 1], 3, items=[2])
    np.testing.assert_array_equal(ids[:, 0], [2, 2])
