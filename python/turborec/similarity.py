"""All-pairs top-k similarity between the rows of sparse matrices.

Item-item similarity is :func:`topk_similarity` on the item x user matrix (``R.T``), user-user on the
user x item matrix, content-based on an item x feature matrix. The similarity matrix is never formed:
each row of the product is accumulated in a per-thread dense buffer and reduced to its top k at once,
so memory is O(n_threads * n_cols + nnz + output).

Metrics, for rows x (of X) and y (of Y) with stored entries over columns c; n(x, y) is the number of
columns both rows store (their *support*):

``dot``            sum_c x_c y_c
``cosine``         dot(x, y) / (|x| |y|)
``binary_cosine``  n(x, y) / sqrt(n(x) n(y))  -- co-occurrences over the norms; values ignored
``jaccard``        n(x, y) / (n(x) + n(y) - n(x, y)); values ignored
``pearson``        cosine after centring each row by its own mean (over its stored entries)
``adjusted_cosine`` cosine after centring each column by its mean: for item-item on ratings, each
                   rating minus its user's mean (the classic item-based CF similarity)
``bm25``/``tfidf`` cosine after implicit's BM25 / TF-IDF weighting (:func:`bm25_weight`,
                   :func:`tfidf_weight`); implicit's BM25Recommender itself ranks by the unnormalised
                   dot product: ``topk_similarity(bm25_weight(X), k, metric="dot")`` reproduces it.

Only pairs sharing a column where both values are nonzero (after weighting or centring) are
candidates, and the support n(x, y) used by ``shrinkage``, ``min_support`` and ``jaccard`` counts
those columns. Rows whose vector is zero after weighting (e.g. a single rating, centred) have no
neighbours and are nobody's neighbour. Statistics the weighting needs (column means, document
frequencies) come from X, or from X and Y together when Y is given.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._threads import effective_threads
from ._validation import as_csr, check_finite_scores, check_k, is_finite_real

METRICS = ("cosine", "binary_cosine", "adjusted_cosine", "pearson", "jaccard", "dot", "bm25", "tfidf")


def _values_from(m: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """The same pattern with new values (never touching m's arrays)."""
    out = sp.csr_matrix((data.astype(np.float32, copy=False), m.indices, m.indptr), shape=m.shape, copy=False)
    out.has_canonical_format = True
    return out


def _row_sums(m: sp.csr_matrix) -> np.ndarray:
    """Row sums in float64 (a float32 sum of large values would overflow)."""
    return np.bincount(_row_of_entries(m), weights=m.data.astype(np.float64), minlength=m.shape[0])


def _row_of_entries(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def _finite_norms(m: sp.csr_matrix, name: str, n_threads: int) -> np.ndarray:
    """Row norms; a norm beyond float32 (values near its limit) would silently zero the row."""
    norm = _kernels.row_norms(m, n_threads=n_threads)
    if norm.size and not np.isfinite(norm).all():
        raise ValueError(f"{name}: row norms overflow float32 (values up to {float(np.abs(m.data).max()):g}); "
                         "scale the values down")
    return norm


def normalize_rows(m: sp.csr_matrix, n_threads: int = 1, name: str = "X") -> sp.csr_matrix:
    """Rows scaled to unit L2 norm; zero rows become empty rows (no neighbours)."""
    norm = _finite_norms(m, name, n_threads)
    keep_rows = norm > 0
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=keep_rows).astype(np.float32)
    out = _values_from(m, _kernels.scale_rows(m, scale=inv, n_threads=n_threads))
    if not keep_rows.all():
        out = _drop_rows(out, ~keep_rows)
    return out


def _drop_rows(m: sp.csr_matrix, drop: np.ndarray) -> sp.csr_matrix:
    """Empty the given rows, keeping the shape."""
    keep = ~drop[_row_of_entries(m)]
    counts = np.bincount(_row_of_entries(m)[keep], minlength=m.shape[0])
    indptr = np.zeros(m.shape[0] + 1, dtype=m.indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape, copy=False)
    out.has_canonical_format = True
    return out


def bm25_weight(X, K1: float = 100.0, B: float = 0.8, *, _stats=None, _name="X") -> sp.csr_matrix:
    """implicit's BM25 weighting of a rows-as-documents matrix (its ``bm25_weight``, same defaults).

    w = x (K1 + 1) / (K1 ((1 - B) + B * len_row / mean_len) + x) * idf_col,
    idf_col = log(n_rows) - log1p(n_rows storing col), len_row = sum of the row's values.
    """
    X = as_csr(X, _name)
    if (X.data < 0).any():
        raise ValueError(f"{_name}: bm25 needs non-negative values")
    n_docs, df, mean_len = _stats if _stats is not None else (X.shape[0], np.bincount(X.indices, minlength=X.shape[1]),
                                                             None)
    idf = np.log(max(n_docs, 1)) - np.log1p(df)
    row_sums = _row_sums(X)
    if mean_len is None:
        mean_len = row_sums.mean() if row_sums.size else 1.0
    length_norm = (1.0 - B) + B * row_sums / (mean_len if mean_len > 0 else 1.0)
    rows = _row_of_entries(X)
    x = X.data.astype(np.float64)  # float32 products of large values would overflow
    data = x * (K1 + 1.0) / (K1 * length_norm[rows] + x) * idf[X.indices]
    if data.size and not np.isfinite(data).all():
        raise ValueError(f"{_name}: bm25 weights overflowed (values too large); scale them down")
    return _values_from(X, data)


def tfidf_weight(X, *, _stats=None, _name="X") -> sp.csr_matrix:
    """implicit's TF-IDF weighting: w = sqrt(x) * (log(n_rows) - log1p(n_rows storing col))."""
    X = as_csr(X, _name)
    n_docs, df = _stats if _stats is not None else (X.shape[0], np.bincount(X.indices, minlength=X.shape[1]))
    idf = np.log(max(n_docs, 1)) - np.log1p(df)
    if (X.data < 0).any():
        raise ValueError(f"{_name}: tfidf needs non-negative values")
    return _values_from(X, np.sqrt(X.data) * idf[X.indices])


def _prepare(X, Y, metric, n_threads):
    """(A, Yw, scale, a_sizes, y_sizes) for `metric`: scores = scale[j] * A[i] . Yw[j].

    Statistics come from X and Y together. Cosine-type metrics normalise A's rows and leave Y's
    norms to `scale`, so binary data keeps binary values (the kernel then skips them). Exact zeros
    are dropped: a pair is linked only by a column where both values are nonzero.
    """
    both = X if Y is None else sp.vstack([X, Y], format="csr")
    mats = [X] if Y is None else [X, Y]
    if metric in ("binary_cosine", "jaccard"):
        mats = [_values_from(m, np.ones_like(m.data)) for m in mats]
    elif metric == "adjusted_cosine":
        sums = np.bincount(both.indices, weights=both.data, minlength=both.shape[1])
        counts = np.bincount(both.indices, minlength=both.shape[1])
        col_mean = np.divide(sums, counts, out=np.zeros(both.shape[1]), where=counts > 0)
        mats = [_values_from(m, m.data - col_mean[m.indices]) for m in mats]
    elif metric == "pearson":
        out = []
        for m in mats:
            rows = _row_of_entries(m)
            lens = np.diff(m.indptr)
            sums = np.bincount(rows, weights=m.data, minlength=m.shape[0])
            mean = np.divide(sums, lens, out=np.zeros(m.shape[0]), where=lens > 0)
            out.append(_values_from(m, m.data - mean[rows]))
        mats = out
    elif metric == "bm25":
        row_sums = _row_sums(both)
        stats = (both.shape[0], np.bincount(both.indices, minlength=both.shape[1]), row_sums.mean() if row_sums.size else 1.0)
        mats = [bm25_weight(m, _stats=stats, _name=name) for m, name in zip(mats, "XY")]
    elif metric == "tfidf":
        stats = (both.shape[0], np.bincount(both.indices, minlength=both.shape[1]))
        mats = [tfidf_weight(m, _stats=stats, _name=name) for m, name in zip(mats, "XY")]
    mats = [_without_zeros(m) for m in mats]
    A = mats[0]
    Yw = A if Y is None else mats[1]
    scale = a_sizes = y_sizes = None
    if metric not in ("dot", "jaccard"):
        A = normalize_rows(A, n_threads, "X")
        norm = _finite_norms(Yw, "X" if Y is None else "Y", n_threads)
        scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0).astype(np.float32)
    if metric == "jaccard":
        a_sizes = np.diff(A.indptr).astype(np.float32)
        y_sizes = np.diff(Yw.indptr).astype(np.float32)
    return A, Yw, scale, a_sizes, y_sizes


