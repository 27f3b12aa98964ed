"""Matrix factorisation trained by parallel SGD: biased MF for ratings, BPR for implicit feedback."""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from .._validation import (_INT32_MAX, MAX_FACTORS, as_csr, as_float32_array, check_ids, check_param_int,
                           check_range_pair, check_seed, is_finite_real)
from ..data import Interactions
from ._rows import ReplacedRows
from ._dense import cosine_neighbours, recommend_dense, unit_rows
from .base import Recommender, divergence_error, rows_from_pairs
from ..quantized import QuantizedFactors
from ._compressed import CompressedItems, Compression

LOSSES = ("squared", "bpr")
SCHEDULES = ("adagrad", "constant", "decay")
# Defaults (lr, reg, reg_bias, reg_exponent, init_std) by (loss, schedule); bench/mf_defaults_quality.py
# measures them against LIBMF and Surprise SVD. Squared loss + AdaGrad: per-update regularisation
# reg * n^-0.5 for a row with n ratings. The old per-update constant (reg 0.1) over-shrank heavy rows
# and under-shrank light ones: it lost to Surprise on sparse, flat data (users with ~18 ratings:
# 0.832 vs 0.823 test RMSE at noise 0.5, 1.126 vs 1.095 at noise 1.0) and left accuracy on the table
# on skewed data (0.793 -> 0.757). Exponent 0.5 with reg = 1.3 x the training ratings' std (noisier
# data has a wider spread and wants more shrinkage; ratings c times larger want c times the reg)
# wins on every set measured, and a small start (init_std 0.01 instead of 0.1) gained 0.002-0.01.
_REG_PER_STD = 1.3
_DEFAULTS = {
    ("squared", "adagrad"): (0.05, 1.3, 0.01, 0.5, 0.01),  # reg: 1.3 x the ratings' std at fit
    ("squared", "constant"): (0.005, 0.02, 0.02, 0.0, 0.1),
    ("squared", "decay"): (0.01, 0.02, 0.02, 0.0, 0.1),
    # BPR + AdaGrad: lr 0.05 / reg 0.02 measured best across sizes (NDCG@10 vs lr 0.1 / reg 0.01:
    # 0.0266 vs 0.0225 on bench/mf_speed.py's 200k x 50k clicks, 0.038 vs 0.033 at 1/16 of it,
    # 0.184 vs 0.190 on ml-latest-small; implicit's BPR: 0.025, 0.034, 0.183). BPR's kernel has no
    # per-row weights (reg_exponent must stay 0).
    ("bpr", "adagrad"): (0.05, 0.02, 0.01, 0.0, 0.1),
    ("bpr", "constant"): (0.05, 0.01, 0.01, 0.0, 0.1),
    ("bpr", "decay"): (0.05, 0.01, 0.01, 0.0, 0.1),
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
    meta[:, 1:4] = 1.0  # AdaGrad accumulators start at 1 (LIBMF); regularisation weight 1
    return meta


def _reg_weights(counts: np.ndarray, exponent: float) -> np.ndarray:
    """Per-update regularisation weight of a row with ``counts`` ratings: counts^-exponent, so the
    row's whole penalty over an epoch is reg * counts^(1 - exponent) (0: per update, as Surprise and
    LIBMF; 1: per row, the MAP estimate under a Gaussian prior)."""
    return np.maximum(counts, 1).astype(np.float64) ** -float(exponent)


@dataclass(frozen=True)
class _Live:
    """Everything a call reads, published as one object (see turborec.models.base).

    User rows live in slots of P / user_meta: fold-in writes a user's new vector into a fresh slot
    and publishes a new ``slot`` map, so no reader ever sees a half-written row and the cost is
    proportional to the users folded in. The item side never changes after fit.
    """

    seen: ReplacedRows
    P: np.ndarray  # (capacity, dpad) user vectors by slot
    user_meta: np.ndarray  # (capacity, 4) [bias, accumulators] by slot
    slot: np.ndarray  # (n_users,) int64: the slot of each user
    used: int  # slots written so far
    Q: np.ndarray  # (n_items, dpad)
    item_meta: np.ndarray  # (n_items, 4)
    items: object  # PackedItems of Q[:, :factors] + item bias, for recommend
    unit_items: object  # PackedItems of the unit-length item vectors, for similar_items
    state: object  # the arrays above as the kernels take them (SgdStateArrays), for predict
    compressed: CompressedItems | None = None  # compress(): the item codes recommend retrieves on


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
            self.finish(model)
            return True
        return False

    def finish(self, model) -> None:
        """After the last epoch: put back the best epoch's model if a later one is in place."""
        if self.restore_best and self.wait > 0 and getattr(self, "_snapshot", None) is not None:
            model._restore(self._snapshot)
            self.wait = 0


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
        Learning rate and L2 regularisation of factors and biases. Defaults depend on ``loss`` and
        ``lr_schedule``; for squared loss with AdaGrad (the default) ``reg`` is 1.3 x the standard
        deviation of the training ratings (regularisation follows the rating scale) with
        ``reg_exponent`` 0.5: measured against LIBMF and Surprise SVD on real and generated data
        of many shapes in bench/mf_defaults_quality.py. Data with very little noise wants less.
        An explicit ``reg`` is used as given, times ``n^-reg_exponent`` per update: for Surprise's
        or LIBMF's per-update meaning (e.g. ``reg=0.02``) also pass ``reg_exponent=0``.
    reg_exponent : float in [0, 1], optional
        How regularisation scales with a row's rating count n (squared loss): each update of the
        row applies ``reg * n^-reg_exponent``, so the row's penalty per epoch is
        ``reg * n^(1 - reg_exponent)``. 0 regularises per update (Surprise, LIBMF: heavy rows are
        shrunk as much per rating as light ones); 1 per row (the MAP estimate under a Gaussian
        prior: light rows are shrunk most). Default depends on ``loss``.
    lr_schedule : {"adagrad", "constant", "decay"}
        Per-row adaptive rates lr / sqrt(sum of squared gradients), LIBMF's schedule (default);
        a constant rate; or lr / (1 + decay * epoch).
    decay : float
        For ``lr_schedule="decay"``.
    init_std : float, optional
        Factors start as N(0, init_std^2); biases at 0. Default depends on ``loss`` and
        ``lr_schedule`` (0.01 for squared loss with AdaGrad, else 0.1).
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
    early_stopping : bool
        With ``fit(..., validation=...)``: stop when the validation score (RMSE, or AUC for BPR) has
        not improved for ``patience`` epochs and keep the best epoch's model (``best_epoch_``,
        ``best_score_``). Free: the validation score is computed per epoch anyway. Without
        validation data it does nothing. False trains every epoch and keeps the last.
    patience : int >= 1
        Epochs without improvement before stopping.
    """

    def __init__(self, factors=64, epochs=20, *, loss="squared", lr=None, reg=None, reg_bias=None,
                 lr_schedule="adagrad", decay=0.1, init_std=None, biased=True, clip=None, grid=None, n_threads=0,
                 seed=None, verbose=False, early_stopping=True, patience=3, reg_exponent=None):
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
        self.early_stopping = early_stopping
        self.patience = patience
        self.reg_exponent = reg_exponent

    # ---- parameters -------------------------------------------------------------------------

    def _resolved(self):
        for name in ("factors", "epochs", "grid"):
            v = getattr(self, name)
            if name == "grid" and v is None:
                continue
            check_param_int(v, name, 0 if name == "epochs" else 1)
        if self.factors > MAX_FACTORS or self.epochs > _INT32_MAX or (self.grid or 1) > _INT32_MAX:
            raise ValueError(f"factors must be <= {MAX_FACTORS}, epochs and grid < 2^31; got factors={self.factors}, "
                             f"epochs={self.epochs}, grid={self.grid}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        lr, reg, reg_bias, exponent, init_std = _DEFAULTS[(self.loss, self.lr_schedule)]
        init_std = init_std if self.init_std is None else self.init_std
        lr = lr if self.lr is None else self.lr
        reg = reg if self.reg is None else self.reg
        reg_bias = reg_bias if self.reg_bias is None else self.reg_bias
        for name, v in (("lr", lr), ("reg", reg), ("reg_bias", reg_bias), ("init_std", init_std),
                        ("decay", self.decay)):
            if not is_finite_real(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if lr == 0:
            raise ValueError("lr must be > 0")
        exponent = exponent if self.reg_exponent is None else self.reg_exponent
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real) or not 0 <= exponent <= 1:
            raise ValueError(f"reg_exponent must be a number in [0, 1], got {exponent!r}")
        if self.loss == "bpr" and exponent != 0:
            raise ValueError("reg_exponent must be 0 for loss='bpr' (its updates regularise per update)")
        self._reg_exponent, self._init_std = float(exponent), float(init_std)
        if not isinstance(self.early_stopping, bool):
            raise TypeError(f"early_stopping must be a bool, got {self.early_stopping!r}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, numbers.Integral) or self.patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {self.patience!r}")
        check_range_pair(self.clip, "clip")
        check_seed(self.seed)
        return float(lr), float(reg), float(reg_bias)

    def _validate_params(self):
        self._resolved()

    def _saved_state(self, live):
        state = {"user_items_": live.seen.matrix(), "_P": live.P[live.slot], "_Q": live.Q,
                 "_user_meta": live.user_meta[live.slot], "_item_meta": live.item_meta,
                 "global_mean_": self.global_mean_, "rating_range_": self.rating_range_, "seed_": self.seed_,
                 "grid_": self.grid_, "history_": self.history_, "_lr": self._lr, "_reg": self._reg,
                 "_reg_bias": self._reg_bias}
        if live.compressed is not None:
            # A compressed model saves its factors compressed (files 4x / 2x smaller): the item codes
            # in force, and the user vectors quantized the same way; loading decodes them.
            d = int(self.factors)
            setting = live.compressed.setting
            state.update(_Q=live.compressed.codes, _P=QuantizedFactors(live.P[live.slot, :d], setting.dtype),
                         compression_=setting.to_json())
        return state

    def _from_saved(self, state):
        for name in ("global_mean_", "rating_range_", "seed_", "grid_", "history_", "_lr", "_reg", "_reg_bias"):
            setattr(self, name, state[name])
        self._resolved()  # sets _reg_exponent from the parameters (fold-in uses it)
        self.best_epoch_ = self.best_score_ = None  # not saved: derived from history_ as fit chose it
        key = "validation_auc" if self.loss == "bpr" else "validation_rmse"
        scores = [row.get(key) for row in self.history_ or ()]
        if self.early_stopping and scores and all(v is not None for v in scores):
            self.best_epoch_ = int(np.argmax(scores) if self.loss == "bpr" else np.argmin(scores))
            self.best_score_ = float(scores[self.best_epoch_])
        R = state["user_items_"]
        n_users, n_items = R.shape
        self._compression, codes = None, None
        if "compression_" in state:
            state = self._decode_compressed(state, R.shape)
            codes = state["_Q_codes"]
        d = int(self.factors)
        dpad = -(-d // _PAD) * _PAD
        for name, shape in (("_P", (n_users, dpad)), ("_Q", (n_items, dpad)),
                            ("_user_meta", (n_users, 4)), ("_item_meta", (n_items, 4))):
            a = state[name]
            if a.shape != shape or a.dtype != np.float32 or not a.flags.c_contiguous:
                raise ValueError(f"{name} is a {a.dtype} array of shape {a.shape}, expected float32 {shape}")
        self._publish_fitted(R, state["_P"], state["_Q"], state["_user_meta"], state["_item_meta"], codes)

    # ---- training ---------------------------------------------------------------------------

    _saved_attributes = ("_P", "_Q", "_user_meta", "_item_meta", "global_mean_", "rating_range_", "seed_", "grid_",
                         "history_", "_lr", "_reg", "_reg_bias")
    _optional_attributes = ("compression_",)  # saved by a compressed model: P / Q are then codes

    def fit(self, R, *, validation=None, callbacks: Sequence[Callable] | None = None):
        """Train on R: a CSR users x items matrix (or any sparse format), an Interactions, or a
        ``(users, items, values)`` triple of arrays.

        validation: held-out ratings in the same forms (same shape); its RMSE (squared loss) or
        sampled AUC (BPR) is recorded per epoch in ``history_``, and with ``early_stopping`` (the
        default) training stops after ``patience`` epochs without improvement and the best epoch's
        model is kept: ``best_epoch_`` (0-based) and ``best_score_`` report it (None without
        validation). callbacks: callables ``f(model, epoch, history_row) -> bool``; True stops
        training (see :class:`EarlyStopping`).
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
        if self.reg is None and (self.loss, self.lr_schedule) == ("squared", "adagrad") and R.nnz > 1:
            # scale-free default: ratings c times larger want c times the regularisation
            reg = _REG_PER_STD * float(np.std(R.data, dtype=np.float64)) or reg
        self._lr, self._reg, self._reg_bias = lr, reg, reg_bias
        seed = check_seed(self.seed)
        self.seed_ = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed
        rng = np.random.default_rng(self.seed_)
        n_users, n_items = R.shape
        d, dpad = int(self.factors), -(-int(self.factors) // _PAD) * _PAD
        P = _aligned_zeros((n_users, dpad))
        Q = _aligned_zeros((n_items, dpad))
        P[:, :d] = rng.normal(0.0, self._init_std, (n_users, d))
        Q[:, :d] = rng.normal(0.0, self._init_std, (n_items, d))
        # Per-row [bias, AdaGrad accumulator of the factors, of the bias, regularisation weight]: one line.
        user_meta, item_meta = _new_meta(n_users), _new_meta(n_items)
        user_meta[:, 3] = _reg_weights(np.diff(R.indptr), self._reg_exponent)
        item_meta[:, 3] = _reg_weights(np.bincount(R.indices, minlength=n_items), self._reg_exponent)
        self._training = [P, Q, user_meta, item_meta]
        bpr = self.loss == "bpr"
        values = R.data
        self.global_mean_ = float(values.mean()) if (R.nnz and not bpr and self.biased) else 0.0
        self.rating_range_ = (float(values.min()), float(values.max())) if R.nnz else (0.0, 0.0)
        users = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(R.indptr))
        self.grid_ = int(self.grid) if self.grid is not None else int(np.clip(round(np.sqrt(R.nnz / 1e4)), 1, 64))
        if self.grid_ > max(min(n_users, n_items), 1):  # grid x grid blocks: checked before allocating them
            raise ValueError(f"grid={self.grid_} exceeds the data: each of the grid groups needs a user and an item, "
                             f"and R has {n_users} users and {n_items} items; use grid <= {min(n_users, n_items)} "
                             "(or None)")
        grid = _kernels.sgd_grid(users=users, items=R.indices, values=None if bpr else values, n_users=n_users,
                                 n_items=n_items, grid=self.grid_, seed=self.seed_, user_sorted=not bpr)
        val = self._validation_pairs(validation, R.shape, rng)
        callbacks = list(callbacks or ())
        stoppers = [cb for cb in callbacks if isinstance(cb, EarlyStopping)]
        if val is not None and self.early_stopping and not stoppers:
            monitor = "validation_auc" if bpr else "validation_rmse"
            stoppers = [EarlyStopping(monitor, patience=int(self.patience))]
            callbacks.append(stoppers[0])
        self.history_ = []
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=int(self.epochs), desc=f"{type(self).__name__}({self.loss})", unit="epoch")
        try:
            for epoch in range(int(self.epochs)):
                start = time.perf_counter()
                total = _kernels.sgd_epoch(
                    grid, _kernels.sgd_state(*self._training), factors=d, mu=self.global_mean_, loss=self.loss,
                    lr_schedule=self.lr_schedule, lr=lr, reg=reg, reg_bias=reg_bias, decay=float(self.decay),
                    biased=bool(self.biased), seed=self.seed_, positives=R if bpr else None, epoch=epoch,
                    n_threads=self._n_threads)
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
            raise divergence_error(err, lr=lr, reg=reg, reg_bias=reg_bias) from None
        finally:
            if progress is not None:
                progress.close()
        for stop in stoppers:
            stop.finish(self)
        self.best_epoch_ = self.best_score_ = None
        if stoppers and self.history_:
            self.best_epoch_, self.best_score_ = int(stoppers[0].best_epoch), float(stoppers[0].best)
        P, Q, user_meta, item_meta = self._training
        del self._training
        self._publish_fitted(R, P, Q, user_meta, item_meta)

    def _publish_fitted(self, R, P, Q, user_meta, item_meta, codes=None):
        """Build the operands recommend and similar_items reuse, then publish the live state.
        codes: the compressed item codes read from a file (else built from Q when compress() is set)."""
        d = int(self.factors)
        items = np.ascontiguousarray(Q[:, :d])
        bias = np.ascontiguousarray(item_meta[:, 0]) if self.biased else None
        self._publish(_Live(seen=ReplacedRows(R), P=P, user_meta=user_meta, slot=np.arange(P.shape[0], dtype=np.int64),
                            used=P.shape[0], Q=Q, item_meta=item_meta,
                            items=_kernels.pack_items(items, item_bias=bias, n_threads=self._n_threads),
                            unit_items=_kernels.pack_items(unit_rows(items), item_bias=None,
                                                           n_threads=self._n_threads),
                            state=_kernels.sgd_state(P, Q, user_meta, item_meta),
                            compressed=self._compressed_items(Q, item_meta, codes)))

    # EarlyStopping's hooks: copies of the arrays being trained, and putting them back.
    def _snapshot(self):
        return [a.copy() for a in self._training]

    def _restore(self, snapshot):
        self._training = snapshot

    def _validation_pairs(self, validation, shape, rng):
        if validation is None:
            return None
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
        P, Q, user_meta, item_meta = self._training
        state = _kernels.sgd_state(P, Q, user_meta, item_meta)
        if self.loss == "bpr":
            users, pos, neg = val
            sp_, sn = self._scores(state, users, pos), self._scores(state, users, neg)
            return {"validation_auc": float(np.mean((sp_ > sn) + 0.5 * (sp_ == sn)))}
        users, items, truth = val
        err = self._clipped(self._scores(state, users, items)) - truth
        return {"validation_rmse": float(np.sqrt(np.mean(err.astype(np.float64) ** 2)))}

    # ---- using the model ------------------------------------------------------------------------

    def _scores(self, state, rows, items):
        """mu + b_u + b_i + <p_u, q_i> for P rows `rows` (slots) and items."""
        return _kernels.mf_predict(state, factors=int(self.factors), mu=float(self.global_mean_), users=rows,
                                   items=items, biased=bool(self.biased), n_threads=self._n_threads)

    def _clipped(self, out):
        if self.loss == "squared" and self.clip is not False:
            low, high = self.rating_range_ if self.clip is None else self.clip
            np.clip(out, low, high, out=out)
        return out

    def _predict(self, live, users, items):
        return self._clipped(self._scores(live.state, live.slot[users].astype(np.int32), items))

    def _recommend(self, live, users, k, exclude_seen, candidates):
        d = int(self.factors)
        if candidates is None and live.compressed is not None:  # serving on the compressed item codes
            exclude = live.seen.pattern_wire(users) if exclude_seen else None
            return live.compressed.topk(live.P[live.slot[users], :d], k, exclude=exclude, n_threads=self._n_threads)
        bias = live.item_meta[:, 0] if self.biased else None
        return recommend_dense(live.P[live.slot[users], :d], live.items, live.seen, users, k, exclude_seen, candidates,
                               live.Q[:, :d], bias, self._n_threads)

    def compress(self, dtype="int8", *, rerank=True, candidates=None):
        """Retrieve on compressed item factors from now on in :meth:`recommend` (None: float32 again).

        dtype: "int8" (AVX-512 VNNI), "bf16" (AVX512-BF16) or "fp16" (storage only), see
        :func:`turborec.topk_quantized`. rerank (default True) re-scores ``candidates`` per user in
        float32 against the exact factors, so results match float32 retrieval (recall@10 ~1.0 on
        random data); rerank=False returns the low-precision ranking and scores. A fitted model
        builds the codes now and publishes them with its state; a later fit builds them again.
        Restricting ``items=`` uses the float32 path. Returns self.
        """
        setting = None if dtype is None else Compression(dtype, rerank, candidates)
        self._compression = setting
        live = getattr(self, "_live", None)
        if live is not None:
            self._publish(replace(live, compressed=self._compressed_items(live.Q, live.item_meta)))
        return self

    @property
    def compression(self) -> Compression | None:
        """The compressed-retrieval setting of :meth:`compress` (dtype, rerank, candidates), or None."""
        return getattr(self, "_compression", None)

    def _compressed_items(self, Q, item_meta, codes=None) -> CompressedItems | None:
        setting = getattr(self, "_compression", None)
        if setting is None:
            return None
        bias = np.ascontiguousarray(item_meta[:, 0]) if self.biased else None
        return CompressedItems.build(setting, Q[:, : int(self.factors)], bias, n_threads=self._n_threads,
                                     codes=codes)

    def _decode_compressed(self, state, shape):
        """A saved compressed model: its setting, and P / Q decoded into padded float32 tables
        (the item codes are kept as they were saved, under "_Q_codes")."""
        spec = state["compression_"]
        if not isinstance(spec, dict):
            raise ValueError(f"compression_ must be a JSON object, got {type(spec).__name__}")
        try:
            self._compression = Compression(spec.get("dtype"), spec.get("rerank", True), spec.get("candidates"))
        except TypeError as e:
            raise ValueError(f"compression_: {e}") from None
        d = int(self.factors)
        dpad = -(-d // _PAD) * _PAD
        state = dict(state)
        for name, n in (("_P", shape[0]), ("_Q", shape[1])):
            codes = state[name]
            if not isinstance(codes, QuantizedFactors) or codes.dtype != self._compression.dtype:
                raise ValueError(f"{name} must be {self._compression.dtype} codes in a compressed model file")
            if codes.shape != (n, d):
                raise ValueError(f"{name} codes have shape {codes.shape}, expected {(n, d)}")
            table = _aligned_zeros((n, dpad))
            table[:, :d] = codes.dequantize()
            state[name] = table
        state["_Q_codes"] = codes
        return state

    def _similar_items(self, live, items, k):
        unit = unit_rows(np.ascontiguousarray(live.Q[items, : int(self.factors)]))
        return cosine_neighbours(unit, live.unit_items, items, k, self._n_threads)

    def _similar_users(self, live, users, k):
        unit = unit_rows(live.P[live.slot, : int(self.factors)])
        packed = _kernels.pack_items(unit, item_bias=None, n_threads=self._n_threads)
        return cosine_neighbours(np.ascontiguousarray(unit[users]), packed, users, k, self._n_threads)

    @property
    def user_factors_(self) -> np.ndarray:
        """(n_users, factors) user vectors p_u (a copy: fold-in keeps rows in slots)."""
        self._check_fitted()
        live = self._live
        return live.P[live.slot, : self.factors]

    @property
    def item_factors_(self) -> np.ndarray:
        """(n_items, factors) view of the item vectors q_i."""
        self._check_fitted()
        return self._live.Q[:, : self.factors]

    @property
    def user_bias_(self) -> np.ndarray:
        """(n_users,) b_u (a copy)."""
        self._check_fitted()
        live = self._live
        return live.user_meta[live.slot, 0]

    @property
    def item_bias_(self) -> np.ndarray:
        """(n_items,) view of b_i."""
        self._check_fitted()
        return self._live.item_meta[:, 0]

    # Read-only aliases from before fitted attributes took the trailing underscore (kept working).
    user_factors = property(lambda self: self.user_factors_, doc="Read-only alias of ``user_factors_``.")
    item_factors = property(lambda self: self.item_factors_, doc="Read-only alias of ``item_factors_``.")
    user_bias = property(lambda self: self.user_bias_, doc="Read-only alias of ``user_bias_``.")
    item_bias = property(lambda self: self.item_bias_, doc="Read-only alias of ``item_bias_``.")

    @property
    def global_mean(self) -> float:
        """Read-only alias of ``global_mean_`` (mu)."""
        self._check_fitted()
        return self.global_mean_

    # ---- fold-in ----------------------------------------------------------------------------------

    def recalculate_user(self, user_items):
        """Factors and bias for a user with these interactions, item side fixed (nothing is stored).

        user_items: a 1 x n_items sparse row (or (items, values) pair). Squared loss solves the
        regularised least squares of training's objective exactly:
        min_(b, p) sum_i (r_i - mu - b_i - b - <p, q_i>)^2 + n^(1 - reg_exponent) (reg |p|^2 + reg_bias b^2),
        n = number of items. BPR takes a few dozen seeded gradient steps on the same sampled objective as training.
        Returns (factors (factors,), bias).
        """
        self._check_fitted()
        live = self._live
        if isinstance(user_items, tuple) and len(user_items) == 2:
            row = rows_from_pairs(user_items[0], user_items[1], live.Q.shape[0])
        else:
            row = as_csr(user_items, "user_items", shape=(1, live.Q.shape[0]))
        return self._solve_user(live, row.indices, row.data)

    def _fold_in(self, live, users, rows):
        n_users = live.slot.size
        new_n = max(n_users, int(users.max(initial=-1)) + 1)
        # Every user that gets a slot now: the given ones and, when the table grows, the gap users.
        gap = np.setdiff1d(np.arange(n_users, new_n), users)
        fresh = np.concatenate([users, gap])
        P, meta, used = live.P, live.user_meta, live.used
        if used + fresh.size > P.shape[0]:  # grow the slot storage (amortised doubling), compacted
            capacity = max(2 * (new_n + fresh.size), 16)
            P2 = np.zeros((capacity, P.shape[1]), np.float32)
            meta2 = _new_meta(capacity)
            P2[:n_users], meta2[:n_users] = P[live.slot], meta[live.slot]
            P, meta, used = P2, meta2, n_users
            slot = np.arange(n_users, dtype=np.int64)
        else:
            slot = live.slot.copy()
        new_slots = np.arange(used, used + fresh.size, dtype=np.int64)
        d = int(self.factors)
        for t, u in enumerate(users):
            lo, hi = rows.indptr[t], rows.indptr[t + 1]
            p, b = self._solve_user(live, rows.indices[lo:hi], rows.data[lo:hi])
            P[new_slots[t], :d] = p
            meta[new_slots[t]] = (b, 1.0, 1.0, _reg_weights(np.array([hi - lo]), self._reg_exponent)[0])
        for t in range(users.size, fresh.size):  # gap users: no interactions, zero vectors
            P[new_slots[t]] = 0.0
            meta[new_slots[t]] = (0.0, 1.0, 1.0, 1.0)
        if new_n > slot.size:
            slot = np.concatenate([slot, np.zeros(new_n - slot.size, np.int64)])
        slot[fresh] = new_slots
        state = live.state if P is live.P else _kernels.sgd_state(P, live.Q, meta, live.item_meta)
        return replace(live, seen=live.seen.replace(users, rows), P=P, user_meta=meta, slot=slot,
                       used=used + fresh.size, state=state)

    def _solve_user(self, live, items, values):
        d = int(self.factors)
        Qi = live.Q[items, :d].astype(np.float64)
        n = items.size
        if n == 0:
            return np.zeros(d, np.float32), 0.0
        item_bias = live.item_meta[:, 0]
        if self.loss == "squared":
            y = values.astype(np.float64) - self.global_mean_ - (item_bias[items] if self.biased else 0.0)
            X = np.hstack([np.ones((n, 1)), Qi]) if self.biased else Qi
            weight = n * float(_reg_weights(np.array([n]), self._reg_exponent)[0])  # as training's per-update sum
            penalty = np.full(X.shape[1], weight * self._reg)
            if self.biased:
                penalty[0] = weight * self._reg_bias
            w = np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ y)
            return (w[1:] if self.biased else w).astype(np.float32), float(w[0]) if self.biased else 0.0
        # BPR: full-batch gradient ascent on sum log sigmoid(x_uij) - n reg |p|^2 / 2 with a fixed
        # seeded sample of negatives (the user's items excluded).
        n_items = live.Q.shape[0]
        rng = np.random.default_rng(self.seed_ + 7919)
        owned = np.zeros(n_items, bool)
        owned[items] = True
        negatives = rng.integers(0, n_items, (8, n))
        negatives = np.where(owned[negatives], rng.integers(0, n_items, (8, n)), negatives)
        Qj = live.Q[negatives, :d].astype(np.float64)  # (8, n, d)
        bias_gap = (item_bias[items] - item_bias[negatives]) if self.biased else 0.0
        diff = Qi[None] - Qj
        p = np.zeros(d)
        for _ in range(100):
            x = diff @ p + bias_gap
            g = 1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))
            grad = np.einsum("kn,knd->d", g, diff) / 8 - n * self._reg * p
            p += 0.5 / max(n, 1) * grad
        return p.astype(np.float32), 0.0

