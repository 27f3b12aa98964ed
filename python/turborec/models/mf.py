"""Matrix factorisation trained by parallel SGD: biased MF for ratings, BPR for implicit feedback."""

from __future__ import annotations

import numbers
import time
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .. import _core
from .._validation import as_csr, as_float32_array, check_ids
from ..quantized import QuantizedFactors
from ..topk import topk_dot
from .base import Recommender

LOSSES = ("squared", "bpr")
SCHEDULES = ("adagrad", "constant", "decay")
_LOSS_CODE = {"squared": 0, "bpr": 1}
_SCHEDULE_CODE = {"constant": 0, "adagrad": 1, "decay": 2}
# Defaults tuned on MovieLens latest-small (5-fold) and checked on generated data: see bench/mf_quality.py.
_DEFAULTS = {  # (lr, reg, reg_bias) by (loss, schedule)
    ("squared", "adagrad"): (0.05, 0.1, 0.01),
    ("squared", "constant"): (0.005, 0.02, 0.02),
    ("squared", "decay"): (0.01, 0.02, 0.02),
    # BPR + AdaGrad: lr 0.05 / reg 0.02 measured best across sizes (NDCG@10 vs lr 0.1 / reg 0.01:
    # 0.0266 vs 0.0225 on bench/mf_speed.py's 200k x 50k clicks, 0.038 vs 0.033 at 1/16 of it,
    # 0.184 vs 0.190 on ml-latest-small; implicit's BPR: 0.025, 0.034, 0.183).
    ("bpr", "adagrad"): (0.05, 0.02, 0.01),
    ("bpr", "constant"): (0.05, 0.01, 0.01),
    ("bpr", "decay"): (0.05, 0.01, 0.01),
}
_PAD = 16  # factor rows are padded to a multiple of this for the SIMD kernels


def _aligned_zeros(shape) -> np.ndarray:
    """float32 zeros whose first element sits on a 64-byte cache line: with rows of 16-byte
    multiples dealt to the SGD grid in runs of four, no cache line is written by two threads."""
    n = int(np.prod(shape))
    buf = np.zeros(n + 16, np.float32)
    offset = (-buf.ctypes.data % 64) // 4
    return buf[offset:offset + n].reshape(shape)


def _new_meta(n: int) -> np.ndarray:
    meta = _aligned_zeros((n, 4))
    meta[:, 1:3] = 1.0  # AdaGrad accumulators start at 1 (LIBMF)
    return meta


class EarlyStopping:
    """Callback: stop when the monitored history value has not improved for ``patience`` epochs,
    and put back the best epoch's model (``restore_best``)."""

    def __init__(self, monitor="validation_rmse", patience=2, min_delta=0.0, restore_best=True):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.larger_is_better = monitor.endswith("auc")

    def __call__(self, model, epoch, row) -> bool:
        value = row.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping: history has no {self.monitor!r} (pass validation= to fit?)")
        if epoch == 0:
            self.best, self.best_epoch, self.wait = value, 0, 0
            self._snapshot = model._snapshot() if self.restore_best else None
            return False
        better = value > self.best + self.min_delta if self.larger_is_better else value < self.best - self.min_delta
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self._snapshot = model._snapshot() if self.restore_best else None
            return False
        self.wait += 1
        if self.wait >= self.patience:
            if self.restore_best:
                model._restore(self._snapshot)
            return True
        return False


