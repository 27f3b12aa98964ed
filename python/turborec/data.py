"""Interaction data: a users x items CSR matrix plus the raw ids behind its rows and columns.

:class:`Interactions` is what every loader returns and what splits and models take. It is built
from pandas, numpy arrays, CSV, Parquet or SQL in one vectorised pass: raw ids are mapped to dense
ids with :func:`pandas.factorize` (sorted order, so the mapping is deterministic), duplicate
(user, item) pairs are resolved by an explicit policy, and the result is a canonical float32 CSR
matrix (sorted indices, no duplicates) as the kernels expect.

pandas is needed by the constructors that map raw ids (``from_pandas``, ``from_arrays``,
``from_csv``, ...); ``pyarrow`` makes CSV reading fast and is needed for Parquet; SQLAlchemy is
needed only for database URLs other than SQLite files (``pip install turborec[data,sql]``).
"""

from __future__ import annotations

import io
import numbers
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._validation import as_csr

_DUPLICATES = ("error", "last", "sum", "mean")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# schema.table or table, plain SQL identifiers only: anything else is run as a query.
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _pandas(what: str):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is installed in every test environment
        raise ImportError(f"{what} needs pandas: pip install 'turborec[data]'") from None
    return pd


# ---- column conversion ----------------------------------------------------------------------------

def _is_pandas(x) -> bool:
    mod = type(x).__module__
    return mod.startswith("pandas") and hasattr(x, "dtype")


def _asarray(x) -> np.ndarray:
    """np.asarray, except that a list mixing strings and numbers stays an object array of both
    (numpy would turn 5 into '5'); numpy string arrays become object arrays."""
    arr = np.asarray(x)
    if arr.dtype.kind in "US":
        if isinstance(x, np.ndarray) or arr.ndim != 1:
            return arr.astype(object)
        obj = np.empty(arr.shape[0], dtype=object)
        obj[:] = list(x)
        return obj
    return arr


def _plain(x, name: str) -> np.ndarray:
    """A 1-d numpy array from a list, numpy array or pandas column (extension dtypes included).

    Nullable numeric pandas columns with missing values become float64 with NaN, so that the
    caller's NaN check reports the row.
    """
    if _is_pandas(x):
        dt = x.dtype
        if isinstance(dt, np.dtype):
            arr = x.to_numpy()
        else:
            pd = _pandas("converting a pandas column")
            api = pd.api.types
            if api.is_datetime64_any_dtype(dt):
                arr = x  # handled by the timestamp converter
            elif (api.is_integer_dtype(dt) or api.is_float_dtype(dt)) and not api.is_bool_dtype(dt):
                if bool(np.asarray(x.isna()).any()):
                    arr = x.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    arr = x.to_numpy(dtype=getattr(dt, "numpy_dtype", np.float64))
            elif api.is_bool_dtype(dt):
                arr = np.asarray(x.to_numpy(dtype=object, na_value=None))
            else:
                arr = x.to_numpy(dtype=object, na_value=None)
    else:
        arr = _asarray(x)
    if getattr(arr, "ndim", 1) != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    return arr


def _object_numbers(arr: np.ndarray, name: str) -> np.ndarray:
    """An object array holding only numbers / None -> float64 (None -> NaN); anything else: TypeError."""
    pd = _pandas("converting object columns")
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        raise TypeError(f"{name} must hold real numbers, got values of inferred type {kind!r}")
    return arr.astype(np.float64)


