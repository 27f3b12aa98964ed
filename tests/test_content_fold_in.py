"""Fold-in of ContentKNN and FeatureMF on the live-state contract: the result matches a reference,
the model passed in is not disturbed for readers holding the old state, and concurrent readers see
the old model or the new one, never a mix."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ContentKNN, FeatureMF


@pytest.fixture
def data(rng):
    R = sp.random(30, 25, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5).astype(np.float32)
    F = sp.random(25, 8, density=0.4, format="csr", random_state=rng, dtype=np.float32)
    rows = sp.random(3, 25, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    rows.data = np.ceil(rows.data * 5).astype(np.float32)
    return R, F, rows


@pytest.mark.parametrize("metric", ["cosine", "bm25"])
def test_content_fold_in_equals_a_fit_on_the_new_rows(data, metric):
    R, F, rows = data
    users = np.array([4, 30, 32])  # one replaced, two new (31 is a gap user without interactions)
    m = ContentKNN(metric=metric).fit(R, item_features=F)
    m.partial_fit_users(users, rows)
    full = sp.vstack([R, sp.csr_matrix((3, 25), dtype=np.float32)], format="lil")
    full[users] = rows
    # A refit on the new matrix has the same item side (features alone), so the same answers,
    # except the global mean (the fold-in keeps training's).
    ref = ContentKNN(metric=metric).fit(full.tocsr(), item_features=F)
    assert m.n_users == 33
    probe = np.array([4, 30, 31, 32, 0])
    np.testing.assert_allclose(m.user_profiles[probe].toarray(), ref.user_profiles[probe].toarray(), rtol=1e-5,
                               atol=1e-6)
    a_ids, a_scores = m.recommend(probe, 6)
    b_ids, b_scores = ref.recommend(probe, 6)
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-5, atol=1e-6)
    items = np.arange(25)
    np.testing.assert_allclose(m.predict(np.full(25, 32), items), ref.predict(np.full(25, 32), items), rtol=1e-5)
    back = turborec.load(m.to_bytes())
    np.testing.assert_array_equal(back.recommend(probe, 6)[0], a_ids)


def test_feature_mf_fold_in_survives_save_and_keeps_the_item_side(data):
    R, F, rows = data
    m = FeatureMF(factors=8, epochs=5, loss="squared", seed=0, n_threads=1).fit(R, item_features=F)
    items_before = m.item_vectors.copy()
    m.partial_fit_users([2, 31], rows[:2])
    np.testing.assert_array_equal(m.item_vectors, items_before)
    assert m.n_users == 32 and m.user_features_.shape == (32, 0)
    # the folded users' vectors are the least-squares solution against the fixed items
    p, b = m._solve_user(m._live, rows[1].indices, rows[1].data)
    np.testing.assert_allclose(m.user_vectors[31], p, rtol=1e-4, atol=1e-5)
    back = turborec.load(m.to_bytes())
    users = np.array([0, 2, 30, 31])
    np.testing.assert_array_equal(back.recommend(users, 5)[0], m.recommend(users, 5)[0])
    items = np.array([0, 5, 9, 24])
    np.testing.assert_allclose(back.predict(users, items), m.predict(users, items), rtol=1e-6)


@pytest.mark.parametrize("factory", [lambda: ContentKNN(), lambda: FeatureMF(factors=8, epochs=3, seed=0)],
                         ids=["ContentKNN", "FeatureMF"])
def test_readers_see_the_old_or_the_new_state(data, factory):
    R, F, rows = data
    users = np.array([1, 2, 3])
    model = factory().fit(R, item_features=F)
    probe = np.arange(10)
    old = model.recommend(probe, 5)
    other = factory().fit(R, item_features=F)
    other.partial_fit_users(users, rows)
    new = other.recommend(probe, 5)
    assert not np.array_equal(old[0], new[0])
    failures, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            ids, scores = model.recommend(probe, 5)
            if not any(np.array_equal(ids, s[0]) and np.allclose(scores, s[1], equal_nan=True) for s in (old, new)):
                failures.append(ids)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            model.partial_fit_users(users, rows)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    np.testing.assert_array_equal(model.recommend(probe, 5)[0], new[0])
