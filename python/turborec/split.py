"""Train/test splits of interaction data: random, per user, leave-k-out, temporal and k-fold.

Every split takes an :class:`~turborec.data.Interactions` (or, where no timestamps are needed, a
bare scipy.sparse matrix) and returns ``(train, test)`` of the same kind with the same shape and
id spaces, so a model fitted on ``train`` scores ``test`` directly. Splits are deterministic given
``seed`` and vectorised (one sort over the entries; no per-user Python loops).

By default train and test partition the data: every stored interaction is in exactly one of them.
``remove_unseen`` drops test interactions whose user and/or item has no train interaction (cold
start), which breaks the partition on purpose.
"""

from __future__ import annotations

import datetime
import numbers

import numpy as np
import scipy.sparse as sp

from ._validation import as_csr, check_int
from .data import Interactions

_REMOVE_UNSEEN = (None, "users", "items", "both")


# ---- argument checks ------------------------------------------------------------------------------

def _as_interactions(data):
    """(Interactions, was_sparse_matrix)."""
    if isinstance(data, Interactions):
        return data, False
    if sp.issparse(data):
        m = as_csr(data, "data")
        ids_u = np.arange(m.shape[0], dtype=np.int64)
        ids_i = np.arange(m.shape[1], dtype=np.int64)
        return Interactions._new(m, ids_u, ids_i, None), True
    raise TypeError(f"data must be an Interactions or a scipy.sparse matrix, got {type(data).__name__}")


def _check_fraction(f, name="test_fraction") -> float:
    if isinstance(f, bool) or not isinstance(f, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1), got {type(f).__name__}")
    f = float(f)
    if not 0.0 < f < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {f}")
    return f



def _check_remove_unseen(remove_unseen):
    if remove_unseen not in _REMOVE_UNSEEN:
        raise ValueError(f"remove_unseen must be one of {_REMOVE_UNSEEN}, got {remove_unseen!r}")
    return remove_unseen


def _rng(seed):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as e:
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {seed!r}") from e


def _timestamps(inter: Interactions, was_sparse: bool, func: str) -> np.ndarray:
    if inter.timestamps is None:
        hint = " (a bare sparse matrix has none)" if was_sparse else ""
        raise ValueError(f"{func} needs timestamps: data has no timestamps{hint}; build it with "
                         "Interactions.from_*(..., timestamp=...)")
    return inter.timestamps.data


# ---- shared machinery -----------------------------------------------------------------------------

def _finish(inter: Interactions, test: np.ndarray, remove_unseen, was_sparse: bool):
    """Split the entries by the boolean test mask (CSR order); optionally drop cold test entries."""
    train_mask = ~test
    if remove_unseen is not None and test.any():
        keep = np.ones(int(np.count_nonzero(test)), dtype=bool)
        if remove_unseen in ("users", "both"):
            kept_before = np.concatenate(([0], np.cumsum(train_mask, dtype=np.int64)))
            seen_u = np.diff(kept_before[inter.matrix.indptr]) > 0
            keep &= seen_u[inter._entry_rows()[test]]
        if remove_unseen in ("items", "both"):
            seen_i = np.bincount(inter.matrix.indices[train_mask], minlength=inter.n_items) > 0
            keep &= seen_i[inter.matrix.indices[test]]
        test = test.copy()
        test[np.flatnonzero(test)[~keep]] = False
    train, tst = inter._take(train_mask), inter._take(test)
    if was_sparse:
        return train.matrix, tst.matrix
    return train, tst


def _rank_within_users(inter: Interactions, rng=None, timestamps=None) -> np.ndarray:
    """Each entry's 0-based rank inside its user's entries: in a random order (rng) or by time.

    Ties in time are broken by item index. Vectorised: one sort over all entries.
    """
    nnz = inter.nnz
    rows = inter._entry_rows()
    if nnz == 0:
        return np.empty(0, dtype=np.int64)
    if timestamps is None:
        # Pack (row, random bits, position) into one int64 and sort it: much faster than lexsort.
        pos_bits = max(int(nnz - 1).bit_length(), 1)
        row_bits = max(int(inter.n_users - 1).bit_length(), 1)
        rand_bits = min(62 - pos_bits - row_bits, 30)
        if rand_bits >= 16:
            key = rows << (rand_bits + pos_bits)
            key |= rng.integers(0, 1 << rand_bits, size=nnz, dtype=np.int64) << pos_bits
            key |= np.arange(nnz, dtype=np.int64)
            key.sort()
            order = key & ((1 << pos_bits) - 1)
        else:  # pragma: no cover - only for astronomically large matrices
            order = np.lexsort((rng.random(nnz), rows))
    else:
        order = None
        if timestamps.dtype.kind == "i":
            t0 = int(timestamps.min())
            span = int(timestamps.max()) - t0 + 1
            if span * inter.n_users < 2**62:  # one int64 key (row, time): a stable argsort beats lexsort
                key = rows * span + (timestamps - t0)
                order = np.argsort(key, kind="stable")  # stable: equal times keep item order
        if order is None:
            order = np.lexsort((timestamps, rows))
    # Sorting by row first keeps every user's block in place, so rows[order] == rows.
    rank = np.empty(nnz, dtype=np.int64)
    rank[order] = np.arange(nnz, dtype=np.int64) - inter.matrix.indptr[rows].astype(np.int64)
    return rank