def _show(v) -> str:
    """repr of a raw id without numpy's type wrapper (7, not np.int64(7))."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _ratings_array(x, name: str) -> np.ndarray:
    """Ratings as float64 (finite, within float32 range); NaN/inf raise naming the row."""
    arr = _plain(x, name)
    if arr.dtype == object:
        arr = _object_numbers(arr, name)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got values of dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        i = _first_bad(~finite)
        what = "a missing value (NaN)" if np.isnan(arr[i]) else f"a non-finite value ({arr[i]})"
        raise ValueError(f"{name} has {what} at row {i} (0-based); drop or fill it first")
    if arr.size and np.abs(arr).max() > _FLOAT32_MAX:
        i = _first_bad(np.abs(arr) > _FLOAT32_MAX)
        raise ValueError(f"{name} has {arr[i]} at row {i}, outside the float32 range")
    return arr


def _timestamps_array(x, name: str) -> np.ndarray:
    """Timestamps as int64 or float64. Datetimes become int64 seconds since the Unix epoch (UTC)."""
    if _is_pandas(x) or (isinstance(x, np.ndarray) and x.dtype.kind == "M"):
        pd = _pandas("converting datetime timestamps")
        if pd.api.types.is_datetime64_any_dtype(x.dtype):
            idx = pd.DatetimeIndex(x)
            na = np.asarray(idx.isna())
            if na.any():
                raise ValueError(f"{name} has a missing value (NaT) at row {_first_bad(na)} (0-based)")
            if idx.tz is not None:
                idx = idx.tz_convert("UTC").tz_localize(None)
            secs = (idx - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
            return np.asarray(secs, dtype=np.int64)
    arr = _plain(x, name)
    if arr.dtype == object:
        arr = _object_numbers(arr, name)
    if arr.dtype.kind == "u":
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} has values beyond the int64 range")
        return arr.astype(np.int64)
    if arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
        finite = np.isfinite(arr)
        if not finite.all():
            i = _first_bad(~finite)
            what = "a missing value (NaN)" if np.isnan(arr[i]) else f"a non-finite value ({arr[i]})"
            raise ValueError(f"{name} has {what} at row {i} (0-based)")
        return arr
    raise TypeError(f"{name} must hold integer, float or datetime timestamps, got values of dtype {arr.dtype}")


def _ids_to_numpy(uniques) -> np.ndarray:
    """factorize's uniques (ndarray or pandas Index/ExtensionArray, no missing values) -> ndarray."""
    if isinstance(uniques, np.ndarray):
        arr = uniques
    else:
        dt = uniques.dtype
        if isinstance(dt, np.dtype):
            arr = uniques.to_numpy()
        elif getattr(dt, "kind", "O") in "iufb" and getattr(dt, "numpy_dtype", None) is not None:
            arr = uniques.to_numpy(dtype=dt.numpy_dtype)
        else:
            arr = np.asarray(uniques, dtype=object)
    if arr.dtype.kind in "US":  # fixed-width numpy strings: keep ids as Python objects like pandas
        arr = arr.astype(object)
    return arr


def _factorize(values, name: str):
    """Dense codes (int64, sorted raw-id order where sortable) and the raw ids; missing ids raise."""
    pd = _pandas("mapping raw ids")
    if not _is_pandas(values):
        values = _asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-d, got shape {values.shape}")
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids that cannot be ordered: first-appearance order (still deterministic)
        codes, uniques = pd.factorize(values, sort=False)
    codes = np.asarray(codes)
    if codes.size and codes.min() < 0:
        i = _first_bad(codes < 0)
        raise ValueError(f"{name} has a missing id (NaN/None) at row {i} (0-based)")
    return codes.astype(np.int64, copy=False), _ids_to_numpy(uniques)


# ---- the core assembly ----------------------------------------------------------------------------

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
        raise TypeError(f"duplicates must be one of {_DUPLICATES}, got {type(duplicates).__name__}")
    if duplicates not in _DUPLICATES:
        raise ValueError(f"duplicates must be one of {_DUPLICATES}, got {duplicates!r}")


def _check_implicit_value(v) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"implicit_value must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or abs(v) > _FLOAT32_MAX:
        raise ValueError(f"implicit_value must be finite (float32 range), got {v}")
    return v


def _check_ids(ids, name: str, n: int) -> np.ndarray:
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = _plain(ids, name)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} entries (one per {'row' if 'user' in name else 'column'}), "
                         f"got {arr.shape[0]}")
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


# ---- id lookup ------------------------------------------------------------------------------------

