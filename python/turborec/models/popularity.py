"""The most popular items for everyone: the baseline every personalised model has to beat."""

from __future__ import annotations

import numpy as np

from ..topk import topk
from .base import Recommender


class Popularity(Recommender):
    """Scores every item by how many users interacted with it in training (ties: lower index first).

    ``recommend`` gives every user the same ranking (minus what they have); ``predict`` returns
    the item's interaction count (a score, not a rating); ``similar_items`` / ``similar_users``
    are the most popular / most active others. Items nobody rated score 0.
    """

    _saved_attributes = ("item_counts_",)

    def __init__(self, n_threads=0):
        self.n_threads = n_threads

    def _fit(self, R):
        self.item_counts_ = np.bincount(R.indices, minlength=R.shape[1]).astype(np.float32)

    def _after_load(self):
        super()._after_load()
        if self.item_counts_.shape != (self.n_items,):
            raise ValueError(f"item_counts_ has shape {self.item_counts_.shape}, expected ({self.n_items},)")

    def _predict(self, users, items):
        return self.item_counts_[items].copy()

    def _recommend(self, users, k, exclude, candidates):
        allowed = np.arange(self.n_items) if candidates is None else np.flatnonzero(candidates)
        scores = np.repeat(self.item_counts_[allowed][None, :], users.size, axis=0)
        sub_exclude = None if exclude is None else exclude[:, allowed]
        ids, out = topk(scores, k, exclude=sub_exclude, n_threads=self._n_threads)
        return np.where(ids >= 0, allowed[np.maximum(ids, 0)], -1).astype(np.int32), out

    def _ranked_others(self, counts, rows, k):
        scores = np.repeat(counts[None, :], rows.size, axis=0)
        scores[np.arange(rows.size), rows] = -np.inf
        return topk(scores, k, n_threads=self._n_threads)

    def _similar_items(self, items, k):
        return self._ranked_others(self.item_counts_, items, k)

    def _similar_users(self, users, k):
        return self._ranked_others(np.diff(self.user_items_.indptr).astype(np.float32), users, k)
