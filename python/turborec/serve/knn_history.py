"""Recommendations for a neighbourhood model from a history the model was not fitted on.

Used for users whose feedback the service folded in when the model has no ``partial_fit_users``:
the scores of the model's ``recommend`` computed from its public fitted attributes -- ItemKNN:
sum over the user's items j of r_uj * s_ji (``row @ similarity_``); UserKNN: sum over the user's
nearest users v of s_uv * r_vi, the neighbours found by ``topk_similarity`` keeping as many as the
model stores per user. As in ``recommend``, only items some neighbour links to are candidates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import turborec


def scores(model, row: sp.csr_matrix) -> sp.csr_matrix:
    """1 x n_items sparse scores of one history row (1 x n_items CSR); stored entries are the candidates."""
    if isinstance(model, turborec.ItemKNN):
        return sp.csr_matrix(row @ model.similarity_)
    if isinstance(model, turborec.UserKNN):
        if row.nnz == 0:
            return sp.csr_matrix((1, model.n_items), dtype=np.float32)
        stored = max(int(np.diff(model.similarity_.indptr).max(initial=0)), 1)
        sims = turborec.topk_similarity(row, stored, Y=model.user_items_, metric=model.metric,
                                        shrinkage=model.shrinkage, min_support=model.min_support)
        return sp.csr_matrix(sims @ model.user_items_)
    raise TypeError(f"no history scorer for {type(model).__name__}")


def recommend(model, row: sp.csr_matrix, k: int, *, exclude_seen: bool, candidates: np.ndarray | None):
    """(ids int32 (k,), scores float32 (k,)) best first, padded with -1 / -inf like recommend()."""
    s = scores(model, row)
    s.sum_duplicates()
    valid = np.zeros(model.n_items, bool)
    valid[s.indices] = True
    if candidates is not None:
        allowed = np.zeros(model.n_items, bool)
        allowed[candidates] = True
        valid &= allowed
    if exclude_seen:
        valid[row.indices] = False
    dense = np.zeros(model.n_items, np.float32)
    dense[s.indices] = s.data
    ids, sc = turborec.topk(dense[None, :], k, exclude=sp.csr_matrix(~valid[None, :]))
    return ids[0], sc[0]
