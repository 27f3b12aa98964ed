"""One immutable snapshot of what the service answers from: a model plus its id maps.

Requests read ``holder.state`` once and use only that object, so an answer never mixes two
models; fold-in and hot swap build a new ServingState and publish it with one assignment.

Ids are :class:`turborec.IdMap` s (the model's own maps; users first seen in feedback are appended
with ``extend``). Over HTTP a raw id is a JSON string or integer, stored as text (:func:`key`) and
compared by that text, so ``5`` and ``"5"`` name the same user whether the model's ids are numbers
or strings; the functions below are that convention on top of IdMap's lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turborec import IdMap

# Rows a model gained by an in-library fold-in without raw ids have no id: they get this prefix
# plus their index, and answers name them null.
_UNNAMED = "\x00unnamed:"


@dataclass(frozen=True)
class ServingState:
    model: object
    users: IdMap
    items: IdMap
    version: str  # the model file's identity (name + content hash prefix)
    generation: int  # grows with every publication (fold-in or swap)
    path: str
    loaded_at: float
    popular: np.ndarray  # item indices by training popularity, for the cold-start fallback
    like_value: float  # what the page sends for "like": the largest training value


def like_value(model) -> float:
    values = model.user_items_.data
    return float(values.max()) if values.size else 1.0


def popularity(model) -> np.ndarray:
    counts = np.bincount(model.user_items_.indices, minlength=model.n_items)
    return np.argsort(-counts, kind="stable").astype(np.int32)


# ---- raw ids (see the module docstring) ------------------------------------------------------------

def key(raw) -> str:
    """The text form an id is stored and compared by."""
    return raw if isinstance(raw, str) else str(int(raw))


def natural(k: str):
    """A canonical integer text ("5", not "05") is the integer; any other text stays a string."""
    if k.lstrip("-").isdigit():
        v = int(k)
        if str(v) == k:
            return v
    return k


def model_map(model, side: str) -> IdMap:
    """The model's user or item IdMap, covering all of its rows (the identity without raw ids)."""
    n = model.n_users if side == "user" else model.n_items
    m = getattr(model, f"{side}_map_", None)
    if m is None:
        return IdMap.range(n, side)
    if len(m) < n:
        m = m.extend(np.array([f"{_UNNAMED}{i}" for i in range(len(m), n)], dtype=object))
    return m


def find(ids: IdMap, raw) -> int | None:
    """The dense index of a raw id from a request (or the event store), None when unknown."""
    value = natural(key(raw))
    try:
        d = ids.index(value, missing=-1)
        if d < 0 and isinstance(value, int) and ids.ids.dtype.kind in "OUS":
            d = ids.index(str(value), missing=-1)  # string ids that look like numbers
    except (TypeError, ValueError, OverflowError):
        return None
    return None if d < 0 else int(d)


def find_many(ids: IdMap, raws) -> np.ndarray:
    """Dense indices of many raw ids in one vectorised lookup (-1 where unknown)."""
    values = [natural(key(r)) for r in raws]
    if not values:
        return np.empty(0, np.int64)
    query = None
    if all(type(v) is int for v in values):
        try:
            query = np.array(values, dtype=np.int64)
        except OverflowError:
            query = None
    if query is None:
        query = np.empty(len(values), dtype=object)
        query[:] = values
    out = np.asarray(ids.index(query, missing=-1), dtype=np.int64)
    if ids.ids.dtype.kind in "OUS" or query.dtype == object:
        for t in np.flatnonzero(out < 0).tolist():  # the few misses: string forms, huge ints
            d = find(ids, values[t])
            out[t] = -1 if d is None else d
    return out


def raw_of(ids: IdMap, index: int):
    """The raw id to answer with (None for an unnamed row)."""
    v = ids.ids[index]
    if isinstance(v, np.generic):
        v = v.item()
    return None if type(v) is str and v.startswith(_UNNAMED) else v


def raws_of(ids: IdMap, indices, *, unnamed: bool = True) -> list:
    """Raw ids of an index array of any shape (one vectorised take) as (nested) lists;
    ``unnamed=False`` skips the check for unnamed rows (item maps have none)."""
    arr = ids.ids[np.asarray(indices, dtype=np.int64)]
    out = arr.tolist()
    if unnamed and arr.dtype == object and arr.ndim == 1:
        out = [None if type(v) is str and v.startswith(_UNNAMED) else v for v in out]
    return out


def with_new(ids: IdMap, keys) -> IdMap:
    """``ids`` with the (text) keys it does not know yet appended, in order."""
    keys = list(dict.fromkeys(keys))
    known = find_many(ids, keys) >= 0
    fresh = [natural(k) for k, seen in zip(keys, known.tolist()) if not seen]
    if not fresh:
        return ids
    new = np.empty(len(fresh), dtype=object)
    new[:] = fresh
    if all(type(v) is int for v in fresh) and ids.ids.dtype.kind in "iu":
        new = new.astype(np.int64)
    return ids.extend(new)
