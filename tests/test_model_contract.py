"""The contract every model shares (fit / predict / recommend / similar / params / bad input).

Each model class is listed once in MODELS with a small fast configuration; every test here runs for
each of them, so a new model only needs a line in MODELS.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec.models import NotFittedError

MODELS = {
    "ItemKNN": lambda: turborec.ItemKNN(k=5),
    "UserKNN": lambda: turborec.UserKNN(k=5),
    "MatrixFactorization": lambda: turborec.MatrixFactorization(factors=8, epochs=5, seed=0),
    "MatrixFactorization-bpr": lambda: turborec.MatrixFactorization(factors=8, epochs=5, loss="bpr", seed=0),
    "FeatureMF": lambda: turborec.FeatureMF(factors=8, epochs=5, seed=0),
    "FeatureMF-squared": lambda: turborec.FeatureMF(factors=8, epochs=5, loss="squared", seed=0),
}


@pytest.fixture(params=sorted(MODELS))
def factory(request):
    return MODELS[request.param]


@pytest.fixture
def R(rng):
    R = sp.random(30, 25, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    return R


def test_fit_returns_self_and_shapes(factory, R):
    model = factory()
    assert model.fit(R) is model
    assert (model.n_users, model.n_items) == R.shape
    assert model.is_fitted


def test_predict_and_recommend_shapes(factory, R):
    model = factory().fit(R)
    p = model.predict([0, 1, 2], [3, 4, 5])
    assert p.shape == (3,) and p.dtype == np.float32 and np.isfinite(p).all()
    ids, scores = model.recommend([0, 1], k=4)
    assert ids.shape == scores.shape == (2, 4)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    for row, sc in zip(ids, scores):
        real = row >= 0
        assert np.all(np.diff(sc[real]) <= 0)  # best first
        assert np.isneginf(sc[~real]).all()


def test_similar(factory, R):
    model = factory().fit(R)
    ids, scores = model.similar_items([0, 1], 3)
    assert ids.shape == (2, 3) and not (ids == np.array([[0], [1]])).any()
    ids, scores = model.similar_users([2], 3)
    assert ids.shape == (1, 3) and 2 not in ids


def test_params_and_clone(factory, R):
    model = factory()
    params = model.get_params()
    clone = model.set_params(**params).clone()
    assert clone.get_params() == params and not clone.is_fitted
    with pytest.raises(ValueError, match="has no parameter"):
        model.set_params(no_such_thing=1)
    assert type(model).__name__ in repr(model)


def test_not_fitted(factory):
    model = factory()
    for call in (lambda: model.predict([0], [0]), lambda: model.recommend([0]), lambda: model.similar_items([0])):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


def test_bad_input(factory, R):
    model = factory().fit(R)
    with pytest.raises(ValueError, match="users contains 30"):
        model.predict([30], [0])
    with pytest.raises(ValueError, match="items contains -1"):
        model.recommend([0], items=[-1])
    with pytest.raises(ValueError, match="same length"):
        model.predict([0, 1], [0])
    with pytest.raises(TypeError, match="users must be integer"):
        model.recommend([0.5])
    with pytest.raises(ValueError, match="k must be >= 1"):
        model.recommend([0], k=0)
    with pytest.raises(ValueError, match="at least one user"):
        factory().fit(sp.csr_matrix((0, 5), dtype=np.float32))
    bad = R.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        factory().fit(bad)
    with pytest.raises(TypeError, match="scipy.sparse"):
        factory().fit(R.toarray())


def test_fit_does_not_modify_input(factory, R):
    before = [R.data.copy(), R.indices.copy(), R.indptr.copy()]
    factory().fit(R)
    for b, a in zip(before, (R.data, R.indices, R.indptr)):
        np.testing.assert_array_equal(a, b)


def test_interactions_keep_raw_ids(factory):
    data = turborec.Interactions.from_arrays(["a", "b", "a", "c"], ["x", "y", "y", "x"], [5.0, 3.0, 4.0, 1.0])
    model = factory().fit(data)
    assert list(model.user_ids_) == ["a", "b", "c"] and list(model.item_ids_) == ["x", "y"]


def test_save_load_and_pickle(factory, R, tmp_path):
    import pickle

    model = factory().fit(R)
    model.save(tmp_path / "model.npz")
    for copy in (turborec.load(tmp_path / "model.npz"), pickle.loads(pickle.dumps(model))):
        assert type(copy) is type(model) and copy.get_params() == model.get_params()
        for a, b in zip(copy.recommend([0, 1], k=4), model.recommend([0, 1], k=4)):
            np.testing.assert_array_equal(a, b)
