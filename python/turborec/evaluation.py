"""Evaluate a model on a train/test split, or cross-validate it over k folds, into pandas tables.

Rating metrics (``rmse``, ``mae``) compare ``model.predict`` on the test matrix's stored (user,
item) pairs with the stored values. Ranking metrics (see :mod:`turborec.metrics`) score
``model.recommend`` lists for every user with at least one test item against that user's test
items; the lists leave out the user's train items (``exclude_train``), and AUC treats them as no
candidates. Coverage counts the distinct items in those lists over the catalogue.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
import scipy.sparse as sp

from . import metrics as _metrics
from ._validation import as_csr, check_k
from .data import Interactions
from .data._columns import _pandas
from ._validation import check_int
from .split import kfold

RATING_METRICS = ("rmse", "mae")
METRICS = RATING_METRICS + _metrics.RANKING_METRICS + ("coverage",)

# Bounds on the work handed to a model at once: recommend sees at most this many user x item
# scores per call (a dense-scoring model holds that matrix), predict this many pairs.
_RECOMMEND_CELLS = 1 << 24
_PREDICT_PAIRS = 1 << 20


def _matrix(x, name: str) -> sp.csr_matrix:
    if isinstance(x, Interactions):
        return x.matrix
    if sp.issparse(x):
        return as_csr(x, name)
    raise TypeError(f"{name} must be an Interactions or a scipy.sparse matrix, got {type(x).__name__}")


def _check_metrics(metrics) -> tuple[tuple[str, ...], bool]:
    """(names, explicit): None means every metric the model supports."""
    if metrics is None:
        return METRICS, False
    if isinstance(metrics, str):
        metrics = [metrics]
    try:
        names = tuple(metrics)
    except TypeError:
        raise TypeError(f"metrics must be None or a list of metric names, got {type(metrics).__name__}") from None
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {unknown}; choose from {list(METRICS)}")
    if not names:
        raise ValueError("metrics must name at least one metric")
    return tuple(dict.fromkeys(names)), True


def _check_model(model, name="model"):
    for attr in ("fit", "predict", "recommend", "is_fitted"):
        if not hasattr(model, attr):
            raise TypeError(f"{name} must follow turborec's model contract (fit / predict / recommend / "
                            f"is_fitted), got {type(model).__name__} without {attr!r}")


def _check_batch_size(batch_size, n_items: int) -> int:
    if batch_size is None:
        return max(1, _RECOMMEND_CELLS // max(n_items, 1))
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"batch_size must be None or a positive int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def _rating_scores(model, test: sp.csr_matrix, wanted, explicit: bool) -> tuple[dict, float]:
    if not wanted:
        return {}, math.nan
    if test.nnz == 0:
        return {m: math.nan for m in wanted}, math.nan
    users = np.repeat(np.arange(test.shape[0], dtype=np.int32), np.diff(test.indptr))
    items = test.indices
    pred = np.empty(test.nnz, dtype=np.float64)
    start = time.perf_counter()
    try:
        for b in range(0, test.nnz, _PREDICT_PAIRS):
            p = np.asarray(model.predict(users[b: b + _PREDICT_PAIRS], items[b: b + _PREDICT_PAIRS]))
            if p.shape != (min(_PREDICT_PAIRS, test.nnz - b),):
                raise ValueError(f"model.predict returned shape {p.shape} for {min(_PREDICT_PAIRS, test.nnz - b)} pairs")
            pred[b: b + p.shape[0]] = p
    except NotImplementedError:
        if explicit:
            raise TypeError(f"{type(model).__name__} does not implement predict, needed for {list(wanted)}") from None
        return {m: math.nan for m in wanted}, math.nan
    seconds = time.perf_counter() - start
    if not np.isfinite(pred).all():
        raise ValueError(f"{type(model).__name__}.predict returned non-finite scores")
    funcs = {"rmse": _metrics.rmse, "mae": _metrics.mae}
    return {m: funcs[m](test.data[: test.nnz], pred) for m in wanted}, seconds


def _ranking_scores(model, train, test, k, wanted, exclude_train, batch_size, n_threads):
    users = np.flatnonzero(np.diff(test.indptr) > 0).astype(np.int32)
    if not wanted:
        return {}, math.nan, int(users.size)
    rec = np.full((users.size, k), -1, dtype=np.int32)  # recommend's width is min(k, n_items): padded here
    start = time.perf_counter()
    for b in range(0, users.size, batch_size):
        batch = users[b: b + batch_size]
        ids, _ = model.recommend(batch, k, exclude_seen=exclude_train)
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[0] != batch.size or not 1 <= ids.shape[1] <= k:
            raise ValueError(f"model.recommend returned ids of shape {ids.shape} for {batch.size} users and k={k}")
        rec[b: b + batch.size, : ids.shape[1]] = ids
    seconds = time.perf_counter() - start
    if users.size == 0:
        return {m: math.nan for m in wanted}, seconds, 0
    relevant = test[users]
    exclude = train[users] if exclude_train else None
    scores = _metrics.ranking_metrics(rec, relevant, k, exclude=exclude, n_items=train.shape[1], n_threads=n_threads)
    return {m: scores[m] for m in wanted}, seconds, int(users.size)


def evaluate(model, train, test, k=10, metrics=None, *, exclude_train=True, n_threads=0, batch_size=None):
    """Fit (if needed) and score a model on one train/test split.

    Parameters
    ----------
    model : turborec model (``turborec.models.Recommender`` or anything with its contract)
        Fitted on ``train`` here unless ``model.is_fitted`` already (then it must have train's
        shape, and is assumed to have been fitted on ``train``).
    train, test : Interactions or scipy.sparse matrix, same shape (n_users, n_items)
        Typically the two halves of a :mod:`turborec.split`; test holds the held-out interactions.
    k : int >= 1
        List length for the ranking metrics.
    metrics : list of str, optional
        Any of ``rmse``, ``mae``, ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate``,
        ``mrr``, ``auc``, ``coverage``. Default: all; then a model without ``predict`` (raising
        NotImplementedError) gets NaN rating metrics, whereas naming them raises TypeError.
    exclude_train : bool
        Recommend with ``exclude_seen=True`` (the model leaves out the items it was fitted on) and
        don't count train items as AUC candidates. False scores lists that may repeat train items.
    n_threads : int
        Threads for the metric kernels (0 = all cores); the model uses its own setting.
    batch_size : int, optional
        Users per ``recommend`` call; default keeps a call at about 16M user x item scores.

    Returns
    -------
    pandas.DataFrame
        One row: ``model`` (class name), ``k``, ``n_users`` (users with test items, the ranking
        population), ``n_test`` (test interactions), the metrics (means over users with test items,
        see :mod:`turborec.metrics`), then ``fit_seconds`` (NaN when the model came fitted),
        ``predict_seconds`` and ``recommend_seconds`` (NaN when not run).
    """
    pd = _pandas("evaluate")
    _check_model(model)
    names, explicit = _check_metrics(metrics)
    k = check_k(k)
    train_m, test_m = _matrix(train, "train"), _matrix(test, "test")
    if train_m.shape != test_m.shape:
        raise ValueError(f"train and test must have the same shape, got {train_m.shape} and {test_m.shape}")
    if not isinstance(exclude_train, bool):
        raise TypeError(f"exclude_train must be a bool, got {type(exclude_train).__name__}")
    batch_size = _check_batch_size(batch_size, train_m.shape[1])

    fit_seconds = math.nan
    if not model.is_fitted:
        start = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - start
    shape = (getattr(model, "n_users", None), getattr(model, "n_items", None))
    if shape != train_m.shape:
        raise ValueError(f"model is fitted on a {shape} matrix but train has shape {train_m.shape}")

    rating, predict_seconds = _rating_scores(model, test_m, [m for m in names if m in RATING_METRICS], explicit)
    ranking, recommend_seconds, n_users = _ranking_scores(
        model, train_m, test_m, k, [m for m in names if m not in RATING_METRICS], exclude_train, batch_size, n_threads)
    row = {"model": type(model).__name__, "k": k, "n_users": n_users, "n_test": int(test_m.nnz)}
    row.update({m: rating[m] if m in rating else ranking[m] for m in names})
    row.update(fit_seconds=fit_seconds, predict_seconds=predict_seconds, recommend_seconds=recommend_seconds)
    return pd.DataFrame([row])


def cross_validate(factory, data, n_folds=5, k=10, metrics=None, seed=None, *, exclude_train=True, n_threads=0,
                   batch_size=None, folds=None):
    """K-fold cross-validation: a fresh model per fold, fitted on the other folds and scored on it.

    The interactions are split by :func:`turborec.split.kfold` (``seed``), so every interaction is
    in exactly one test fold; each fold is scored by :func:`evaluate`.

    Parameters
    ----------
    factory : callable
        ``factory()`` returns a new unfitted model, e.g. ``lambda: ItemKNN(k=50)`` or
        ``model.clone``.
    data : Interactions or scipy.sparse matrix
    n_folds : int >= 2
        As in :func:`turborec.kfold`. ``folds=`` is accepted as an alias (its old name).
    k, metrics, exclude_train, n_threads, batch_size
        As in :func:`evaluate`.
    seed : int, numpy Generator or None
        Same seed, same folds.

    Returns
    -------
    pandas.DataFrame
        One row per fold (index ``0 .. n_folds-1``, named ``fold``) with :func:`evaluate`'s columns,
        then rows ``mean`` and ``std`` (sample standard deviation, ddof=1) of the numeric columns
        over the folds.
    """
    pd = _pandas("cross_validate")
    if not callable(factory):
        raise TypeError(f"factory must be a callable returning a fresh model, got {type(factory).__name__}")
    if folds is not None:  # the old keyword
        if n_folds != 5:
            raise TypeError("pass n_folds or its alias folds, not both")
        n_folds = folds
    folds = check_int(n_folds, "n_folds", 2)
    _check_metrics(metrics)
    check_k(k)
    rows = []
    for f, (train, test) in enumerate(kfold(data, folds, seed)):
        model = factory()
        _check_model(model, "factory()")
        if model.is_fitted:
            raise ValueError("factory() returned a fitted model: it must build a new one on every call")
        rows.append(evaluate(model, train, test, k, metrics, exclude_train=exclude_train, n_threads=n_threads,
                             batch_size=batch_size))
    table = pd.concat(rows, ignore_index=True)
    table.index = pd.Index(range(folds), name="fold")
    numeric = table.select_dtypes("number")
    summary = pd.DataFrame([numeric.mean(), numeric.std()], index=["mean", "std"])
    summary.insert(0, "model", table["model"].iloc[0])
    out = pd.concat([table, summary[table.columns]])
    out.index.name = "fold"
    return out


__all__ = ["METRICS", "RATING_METRICS", "cross_validate", "evaluate"]


_SEGMENT_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")


def evaluate_cold_start(model, train, test, k=10, metrics=("ndcg", "recall", "precision"), *, n_threads=0,
                        batch_size=None):
    """Ranking quality on warm and cold items separately, after :func:`turborec.split.cold_start_split`.

    Cold items are those without a train interaction. Segment ``"warm"``: each user's test items
    that are warm, ranked among the warm items (train items excluded); segment ``"cold"``: the
    test items that are cold, ranked among the cold items only (the usual cold-start protocol:
    which of the new items will the user like?). A model that cannot score cold items (MF,
    ItemKNN) still returns lists there, so it is measured rather than skipped.

    The model is fitted on ``train`` unless it is already fitted. Returns a pandas.DataFrame with
    one row per segment: ``model``, ``segment``, ``k``, ``n_users`` (users with test items in the
    segment), ``n_items`` (candidates), ``n_test``, the metrics (means over those users, any of
    precision, recall, ndcg, map, hit_rate, mrr), ``fit_seconds`` and ``recommend_seconds``.
    """
    pd = _pandas("evaluate_cold_start")
    _check_model(model)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = tuple(metrics)
    unknown = [m for m in names if m not in _SEGMENT_METRICS]
    if unknown or not names:
        raise ValueError(f"metrics: unknown {unknown or 'none given'}; choose from {list(_SEGMENT_METRICS)}")
    k = check_k(k)
    train_m, test_m = _matrix(train, "train"), _matrix(test, "test")
    if train_m.shape != test_m.shape:
        raise ValueError(f"train and test must have the same shape, got {train_m.shape} and {test_m.shape}")
    batch_size = _check_batch_size(batch_size, train_m.shape[1])
    fit_seconds = math.nan
    if not model.is_fitted:
        start = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - start
    if (model.n_users, model.n_items) != train_m.shape:
        raise ValueError(f"model is fitted on a {(model.n_users, model.n_items)} matrix but train has shape "
                         f"{train_m.shape}")
    warm = np.bincount(train_m.indices, minlength=train_m.shape[1]) > 0
    rows = []
    for segment, in_segment in (("warm", warm), ("cold", ~warm)):
        items = np.flatnonzero(in_segment).astype(np.int32)
        seg_test = test_m.multiply(sp.csr_matrix(in_segment.astype(np.float32)[None, :])).tocsr()
        seg_test.eliminate_zeros()
        users = np.flatnonzero(np.diff(seg_test.indptr) > 0).astype(np.int32)
        row = {"model": type(model).__name__, "segment": segment, "k": k, "n_users": int(users.size),
               "n_items": int(items.size), "n_test": int(seg_test.nnz)}
        seconds = 0.0
        if users.size and items.size:
            rec = np.full((users.size, k), -1, dtype=np.int32)  # recommend's width is min(k, items.size)
            start = time.perf_counter()
            for b in range(0, users.size, batch_size):
                batch = users[b: b + batch_size]
                got = np.asarray(model.recommend(batch, k, exclude_seen=True, items=items)[0])
                rec[b: b + batch.size, : got.shape[1]] = got
            seconds = time.perf_counter() - start
            scores = _metrics.ranking_metrics(rec, seg_test[users], k, n_items=train_m.shape[1], n_threads=n_threads)
            row.update({m: scores[m] for m in names})
        else:
            row.update({m: math.nan for m in names})
        row.update(fit_seconds=fit_seconds, recommend_seconds=seconds)
        rows.append(row)
    return pd.DataFrame(rows)
