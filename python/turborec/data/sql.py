"""SQL databases: a SQLite file or connection (the embedded default) or any SQLAlchemy URL / Engine /
Connection, opened and closed for one read or write; table names quoted, never formatted by hand."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

# schema.table or table, plain SQL identifiers only: anything else is run as a query.
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _split_table(table: str):
    if "." in table and TABLE_RE.match(table):
        schema, name = table.split(".", 1)
        return schema, name
    return None, table


def _quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_source(table: str) -> str:
    schema, name = _split_table(table)
    return _quote_sqlite(name) if schema is None else f"{_quote_sqlite(schema)}.{_quote_sqlite(name)}"


def _sqlite_select(table: str, cols) -> str:
    return f"SELECT {', '.join(_quote_sqlite(c) for c in cols)} FROM {_sqlite_source(table)}"


def _sqlite_columns(conn, table: str) -> list:
    """The table's column names. Needed before selecting: SQLite reads a double-quoted name that is
    not a column as a string literal, so a typo would silently become a column of constant text."""
    cur = conn.execute(f"SELECT * FROM {_sqlite_source(table)} LIMIT 0")
    try:
        return [d[0] for d in cur.description]
    finally:
        cur.close()


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
