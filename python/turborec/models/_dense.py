"""Top-k over dense item vectors, shared by the factor models (MF, FeatureMF) and Popularity: the
serving path through the model's cached panels, a per-call path for a restricted candidate set,
and cosine neighbours."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _kernels


def recommend_dense(queries, packed, seen, users, k, exclude_seen, candidates, vectors, bias, n_threads):
    """Top-k of queries @ items.T (+ bias) for `users`, their seen items excluded when asked.

    packed: the model's PackedItems of (vectors, bias), used when every item is a candidate (the
    serving path: exclusion rows go straight to the wire). With a candidate mask only the allowed
    items are packed, for this call.
    """
    if candidates is None:
        exclude = seen.pattern_wire(users) if exclude_seen else None
        return _kernels.topk_dot(queries, items=packed, k=k, exclude=exclude, n_threads=n_threads)
    allowed = np.flatnonzero(candidates)
    if allowed.size == 0:
        return (np.full((users.size, k), -1, np.int32), np.full((users.size, k), -np.inf, np.float32))
    sub_bias = None if bias is None else np.ascontiguousarray(bias[allowed], dtype=np.float32)
    sub_packed = _kernels.pack_items(np.ascontiguousarray(vectors[allowed]), item_bias=sub_bias, n_threads=n_threads)
    exclude = None
    if exclude_seen:
        exclude = seen.rows(users)[:, allowed]
        exclude.sort_indices()
    ids, scores = _kernels.topk_dot(queries, items=sub_packed, k=k, exclude=exclude, n_threads=n_threads)
    return np.where(ids >= 0, allowed[np.maximum(ids, 0)], -1).astype(np.int32), scores


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32, C-contiguous."""
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return np.ascontiguousarray(np.divide(a, norms, out=np.zeros_like(a), where=norms > 0), dtype=np.float32)


def cosine_neighbours(unit_queries, packed_units, rows, k, n_threads):
    """Top-k by cosine of each row's unit vector against packed unit vectors, the row itself excluded."""
    self_pairs = sp.csr_matrix((np.ones(rows.size, np.float32), (np.arange(rows.size), rows)),
                               shape=(rows.size, packed_units.n_items))
    return _kernels.topk_dot(unit_queries, items=packed_units, k=k, exclude=self_pairs, n_threads=n_threads)
