"""Hybrid: a hand-computed blend with the cold-item and cold-user rules, fitted weights, the contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ContentKNN, Hybrid, Popularity


@pytest.fixture
def tiny():
    """4 users x 4 items, implicit; items 2 and 3 nobody has, user 3 has nothing.
    features: i0 = i2 = [1, 0], i1 = i3 = [0, 1]."""
    R = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], np.float32))
    F = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32))
    return R, F


def test_hand_computed_blend(tiny):
    R, F = tiny
    h = Hybrid([Popularity(), ContentKNN()], weights=[1, 1]).fit(R, item_features=F)
    np.testing.assert_allclose(h.weights_, [0.5, 0.5])
    # u0 has i0. Popularity lists i1 (2), i2 (0), i3 (0) -> min-max 1, 0, 0. ContentKNN's profile is
    # v0: it lists i2 only (score 1) -> 1. Warm i1: (0.5 * 1 + 0.5 * 0) / 1 = 0.5. Cold items are
    # scored by the content member alone: i2 = 0.5 * 1 / 0.5 = 1, i3 = 0.
    ids, scores = h.recommend([0], 3)
    np.testing.assert_array_equal(ids, [[2, 1, 3]])
    np.testing.assert_allclose(scores, [[1.0, 0.5, 0.0]], rtol=1e-6)
    # u3 has no history: switched to popularity (counts 2, 2, 0, 0; ties by lower id)
    ids, scores = h.recommend([3], 4)
    np.testing.assert_array_equal(ids, [[0, 1, 2, 3]])
    np.testing.assert_allclose(scores, [[2, 2, 0, 0]])
    # content weighted 0: the cold items still go to it (switching), warm ones to popularity alone
    ids, scores = Hybrid([Popularity(), ContentKNN()], weights=[1, 0]).fit(R, item_features=F).recommend([0], 3)
    np.testing.assert_array_equal(ids, [[1, 2, 3]])
    np.testing.assert_allclose(scores, [[1.0, 1.0, 0.0]])
    ids, _ = Hybrid([Popularity(), ContentKNN()], cold_users="none").fit(R, item_features=F).recommend([3], 2)
    np.testing.assert_array_equal(ids[0], [0, 1])  # the blend itself: only popularity lists anything


def test_weights_fitted_on_validation(tiny):
    R, F = tiny
    V = sp.csr_matrix(([1.0], ([0], [1])), shape=R.shape)  # u0 next takes the popular i1
    h = Hybrid([Popularity(), ContentKNN()], weight_step=0.5).fit(R, validation=V, item_features=F)
    np.testing.assert_allclose(h.weights_, [1.0, 0.0])
    assert h.validation_ndcg_ == pytest.approx(1.0)
    V = sp.csr_matrix(([1.0], ([0], [2])), shape=R.shape)  # u0 next takes the cold i2, like its i0
    h = Hybrid([Popularity(), ContentKNN()], weight_step=0.5).fit(R, validation=V, item_features=F)
    np.testing.assert_allclose(h.weights_, [0.0, 1.0])  # first grid point among the ties


def test_predict_is_the_weighted_mean(rng):
    R = sp.random(30, 20, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    R = sp.csr_matrix(R.multiply((np.arange(20) != 19)[None, :]))  # item 19 is cold
    R.eliminate_zeros()
    F = sp.random(20, 6, density=0.5, format="csr", random_state=rng, dtype=np.float32)
    mf = turborec.MatrixFactorization(factors=4, epochs=3, seed=0)
    content = ContentKNN()
    h = Hybrid([mf, content], weights=[3, 1]).fit(R, item_features=F)
    users, items = rng.integers(0, 30, 50), rng.integers(0, 20, 50)
    items[:5] = 19
    want = 0.75 * mf.predict(users, items) + 0.25 * content.predict(users, items)
    cold = np.bincount(R.indices, minlength=20)[items] == 0  # 19 and any column the draw left empty
    assert cold[:5].all()
    want[cold] = content.predict(users[cold], items[cold])
    np.testing.assert_allclose(h.predict(users, items), want, rtol=1e-5)
    ids, _ = h.similar_items([0], 3)  # from the heavier member, MF
    np.testing.assert_array_equal(ids, mf.similar_items([0], 3)[0])


def test_prefit_members_save_load(tiny, tmp_path):
    R, F = tiny
    members = [Popularity().fit(R), ContentKNN().fit(R, item_features=F)]
    h = Hybrid(members, weights=[1, 3], normalize="zscore", fit_members=False).fit(R)
    h.save(tmp_path / "h.npz")
    assert h.models is members  # saving does not touch the model
    back = turborec.load(tmp_path / "h.npz")
    assert type(back) is Hybrid and [type(m) for m in back.models] == [Popularity, ContentKNN]
    np.testing.assert_allclose(back.weights_, h.weights_)
    for a, b in zip(back.recommend(np.arange(4), 3), h.recommend(np.arange(4), 3)):
        np.testing.assert_array_equal(a, b)
    assert turborec.persistence.info(tmp_path / "h.npz")["class"] == "Hybrid"


@pytest.mark.parametrize("normalize", ["minmax", "zscore", "rank"])
def test_lists_are_valid(normalize, rng):
    R = sp.random(40, 30, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    F = sp.random(30, 8, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    h = Hybrid([turborec.ItemKNN(k=5), ContentKNN(), Popularity()], normalize=normalize, n_candidates=7,
               n_threads=1).fit(R, item_features=F)
    ids, scores = h.recommend(np.arange(40), 10)
    for u in range(40):
        real = ids[u] >= 0
        assert np.all(np.diff(scores[u][real]) <= 0) and np.isneginf(scores[u][~real]).all()
        assert not set(ids[u][real]) & set(R[u].indices)
        assert len(set(ids[u][real])) == real.sum()
    ids, _ = h.recommend(np.arange(40), 5, items=[1, 2, 3])
    assert set(ids.ravel()) <= {-1, 1, 2, 3}


def test_errors(tiny):
    R, F = tiny
    with pytest.raises(ValueError, match="models must be a non-empty list"):
        Hybrid().fit(R)
    with pytest.raises(TypeError, match="Recommender"):
        Hybrid([object()]).fit(R)
    with pytest.raises(ValueError, match="weights must be"):
        Hybrid([Popularity()], weights=[1, 2]).fit(R)
    with pytest.raises(ValueError, match="weights must be"):
        Hybrid([Popularity(), Popularity()], weights=[-1, 2]).fit(R)
    with pytest.raises(ValueError, match="normalize"):
        Hybrid([Popularity()], normalize="softmax").fit(R)
    with pytest.raises(ValueError, match="cold_users"):
        Hybrid([Popularity()], cold_users="random").fit(R)
    with pytest.raises(ValueError, match="weight_step"):
        Hybrid([Popularity()], weight_step=0).fit(R)
    with pytest.raises(ValueError, match=r"models\[0\] \(Popularity\) must be fitted"):
        Hybrid([Popularity()], fit_members=False).fit(R)
    with pytest.raises(ValueError, match="must be fitted on a"):
        Hybrid([Popularity().fit(R[:2])], fit_members=False).fit(R)
    h = Hybrid([Popularity()])
    with pytest.raises(turborec.NotFittedError):
        h.recommend([0])
    h.fit(R)
    with pytest.raises(ValueError, match="users contains 4"):
        h.recommend([4])
