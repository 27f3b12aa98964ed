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

import contextlib
import os
import sqlite3

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr
from ._assemble import _assemble, _check_duplicates, _check_implicit_value
from ._columns import _factorize, _pandas, _ratings_array, _timestamps_array
from .delimited import _read_delimited
from .idmap import IdMap
from .sql import TABLE_RE, _connection, _split_table, _sqlite_columns, _sqlite_select


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

    __slots__ = ("_matrix", "_user_map", "_item_map", "_timestamps")

    def __init__(self, matrix, user_ids=None, item_ids=None, timestamps=None):
        m = as_csr(matrix, "matrix")
        user_map = _id_map(user_ids, m.shape[0], "user")
        item_map = _id_map(item_ids, m.shape[1], "item")
        ts = None
        if timestamps is not None:
            ts = _check_timestamp_matrix(timestamps, m)
        self._set(m, user_map, item_map, ts)

    def _set(self, matrix, user_map: IdMap, item_map: IdMap, timestamps):
        self._matrix = matrix
        self._user_map = user_map
        self._item_map = item_map
        self._timestamps = timestamps

    @classmethod
    def _new(cls, matrix, user_ids, item_ids, timestamps=None):
        """Trusted construction (internal): ids (arrays or IdMaps) known to be unique, no copies."""
        obj = cls.__new__(cls)
        as_map = lambda ids, kind: ids if isinstance(ids, IdMap) else IdMap._trusted(ids, kind)  # noqa: E731
        obj._set(matrix, as_map(user_ids, "user"), as_map(item_ids, "item"), timestamps)
        return obj

    # -- attributes --
    @property
    def matrix(self) -> sp.csr_matrix:
        return self._matrix

    @property
    def user_ids(self) -> np.ndarray:
        """Raw user id of each row (read-only)."""
        return self._user_map.ids

    @property
    def item_ids(self) -> np.ndarray:
        """Raw item id of each column (read-only)."""
        return self._item_map.ids

    @property
    def user_map(self) -> IdMap:
        return self._user_map

    @property
    def item_map(self) -> IdMap:
        return self._item_map

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
        """Dense user ids of raw user ids: :meth:`IdMap.index` of :attr:`user_map` (``missing`` as there)."""
        return self._user_map.index(raw_ids, missing)

    def item_index(self, raw_ids, missing="error"):
        """Dense item ids of raw item ids; see :meth:`user_index`."""
        return self._item_map.index(raw_ids, missing)

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
        return Interactions._new(matrix, self._user_map, self._item_map, ts)

    # -- conversion out --
    def to_pandas(self, user="user_id", item="item_id", rating="rating", timestamp="timestamp"):
        """One row per stored entry (CSR order): raw user id, raw item id, value, timestamp.

        ``rating=None`` leaves out the values; the timestamp column is present when the data has
        timestamps and ``timestamp`` is not None.
        """
        pd = _pandas("to_pandas")
        cols = {user: self.user_ids[self._entry_rows()], item: self.item_ids[self._matrix.indices]}
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
        return cls._from_frame(df, user, item, rating, timestamp, duplicates, implicit_value, "df")

    @classmethod
    def _from_frame(cls, df, user, item, rating, timestamp, duplicates, implicit_value, source):
        """from_pandas, with messages that name where the frame came from (``source``)."""
        pd = _pandas("from_pandas")
        _check_duplicates(duplicates)
        implicit_value = _check_implicit_value(implicit_value)
        cols = {}
        for arg, col in (("user", user), ("item", item), ("rating", rating), ("timestamp", timestamp)):
            if col is None and arg in ("rating", "timestamp"):
                cols[arg] = None
                continue
            if col not in df.columns:
                raise ValueError(f"{arg}={col!r} is not a column of {source}; its columns are {list(df.columns)}")
            series = df[col]
            if isinstance(series, pd.DataFrame):
                raise ValueError(f"{arg}={col!r} names more than one column of {source}")
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
        with _naming_the_file(path):
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
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"Parquet file {path!r} does not exist")
        try:
            df = pd.read_parquet(path, columns=cols)
        except (OSError, ValueError, KeyError, TypeError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise ValueError(f"could not read the columns {cols} of Parquet file {path!r}: {e}") from None
        except Exception as e:  # other pyarrow errors (e.g. ArrowNotImplementedError) on a corrupt file
            if type(e).__module__.startswith("pyarrow"):
                raise ValueError(f"could not read Parquet file {path!r}: {e}") from None
            raise
        with _naming_the_file(path):
            return cls._from_frame(df, user, item, rating, timestamp, duplicates, implicit_value,
                                   f"Parquet file {path!r}")

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
        is_table = bool(TABLE_RE.match(text))
        cols = [c for c in (user, item, rating, timestamp) if c is not None]
        try:
            df = cls._read_sql(pd, text, is_table, cols, con, params, user, item, rating, timestamp)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:  # a corrupt or foreign file, bad SQL
            where = os.fspath(con) if isinstance(con, (str, os.PathLike)) else "con"
            raise ValueError(f"could not read {text!r} from {where!r}: {e}") from None
        source = f"table {text!r}" if is_table else "the query result"
        with _naming_the_file(con if isinstance(con, (str, os.PathLike)) else None):
            return cls._from_frame(df, user, item, rating, timestamp, duplicates, implicit_value, source)

    @staticmethod
    def _read_sql(pd, text, is_table, cols, con, params, user, item, rating, timestamp):
        with _connection(con, write=False) as (conn, kind):
            if kind == "sqlite3":
                if is_table:
                    have = _sqlite_columns(conn, text)
                    for arg, col in (("user", user), ("item", item), ("rating", rating), ("timestamp", timestamp)):
                        if col is not None and col not in have:
                            raise ValueError(f"{arg}={col!r} is not a column of table {text!r}; its columns are "
                                             f"{have}")
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
        return df


@contextlib.contextmanager
def _naming_the_file(path):
    """Errors about a file's content name the file (a user reading several must know which)."""
    try:
        yield
    except (TypeError, ValueError) as e:  # UnicodeDecodeError too: it is a ValueError
        if path is None or os.fspath(path) in str(e) or repr(os.fspath(path)) in str(e):
            raise
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"{os.fspath(path)!r}: {e}") from None


def _id_map(ids, n: int, kind: str) -> IdMap:
    if ids is None:
        return IdMap.range(n, kind)
    m = IdMap(ids, kind)
    if len(m) != n:
        raise ValueError(f"{kind}_ids must have {n} entries (one per {'row' if kind == 'user' else 'column'}), "
                         f"got {len(m)}")
    return m


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
