"""Hybrid recommendations: a weighted blend of several models, with switching rules for cold start."""

from __future__ import annotations

import inspect
import itertools
import numbers
import threading
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .. import _kernels
from .._validation import as_csr
from ._rows import ReplacedRows
from .base import Recommender
from .popularity import Popularity

NORMALIZATIONS = ("minmax", "zscore", "rank")
COLD_USER_RULES = ("popularity", "none")
_BATCH_CELLS = 1 << 22  # dense user x item accumulators per batch


def _normalized(scores: np.ndarray, valid: np.ndarray, how: str) -> np.ndarray:
    """Each row's valid scores mapped to a common scale (best ~ 1); invalid entries 0."""
    s = np.where(valid, scores, 0.0).astype(np.float64)
    n = valid.sum(axis=1, keepdims=True)
    if how == "rank":
        width = scores.shape[1]
        out = 1.0 - np.arange(width)[None, :] / np.maximum(n, 1)
    elif how == "minmax":
        hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True, initial=-np.inf)
        lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True, initial=np.inf)
        span = hi - lo
        with np.errstate(invalid="ignore"):
            out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    else:
        mean = s.sum(axis=1, keepdims=True) / np.maximum(n, 1)
        var = (np.where(valid, s - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / np.maximum(n, 1)
        std = np.sqrt(var)
        # shifted so that the worst listed item of a member still adds >= 0 over an unlisted one
        z = np.where(std > 0, (s - mean) / np.where(std > 0, std, 1.0), 0.0)
        low = np.where(valid, z, np.inf).min(axis=1, keepdims=True, initial=np.inf)
        out = z - np.where(np.isfinite(low), low, 0.0) + 1e-3
    return np.where(valid, out, 0.0)


@dataclass(frozen=True)
class _Live:
    """Everything a call reads, published as one object (see turborec.models.base)."""

    seen: ReplacedRows
    members: tuple  # the fitted member models
    weights: np.ndarray  # (n_members,) summing to 1
    item_counts: np.ndarray  # (n_items,) training interactions per item; 0 = cold item
    popularity: Popularity  # fitted on the training matrix: the cold-user switch


class Hybrid(Recommender):
    """Blend of fitted models: score(u, i) = sum_m w_m s_m(u, i) / sum_m w_m over the models, each
    member's scores normalised per user (``normalize``) over its top ``n_candidates`` list; an item
    outside a member's list gets 0 from it.

    Switching rules for cold start:

    - items nobody rated in training are scored only by members that can score them (those with
      ``scores_cold_items = True``: :class:`ContentKNN`, :class:`FeatureMF`), with those members'
      weights renormalised, so a cold item competes on the same scale as warm ones; when all of
      them have weight 0, they share the cold items equally;
    - users without training interactions (``cold_users="popularity"``) get the most popular
      items (a :class:`turborec.Popularity` fitted on the same data); ``"none"`` leaves them to the blend (members usually return nothing for them).

    ``fit(R, validation=None, item_features=None)`` fits each member on R (``fit_members=True``;
    members whose ``fit`` takes ``item_features`` get it), or uses the members as they are
    (``fit_members=False``: they must be fitted on R's shape). ``weights=None`` with a
    ``validation`` matrix fits the weights: a grid over the simplex in steps of ``weight_step``,
    keeping the weights with the best NDCG@10 of ``recommend`` on the validation users (ties: the
    earlier grid point); without validation the weights are equal. ``weights_`` holds the result.

    ``predict(u, i)`` is the weighted mean of the members' predictions (cold items: of the members
    that score them, when there is one). ``similar_items`` / ``similar_users`` come from the member
    with the largest weight. ``partial_fit_users`` folds the users into every member (each through
    its own ``partial_fit_users`` rules, on a copy of the member, so readers of the blend see the
    old members or the new ones, never a mix) and into the cold-user switch; the weights and which
    items count as cold stay as fitted. A member without fold-in makes it raise
    NotImplementedError naming that member, and nothing changes. Saving stores every member
    inside the file.
    """

    _saved_attributes = ("weights_", "members_blob_", "members_offsets_")

    def __init__(self, models=None, weights=None, *, normalize="minmax", n_candidates=200, cold_users="popularity",
                 fit_members=True, weight_step=0.1, n_threads=0):
        self.models = models
        self.weights = weights
        self.normalize = normalize
        self.n_candidates = n_candidates
        self.cold_users = cold_users
        self.fit_members = fit_members
        self.weight_step = weight_step
        self.n_threads = n_threads

    def _validate_params(self):
        if not isinstance(self.models, (list, tuple)) or not self.models:
            raise ValueError("models must be a non-empty list of turborec models")
        for m in self.models:
            if not isinstance(m, Recommender):
                raise TypeError(f"models must be turborec models (Recommender), got {type(m).__name__}")
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.shape != (len(self.models),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"weights must be None or {len(self.models)} finite numbers >= 0 with a positive "
                                 f"sum, got {self.weights!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.cold_users not in COLD_USER_RULES:
            raise ValueError(f"cold_users must be one of {COLD_USER_RULES}, got {self.cold_users!r}")
        if isinstance(self.n_candidates, bool) or not isinstance(self.n_candidates, numbers.Integral) \
                or self.n_candidates < 1:
            raise ValueError(f"n_candidates must be an int >= 1, got {self.n_candidates!r}")
        step = self.weight_step
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or not 0 < step <= 1:
            raise ValueError(f"weight_step must be a number in (0, 1], got {step!r}")

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, R, validation=None, item_features=None):
        """Fit the members (unless fit_members=False) on R, then the weights on ``validation``."""
        from ..data import Interactions
        from ..features import Features

        self._validate_params()
        if isinstance(item_features, Features) and isinstance(R, Interactions) \
                and item_features.n_known == R.n_items and item_features.n_new:
            R = item_features.extend(R)
        if self.fit_members:
            for m in self.models:
                if "item_features" in inspect.signature(m.fit).parameters:
                    m.fit(R, item_features=item_features)
                else:
                    m.fit(R)
        return super().fit(R, validation=validation)

    def _fit(self, R, validation=None):
        for t, m in enumerate(self.models):
            if not m.is_fitted or (m.n_users, m.n_items) != R.shape:
                raise ValueError(f"models[{t}] ({type(m).__name__}) must be fitted on a {R.shape} matrix, got "
                                 f"{(m.n_users, m.n_items) if m.is_fitted else 'unfitted'}")
        members = tuple(self.models)
        n = len(members)
        if self.weights is not None:
            weights = np.asarray(self.weights, dtype=np.float64) / float(np.sum(self.weights))
        else:
            weights = np.full(n, 1.0 / n)
        live = self._live_of(R, members, weights)
        if self.weights is None and validation is not None and n > 1:
            live = replace(live, weights=self._fit_weights(live, as_csr(_matrix(validation), "validation",
                                                                        shape=R.shape)))
        self._publish(live)

    def _live_of(self, R, members, weights):
        popularity = Popularity(n_threads=self._n_threads).fit(R)
        return _Live(seen=ReplacedRows(R), members=members, weights=weights,
                     item_counts=np.bincount(R.indices, minlength=R.shape[1]).astype(np.float32),
                     popularity=popularity)

    @property
    def weights_(self) -> np.ndarray:
        """The blend's weights (summing to 1), fitted or given."""
        self._check_fitted()
        return self._live.weights

    @property
    def item_counts_(self) -> np.ndarray:
        self._check_fitted()
        return self._live.item_counts

    def _fit_weights(self, live, V):
        from ..metrics import ndcg_at_k

        R = live.seen.matrix()
        users = np.flatnonzero(np.diff(V.indptr) > 0).astype(np.int32)
        users = users[np.diff(R.indptr)[users] > 0]  # cold users are switched, not blended
        if users.size == 0:
            return np.full(len(live.members), 1.0 / len(live.members))
        lists = self._member_lists(live, users, True, None)
        steps = int(round(1.0 / float(self.weight_step)))
        best, best_w = -np.inf, None
        for combo in itertools.product(range(steps + 1), repeat=len(live.members)):
            if sum(combo) != steps:
                continue
            w = np.asarray(combo, np.float64) / steps
            ids, _ = self._blend(live, lists, w, 10)
            score = ndcg_at_k(ids, V[users], 10)
            if score > best + 1e-12:
                best, best_w = score, w
        self.validation_ndcg_ = float(best)
        return best_w

    # ---- scoring ------------------------------------------------------------------------------

    def _member_lists(self, live, users, exclude_seen, items):
        """Each member's (ids, normalised scores) over its top n_candidates for these users."""
        n_items = live.seen.shape[1]
        width = min(int(self.n_candidates), n_items)
        out = []
        for m in live.members:
            ids, scores = m.recommend(users, width, exclude_seen=exclude_seen, items=items)
            ids = np.asarray(ids)
            valid = ids >= 0
            out.append((ids, _normalized(np.asarray(scores), valid, self.normalize), bool(getattr(m, "scores_cold_items",
                                                                                               False))))
        return out

    def _blend(self, live, lists, weights, k):
        n_users, n_items = lists[0][0].shape[0], live.seen.shape[1]
        cold_item = live.item_counts == 0
        ids_out = np.full((n_users, k), -1, np.int32)
        sc_out = np.full((n_users, k), -np.inf, np.float32)
        capable = np.array([c for _, _, c in lists])
        cold_weights = np.where(capable, weights, 0.0)
        if cold_weights.sum() == 0 and capable.any():  # switching: cold items go to the content members
            cold_weights = capable / capable.sum()
        total_w, cold_w = float(weights.sum()), float(cold_weights.sum())
        rows_per_batch = max(1, _BATCH_CELLS // max(n_items, 1))
        for b in range(0, n_users, rows_per_batch):
            e = min(n_users, b + rows_per_batch)
            acc = np.zeros((e - b, n_items))
            acc_cold = np.zeros((e - b, n_items))
            listed = np.zeros((e - b, n_items), bool)
            r = np.arange(e - b)[:, None]
            for w, wc, (ids, norm, _) in zip(weights, cold_weights, lists):
                i, s = ids[b:e], norm[b:e]
                valid = i >= 0
                at = (np.broadcast_to(r, i.shape)[valid], i[valid])
                listed[at] = True
                if w:
                    np.add.at(acc, at, w * s[valid])
                if wc:
                    np.add.at(acc_cold, at, wc * s[valid])
            warm_score = acc / total_w if total_w > 0 else acc
            cold_score = acc_cold / cold_w if cold_w > 0 else acc_cold
            score = np.where(cold_item[None, :], cold_score, warm_score)
            score[~listed] = -np.inf
            i, t = _kernels.topk(score.astype(np.float32), k=k, exclude=None, n_threads=self._n_threads)  # ties: lower id
            unlisted = ~np.isfinite(t)
            ids_out[b:e] = np.where(unlisted, -1, i)
            sc_out[b:e] = np.where(unlisted, -np.inf, t)
        return ids_out, sc_out

    def _recommend(self, live, users, k, exclude_seen, candidates):
        items = None if candidates is None else np.flatnonzero(candidates)
        ids = np.full((users.size, k), -1, np.int32)
        scores = np.full((users.size, k), -np.inf, np.float32)
        seen = live.seen.matrix()
        has_history = np.diff(seen.indptr)[users] > 0
        if self.cold_users == "none":
            has_history[:] = True
        warm = np.flatnonzero(has_history)
        if warm.size:
            lists = self._member_lists(live, users[warm], exclude_seen, items)
            ids[warm], scores[warm] = self._blend(live, lists, live.weights, k)
        cold = np.flatnonzero(~has_history)
        if cold.size:  # switching: users without history get the most popular (allowed, unseen) items
            ids[cold], scores[cold] = live.popularity.recommend(users[cold], k, exclude_seen=exclude_seen, items=items)
        return ids, scores

    def _predict(self, live, users, items):
        preds = np.stack([m.predict(users, items).astype(np.float64) for m in live.members])
        w = live.weights[:, None] * np.ones((1, users.size))
        capable = np.array([bool(getattr(m, "scores_cold_items", False)) for m in live.members])
        cold = live.item_counts[items] == 0
        if capable.any():
            w[:, cold] *= capable[:, None]
        den = w.sum(axis=0)
        out = np.divide((w * preds).sum(axis=0), den, out=preds.mean(axis=0), where=den > 0)
        return out.astype(np.float32)

    @staticmethod
    def _lead(live):
        return live.members[int(np.argmax(live.weights))]

    def _similar_items(self, live, items, k):
        return self._lead(live).similar_items(items, k)

    def _similar_users(self, live, users, k):
        return self._lead(live).similar_users(users, k)

    # ---- fold-in: delegated to the members ----------------------------------------------------------

    def partial_fit_users(self, users, user_items, *, user_ids=None) -> "Hybrid":
        super().partial_fit_users(users, user_items, user_ids=user_ids)
        for m in self._live.members:  # the members answer for the same users under the same raw ids
            if getattr(m, "user_map_", None) is not None:
                m.user_map_ = getattr(self, "user_map_", None)
        return self

    partial_fit_users.__doc__ = Recommender.partial_fit_users.__doc__

    def _fold_in(self, live, users, rows):
        for t, m in enumerate(live.members):
            if type(m)._fold_in is Recommender._fold_in:
                raise NotImplementedError(f"Hybrid.partial_fit_users: models[{t}] ({type(m).__name__}) does not "
                                          "support partial_fit_users; refit the Hybrid to add these users")
        members = []
        for t, m in enumerate(live.members):
            try:
                members.append(_folded(m, users, rows))
            except (NotImplementedError, ValueError, TypeError) as err:
                raise type(err)(f"Hybrid.partial_fit_users: models[{t}] ({type(m).__name__}): {err}") from err
        return replace(live, seen=live.seen.replace(users, rows), members=tuple(members),
                       popularity=_folded(live.popularity, users, rows))

    # ---- persistence: members travel inside the file as their own model files -----------------------

    def _saved_state(self, live):
        blobs = [np.frombuffer(m.to_bytes(), np.uint8) for m in live.members]
        return {"user_items_": live.seen.matrix(), "weights_": live.weights,
                "members_blob_": np.concatenate(blobs),
                "members_offsets_": np.cumsum([0] + [b.size for b in blobs]).astype(np.int64)}

    def _without_members(self) -> "Hybrid":
        """A shallow copy whose ``models`` parameter is None: the members are saved as arrays, not
        as parameters (the fitted model itself is not touched, so concurrent readers are safe)."""
        shallow = object.__new__(type(self))  # not copy.copy: pickling goes through to_bytes
        shallow.__dict__.update(self.__dict__)
        shallow.models = None
        return shallow

    def save(self, path, *, compress: bool = False) -> None:
        """Write the blend and its members to one ``.npz`` (each member as its own model file,
        stored as bytes); :func:`turborec.load` reads it back."""
        self._check_fitted()
        from .. import persistence

        persistence.save(self._without_members(), path, compress=compress)

    def to_bytes(self, *, compress: bool = False) -> bytes:
        self._check_fitted()
        from .. import persistence

        return persistence.dumps(self._without_members(), compress=compress)

    def _restore_fitted(self, state, user_ids, item_ids):
        from .. import persistence

        blob, off = np.asarray(state["members_blob_"]), np.asarray(state["members_offsets_"])
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise ValueError("members_blob_ must be a 1-d uint8 array")
        if off.ndim != 1 or off.size < 2 or off[0] != 0 or off[-1] != blob.size or (np.diff(off) < 0).any():
            raise ValueError("members_offsets_ does not describe members_blob_")
        # The members first: the parameters name them.
        self.models = [persistence.loads(blob[off[t]:off[t + 1]].tobytes()) for t in range(off.size - 1)]
        super()._restore_fitted(state, user_ids, item_ids)

    def _from_saved(self, state):
        R = state["user_items_"]
        weights = np.asarray(state["weights_"], dtype=np.float64)
        members = tuple(self.models)
        if weights.shape != (len(members),):
            raise ValueError(f"{len(members)} members but {weights.shape} weights")
        for t, m in enumerate(members):
            if (m.n_users, m.n_items) != R.shape:
                raise ValueError(f"member {t} has shape {(m.n_users, m.n_items)}, expected {R.shape}")
        self._publish(self._live_of(R, members, weights))


def _folded(model: Recommender, users: np.ndarray, rows: sp.csr_matrix) -> Recommender:
    """A copy of a fitted model with the users folded in; ``model`` itself is left as it is (the
    copy shares its unchanged arrays: fold-ins publish new state, never write into the old)."""
    copy = object.__new__(type(model))
    copy.__dict__.update(model.__dict__)
    copy._write_lock = threading.Lock()
    live = model._live
    copy._publish(model._fold_in(live, users, rows))
    return copy


def _matrix(x):
    from ..data import Interactions

    if isinstance(x, Interactions):
        return x.matrix
    if not sp.issparse(x):
        raise TypeError(f"validation must be an Interactions or a scipy.sparse matrix, got {type(x).__name__}")
    return x
