"""The model holder: loads a model file, folds feedback in, swaps models, publishing atomically.

Readers take ``holder.state`` (one attribute read) and use that state's model and id maps for the
whole request, so an answer never mixes two states. A fold-in calls ``partial_fit_users`` on a
shallow copy of the current model: the library publishes the folded-in state on the copy by
reassigning its attributes (never mutating the shared arrays), so the copy costs O(1), readers
of the old state keep an unchanged model, and the new ServingState goes out with one assignment,
under a lock that serialises writers. A swap loads the new file, folds in every user who has
events, then publishes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time

import numpy as np
import scipy.sparse as sp

import turborec

from .events import EventStore
from .state import ServingState, find, find_many, like_value, model_map, popularity, with_new

log = logging.getLogger("turborec.serve")


def file_version(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{os.path.basename(path)}:{h.hexdigest()[:12]}"


def can_fold_in(model) -> bool:
    return hasattr(model, "partial_fit_users")


def _shallow_copy(model):
    """A second model object sharing the first one's (immutable) fitted state."""
    twin = object.__new__(type(model))
    twin.__dict__.update(model.__dict__)
    return twin


class ModelHolder:
    def __init__(self, path: str, store: EventStore, *, on_publish=None):
        self.store = store
        self._lock = threading.Lock()
        self._on_publish = on_publish or (lambda state, users, swapped: None)
        self.fold_ins = 0  # users folded in, for the metrics
        self.swaps = 0
        self._generation = 0
        self.state: ServingState = self._load(path)
        self._base = self.state  # the model as loaded: training rows that events are applied to
        self.folded_through = 0  # event id up to which every user is folded
        with self._lock:
            users, last = store.users_since(0)
            self._fold_locked(users)
            self.folded_through = last

    # ---- loading and swapping --------------------------------------------------------------------

    def _load(self, path: str) -> ServingState:
        path = os.fspath(path)
        model = turborec.load(path)
        self._generation += 1
        return ServingState(model=model, users=model_map(model, "user"), items=model_map(model, "item"),
                            version=file_version(path), generation=self._generation, path=os.path.abspath(path),
                            loaded_at=time.time(), popular=popularity(model), like_value=like_value(model))

    def swap(self, path: str) -> ServingState:
        """Load a new model file and publish it with every stored user's feedback folded in.

        Raises ValueError/OSError (and keeps the current model) if the file cannot be loaded."""
        with self._lock:
            new = self._load(path)
            users, last = self.store.users_since(0)
            folded = self._folded(new, users, base=new)  # readers keep the old model until this is ready
            self._base, self.state = new, folded
            self.folded_through = max(self.folded_through, last)
            self.swaps += 1
            self._on_publish(self.state, None, True)
            return self.state

    # ---- fold-in ---------------------------------------------------------------------------------

    def fold_in(self, user_keys) -> None:
        """Recompute these users from their training row plus every stored event, and publish."""
        with self._lock:
            self._fold_locked(sorted(set(user_keys)))

    def _fold_locked(self, user_keys):
        if not user_keys:
            return
        self.state = self._folded(self.state, user_keys, base=self._base)
        self._on_publish(self.state, user_keys, False)

    def _folded(self, state: ServingState, user_keys, *, base: ServingState) -> ServingState:
        if not user_keys or not can_fold_in(state.model):
            return state
        history = self.store.history(list(user_keys))
        keys = [k for k in user_keys if history.get(k)]
        if not keys:
            return state
        users = with_new(state.users, keys)
        trained = base.model.user_items_  # as loaded: its own matrix, no fold-in overlay to merge
        n_trained = base.model.n_users
        idx, indptr, cols, vals = [], [0], [], []
        for k in keys:
            u = find(users, k)
            c, v = self._row(trained, u if u < n_trained else None, history[k], state)
            idx.append(u)
            cols.append(c)
            vals.append(v)
            indptr.append(indptr[-1] + c.size)
        indptr = np.asarray(indptr, np.int64 if indptr[-1] >> 31 else np.int32)
        R = sp.csr_matrix((np.concatenate(vals), np.concatenate(cols), indptr), shape=(len(keys), state.model.n_items))
        model = _shallow_copy(state.model)
        try:
            model.partial_fit_users(np.asarray(idx, np.int64), R)
        except NotImplementedError:  # a model without fold-in: the events wait for the next retrain
            log.warning("%s cannot fold in feedback; it is stored for the next retrain", type(model).__name__)
            return state
        self.fold_ins += len(keys)
        self._generation += 1
        return ServingState(model=model, users=users, items=state.items, version=state.version,
                            generation=self._generation, path=state.path, loaded_at=state.loaded_at,
                            popular=state.popular, like_value=state.like_value)

    @staticmethod
    def _row(trained: sp.csr_matrix, u, events, state: ServingState):
        """(columns, values) of a user's training row (None: a new user) with the events applied:
        the latest value of an item wins, a value of 0 removes the item; items the model does not
        know wait for the retrain."""
        values = {}
        if u is not None:
            lo, hi = trained.indptr[u], trained.indptr[u + 1]
            values = dict(zip(trained.indices[lo:hi].tolist(), trained.data[lo:hi].tolist()))
        for i, (_, value) in zip(find_many(state.items, [item for item, _ in events]).tolist(), events):
            if i < 0:
                continue
            if value == 0:
                values.pop(i, None)
            else:
                values[i] = value
        cols = np.fromiter(values.keys(), np.int32, len(values))
        vals = np.fromiter(values.values(), np.float32, len(values))
        order = np.argsort(cols)
        return cols[order], vals[order]