class MatrixFactorization(Recommender):
    """Matrix factorisation ``r_ui = mu + b_u + b_i + <p_u, q_i>`` trained by parallel SGD.

    Parameters
    ----------
    factors : int
        Dimension of the user and item vectors.
    epochs : int
        Passes over the data.
    loss : {"squared", "bpr"}
        Squared error on ratings, or Bayesian personalised ranking on implicit feedback (every stored
        entry is a positive; negatives are sampled, one per positive, from the items that share its
        grid column, never from the user's positives).
    lr, reg, reg_bias : float, optional
        Learning rate and L2 regularisation of factors and biases (applied per update, as in
        Surprise and LIBMF). Defaults depend on ``loss`` and ``lr_schedule``.
    lr_schedule : {"adagrad", "constant", "decay"}
        Per-row adaptive rates lr / sqrt(sum of squared gradients), LIBMF's schedule (default);
        a constant rate; or lr / (1 + decay * epoch).
    decay : float
        For ``lr_schedule="decay"``.
    init_std : float
        Factors start as N(0, init_std^2); biases at 0.
    biased : bool
        Learn mu + b_u + b_i (squared loss) or b_i (BPR). False gives the plain <p_u, q_i> model.
    clip : None, False or (low, high)
        Predictions are clipped to the rating range seen in training (None), not at all (False), or
        to the given range. Only for squared loss.
    grid : int or None
        Users and items are dealt into ``grid`` groups each; blocks of the grid that share no user
        and no item run in parallel (one barrier per stratum, ``grid`` strata per epoch). It is
        part of the model's definition, never derived from the thread count, so a seed gives the
        same model for any ``n_threads``. None: round(sqrt(n_ratings / 10,000)) clamped to 1..64
        (32 for 10M ratings; small data gets few strata and little synchronisation).
    n_threads : int
        0 = all available cores.
    seed : int or None
        Everything random (initialisation, grid, order, negatives) comes from it; None draws one.
    verbose : bool
        A tqdm progress bar with the loss per epoch.
    """

    _saved_attributes = ("_P", "_Q", "_user_meta", "_item_meta", "global_mean_", "rating_range_", "seed_", "grid_",
                         "history_", "_lr", "_reg", "_reg_bias")

    def __init__(self, factors=64, epochs=20, *, loss="squared", lr=None, reg=None, reg_bias=None,
                 lr_schedule="adagrad", decay=0.1, init_std=0.1, biased=True, clip=None, grid=None, n_threads=0,
                 seed=None, verbose=False):
        self.factors = factors
        self.epochs = epochs
        self.loss = loss
        self.lr = lr
        self.reg = reg
        self.reg_bias = reg_bias
        self.lr_schedule = lr_schedule
        self.decay = decay
        self.init_std = init_std
        self.biased = biased
        self.clip = clip
        self.grid = grid
        self.n_threads = n_threads
        self.seed = seed
        self.verbose = verbose

    # ---- parameters -------------------------------------------------------------------------

    def _resolved(self):
        for name in ("factors", "epochs", "grid"):
            v = getattr(self, name)
            if name == "grid" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (0 if name == "epochs" else 1):
                raise ValueError(f"{name} must be an int >= {0 if name == 'epochs' else 1}, got {v!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        lr, reg, reg_bias = _DEFAULTS[(self.loss, self.lr_schedule)]
        lr = lr if self.lr is None else self.lr
        reg = reg if self.reg is None else self.reg
        reg_bias = reg_bias if self.reg_bias is None else self.reg_bias
        for name, v in (("lr", lr), ("reg", reg), ("reg_bias", reg_bias), ("init_std", self.init_std),
                        ("decay", self.decay)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if lr == 0:
            raise ValueError("lr must be > 0")
        if self.clip not in (None, False) and not (isinstance(self.clip, (tuple, list)) and len(self.clip) == 2):
            raise ValueError(f"clip must be None, False or a (low, high) pair, got {self.clip!r}")
        return float(lr), float(reg), float(reg_bias)

    def _validate_params(self):
        self._resolved()

    def _after_load(self):
        super()._after_load()
        self._load_compressed_factors()
        d = int(self.factors)
        dpad = -(-d // _PAD) * _PAD
        for name, shape in (("_P", (self.n_users, dpad)), ("_Q", (self.n_items, dpad)),
                            ("_user_meta", (self.n_users, 4)), ("_item_meta", (self.n_items, 4))):
            a = getattr(self, name)
            if a.shape != shape or a.dtype != np.float32 or not a.flags.c_contiguous:
                raise ValueError(f"{name} is a {a.dtype} array of shape {a.shape}, expected float32 {shape}")

    # ---- training ---------------------------------------------------------------------------

    def fit(self, R, *, validation=None, callbacks: Sequence[Callable] | None = None):
        """Train on R: a CSR users x items matrix (or any sparse format), an Interactions, or a
        ``(users, items, values)`` triple of arrays.

        validation: held-out ratings in the same forms (same shape); its RMSE (squared loss) or
        sampled AUC (BPR) is recorded per epoch in ``history_``. callbacks: callables
        ``f(model, epoch, history_row) -> bool``; True stops training (see :class:`EarlyStopping`).
        """
        return super().fit(self._as_matrix(R, None), validation=validation, callbacks=callbacks)

    def _as_matrix(self, R, shape):
        if isinstance(R, tuple) and len(R) == 3:
            users, items, values = (np.asarray(a) for a in R)
            if shape is None:
                shape = (int(users.max(initial=-1)) + 1, int(items.max(initial=-1)) + 1)
            users = check_ids(users, "users", shape[0])
            items = check_ids(items, "items", shape[1])
            values = as_float32_array(values, "values", 1, finite=True)
            if not users.size == items.size == values.size:
                raise ValueError("users, items and values must have the same length")
            R = sp.coo_matrix((values, (users, items)), shape=shape).tocsr()
        return R

    def _fit(self, R, validation=None, callbacks=None):
        lr, reg, reg_bias = self._resolved()
        self._lr, self._reg, self._reg_bias = lr, reg, reg_bias
        self.seed_ = int(np.random.SeedSequence().entropy % 2**63) if self.seed is None else int(self.seed)
        rng = np.random.default_rng(self.seed_)
        n_users, n_items = R.shape
        d, dpad = int(self.factors), -(-int(self.factors) // _PAD) * _PAD
        P = _aligned_zeros((n_users, dpad))
        Q = _aligned_zeros((n_items, dpad))
        P[:, :d] = rng.normal(0.0, self.init_std, (n_users, d))
        Q[:, :d] = rng.normal(0.0, self.init_std, (n_items, d))
        self._P, self._Q = P, Q
        # Per-row [bias, AdaGrad accumulator of the factors, of the bias, unused]: one cache line.
        self._user_meta = _new_meta(n_users)
        self._item_meta = _new_meta(n_items)
        bpr = self.loss == "bpr"
        values = R.data
        self.global_mean_ = float(values.mean()) if (R.nnz and not bpr and self.biased) else 0.0
        self.rating_range_ = (float(values.min()), float(values.max())) if R.nnz else (0.0, 0.0)
        users = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(R.indptr))
        self.grid_ = int(self.grid) if self.grid is not None else int(np.clip(round(np.sqrt(R.nnz / 1e4)), 1, 64))
        grid = _core.SgdGrid(users, R.indices, None if bpr else values, n_users, n_items, self.grid_, self.seed_,
                             user_sorted=not bpr)
        positives = (R.indptr.astype(np.int64), R.indices) if bpr else (None, None)
        val = self._validation_pairs(validation, R.shape, rng)
        self.history_ = []
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=int(self.epochs), desc=f"{type(self).__name__}({self.loss})", unit="epoch")
        try:
            for epoch in range(int(self.epochs)):
                start = time.perf_counter()
                total = _core.sgd_epoch(grid, self._state(), d, self.global_mean_, _LOSS_CODE[self.loss],
                                        _SCHEDULE_CODE[self.lr_schedule], lr, reg, reg_bias, float(self.decay),
                                        bool(self.biased), self.seed_, *positives, epoch, self._n_threads)
                row = {"epoch": epoch, "seconds": time.perf_counter() - start}
                if bpr:
                    row["train_loss"] = total / max(R.nnz, 1)
                else:
                    row["train_rmse"] = float(np.sqrt(total / max(R.nnz, 1)))
                if val is not None:
                    row.update(self._validate(val))
                self.history_.append(row)
                if progress is not None:
                    progress.set_postfix({k: round(v, 4) for k, v in row.items() if k not in ("epoch", "seconds")})
                    progress.update(1)
                if callbacks and any(bool(cb(self, epoch, row)) for cb in callbacks):
                    break
        except ValueError as err:  # the kernel reports divergence as a domain error
            raise FloatingPointError(str(err)) from None
        finally:
            if progress is not None:
                progress.close()

    def _state(self):
        return _core.SgdStateArrays(self._P, self._Q, self._user_meta, self._item_meta)

    def _snapshot(self):
        return [a.copy() for a in (self._P, self._Q, self._user_meta, self._item_meta)]

    def _restore(self, snapshot):
        self._P, self._Q, self._user_meta, self._item_meta = snapshot

    def _validation_pairs(self, validation, shape, rng):
        if validation is None:
            return None
        from ..data import Interactions

        if isinstance(validation, Interactions):
            validation = validation.matrix
        V = as_csr(self._as_matrix(validation, shape), "validation", shape=shape)
        users = np.repeat(np.arange(shape[0], dtype=np.int32), np.diff(V.indptr))
        items = V.indices.astype(np.int32)
        if self.loss == "bpr":  # sampled AUC: each held-out positive against one random item
            negatives = rng.integers(0, shape[1], users.size).astype(np.int32)
            return users, items, negatives
        return users, items, V.data

    def _validate(self, val):
        if self.loss == "bpr":
            users, pos, neg = val
            sp_, sn = self._raw_scores(users, pos), self._raw_scores(users, neg)
            return {"validation_auc": float(np.mean((sp_ > sn) + 0.5 * (sp_ == sn)))}
        users, items, truth = val
        err = self._predict(users, items) - truth
        return {"validation_rmse": float(np.sqrt(np.mean(err.astype(np.float64) ** 2)))}

    # ---- using the model ------------------------------------------------------------------------

    def _raw_scores(self, users, items):
        return _core.mf_predict(self._state(), int(self.factors), float(self.global_mean_), users, items,
                                bool(self.biased), self._n_threads)

    def _predict(self, users, items):
        out = self._raw_scores(users, items)
        if self.loss == "squared" and self.clip is not False:
            low, high = self.rating_range_ if self.clip is None else self.clip
            np.clip(out, low, high, out=out)
        return out

    def _recommend(self, users, k, exclude, candidates):
        bias = np.ascontiguousarray(self._item_meta[:, 0]) if self.biased else None
        compressed = getattr(self, "_compressed", None)
        if candidates is None and compressed is not None:
            return compressed.topk(self._P[users], self._Q, k, exclude=exclude, item_bias=bias,
                                   n_threads=self._n_threads)
        if candidates is None:
            return topk_dot(self._P[users], self._Q, k, exclude=exclude, item_bias=bias, n_threads=self._n_threads)
        allowed = np.flatnonzero(candidates)
        sub_exclude = exclude[:, allowed] if exclude is not None else None
        ids, scores = topk_dot(self._P[users], self._Q[allowed], k, exclude=sub_exclude,
                               item_bias=None if bias is None else bias[allowed], n_threads=self._n_threads)
        return np.where(ids >= 0, allowed[np.maximum(ids, 0)], -1).astype(np.int32), scores

    def compress(self, dtype="int8", *, rerank=True, candidates=None):
        """Retrieve on compressed item factors from now on in :meth:`recommend` (None: float32 again).

        dtype: "int8" (AVX-512 VNNI), "bf16" (AVX512-BF16) or "fp16" (storage only), see
        :func:`turborec.topk_quantized`. rerank (default True) re-scores ``candidates`` per user in
        float32 against the exact factors, so results match float32 retrieval (recall@10 ~1.0 on
        random data); rerank=False returns the low-precision ranking and scores. The codes are built
        on first use and again after a refit. Restricting ``items=`` uses the float32 path. Returns self.
        """
        from ._compressed import CompressedItems

        self._compressed = None if dtype is None else CompressedItems(dtype, rerank, candidates)
        return self

    def _saved_value(self, name):
        # A compressed model saves its factor matrices compressed (files 4x / 2x smaller); loading
        # gives back the dequantized factors, with the same compression in force.
        compressed = getattr(self, "_compressed", None)
        if compressed is not None and name in ("_P", "_Q"):
            return compressed.codes(self._Q) if name == "_Q" else QuantizedFactors(self._P, compressed.dtype)
        return getattr(self, name)

    def _load_compressed_factors(self):
        codes = self._Q if isinstance(self._Q, QuantizedFactors) else None
        for name in ("_P", "_Q"):
            value = getattr(self, name)
            if isinstance(value, QuantizedFactors):
                dense = _aligned_zeros(value.shape)
                dense[:] = value.dequantize()
                setattr(self, name, dense)
        if codes is not None:
            from ._compressed import CompressedItems

            self._compressed = CompressedItems(codes.dtype)
            self._compressed.adopt(codes, self._Q)

    @property
    def compression(self):
        """The compressed-retrieval setting of :meth:`compress`, or None."""
        return getattr(self, "_compressed", None)

    def _cosine_neighbours(self, table, rows, k):
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        unit = np.divide(table, norms, out=np.zeros_like(table), where=norms > 0)
        self_pairs = sp.csr_matrix((np.ones(rows.size, np.float32), (np.arange(rows.size), rows)),
                                   shape=(rows.size, table.shape[0]))
        return topk_dot(unit[rows], unit, k, exclude=self_pairs, n_threads=self._n_threads)

    def _similar_items(self, items, k):
        return self._cosine_neighbours(self._Q, items, k)

    def _similar_users(self, users, k):
        return self._cosine_neighbours(self._P, users, k)

    @property
    def user_factors(self) -> np.ndarray:
        """(n_users, factors) view of the user vectors p_u."""
        self._check_fitted()
        return self._P[:, : self.factors]

    @property
    def item_factors(self) -> np.ndarray:
        """(n_items, factors) view of the item vectors q_i."""
        self._check_fitted()
        return self._Q[:, : self.factors]

    @property
    def user_bias(self) -> np.ndarray:
        """(n_users,) view of b_u."""
        self._check_fitted()
        return self._user_meta[:, 0]

    @property
    def item_bias(self) -> np.ndarray:
        """(n_items,) view of b_i."""
        self._check_fitted()
        return self._item_meta[:, 0]

    @property
    def global_mean(self) -> float:
        self._check_fitted()
        return self.global_mean_

    # ---- fold-in ----------------------------------------------------------------------------------

    def recalculate_user(self, user_items):
        """Factors and bias for a user with these interactions, item side fixed (nothing is stored).

        user_items: a 1 x n_items sparse row (or (items, values) pair). Squared loss solves the
        regularised least squares of training's objective exactly:
        min_(b, p) sum_i (r_i - mu - b_i - b - <p, q_i>)^2 + n (reg |p|^2 + reg_bias b^2), n = number of
        items. BPR takes a few dozen seeded gradient steps on the same sampled objective as training.
        Returns (factors (factors,), bias).
        """
        self._check_fitted()
        row = self._rows_matrix(user_items, 1, "user_items")
        return self._fold_in(row.indices, row.data)

    def partial_fit_users(self, users, user_items):
        """Compute (or recompute) the given users' vectors from their interactions, items fixed, and
        store them; indices >= n_users add new users (the tables grow). ``user_items`` holds one row
        per user (n_users_given x n_items) and replaces those users' training rows, so
        ``recommend(exclude_seen=True)`` knows what they have. Returns self."""
        self._check_fitted()
        users = np.atleast_1d(np.asarray(users))
        if users.dtype == np.bool_ or not np.issubdtype(users.dtype, np.integer) or users.ndim != 1:
            raise TypeError("users must be a 1-d array of integer indices")
        if users.size and users.min() < 0:
            raise ValueError("users must be >= 0")
        if np.unique(users).size != users.size:
            raise ValueError("users must not repeat")
        rows = self._rows_matrix(user_items, users.size, "user_items")
        new_n = max(self.n_users, int(users.max(initial=-1)) + 1)
        if new_n > self.n_users:
            grow = new_n - self.n_users
            self._P = np.vstack([self._P, np.zeros((grow, self._P.shape[1]), np.float32)])
            self._user_meta = np.vstack([self._user_meta, _new_meta(grow)])
            self.user_items_ = sp.vstack([self.user_items_, sp.csr_matrix((grow, self.n_items), dtype=np.float32)],
                                         format="csr")
        for t, u in enumerate(users):
            lo, hi = rows.indptr[t], rows.indptr[t + 1]
            p, b = self._fold_in(rows.indices[lo:hi], rows.data[lo:hi])
            self._P[u, : self.factors] = p
            self._user_meta[u, 0] = b
        replaced = sp.lil_matrix(self.user_items_)
        replaced[users] = rows
        self.user_items_ = replaced.tocsr()
        self.user_items_.sort_indices()
        return self

    def _rows_matrix(self, user_items, n_rows, name):
        if isinstance(user_items, tuple) and len(user_items) == 2 and n_rows == 1:
            items = check_ids(user_items[0], "items", self.n_items)
            values = as_float32_array(user_items[1], "values", 1, finite=True)
            if values.size != items.size:
                raise ValueError("items and values must have the same length")
            user_items = sp.csr_matrix((values, (np.zeros(items.size, int), items)), shape=(1, self.n_items))
        return as_csr(user_items, name, shape=(n_rows, self.n_items))

    def _fold_in(self, items, values):
        d = int(self.factors)
        Qi = self._Q[items, :d].astype(np.float64)
        n = items.size
        if n == 0:
            return np.zeros(d, np.float32), 0.0
        if self.loss == "squared":
            y = values.astype(np.float64) - self.global_mean_ - (self.item_bias[items] if self.biased else 0.0)
            X = np.hstack([np.ones((n, 1)), Qi]) if self.biased else Qi
            penalty = np.full(X.shape[1], n * self._reg)
            if self.biased:
                penalty[0] = n * self._reg_bias
            w = np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ y)
            return (w[1:] if self.biased else w).astype(np.float32), float(w[0]) if self.biased else 0.0
        # BPR: full-batch gradient ascent on sum log sigmoid(x_uij) - n reg |p|^2 / 2 with a fixed
        # seeded sample of negatives (the user's items excluded).
        rng = np.random.default_rng(self.seed_ + 7919)
        owned = np.zeros(self.n_items, bool)
        owned[items] = True
        negatives = rng.integers(0, self.n_items, (8, n))
        negatives = np.where(owned[negatives], rng.integers(0, self.n_items, (8, n)), negatives)
        Qj = self._Q[negatives, :d].astype(np.float64)  # (8, n, d)
        bias_gap = (self.item_bias[items] - self.item_bias[negatives]) if self.biased else 0.0
        diff = Qi[None] - Qj
        p = np.zeros(d)
        for _ in range(100):
            x = diff @ p + bias_gap
            g = 1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))
            grad = np.einsum("kn,knd->d", g, diff) / 8 - n * self._reg * p
            p += 0.5 / max(n, 1) * grad
        return p.astype(np.float32), 0.0
