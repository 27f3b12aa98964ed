"""A feature-aware factorisation (LightFM's model) trained by lock-free parallel SGD in C++."""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from .. import _kernels_content as _k
from .._validation import as_csr, as_float32_array, check_ids
from ..topk import topk_dot
from .base import Recommender

FEATURE_MF_LOSSES = ("squared", "bpr", "warp")
_LOSS_CODE = {"squared": 0, "bpr": 1, "warp": 2}
_PAD = 16


def _identity_and(F: sp.csr_matrix | None, n: int, own: np.ndarray, normalize: bool) -> sp.csr_matrix:
    """[F | diag(own)]: each row's features, then its own column when own[row]; rows scaled to sum 1
    when normalize (LightFM's Dataset default), so a well-described row is not a louder one."""
    F = sp.csr_matrix((n, 0), dtype=np.float32) if F is None else F
    eye = sp.csr_matrix((np.ones(int(own.sum()), np.float32), (np.flatnonzero(own), np.flatnonzero(own))),
                        shape=(n, n))
    M = sp.hstack([F, eye], format="csr", dtype=np.float32)
    if normalize:
        sums = np.asarray(np.abs(M).sum(axis=1)).ravel()
        M = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0).astype(np.float32)) @ M
        M = M.tocsr()
    M.sort_indices()
    M.indices = M.indices.astype(np.int32, copy=False)
    return M


