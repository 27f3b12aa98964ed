"""Item and user features: a sparse rows x features matrix built from table columns, aligned to an
:class:`turborec.Interactions`' id map.

:func:`item_features` / :func:`user_features` turn a pandas DataFrame (one row per item / user) and
optionally a long table of tags (one row per (id, tag) assignment, like MovieLens ``tags.csv``)
into a :class:`Features`: a canonical CSR float32 matrix, one name per column, one raw id per row.

Kinds of columns (each feature is named ``"<column>=<value>"``):

``multi_valued``   separator-joined labels (MovieLens genres ``Action|Comedy``): one 1.0 per label.
``categorical``    one value per row: one-hot.
``numeric``        ``"scale"``: one feature ``<column>`` with (x - min) / (max - min) (0 when
                   max == min); ``"bins"``: ``n_bins`` quantile bins, one-hot, named
                   ``<column>=[low,high)``.
``tags``           per row, each distinct tag (lower-cased, stripped) counted: value = number of
                   times it was assigned.
``text``           free text tokenised (lower-cased runs of letters/digits, at least 2 chars) and
                   weighted: ``"tfidf"`` (scikit-learn's TfidfVectorizer defaults: raw counts x
                   smooth idf ln((1 + n) / (1 + df)) + 1, rows scaled to unit L2 norm),
                   ``"bm25"`` (:func:`turborec.similarity.bm25_weight`) or ``"count"``.

Missing values (NaN / None / empty strings) give no feature for that row: a row with no
features at all is an empty row, which every model treats as "nothing known". Any other
non-finite numeric value (inf) raises ValueError naming the column.

Alignment (``interactions`` given): rows ``0 .. n - 1`` are the interactions' items (users) in
their dense order, whether or not they have features (those without get an empty row). Ids that
appear in the tables but not in the interactions -- cold-start items -- are handled by
``new_ids``: ``"append"`` (default) gives them rows ``n, n + 1, ...`` in order of first
appearance (table first, then tags), ``"drop"`` ignores them, ``"error"`` raises. Use
:meth:`Features.extend` to widen the interactions to the same id map (cold items become columns
without interactions), which every model's ``fit`` then sees as items nobody has rated yet.
Without ``interactions`` the rows are the table's ids in order of appearance.

A missing (NaN) id, a repeated id in the one-row-per-id table, an empty table with no tags, a table
none of whose ids the interactions have and whose ids are of another type ("1" vs 1), an unknown column
or a column of the wrong kind raises ValueError naming it.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np
import scipy.sparse as sp

NUMERIC_MODES = ("scale", "bins")
TEXT_WEIGHTINGS = ("tfidf", "bm25", "count")
NEW_IDS = ("append", "drop", "error")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class Features:
    """A rows x features CSR matrix (float32, canonical) with its feature names and row ids.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix (n_rows, n_features), float32
    names : numpy.ndarray of str (n_features,)
    ids : numpy.ndarray (n_rows,)
        Raw id of each row (object dtype for strings).
    id_map : turborec.IdMap
        ``ids`` as an id map (raw id -> row, vectorised); ``index`` uses it.
    n_known : int
        Rows ``0 .. n_known - 1`` are the interactions' items (users) the features were aligned
        to; the rest are ids the interactions do not have (cold start). 0 when not aligned.
    """

    def __init__(self, matrix, names, ids, n_known=0):
        from ._validation import as_csr

        m = as_csr(matrix, "matrix")
        names = np.asarray(names, dtype=str)
        ids = np.asarray(ids)
        if names.shape != (m.shape[1],):
            raise ValueError(f"names must hold one name per column ({m.shape[1]}), got shape {names.shape}")
        if ids.shape != (m.shape[0],):
            raise ValueError(f"ids must hold one id per row ({m.shape[0]}), got shape {ids.shape}")
        if not 0 <= int(n_known) <= m.shape[0]:
            raise ValueError(f"n_known must be in [0, {m.shape[0]}], got {n_known!r}")
        from .data import IdMap

        self.id_map = IdMap(ids, "row")  # raw id -> row, shared type with Interactions and models
        self.matrix, self.names, self.ids, self.n_known = m, names, self.id_map.ids, int(n_known)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def n_new(self) -> int:
        """Rows whose ids the aligned interactions do not have (cold start)."""
        return self.shape[0] - self.n_known

    def __repr__(self) -> str:
        return (f"Features(n_rows={self.shape[0]}, n_features={self.shape[1]}, nnz={self.matrix.nnz}, "
                f"n_known={self.n_known})")

    def index(self, raw_ids) -> np.ndarray:
        """Row indices of raw ids (int64 array); an unknown id raises KeyError naming it."""
        return np.atleast_1d(self.id_map.index(raw_ids))

    def extend(self, interactions, axis="items"):
        """The interactions with their item (``axis="items"``) or user id map extended to these
        features' rows: the new ids become columns (rows) without interactions, in the features'
        order, so item index ``i`` of the result is row ``i`` of :attr:`matrix`. The matrix arrays
        are new; the caller's interactions are not modified. Raises ValueError when the features
        were not aligned to interactions with this id map."""
        from .data import Interactions

        if not isinstance(interactions, Interactions):
            raise TypeError(f"interactions must be a turborec.Interactions, got {type(interactions).__name__}")
        if axis not in ("items", "users"):
            raise ValueError(f"axis must be 'items' or 'users', got {axis!r}")
        known = interactions.item_ids if axis == "items" else interactions.user_ids
        if known.shape[0] != self.n_known or not _same_ids(known, self.ids[: self.n_known]):
            raise ValueError(f"these features were not aligned to this interactions' {axis} (their first "
                             f"n_known={self.n_known} ids must be its {known.shape[0]} {axis[:-1]} ids, in order)")
        if self.n_new == 0:
            return interactions
        m = interactions.matrix
        ts = interactions.timestamps
        if axis == "items":
            shape = (m.shape[0], self.shape[0])
            matrix = sp.csr_matrix((m.data.copy(), m.indices.copy(), m.indptr.copy()), shape=shape)
            if ts is not None:
                ts = sp.csr_matrix((ts.data.copy(), matrix.indices, matrix.indptr), shape=shape)
            return Interactions(matrix, interactions.user_ids, self.ids, ts)
        grow = self.shape[0] - m.shape[0]
        indptr = np.concatenate([m.indptr, np.full(grow, m.indptr[-1], dtype=m.indptr.dtype)])
        shape = (self.shape[0], m.shape[1])
        matrix = sp.csr_matrix((m.data.copy(), m.indices.copy(), indptr), shape=shape)
        if ts is not None:
            ts = sp.csr_matrix((ts.data.copy(), matrix.indices, matrix.indptr), shape=shape)
        return Interactions(matrix, self.ids, interactions.item_ids, ts)


def _key(v):
    """Dictionary key of a raw id: numpy scalars as Python values, so 5, np.int64(5) and 5.0 match."""
    return v.item() if isinstance(v, np.generic) else v


def _same_ids(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and all(_key(x) == _key(y) for x, y in zip(a.tolist(), b.tolist()))


def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    if isinstance(v, numbers.Real):
        return math.isnan(float(v))
    try:
        import pandas as pd

        return v is pd.NA or v is pd.NaT
    except ImportError:  # pragma: no cover - pandas is what hands us the values
        return False


def _column(table, name, role):
    if name not in table.columns:
        raise ValueError(f"{role}: no column {name!r} in the table (columns: {list(table.columns)})")
    return table[name].to_numpy(dtype=object)


def _as_list(x, name):
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    try:
        return list(x)
    except TypeError:
        raise TypeError(f"{name} must be a column name or a list of them, got {type(x).__name__}") from None


class _Builder:
    """Collects (row, feature name, value) triples block by block."""

    def __init__(self):
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.names: list[str] = []

    def add(self, rows, names, values, weight=1.0):
        """rows: int array; names: list of str per entry; values: float array."""
        if len(names) == 0:
            return
        uniq, codes = np.unique(np.asarray(names, dtype=str), return_inverse=True)
        self.rows.append(np.asarray(rows, np.int64))
        self.cols.append(codes.astype(np.int64) + len(self.names))
        self.vals.append(np.asarray(values, np.float64) * weight)
        self.names.extend(uniq.tolist())

    def matrix(self, n_rows):
        if not self.rows:
            m = sp.csr_matrix((n_rows, 0), dtype=np.float32)
        else:
            r, c, v = (np.concatenate(a) for a in (self.rows, self.cols, self.vals))
            m = sp.csr_matrix((v, (r, c)), shape=(n_rows, len(self.names)))
            m.sum_duplicates()
            m = m.astype(np.float32)
            m.eliminate_zeros()
        m.sort_indices()
        m.indices = m.indices.astype(np.int32, copy=False)
        m.indptr = m.indptr.astype(np.int32, copy=False) if m.nnz < 2**31 else m.indptr
        return m, np.asarray(self.names, dtype=str)


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of at least two word characters (scikit-learn's default token pattern)."""
    return _TOKEN.findall(text.lower())