# ---- the splits -----------------------------------------------------------------------------------

def random_split(data, test_fraction=0.2, seed=None, *, remove_unseen=None):
    """Put a random ``test_fraction`` of all interactions in test.

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
        A sparse matrix gives sparse matrices back (canonical float32 CSR).
    test_fraction : float in (0, 1)
        Exactly ``round(test_fraction * nnz)`` interactions go to test.
    seed : int, numpy Generator or None
        Same seed, same split.
    remove_unseen : {None, "users", "items", "both"}
        Drop test interactions whose user / item / either has no interaction in train.

    Returns
    -------
    (train, test) : same type as ``data``, same shape and id spaces.
    """
    inter, was_sparse = _as_interactions(data)
    f = _check_fraction(test_fraction)
    _check_remove_unseen(remove_unseen)
    rng = _rng(seed)
    nnz = inter.nnz
    n_test = int(np.floor(f * nnz + 0.5))
    test = np.zeros(nnz, dtype=bool)
    test[rng.choice(nnz, size=n_test, replace=False)] = True
    return _finish(inter, test, remove_unseen, was_sparse)


def per_user_split(data, test_fraction=0.2, seed=None, min_train=1, *, remove_unseen=None):
    """Hold out a random ``test_fraction`` of each user's interactions.

    A user with ``n`` interactions gets ``min(round(test_fraction * n), n - min_train)`` (at least
    0) of them in test, so every user keeps at least ``min_train`` interactions in train (all of
    them if it has no more than ``min_train``). Users with few interactions may get none in test.

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
    test_fraction : float in (0, 1)
    seed : int, numpy Generator or None
    min_train : int >= 0
    remove_unseen : {None, "users", "items", "both"}
        Every user with test interactions has train ones, so only items can be unseen here.

    Returns
    -------
    (train, test) : same type as ``data``.
    """
    inter, was_sparse = _as_interactions(data)
    f = _check_fraction(test_fraction)
    min_train = check_int(min_train, "min_train", 0)
    _check_remove_unseen(remove_unseen)
    rng = _rng(seed)
    counts = np.diff(inter.matrix.indptr).astype(np.int64)
    n_test = np.minimum(np.floor(f * counts + 0.5).astype(np.int64), np.maximum(counts - min_train, 0))
    rank = _rank_within_users(inter, rng)
    test = rank < n_test[inter._entry_rows()]
    return _finish(inter, test, remove_unseen, was_sparse)


def leave_k_out(data, k=1, seed=None, *, min_train=1, remove_unseen=None):
    """Hold out ``k`` random interactions of every user that has at least ``k + min_train``.

    Users with fewer interactions keep them all in train (and have nothing in test).

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
    k : int >= 1
    seed : int, numpy Generator or None
    min_train : int >= 0
    remove_unseen : {None, "users", "items", "both"}

    Returns
    -------
    (train, test) : same type as ``data``.
    """
    inter, was_sparse = _as_interactions(data)
    k = check_int(k, "k", 1)
    min_train = check_int(min_train, "min_train", 0)
    _check_remove_unseen(remove_unseen)
    rng = _rng(seed)
    counts = np.diff(inter.matrix.indptr).astype(np.int64)
    eligible = counts >= k + min_train
    rank = _rank_within_users(inter, rng)
    test = (rank < k) & eligible[inter._entry_rows()]
    return _finish(inter, test, remove_unseen, was_sparse)


def _as_time(cutoff, ts: np.ndarray):
    """A cutoff comparable with the timestamps; datetimes become Unix seconds."""
    if isinstance(cutoff, np.datetime64):
        return (cutoff - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s")
    if isinstance(cutoff, datetime.datetime):
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=datetime.timezone.utc)
        return cutoff.timestamp()
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real):
        raise TypeError(f"cutoff must be a number (same unit as the timestamps) or a datetime, "
                        f"got {type(cutoff).__name__}")
    if np.isnan(cutoff):
        raise ValueError("cutoff must not be NaN")
    return cutoff


