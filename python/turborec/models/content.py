"""Content-based filtering: items are described by features, users by the items they rated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from .._validation import as_csr, check_param_int
from ..similarity import _prepare, neighbours, topk_similarity
from ._baselines import entry_rows, means
from ._rows import ReplacedRows
from .base import Recommender

CONTENT_METRICS = ("cosine", "binary_cosine", "tfidf", "bm25", "dot")


@dataclass(frozen=True)
class _Live:
    """Everything a call reads, published as one object (see turborec.models.base)."""

    seen: ReplacedRows
    user_mean: np.ndarray  # (n_users,) float32
    profiles: ReplacedRows  # (n_users, n_features) sum_j w_uj v_j
    vectors: sp.csr_matrix  # (n_items, n_features) weighted, unit-length item vectors
    operand: object  # SparseOperand of the vectors, for recommend


class ContentKNN(Recommender):
    """Content-based recommendations from an items x features matrix (see :mod:`turborec.features`).

    Item vectors are the feature rows after the ``metric``'s weighting (implicit's TF-IDF / BM25
    for ``"tfidf"`` / ``"bm25"``, nothing for ``"cosine"``, binary for ``"binary_cosine"``), scaled to
    unit length (not for ``"dot"``), so the similarity of two items is :func:`turborec.topk_similarity`'s
    with that metric. A user's profile is the weighted sum of the vectors of the items they rated,
    with mean-centred weights w_uj = r_uj - mean_u (``center=True``; a user whose weights are all
    zero -- one rating, all ratings equal, implicit data -- gets weights 1).

    - ``recommend(u)`` ranks items by profile_u . v_i = sum_j w_uj s(j, i): every item with
      features is a candidate, including items nobody has rated (cold start). Users without
      ratings get no candidates (ids -1), like an empty profile.
    - ``predict(u, i)`` = mean_u + sum_j s_ij (r_uj - mean_u) / sum_j s_ij over the k items j the
      user rated that are most similar to i (positive similarities only; ``center=False``:
      sum_j s_ij r_uj / sum_j s_ij); mean_u when none is similar, the global mean for users
      without ratings. Clipped to the training ratings' range (``clip``).
    - ``similar_items`` are the top-k items by that similarity; ``similar_users`` by the cosine of
      the profiles.

    ``partial_fit_users`` folds users in: their mean and profile are recomputed from the new rows
    (items fixed).

    ``fit(R, item_features=F)``: F is a :class:`turborec.features.Features` (an Interactions R is
    widened to its rows by ``F.extend(R)`` when it has cold-start rows) or a sparse matrix with one
    row per item of R. Items without features have empty rows and are never recommended.
    """

    _saved_attributes = ("item_features_", "feature_names_", "user_mean_", "global_mean_", "rating_range_")
    scores_cold_items = True  # Hybrid: this model's scores mean something for items nobody rated

    def __init__(self, k=40, *, metric="cosine", center=True, clip=True, n_threads=0):
        self.k = k
        self.metric = metric
        self.center = center
        self.clip = clip
        self.n_threads = n_threads

    def _validate_params(self):
        check_param_int(self.k, "k", 1)
        if self.metric not in CONTENT_METRICS:
            raise ValueError(f"metric must be one of {CONTENT_METRICS}, got {self.metric!r}")
        for name in ("center", "clip"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def fit(self, R, item_features=None):
        """Fit on R (CSR users x items or an Interactions) with ``item_features`` (required)."""
        from ..data import Interactions
        from ..features import Features

        self._validate_params()
        if item_features is None:
            raise ValueError("item_features is required: ContentKNN recommends from the items' features")
        if isinstance(item_features, Features):
            if isinstance(R, Interactions) and item_features.n_known == R.n_items and item_features.n_new:
                R = item_features.extend(R)
            names = item_features.names
            item_features = item_features.matrix
        else:
            names = None
        F = as_csr(item_features, "item_features")
        n_items = R.n_items if isinstance(R, Interactions) else R.shape[1]
        if F.shape[0] != n_items:
            raise ValueError(f"item_features must have one row per item of R ({n_items}), got {F.shape[0]} rows")
        if (F.data < 0).any() and self.metric in ("tfidf", "bm25"):
            raise ValueError(f"item_features: metric {self.metric!r} needs non-negative feature values")
        names = np.asarray(names if names is not None else [f"f{j}" for j in range(F.shape[1])], dtype=str)
        return super().fit(R, item_features=F, feature_names=names)

    def _fit(self, R, item_features, feature_names):
        self.item_features_, self.feature_names_ = item_features, feature_names
        self.global_mean_ = float(R.data.mean()) if R.nnz else 0.0
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)
        self._publish_fitted(R, means(R, axis=1, fill=self.global_mean_).astype(np.float32))

    def _publish_fitted(self, R, user_mean):
        """Item vectors, rating weights and user profiles from the fitted state, then publish."""
        A, _, _, _, _ = _prepare(self.item_features_, None, self.metric, self._n_threads)
        A = A.astype(np.float32)
        A.sort_indices()
        profiles = self._profiles_of(R, user_mean, A)
        operand = _kernels.sparse_operand(A, scale=None, n_threads=self._n_threads)
        self._publish(_Live(seen=ReplacedRows(R), user_mean=user_mean, profiles=ReplacedRows(profiles), vectors=A,
                            operand=operand))

    def _profiles_of(self, R, user_mean, vectors):
        profiles = (self._rating_weights(R, user_mean) @ vectors).tocsr().astype(np.float32)
        profiles.sort_indices()
        return profiles

    def _rating_weights(self, R, user_mean):
        W = R.astype(np.float32, copy=True)
        if self.center:
            rows = entry_rows(R)
            W.data -= user_mean[rows]
            lens = np.diff(R.indptr)
            nonzero = np.bincount(rows[W.data != 0], minlength=R.shape[0])
            flat = (lens > 0) & (nonzero == 0)  # all weights zero: rank by what they have, equally
            W.data[flat[rows]] = 1.0
        W.eliminate_zeros()
        return W

    # ---- persistence ---------------------------------------------------------------------------

    def _saved_state(self, live):
        return {"user_items_": live.seen.matrix(), "item_features_": self.item_features_,
                "feature_names_": self.feature_names_, "user_mean_": live.user_mean, "global_mean_": self.global_mean_,
                "rating_range_": self.rating_range_}

    def _from_saved(self, state):
        R = state["user_items_"]
        F = state["item_features_"]
        if not sp.issparse(F) or F.shape[0] != R.shape[1]:
            raise ValueError(f"item_features_ must be a sparse matrix with {R.shape[1]} rows, got "
                             f"{getattr(F, 'shape', None)}")
        names, user_mean = np.asarray(state["feature_names_"]), np.asarray(state["user_mean_"])
        if names.shape != (F.shape[1],) or names.dtype.kind != "U":
            raise ValueError(f"feature_names_ must be {F.shape[1]} strings, got shape {names.shape}")
        if user_mean.shape != (R.shape[0],) or user_mean.dtype != np.float32:
            raise ValueError(f"user_mean_ must be float32 of shape ({R.shape[0]},), got {user_mean.dtype} "
                             f"{user_mean.shape}")
        self.item_features_ = as_csr(F, "item_features_")
        self.feature_names_ = names
        self.global_mean_ = float(state["global_mean_"])
        self.rating_range_ = tuple(float(v) for v in state["rating_range_"])
        self._publish_fitted(R, user_mean)

    # ---- using the model -----------------------------------------------------------------------

    def _predict(self, live, users, items):
        out = np.empty(users.size, np.float32)
        V = live.vectors
        k = int(self.k)
        order = np.argsort(users, kind="stable")
        bounds = np.flatnonzero(np.diff(users[order])) + 1
        for group in np.split(order, bounds) if users.size else []:
            u = int(users[group[0]])
            row = live.seen.rows(np.array([u]))
            if row.nnz == 0:
                out[group] = self.global_mean_
                continue
            base = float(live.user_mean[u])
            rated, r = row.indices, row.data.astype(np.float64)
            targets = items[group]
            S = (V[targets] @ V[rated].T).toarray()  # (targets, rated)
            S[targets[:, None] == rated[None, :]] = 0.0  # an item does not vote for itself
            S[S < 0] = 0.0
            if k < rated.size:
                cut = -np.partition(-S, k - 1, axis=1)[:, k - 1:k]
                S[S < cut] = 0.0  # the k most similar (all of a tie at the cut: deterministic)
            den = S.sum(axis=1)
            if self.center:
                num = S @ (r - base)
                out[group] = base + np.divide(num, den, out=np.zeros_like(num), where=den > 0)
            else:
                num = S @ r
                out[group] = np.divide(num, den, out=np.full_like(num, base), where=den > 0)
        if self.clip and self.rating_range_ != (0.0, 0.0):
            np.clip(out, *self.rating_range_, out=out)
        return out

    def _recommend(self, live, users, k, exclude_seen, candidates):
        queries = live.profiles.rows(users)
        exclude = live.seen.rows(users) if exclude_seen else None
        return _kernels.sparse_topk(queries, operand=live.operand, k=k, exclude=exclude, candidates=candidates,
                                    n_threads=self._n_threads)

    def _similar_items(self, live, items, k):
        S = topk_similarity(self.item_features_[items], k + 1, Y=self.item_features_, metric=self.metric,
                            n_threads=self._n_threads)
        return _without_self(S, items, k)

    def _similar_users(self, live, users, k):
        profiles = live.profiles.matrix()
        S = topk_similarity(profiles[users], k + 1, Y=profiles, metric="cosine", n_threads=self._n_threads)
        return _without_self(S, users, k)

    def _fold_in(self, live, users, rows):
        mean = means(rows, axis=1, fill=self.global_mean_).astype(np.float32)
        n_users = live.user_mean.size
        new_n = max(n_users, int(users.max(initial=-1)) + 1)
        user_mean = np.concatenate([live.user_mean, np.full(new_n - n_users, self.global_mean_, np.float32)])
        user_mean[users] = mean
        profiles = self._profiles_of(rows, user_mean[users], live.vectors)
        return _Live(seen=live.seen.replace(users, rows), user_mean=user_mean,
                     profiles=live.profiles.replace(users, profiles), vectors=live.vectors, operand=live.operand)

    @property
    def item_vectors(self) -> sp.csr_matrix:
        """(n_items, n_features) weighted, unit-length item vectors the scores are made of."""
        self._check_fitted()
        return self._live.vectors

    @property
    def user_profiles(self) -> sp.csr_matrix:
        """(n_users, n_features) sum_j w_uj v_j."""
        self._check_fitted()
        return self._live.profiles.matrix()

    @property
    def user_mean_(self) -> np.ndarray:
        """(n_users,) each user's mean rating (the global mean for users without ratings)."""
        self._check_fitted()
        return self._live.user_mean


def _without_self(S, rows, k):
    """Best-first (ids, scores) of each row of S with the row's own index removed."""
    ids, scores = neighbours(S, None, k=k + 1)
    out_ids = np.full((len(rows), k), -1, dtype=np.int32)
    out_scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for r, row in enumerate(rows):
        keep = (ids[r] != row) & (ids[r] >= 0)
        n = min(k, int(keep.sum()))
        out_ids[r, :n] = ids[r][keep][:n]
        out_scores[r, :n] = scores[r][keep][:n]
    return out_ids, out_scores
