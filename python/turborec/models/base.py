"""The contract every turborec model follows (ItemKNN, UserKNN, MatrixFactorization, Popularity, ...).

Models work on dense indices: users are rows and items columns of the training matrix. Fit on an
:class:`turborec.Interactions` to keep its raw-id maps on the model (``user_map_`` /
``item_map_``, ``user_ids_`` / ``item_ids_``, ``user_index(raw)`` / ``item_index(raw)``).

Every model has
- ``fit(R)``: R a CSR users x items matrix (ratings or implicit counts) or an Interactions.
- ``predict(users, items)``: scores for (user, item) pairs, vectorised; cold users/items get the
  model's documented fallback instead of an exception.
- ``recommend(users, k=10, *, exclude_seen=True, items=None)``: best-first ``(ids, scores)`` per
  user, shaped like :func:`turborec.topk` (padded with -1 / -inf).
- ``similar_items(items, k)`` / ``similar_users(users, k)``: neighbours by the model's similarity.
- ``partial_fit_users(users, user_items)``: fold in new or changed users without refitting.
- ``get_params()`` / ``set_params()`` / ``clone()`` as in scikit-learn; ``save`` / ``to_bytes`` and
  :func:`turborec.load`; pickling (through the same safe format).

Concurrency: a fitted model may be read (predict, recommend, similar_*, explain) from many
threads at once. Everything a fold-in changes lives in one immutable "live state" object that a
call reads once; ``partial_fit_users`` builds a new one and publishes it with a single attribute
assignment, so a concurrent reader sees the old model or the new one, never a mix. Writers
(fold-ins) are serialised by a lock; ``fit`` is not meant to run while others read.
"""

from __future__ import annotations

import copy
import inspect
import threading

import numpy as np
import scipy.sparse as sp