def temporal_split(data, cutoff=None, test_fraction=None, *, remove_unseen=None):
    """Split at one global point in time: test is every interaction at or after the cutoff.

    Give exactly one of ``cutoff`` and ``test_fraction``.

    Parameters
    ----------
    data : Interactions with timestamps
    cutoff : number or datetime, optional
        Interactions with ``timestamp >= cutoff`` go to test, the rest to train. Datetimes are
        compared as Unix seconds (naive ones taken as UTC), matching datetime columns loaded by
        ``Interactions.from_*``.
    test_fraction : float in (0, 1), optional
        Put the latest ``test_fraction`` of interactions in test: the cutoff is the timestamp of
        the ``round(test_fraction * nnz)``-th latest interaction (a quantile), and interactions
        tied with it also go to test, so test can be slightly larger.
    remove_unseen : {None, "users", "items", "both"}

    Returns
    -------
    (train, test) : Interactions; every train timestamp is earlier than every test timestamp.
    """
    inter, was_sparse = _as_interactions(data)
    ts = _timestamps(inter, was_sparse, "temporal_split")
    _check_remove_unseen(remove_unseen)
    if (cutoff is None) == (test_fraction is None):
        raise ValueError("give exactly one of cutoff and test_fraction")
    if cutoff is not None:
        test = ts >= _as_time(cutoff, ts)
    else:
        f = _check_fraction(test_fraction)
        nnz = ts.size
        n_test = int(np.floor(f * nnz + 0.5))
        if n_test == 0:
            test = np.zeros(nnz, dtype=bool)
        else:
            t = np.partition(ts, nnz - n_test)[nnz - n_test]
            test = ts >= t
    return _finish(inter, test, remove_unseen, was_sparse)


def temporal_leave_k_out(data, k=1, *, min_train=1, remove_unseen=None):
    """Hold out each user's latest ``k`` interactions (by timestamp).

    Users with fewer than ``k + min_train`` interactions keep them all in train. Equal timestamps
    are ordered by item index (the higher index counts as later), so the result is deterministic.

    Parameters
    ----------
    data : Interactions with timestamps
    k : int >= 1
    min_train : int >= 0
    remove_unseen : {None, "users", "items", "both"}

    Returns
    -------
    (train, test) : Interactions; for each user, every test timestamp is >= every train one.
    """
    inter, was_sparse = _as_interactions(data)
    ts = _timestamps(inter, was_sparse, "temporal_leave_k_out")
    k = check_int(k, "k", 1)
    min_train = check_int(min_train, "min_train", 0)
    _check_remove_unseen(remove_unseen)
    counts = np.diff(inter.matrix.indptr).astype(np.int64)
    rows = inter._entry_rows()
    rank = _rank_within_users(inter, timestamps=ts)
    c = counts[rows]
    test = (rank >= c - k) & (c >= k + min_train)
    return _finish(inter, test, remove_unseen, was_sparse)


def kfold(data, n_folds=5, seed=None, *, remove_unseen=None):
    """K-fold cross-validation over interactions: yields ``(train, test)`` for each fold.

    The interactions are randomly partitioned into ``n_folds`` folds whose sizes differ by at most
    one; each fold is the test set once, so every interaction is in exactly one test fold (before
    any ``remove_unseen``).

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
    n_folds : int >= 2 (and <= nnz)
    seed : int, numpy Generator or None
    remove_unseen : {None, "users", "items", "both"}

    Returns
    -------
    generator of (train, test), same type as ``data``.
        Arguments are checked at the call, before the first fold is produced.
    """
    inter, was_sparse = _as_interactions(data)
    n_folds = check_int(n_folds, "n_folds", 2)
    if n_folds > inter.nnz:
        raise ValueError(f"n_folds ({n_folds}) must not exceed the number of interactions ({inter.nnz})")
    _check_remove_unseen(remove_unseen)
    rng = _rng(seed)
    fold = np.empty(inter.nnz, dtype=np.int32 if n_folds < 2**31 else np.int64)
    fold[rng.permutation(inter.nnz)] = np.arange(inter.nnz) % n_folds

    def folds():
        for f in range(n_folds):
            yield _finish(inter, fold == f, remove_unseen, was_sparse)

    return folds()


def cold_start_split(data, test_fraction=0.2, seed=None, *, axis="items", warm_test_fraction=0.0):
    """Hold out a random ``test_fraction`` of the items (``axis="items"``) or users with all their
    interactions: in train they are cold (no interactions), in test they hold everything they had.
    ``warm_test_fraction`` > 0 also puts that random fraction of the other interactions in test,
    so warm items (users) can be evaluated from the same split.

    Only items (users) with at least one interaction are drawn, ``round(test_fraction * n)`` of
    them. Shapes and id spaces stay the same, so a model fitted on train is asked about the held-out
    items (users) as ones nobody has rated yet (it has never seen them). Use
    :func:`turborec.evaluation.evaluate_cold_start` to score warm and cold items separately.

    Returns
    -------
    (train, test) : same type as ``data``.
    """
    inter, was_sparse = _as_interactions(data)
    f = _check_fraction(test_fraction)
    if axis not in ("items", "users"):
        raise ValueError(f"axis must be 'items' or 'users', got {axis!r}")
    rng = _rng(seed)
    entry_of = inter.matrix.indices if axis == "items" else inter._entry_rows()
    n = inter.n_items if axis == "items" else inter.n_users
    active = np.flatnonzero(np.bincount(entry_of, minlength=n) > 0)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(active, size=int(np.floor(f * active.size + 0.5)), replace=False)] = True
    test = held[entry_of]
    if warm_test_fraction:
        w = _check_fraction(warm_test_fraction, "warm_test_fraction")
        rest = np.flatnonzero(~test)
        test[rng.choice(rest, size=int(np.floor(w * rest.size + 0.5)), replace=False)] = True
    return _finish(inter, test, None, was_sparse)
