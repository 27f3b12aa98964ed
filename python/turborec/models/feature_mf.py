"""A feature-aware factorisation (LightFM's model) trained by lock-free parallel SGD in C++."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from .._validation import _INT32_MAX, MAX_FACTORS, as_csr, is_finite_real, check_param_int, check_range_pair, check_seed
from ._rows import ReplacedRows
from ._dense import cosine_neighbours, recommend_dense, unit_rows
from .base import Recommender, divergence_error

FEATURE_MF_LOSSES = ("squared", "bpr", "warp")
_PAD = 16


@dataclass(frozen=True)
class _Side:
    """One side (users or items) of the factorisation; never modified once published."""

    features: sp.csr_matrix  # rows x side features (the user's input)
    own: np.ndarray  # bool per row: has its own vector
    warm: np.ndarray  # bool per row: has training interactions (else scored from its features alone)
    augmented: sp.csr_matrix  # [features | own identity], rows scaled to sum 1 with normalize
    emb: np.ndarray  # (n_features + rows, dpad) embeddings of the augmented columns
    bias: np.ndarray  # (n_features + rows,)
    acc: np.ndarray  # (n_features + rows, 2) AdaGrad accumulators
    vectors: np.ndarray  # (rows, dpad) materialised row vectors (cold rows from their features alone)
    row_bias: np.ndarray  # (rows,)


@dataclass(frozen=True)
class _Live:
    """Everything a call reads, published as one object (see turborec.models.base)."""

    seen: ReplacedRows
    users: _Side
    items: _Side
    packed: object  # PackedItems of the item vectors (+ bias), for recommend
    unit_items: object  # PackedItems of the unit-length item vectors, for similar_items


def _aligned_zeros(n: int, dpad: int) -> np.ndarray:
    """(n, dpad) float32 zeros starting on a 64-byte boundary, so each row of dpad (a multiple of 16)
    floats fills whole cache lines: numpy's 16-byte alignment makes every row straddle one more
    line, which the SGD's random row accesses then pay for."""
    buf = np.zeros(n * dpad + 16, np.float32)
    start = (-buf.ctypes.data % 64) // 4
    return buf[start:start + n * dpad].reshape(n, dpad)


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
        WARP scores its sampled candidates from a cache of the item vectors (rebuilt a few times
        per epoch, and for the two items of every update) and checks an apparent violator
        against its exact score before updating, so it represents only those items exactly.
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
        gives bit-identical models for a seed. The item side features' rows (genres, tags: few
        rows that most samples write) are the exception: each thread updates its own copy and the
        copies' changes are added up every 8,192 samples per thread.
    seed : int or None

    ``fit(R, item_features=None, user_features=None)`` takes :class:`turborec.features.Features`
    (R, an Interactions, is widened to their cold rows) or sparse matrices with one row per item /
    user. ``partial_fit_users`` folds users in (items fixed).
    """

    _saved_attributes = ("item_features_", "user_features_", "user_emb_", "item_emb_", "user_bias_", "item_bias_",
                         "user_acc_", "item_acc_", "user_own_", "item_own_", "global_mean_", "rating_range_", "seed_",
                         "history_", "item_warm_")
    scores_cold_items = True
    _warp_refresh = 0  # WARP's cache rounds in samples (0: the kernel's default); the replay test shortens them

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
            check_param_int(getattr(self, name), name, low)
        if self.factors > MAX_FACTORS or self.epochs > _INT32_MAX or self.max_sampled > _INT32_MAX:
            raise ValueError(f"factors must be <= {MAX_FACTORS}, epochs and max_sampled < 2^31; got "
                             f"factors={self.factors}, epochs={self.epochs}, max_sampled={self.max_sampled}")
        if self.loss not in FEATURE_MF_LOSSES:
            raise ValueError(f"loss must be one of {FEATURE_MF_LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in ("adagrad", "constant"):
            raise ValueError(f"lr_schedule must be 'adagrad' or 'constant', got {self.lr_schedule!r}")
        for name in ("lr", "reg", "reg_bias", "init_std"):
            v = getattr(self, name)
            if not is_finite_real(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr == 0:
            raise ValueError("lr must be > 0")
        for name in ("own_vectors", "normalize", "biased"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        check_range_pair(self.clip, "clip")
        check_seed(self.seed)

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
        return super().fit(R, item_features=self._features(item_features, shape[1], "item_features"),
                           user_features=self._features(user_features, shape[0], "user_features"))

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

    def _fit(self, R, item_features, user_features):
        seed = check_seed(self.seed)
        self.seed_ = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        rng = np.random.default_rng(self.seed_)
        ranking = self.loss != "squared"
        self.global_mean_ = float(R.data.mean()) if (R.nnz and not ranking and self.biased) else 0.0
        self.rating_range_ = (float(R.data.min()), float(R.data.max())) if R.nnz else (0.0, 0.0)
        own = bool(self.own_vectors)
        user_own, item_own = np.full(R.shape[0], own), np.full(R.shape[1], own)
        normalize = bool(self.normalize)
        U = _identity_and(user_features, R.shape[0], user_own, normalize)
        I = _identity_and(item_features, R.shape[1], item_own, normalize)
        d, dpad = int(self.factors), -(-int(self.factors) // _PAD) * _PAD

        def table(n):
            t = _aligned_zeros(n, dpad)
            t[:, :d] = rng.normal(0.0, self.init_std, (n, d))
            return t

        user_emb, item_emb = table(U.shape[1]), table(I.shape[1])
        user_bias, item_bias = np.zeros(U.shape[1], np.float32), np.zeros(I.shape[1], np.float32)
        user_acc, item_acc = np.ones((U.shape[1], 2), np.float32), np.ones((I.shape[1], 2), np.float32)
        tables = (user_emb, item_emb, user_bias, item_bias, user_acc, item_acc)
        users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(R.indptr))
        items = np.ascontiguousarray(R.indices, dtype=np.int32)
        values = None if ranking else np.ascontiguousarray(R.data, dtype=np.float32)
        pool = np.flatnonzero(np.bincount(items, minlength=R.shape[1]) > 0).astype(np.int32) if ranking else None
        U_rows, I_rows = _kernels.feature_csr(U), _kernels.feature_csr(I)
        # I = [item_features | own vectors]: the side-feature columns come first.
        n_side_features = 0 if item_features is None else int(item_features.shape[1])
        self.history_ = []
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=int(self.epochs), desc=f"FeatureMF({self.loss})", unit="epoch")
        try:
            for epoch in range(int(self.epochs)):
                start = time.perf_counter()
                order = rng.permutation(R.nnz).astype(np.int64)
                total = _kernels.feature_mf_epoch(
                    user_features=U_rows, item_features=I_rows, users=users, items=items, values=values, order=order,
                    positives=R if ranking else None, pool=pool, tables=tables, factors=d,
                    mu=float(self.global_mean_), loss=self.loss, lr=float(self.lr), reg=float(self.reg),
                    reg_bias=float(self.reg_bias), adagrad=self.lr_schedule == "adagrad", biased=bool(self.biased),
                    max_sampled=int(self.max_sampled), seed=self.seed_, epoch=epoch, n_threads=self._n_threads,
                    refresh=int(self._warp_refresh), shared_item_features=n_side_features)
                row = {"epoch": epoch, "seconds": time.perf_counter() - start,
                       ("train_loss" if ranking else "train_rmse"):
                           total / max(R.nnz, 1) if ranking else float(np.sqrt(total / max(R.nnz, 1)))}
                self.history_.append(row)
                if progress is not None:
                    progress.update(1)
        except ValueError as err:  # the kernel reports divergence as a domain error
            if "diverged" in str(err):
                raise divergence_error(err, lr=float(self.lr), reg=float(self.reg), reg_bias=float(self.reg_bias)) \
                    from None
            raise
        finally:
            if progress is not None:
                progress.close()
        seen = ReplacedRows(R)
        self.item_warm_ = np.bincount(R.indices, minlength=R.shape[1]) > 0
        self._publish(self._live_of(seen, (user_features, user_own, user_emb, user_bias, user_acc,
                                           np.diff(R.indptr) > 0),
                                    (item_features, item_own, item_emb, item_bias, item_acc, self.item_warm_)))

    def _side(self, features, own, emb, bias, acc, warm) -> _Side:
        """A side's augmented matrix and materialised vectors: rows with training interactions
        use their own vector, rows without (cold) are scored from their features alone."""
        normalize = bool(self.normalize)
        augmented = _identity_and(features, features.shape[0], own, normalize)
        cold = ~warm
        rows = _identity_and(features, features.shape[0], own & ~cold, normalize) if (cold & own).any() else augmented
        vectors, row_bias = _kernels.feature_mf_materialise(_kernels.feature_csr(rows), emb=emb, bias=bias,
                                                            n_threads=self._n_threads)
        return _Side(features=features, own=own, warm=warm, augmented=augmented, emb=emb, bias=bias, acc=acc, vectors=vectors,
                     row_bias=row_bias)

    def _live_of(self, seen: ReplacedRows, user_parts, item_parts, reuse: _Live | None = None) -> _Live:
        """The live state; the item side is reused from ``reuse`` (a fold-in changes users only)."""
        users = self._side(*user_parts)
        if reuse is None:
            # Items without training interactions at fit are scored from their features (fixed by fit).
            items = self._side(*item_parts)
            d = int(self.factors)
            Q = np.ascontiguousarray(items.vectors[:, :d])
            packed = _kernels.pack_items(Q, item_bias=np.ascontiguousarray(items.row_bias) if self.biased else None,
                                         n_threads=self._n_threads)
            unit_items = _kernels.pack_items(unit_rows(Q), item_bias=None, n_threads=self._n_threads)
        else:
            items, packed, unit_items = reuse.items, reuse.packed, reuse.unit_items
        return _Live(seen=seen, users=users, items=items, packed=packed, unit_items=unit_items)

    # ---- persistence -------------------------------------------------------------------------------

    def _saved_state(self, live):
        u, i = live.users, live.items
        return {"user_items_": live.seen.matrix(), "item_features_": i.features, "user_features_": u.features,
                "user_emb_": u.emb, "item_emb_": i.emb, "user_bias_": u.bias, "item_bias_": i.bias, "user_acc_": u.acc,
                "item_acc_": i.acc, "user_own_": u.own, "item_own_": i.own, "global_mean_": self.global_mean_,
                "rating_range_": self.rating_range_, "seed_": self.seed_, "history_": self.history_,
                "item_warm_": self.item_warm_}

    def _from_saved(self, state):
        R = state["user_items_"]
        dpad = -(-int(self.factors) // _PAD) * _PAD
        parts = {}
        for side, n in (("user", R.shape[0]), ("item", R.shape[1])):
            F = state[f"{side}_features_"]
            if not sp.issparse(F) or F.shape[0] != n:
                raise ValueError(f"{side}_features_ must be a sparse matrix with {n} rows")
            F = as_csr(F, f"{side}_features_")
            cols = F.shape[1] + n
            own = np.asarray(state[f"{side}_own_"])
            checks = ((f"{side}_own_", own, (n,), np.bool_), (f"{side}_emb_", state[f"{side}_emb_"], (cols, dpad),
                                                                np.float32),
                      (f"{side}_bias_", state[f"{side}_bias_"], (cols,), np.float32),
                      (f"{side}_acc_", state[f"{side}_acc_"], (cols, 2), np.float32))
            for name, a, shape, dtype in checks:
                if getattr(a, "shape", None) != shape or a.dtype != dtype:
                    raise ValueError(f"{name} must be a {np.dtype(dtype)} array of shape {shape}, got "
                                     f"{getattr(a, 'dtype', None)} {getattr(a, 'shape', None)}")
            parts[side] = (F, own, np.ascontiguousarray(state[f"{side}_emb_"]), np.ascontiguousarray(
                state[f"{side}_bias_"]), np.ascontiguousarray(state[f"{side}_acc_"]))
        self.global_mean_ = float(state["global_mean_"])
        self.rating_range_ = tuple(float(v) for v in state["rating_range_"])
        self.seed_ = int(state["seed_"])
        self.history_ = list(state["history_"])
        warm = np.asarray(state["item_warm_"])
        if warm.shape != (R.shape[1],) or warm.dtype != np.bool_:
            raise ValueError(f"item_warm_ must be a bool array of shape ({R.shape[1]},)")
        self.item_warm_ = warm
        self._publish(self._live_of(ReplacedRows(R), parts["user"] + (np.diff(R.indptr) > 0,),
                                    parts["item"] + (self.item_warm_,)))

    # ---- using the model -----------------------------------------------------------------------

    def _raw(self, live, users, items):
        d = int(self.factors)
        s = np.einsum("ij,ij->i", live.users.vectors[users, :d], live.items.vectors[items, :d])
        if self.biased:
            s = s + live.items.row_bias[items] + live.users.row_bias[users] + self.global_mean_
        return s.astype(np.float32)

    def _predict(self, live, users, items):
        out = self._raw(live, users, items)
        if self.loss == "squared" and self.clip is not False:
            np.clip(out, *(self.rating_range_ if self.clip is None else self.clip), out=out)
        return out

    def _recommend(self, live, users, k, exclude_seen, candidates):
        d = int(self.factors)
        bias = live.items.row_bias if self.biased else None
        return recommend_dense(np.ascontiguousarray(live.users.vectors[users, :d]), live.packed, live.seen, users, k,
                               exclude_seen, candidates, live.items.vectors[:, :d], bias, self._n_threads)

    def _similar_items(self, live, items, k):
        unit = unit_rows(np.ascontiguousarray(live.items.vectors[items, : int(self.factors)]))
        return cosine_neighbours(unit, live.unit_items, items, k, self._n_threads)

    def _similar_users(self, live, users, k):
        unit = unit_rows(np.ascontiguousarray(live.users.vectors[:, : int(self.factors)]))
        packed = _kernels.pack_items(unit, item_bias=None, n_threads=self._n_threads)
        return cosine_neighbours(np.ascontiguousarray(unit[users]), packed, users, k, self._n_threads)

    @property
    def item_vectors(self) -> np.ndarray:
        """(n_items, factors): q_i as recommend uses them (cold items from their features)."""
        self._check_fitted()
        return self._live.items.vectors[:, : self.factors]

    @property
    def user_vectors(self) -> np.ndarray:
        self._check_fitted()
        return self._live.users.vectors[:, : self.factors]

    @property
    def item_bias(self) -> np.ndarray:
        """(n_items,) b_i as scores use it (cold items from their features)."""
        self._check_fitted()
        return self._live.items.row_bias

    @property
    def user_bias(self) -> np.ndarray:
        self._check_fitted()
        return self._live.users.row_bias

    @property
    def item_features_(self) -> sp.csr_matrix:
        """(n_items, n_item_features) the item features fitted on."""
        self._check_fitted()
        return self._live.items.features

    @property
    def user_features_(self) -> sp.csr_matrix:
        """(n_users, n_user_features) the user features (empty rows for users folded in)."""
        self._check_fitted()
        return self._live.users.features

    @property
    def embeddings(self) -> dict:
        """The trained tables by name: ``user_emb`` / ``item_emb`` (rows: the features, then each
        row's own vector; padded to a multiple of 16 columns) and ``user_bias`` / ``item_bias``."""
        self._check_fitted()
        live = self._live
        return {"user_emb": live.users.emb, "item_emb": live.items.emb, "user_bias": live.users.bias,
                "item_bias": live.items.bias}

    # ---- fold-in -------------------------------------------------------------------------------

    def _fold_in(self, live, users, rows):
        """Compute (or recompute) the vectors of the given users from their interactions, items
        fixed; indices >= n_users add users (without features). Squared loss: the regularised least
        squares of training's objective in (p_u, b_u); ranking losses: BPR gradient steps on seeded
        negatives. The solution is stored as the user's own vector (needs ``own_vectors=True``).
        The user side is rebuilt as new arrays (O(n_users x factors)), so readers holding the old
        state are never disturbed."""
        if not self.own_vectors:
            raise ValueError("partial_fit_users needs own_vectors=True (the fold-in is stored as the user's own vector)")
        side = live.users
        n_users = side.features.shape[0]
        n_feat = side.features.shape[1]
        new_n = max(n_users, int(users.max(initial=-1)) + 1)
        grow = new_n - n_users
        dpad = side.emb.shape[1]
        features, emb, bias, acc, own = side.features, side.emb.copy(), side.bias.copy(), side.acc, side.own
        warm = np.concatenate([side.warm, np.zeros(grow, bool)])
        warm[users] = np.diff(rows.indptr) > 0
        if grow:
            features = sp.vstack([features, sp.csr_matrix((grow, n_feat), dtype=np.float32)], format="csr")
            emb = np.vstack([emb, np.zeros((grow, dpad), np.float32)])
            bias = np.concatenate([bias, np.zeros(grow, np.float32)])
            acc = np.vstack([acc, np.ones((grow, 2), np.float32)])
            own = np.concatenate([own, np.ones(grow, bool)])
        U = _identity_and(features, new_n, own, bool(self.normalize))
        d = int(self.factors)
        for t, u in enumerate(users):
            lo, hi = rows.indptr[t], rows.indptr[t + 1]
            p, b = self._solve_user(live, rows.indices[lo:hi], rows.data[lo:hi])
            # p_u = sum_f w_f e_f + w_own own_u  ->  own_u = (p - feature part) / w_own
            start, end = U.indptr[u], U.indptr[u + 1]
            cols, w = U.indices[start:end], U.data[start:end]
            is_own = cols >= n_feat
            feat_part = w[~is_own] @ emb[cols[~is_own], :d] if (~is_own).any() else np.zeros(d)
            feat_bias = w[~is_own] @ bias[cols[~is_own]] if (~is_own).any() else 0.0
            w_own = float(w[is_own][0])
            emb[n_feat + u, :d] = (p - feat_part) / w_own
            bias[n_feat + u] = (b - feat_bias) / w_own
        seen = live.seen.replace(users, rows)
        return self._live_of(seen, (features, own, emb, bias, acc, warm), None, reuse=live)

    def _solve_user(self, live, items, values):
        d = int(self.factors)
        n = items.size
        if n == 0:
            return np.zeros(d, np.float32), 0.0
        Qall, b_item = live.items.vectors, live.items.row_bias
        n_items = Qall.shape[0]
        Q = Qall[items, :d].astype(np.float64)
        if self.loss == "squared":
            y = values.astype(np.float64) - self.global_mean_ - (b_item[items] if self.biased else 0.0)
            X = np.hstack([np.ones((n, 1)), Q]) if self.biased else Q
            penalty = np.full(X.shape[1], n * float(self.reg) + 1e-6)
            if self.biased:
                penalty[0] = n * float(self.reg_bias) + 1e-6
            w = np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ y)
            return (w[1:] if self.biased else w).astype(np.float32), float(w[0]) if self.biased else 0.0
        rng = np.random.default_rng(self.seed_ + 7919)
        owned = np.zeros(n_items, bool)
        owned[items] = True
        negatives = rng.integers(0, n_items, (8, n))
        negatives = np.where(owned[negatives], rng.integers(0, n_items, (8, n)), negatives)
        diff = Q[None] - Qall[negatives, :d].astype(np.float64)
        gap = (b_item[items] - b_item[negatives]) if self.biased else 0.0
        p = np.zeros(d)
        reg = max(float(self.reg), 1e-3)
        for _ in range(100):
            x = diff @ p + gap
            g = 1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))
            p += 0.5 / n * (np.einsum("kn,knd->d", g, diff) / 8 - n * reg * p)
        return p.astype(np.float32), 0.0