from .. import _registry
from .._threads import effective_threads
from .._validation import as_csr, as_float32_array, check_ids, check_k
from ..data import IdMap, Interactions
from ._rows import ReplacedRows


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before fit()."""


class Recommender:
    """Base class: parameters, validation, id maps, fold-in and persistence; subclasses compute.

    A subclass implements ``_fit(R, **kwargs)`` (which ends by calling ``_publish``),
    ``_predict(live, users, items)``, ``_recommend(live, users, k, exclude_seen, candidates)``,
    ``_similar_items(live, items, k)``, ``_similar_users(live, users, k)`` and, for fold-in,
    ``_fold_in(live, users, rows)`` returning the next live state. The public methods validate
    arguments once, so the underscore methods trust them. ``live`` is the subclass's immutable
    state object; it has at least ``seen``: the training matrix as :class:`ReplacedRows`.

    Persistence: ``_saved_state(live)`` returns the arrays and values to save by name and
    ``_from_saved(state)`` rebuilds the model from them (checking their shapes).
    """

    # fit refuses an R without a single interaction (ValueError naming R); a model that can learn
    # from side information alone (content features) sets this False.
    _needs_interactions = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _registry.register(cls)

    # ---- parameters (scikit-learn conventions) ---------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Recommender":
        valid = set(self._param_names())
        for name in params:
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}")
        old = {name: getattr(self, name) for name in params}
        for name, value in params.items():
            setattr(self, name, value)
        try:  # validated now, like fit would: a bad value never sits in the model unnoticed
            self._validate_params()
        except (TypeError, ValueError):
            for name, value in old.items():
                setattr(self, name, value)
            raise
        return self

    def clone(self) -> "Recommender":
        """An unfitted copy with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        """Raise ValueError/TypeError for invalid parameters (fit calls the same checks)."""

    # ---- fitted state -------------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        return getattr(self, "_live", None) is not None

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(R) first")

    def _publish(self, live) -> None:
        """Make ``live`` the state every later call reads (one atomic attribute assignment)."""
        self._live = live

    @property
    def user_items_(self) -> sp.csr_matrix:
        """The training matrix (users x items, canonical CSR), fold-ins included."""
        self._check_fitted()
        return self._live.seen.matrix()

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return self._live.seen.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self._live.seen.shape[1]

    @property
    def user_ids_(self):
        """Raw user id of each dense user (None when fitted on a bare matrix)."""
        m = getattr(self, "user_map_", None)
        return None if m is None else m.ids

    @property
    def item_ids_(self):
        """Raw item id of each dense item (None when fitted on a bare matrix)."""
        m = getattr(self, "item_map_", None)
        return None if m is None else m.ids

    def user_index(self, raw_ids, missing="error"):
        """Dense user indices of raw user ids (:meth:`turborec.IdMap.index`; with no raw ids, the
        dense indices themselves)."""
        self._check_fitted()
        return _index(getattr(self, "user_map_", None), raw_ids, missing, self.n_users, "user")

    def item_index(self, raw_ids, missing="error"):
        """Dense item indices of raw item ids; see :meth:`user_index`."""
        self._check_fitted()
        return _index(getattr(self, "item_map_", None), raw_ids, missing, self.n_items, "item")

    # ---- persistence -------------------------------------------------------------------------

    def save(self, path, *, compress: bool = False) -> None:
        """Write the fitted model to one ``.npz`` file; :func:`turborec.load` reads it back.

        No pickle: arrays plus a JSON document (format in :mod:`turborec.persistence`).
        ``compress=True`` deflates the arrays (smaller, slower).
        """
        from .. import persistence

        persistence.save(self, path, compress=compress)

    def to_bytes(self, *, compress: bool = False) -> bytes:
        """The bytes ``save`` would write (to ship a model to executors or services);
        :func:`turborec.load` takes them back."""
        from .. import persistence

        return persistence.dumps(self, compress=compress)

    def _saved_state(self, live) -> dict:
        return {"user_items_": live.seen.matrix()}

    def _from_saved(self, state: dict) -> None:
        raise NotImplementedError

    def _restore_fitted(self, state: dict, user_ids, item_ids) -> None:
        """Become the fitted model persistence read (its invariants checked: ValueError if broken)."""
        self._validate_params()
        self._n_threads = effective_threads(getattr(self, "n_threads", 0))
        self._write_lock = threading.Lock()
        self._live = None
        R = state["user_items_"]
        if not sp.issparse(R):
            raise ValueError("user_items_ is not a sparse matrix")
        state["user_items_"] = as_csr(R, "user_items_", n_threads=self._n_threads)
        for name, value in state.items():  # factors, biases, similarities: no NaN/inf ever loads
            _check_saved_finite(name, value)
        self._from_saved(state)
        n_users, n_items = self._live.seen.shape
        # Users added by partial_fit_users without raw ids have none: that map may be shorter.
        # Items never grow, so an item map names every item.
        self.user_map_ = None if user_ids is None else IdMap(user_ids, "user")
        self.item_map_ = None if item_ids is None else IdMap(item_ids, "item")
        if self.user_map_ is not None and len(self.user_map_) > n_users:
            raise ValueError(f"user_ids_ has {len(self.user_map_)} ids, expected at most {n_users}")
        if self.item_map_ is not None and len(self.item_map_) != n_items:
            raise ValueError(f"item_ids_ has {len(self.item_map_)} ids, expected {n_items}")

    def __getstate__(self):
        # Pickle through the safe format: C++ operands are rebuilt on load, never pickled.
        return {"params": self.get_params(), "blob": self.to_bytes() if self.is_fitted else None}

    def __setstate__(self, state):
        self.__dict__.update(state["params"])
        if state["blob"] is not None:
            from .. import persistence

            loaded = persistence.loads(state["blob"])
            self.__dict__.update(loaded.__dict__)

    # ---- fitting -----------------------------------------------------------------------------

    def fit(self, R, **kwargs) -> "Recommender":
        """Fit on R (CSR users x items, any sparse format, or an Interactions)."""
        self._validate_params()
        user_map = item_map = None
        if isinstance(R, Interactions):
            user_map, item_map = R.user_map, R.item_map
            R = R.matrix
        R = as_csr(R, "R")
        if R.shape[0] == 0 or R.shape[1] == 0:
            raise ValueError(f"R must have at least one user and one item, got shape {R.shape}")
        if R.nnz == 0 and self._needs_interactions:
            raise ValueError(f"R has no interactions (all {R.shape[0]} rows are empty): nothing to fit")
        self._n_threads = effective_threads(getattr(self, "n_threads", 0))
        self._write_lock = threading.Lock()
        self._live = None
        self._fit(R, **kwargs)
        self.user_map_, self.item_map_ = user_map, item_map
        return self

    # ---- using the model -----------------------------------------------------------------------

    def predict(self, users, items) -> np.ndarray:
        """Scores for the pairs (users[t], items[t]), float32. Unknown indices raise ValueError."""
        self._check_fitted()
        live = self._live
        users = check_ids(users, "users", live.seen.shape[0])
        items = check_ids(items, "items", live.seen.shape[1])
        if users.shape != items.shape:
            raise ValueError(f"users and items must have the same length, got {users.size} and {items.size}")
        return self._predict(live, users, items)

    def recommend(self, users, k=10, *, exclude_seen=True, items=None):
        """Top-k items for each user, best first: ``(ids int32 (n, w), scores float32 (n, w))``.

        exclude_seen drops the items each user has in the training matrix; ``items`` (indices)
        restricts the candidates. k is capped at the number of candidates: the width is
        ``w = min(k, n_items)`` (or the number of distinct ``items``), at least 1. Rows with fewer
        candidates than w (seen items excluded) are padded with -1 / -inf.
        """
        self._check_fitted()
        live = self._live
        n_users, n_items = live.seen.shape
        users = check_ids(users, "users", n_users)
        candidates = None
        n_candidates = n_items
        if items is not None:
            items = check_ids(items, "items", n_items)
            candidates = np.zeros(n_items, dtype=np.uint8)
            candidates[items] = 1
            n_candidates = int(np.count_nonzero(candidates))
        k = check_k(k, n_candidates=n_candidates)
        return self._recommend(live, users, k, exclude_seen, candidates)

    def similar_items(self, items, k=10):
        """The k most similar items to each of ``items`` (itself excluded), best first.

        k is capped at the other items: the width is ``min(k, n_items - 1)``, at least 1."""
        self._check_fitted()
        live = self._live
        n_items = live.seen.shape[1]
        return self._similar_items(live, check_ids(items, "items", n_items), check_k(k, n_candidates=n_items - 1))

    def similar_users(self, users, k=10):
        """The k most similar users to each of ``users`` (itself excluded), best first.

        k is capped at the other users: the width is ``min(k, n_users - 1)``, at least 1."""
        self._check_fitted()
        live = self._live
        n_users = live.seen.shape[0]
        return self._similar_users(live, check_ids(users, "users", n_users), check_k(k, n_candidates=n_users - 1))

    # ---- fold-in ------------------------------------------------------------------------------

    def partial_fit_users(self, users, user_items, *, user_ids=None) -> "Recommender":
        """Fold in users from their interactions without refitting the rest of the model.

        ``users``: dense indices; indices >= n_users add new users (the model grows to the largest
        one; users in a gap have no interactions). ``user_items``: one row per user (len(users) x n_items, any sparse format) that
        replaces those users' training rows, so ``recommend(exclude_seen=True)`` knows what they
        have. ``user_ids``: raw ids of the new users (those >= n_users, in the order given) when the
        model has raw ids. The cost is proportional to the users folded in; the new state is
        published atomically (see the module docstring). Returns self.
        """
        self._check_fitted()
        users = np.atleast_1d(np.asarray(users))
        if users.dtype == np.bool_ or not np.issubdtype(users.dtype, np.integer) or users.ndim != 1:
            raise TypeError("users must be a 1-d array of integer indices")
        if users.size and users.min() < 0:
            raise ValueError("users must be >= 0")
        if np.unique(users).size != users.size:
            raise ValueError("users must not repeat")
        with self._write_lock:
            live = self._live
            n_users, n_items = live.seen.shape
            rows = as_csr(user_items, "user_items", shape=(users.size, n_items))
            new_map = self._grown_map(getattr(self, "user_map_", None), users, n_users, user_ids)
            self._publish(self._fold_in(live, users.astype(np.int64), rows))
            self.user_map_ = new_map
        return self

    def _grown_map(self, user_map, users, n_users, user_ids):
        new_users = np.sort(users[users >= n_users])
        if user_ids is None:  # new users stay without raw ids: the map is shorter than n_users
            return user_map
        if user_map is None:
            raise ValueError("user_ids given, but the model has no raw user ids (fitted on a bare matrix)")
        ids = np.asarray(user_ids, dtype=object if np.asarray(user_ids).dtype.kind in "OUS" else None)
        if ids.ndim != 1 or ids.size != new_users.size:
            raise ValueError(f"user_ids must name the {new_users.size} new users (indices >= {n_users}), "
                             f"got {ids.size} ids")
        if user_map is not None and len(user_map) != n_users:
            raise ValueError("user_ids: earlier fold-ins added users without raw ids, so new ids cannot line up")
        if not np.array_equal(new_users, np.arange(n_users, n_users + new_users.size)):
            raise ValueError("new users must be numbered n_users, n_users + 1, ... to take raw ids")
        order = np.argsort(users[users >= n_users], kind="stable")
        return user_map.extend(ids[order])

    # ---- for subclasses ------------------------------------------------------------------------

    def _fit(self, R: sp.csr_matrix, **kwargs):
        raise NotImplementedError

    def _predict(self, live, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _recommend(self, live, users, k, exclude_seen, candidates):
        raise NotImplementedError

    def _similar_items(self, live, items, k):
        raise NotImplementedError

    def _similar_users(self, live, users, k):
        raise NotImplementedError

    def _fold_in(self, live, users: np.ndarray, rows: sp.csr_matrix):
        raise NotImplementedError(f"{type(self).__name__} does not support partial_fit_users")


def divergence_error(err: Exception, *, lr: float, reg: float, reg_bias: float | None = None) -> FloatingPointError:
    """The kernel's divergence report with advice that fits the settings that caused it.

    An SGD step scales a factor by (1 - lr * reg): from lr * reg >= 1 on, regularisation itself
    overshoots, so raising reg (the usual advice) would make it worse."""
    text = str(err).split(":")[0]
    heavy = [(name, v) for name, v in (("reg", reg), ("reg_bias", reg_bias)) if v is not None and lr * v >= 1]
    if heavy:
        names = " and ".join(f"{n}={v:g}" for n, v in heavy)
        # Name the setting that is out of its usual range: lr (well below 1) or the regularisation.
        culprit = ("the learning rate (lr)" if lr >= max(v for _, v in heavy)
                   else " and ".join(n for n, _ in heavy))
        advice = (f"{names} with lr={lr:g} makes every regularisation step overshoot (lr * reg >= 1): "
                  f"lower {culprit}")
    else:
        advice = "lower the learning rate (lr) or raise the regularisation (reg)"
    return FloatingPointError(f"{text}: the loss or the factors are not finite; {advice}")


def _check_saved_finite(name: str, value) -> None:
    data = value.data if sp.issparse(value) else value
    if isinstance(data, (float, np.floating)) or (isinstance(data, np.ndarray) and data.dtype.kind in "fc"):
        if not np.isfinite(data).all():
            raise ValueError(f"{name} holds NaN or inf values")


def _index(id_map, raw_ids, missing, n, kind):
    if id_map is not None:
        return id_map.index(raw_ids, missing)
    return IdMap.range(n, kind).index(raw_ids, missing)


def rows_from_pairs(items, values, n_items: int) -> sp.csr_matrix:
    """One user's (items, values) as a 1 x n_items CSR row (for fold-in helpers)."""
    items = check_ids(items, "items", n_items)
    values = as_float32_array(values, "values", 1, finite=True)
    if values.size != items.size:
        raise ValueError("items and values must have the same length")
    return sp.csr_matrix((values, (np.zeros(items.size, int), items)), shape=(1, n_items))


def seen_of(R: sp.csr_matrix) -> ReplacedRows:
    return ReplacedRows(R)
