"""The popularity baseline: the same most-interacted items for everybody (minus what they have)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import _kernels
from ._rows import ReplacedRows
from ._dense import recommend_dense
from .base import Recommender


@dataclass(frozen=True)
class _Live:
    seen: ReplacedRows
    items: object  # PackedItems of one column of ones, biased by popularity: recommend is topk_dot


class Popularity(Recommender):
    """Recommends the items with the most training interactions; predicts each item's mean value.

    The baseline every personalised model must beat. ``recommend`` ranks by the number of users
    who have the item (ties by lower item index), excluding each user's own items; ``predict``
    gives the item's mean rating (the global mean for items nobody rated). ``similar_items`` and
    ``similar_users`` are not defined for it (NotImplementedError).

    Parameters
    ----------
    n_threads : int
        0 = all available cores.
    """

    _saved_attributes = ("popularity_", "item_mean_", "global_mean_")

    def __init__(self, *, n_threads=0):
        self.n_threads = n_threads

    def _fit(self, R):
        n_items = R.shape[1]
        counts = np.bincount(R.indices, minlength=n_items)
        sums = np.bincount(R.indices, weights=R.data, minlength=n_items)
        self.global_mean_ = float(R.data.mean()) if R.nnz else 0.0
        self.item_mean_ = np.divide(sums, counts, out=np.full(n_items, self.global_mean_),
                                    where=counts > 0).astype(np.float32)
        self.popularity_ = counts.astype(np.float32)
        self._publish_fitted(R)

    def _publish_fitted(self, R):
        ones = np.ones((self.popularity_.size, 1), np.float32)
        # Scores are 0 * 1 + popularity: the fused top-k kernel does the selection and exclusion.
        packed = _kernels.pack_items(np.zeros_like(ones), item_bias=self.popularity_, n_threads=self._n_threads)
        self._publish(_Live(seen=ReplacedRows(R), items=packed))

    def _saved_state(self, live):
        return {"user_items_": live.seen.matrix(), "popularity_": self.popularity_, "item_mean_": self.item_mean_,
                "global_mean_": self.global_mean_}

    def _from_saved(self, state):
        R = state["user_items_"]
        for name in ("popularity_", "item_mean_"):
            a = state[name]
            if getattr(a, "shape", None) != (R.shape[1],) or a.dtype != np.float32:
                raise ValueError(f"{name} must be float32 of shape ({R.shape[1]},), got {getattr(a, 'shape', None)}")
        self.popularity_, self.item_mean_ = state["popularity_"], state["item_mean_"]
        self.global_mean_ = float(state["global_mean_"])
        self._publish_fitted(R)

    def _predict(self, live, users, items):
        return self.item_mean_[items].copy()

    def _recommend(self, live, users, k, exclude_seen, candidates):
        # Scores are 0 * 1 + popularity: the fused top-k kernel does the selection and exclusion.
        zeros = np.zeros((self.popularity_.size, 1), np.float32)
        return recommend_dense(np.ones((users.size, 1), np.float32), live.items, live.seen, users, k, exclude_seen,
                               candidates, zeros, self.popularity_, self._n_threads)

    def _fold_in(self, live, users, rows):
        # Popularity itself is a property of the training data; a fold-in only updates what the
        # users have (so it is excluded from their lists).
        return replace(live, seen=live.seen.replace(users, rows))
