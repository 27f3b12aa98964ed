"""One immutable snapshot of what the service answers from: a model plus its id maps.

Requests read ``holder.state`` once and use only that object, so an answer never mixes two
models; fold-in and hot swap build a new ServingState and publish it with one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .ids import RawIds


@dataclass(frozen=True)
class ServingState:
    model: object
    users: RawIds
    items: RawIds
    version: str  # the model file's identity (name + content hash prefix)
    generation: int  # grows with every publication (fold-in or swap)
    path: str
    loaded_at: float
    popular: np.ndarray  # item indices by training popularity, for the cold-start fallback
    # Neighbourhood models without partial_fit_users: histories folded in by the service itself.
    overlay: dict = field(default_factory=dict)

    def history_row(self, u: int) -> sp.csr_matrix:
        """The user's current interactions as a 1 x n_items row (overlay first, then the model's)."""
        if u in self.overlay:
            return self.overlay[u]
        if u < self.model.n_users:
            return self.model.user_items_[u]
        return sp.csr_matrix((1, self.model.n_items), dtype=np.float32)


def popularity(model) -> np.ndarray:
    counts = np.bincount(model.user_items_.indices, minlength=model.n_items)
    return np.argsort(-counts, kind="stable").astype(np.int32)
