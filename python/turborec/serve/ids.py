"""Raw ids <-> dense indices: the one place the service maps ids (to become turborec.IdMap).

Raw ids travel over HTTP as JSON strings or integers and are stored as text; they are compared by
their text form, so ``5`` and ``"5"`` are the same user. The model's own id arrays
(``user_ids_`` / ``item_ids_``, None when it was fitted on a bare matrix: then ids are 0..n-1)
give the known ids; users first seen in feedback get the next free indices.
"""

from __future__ import annotations

import numpy as np


def key(raw) -> str:
    """The text form an id is stored and compared by."""
    return raw if isinstance(raw, str) else str(int(raw))


class RawIds:
    """One side (users or items): text key -> dense index, and index -> the raw id to answer with."""

    def __init__(self, raw_ids, n: int):
        values = list(range(n)) if raw_ids is None else [v.item() if isinstance(v, np.generic) else v
                                                          for v in raw_ids]
        # Rows added by fold-in before the model was saved have no raw id: they keep no key.
        values += [None] * (n - len(values))
        self._raw = values
        self._index = {key(v): i for i, v in enumerate(values) if v is not None}
        self.n_model = n  # indices below this are in the model's tables

    def __len__(self) -> int:
        return len(self._raw)

    def get(self, raw) -> int | None:
        return self._index.get(key(raw))

    def raw(self, index: int):
        return self._raw[index]

    def raw_array(self, indices: np.ndarray) -> np.ndarray:
        """Raw ids of an index array of any shape, as an array (one vectorised lookup)."""
        arr = self.__dict__.get("_array")
        if arr is None:
            arr = np.empty(len(self._raw), dtype=object)
            arr[:] = self._raw
            if all(isinstance(v, int) for v in self._raw):
                arr = arr.astype(np.int64)
            self._array = arr
        return arr[indices]

    def raw_many(self, indices: np.ndarray) -> list:
        raw = self._raw
        return [raw[i] for i in indices.tolist()]

    def with_new(self, keys) -> "RawIds":
        """A copy with the given (text) ids added at the end, in order, if not present yet."""
        out = RawIds.__new__(RawIds)
        out._raw, out._index, out.n_model = list(self._raw), dict(self._index), self.n_model
        for k in keys:
            if k not in out._index:
                out._index[k] = len(out._raw)
                out._raw.append(_natural(k))
        return out


def _natural(k: str):
    """New ids are kept as given; digit strings come back as ints (as JSON numbers were sent)."""
    return int(k) if k.lstrip("-").isdigit() and key(int(k)) == k else k


def model_ids(model):
    """The raw-id arrays of a fitted model (None when fitted on a bare matrix)."""
    return getattr(model, "user_ids_", None), getattr(model, "item_ids_", None)