class _Lookup:
    """raw id -> dense id, vectorised: numpy searchsorted for numeric ids, pandas Index otherwise."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.numeric = ids.dtype.kind in "iuf"
        if self.numeric:
            self.order = np.argsort(ids, kind="stable")
            self.sorted = ids[self.order]
        else:
            self.index = _pandas("looking up object raw ids").Index(ids, dtype=object)

    def __call__(self, query: np.ndarray) -> np.ndarray:
        if query.size == 0:
            return np.empty(0, dtype=np.int64)
        if self.numeric:
            if query.dtype.kind not in "iufb":
                if query.dtype != object:
                    return np.full(query.size, -1, dtype=np.int64)
                pd = _pandas("looking up object raw ids")
                return np.asarray(pd.Index(self.ids).get_indexer(pd.Index(query, dtype=object)), dtype=np.int64)
            if self.sorted.size == 0:
                return np.full(query.size, -1, dtype=np.int64)
            pos = np.searchsorted(self.sorted, query)
            pos_c = np.minimum(pos, self.sorted.size - 1)
            found = self.sorted[pos_c] == query
            return np.where(found, self.order[pos_c], -1).astype(np.int64)
        pd = _pandas("looking up object raw ids")
        q = pd.Index(query.astype(object) if query.dtype.kind in "US" else query)
        return np.asarray(self.index.get_indexer(q), dtype=np.int64)


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


# ---- the class ------------------------------------------------------------------------------------

class Interactions:
    """A users x items interaction matrix with the raw ids behind its rows and columns.

    Build one with a ``from_*`` classmethod (pandas, arrays, CSV, Parquet, SQL, an existing
    matrix); the plain constructor is :meth:`from_matrix`.

    Parameters
    ----------
    matrix : scipy.sparse matrix of shape (n_users, n_items)
        Any sparse format with real values. Canonical float32 CSR with int32 indices is used as is
        (no copy, the arrays are shared with the caller and never modified); anything else is
        converted once (non-canonical input has its duplicates summed, on a copy).
    user_ids, item_ids : array-like, optional
        The raw id of each row / column (unique, any hashable: ints, strings, ...). Default
        ``0..n-1``.
    timestamps : scipy.sparse matrix, optional
        Same shape and same stored positions as ``matrix``, integer or float values (e.g. Unix
        seconds); stored as int64 or float64.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, float32, canonical
    user_ids, item_ids : numpy.ndarray
        ``user_ids[u]`` is the raw id of dense user ``u`` (object dtype for strings).
    timestamps : scipy.sparse.csr_matrix or None
        Aligned with ``matrix`` entry for entry (shares its ``indptr`` and ``indices``).
    n_users, n_items, nnz : int
    """

    __slots__ = ("_matrix", "_user_ids", "_item_ids", "_timestamps", "_user_lookup", "_item_lookup")

    def __init__(self, matrix, user_ids=None, item_ids=None, timestamps=None):
        m = as_csr(matrix, "matrix")
        uids = _check_ids(user_ids, "user_ids", m.shape[0])
        iids = _check_ids(item_ids, "item_ids", m.shape[1])
        ts = None
        if timestamps is not None:
            ts = _check_timestamp_matrix(timestamps, m)
        self._set(m, uids, iids, ts)

    def _set(self, matrix, user_ids, item_ids, timestamps):
        self._matrix = matrix
        self._user_ids = user_ids
        self._item_ids = item_ids
        self._timestamps = timestamps
        self._user_lookup = None
        self._item_lookup = None

    @classmethod
    def _new(cls, matrix, user_ids, item_ids, timestamps=None):
        """Trusted construction (internal): no validation, no copies."""
        obj = cls.__new__(cls)
        obj._set(matrix, user_ids, item_ids, timestamps)
        return obj

    # -- attributes --
    @property
    def matrix(self) -> sp.csr_matrix:
        return self._matrix

    @property
    def user_ids(self) -> np.ndarray:
        return self._user_ids

    @property
    def item_ids(self) -> np.ndarray:
        return self._item_ids

    @property
    def timestamps(self):
        return self._timestamps

    @property
    def n_users(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @property
    def nnz(self) -> int:
        return int(self._matrix.indptr[-1])

    def __repr__(self) -> str:
        cells = self.n_users * self.n_items
        density = f"{100.0 * self.nnz / cells:.3g}%" if cells else "n/a"
        ts = "None" if self._timestamps is None else str(self._timestamps.dtype)
        return (f"Interactions(n_users={self.n_users}, n_items={self.n_items}, nnz={self.nnz}, "
                f"density={density}, timestamps={ts})")

    # -- id mapping --
    def user_index(self, raw_ids, missing="error"):
        """Dense user ids of raw user ids.

        Parameters
        ----------
        raw_ids : scalar or array-like
            One raw id (returns an int) or a sequence of them (returns an int64 array). Strings
            are scalars; a tuple is a sequence of ids.
        missing : {"error", "ignore", -1}
            What an unknown raw id (a cold-start user) does: ``"error"`` raises KeyError naming
            the id, ``"ignore"`` drops it from the result (so the result can be shorter; a scalar
            gives an empty array), ``-1`` maps it to -1 (positions stay aligned).
        """
        if self._user_lookup is None:
            self._user_lookup = _Lookup(self._user_ids)
        return _map_ids(self._user_lookup, raw_ids, missing, "user")

    def item_index(self, raw_ids, missing="error"):
        """Dense item ids of raw item ids; see :meth:`user_index`."""
        if self._item_lookup is None:
            self._item_lookup = _Lookup(self._item_ids)
        return _map_ids(self._item_lookup, raw_ids, missing, "item")

    # -- helpers --
    def _entry_rows(self) -> np.ndarray:
        """The dense user of every stored entry, in CSR order (int64)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(self._matrix.indptr))

    def subset(self, entries) -> "Interactions":
        """A new Interactions holding only some stored entries, with the same id spaces (shape).

        Parameters
        ----------
        entries : array-like
            A boolean mask of length ``nnz`` over the entries in CSR order (row by row, columns
            ascending: the order of ``matrix.data`` and of :meth:`to_pandas`), or integer
            positions into that order (duplicates are ignored, order does not matter).
        """
        mask = _entry_mask(entries, self.nnz)
        return self._take(mask)

    def _take(self, mask: np.ndarray) -> "Interactions":
        m = self._matrix
        kept_before = np.zeros(mask.size + 1, dtype=np.int64)
        np.cumsum(mask, out=kept_before[1:])
        indptr = kept_before[m.indptr].astype(m.indptr.dtype)
        indices = m.indices[mask]
        matrix = sp.csr_matrix((m.data[mask], indices, indptr), shape=m.shape, copy=False)
        ts = None
        if self._timestamps is not None:
            ts = sp.csr_matrix((self._timestamps.data[mask], indices, indptr), shape=m.shape, copy=False)
        return Interactions._new(matrix, self._user_ids, self._item_ids, ts)

    # -- conversion out --
    def to_pandas(self, user="user_id", item="item_id", rating="rating", timestamp="timestamp"):
        """One row per stored entry (CSR order): raw user id, raw item id, value, timestamp.

        ``rating=None`` leaves out the values; the timestamp column is present when the data has
        timestamps and ``timestamp`` is not None.
        """
        pd = _pandas("to_pandas")
        cols = {user: self._user_ids[self._entry_rows()], item: self._item_ids[self._matrix.indices]}
        if rating is not None:
            cols[rating] = self._matrix.data.copy()
        if timestamp is not None and self._timestamps is not None:
            cols[timestamp] = self._timestamps.data.copy()
        if len(cols) != (2 + (rating is not None) + (timestamp is not None and self._timestamps is not None)):
            raise ValueError("user, item, rating and timestamp column names must be distinct")
        return pd.DataFrame(cols)

    def to_sql(self, table, con, *, if_exists="fail", user="user_id", item="item_id", rating="rating",
               timestamp="timestamp", chunksize=None):
        """Write the interactions (raw ids, values, timestamps) to a database table.

        Parameters
        ----------
        table : str
            Table name, optionally ``schema.table``. Names are quoted by the driver, never
            formatted into SQL by hand.
        con : sqlite3.Connection, str or Path, or SQLAlchemy URL / Engine / Connection
            See :meth:`from_sql`. A SQLite file path is created if it does not exist.
        if_exists : {"fail", "replace", "append"}
        user, item, rating, timestamp : str
            Column names; ``rating=None`` / ``timestamp=None`` leave the column out.
        chunksize : int, optional
            Rows per INSERT batch (all at once by default).
        """
        if not isinstance(table, str) or not table:
            raise TypeError(f"table must be a non-empty str, got {type(table).__name__}")
        if if_exists not in ("fail", "replace", "append"):
            raise ValueError(f"if_exists must be 'fail', 'replace' or 'append', got {if_exists!r}")
        schema, name = _split_table(table)
        df = self.to_pandas(user=user, item=item, rating=rating, timestamp=timestamp)
        with _connection(con, write=True) as (conn, _kind):
            df.to_sql(name, conn, schema=schema, if_exists=if_exists, index=False, chunksize=chunksize)

    # -- constructors --
    @classmethod
    def from_matrix(cls, matrix, user_ids=None, item_ids=None, timestamps=None) -> "Interactions":
        """Wrap an existing sparse matrix; same as ``Interactions(matrix, user_ids, item_ids, timestamps)``."""
        return cls(matrix, user_ids, item_ids, timestamps)

    @classmethod
    def from_arrays(cls, users, items, ratings=None, timestamps=None, *, duplicates="error",
                    implicit_value=1.0) -> "Interactions":
        """Build from parallel arrays of raw user ids, raw item ids and optional values/timestamps.

        Parameters
        ----------
        users, items : array-like of length n
            Raw ids, any hashable (ints, strings, ...). Missing ids (NaN/None) raise ValueError
            naming the row. Ids are mapped with :func:`pandas.factorize` in sorted order (first
            appearance order when the ids cannot be compared), so the same data always gives the
            same dense ids.
        ratings : array-like of length n, optional
            Real values (stored as float32). NaN or inf raise ValueError naming the row. None means
            implicit feedback: every pair gets ``implicit_value``.
        timestamps : array-like of length n, optional
            int or float (kept as int64 / float64), or datetimes (converted to int64 Unix seconds,
            UTC, sub-second part dropped).
        duplicates : {"error", "last", "sum", "mean"}
            How repeated (user, item) pairs are resolved: raise ValueError naming a duplicate pair
            and its rows, keep the last row, sum the values (with ``ratings=None``: counts times
            ``implicit_value``), or average them. ``sum``/``mean`` keep the latest timestamp.
        implicit_value : float
            The value of every pair when ``ratings`` is None.

        Notes
        -----
        Vectorised: factorize plus one sort of a combined int64 key; about 2-3 s for 10 million
        rows. Peak memory is roughly 40 bytes per row on top of the inputs.
        """
        _check_duplicates(duplicates)
        implicit_value = _check_implicit_value(implicit_value)
        return cls._from_columns(users, items, ratings, timestamps, duplicates, implicit_value,
                                 names=("users", "items", "ratings", "timestamps"))

    @classmethod
    def _from_columns(cls, users, items, ratings, timestamps, duplicates, implicit_value, names):
        u_codes, user_ids = _factorize(users, names[0])
        i_codes, item_ids = _factorize(items, names[1])
        n = u_codes.size
        if i_codes.size != n:
            raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {n} and {i_codes.size}")
        values = None
        if ratings is not None:
            values = _ratings_array(ratings, names[2])
            if values.size != n:
                raise ValueError(f"{names[2]} must have the same length as {names[0]} ({n}), got {values.size}")
        ts = None
        if timestamps is not None:
            ts = _timestamps_array(timestamps, names[3])
            if ts.size != n:
                raise ValueError(f"{names[3]} must have the same length as {names[0]} ({n}), got {ts.size}")
        matrix, tmat = _assemble(u_codes, i_codes, user_ids, item_ids, values, ts, duplicates, implicit_value,
                                 labels=(names[0], names[1]))
        return cls._new(matrix, user_ids, item_ids, tmat)

    @classmethod
    def from_pandas(cls, df, user="user_id", item="item_id", rating=None, timestamp=None, *,
                    duplicates="error", implicit_value=1.0) -> "Interactions":
        """Build from a DataFrame with one row per interaction.

        Parameters
        ----------
        df : pandas.DataFrame
        user, item : column labels
            The raw user and item id columns.
        rating : column label, optional
            The value column; None means implicit feedback (``implicit_value`` for every pair).
        timestamp : column label, optional
            int, float or datetime column (datetimes become int64 Unix seconds, UTC).
        duplicates, implicit_value
            As in :meth:`from_arrays`. Row numbers in messages are 0-based positions in ``df``.
        """
        pd = _pandas("from_pandas")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        _check_duplicates(duplicates)
        implicit_value = _check_implicit_value(implicit_value)
        cols = {}
        for arg, col in (("user", user), ("item", item), ("rating", rating), ("timestamp", timestamp)):
            if col is None and arg in ("rating", "timestamp"):
                cols[arg] = None
                continue
            if col not in df.columns:
                raise ValueError(f"{arg}={col!r} is not a column of df; its columns are {list(df.columns)}")
            series = df[col]
            if isinstance(series, pd.DataFrame):
                raise ValueError(f"{arg}={col!r} names more than one column of df")
            cols[arg] = series
        return cls._from_columns(
            cols["user"], cols["item"], cols["rating"], cols["timestamp"], duplicates, implicit_value,
            names=(f"user column {user!r}", f"item column {item!r}", f"rating column {rating!r}",
                   f"timestamp column {timestamp!r}"),
        )

    @classmethod
    def from_csv(cls, path, user="user_id", item="item_id", rating=None, timestamp=None, *, sep=",",
                 header=True, names=None, string_ids=False, duplicates="error",
                 implicit_value=1.0) -> "Interactions":
        """Read a delimited text file (CSV, TSV, ``::``-separated, ...).

        Parameters
        ----------
        path : str or Path
        user, item, rating, timestamp : str or int
            Column names (from the header or ``names``) or 0-based column positions.
            ``rating=None``: implicit feedback; ``timestamp=None``: no timestamps.
        sep : str
            Field separator. Multi-character separators (MovieLens-1M ``::``) are supported: the
            file is then read into memory once and the separator swapped for a control character.
        header : bool
            Whether the first line holds column names.
        names : list of str, optional
            Column names for a file without a header.
        string_ids : bool
            Keep user and item ids as strings (e.g. to preserve leading zeros) instead of letting
            numeric-looking ids become ints.
        duplicates, implicit_value
            As in :meth:`from_arrays`. Row numbers in messages are 0-based data rows (header and
            blank lines not counted).

        Notes
        -----
        Uses ``pyarrow.csv`` (multi-threaded, handles ``\\r\\n`` line endings); without pyarrow it
        falls back to :func:`pandas.read_csv`, several times slower on large files.
        """
        path = os.fspath(path)
        if not isinstance(sep, str) or not sep:
            raise TypeError("sep must be a non-empty str")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path {path!r} is not a file")
        _check_duplicates(duplicates)
        implicit_value = _check_implicit_value(implicit_value)
        wanted = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
        if not header and names is None and any(isinstance(c, str) for c in wanted.values()):
            raise ValueError("with header=False, pass column positions (ints) for user/item/rating/timestamp, "
                             "or column names via names=[...]")
        columns = _read_delimited(path, sep, header, names, wanted, string_ids)
        return cls._from_columns(
            columns["user"], columns["item"], columns["rating"], columns["timestamp"], duplicates,
            implicit_value,
            names=(f"user column {user!r}", f"item column {item!r}", f"rating column {rating!r}",
                   f"timestamp column {timestamp!r}"),
        )

    @classmethod
    def from_parquet(cls, path, user="user_id", item="item_id", rating=None, timestamp=None, *,
                     duplicates="error", implicit_value=1.0) -> "Interactions":
        """Read a Parquet file or dataset directory (only the named columns are loaded).

        Needs pandas with pyarrow (or fastparquet). Arguments as in :meth:`from_pandas`.
        """
        pd = _pandas("from_parquet")
        cols = [c for c in (user, item, rating, timestamp) if c is not None]
        df = pd.read_parquet(os.fspath(path), columns=cols)
        return cls.from_pandas(df, user, item, rating, timestamp, duplicates=duplicates,
                               implicit_value=implicit_value)

    @classmethod
    def from_sql(cls, query_or_table, con, user="user_id", item="item_id", rating=None, timestamp=None, *,
                 params=None, duplicates="error", implicit_value=1.0) -> "Interactions":
        """Read interactions from a SQL database.

        Parameters
        ----------
        query_or_table : str
            A bare table name (``ratings`` or ``schema.ratings``: letters, digits, ``_``) reads
            ``SELECT user, item[, rating][, timestamp] FROM table`` with every identifier quoted.
            Anything else is run as a SQL query (its result must have the named columns): only
            pass trusted text, and bind values through ``params``, never by string formatting.
        con : sqlite3.Connection, str, Path, or SQLAlchemy URL / Engine / Connection
            * a ``sqlite3.Connection`` (used as is, not closed);
            * a path to a SQLite file (the embedded default; must exist; opened read-only);
            * a SQLAlchemy URL string such as ``postgresql+psycopg://user:pw@host/db``,
              ``mysql+pymysql://...`` or ``sqlite:///file.db`` (needs SQLAlchemy and the driver);
            * a SQLAlchemy ``Engine`` or ``Connection``.
        user, item, rating, timestamp : str
            Column names; ``rating=None`` means implicit feedback.
        params : sequence or mapping, optional
            Query parameters in the driver's style (``?`` for sqlite3, ``:name`` for SQLAlchemy).
        duplicates, implicit_value
            As in :meth:`from_arrays`; row numbers are 0-based rows of the result.
        """
        pd = _pandas("from_sql")
        if not isinstance(query_or_table, str) or not query_or_table.strip():
            raise TypeError(f"query_or_table must be a non-empty str, got {type(query_or_table).__name__}")
        for arg, col in (("user", user), ("item", item), ("rating", rating), ("timestamp", timestamp)):
            if col is not None and not isinstance(col, str):
                raise TypeError(f"{arg} must be a column name (str), got {type(col).__name__}")
        text = query_or_table.strip()
        is_table = bool(_TABLE_RE.match(text))
        cols = [c for c in (user, item, rating, timestamp) if c is not None]
        with _connection(con, write=False) as (conn, kind):
            if kind == "sqlite3":
                sql = _sqlite_select(text, cols) if is_table else text
                df = pd.read_sql_query(sql, conn, params=params)
            else:
                import sqlalchemy as sa

                if is_table:
                    schema, name = _split_table(text)
                    sql = sa.select(*[sa.column(c) for c in cols]).select_from(sa.table(name, schema=schema))
                else:
                    sql = sa.text(text)
                df = pd.read_sql_query(sql, conn, params=params)
        return cls.from_pandas(df, user, item, rating, timestamp, duplicates=duplicates,
                               implicit_value=implicit_value)