def _text_block(texts, rows, column, weighting, builder, weight):
    entry_rows, tokens = [], []
    for r, t in zip(rows, texts):
        for tok in tokenize(str(t)):
            entry_rows.append(r)
            tokens.append(tok)
    if not tokens:
        return
    names = [f"{column}={t}" for t in tokens]
    uniq, codes = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    n_rows = int(max(rows)) + 1
    counts = sp.csr_matrix((np.ones(len(codes)), (np.asarray(entry_rows), codes)), shape=(n_rows, uniq.size))
    counts.sum_duplicates()
    docs = np.unique(np.asarray(rows))  # rows that have text: the corpus the idf counts over
    if weighting == "tfidf":
        n = docs.size
        df = np.bincount(counts.indices, minlength=uniq.size)
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        w = counts.multiply(idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(w.multiply(w).sum(axis=1)).ravel())
        w = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ w
    elif weighting == "bm25":
        from .similarity import bm25_weight

        counts = counts.astype(np.float32)
        counts.sort_indices()
        lengths = np.asarray(counts.sum(axis=1)).ravel()[docs]
        stats = (docs.size, np.bincount(counts.indices, minlength=uniq.size), float(lengths.mean()))
        w = bm25_weight(counts, _stats=stats)
    else:
        w = counts
    w = sp.coo_matrix(w)
    builder.add(w.row, uniq[w.col].tolist(), w.data, weight)


