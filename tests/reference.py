"""Straightforward numpy references the kernels are tested against."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def topk_reference(scores: np.ndarray, k: int, exclude: sp.spmatrix | None = None):
    """Sort each row by (score descending, id ascending); drop excluded and NaN; pad with -1/-inf."""
    scores = np.asarray(scores, dtype=np.float64)
    n, m = scores.shape
    mask = np.ones((n, m), dtype=bool)
    if exclude is not None:
        ex = sp.csr_matrix(exclude)
        ex.sum_duplicates()
        rows = np.repeat(np.arange(n), np.diff(ex.indptr))
        mask[rows, ex.indices] = False
    ids = np.full((n, k), -1, dtype=np.int32)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    for r in range(n):
        cand = np.flatnonzero(mask[r])
        order = np.lexsort((cand, -scores[r, cand]))[:k]
        ids[r, : order.size] = cand[order]
        out[r, : order.size] = scores[r, cand[order]]
    return ids, out