def _map_ids(lookup, raw_ids, missing, kind):
    if not (missing in ("error", "ignore") or (isinstance(missing, numbers.Integral) and not isinstance(missing, bool)
                                               and missing == -1)):
        raise ValueError(f"missing must be 'error', 'ignore' or -1, got {missing!r}")
    query, scalar = _query_array(raw_ids)
    dense = lookup(query)
    unknown = dense < 0
    if unknown.any():
        if missing == "error":
            i = _first_bad(unknown)
            n_bad = int(np.count_nonzero(unknown))
            more = f" ({n_bad} of {query.size} ids are unknown)" if n_bad > 1 else ""
            raise KeyError(f"unknown {kind} id {_show(query[i])}{more}; pass missing=-1 to map unknown ids to -1 "
                           f"or missing='ignore' to drop them")
        if missing == "ignore":
            return dense[~unknown]
    if scalar and dense.size == 1:
        return int(dense[0])
    return dense


def _entry_mask(entries, nnz: int) -> np.ndarray:
    arr = np.asarray(entries)
    if arr.dtype == np.bool_:
        if arr.shape != (nnz,):
            raise ValueError(f"entries as a boolean mask must have shape ({nnz},), got {arr.shape}")
        return arr
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"entries must be a boolean mask or integer positions, got dtype {arr.dtype}")
    arr = arr.ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= nnz):
        raise ValueError(f"entries has positions outside [0, {nnz})")
    mask = np.zeros(nnz, dtype=bool)
    mask[arr] = True
    return mask


