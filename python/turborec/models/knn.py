"""Neighbourhood collaborative filtering: ItemKNN ("items like this one") and UserKNN ("users like you")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from ..similarity import METRICS, neighbours, topk_similarity
from .._validation import check_finite_scores, check_ids, check_param_int
from ._baselines import als_baselines, means
from ._rows import ReplacedRows
from .base import Recommender

VARIANTS = ("basic", "mean", "baseline")


def _neighbour_count(v) -> int:
    """k / min_k for the kernel: any count beyond int32 means every neighbour (there are fewer)."""
    return min(int(v), 2**31 - 1)


@dataclass(frozen=True)
class _Live:
    """Everything a call reads, published as one object (see turborec.models.base).

    Targets are what the similarity links (items for ItemKNN, users for UserKNN); "others" the
    other side. Fold-in replaces a user's rows in ``seen`` (and, for UserKNN, their neighbour
    list in ``similarity``) and their mean and bias; the rest is shared with the previous state.
    """

    seen: ReplacedRows  # users x items: the training matrix, fold-ins included
    similarity: ReplacedRows  # targets x fitted targets: each row the target's neighbours
    fitted: sp.csr_matrix  # the training matrix as fitted, targets as rows (what similarity ranges over)
    voters: sp.csr_matrix | None  # UserKNN: items x fitted users, who votes on an item (ItemKNN: seen's rows)
    operand: object  # the candidates of recommend, prepared once (SparseOperand)
    user_mean: np.ndarray
    user_bias: np.ndarray


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
        check_param_int(self.k, "k", 1)
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        check_param_int(self.min_k, "min_k", 0)
        if self.max_neighbours is not None:  # a bool is no count: refused like everywhere else
            try:
                check_param_int(self.max_neighbours, "max_neighbours", int(self.k))
            except ValueError:
                raise ValueError(f"max_neighbours must be None or an int >= k ({self.k}), "
                                 f"got {self.max_neighbours!r}") from None

    def _validate_params(self):
        self._check_params()

    def _fit(self, R):
        by_target = R.T.tocsr() if self._item_based else R
        by_target.sort_indices()
        n_targets = by_target.shape[0]
        # Prediction picks the k best among the neighbours the other side has rated, so more than
        # k neighbours are kept per target (Surprise keeps all of them, in a dense n x n matrix).
        stored = self.max_neighbours or min(max(n_targets - 1, 1), max(10 * int(self.k), 200))
        similarity = topk_similarity(by_target, stored, metric=self.metric, shrinkage=self.shrinkage,
                                     min_support=self.min_support, n_threads=self._n_threads)
        self.global_mean_, user_bias, self.item_bias_ = als_baselines(R)
        user_mean = means(R, axis=1, fill=float(self.global_mean_))
        self.item_mean_ = means(R, axis=0, fill=float(self.global_mean_))
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)
        self._publish_fitted(R, similarity, user_mean, user_bias)

    def _publish_fitted(self, R, similarity, user_mean, user_bias):
        fitted = R.T.tocsr() if self._item_based else R
        fitted.sort_indices()
        voters = None if self._item_based else _sorted(R.T.tocsr())
        # recommend's candidates are the items; their "features" are what a query row is made of:
        # ItemKNN scores sum_j r_uj s(j -> i) (the similarity's columns), UserKNN sum_v s_uv r_vi.
        y = _sorted(similarity.T.tocsr()) if self._item_based else voters
        operand = _kernels.sparse_operand(y, scale=None, n_threads=self._n_threads)
        self._publish(_Live(seen=ReplacedRows(R), similarity=ReplacedRows(similarity), fitted=fitted, voters=voters,
                            operand=operand, user_mean=user_mean, user_bias=user_bias))

    @property
    def similarity_(self) -> sp.csr_matrix:
        """The neighbour lists: targets x targets (items for ItemKNN, users for UserKNN), canonical CSR."""
        self._check_fitted()
        live = self._live
        return _with_cols(live.similarity.matrix(), live.similarity.shape[0])

    @property
    def user_mean_(self) -> np.ndarray:
        self._check_fitted()
        return self._live.user_mean

    @property
    def user_bias_(self) -> np.ndarray:
        self._check_fitted()
        return self._live.user_bias

    def _saved_state(self, live):
        S = _with_cols(live.similarity.matrix(), live.similarity.shape[0])
        return {"user_items_": live.seen.matrix(), "similarity_": S,
                "global_mean_": self.global_mean_, "user_bias_": live.user_bias, "item_bias_": self.item_bias_,
                "user_mean_": live.user_mean, "item_mean_": self.item_mean_, "rating_range_": self.rating_range_}

    def _from_saved(self, state):
        R = state["user_items_"]
        n_users, n_items = R.shape
        n_targets = n_items if self._item_based else n_users
        S = state["similarity_"]
        if S.shape != (n_targets, n_targets):
            raise ValueError(f"similarity_ has shape {S.shape}, expected {(n_targets, n_targets)}")
        for name, n in (("user_bias_", n_users), ("user_mean_", n_users), ("item_bias_", n_items),
                        ("item_mean_", n_items)):
            if getattr(state[name], "shape", None) != (n,):
                raise ValueError(f"{name} has shape {getattr(state[name], 'shape', None)}, expected ({n},)")
        self.global_mean_, self.item_bias_, self.item_mean_ = state["global_mean_"], state["item_bias_"], \
            state["item_mean_"]
        self.rating_range_ = state["rating_range_"]
        self._publish_fitted(R, S, state["user_mean_"], state["user_bias_"])

    # ---- prediction -------------------------------------------------------------------------

    def _predict(self, live, users, items):
        predictions, _ = self._predict_with_counts(live, users, items)
        return predictions

    def _predict_with_counts(self, live, users, items):
        if self._item_based:
            # Only the rows of the users in the pairs are sent: fold-ins never force a full merge.
            voters, other_pos = np.unique(users, return_inverse=True)
            S = live.similarity.matrix()  # ItemKNN's neighbour lists never change after fit
            M = live.seen.rows(voters)
            targets, target_mean, target_bias = items, self.item_mean_, self.item_bias_
            other_bias = live.user_bias[voters]
        else:
            n_users = live.seen.shape[0]
            S = _with_cols(live.similarity.matrix(), n_users)
            M = _with_cols(live.voters, n_users)
            targets, other_pos = users, items
            target_mean, target_bias, other_bias = live.user_mean, live.user_bias, self.item_bias_
        out, used = _kernels.knn_predict(
            S, M, targets=np.ascontiguousarray(targets, dtype=np.int32),
            others=np.ascontiguousarray(other_pos, dtype=np.int32), k=_neighbour_count(self.k),
            min_k=_neighbour_count(self.min_k),
            variant=self.variant, target_mean=np.ascontiguousarray(target_mean, dtype=np.float32),
            global_mean=float(self.global_mean_), target_bias=np.ascontiguousarray(target_bias, dtype=np.float32),
            other_bias=np.ascontiguousarray(other_bias, dtype=np.float32), n_threads=self._n_threads)
        check_finite_scores(None, out, f"{type(self).__name__}.predict")
        if self.clip:
            np.clip(out, *self.rating_range_, out=out)
        return out, used

    # ---- recommendation ---------------------------------------------------------------------

    def _recommend(self, live, users, k, exclude_seen, candidates):
        exclude = live.seen.rows(users) if exclude_seen else None
        queries = live.seen.rows(users) if self._item_based else live.similarity.rows(users)
        ids, scores = _kernels.sparse_topk(queries, operand=live.operand, k=k, exclude=exclude,
                                           candidates=candidates, n_threads=self._n_threads)
        check_finite_scores(ids, scores, f"{type(self).__name__}.recommend")
        return ids, scores

    # ---- fold-in ------------------------------------------------------------------------------

    def _fold_in(self, live, users, rows):
        seen = live.seen.replace(users, rows)
        n_users = seen.shape[0]
        lengths = np.diff(rows.indptr)
        sums = np.add.reduceat(rows.data, rows.indptr[:-1]) if rows.nnz else np.zeros(users.size)
        sums = np.where(lengths > 0, sums, 0.0)
        user_mean = _grow(live.user_mean, n_users, float(self.global_mean_))
        user_bias = _grow(live.user_bias, n_users, 0.0)
        user_mean[users] = np.where(lengths > 0, sums / np.maximum(lengths, 1), self.global_mean_)
        # The ALS baseline's user step with the items' biases fixed (als_baselines' reg_user = 15).
        residual = np.zeros(users.size)
        if rows.nnz:
            entry_user = np.repeat(np.arange(users.size), lengths)
            residual = np.bincount(entry_user, weights=rows.data - self.global_mean_ - self.item_bias_[rows.indices],
                                   minlength=users.size)
        user_bias[users] = residual / (15.0 + lengths)
        similarity = live.similarity
        if not self._item_based:
            # The users' own neighbour lists, among the fitted users (the candidates recommend can
            # score through). Other users' lists keep their fitted neighbours until the next fit.
            stored = max(int(np.diff(live.similarity.matrix().indptr).max(initial=0)), 1)
            new_rows = topk_similarity(rows, stored + 1, Y=live.fitted, metric=self.metric,
                                       shrinkage=self.shrinkage, min_support=self.min_support,
                                       n_threads=self._n_threads)
            similarity = similarity.replace(users, _drop_self(new_rows, users, stored))
        return replace(live, seen=seen, similarity=similarity, user_mean=user_mean.astype(np.float32),
                       user_bias=user_bias.astype(np.float32))

    # ---- neighbours -------------------------------------------------------------------------

    def _own_neighbours(self, live, rows, k):
        return neighbours(live.similarity.rows(rows), None, k=k)

    def _other_neighbours(self, live, rows, k):
        """Similarity on the other side, computed on demand for just these rows."""
        matrix = live.seen.matrix() if self._item_based else live.voters
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
        live = self._live
        user = int(check_ids(user, "user", live.seen.shape[0])[0])
        item = int(check_ids(item, "item", live.seen.shape[1])[0])
        target, other = (item, user) if self._item_based else (user, item)
        S = _with_cols(live.similarity.matrix(), live.similarity.shape[0])
        row_sims = _row_dict(S, target)  # the target's own neighbours: predict's voters
        # recommend: ItemKNN scores i through the neighbour lists of the user's items (column i)
        score_sims = _row_dict(S[:, [target]].T.tocsr(), 0) if self._item_based else row_sims
        # what `other` rated (ItemKNN) / who rated the item (UserKNN)
        rated = live.seen.rows(np.array([other])) if self._item_based else live.voters[other]
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
        prediction = float(self._predict(live, np.array([user], np.int32), np.array([item], np.int32))[0])
        return Explanation(ids[order].astype(np.int32), similarities[order], ratings[order], weights[order], used[order],
                           float(weights.sum()), prediction, pred_sims[order])


def _sorted(m: sp.csr_matrix) -> sp.csr_matrix:
    m.sort_indices()
    return m


def _with_cols(m: sp.csr_matrix, n_cols: int) -> sp.csr_matrix:
    """The same rows seen with more (empty) columns: no copy of the entries."""
    if m.shape[1] == n_cols:
        return m
    out = sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], n_cols), copy=False)
    out.has_canonical_format = True
    return out


def _grow(a: np.ndarray, n: int, fill: float) -> np.ndarray:
    """A float64 copy of a, extended to n entries with fill."""
    out = np.full(n, fill, dtype=np.float64)
    out[: a.size] = a
    return out


def _drop_self(S: sp.csr_matrix, rows: np.ndarray, k: int) -> sp.csr_matrix:
    """Row t of S without column rows[t] (a user is not their own neighbour), at most k entries kept
    (the best ones)."""
    out_rows = []
    for t, r in enumerate(rows):
        lo, hi = S.indptr[t], S.indptr[t + 1]
        idx, val = S.indices[lo:hi], S.data[lo:hi]
        keep = idx != r
        idx, val = idx[keep], val[keep]
        if idx.size > k:
            best = np.sort(np.lexsort((idx, -val))[:k])
            idx, val = idx[best], val[best]
        out_rows.append((idx, val))
    lengths = np.array([len(i) for i, _ in out_rows], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([i for i, _ in out_rows]) if out_rows else np.empty(0, np.int32)
    data = np.concatenate([v for _, v in out_rows]) if out_rows else np.empty(0, np.float32)
    out = sp.csr_matrix((data.astype(np.float32), indices.astype(np.int32), indptr), shape=(rows.size, S.shape[1]))
    out.has_canonical_format = True
    return out


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

    def _similar_items(self, live, items, k):
        return self._own_neighbours(live, items, k)

    def _similar_users(self, live, users, k):
        return self._other_neighbours(live, users, k)


class UserKNN(_NeighbourhoodModel):
    """User-based collaborative filtering ("users like you liked ...").

    The mirror image of :class:`ItemKNN`: neighbours are users (similarity on the user x item
    matrix); ``predict(u, i)`` votes with the k users most similar to u who rated i; the ``mean``
    variant adds back user means; ``recommend(u)`` ranks items by sum over u's neighbours v of
    s_uv * r_vi.
    """

    _item_based = False

    def _similar_users(self, live, users, k):
        return self._own_neighbours(live, users, k)

    def _similar_items(self, live, items, k):
        return self._other_neighbours(live, items, k)
