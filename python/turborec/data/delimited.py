"""Delimited text files (CSV, TSV, ``::``-separated, ...): the wanted columns of a file, by pyarrow
(fast, multi-threaded) or by pandas when pyarrow is missing."""

from __future__ import annotations

import io
import numbers

from ._columns import _pandas


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
    try:
        with pacsv.open_csv(source(), read_options=read_opts, parse_options=parse_opts) as reader:
            columns = reader.schema.names  # from the first block only
    except pa.ArrowInvalid as e:  # empty file, ragged first block, bad encoding
        raise ValueError(f"could not parse {path!r}: {e}") from None
    resolved = {role: None if col is None else _resolve_column(col, columns, role) for role, col in wanted.items()}
    include = list(dict.fromkeys(c for c in resolved.values() if c is not None))
    types = {resolved["user"]: pa.string(), resolved["item"]: pa.string()} if string_ids else None
    try:
        table = pacsv.read_csv(source(), read_options=read_opts, parse_options=parse_opts,
                               convert_options=pacsv.ConvertOptions(include_columns=include, column_types=types))
    except pa.ArrowInvalid as e:
        raise ValueError(f"could not parse {path!r}: {e}. If an id column mixes numbers and text, pass "
                         "string_ids=True") from None
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