def _numeric_block(values, rows, column, mode, n_bins, builder, weight):
    x = np.array([float(v) for v in values], dtype=np.float64) if len(values) else np.zeros(0)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"numeric column {column!r} holds a non-finite value {x[~np.isfinite(x)][0]!r}")
    if x.size == 0:
        return
    if mode == "scale":
        lo, hi = x.min(), x.max()
        scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        builder.add(rows, [column] * x.size, scaled, weight)
        return
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    inner = edges[1:-1]
    which = np.searchsorted(inner, x, side="right")  # bin b covers [edges[b], edges[b+1]), last one closed
    labels = [f"{column}=[{edges[b]:g},{edges[b + 1]:g}{']' if b == edges.size - 2 else ')'}" for b in
              range(edges.size - 1)]
    builder.add(rows, [labels[b] for b in which], np.ones(x.size), weight)


def _build(table, id_column, interactions, axis, multi_valued, categorical, numeric, text, tags, tag_column,
           tag_id_column, sep, n_bins, text_weighting, new_ids, weights):
    _pandas_check(table, "table")
    if new_ids not in NEW_IDS:
        raise ValueError(f"new_ids must be one of {NEW_IDS}, got {new_ids!r}")
    if text_weighting not in TEXT_WEIGHTINGS:
        raise ValueError(f"text_weighting must be one of {TEXT_WEIGHTINGS}, got {text_weighting!r}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"sep must be a non-empty string, got {sep!r}")
    multi_valued = _as_list(multi_valued, "multi_valued")
    categorical = _as_list(categorical, "categorical")
    text = _as_list(text, "text")
    if numeric is None:
        numeric = {}
    elif isinstance(numeric, (str, list, tuple)):
        numeric = {c: "scale" for c in _as_list(numeric, "numeric")}
    elif not isinstance(numeric, dict):
        raise TypeError(f"numeric must be a column name, a list of them or a dict column -> mode, got "
                        f"{type(numeric).__name__}")
    for c, mode in numeric.items():
        if mode not in NUMERIC_MODES:
            raise ValueError(f"numeric[{c!r}] must be one of {NUMERIC_MODES}, got {mode!r}")
    weights = {} if weights is None else dict(weights)
    sources = multi_valued + categorical + list(numeric) + text + (["tags"] if tags is not None else [])
    unknown_w = sorted(set(weights) - set(sources))
    if unknown_w:
        raise ValueError(f"weights names {unknown_w}, which are not feature sources ({sources})")
    if not sources:
        raise ValueError("no features asked for: give multi_valued, categorical, numeric, text or tags")
    if tags is not None:
        _pandas_check(tags, "tags")
    if len(table) == 0 and (tags is None or len(tags) == 0):
        raise ValueError("table is empty (and there are no tags): there are no features to build")

    # ---- row ids -------------------------------------------------------------------------------------
    table_ids = _column(table, id_column, "id_column")
    tag_ids = _column(tags, tag_id_column or id_column, "tag_id_column") if tags is not None else np.zeros(0, object)
    for what, ids in (("table", table_ids), ("tags", tag_ids)):
        bad = [t for t, v in enumerate(ids.tolist()) if _missing(v)]
        if bad:
            raise ValueError(f"{what}: id column has a missing (NaN/None/empty) id at row {bad[0]}")
    keys = [_key(v) for v in table_ids.tolist()]
    if len(set(keys)) != len(keys):
        seen, dup = set(), None
        for k in keys:
            if k in seen:
                dup = k
                break
            seen.add(k)
        raise ValueError(f"table: id {dup!r} appears more than once in column {id_column!r} (one row per id)")
    row_of: dict = {}
    order: list = []
    n_known = 0
    if interactions is not None:
        from .data import Interactions

        if not isinstance(interactions, Interactions):
            raise TypeError(f"interactions must be a turborec.Interactions or None, got {type(interactions).__name__}")
        known = interactions.item_ids if axis == "items" else interactions.user_ids
        for v in known.tolist():
            row_of[_key(v)] = len(order)
            order.append(v)
        n_known = len(order)
    dropped = []
    for v in table_ids.tolist() + tag_ids.tolist():
        k = _key(v)
        if k in row_of:
            continue
        if interactions is not None and new_ids != "append":
            if new_ids == "error":
                raise ValueError(f"id {v!r} is not among the interactions' {axis}; pass new_ids='append' to "
                                 "give it a row (cold start) or new_ids='drop' to ignore it")
            dropped.append(k)
            continue
        row_of[k] = len(order)
        order.append(v)
    kind = lambda v: "str" if isinstance(v, str) else "number" if isinstance(v, (numbers.Number, np.number)) else "other"
    if interactions is not None and n_known and keys and kind(keys[0]) != kind(_key(order[0])) \
            and not any(row_of.get(k, n_known) < n_known for k in keys):
        raise ValueError(f"none of the table's ids is among the interactions' {axis} (e.g. {keys[0]!r} vs "
                         f"{order[0]!r}): are they the same kind of id (numbers vs strings)?")
    n_rows = len(order)
    table_rows = np.array([row_of.get(k, -1) for k in keys], dtype=np.int64)

    b = _Builder()

    def present(column):
        vals = _column(table, column, "feature column")
        keep = np.array([not _missing(v) for v in vals.tolist()], dtype=bool) & (table_rows >= 0)
        return vals[keep], table_rows[keep]

    for c in multi_valued:
        vals, rows = present(c)
        er, names = [], []
        for r, v in zip(rows.tolist(), vals.tolist()):
            if not isinstance(v, str):
                raise ValueError(f"multi_valued column {c!r} must hold strings, found {type(v).__name__} {v!r}")
            for label in {s.strip() for s in v.split(sep)} - {""}:
                er.append(r)
                names.append(f"{c}={label}")
        b.add(er, names, np.ones(len(er)), weights.get(c, 1.0))
    for c in categorical:
        vals, rows = present(c)
        b.add(rows, [f"{c}={v}" for v in vals.tolist()], np.ones(rows.size), weights.get(c, 1.0))
    for c, mode in numeric.items():
        vals, rows = present(c)
        try:
            _numeric_block(vals.tolist(), rows, c, mode, int(n_bins), b, weights.get(c, 1.0))
        except (TypeError, ValueError) as e:
            if "non-finite" in str(e):
                raise
            raise ValueError(f"numeric column {c!r} holds a non-number: {e}") from None
    for c in text:
        vals, rows = present(c)
        _text_block(vals.tolist(), rows.tolist(), c, text_weighting, b, weights.get(c, 1.0))
    if tags is not None and len(tags):
        tag_vals = _column(tags, tag_column, "tag_column")
        er, names = [], []
        for v, t in zip(tag_ids.tolist(), tag_vals.tolist()):
            r = row_of.get(_key(v))
            if r is None or _missing(t):
                continue
            er.append(r)
            names.append(f"tag={str(t).strip().lower()}")
        b.add(er, names, np.ones(len(er)), weights.get("tags", 1.0))
    matrix, names = b.matrix(n_rows)
    ids = _ids_array(order)
    return Features(matrix, names, ids, n_known)


def _ids_array(order):
    """Numeric ids as a numeric array, anything else (strings, mixed) as an object array."""
    if order and all(isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (bool, np.bool_))
                     for v in order):
        return np.asarray(order)
    out = np.empty(len(order), dtype=object)
    out[:] = order
    return out