def _check_timestamp_matrix(timestamps, matrix):
    if not sp.issparse(timestamps):
        raise TypeError("timestamps must be a scipy.sparse matrix aligned with matrix, "
                        f"got {type(timestamps).__name__}")
    t = timestamps.tocsr()
    if t.shape != matrix.shape:
        raise ValueError(f"timestamps must have shape {matrix.shape}, got {t.shape}")
    kind = t.dtype.kind
    if kind in "iu":
        data = t.data.astype(np.int64)
    elif kind == "f":
        data = t.data.astype(np.float64)
        if data.size and not np.isfinite(data).all():
            raise ValueError("timestamps must not contain NaN or inf values")
    else:
        raise TypeError(f"timestamps must hold integer or float values, got dtype {t.dtype}")
    t = sp.csr_matrix((data, t.indices.copy(), t.indptr.copy()), shape=t.shape)
    if not t.has_canonical_format:
        t.sort_indices()
    same = (t.indptr.size == matrix.indptr.size and np.array_equal(t.indptr, matrix.indptr)
            and np.array_equal(t.indices, matrix.indices))
    if not same:
        raise ValueError("timestamps must store exactly the same (user, item) positions as matrix")
    return sp.csr_matrix((t.data, matrix.indices, matrix.indptr), shape=matrix.shape, copy=False)


