"""Neighbourhood collaborative filtering: ItemKNN ("items like this one") and UserKNN ("users like you")."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _core, _sparse
from ..similarity import METRICS, neighbours, topk_similarity
from .._validation import check_ids
from ._baselines import als_baselines, means
from .base import Recommender

VARIANTS = ("basic", "mean", "baseline")
_VARIANT_CODE = {"basic": 0, "mean": 1, "baseline": 2}


class Explanation(NamedTuple):
    """Why a neighbourhood model scores (user, item) as it does, strongest contribution first.

    neighbours: the items (ItemKNN) or users (UserKNN) the user rated / who rated the item and that
    are linked to the target; similarities: the link used by ``recommend``; ratings: the value each
    carries; weights: similarity x rating, the contribution to the recommendation score;
    used_for_prediction: whether it is among the k voters of ``predict``; score: the
    recommendation score (sum of weights, equal to ``recommend``'s); prediction: ``predict``;
    prediction_similarities: the links ``predict`` uses (the target's own neighbour list).
    """

    neighbours: np.ndarray
    similarities: np.ndarray
    ratings: np.ndarray
    weights: np.ndarray
    used_for_prediction: np.ndarray
    score: float
    prediction: float
    prediction_similarities: np.ndarray


class _NeighbourhoodModel(Recommender):
    """Shared machinery; subclasses say whether targets are items or users."""

    _item_based: bool
    _saved_attributes = ("similarity_", "global_mean_", "user_bias_", "item_bias_", "user_mean_", "item_mean_",
                         "rating_range_")
    _caches = ("_operand",)

    def __init__(self, k=40, *, metric="cosine", shrinkage=0.0, min_support=1, variant="mean", min_k=1,
                 max_neighbours=None, clip=True, n_threads=0):
        self.k = k
        self.metric = metric
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.variant = variant
        self.min_k = min_k
        self.max_neighbours = max_neighbours
        self.clip = clip
        self.n_threads = n_threads

    def _check_params(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"k must be an int >= 1, got {self.k!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if isinstance(self.min_k, bool) or not isinstance(self.min_k, (int, np.integer)) or self.min_k < 0:
            raise ValueError(f"min_k must be an int >= 0, got {self.min_k!r}")
        if self.max_neighbours is not None and (not isinstance(self.max_neighbours, (int, np.integer))
                                                or self.max_neighbours < self.k):
            raise ValueError(f"max_neighbours must be None or an int >= k ({self.k}), got {self.max_neighbours!r}")

    def _validate_params(self):
        self._check_params()

    def _fit(self, R):
        self._check_params()
        targets = self._views(R)
        n_targets = targets.shape[0]
        # Prediction picks the k best among the neighbours the other side has rated, so more than
        # k neighbours are kept per target (Surprise keeps all of them, in a dense n x n matrix).
        stored = self.max_neighbours or min(max(n_targets - 1, 1), max(10 * int(self.k), 200))
        self.similarity_ = topk_similarity(targets, stored, metric=self.metric, shrinkage=self.shrinkage,
                                           min_support=self.min_support, n_threads=self._n_threads)
        self.global_mean_, self.user_bias_, self.item_bias_ = als_baselines(R)
        self.user_mean_ = means(R, axis=1, fill=float(self.global_mean_))
        self.item_mean_ = means(R, axis=0, fill=float(self.global_mean_))
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)

    def _views(self, R):
        """Keep the ratings with targets as rows and with the other side as rows (the voters'
        view); returns the former."""
        targets = R.T.tocsr() if self._item_based else R
        targets.sort_indices()
        self._targets = targets
        self._others = R if self._item_based else targets.T.tocsr()
        self._others.sort_indices()
        self._operand = None
        return targets

    def _after_load(self):
        super()._after_load()
        n_targets = self.n_items if self._item_based else self.n_users
        if self.similarity_.shape != (n_targets, n_targets):
            raise ValueError(f"similarity_ has shape {self.similarity_.shape}, expected {(n_targets, n_targets)}")
        for name, n in (("user_bias_", self.n_users), ("user_mean_", self.n_users), ("item_bias_", self.n_items),
                        ("item_mean_", self.n_items)):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        self._views(self.user_items_)

    # ---- prediction -------------------------------------------------------------------------

    def _predict(self, users, items):
        predictions, _ = self._predict_with_counts(users, items)
        return predictions

    def _predict_with_counts(self, users, items):
        if self._item_based:
            targets, others = items, users
            target_mean, target_bias, other_bias = self.item_mean_, self.item_bias_, self.user_bias_
        else:
            targets, others = users, items
            target_mean, target_bias, other_bias = self.user_mean_, self.user_bias_, self.item_bias_
        S, M = _sparse.csr_tuples(self.similarity_, self._others)
        out, used = _core.knn_predict(S, M, targets, others, int(self.k), int(self.min_k), _VARIANT_CODE[self.variant],
                                      target_mean, float(self.global_mean_), target_bias, other_bias, self._n_threads)
        if self.clip:
            np.clip(out, *self.rating_range_, out=out)
        return out, used

    # ---- recommendation ---------------------------------------------------------------------

    def _recommend(self, users, k, exclude, candidates):
        if self._operand is None:
            # Candidates are the items; their "features" are what A's rows are made of.
            y = self.similarity_.T.tocsr() if self._item_based else self._others
            y.sort_indices()
            self._operand = _core.SparseOperand(_sparse.csr_tuples(y)[0], None, self._n_threads)
        A = self.user_items_[users] if self._item_based else self.similarity_[users]
        A.sort_indices()
        a, ex = _sparse.csr_tuples(A, exclude, values=(True, False))
        return _core.sparse_topk(a, self._operand, ex, k, False, 1, 0.0, None, False, None, None, candidates,
                                 self._n_threads)

    # ---- neighbours -------------------------------------------------------------------------

    def _own_neighbours(self, rows, k):
        return neighbours(self.similarity_, rows, k=k)

    def _other_neighbours(self, rows, k):
        """Similarity on the other side, computed on demand for just these rows."""
        matrix = self._others
        S = topk_similarity(matrix[rows], k + 1, Y=matrix, metric=self.metric, shrinkage=self.shrinkage,
                            min_support=self.min_support, n_threads=self._n_threads)
        ids, scores = neighbours(S, None, k=k + 1)
        out_ids = np.full((len(rows), k), -1, dtype=np.int32)
        out_scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
        for r, row in enumerate(rows):
            keep = (ids[r] != row) & (ids[r] >= 0)
            n = min(k, int(keep.sum()))
            out_ids[r, :n] = ids[r][keep][:n]
            out_scores[r, :n] = scores[r][keep][:n]
        return out_ids, out_scores

    # ---- explanations -----------------------------------------------------------------------

    def explain(self, user, item) -> Explanation:
        """The neighbours behind the scores of (user, item), strongest contribution first.

        The recommendation score and the rating prediction read the graph from two sides when it
        is not symmetric (each item keeps only its own top neighbours): ItemKNN's ``recommend``
        sums r_uj * s(j -> i) over the user's items j that list i among their neighbours, while
        ``predict`` votes with i's own neighbours s(i -> j). ``similarities`` and ``weights`` are
        the recommendation side; ``prediction_similarities`` and ``used_for_prediction`` the other.
        """
        self._check_fitted()
        user = int(check_ids(user, "user", self.n_users)[0])
        item = int(check_ids(item, "item", self.n_items)[0])
        target, other = (item, user) if self._item_based else (user, item)
        S = self.similarity_
        row_sims = _row_dict(S, target)  # the target's own neighbours: predict's voters
        # recommend: ItemKNN scores i through the neighbour lists of the user's items (column i)
        score_sims = _row_dict(S[:, [target]].T.tocsr(), 0) if self._item_based else row_sims
        rated = self._others[other]  # what `other` rated (ItemKNN) / who rated the item (UserKNN)
        related = np.fromiter(set(row_sims) | set(score_sims), dtype=np.int64)
        ids = rated.indices[np.isin(rated.indices, related) & (rated.indices != target)]
        ratings = rated.data[np.isin(rated.indices, ids)].astype(np.float32)
        similarities = np.array([score_sims.get(j, 0.0) for j in ids], dtype=np.float32)
        pred_sims = np.array([row_sims.get(j, 0.0) for j in ids], dtype=np.float32)
        weights = similarities * ratings
        voters = np.flatnonzero(pred_sims > 0)
        voters = voters[np.lexsort((ids[voters], -pred_sims[voters]))][: int(self.k)]
        used = np.zeros(ids.size, dtype=bool)
        used[voters] = True
        order = np.lexsort((ids, -weights))
        prediction = float(self._predict(np.array([user], np.int32), np.array([item], np.int32))[0])
        return Explanation(ids[order].astype(np.int32), similarities[order], ratings[order], weights[order], used[order],
                           float(weights.sum()), prediction, pred_sims[order])


def _row_dict(S, r) -> dict:
    lo, hi = S.indptr[r], S.indptr[r + 1]
    return dict(zip(S.indices[lo:hi].tolist(), S.data[lo:hi].tolist()))


class ItemKNN(_NeighbourhoodModel):
    """Item-based collaborative filtering.

    ``fit`` computes each item's most similar items (:func:`turborec.topk_similarity` on the
    item x user matrix, keeping ``max_neighbours`` per item: default max(10 k, 200)).

    ``predict(u, i)`` votes with the k items most similar to i that u has rated (positive
    similarities only), like Surprise's KNNBasic / KNNWithMeans / KNNBaseline
    (``variant="basic" | "mean" | "baseline"``; formulas in turborec/cpp/include/turborec/knn.hpp):
    basic r = sum s r / sum s; mean adds back the item means; baseline the ALS baselines
    mu + b_u + b_i. With fewer than ``min_k`` voters -- and for users or items without ratings --
    the prediction falls back to the baseline (basic, baseline) or the item mean (mean), never an
    exception. Predictions are clipped to the training ratings' range unless ``clip=False``.

    ``recommend(u)`` ranks items by sum over u's items j of r_uj * s_ji (implicit's
    ItemItemRecommender score), batched in C++ with the sparse top-k engine.
    """

    _item_based = True

    def _similar_items(self, items, k):
        return self._own_neighbours(items, k)

    def _similar_users(self, users, k):
        return self._other_neighbours(users, k)


class UserKNN(_NeighbourhoodModel):
    """User-based collaborative filtering ("users like you liked ...").

    The mirror image of :class:`ItemKNN`: neighbours are users (similarity on the user x item
    matrix); ``predict(u, i)`` votes with the k users most similar to u who rated i; the ``mean``
    variant adds back user means; ``recommend(u)`` ranks items by sum over u's neighbours v of
    s_uv * r_vi.
    """

    _item_based = False

    def _similar_users(self, users, k):
        return self._own_neighbours(users, k)

    def _similar_items(self, items, k):
        return self._other_neighbours(items, k)