def _pandas_check(table, name):
    if not hasattr(table, "columns") or not hasattr(table, "__len__"):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")


def item_features(table, id_column="item_id", *, interactions=None, multi_valued=None, categorical=None,
                  numeric=None, text=None, tags=None, tag_column="tag", tag_id_column=None, sep="|", n_bins=10,
                  text_weighting="tfidf", new_ids="append", weights=None) -> Features:
    """Item features from a one-row-per-item DataFrame (and optionally a long tags table).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per item; ``id_column`` holds the raw item ids (those of the interactions).
    interactions : turborec.Interactions, optional
        Rows are aligned to its item id map; new ids follow ``new_ids`` (module docstring).
    multi_valued, categorical, text : column name or list of names
    numeric : column name, list of names (scaled) or dict ``{column: "scale" | "bins"}``
    tags : pandas.DataFrame, optional
        One row per tag assignment with the item id in ``tag_id_column`` (default ``id_column``)
        and the tag in ``tag_column``; counted per item.
    sep : str
        Separator of ``multi_valued`` labels.
    n_bins : int
        Quantile bins for ``numeric`` columns in ``"bins"`` mode (equal edges are merged).
    text_weighting : {"tfidf", "bm25", "count"}
    new_ids : {"append", "drop", "error"}
    weights : dict, optional
        Multiplies each source's values (a column name, or ``"tags"``) to balance the blocks.

    Returns
    -------
    Features
    """
    return _build(table, id_column, interactions, "items", multi_valued, categorical, numeric, text, tags, tag_column,
                  tag_id_column, sep, n_bins, text_weighting, new_ids, weights)


def user_features(table, id_column="user_id", *, interactions=None, multi_valued=None, categorical=None,
                  numeric=None, text=None, tags=None, tag_column="tag", tag_id_column=None, sep="|", n_bins=10,
                  text_weighting="tfidf", new_ids="append", weights=None) -> Features:
    """User features (e.g. ml-100k's age, gender, occupation), aligned to the interactions' users;
    parameters as :func:`item_features`."""
    return _build(table, id_column, interactions, "users", multi_valued, categorical, numeric, text, tags, tag_column,
                  tag_id_column, sep, n_bins, text_weighting, new_ids, weights)


__all__ = ["Features", "item_features", "tokenize", "user_features"]
