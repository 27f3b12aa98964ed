"""Evaluation metrics: rating errors, the ranking quality of top-k lists, catalogue coverage.

Ranking metrics take

- ``recommended``: an int array (n_users, width), each row a user's list best first, as returned
  by :func:`turborec.topk` or a model's ``recommend``; -1 marks an empty slot (padding) and never
  counts as a hit. Only the first ``k`` columns are scored (``k=None``: all of them). A row may not
  list an item twice.
- ``relevant``: a scipy.sparse matrix (n_users, n_items), row ``u`` holding user ``u``'s held-out
  (test) items. Every stored entry is relevant, whatever its value; the values only serve as graded
  gains for NDCG (``gain="linear"`` or ``"exponential"``).

For one user with relevant set R (``n_rel = |R|``), list positions ``i = 1..k``, ``hit_i = 1`` when
the i-th listed item is in R, and ``hits = sum_i hit_i``:

==============  ===================================================================================
precision@k     ``hits / k``. Note: implicit's ``precision_at_k`` divides by ``min(k, n_rel)``
                instead, which makes it a recall-like ratio; this is the textbook precision.
recall@k        ``hits / n_rel``
hit rate@k      ``1`` if ``hits > 0`` else ``0``
MRR@k           reciprocal rank ``1 / (first i with hit_i)``, ``0`` without a hit in the top k
MAP@k           average precision ``(1 / min(k, n_rel)) * sum_{i: hit_i} (hits among 1..i) / i``
NDCG@k          ``DCG / IDCG``; ``DCG = sum_{i: hit_i} g(item_i) / log2(i + 1)``, ``IDCG`` the same sum
                for the best ``min(k, n_rel)`` relevant items in order of gain. Gains ``g``:
                ``"binary"`` 1, ``"linear"`` the stored value, ``"exponential"`` ``2^value - 1``.
AUC             see :func:`auc`
==============  ===================================================================================

A user with no relevant item has no defined value: NaN in per-user results. Means (the default
result) are over the users whose value is defined, i.e. users with at least one relevant item
(and, for AUC, at least one positive and one negative candidate; for graded NDCG, a positive
IDCG); NaN when there is none. The work runs in C++ over users in parallel (``n_threads``; 0 = all
cores) with the GIL released, one pass for every metric (:func:`ranking_metrics`).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._threads import effective_threads
from ._validation import _describe, as_csr, check_k

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr", "auc")
GAINS = ("binary", "linear", "exponential")

# 2^1024 overflows float64: larger exponential gains would turn NDCG into inf / inf.
_MAX_EXPONENTIAL_RELEVANCE = 1023.0


# ---- rating errors -------------------------------------------------------------------------------

def _rating_pair(y_true, y_pred):
    arrays = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if sp.issparse(y):
            raise TypeError(f"{name} must be a dense array, got a scipy.sparse matrix (use its .data)")
        arr = np.asarray(y)
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers, got {_describe(arr)}")
        arrays.append(arr)
    a, b = arrays
    if a.shape != b.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("y_true and y_pred are empty: there is nothing to score")
    for name, arr in (("y_true", a), ("y_pred", b)):
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"{name} must be finite; found {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def rmse(y_true, y_pred) -> float:
    """Root mean squared error ``sqrt(mean((y_true - y_pred)^2))``.

    Parameters
    ----------
    y_true, y_pred : array-like of the same shape
        Real numbers (computed in float64), finite and not empty (ValueError otherwise).

    Returns
    -------
    float
    """
    a, b = _rating_pair(y_true, y_pred)
    d = a - b
    return float(np.sqrt(np.dot(d.ravel(), d.ravel()) / d.size))


def mae(y_true, y_pred) -> float:
    """Mean absolute error ``mean(|y_true - y_pred|)``.

    Parameters
    ----------
    y_true, y_pred : array-like of the same shape
        Real numbers (computed in float64), finite and not empty (ValueError otherwise).

    Returns
    -------
    float
    """
    a, b = _rating_pair(y_true, y_pred)
    return float(np.abs(a - b).mean())


# ---- argument checks of the ranking metrics --------------------------------------------------------

def _check_recommended(recommended) -> np.ndarray:
    """A C-contiguous int32 (n_users, width) array; ids are range-checked by the kernel."""
    if sp.issparse(recommended):
        raise TypeError("recommended must be a dense int array (n_users, k), got a scipy.sparse matrix")
    arr = np.asarray(recommended)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"recommended must hold integer item ids, got {_describe(arr)}")
    if arr.ndim != 2:
        hint = " (use ids[None, :] for a single user)" if arr.ndim == 1 else ""
        raise ValueError(f"recommended must be 2-d (n_users, k), got shape {arr.shape}{hint}")
    if arr.dtype != np.int32:
        if arr.size and (arr.min() < -1 or arr.max() > np.iinfo(np.int32).max):
            bad = arr[(arr < -1) | (arr > np.iinfo(np.int32).max)][0]
            raise ValueError(f"recommended contains {int(bad)}: ids must be item indices, or -1 for padding")
        arr = arr.astype(np.int32)
    return np.ascontiguousarray(arr)


def _check_width(k, width: int) -> int:
    if k is None:
        if width == 0:
            raise ValueError("recommended has no columns: there is no list to score")
        return width
    k = check_k(k)
    if k > width:
        raise ValueError(f"k ({k}) exceeds the width of recommended ({width} columns)")
    return k


def _check_n_items(n_items, at_least: int) -> int:
    if isinstance(n_items, bool) or not isinstance(n_items, numbers.Integral):
        raise TypeError(f"n_items must be an int, got {type(n_items).__name__}")
    n_items = int(n_items)
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, got {n_items}")
    if n_items < at_least:
        raise ValueError(f"n_items ({n_items}) is smaller than the {at_least} columns of relevant")
    if n_items >= np.iinfo(np.int32).max:
        raise ValueError(f"n_items must be < 2^31 - 1, got {n_items}")
    return n_items


def _check_gain(gain) -> str:
    if gain not in GAINS:
        raise ValueError(f"gain must be one of {GAINS}, got {gain!r}")
    return gain


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _check_relevant(relevant, n_users: int, gain: str) -> sp.csr_matrix:
    graded = gain != "binary"
    rel = as_csr(relevant, "relevant", values=graded)
    if rel.shape[0] != n_users:
        raise ValueError(f"relevant must have one row per row of recommended ({n_users}), got shape {rel.shape}")
    if graded and rel.nnz:
        data = rel.data[: rel.indptr[-1]]
        if data.min() < 0:
            raise ValueError(f"relevant must hold non-negative relevance values for gain={gain!r}, found {data.min()}")
        if gain == "exponential" and data.max() > _MAX_EXPONENTIAL_RELEVANCE:
            raise ValueError(f"relevant has a relevance of {data.max()}: 2^rel - 1 overflows beyond "
                             f"{_MAX_EXPONENTIAL_RELEVANCE:g} (use gain='linear')")
    return rel


def _per_user(recommended, relevant, k, names, *, exclude=None, n_items=None, gain="binary",
              dtype=np.float64, n_threads=0):
    """Validated inputs -> ({name: per-user array}, recommended int32, k, n_items) in one kernel call."""
    gain = _check_gain(gain)
    dtype = _check_dtype(dtype)
    rec = _check_recommended(recommended)
    k = _check_width(k, rec.shape[1])
    rel = _check_relevant(relevant, rec.shape[0], gain)
    n_items = rel.shape[1] if n_items is None else _check_n_items(n_items, rel.shape[1])
    ex = None
    if exclude is not None:
        ex = as_csr(exclude, "exclude", shape=(rec.shape[0], n_items), values=False)
    threads = effective_threads(n_threads)
    out = _kernels.ranking_metrics(rec, k=k, relevant=rel, exclude=ex, n_items=n_items, gain=gain, names=names,
                                   dtype=dtype, n_threads=threads)
    return out, rec, k, n_items


def _mean(values: np.ndarray) -> float:
    """Mean over the defined (non-NaN) values; NaN when there is none (no warning)."""
    defined = values[~np.isnan(values)]
    return float(defined.mean(dtype=np.float64)) if defined.size else float("nan")


def _single(name, recommended, relevant, k, per_user, **kwargs):
    out, *_ = _per_user(recommended, relevant, k, (name,), **kwargs)
    return out[name] if per_user else _mean(out[name])


def precision_at_k(recommended, relevant, k=None, *, per_user=False, n_threads=0):
    """Precision@k: the fraction of the k slots holding a relevant item, ``hits / k``.

    Padding (-1) counts as a miss, so a list shorter than k scores at most its length / k, and a
    user with fewer than k relevant items can't reach 1. This is not implicit's ``precision_at_k``,
    which divides by ``min(k, n_relevant)`` and so is really a recall-like ratio.

    Parameters
    ----------
    recommended : int array-like (n_users, width)
        Each row best first; -1 pads. Any integer dtype (converted once to int32).
    relevant : scipy.sparse matrix (n_users, n_items)
        The held-out items of each user (stored entries; values ignored).
    k : int, optional
        Score the first k columns (default: all); must not exceed the width.
    per_user : bool
        Return the per-user float64 array (NaN for users without relevant items) instead of the mean.
    n_threads : int
        0 (default) = every available core.

    Returns
    -------
    float
        Mean over users with at least one relevant item (NaN if none), or with ``per_user=True`` a
        float64 ndarray (n_users,).
    """
    return _single("precision", recommended, relevant, k, per_user, n_threads=n_threads)


def recall_at_k(recommended, relevant, k=None, *, per_user=False, n_threads=0):
    """Recall@k: the fraction of a user's relevant items found in the top k, ``hits / n_relevant``.

    Parameters
    ----------
    recommended, relevant, k, per_user, n_threads
        As in :func:`precision_at_k`.

    Returns
    -------
    float or float64 ndarray (n_users,)
        Mean over users with at least one relevant item, or per-user values (NaN for users without).
    """
    return _single("recall", recommended, relevant, k, per_user, n_threads=n_threads)


def hit_rate_at_k(recommended, relevant, k=None, *, per_user=False, n_threads=0):
    """Hit rate@k: 1 if any of the top k items is relevant, else 0.

    Parameters
    ----------
    recommended, relevant, k, per_user, n_threads
        As in :func:`precision_at_k`.

    Returns
    -------
    float or float64 ndarray (n_users,)
        Mean over users with at least one relevant item, or per-user values (NaN for users without).
    """
    return _single("hit_rate", recommended, relevant, k, per_user, n_threads=n_threads)


def map_at_k(recommended, relevant, k=None, *, per_user=False, n_threads=0):
    """MAP@k: the mean of average precision ``AP = (1 / min(k, n_rel)) * sum_{i: hit_i} precision@i``.

    ``precision@i`` is the fraction of relevant items among the first i slots and the sum runs over
    the positions i (from 1) holding a relevant item; a list with all its ``min(k, n_rel)``
    achievable hits at the top scores 1.

    Parameters
    ----------
    recommended, relevant, k, per_user, n_threads
        As in :func:`precision_at_k`.

    Returns
    -------
    float or float64 ndarray (n_users,)
        Mean over users with at least one relevant item, or per-user AP (NaN for users without).
    """
    return _single("map", recommended, relevant, k, per_user, n_threads=n_threads)


def mrr(recommended, relevant, k=None, *, per_user=False, n_threads=0):
    """MRR: mean reciprocal rank ``1 / i`` of the first relevant item (position i from 1) in the top k.

    A user without a relevant item in the top k scores 0.

    Parameters
    ----------
    recommended, relevant, k, per_user, n_threads
        As in :func:`precision_at_k`.

    Returns
    -------
    float or float64 ndarray (n_users,)
        Mean over users with at least one relevant item, or per-user reciprocal ranks (NaN for
        users without).
    """
    return _single("mrr", recommended, relevant, k, per_user, n_threads=n_threads)


def ndcg_at_k(recommended, relevant, k=None, *, gain="binary", per_user=False, n_threads=0):
    """NDCG@k: ``DCG / IDCG`` with ``DCG = sum_{i: hit_i} g(item_i) / log2(i + 1)`` (positions from 1).

    IDCG is the DCG of the best possible list: the ``min(k, n_relevant)`` relevant items with the
    largest gains, in order of gain. A user whose IDCG is 0 (graded gains, all 0) gets NaN.

    Parameters
    ----------
    recommended, relevant, k, per_user, n_threads
        As in :func:`precision_at_k`.
    gain : {'binary', 'linear', 'exponential'}
        ``g`` of a relevant item: 1 (default; values ignored), its stored value, or
        ``2^value - 1``. Graded values must be >= 0 (and <= 1023 for exponential).

    Returns
    -------
    float or float64 ndarray (n_users,)
        Mean over users with a defined NDCG, or per-user values (NaN where undefined).
    """
    return _single("ndcg", recommended, relevant, k, per_user, gain=gain, n_threads=n_threads)


def auc(recommended, relevant, n_items=None, exclude=None, *, k=None, per_user=False, n_threads=0):
    """AUC of a top-k list over the whole catalogue: P(a positive ranks above a negative).

    A user's candidates are all ``n_items`` items except the ``exclude``-d ones (typically the
    train items). Positives are the relevant candidates, negatives the other candidates. The listed
    candidates rank by position; every candidate missing from the list ranks below all listed ones,
    and they are all tied with each other. Over all (positive, negative) pairs, a pair counts 1
    when the positive ranks higher, 1/2 when tied:

        AUC = ( sum_{listed positive p} (n_neg - negatives listed above p)
                + 1/2 * (unlisted positives) * (unlisted negatives) ) / (n_pos * n_neg)

    A full ranking (k = n_items) gives the classic ROC AUC; a perfect top-k list with every positive
    at the top scores 1, a list of only negatives ``0.5 * (n_neg - listed) / n_neg``. Listed items
    that are excluded are ignored. NaN when a user has no positive or no negative candidate.

    Parameters
    ----------
    recommended : int array-like (n_users, width)
        Each row best first; -1 pads.
    relevant : scipy.sparse matrix (n_users, n_rel_items)
        The held-out items (stored entries).
    n_items : int, optional
        Catalogue size; default ``relevant.shape[1]``. May exceed it (items beyond are never
        relevant); every id must be below it.
    exclude : scipy.sparse matrix (n_users, n_items), optional
        Items that are not candidates for the user (stored entries).
    k : int, optional
        Score the first k columns (default: all).
    per_user : bool
        Per-user float64 values instead of their mean (over users with a defined AUC).
    n_threads : int
        0 (default) = every available core.

    Returns
    -------
    float or float64 ndarray (n_users,)
    """
    return _single("auc", recommended, relevant, k, per_user, n_items=n_items, exclude=exclude, n_threads=n_threads)


def coverage(recommended, n_items, k=None) -> float:
    """Catalogue coverage: distinct items recommended to anyone / ``n_items``.

    Parameters
    ----------
    recommended : int array-like (n_users, width)
        -1 entries (padding) are ignored; every other id must be in ``[0, n_items)``.
    n_items : int >= 1
        Catalogue size.
    k : int, optional
        Only the first k columns (default: all).

    Returns
    -------
    float in [0, 1]
    """
    rec = _check_recommended(recommended)
    n_items = _check_n_items(n_items, 0)
    if k is not None:
        rec = rec[:, : _check_width(k, rec.shape[1])]
    if rec.size and (rec.min() < -1 or rec.max() >= n_items):
        bad = rec[(rec < -1) | (rec >= n_items)][0]
        raise ValueError(f"recommended contains {int(bad)}, outside [0, {n_items}) (only -1 may pad)")
    return _coverage(rec, n_items)


def _coverage(rec: np.ndarray, n_items: int) -> float:
    """coverage() of checked ids: slot 0 of the marks absorbs the -1 padding."""
    seen = np.zeros(n_items + 1, dtype=bool)
    seen[rec.ravel() + 1] = True
    return float(np.count_nonzero(seen[1:]) / n_items)


def ranking_metrics(recommended, relevant, k=None, exclude=None, per_user=False, *, n_items=None, gain="binary",
                    dtype=np.float64, n_threads=0) -> dict:
    """Every ranking metric in one parallel pass over the users.

    Parameters
    ----------
    recommended : int array-like (n_users, width)
        Each row best first; -1 pads. Any integer dtype (converted once to int32).
    relevant : scipy.sparse matrix (n_users, n_rel_items)
        The held-out items of each user (stored entries; values are gains for graded NDCG).
    k : int, optional
        Score the first k columns (default: all); must not exceed the width.
    exclude : scipy.sparse matrix (n_users, n_items), optional
        Items that are no candidates (e.g. each user's train items); used by AUC only.
    per_user : bool
        False (default): means over the users with a defined value, plus ``coverage``.
        True: per-user arrays (NaN where undefined), without ``coverage`` (a catalogue metric:
        see :func:`coverage`).
    n_items : int, optional
        Catalogue size for AUC and coverage; default ``relevant.shape[1]``.
    gain : {'binary', 'linear', 'exponential'}
        NDCG gains (see :func:`ndcg_at_k`).
    dtype : float32 or float64
        Per-user result dtype (computed in float64 either way).
    n_threads : int
        0 (default) = every available core.

    Returns
    -------
    dict
        Keys ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate``, ``mrr``, ``auc`` (the
        formulas in the module docstring and :func:`auc`) and, for means, ``coverage``. Values are
        floats (means) or ndarrays (n_users,).
    """
    out, rec, k, n_items = _per_user(recommended, relevant, k, RANKING_METRICS, exclude=exclude, n_items=n_items,
                                     gain=gain, dtype=dtype, n_threads=n_threads)
    if per_user:
        return {name: out[name] for name in RANKING_METRICS}
    result = {name: _mean(out[name]) for name in RANKING_METRICS}
    result["coverage"] = _coverage(rec[:, :k], n_items)  # ids checked by the kernel
    return result


__all__ = [
    "GAINS",
    "RANKING_METRICS",
    "auc",
    "coverage",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "mrr",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
]
