"""Raw ids (any hashable: ints, strings, ...) <-> the dense indices 0..n-1 the kernels use.

One :class:`IdMap` serves every place ids cross: an :class:`~turborec.Interactions`, a fitted
model (``model.user_index(raw)``, ``model.item_ids_``), the CLI, the service and Spark jobs.
Lookups are vectorised: numeric ids by binary search over a sorted copy (O(log n) per id), other
ids through a pandas hash index (O(1) per id). Unknown ids are reported, never silently dropped,
unless the caller asks for it.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._columns import _first_bad, _pandas, _plain, _show

_MISSING = ("error", "ignore", -1)


def _unique_ids(ids, name: str) -> np.ndarray:
    """A private copy of ids as a 1-d array; NaN / None and repeated ids raise ValueError."""
    arr = _plain(ids, name)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} has a NaN id at index {_first_bad(np.isnan(arr))}")
    if arr.dtype == object:
        pd = _pandas("object raw ids")
        index = pd.Index(arr, dtype=object)
        if index.hasnans:
            raise ValueError(f"{name} has a missing id (NaN/None) at index {_first_bad(np.asarray(index.isna()))}")
        unique = index.is_unique
    else:
        srt = np.sort(arr)
        unique = not bool((srt[1:] == srt[:-1]).any())
    if not unique:
        raise ValueError(f"{name} must be unique: each raw id names one dense id")
    return arr.copy()


def _query_array(raw_ids):
    """(1-d array, was_scalar). Strings and other non-sequences are scalars; tuples are sequences."""
    if isinstance(raw_ids, (str, bytes)) or np.ndim(raw_ids) == 0:
        arr = np.empty(1, dtype=object)
        arr[0] = raw_ids.item() if isinstance(raw_ids, np.generic) else raw_ids
        try:  # a numeric scalar gets a numeric array so the fast path applies
            typed = np.asarray([arr[0]])
            if typed.dtype.kind in "iufb":
                arr = typed
        except (TypeError, ValueError):  # pragma: no cover - exotic hashables
            pass
        return arr, True
    return _plain(raw_ids, "raw_ids"), False


def _check_missing(missing):
    ok = missing in ("error", "ignore") or (isinstance(missing, numbers.Integral) and not isinstance(missing, bool)
                                            and missing == -1)
    if not ok:
        raise ValueError(f"missing must be 'error', 'ignore' or -1, got {missing!r}")


class IdMap:
    """The raw ids of n dense indices: ``ids[d]`` is the raw id of dense index ``d``.

    Parameters
    ----------
    ids : array-like of unique raw ids
        Numbers or strings (any hashable); NaN / None and repeats raise ValueError. Copied.
    kind : str
        What the ids name ("user", "item"): used in error messages.

    An IdMap is immutable (``extend`` returns a new one), so it is safe to share across threads.
    """

    __slots__ = ("_ids", "_kind", "_numeric", "_order", "_sorted", "_index")

    def __init__(self, ids, kind: str = "id"):
        self._set(_unique_ids(ids, f"{kind}_ids"), kind)

    def _set(self, ids: np.ndarray, kind: str):
        self._ids = ids
        self._ids.setflags(write=False)
        self._kind = kind
        self._numeric = ids.dtype.kind in "iuf"
        self._index = None
        if self._numeric:
            self._order = np.argsort(ids, kind="stable")
            self._sorted = ids[self._order]
        else:
            self._order = self._sorted = None
            self._index = _pandas("looking up object raw ids").Index(ids, dtype=object)

    @classmethod
    def _trusted(cls, ids: np.ndarray, kind: str) -> "IdMap":
        """From ids already known to be unique and free of NaN (internal: no check, no copy)."""
        obj = cls.__new__(cls)
        obj._set(ids, kind)
        return obj

    @classmethod
    def range(cls, n: int, kind: str = "id") -> "IdMap":
        """The identity map 0..n-1 (what data without raw ids has)."""
        return cls._trusted(np.arange(n, dtype=np.int64), kind)

    # ---- facts --------------------------------------------------------------------------------

    @property
    def ids(self) -> np.ndarray:
        """The raw ids in dense order (read-only array; object dtype for strings)."""
        return self._ids

    @property
    def kind(self) -> str:
        return self._kind

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"IdMap({len(self)} {self._kind} ids, dtype={self._ids.dtype})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return len(self) == len(other) and bool(np.all(self._ids == other._ids))

    __hash__ = None  # mutable-looking arrays inside: compare, don't hash

    def __contains__(self, raw_id) -> bool:
        return self._lookup_one(raw_id) >= 0

    # ---- raw -> dense ---------------------------------------------------------------------------

    def _lookup_one(self, raw) -> int:
        """Dense index of one raw id, -1 where unknown: the same answer as ``_lookup`` without
        building arrays (a service looks up one user per request; that path cost 15-180 us)."""
        if isinstance(raw, np.generic):
            raw = raw.item()
        try:
            if self._numeric:
                if not isinstance(raw, numbers.Real):  # bool is Integral, hence Real: as in _lookup
                    return -1 if isinstance(raw, (str, bytes)) else int(self._lookup(_query_array(raw)[0])[0])
                s = self._sorted
                pos = int(s.searchsorted(raw))
                return int(self._order[pos]) if pos < s.size and s[pos] == raw else -1
            loc = self._index.get_loc(raw)
            return int(loc) if isinstance(loc, (int, np.integer)) else int(self._lookup(_query_array(raw)[0])[0])
        except KeyError:
            return -1
        except (OverflowError, TypeError, ValueError):  # ids numpy cannot compare: the general path decides
            return int(self._lookup(_query_array(raw)[0])[0])

    def _lookup(self, query: np.ndarray) -> np.ndarray:
        """Dense index of each query id, -1 where unknown (int64)."""
        if query.size == 0:
            return np.empty(0, dtype=np.int64)
        if self._numeric:
            if query.dtype.kind not in "iufb":
                if query.dtype != object:
                    return np.full(query.size, -1, dtype=np.int64)
                pd = _pandas("looking up object raw ids")
                return np.asarray(pd.Index(self._ids).get_indexer(pd.Index(query, dtype=object)), dtype=np.int64)
            if self._sorted.size == 0:
                return np.full(query.size, -1, dtype=np.int64)
            pos = np.searchsorted(self._sorted, query)
            pos_c = np.minimum(pos, self._sorted.size - 1)
            found = self._sorted[pos_c] == query
            return np.where(found, self._order[pos_c], -1).astype(np.int64)
        pd = _pandas("looking up object raw ids")
        q = pd.Index(query.astype(object) if query.dtype.kind in "US" else query)
        return np.asarray(self._index.get_indexer(q), dtype=np.int64)

    def index(self, raw_ids, missing="error"):
        """Dense indices of raw ids.

        Parameters
        ----------
        raw_ids : scalar or array-like
            One raw id (returns an int) or a sequence of them (returns an int64 array). Strings
            are scalars; a tuple is a sequence of ids.
        missing : {"error", "ignore", -1}
            What an unknown raw id (a cold-start user, say) does: ``"error"`` raises KeyError
            naming it and counting the unknown ones, ``"ignore"`` drops it from the result (which
            can then be shorter; a scalar gives an empty array), ``-1`` maps it to -1 (positions
            stay aligned).
        """
        _check_missing(missing)
        if isinstance(raw_ids, (str, bytes)) or np.ndim(raw_ids) == 0:
            dense = self._lookup_one(raw_ids)
            if dense >= 0:
                return dense
        query, scalar = _query_array(raw_ids)
        dense = self._lookup(query)
        unknown = dense < 0
        if unknown.any():
            if missing == "error":
                i = _first_bad(unknown)
                n_bad = int(np.count_nonzero(unknown))
                more = f" ({n_bad} of {query.size} ids are unknown)" if n_bad > 1 else ""
                raise KeyError(f"unknown {self._kind} id {_show(query[i])}{more}; pass missing=-1 to map unknown ids "
                               f"to -1 or missing='ignore' to drop them")
            if missing == "ignore":
                return dense[~unknown]
        if scalar and dense.size == 1:
            return int(dense[0])
        return dense

    def index_text(self, text: str) -> int:
        """The dense index of an id typed as text (a command line, a URL): tried as an int, then a
        float, then as the string itself, against this map's ids; KeyError when none matches."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        candidates = []
        for convert in (int, float):
            try:
                candidates.append(convert(text))
            except ValueError:
                pass
        candidates.append(text)
        kind = self._ids.dtype.kind
        for value in candidates:
            if kind in "iub" and not isinstance(value, int):
                continue
            if kind == "f" and isinstance(value, str):
                continue
            dense = self._lookup_one(value)
            if dense >= 0:
                return dense
        examples = ", ".join(str(v.item() if isinstance(v, np.generic) else v) for v in self._ids[:3])
        raise KeyError(f"{self._kind} {text!r} is not known (there are {len(self):,} {self._kind}s, e.g. {examples})")

    def unknown(self, raw_ids) -> np.ndarray:
        """The raw ids of ``raw_ids`` this map does not know, in their order (an array)."""
        query, _ = _query_array(raw_ids)
        return query[self._lookup(query) < 0]

    # ---- dense -> raw ---------------------------------------------------------------------------

    def raw(self, dense):
        """Raw ids of dense indices (an int gives one id, an array an array); -1 (padding) and
        out-of-range indices raise IndexError -- use :meth:`raw_padded` for top-k results."""
        arr = np.asarray(dense)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"dense {self._kind} indices must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            bad = arr[(arr < 0) | (arr >= len(self))].flat[0]
            raise IndexError(f"dense {self._kind} index {int(bad)} outside [0, {len(self)})")
        out = self._ids[arr]
        return out.item() if arr.ndim == 0 and isinstance(out, np.generic) else out

    def raw_padded(self, dense, fill=None) -> np.ndarray:
        """Raw ids of a top-k id array, with ``fill`` (an object array) where the index is -1."""
        arr = np.asarray(dense)
        out = np.empty(arr.shape, dtype=object)
        valid = arr >= 0
        out[valid] = self._ids[arr[valid]]
        out[~valid] = fill
        return out

    # ---- growth ----------------------------------------------------------------------------------

    def extend(self, new_ids) -> "IdMap":
        """A new IdMap with ``new_ids`` appended (dense indices len(self), len(self) + 1, ...).

        Every new id must be unknown to this map and unique (ValueError naming the first that is
        not). This map is unchanged.
        """
        new = _unique_ids(new_ids, f"new {self._kind} ids")
        known = self._lookup(new) >= 0
        if known.any():
            raise ValueError(f"{self._kind} id {_show(new[_first_bad(known)])} is already in the map")
        if new.size == 0:
            return self
        if self._ids.dtype != new.dtype:
            ids = np.concatenate([self._ids.astype(object), new.astype(object)])
            try:  # keep a numeric map numeric when both sides are numbers
                typed = np.asarray(ids.tolist())
                if typed.dtype.kind in "iuf" and self._ids.dtype.kind in "iuf" and new.dtype.kind in "iuf":
                    ids = typed
            except (TypeError, ValueError):  # pragma: no cover - mixed hashables stay objects
                pass
        elif self._numeric:  # merge the new ids into the sorted copy: O(n), where re-sorting was O(n log n)
            return self._merged(new)
        else:
            ids = np.concatenate([self._ids, new])
        return IdMap._trusted(ids, self._kind)

    def _merged(self, new: np.ndarray) -> "IdMap":
        """This map plus `new` (same numeric dtype, all unknown): a service adds users one at a time."""
        ids = np.concatenate([self._ids, new])
        ids.setflags(write=False)
        new_order = np.argsort(new, kind="stable")
        at = np.searchsorted(self._sorted, new[new_order])
        obj = IdMap.__new__(IdMap)
        obj._ids, obj._kind, obj._numeric, obj._index = ids, self._kind, True, None
        obj._sorted = np.insert(self._sorted, at, new[new_order])
        obj._order = np.insert(self._order, at, new_order + len(self))
        return obj
