"""The contract every turborec model follows (ItemKNN, UserKNN, MatrixFactorization, ...).

Models work on dense indices: users are rows and items columns of the training matrix. Fit on an
:class:`turborec.Interactions` to keep the raw-id maps on the model (``user_ids_`` / ``item_ids_``)
for translating back and forth.

Every model has
- ``fit(R)``: R a CSR users x items matrix (ratings or implicit counts) or an Interactions.
- ``predict(users, items)``: scores for (user, item) pairs, vectorised; cold users/items get the
  model's documented fallback instead of an exception.
- ``recommend(users, k=10, *, exclude_seen=True, items=None)``: best-first ``(ids, scores)`` per
  user, shaped like :func:`turborec.topk` (padded with -1 / -inf).
- ``similar_items(items, k)`` / ``similar_users(users, k)``: neighbours by the model's similarity.
- ``get_params()`` / ``set_params()`` / ``clone()`` as in scikit-learn, and persistence.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import scipy.sparse as sp

from .._threads import resolve_threads
from .._validation import as_csr, check_ids, check_k


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before fit()."""


class Recommender:
    """Base class: parameter handling, input validation and the shared public methods.

    Subclasses implement ``_fit(R)``, ``_predict(users, items)``, ``_recommend(users, k, exclude,
    candidates)``, ``_similar_items(items, k)`` and ``_similar_users(users, k)``; the public methods
    validate arguments first, so the underscore methods can trust them.

    For persistence a subclass lists its fitted attributes in ``_saved_attributes`` (besides
    ``user_items_`` and the raw-id maps, which every model saves) and rebuilds anything derived from
    them in ``_after_load``; ``_caches`` names attributes rebuilt on demand that are neither saved
    nor pickled (C++ objects).
    """

    _saved_attributes: tuple[str, ...] = ()
    _caches: tuple[str, ...] = ()

    # ---- parameters (scikit-learn conventions) ---------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Recommender":
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def clone(self) -> "Recommender":
        """An unfitted copy with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        """Raise ValueError/TypeError for invalid parameters (fit calls the same checks)."""

    # ---- persistence -------------------------------------------------------------------------

    def save(self, path, *, compress: bool = False) -> None:
        """Write the fitted model to one ``.npz`` file; :func:`turborec.load` reads it back.

        No pickle: arrays plus a JSON document (format in :mod:`turborec.persistence`).
        ``compress=True`` deflates the arrays (smaller, slower).
        """
        from ..persistence import save

        save(self, path, compress=compress)

    def _after_load(self) -> None:
        """Rebuild derived state after turborec.load set the saved attributes; check their shapes."""
        self._n_threads = resolve_threads(getattr(self, "n_threads", 0))
        # Users added by MatrixFactorization.partial_fit_users have no raw id: maps may be shorter.
        for name, n in (("user_ids_", self.n_users), ("item_ids_", self.n_items)):
            ids = getattr(self, name)
            if ids is not None and (ids.ndim != 1 or ids.shape[0] > n):
                raise ValueError(f"{name} has shape {ids.shape}, expected at most {n} ids")

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._caches:
            if name in state:
                state[name] = None
        return state

    # ---- fitting -----------------------------------------------------------------------------

    def fit(self, R, **kwargs) -> "Recommender":
        """Fit on R (CSR users x items, any sparse format, or an Interactions)."""
        from ..data import Interactions

        self.user_ids_ = self.item_ids_ = None
        if isinstance(R, Interactions):
            self.user_ids_, self.item_ids_ = R.user_ids, R.item_ids
            R = R.matrix
        R = as_csr(R, "R")
        if R.shape[0] == 0 or R.shape[1] == 0:
            raise ValueError(f"R must have at least one user and one item, got shape {R.shape}")
        self._n_threads = resolve_threads(getattr(self, "n_threads", 0))
        self.user_items_ = R
        self._fit(R, **kwargs)
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_items_")

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(R) first")

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return self.user_items_.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.user_items_.shape[1]

    # ---- using the model -----------------------------------------------------------------------

    def predict(self, users, items) -> np.ndarray:
        """Scores for the pairs (users[t], items[t]), float32. Unknown indices raise ValueError."""
        self._check_fitted()
        users = check_ids(users, "users", self.n_users)
        items = check_ids(items, "items", self.n_items)
        if users.shape != items.shape:
            raise ValueError(f"users and items must have the same length, got {users.size} and {items.size}")
        return self._predict(users, items)

    def recommend(self, users, k=10, *, exclude_seen=True, items=None):
        """Top-k items for each user, best first: ``(ids int32 (n, k), scores float32 (n, k))``.

        exclude_seen drops the items each user has in the training matrix; ``items`` (indices)
        restricts the candidates. Rows with fewer than k candidates are padded with -1 / -inf.
        """
        self._check_fitted()
        users = check_ids(users, "users", self.n_users)
        k = check_k(k)
        candidates = None
        if items is not None:
            items = check_ids(items, "items", self.n_items)
            candidates = np.zeros(self.n_items, dtype=np.uint8)
            candidates[items] = 1
        exclude = self.user_items_[users] if exclude_seen else None
        if exclude is not None:
            exclude.sort_indices()
        return self._recommend(users, k, exclude, candidates)

    def similar_items(self, items, k=10):
        """The k most similar items to each of ``items`` (itself excluded), best first."""
        self._check_fitted()
        return self._similar_items(check_ids(items, "items", self.n_items), check_k(k))

    def similar_users(self, users, k=10):
        """The k most similar users to each of ``users`` (itself excluded), best first."""
        self._check_fitted()
        return self._similar_users(check_ids(users, "users", self.n_users), check_k(k))

    # ---- for subclasses ------------------------------------------------------------------------

    def _fit(self, R: sp.csr_matrix, **kwargs):
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _recommend(self, users, k, exclude, candidates):
        raise NotImplementedError

    def _similar_items(self, items, k):
        raise NotImplementedError

    def _similar_users(self, users, k):
        raise NotImplementedError
