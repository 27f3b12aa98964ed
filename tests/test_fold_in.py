"""partial_fit_users on every model: answers against numpy references, and a cost proportional to the
users folded in (the training matrix is never rebuilt whole for a few users)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from reference import topk_reference


@pytest.fixture(scope="module")
def data():
    return turborec.synthetic(120, 60, 2500, seed=4)


def _row(n_items, items, values):
    return sp.csr_matrix((np.asarray(values, np.float32), (np.zeros(len(items), int), items)), shape=(1, n_items))


def test_itemknn_fold_in_scores_the_new_history(data):
    model = turborec.ItemKNN(k=10).fit(data)
    S = model.similarity_.toarray()
    row = _row(data.n_items, [1, 7, 30], [5.0, 3.0, 4.0])
    for user in (5, data.n_users):  # an existing user, and a new one
        model.partial_fit_users([user], row)
        scores = row.toarray() @ S
        exclude = np.zeros_like(scores, dtype=bool)
        exclude[0, [1, 7, 30]] = True
        ids, got = model.recommend([user], k=8)
        ref_ids, ref_scores = topk_reference(np.where(exclude, -np.inf, scores), 8)
        ref_scores = np.where(np.isinf(ref_scores), -np.inf, ref_scores)
        keep = scores[0, ref_ids[0]] != 0  # sparse_topk lists only items with a positive link
        np.testing.assert_allclose(got[0][: keep.sum()], ref_scores[0][keep], rtol=1e-5)
        assert set(ids[0][: keep.sum()]) == set(ref_ids[0][keep])
        assert model.user_items_[user].indices.tolist() == [1, 7, 30]
    assert model.n_users == data.n_users + 1
    # the mean variant predicts with the folded user's own mean
    assert model.user_mean_[5] == pytest.approx(4.0)


def test_userknn_fold_in_finds_the_users_neighbours(data):
    model = turborec.UserKNN(k=10, metric="cosine").fit(data)
    row = data.matrix[[9]]  # user 5 now rates exactly what user 9 rated
    model.partial_fit_users([5], row)
    ids, scores = model.similar_users([5], k=3)
    assert ids[0][0] == 9 and scores[0][0] == pytest.approx(1.0, rel=1e-5)
    assert 5 not in ids[0]
    rec, _ = model.recommend([5], k=5)
    assert not set(rec[0]) & set(row.indices.tolist())


@pytest.mark.parametrize("make", [lambda: turborec.MatrixFactorization(factors=4, epochs=2, seed=0),
                                  lambda: turborec.ItemKNN(k=5), lambda: turborec.UserKNN(k=5),
                                  lambda: turborec.Popularity(),
                                  lambda: turborec.FeatureMF(factors=4, epochs=2, seed=0)])
def test_every_model_folds_in_and_excludes_the_new_items(make, data):
    model = make().fit(data)
    row = _row(data.n_items, [0, 2, 4, 6], [5.0, 4.0, 3.0, 5.0])
    model.partial_fit_users([3, data.n_users + 2], sp.vstack([row, row]).tocsr())
    assert model.n_users == data.n_users + 3
    ids, _ = model.recommend([3, data.n_users + 2, data.n_users + 1], k=10)
    assert not set(ids[:2].ravel()) & {0, 2, 4, 6}
    assert np.isfinite(model.predict([data.n_users + 1, 3], [1, 1])).all()
    again = turborec.load(model.to_bytes())  # a folded-in model saves and loads like any other
    np.testing.assert_array_equal(again.recommend([3], k=10)[0], model.recommend([3], k=10)[0])


def test_fold_in_does_not_rebuild_the_training_matrix():
    data = turborec.synthetic(6000, 300, 60_000, seed=1)
    for model in (turborec.MatrixFactorization(factors=4, epochs=1, seed=0), turborec.ItemKNN(k=5),
                  turborec.Popularity(), turborec.FeatureMF(factors=4, epochs=1, seed=0)):
        model.fit(data)
        base = model._live.seen
        row = _row(data.n_items, [3, 4], [1.0, 2.0])
        for user in range(10):
            model.partial_fit_users([user], row)
            model.recommend([user], k=5)
            model.predict([user], [1])
        seen = model._live.seen
        assert seen._base is base._base and seen._merged is None  # an overlay of 10 rows, no merge
        assert seen.rows(np.array([4])).indices.tolist() == [3, 4]


def test_fold_in_bad_input(data):
    model = turborec.ItemKNN(k=5).fit(data)
    with pytest.raises(ValueError, match="must not repeat"):
        model.partial_fit_users([1, 1], sp.csr_matrix((2, data.n_items), dtype=np.float32))
    with pytest.raises(ValueError, match="user_items must have shape"):
        model.partial_fit_users([1], sp.csr_matrix((2, data.n_items), dtype=np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        model.partial_fit_users([-1], sp.csr_matrix((1, data.n_items), dtype=np.float32))
    with pytest.raises(TypeError, match="integer indices"):
        model.partial_fit_users([0.5], sp.csr_matrix((1, data.n_items), dtype=np.float32))
    with pytest.raises(turborec.NotFittedError):
        turborec.ItemKNN().partial_fit_users([0], sp.csr_matrix((1, 3)))
