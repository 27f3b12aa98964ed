"""turborec.evaluate and turborec.cross_validate with a tiny popularity model defined here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import turborec
from turborec import metrics as M

RANKING = ["precision", "recall", "ndcg", "map", "hit_rate", "mrr", "auc", "coverage"]


class Popularity(turborec.Popularity):
    """turborec.Popularity counting its fits (so the tests see whether evaluate refits)."""

    def __init__(self, n_threads=1):
        super().__init__(n_threads=n_threads)

    def _fit(self, R):
        self.fit_calls_ = getattr(self, "fit_calls_", 0) + 1
        super()._fit(R)


class RankingOnly(Popularity):
    def _predict(self, live, users, items):
        raise NotImplementedError


@pytest.fixture
def data():
    return turborec.synthetic(60, 40, 700, seed=5)


@pytest.fixture
def split(data):
    return turborec.random_split(data, 0.25, seed=1)


def test_evaluate_columns_and_values(split):
    train, test = split
    model = Popularity()
    table = turborec.evaluate(model, train, test, k=5)
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    assert list(table.columns) == ["model", "k", "n_users", "n_test", "rmse", "mae", *RANKING,
                                   "fit_seconds", "predict_seconds", "recommend_seconds"]
    row = table.iloc[0]
    assert row["model"] == "Popularity" and row["k"] == 5 and model.is_fitted
    assert row["fit_seconds"] >= 0 and row["predict_seconds"] >= 0 and row["recommend_seconds"] >= 0
    # the same numbers by hand
    T, R = test.matrix, train.matrix
    users = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
    pred = model.item_mean_[T.indices]
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((T.data - pred) ** 2)))
    assert row["mae"] == pytest.approx(np.mean(np.abs(T.data - pred)))
    with_test = np.flatnonzero(np.diff(T.indptr))
    assert row["n_users"] == with_test.size and row["n_test"] == T.nnz == users.size
    ids, _ = model.recommend(with_test, 5)
    expected = M.ranking_metrics(ids, T[with_test], 5, exclude=R[with_test])
    for name in RANKING:
        assert row[name] == pytest.approx(expected[name]), name
    assert 0 < row["auc"] < 1 and 0 < row["coverage"] <= 1


def test_evaluate_matrix_and_interactions_agree_and_batches_do_not_matter(split):
    train, test = split
    a = turborec.evaluate(Popularity(), train, test, k=4)
    b = turborec.evaluate(Popularity(), train.matrix, test.matrix, k=4, batch_size=7, n_threads=2)
    cols = ["n_users", "n_test", "rmse", "mae", *RANKING]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_evaluate_prefitted_model_and_metric_subset(split):
    train, test = split
    model = Popularity().fit(train)
    table = turborec.evaluate(model, train, test, k=3, metrics=["ndcg", "rmse"])
    assert model.fit_calls_ == 1  # not refitted
    assert list(table.columns) == ["model", "k", "n_users", "n_test", "ndcg", "rmse", "fit_seconds",
                                   "predict_seconds", "recommend_seconds"]
    assert math.isnan(table["fit_seconds"].iloc[0])
    only_rank = turborec.evaluate(model, train, test, metrics="precision")
    assert math.isnan(only_rank["predict_seconds"].iloc[0]) and only_rank["precision"].iloc[0] >= 0


def test_evaluate_without_exclude_train_recommends_seen_items(split):
    train, test = split
    excl = turborec.evaluate(Popularity(), train, test, k=5)
    incl = turborec.evaluate(Popularity(), train, test, k=5, exclude_train=False)
    # Popular train items now crowd the lists: fewer test hits.
    assert incl["precision"].iloc[0] <= excl["precision"].iloc[0]


def test_evaluate_ranking_only_model(split):
    train, test = split
    table = turborec.evaluate(RankingOnly(), train, test)
    assert math.isnan(table["rmse"].iloc[0]) and math.isnan(table["mae"].iloc[0])
    assert not math.isnan(table["ndcg"].iloc[0])
    with pytest.raises(TypeError, match="RankingOnly does not implement predict"):
        turborec.evaluate(RankingOnly(), train, test, metrics=["rmse"])


def test_evaluate_empty_test(data):
    empty = sp.csr_matrix(data.shape, dtype=np.float32)
    row = turborec.evaluate(Popularity(), data, empty).iloc[0]
    assert row["n_users"] == 0 and row["n_test"] == 0
    assert all(math.isnan(row[m]) for m in ["rmse", "mae", *RANKING])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(model=object()), TypeError, "model must follow turborec's model contract"),
        (dict(train=np.zeros((60, 40))), TypeError, "train must be an Interactions or a scipy.sparse"),
        (dict(test=sp.csr_matrix((60, 41))), ValueError, "train and test must have the same shape"),
        (dict(metrics=["precision", "f1"]), ValueError, r"metrics: unknown \['f1'\]"),
        (dict(metrics=[]), ValueError, "at least one metric"),
        (dict(metrics=3), TypeError, "metrics must be None or a list"),
        (dict(k=0), ValueError, "k must be >= 1"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(exclude_train=1), TypeError, "exclude_train must be a bool"),
        (dict(n_threads=-1), ValueError, "n_threads must be 0"),
    ],
)
def test_evaluate_bad_input(split, kwargs, exc, match):
    train, test = split
    args = dict(model=Popularity(), train=train, test=test) | kwargs
    with pytest.raises(exc, match=match):
        turborec.evaluate(**args)


def test_evaluate_refuses_model_fitted_on_another_shape(split, data):
    train, test = split
    model = Popularity().fit(sp.random(10, 40, density=0.3, format="csr"))
    with pytest.raises(ValueError, match=r"model is fitted on a \(10, 40\) matrix but train has shape \(60, 40\)"):
        turborec.evaluate(model, train, test)


def test_cross_validate(data):
    table = turborec.cross_validate(Popularity, data, folds=4, k=5, seed=3)
    assert list(table.index) == [0, 1, 2, 3, "mean", "std"] and table.index.name == "fold"
    folds = table.loc[[0, 1, 2, 3]]
    assert folds["n_test"].sum() == data.nnz  # every interaction is tested exactly once
    for col in ["rmse", "precision", "auc", "fit_seconds"]:
        assert table.loc["mean", col] == pytest.approx(folds[col].astype(float).mean())
        assert table.loc["std", col] == pytest.approx(folds[col].astype(float).std())
    assert (table["model"] == "Popularity").all()
    # same seed, same folds, same scores
    again = turborec.cross_validate(Popularity, data.matrix, folds=4, k=5, seed=3)
    cols = ["n_test", "rmse", "mae", *RANKING]
    pd.testing.assert_frame_equal(folds[cols], again.loc[[0, 1, 2, 3], cols])


def test_cross_validate_bad_input(data):
    with pytest.raises(TypeError, match="factory must be a callable"):
        turborec.cross_validate(Popularity(), data)
    fitted = Popularity().fit(data)
    with pytest.raises(ValueError, match="factory\\(\\) returned a fitted model"):
        turborec.cross_validate(lambda: fitted, data, folds=2)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        turborec.cross_validate(Popularity, data, folds=1)
    with pytest.raises(ValueError, match="metrics: unknown"):
        turborec.cross_validate(Popularity, data, metrics=["nope"])
    with pytest.raises(TypeError, match="data must be an Interactions"):
        turborec.cross_validate(Popularity, np.ones((3, 3)))
