"""Dense codes of (user, item[, value][, timestamp]) rows -> one canonical float32 CSR matrix, with
duplicate pairs resolved by an explicit policy."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ._columns import _FLOAT32_MAX, _first_bad, _show

DUPLICATES = ("error", "last", "sum", "mean")


def _sort_order(key: np.ndarray, key_max: int) -> np.ndarray:
    """argsort of key (int64 >= 0). Packs positions into the low bits when they fit: np.sort of
    the packed keys is several times faster than argsort."""
    n = key.size
    bits = max(int(n - 1).bit_length(), 1)
    if (key_max + 1) < (1 << (62 - bits)):
        packed = key << bits
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        packed &= (1 << bits) - 1
        return packed
    return np.argsort(key)


def _assemble(u_codes, i_codes, user_ids, item_ids, values, timestamps, duplicates, implicit_value,
              labels=("user", "item")):
    """Build (csr, timestamps csr or None) from per-row dense codes; resolves duplicates."""
    n = u_codes.size
    nu, ni = len(user_ids), len(item_ids)
    key = u_codes * ni + i_codes
    if n < 2 or bool(np.all(key[1:] > key[:-1])):
        skey, vals, ts = key, values, timestamps
    else:
        order = _sort_order(key, nu * ni - 1)
        skey = key[order]
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(skey[1:], skey[:-1], out=new[1:])
        n_groups = int(np.count_nonzero(new))
        if n_groups == n:
            vals = None if values is None else values[order]
            ts = None if timestamps is None else timestamps[order]
        else:
            starts = np.flatnonzero(new)
            if duplicates == "error":
                j = _first_bad(~new)
                g = starts[np.searchsorted(starts, j, side="right") - 1]
                r0, r1 = sorted((int(order[g]), int(order[j])))
                u, it = user_ids[u_codes[r0]], item_ids[i_codes[r0]]
                raise ValueError(
                    f"duplicate ({labels[0]}, {labels[1]}) pair ({_show(u)}, {_show(it)}) at rows {r0} and {r1} "
                    "(0-based); pass duplicates='last', 'sum' or 'mean' to combine duplicates"
                )
            counts = np.diff(np.append(starts, n))
            if duplicates == "last":
                last = np.maximum.reduceat(order, starts)
                vals = None if values is None else values[last]
                ts = None if timestamps is None else timestamps[last]
            else:
                if values is None:
                    vals = counts * float(implicit_value) if duplicates == "sum" else None
                else:
                    vals = np.add.reduceat(values[order], starts)
                    if duplicates == "mean":
                        vals = vals / counts
                ts = None if timestamps is None else np.maximum.reduceat(timestamps[order], starts)
            skey = skey[starts]
    n = skey.size
    rows = skey // ni if ni else skey
    cols = (skey - rows * ni).astype(np.int32)
    indptr_dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(nu + 1, dtype=indptr_dtype)
    np.cumsum(np.bincount(rows, minlength=nu), out=indptr[1:])
    if vals is None:
        data = np.full(n, implicit_value, dtype=np.float32)
    else:
        with np.errstate(over="raise"):
            try:
                data = np.asarray(vals).astype(np.float32)
            except FloatingPointError:
                raise ValueError("combined ratings overflow float32") from None
    matrix = sp.csr_matrix((data, cols, indptr), shape=(nu, ni), copy=False)
    tmat = None
    if ts is not None:
        tmat = sp.csr_matrix((np.ascontiguousarray(ts), cols, indptr), shape=(nu, ni), copy=False)
    return matrix, tmat


def _check_duplicates(duplicates):
    if not isinstance(duplicates, str):
        raise TypeError(f"duplicates must be one of {DUPLICATES}, got {type(duplicates).__name__}")
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")


def _check_implicit_value(v) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"implicit_value must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or abs(v) > _FLOAT32_MAX:
        raise ValueError(f"implicit_value must be finite (float32 range), got {v}")
    return v
