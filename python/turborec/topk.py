"""Row-wise top-k selection: over a dense score matrix, or fused with a matrix product."""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._threads import effective_threads
from ._validation import as_csr, as_float32_array, check_k


def _exclude(exclude, shape, n_threads):
    return None if exclude is None else as_csr(exclude, "exclude", shape=shape, values=False, n_threads=n_threads)


def topk(scores, k, *, exclude=None, n_threads=0):
    """Top-k entries of each row of a dense score matrix.

    Parameters
    ----------
    scores : array-like of shape (n, m)
        float32 preferred; other real dtypes (float64, ints) are converted once to a float32 copy
        (4 * n * m extra bytes), as are non-contiguous arrays. NaN raises ValueError; +inf and
        -inf are ordinary scores (-inf entries rank last but are still returned with their ids).
    k : int >= 1
        Results per row, capped at the number of columns: the output width is ``min(k, m)``
        (at least 1). Rows with fewer candidates than that (excluded entries) are padded.
    exclude : scipy.sparse matrix of shape (n, m), optional
        Its stored positions (values ignored) are never selected, e.g. the items a user has seen.
        Any sparse format; int32 or int64 indptr; non-canonical input is canonicalised on a copy.
    n_threads : int
        0 (default) uses every available core (respecting OMP_NUM_THREADS and CPU quotas).

    Returns
    -------
    ids : int32 ndarray (n, min(k, m))
    scores : float32 ndarray (n, min(k, m))
        Each row best first (score descending, ties by lower id), padded with id -1 and score -inf.
    """
    n_threads = effective_threads(n_threads)
    scores = as_float32_array(scores, "scores", 2)
    k = check_k(k, n_candidates=scores.shape[1])
    exclude = _exclude(exclude, scores.shape, n_threads)
    return _kernels.topk(scores, k=k, exclude=exclude, n_threads=n_threads)


def topk_dot(queries, items, k, *, exclude=None, item_bias=None, n_threads=0):
    """Top-k of ``queries @ items.T (+ item_bias)`` per query, without building the product.

    The product is computed in cache-sized blocks by a SIMD micro-kernel and each block is fed to
    the per-query heaps at once, so memory stays O(n * k + m * d + n_threads * block) instead of the
    O(n * m) of the score matrix: this is the retrieval path of matrix-factorisation ``recommend``.

    Parameters
    ----------
    queries : array-like (n, d) and items : array-like (m, d)
        Real-valued, converted once to float32 copies if needed; must be finite (ValueError
        otherwise). If a score that could enter the top-k overflows float32 (inf or NaN),
        ValueError is raised instead of ranking it.
    k : int >= 1
        Capped at the number of items: the output width is ``min(k, m)`` (at least 1).
    exclude : scipy.sparse matrix (n, m), optional
        Stored positions are never selected (a user's seen items).
    item_bias : array-like (m,), optional
        Added to every query's score of that item; must be finite.
    n_threads : int
        0 (default) = every available core.

    Returns
    -------
    (ids int32 (n, min(k, m)), scores float32 (n, min(k, m))), as :func:`topk`.
    """
    n_threads = effective_threads(n_threads)
    queries = as_float32_array(queries, "queries", 2, finite=True)
    items = as_float32_array(items, "items", 2, finite=True)
    if queries.shape[1] != items.shape[1]:
        raise ValueError(
            f"queries and items must have the same number of columns, got {queries.shape[1]} and {items.shape[1]}"
        )
    if items.shape[0] >= np.iinfo(np.int32).max:
        raise ValueError(f"items: at most 2^31 - 2 rows are supported, got {items.shape[0]}")
    k = check_k(k, n_candidates=items.shape[0])
    if item_bias is not None:
        item_bias = as_float32_array(item_bias, "item_bias", 1, finite=True)
        if item_bias.shape[0] != items.shape[0]:
            raise ValueError(f"item_bias must have shape ({items.shape[0]},), got {item_bias.shape}")
    if queries.shape[1] == 0:  # no factors: every score is the bias; one zero column is equivalent
        queries = np.zeros((queries.shape[0], 1), np.float32)
        items = np.zeros((items.shape[0], 1), np.float32)
    exclude = _exclude(exclude, (queries.shape[0], items.shape[0]), n_threads)
    packed = _kernels.pack_items(items, item_bias=item_bias, n_threads=n_threads)
    return _kernels.topk_dot(queries, items=packed, k=k, exclude=exclude, n_threads=n_threads)
