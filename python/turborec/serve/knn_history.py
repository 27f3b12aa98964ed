"""Recommendations for a neighbourhood model from a history the model was not fitted on.

Used for users whose feedback the service folded in when the model has no ``partial_fit_users``:
the same scores as the model's ``recommend`` computed from the public fitted attributes --
ItemKNN: sum over the user's items j of r_uj * s_ji (row @ similarity_); UserKNN: sum over the
user's nearest users v of s_uv * r_vi, with the neighbours found by topk_similarity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import turborec


def scores(model, row: sp.csr_matrix) -> np.ndarray:
    """Dense (n_items,) float32 scores for one history row (1 x n_items CSR)."""
    if isinstance(model, turborec.ItemKNN):
        return np.asarray((row @ model.similarity_).todense(), dtype=np.float32).ravel()
    if isinstance(model, turborec.UserKNN):
        if row.nnz == 0:
            return np.zeros(model.n_items, np.float32)
        sims = turborec.topk_similarity(row, int(model.k), Y=model.user_items_, metric=model.metric,
                                        shrinkage=model.shrinkage, min_support=model.min_support)
        return np.asarray((sims @ model.user_items_).todense(), dtype=np.float32).ravel()
    raise TypeError(f"no history scorer for {type(model).__name__}")


def recommend(model, row: sp.csr_matrix, k: int, *, exclude_seen: bool, candidates: np.ndarray | None):
    """(ids int32 (k,), scores float32 (k,)) best first, padded with -1 / -inf like recommend()."""
    s = scores(model, row)
    if candidates is not None:
        masked = np.full_like(s, -np.inf)
        masked[candidates] = s[candidates]
        s = masked
        valid = np.zeros(s.size, bool)
        valid[candidates] = True
    else:
        valid = np.ones(s.size, bool)
    if exclude_seen:
        valid[row.indices] = False
    s = np.where(valid, s, -np.inf).astype(np.float32)
    excluded = sp.csr_matrix(~valid[None, :])
    ids, sc = turborec.topk(s[None, :], k, exclude=excluded)
    return ids[0], sc[0]