def _without_zeros(m: sp.csr_matrix) -> sp.csr_matrix:
    if m.data.size == 0 or np.all(m.data != 0):
        return m
    out = m.copy()
    out.eliminate_zeros()
    return out


def topk_similarity(X, k, *, Y=None, metric="cosine", shrinkage=0.0, min_support=1, threshold=None,
                    include_self=False, n_threads=0) -> sp.csr_matrix:
    """Top-k most similar rows of Y (default: X itself) for every row of X.

    Parameters
    ----------
    X : scipy.sparse matrix (n_x, n_cols)
        Any sparse format; converted to canonical CSR float32 on a copy if needed. No NaN/inf.
    k : int >= 1
        Neighbours kept per row, capped at the number of candidate rows (n_y, or n_x - 1 when a
        row may not be its own neighbour; at least 1).
    Y : scipy.sparse matrix (n_y, n_cols), optional
        Candidates to compare against (a second catalogue). Default: X.
    metric : str
        One of ``METRICS`` (module docstring has the formulas).
    shrinkage : float >= 0
        Multiplies each score by n / (n + shrinkage), n = shared columns: damps pairs with little support.
    min_support : int >= 1
        Drops pairs sharing fewer than this many columns.
    threshold : float, optional
        Drops scores below it. Default keeps everything, negative scores included.
    include_self : bool
        When Y is None, whether a row may be its own neighbour.
    n_threads : int
        0 (default) = all available cores. Results do not depend on it.

    Returns
    -------
    scipy.sparse.csr_matrix (n_x, n_y), float32, canonical (columns sorted), at most k entries per
    row: the neighbours and their scores. Rows best-first order: ``turborec.similarity.neighbours``.
    """
    check_k(k)  # the type and sign now; capped at the candidates once their count is known
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not is_finite_real(shrinkage) or shrinkage < 0:
        raise ValueError(f"shrinkage must be a finite number >= 0, got {shrinkage!r}")
    if isinstance(min_support, bool) or not isinstance(min_support, numbers.Integral) or min_support < 1:
        raise ValueError(f"min_support must be an int >= 1, got {min_support!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                  or np.isnan(float(threshold))):
        raise ValueError(f"threshold must be a number or None, got {threshold!r}")
    n_threads = effective_threads(n_threads)
    X = as_csr(X, "X", n_threads=n_threads)
    if Y is not None:
        Y = as_csr(Y, "Y", n_threads=n_threads)
        if Y.shape[1] != X.shape[1]:
            raise ValueError(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
    n_y = X.shape[0] if Y is None else Y.shape[0]
    if n_y >= np.iinfo(np.int32).max or X.shape[1] >= np.iinfo(np.int32).max:
        raise ValueError("at most 2^31 - 2 rows and columns are supported")
    k = check_k(k, n_candidates=n_y - (1 if Y is None and not include_self else 0))
    A, Yw, scale, a_sizes, y_sizes = _prepare(X, Y, metric, n_threads)
    operand = _kernels.sparse_operand(Yw, scale=scale, n_threads=n_threads)
    ids, scores = _kernels.sparse_topk(
        A, operand=operand, k=k, jaccard=metric == "jaccard", min_support=int(min_support), shrinkage=float(shrinkage),
        threshold=None if threshold is None else float(threshold), exclude_diagonal=Y is None and not include_self,
        query_sizes=a_sizes, candidate_sizes=y_sizes, n_threads=n_threads)
    check_finite_scores(ids, scores, f"topk_similarity(metric={metric!r})")
    return _kernels.padded_to_csr(ids, scores, n_cols=n_y, n_threads=n_threads)


def neighbours(similarity: sp.csr_matrix, rows=None, k=None):
    """Rows of a similarity matrix as best-first ``(ids, scores)`` arrays, padded like :func:`turborec.topk`."""
    S = as_csr(similarity, "similarity")
    rows = np.arange(S.shape[0]) if rows is None else np.atleast_1d(np.asarray(rows))
    width = int(np.diff(S.indptr).max(initial=0)) if k is None else check_k(k)
    width = max(width, 1)
    sub = S[rows]
    ids = np.full((len(rows), width), -1, dtype=np.int32)
    out = np.full((len(rows), width), -np.inf, dtype=np.float32)
    for r in range(len(rows)):
        b, e = sub.indptr[r], sub.indptr[r + 1]
        order = np.lexsort((sub.indices[b:e], -sub.data[b:e]))[:width]
        ids[r, : order.size] = sub.indices[b:e][order]
        out[r, : order.size] = sub.data[b:e][order]
    return ids, out