# ---- CSV ------------------------------------------------------------------------------------------

def _read_delimited(path, sep, header, names, wanted, string_ids):
    """Read the wanted columns; returns {role: 1-d column or None}."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return _read_delimited_pandas(path, sep, header, names, wanted, string_ids)
    delimiter = sep
    if len(sep) > 1:
        with open(path, "rb") as f:
            raw = f.read()
        if b"\x1f" in raw:
            raise ValueError(f"cannot read a multi-character sep from {path!r}: it contains the byte 0x1f")
        raw = raw.replace(sep.encode(), b"\x1f")
        delimiter = "\x1f"

        def source():
            return io.BytesIO(raw)
    else:
        def source():
            return path
    read_opts = pacsv.ReadOptions(column_names=list(names) if names is not None else None,
                                  autogenerate_column_names=(not header and names is None),
                                  skip_rows=1 if (header and names is not None) else 0)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter)
    with pacsv.open_csv(source(), read_options=read_opts, parse_options=parse_opts) as reader:
        columns = reader.schema.names  # from the first block only
    resolved = {role: None if col is None else _resolve_column(col, columns, role) for role, col in wanted.items()}
    include = list(dict.fromkeys(c for c in resolved.values() if c is not None))
    types = {resolved["user"]: pa.string(), resolved["item"]: pa.string()} if string_ids else None
    try:
        table = pacsv.read_csv(source(), read_options=read_opts, parse_options=parse_opts,
                               convert_options=pacsv.ConvertOptions(include_columns=include, column_types=types))
    except pa.ArrowInvalid as e:
        raise ValueError(f"could not parse {path!r}: {e}. If an id column mixes numbers and text, pass "
                         "string_ids=True") from e
    def column(name):
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return col.to_pandas()  # arrow-backed strings: factorize is ~3x faster than on objects
        return col.to_numpy()
    return {role: None if col is None else column(col) for role, col in resolved.items()}


def _resolve_column(col, columns, role):
    if isinstance(col, bool):
        raise TypeError(f"{role} must be a column name or position, got bool")
    if isinstance(col, numbers.Integral):
        if not 0 <= col < len(columns):
            raise ValueError(f"{role}={col} is not a column position; the file has {len(columns)} columns")
        return columns[int(col)]
    if col not in columns:
        raise ValueError(f"{role}={col!r} is not a column of the file; its columns are {list(columns)}")
    return col


def _read_delimited_pandas(path, sep, header, names, wanted, string_ids):
    """The same as _read_delimited through pandas.read_csv (used when pyarrow is missing)."""
    pd = _pandas("from_csv")
    kwargs = {"sep": sep, "header": 0 if header else None}
    if names is not None:
        kwargs["names"] = list(names)
    if len(sep) > 1:
        kwargs["engine"] = "python"  # the C engine takes one-character separators only
    columns = list(pd.read_csv(path, nrows=0, **kwargs).columns)
    if not header and names is None:
        columns = list(range(len(columns)))
    resolved = {}
    for role, col in wanted.items():
        if col is None:
            resolved[role] = None
        elif not header and names is None:
            if isinstance(col, bool) or not isinstance(col, numbers.Integral) or not 0 <= col < len(columns):
                raise ValueError(f"{role}={col!r} is not a column position; the file has {len(columns)} columns")
            resolved[role] = int(col)
        else:
            resolved[role] = _resolve_column(col, columns, role)
    include = list(dict.fromkeys(c for c in resolved.values() if c is not None))
    dtype = {resolved["user"]: str, resolved["item"]: str} if string_ids else None
    df = pd.read_csv(path, usecols=include, dtype=dtype, **kwargs)
    return {role: None if col is None else df[col] for role, col in resolved.items()}


# ---- SQL ------------------------------------------------------------------------------------------

def _split_table(table: str):
    if "." in table and _TABLE_RE.match(table):
        schema, name = table.split(".", 1)
        return schema, name
    return None, table


def _quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_select(table: str, cols) -> str:
    schema, name = _split_table(table)
    source = _quote_sqlite(name) if schema is None else f"{_quote_sqlite(schema)}.{_quote_sqlite(name)}"
    return f"SELECT {', '.join(_quote_sqlite(c) for c in cols)} FROM {source}"


class _connection:
    """Context manager: (connection usable by pandas, 'sqlite3' | 'sqlalchemy'), closing what it opened."""

    def __init__(self, con, *, write: bool):
        self.con = con
        self.write = write
        self._close = None

    def __enter__(self):
        con = self.con
        if isinstance(con, sqlite3.Connection):
            return con, "sqlite3"
        if isinstance(con, (str, os.PathLike)):
            text = os.fspath(con)
            if isinstance(text, str) and _URL_RE.match(text):
                sa = _sqlalchemy(text)
                engine = sa.create_engine(text)
                ctx = engine.begin() if self.write else engine.connect()
                c = ctx.__enter__()

                def close_engine(exc):
                    try:
                        ctx.__exit__(*exc)
                    finally:
                        engine.dispose()
                self._close = close_engine
                return c, "sqlalchemy"
            if self.write:
                c = sqlite3.connect(text)
            else:
                if not os.path.isfile(text):
                    raise FileNotFoundError(f"con: SQLite database file {text!r} does not exist")
                c = sqlite3.connect(Path(text).resolve().as_uri() + "?mode=ro", uri=True)

            def close(exc, c=c):
                try:
                    if self.write and exc[0] is None:
                        c.commit()
                finally:
                    c.close()
            self._close = close
            return c, "sqlite3"
        mod = type(con).__module__
        if mod.startswith("sqlalchemy"):
            return con, "sqlalchemy"
        raise TypeError("con must be a sqlite3.Connection, a SQLite file path, a SQLAlchemy URL string, "
                        f"or a SQLAlchemy Engine/Connection; got {type(con).__name__}")

    def __exit__(self, *exc):
        if self._close is not None:
            self._close(exc)
        return False


def _sqlalchemy(url):
    try:
        import sqlalchemy as sa
    except ImportError:
        raise ImportError(f"con={url.split('://')[0]}://... needs SQLAlchemy: pip install 'turborec[sql]' "
                          "(plus the database driver)") from None
    return sa