class FeatureMF(Recommender):
    """Factorisation with side features: p_u = sum_f U[u, f] e_f + own_u, q_i = sum_g I[i, g] e_g + own_i
    (the rows scaled to sum 1 with ``normalize``), biases likewise; score = mu + b_u + b_i + <p_u, q_i>.

    This is LightFM's model. Items with features but no training interactions (cold start) are
    scored from their features alone (their own vector never learnt anything, so it is left out);
    likewise users. ``recommend`` materialises every item's vector once per fit and ranks through
    :func:`turborec.topk_dot`.

    Parameters
    ----------
    factors, epochs : int
    loss : {"warp", "bpr", "squared"}
        WARP (LightFM's default for implicit feedback: per positive, sample up to ``max_sampled``
        negatives until one scores within a margin of 1, weighted log(floor((n - 1) / tries))),
        BPR (one negative per positive) or squared error on the values (ratings). Negatives are
        drawn from the items with at least one training interaction, never from the user's own.
    lr, reg, reg_bias : float
        Learning rate (per-feature-row AdaGrad with ``lr_schedule="adagrad"``, else constant) and
        L2 regularisation applied with every update.
    own_vectors : bool
        Give every user and item its own vector besides its features (LightFM with an identity
        block in the feature matrices). False: only features (rows without features stay zero).
    normalize : bool
        Scale each row of [features | own] to sum 1.
    max_sampled : int
        WARP's negatives per positive.
    init_std : float
        Embeddings start as N(0, init_std^2); biases at 0.
    n_threads : int
        0 = all cores. Hogwild: threads update shared rows without locks, so only ``n_threads=1``
        gives bit-identical models for a seed.
    seed : int or None

    ``fit(R, item_features=None, user_features=None)`` takes :class:`turborec.features.Features`
    (R, an Interactions, is widened to their cold rows) or sparse matrices with one row per item /
    user. ``partial_fit_users`` folds users in (items fixed).
    """

    _saved_attributes = ("item_features_", "user_features_", "_user_emb", "_item_emb", "_user_bias", "_item_bias",
                         "_user_acc", "_item_acc", "global_mean_", "rating_range_", "seed_", "history_",
                         "_user_own", "_item_own")
    scores_cold_items = True

    def __init__(self, factors=32, epochs=20, *, loss="warp", lr=0.05, reg=0.0, reg_bias=0.0, lr_schedule="adagrad",
                 own_vectors=True, normalize=True, max_sampled=10, init_std=0.1, biased=True, clip=None, n_threads=0,
                 seed=None, verbose=False):
        self.factors = factors
        self.epochs = epochs
        self.loss = loss
        self.lr = lr
        self.reg = reg
        self.reg_bias = reg_bias
        self.lr_schedule = lr_schedule
        self.own_vectors = own_vectors
        self.normalize = normalize
        self.max_sampled = max_sampled
        self.init_std = init_std
        self.biased = biased
        self.clip = clip
        self.n_threads = n_threads
        self.seed = seed
        self.verbose = verbose

    def _validate_params(self):
        for name, low in (("factors", 1), ("epochs", 0), ("max_sampled", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if self.loss not in FEATURE_MF_LOSSES:
            raise ValueError(f"loss must be one of {FEATURE_MF_LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in ("adagrad", "constant"):
            raise ValueError(f"lr_schedule must be 'adagrad' or 'constant', got {self.lr_schedule!r}")
        for name in ("lr", "reg", "reg_bias", "init_std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr == 0:
            raise ValueError("lr must be > 0")
        for name in ("own_vectors", "normalize", "biased"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.clip not in (None, False) and not (isinstance(self.clip, (tuple, list)) and len(self.clip) == 2):
            raise ValueError(f"clip must be None, False or a (low, high) pair, got {self.clip!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)
                                      or self.seed < 0):
            raise ValueError(f"seed must be None or an int >= 0, got {self.seed!r}")

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, R, item_features=None, user_features=None):
        """Fit on R (CSR users x items or an Interactions) with optional item and user features."""
        from ..data import Interactions
        from ..features import Features

        self._validate_params()
        for F, axis in ((item_features, "items"), (user_features, "users")):
            if isinstance(F, Features) and isinstance(R, Interactions):
                n = R.n_items if axis == "items" else R.n_users
                if F.n_known == n and F.n_new:
                    R = F.extend(R, axis=axis)
        shape = (R.n_users, R.n_items) if isinstance(R, Interactions) else getattr(R, "shape", None)
        if shape is None:
            as_csr(R, "R")  # raises the usual TypeError
        self.item_features_ = self._features(item_features, shape[1], "item_features")
        self.user_features_ = self._features(user_features, shape[0], "user_features")
        return super().fit(R)

    @staticmethod
    def _features(F, n, name):
        from ..features import Features

        if F is None:
            return sp.csr_matrix((n, 0), dtype=np.float32)
        if isinstance(F, Features):
            F = F.matrix
        F = as_csr(F, name)
        if F.shape[0] != n:
            raise ValueError(f"{name} must have one row per {name.split('_')[0]} of R ({n}), got {F.shape[0]} rows")
        return F

    def _fit(self, R):
        self.seed_ = int(np.random.SeedSequence().entropy % 2**63) if self.seed is None else int(self.seed)
        rng = np.random.default_rng(self.seed_)
        ranking = self.loss != "squared"
        self.global_mean_ = float(R.data.mean()) if (R.nnz and not ranking and self.biased) else 0.0
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)
        own = bool(self.own_vectors)
        self._user_own = np.full(R.shape[0], own)
        self._item_own = np.full(R.shape[1], own)
        self._augment()
        d, dpad = int(self.factors), -(-int(self.factors) // _PAD) * _PAD

        def table(n):
            t = np.zeros((n, dpad), np.float32)
            t[:, :d] = rng.normal(0.0, self.init_std, (n, d))
            return t

        self._user_emb, self._item_emb = table(self._U.shape[1]), table(self._I.shape[1])
        self._user_bias = np.zeros(self._U.shape[1], np.float32)
        self._item_bias = np.zeros(self._I.shape[1], np.float32)
        self._user_acc = np.ones((self._U.shape[1], 2), np.float32)
        self._item_acc = np.ones((self._I.shape[1], 2), np.float32)
        users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(R.indptr))
        items = np.ascontiguousarray(R.indices, dtype=np.int32)
        values = None if ranking else np.ascontiguousarray(R.data, dtype=np.float32)
        positives = (np.ascontiguousarray(R.indptr, dtype=np.int64), items) if ranking else (None, None)
        pool = np.flatnonzero(np.bincount(items, minlength=R.shape[1]) > 0).astype(np.int32) if ranking else None
        U, I = _k.feature_csr(matrix=self._U), _k.feature_csr(matrix=self._I)
        self.history_ = []
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=int(self.epochs), desc=f"FeatureMF({self.loss})", unit="epoch")
        try:
            for epoch in range(int(self.epochs)):
                start = time.perf_counter()
                order = rng.permutation(R.nnz).astype(np.int64)
                total = _k.feature_mf_epoch(
                    user_features=U, item_features=I, users=users, items=items, values=values, order=order,
                    positives=positives, pool=pool, tables=self._tables(), factors=d, mu=float(self.global_mean_),
                    loss=_LOSS_CODE[self.loss], lr=float(self.lr), reg=float(self.reg), reg_bias=float(self.reg_bias),
                    adagrad=self.lr_schedule == "adagrad", biased=bool(self.biased),
                    max_sampled=int(self.max_sampled), seed=self.seed_, epoch=epoch, n_threads=self._n_threads)
                row = {"epoch": epoch, "seconds": time.perf_counter() - start,
                       ("train_loss" if ranking else "train_rmse"):
                           total / max(R.nnz, 1) if ranking else float(np.sqrt(total / max(R.nnz, 1)))}
                self.history_.append(row)
                if progress is not None:
                    progress.update(1)
        except ValueError as err:  # the kernel reports divergence as a domain error
            if "diverged" in str(err):
                raise FloatingPointError(str(err)) from None
            raise
        finally:
            if progress is not None:
                progress.close()
        self._materialise()

    def _tables(self):
        return (self._user_emb, self._item_emb, self._user_bias, self._item_bias, self._user_acc, self._item_acc)

    def _augment(self):
        """Training matrices [features | own] of users and items."""
        normalize = bool(self.normalize)
        self._U = _identity_and(self.user_features_, self.user_features_.shape[0], self._user_own, normalize)
        self._I = _identity_and(self.item_features_, self.item_features_.shape[0], self._item_own, normalize)

    def _materialise(self):
        """Every user's and item's vector and bias; rows without training interactions from their
        features alone."""
        normalize = bool(self.normalize)
        R = self.user_items_
        for side, M, F, own, count in (
                ("user", self._U, self.user_features_, self._user_own, np.diff(R.indptr)),
                ("item", self._I, self.item_features_, self._item_own, np.bincount(R.indices, minlength=R.shape[1]))):
            cold = count == 0
            rows = M
            if cold.any() and own.any():
                alone = _identity_and(F, F.shape[0], own & ~cold, normalize)
                rows = alone
            emb, bias = (self._user_emb, self._user_bias) if side == "user" else (self._item_emb, self._item_bias)
            vec, b = _k.feature_mf_materialise(features=_k.feature_csr(matrix=rows), emb=emb, bias=bias,
                                               n_threads=self._n_threads)
            if side == "user":
                self._P, self._b_user = vec, b
            else:
                self._Q, self._b_item = vec, b

    def _after_load(self):
        super()._after_load()
        for name, n in (("item_features_", self.n_items), ("user_features_", self.n_users)):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"{name} has {getattr(self, name).shape[0]} rows, expected {n}")
        self._augment()
        dpad = -(-int(self.factors) // _PAD) * _PAD
        for name, rows in (("_user_emb", self._U.shape[1]), ("_item_emb", self._I.shape[1])):
            a = getattr(self, name)
            if a.shape != (rows, dpad) or a.dtype != np.float32:
                raise ValueError(f"{name} is a {a.dtype} array of shape {a.shape}, expected float32 {(rows, dpad)}")
        self._materialise()

    # ---- using the model -----------------------------------------------------------------------

    def _raw(self, users, items):
        d = int(self.factors)
        s = np.einsum("ij,ij->i", self._P[users, :d], self._Q[items, :d])
        if self.biased:
            s = s + self._b_item[items] + self._b_user[users] + self.global_mean_
        return s.astype(np.float32)

    def _predict(self, users, items):
        out = self._raw(users, items)
        if self.loss == "squared" and self.clip is not False:
            np.clip(out, *(self.rating_range_ if self.clip is None else self.clip), out=out)
        return out

    def _recommend(self, users, k, exclude, candidates):
        bias = np.ascontiguousarray(self._b_item) if self.biased else None
        if candidates is None:
            return topk_dot(self._P[users], self._Q, k, exclude=exclude, item_bias=bias, n_threads=self._n_threads)
        allowed = np.flatnonzero(candidates)
        ids, scores = topk_dot(self._P[users], self._Q[allowed], k,
                               exclude=None if exclude is None else exclude[:, allowed],
                               item_bias=None if bias is None else bias[allowed], n_threads=self._n_threads)
        return np.where(ids >= 0, allowed[np.maximum(ids, 0)], -1).astype(np.int32), scores

    def _cosine(self, table, rows, k):
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        unit = np.divide(table, norms, out=np.zeros_like(table), where=norms > 0)
        self_pairs = sp.csr_matrix((np.ones(rows.size, np.float32), (np.arange(rows.size), rows)),
                                   shape=(rows.size, table.shape[0]))
        return topk_dot(unit[rows], unit, k, exclude=self_pairs, n_threads=self._n_threads)

    def _similar_items(self, items, k):
        return self._cosine(self._Q, items, k)

    def _similar_users(self, users, k):
        return self._cosine(self._P, users, k)

    @property
    def item_vectors(self) -> np.ndarray:
        """(n_items, factors): q_i as recommend uses them (cold items from their features)."""
        self._check_fitted()
        return self._Q[:, : self.factors]

    @property
    def user_vectors(self) -> np.ndarray:
        self._check_fitted()
        return self._P[:, : self.factors]

    # ---- fold-in -------------------------------------------------------------------------------

    def partial_fit_users(self, users, user_items):
        """Compute (or recompute) the vectors of the given users from their interactions, items fixed;
        indices >= n_users add users (without features). ``user_items`` has one row per user and
        replaces their training rows. Squared loss: the regularised least squares of training's
        objective in (p_u, b_u); ranking losses: BPR gradient steps on seeded negatives. The
        solution is stored as the user's own vector (needs ``own_vectors=True``). Returns self."""
        self._check_fitted()
        if not self.own_vectors:
            raise ValueError("partial_fit_users needs own_vectors=True (the fold-in is stored as the user's own vector)")
        users = np.atleast_1d(np.asarray(users))
        if users.dtype == np.bool_ or not np.issubdtype(users.dtype, np.integer) or users.ndim != 1:
            raise TypeError("users must be a 1-d array of integer indices")
        if users.size and users.min() < 0:
            raise ValueError("users must be >= 0")
        if np.unique(users).size != users.size:
            raise ValueError("users must not repeat")
        rows = as_csr(user_items, "user_items", shape=(users.size, self.n_items))
        new_n = max(self.n_users, int(users.max(initial=-1)) + 1)
        if new_n > self.n_users:
            grow = new_n - self.n_users
            n_feat = self.user_features_.shape[1]
            dpad = self._user_emb.shape[1]
            self.user_features_ = sp.vstack([self.user_features_, sp.csr_matrix((grow, n_feat), dtype=np.float32)],
                                            format="csr")
            self._user_emb = np.vstack([self._user_emb, np.zeros((grow, dpad), np.float32)])
            self._user_bias = np.concatenate([self._user_bias, np.zeros(grow, np.float32)])
            self._user_acc = np.vstack([self._user_acc, np.ones((grow, 2), np.float32)])
            self._user_own = np.concatenate([self._user_own, np.ones(grow, bool)])
            self.user_items_ = sp.vstack([self.user_items_, sp.csr_matrix((grow, self.n_items), dtype=np.float32)],
                                         format="csr")
        replaced = sp.lil_matrix(self.user_items_)
        replaced[users] = rows
        self.user_items_ = replaced.tocsr()
        self.user_items_.sort_indices()
        self._augment()
        n_feat = self.user_features_.shape[1]
        d = int(self.factors)
        for t, u in enumerate(users):
            lo, hi = rows.indptr[t], rows.indptr[t + 1]
            p, b = self._fold_in(rows.indices[lo:hi], rows.data[lo:hi])
            # p_u = sum_f w_f e_f + w_own own_u  ->  own_u = (p - feature part) / w_own
            start, end = self._U.indptr[u], self._U.indptr[u + 1]
            cols, w = self._U.indices[start:end], self._U.data[start:end]
            is_own = cols >= n_feat
            feat_part = w[~is_own] @ self._user_emb[cols[~is_own], :d] if (~is_own).any() else np.zeros(d)
            feat_bias = w[~is_own] @ self._user_bias[cols[~is_own]] if (~is_own).any() else 0.0
            w_own = float(w[is_own][0])
            self._user_emb[n_feat + u, :d] = (p - feat_part) / w_own
            self._user_bias[n_feat + u] = (b - feat_bias) / w_own
        self._materialise()
        return self

    def _fold_in(self, items, values):
        d = int(self.factors)
        n = items.size
        if n == 0:
            return np.zeros(d, np.float32), 0.0
        Q = self._Q[items, :d].astype(np.float64)
        if self.loss == "squared":
            y = values.astype(np.float64) - self.global_mean_ - (self._b_item[items] if self.biased else 0.0)
            X = np.hstack([np.ones((n, 1)), Q]) if self.biased else Q
            penalty = np.full(X.shape[1], n * float(self.reg) + 1e-6)
            if self.biased:
                penalty[0] = n * float(self.reg_bias) + 1e-6
            w = np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ y)
            return (w[1:] if self.biased else w).astype(np.float32), float(w[0]) if self.biased else 0.0
        rng = np.random.default_rng(self.seed_ + 7919)
        owned = np.zeros(self.n_items, bool)
        owned[items] = True
        negatives = rng.integers(0, self.n_items, (8, n))
        negatives = np.where(owned[negatives], rng.integers(0, self.n_items, (8, n)), negatives)
        diff = Q[None] - self._Q[negatives, :d].astype(np.float64)
        gap = (self._b_item[items] - self._b_item[negatives]) if self.biased else 0.0
        p = np.zeros(d)
        reg = max(float(self.reg), 1e-3)
        for _ in range(100):
            x = diff @ p + gap
            g = 1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))
            p += 0.5 / n * (np.einsum("kn,knd->d", g, diff) / 8 - n * reg * p)
        return p.astype(np.float32), 0.0
