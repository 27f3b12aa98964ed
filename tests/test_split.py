"""turborec.split: determinism, the partition property, per-user and temporal guarantees, k-fold."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from turborec.data import Interactions
from turborec.datasets import load_movielens, synthetic
from turborec.split import (kfold, leave_k_out, per_user_split, random_split, temporal_leave_k_out,
                            temporal_split)

SEEDED = {
    "random": lambda d, seed, **kw: random_split(d, 0.25, seed=seed, **kw),
    "per_user": lambda d, seed, **kw: per_user_split(d, 0.25, seed=seed, **kw),
    "leave_k_out": lambda d, seed, **kw: leave_k_out(d, 2, seed=seed, **kw),
    "kfold": lambda d, seed, **kw: next(iter(kfold(d, 4, seed=seed, **kw))),
}
TEMPORAL = {
    "temporal_fraction": lambda d, **kw: temporal_split(d, test_fraction=0.25, **kw),
    "temporal_leave_k_out": lambda d, **kw: temporal_leave_k_out(d, 2, **kw),
}
ALL = {**{k: (lambda f: lambda d, **kw: f(d, 5, **kw))(f) for k, f in SEEDED.items()}, **TEMPORAL}


@pytest.fixture(scope="module")
def data():
    """Synthetic interactions re-keyed with string ids (so id spaces are not just 0..n-1)."""
    base = synthetic(1500, 600, 30_000, seed=11)
    df = base.to_pandas()
    df["user_id"] = "u" + df["user_id"].astype(str)
    df["item_id"] = "i" + df["item_id"].astype(str)
    return Interactions.from_pandas(df, rating="rating", timestamp="timestamp")


def keyed(inter):
    """Stored entries as (sorted int64 keys, values, timestamps)."""
    m = inter.matrix if isinstance(inter, Interactions) else inter
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    ts = inter.timestamps.data if isinstance(inter, Interactions) and inter.timestamps is not None else None
    return rows * m.shape[1] + m.indices, m.data, ts


def assert_same(a, b):
    for x, y in zip(keyed(a), keyed(b)):
        if x is None:
            assert y is None
        else:
            np.testing.assert_array_equal(x, y)


def assert_partition(data, train, test):
    assert train.shape == data.shape and test.shape == data.shape
    if isinstance(data, Interactions):
        assert train.user_ids is data.user_ids and test.item_ids is data.item_ids
    kd, vd, td = keyed(data)
    kt, vt, tt = keyed(train)
    ks, vs, ts = keyed(test)
    assert np.intersect1d(kt, ks).size == 0
    merged = np.concatenate([kt, ks])
    order = np.argsort(merged)
    np.testing.assert_array_equal(merged[order], kd)
    np.testing.assert_array_equal(np.concatenate([vt, vs])[order], vd)
    if td is not None:
        np.testing.assert_array_equal(np.concatenate([tt, ts])[order], td)


def per_user_counts(inter):
    return np.diff(inter.matrix.indptr)


# ---- generic properties ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ALL))
def test_partition_and_shapes(data, name):
    train, test = ALL[name](data)
    assert isinstance(train, Interactions) and isinstance(test, Interactions)
    assert test.nnz > 0 and train.nnz > 0
    assert_partition(data, train, test)


@pytest.mark.parametrize("name", list(SEEDED))
def test_deterministic_given_seed(data, name):
    a = SEEDED[name](data, 123)
    b = SEEDED[name](data, 123)
    c = SEEDED[name](data, 124)
    assert_same(a[0], b[0])
    assert_same(a[1], b[1])
    assert not np.array_equal(keyed(a[1])[0], keyed(c[1])[0])


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("remove_unseen", ["users", "items", "both"])
def test_remove_unseen(data, name, remove_unseen):
    # Sparse-ish data so cold users/items exist in test.
    train, full_test = ALL[name](data)
    train2, test = ALL[name](data, remove_unseen=remove_unseen)
    assert_same(train, train2)
    rows = np.repeat(np.arange(data.n_users), per_user_counts(test))
    train_users = per_user_counts(train) > 0
    train_items = np.bincount(train.matrix.indices, minlength=data.n_items) > 0
    users_ok = train_users[rows]
    items_ok = train_items[test.matrix.indices]
    if remove_unseen in ("users", "both"):
        assert users_ok.all()
    if remove_unseen in ("items", "both"):
        assert items_ok.all()
    # Exactly the cold entries were dropped.
    full_rows = np.repeat(np.arange(data.n_users), per_user_counts(full_test))
    keep = np.ones(full_test.nnz, dtype=bool)
    if remove_unseen in ("users", "both"):
        keep &= train_users[full_rows]
    if remove_unseen in ("items", "both"):
        keep &= train_items[full_test.matrix.indices]
    assert_same(test, full_test.subset(keep))


def test_remove_unseen_drops_something():
    d = synthetic(400, 3000, 4000, seed=1)  # long tail: many items seen once
    train, test = random_split(d, 0.3, seed=0)
    _, warm = random_split(d, 0.3, seed=0, remove_unseen="items")
    assert 0 < warm.nnz < test.nnz


def test_sparse_matrix_in_sparse_matrix_out(data):
    m = data.matrix
    for split in (lambda x: random_split(x, 0.2, seed=1), lambda x: per_user_split(x, 0.2, seed=1),
                  lambda x: leave_k_out(x, 1, seed=1), lambda x: next(iter(kfold(x, 3, seed=1)))):
        train, test = split(m)
        assert sp.isspmatrix_csr(train) and sp.isspmatrix_csr(test)
        assert train.dtype == np.float32 and train.shape == m.shape
        assert_partition(m, train, test)
    # Same split as through the Interactions.
    t1, s1 = random_split(m, 0.2, seed=1)
    t2, s2 = random_split(data, 0.2, seed=1)
    assert_same(t1, t2.matrix)
    assert_same(s1, s2.matrix)
    with pytest.raises(ValueError, match="temporal_split needs timestamps.*bare sparse matrix"):
        temporal_split(m, test_fraction=0.2)


def test_input_not_modified(data):
    before = [a.copy() for a in (data.matrix.data, data.matrix.indices, data.matrix.indptr, data.timestamps.data)]
    for f in ALL.values():
        f(data, remove_unseen="both")
    after = (data.matrix.data, data.matrix.indices, data.matrix.indptr, data.timestamps.data)
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)


# ---- each split's own guarantees ------------------------------------------------------------------

def test_random_split_fraction(data):
    train, test = random_split(data, 0.2, seed=0)
    assert test.nnz == round(0.2 * data.nnz)


def test_per_user_split_guarantees(data):
    for min_train in (1, 3):
        train, test = per_user_split(data, 0.3, seed=5, min_train=min_train)
        n = per_user_counts(data)
        n_train, n_test = per_user_counts(train), per_user_counts(test)
        expected = np.minimum(np.floor(0.3 * n + 0.5), np.maximum(n - min_train, 0))
        np.testing.assert_array_equal(n_test, expected)
        assert np.all(n_train >= np.minimum(n, min_train))
        assert np.all(n_train[n >= 2] >= 1)
        assert abs(test.nnz / data.nnz - 0.3) < 0.03


def test_per_user_split_is_random_within_users():
    d = Interactions.from_matrix(sp.csr_matrix(np.ones((1, 1000), dtype=np.float32)))
    _, test = per_user_split(d, 0.5, seed=0)
    cols = test.matrix.indices
    assert test.nnz == 500 and 400 < cols.mean() < 600 and cols.min() < 50 and cols.max() > 950


def test_leave_k_out_guarantees(data):
    for k, min_train in ((1, 1), (3, 2)):
        train, test = leave_k_out(data, k, seed=2, min_train=min_train)
        n = per_user_counts(data)
        eligible = n >= k + min_train
        np.testing.assert_array_equal(per_user_counts(test), np.where(eligible, k, 0))
        np.testing.assert_array_equal(per_user_counts(train), np.where(eligible, n - k, n))


def test_temporal_split_ordering(data):
    train, test = temporal_split(data, test_fraction=0.2)
    assert train.timestamps.data.max() < test.timestamps.data.min()
    assert 0.2 <= test.nnz / data.nnz < 0.21
    cutoff = int(np.median(data.timestamps.data))
    train, test = temporal_split(data, cutoff=cutoff)
    assert train.timestamps.data.max() < cutoff <= test.timestamps.data.min()
    assert test.nnz == int(np.count_nonzero(data.timestamps.data >= cutoff))
    when = datetime.datetime.fromtimestamp(cutoff, tz=datetime.timezone.utc)
    for c in (when, when.replace(tzinfo=None), np.datetime64(when.replace(tzinfo=None)), pd.Timestamp(when)):
        assert_same(temporal_split(data, cutoff=c)[1], test)
    train, test = temporal_split(data, cutoff=data.timestamps.data.max() + 1)
    assert test.nnz == 0 and train.nnz == data.nnz


def test_temporal_split_ties_go_to_test():
    d = Interactions.from_arrays([1, 1, 2, 2], [1, 2, 1, 2], None, [10, 20, 20, 30])
    train, test = temporal_split(d, test_fraction=0.5)
    assert train.nnz == 1 and test.nnz == 3


def test_temporal_leave_k_out_guarantees(data):
    k = 2
    train, test = temporal_leave_k_out(data, k)
    n = per_user_counts(data)
    np.testing.assert_array_equal(per_user_counts(test), np.where(n >= k + 1, k, 0))
    # Per user, every test interaction is at or after every train one.
    tr = train.timestamps.tocsr()
    te = test.timestamps.tocsr()
    has = (np.diff(tr.indptr) > 0) & (np.diff(te.indptr) > 0)
    tr_max = np.maximum.reduceat(tr.data, tr.indptr[:-1][np.diff(tr.indptr) > 0])
    te_min = np.minimum.reduceat(te.data, te.indptr[:-1][np.diff(te.indptr) > 0])
    tr_max_full = np.full(data.n_users, -1, dtype=np.int64)
    tr_max_full[np.diff(tr.indptr) > 0] = tr_max
    te_min_full = np.full(data.n_users, 2**62, dtype=np.int64)
    te_min_full[np.diff(te.indptr) > 0] = te_min
    assert np.all(tr_max_full[has] <= te_min_full[has])


def test_temporal_leave_k_out_ties_by_item_order():
    d = Interactions.from_arrays(["a"] * 4 + ["b"], ["w", "x", "y", "z", "w"], None, [7, 7, 7, 1, 3])
    train, test = temporal_leave_k_out(d, 2)
    assert set(zip(*test.to_pandas()[["user_id", "item_id"]].to_numpy().T)) == {("a", "x"), ("a", "y")}
    assert test.n_users == 2 and per_user_counts(test)[1] == 0  # b has one interaction: all train


def test_temporal_leave_k_out_float_timestamps():
    d = Interactions.from_arrays([1, 1, 1], [1, 2, 3], None, [0.5, 2.5, 1.5])
    _, test = temporal_leave_k_out(d, 1)
    assert list(test.to_pandas()["item_id"]) == [2]


def test_kfold_covers_everything_once(data):
    folds = list(kfold(data, 5, seed=9))
    assert len(folds) == 5
    tests = [keyed(test)[0] for _, test in folds]
    sizes = [t.size for t in tests]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == data.nnz
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), keyed(data)[0])
    for train, test in folds:
        assert_partition(data, train, test)


# ---- bad arguments --------------------------------------------------------------------------------

def test_bad_arguments(data):
    with pytest.raises(TypeError, match="data must be an Interactions or a scipy.sparse matrix"):
        random_split(np.ones((3, 3)))
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="test_fraction must be in \\(0, 1\\)"):
            random_split(data, bad)
    with pytest.raises(TypeError, match="test_fraction must be a float"):
        per_user_split(data, "0.2")
    with pytest.raises(ValueError, match="remove_unseen must be one of"):
        random_split(data, remove_unseen="user")
    with pytest.raises(ValueError, match="k must be >= 1"):
        leave_k_out(data, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        temporal_leave_k_out(data, 1.0)
    with pytest.raises(ValueError, match="min_train must be >= 0"):
        per_user_split(data, min_train=-1)
    with pytest.raises(ValueError, match="give exactly one of cutoff and test_fraction"):
        temporal_split(data)
    with pytest.raises(ValueError, match="give exactly one of cutoff and test_fraction"):
        temporal_split(data, cutoff=5, test_fraction=0.1)
    with pytest.raises(TypeError, match="cutoff must be a number"):
        temporal_split(data, cutoff="2020-01-01")
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        kfold(data, 1)  # raised at the call, not at the first next()
    with pytest.raises(ValueError, match="n_folds \\(5\\) must not exceed"):
        kfold(Interactions.from_arrays([1, 2], [1, 2]), 5)
    with pytest.raises(TypeError, match="seed must be"):
        random_split(data, seed="x")
    no_time = Interactions.from_arrays([1, 2], [1, 2])
    with pytest.raises(ValueError, match="temporal_leave_k_out needs timestamps"):
        temporal_leave_k_out(no_time)


# ---- MovieLens ------------------------------------------------------------------------------------

def test_movielens_splits(movielens):
    d = load_movielens(movielens)
    train, test = temporal_leave_k_out(d, 1)
    assert test.nnz == 610 and train.nnz == d.nnz - 610  # every user has >= 20 ratings
    train, test = per_user_split(d, 0.2, seed=0)
    assert np.all(per_user_counts(train) >= 1)
    assert_partition(d, train, test)
