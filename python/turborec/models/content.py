"""Content-based filtering: items are described by features, users by the items they rated."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _kernels_content as _k
from .._validation import as_csr
from ..similarity import _prepare, neighbours, topk_similarity
from ._baselines import entry_rows, means
from .base import Recommender

CONTENT_METRICS = ("cosine", "binary_cosine", "tfidf", "bm25", "dot")


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

    ``fit(R, item_features=F)``: F is a :class:`turborec.features.Features` (an Interactions R is
    widened to its rows by ``F.extend(R)`` when it has cold-start rows) or a sparse matrix with one
    row per item of R. Items without features have empty rows and are never recommended.
    """

    _saved_attributes = ("item_features_", "feature_names_", "user_mean_", "global_mean_", "rating_range_")
    _caches = ("_operand",)
    scores_cold_items = True  # Hybrid: this model's scores mean something for items nobody rated

    def __init__(self, k=40, *, metric="cosine", center=True, clip=True, n_threads=0):
        self.k = k
        self.metric = metric
        self.center = center
        self.clip = clip
        self.n_threads = n_threads

    def _validate_params(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"k must be an int >= 1, got {self.k!r}")
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
        self.item_features_ = F
        self.feature_names_ = np.asarray(names if names is not None else [f"f{j}" for j in range(F.shape[1])],
                                         dtype=str)
        return super().fit(R)

    def _fit(self, R):
        self.global_mean_ = float(R.data.mean()) if R.nnz else 0.0
        self.user_mean_ = means(R, axis=1, fill=self.global_mean_)
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)
        self._derive()

    def _after_load(self):
        super()._after_load()
        if self.item_features_.shape[0] != self.n_items:
            raise ValueError(f"item_features_ has {self.item_features_.shape[0]} rows, expected {self.n_items}")
        if self.feature_names_.shape != (self.item_features_.shape[1],):
            raise ValueError(f"feature_names_ has shape {self.feature_names_.shape}, expected "
                             f"({self.item_features_.shape[1]},)")
        if self.user_mean_.shape != (self.n_users,):
            raise ValueError(f"user_mean_ has shape {self.user_mean_.shape}, expected ({self.n_users},)")
        self._derive()

    def _derive(self):
        """Item vectors, rating weights and user profiles from the saved state."""
        A, _, _, _, _ = _prepare(self.item_features_, None, self.metric)
        A.sort_indices()
        self._vectors = A
        self._weights = self._rating_weights(self.user_items_)
        self._profiles = (self._weights @ A).tocsr().astype(np.float32)
        self._profiles.sort_indices()
        self._operand = None

    def _rating_weights(self, R):
        W = R.astype(np.float32, copy=True)
        if self.center:
            W.data -= self.user_mean_[entry_rows(R)]
            lens = np.diff(R.indptr)
            nonzero = np.bincount(entry_rows(R)[W.data != 0], minlength=R.shape[0])
            flat = (lens > 0) & (nonzero == 0)  # all weights zero: rank by what they have, equally
            W.data[flat[entry_rows(R)]] = 1.0
        W.eliminate_zeros()
        return W

    # ---- using the model -----------------------------------------------------------------------

    def _predict(self, users, items):
        out = np.empty(users.size, np.float32)
        R, V = self.user_items_, self._vectors
        k = int(self.k)
        order = np.argsort(users, kind="stable")
        bounds = np.flatnonzero(np.diff(users[order])) + 1
        for group in np.split(order, bounds) if users.size else []:
            u = int(users[group[0]])
            lo, hi = R.indptr[u], R.indptr[u + 1]
            if hi == lo:
                out[group] = self.global_mean_
                continue
            base = float(self.user_mean_[u])
            rated, r = R.indices[lo:hi], R.data[lo:hi].astype(np.float64)
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
        if self.clip and self.user_items_.nnz:
            np.clip(out, *self.rating_range_, out=out)
        return out

    def _recommend(self, users, k, exclude, candidates):
        if self._operand is None:
            self._operand = _k.sparse_operand(candidates=self._vectors, n_threads=self._n_threads)
        queries = self._profiles[users]
        queries.sort_indices()
        return _k.sparse_topk(queries=queries, operand=self._operand, k=k, exclude=exclude, candidates=candidates,
                              n_threads=self._n_threads)

    def _similar_items(self, items, k):
        S = topk_similarity(self.item_features_[items], k + 1, Y=self.item_features_, metric=self.metric,
                            n_threads=self._n_threads)
        return _without_self(S, items, k)

    def _similar_users(self, users, k):
        S = topk_similarity(self._profiles[users], k + 1, Y=self._profiles, metric="cosine",
                            n_threads=self._n_threads)
        return _without_self(S, users, k)

    @property
    def item_vectors(self) -> sp.csr_matrix:
        """(n_items, n_features) weighted, unit-length item vectors the scores are made of."""
        self._check_fitted()
        return self._vectors

    @property
    def user_profiles(self) -> sp.csr_matrix:
        """(n_users, n_features) sum_j w_uj v_j."""
        self._check_fitted()
        return self._profiles


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
