"""cold_start_split and evaluate_cold_start: held-out items/users, warm and cold scored apart."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ContentKNN, Popularity, cold_start_split, evaluate_cold_start


@pytest.fixture
def R(rng):
    R = sp.random(60, 40, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    return R


@pytest.mark.parametrize("axis", ["items", "users"])
def test_split_holds_out_whole_items_or_users(R, axis):
    train, test = cold_start_split(R, 0.25, seed=3, axis=axis)
    assert train.shape == test.shape == R.shape
    np.testing.assert_array_equal((train + test).toarray(), R.toarray())  # a partition
    assert train.multiply(test).nnz == 0
    count = (lambda m: np.bincount(m.indices, minlength=40)) if axis == "items" else (lambda m: np.diff(m.indptr))
    held = count(test) > 0
    n_active = int((count(R) > 0).sum())
    assert held.sum() == round(0.25 * n_active)
    assert (count(train)[held] == 0).all()  # held-out ones are cold in train
    np.testing.assert_array_equal(count(test)[held], count(R)[held])  # with everything they had
    again = cold_start_split(R, 0.25, seed=3, axis=axis)
    np.testing.assert_array_equal(again[1].toarray(), test.toarray())


def test_split_with_warm_test_and_interactions(R):
    data = turborec.Interactions.from_matrix(R)
    train, test = cold_start_split(data, 0.25, seed=1, warm_test_fraction=0.2)
    assert isinstance(train, turborec.Interactions) and train.nnz + test.nnz == R.nnz
    warm = np.bincount(train.matrix.indices, minlength=40) > 0
    warm_test = test.matrix[:, warm].nnz
    assert warm_test == round(0.2 * (R.nnz - test.matrix[:, ~warm].nnz))
    with pytest.raises(ValueError, match="axis"):
        cold_start_split(R, 0.2, axis="rows")
    with pytest.raises(ValueError, match="test_fraction"):
        cold_start_split(R, 1.5)
    with pytest.raises(ValueError, match="warm_test_fraction"):
        cold_start_split(R, 0.2, warm_test_fraction=1.0)


def test_evaluate_warm_and_cold(R, rng):
    pytest.importorskip("pandas")
    train, test = cold_start_split(R, 0.25, seed=0, warm_test_fraction=0.2)
    F = sp.random(40, 10, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    table = evaluate_cold_start(ContentKNN().fit(train, item_features=F), train, test, k=5,
                                metrics=["ndcg", "recall"])
    assert list(table.segment) == ["warm", "cold"]
    warm = np.bincount(train.indices, minlength=40) > 0
    assert list(table.n_items) == [warm.sum(), (~warm).sum()]
    assert table.n_test.sum() == test.nnz
    # the cold row against a direct computation
    model = ContentKNN().fit(train, item_features=F)
    cold_test = sp.csr_matrix(test.multiply((~warm)[None, :].astype(np.float32)))
    cold_test.eliminate_zeros()
    users = np.flatnonzero(np.diff(cold_test.indptr))
    ids, _ = model.recommend(users, 5, items=np.flatnonzero(~warm))
    assert set(ids.ravel()) <= set(np.flatnonzero(~warm)) | {-1}
    want = turborec.metrics.ndcg_at_k(ids, cold_test[users], 5)
    assert table.ndcg[1] == pytest.approx(want)
    pop = evaluate_cold_start(Popularity(), train, test, k=5, metrics="recall")
    assert np.isfinite(pop.fit_seconds[0]) and pop.recall[0] > 0
    with pytest.raises(ValueError, match="metrics: unknown"):
        evaluate_cold_start(Popularity(), train, test, metrics=["auc"])
    with pytest.raises(ValueError, match="same shape"):
        evaluate_cold_start(Popularity(), train, test[:3])
