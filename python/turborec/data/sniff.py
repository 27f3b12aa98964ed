"""Reading a ratings file whatever its format: separators, headers and column roles guessed from the
file itself, MovieLens files recognised (with their titles), Parquet by extension."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import NamedTuple

from .interactions import Interactions


class _FileProblem(ValueError):
    """What is wrong with the file, already said in full."""


@contextmanager
def _user_errors(prefix: str, hint: str = ""):
    """Reading problems become one ValueError that names the file (FileNotFoundError stays)."""
    try:
        yield
    except (FileNotFoundError, _FileProblem):
        raise
    except (ValueError, TypeError, KeyError, OSError, ImportError) as err:
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise _FileProblem(f"{prefix}: {text}{hint}") from err


_ALIASES = {
    "user": ("user", "userid", "users", "uid", "customer", "customerid", "reviewer", "reviewerid", "visitor",
             "visitorid", "member", "memberid", "account", "accountid"),
    "item": ("item", "itemid", "items", "iid", "movie", "movieid", "product", "productid", "asin", "isbn", "book",
             "bookid", "track", "trackid", "song", "songid", "artist", "artistid", "article", "articleid"),
    "rating": ("rating", "ratings", "score", "stars", "rate", "value", "preference", "weight"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "unixtime", "unixtimestamp", "createdat"),
}


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _guess_columns(columns, path):
    """{role: column name or None} from header names; ValueError when user or item is unclear."""
    normed = {_norm(c): c for c in reversed(list(columns))}  # first occurrence wins
    found = {}
    for role, aliases in _ALIASES.items():
        found[role] = next((normed[a] for a in aliases if a in normed), None)
    if found["user"] is None or found["item"] is None or found["user"] == found["item"]:
        raise _FileProblem(f"cannot tell which columns of {path!r} hold users and items (columns: "
                         f"{', '.join(map(str, columns))}); name them user,item,rating[,timestamp] or pass "
                         "columns='USER,ITEM[,RATING[,TIMESTAMP]]' (--columns on the command line)")
    return found


def _parse_columns(spec: str):
    parts = [p.strip() for p in spec.split(",")]
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise _FileProblem(f"columns expects USER,ITEM[,RATING[,TIMESTAMP]] (names or 0-based positions), "
                         f"got {spec!r}")
    values = [int(p) if p.isdigit() else p for p in parts] + [None] * (4 - len(parts))
    return dict(zip(("user", "item", "rating", "timestamp"), values))


def _first_lines(path: str, n: int = 2) -> list:
    with open(path, "rb") as f:
        raw = [f.readline(1 << 16) for _ in range(n)]
    lines = [r.decode("utf-8", errors="replace").rstrip("\r\n") for r in raw]
    lines[0] = lines[0].lstrip("\ufeff")
    return lines


def _has_header(fields, second) -> bool:
    """A header names a known column, or is text where the next line has numbers (a rating, a time)."""
    aliases = {a for names in _ALIASES.values() for a in names}
    if any(_norm(f) in aliases for f in fields):
        return True
    numeric = [_is_number(f) for f in fields]
    if all(numeric):
        return False
    return any(not a and _is_number(b) for a, b in zip(numeric, second))


def _is_number(text: str) -> bool:
    try:
        float(text.strip().strip('"'))
        return True
    except ValueError:
        return False


def _movielens_kind(line: str):
    if _norm(line).startswith("useridmovieidratingtimestamp"):
        return "ratings.csv"
    fields = line.split("::")
    if len(fields) == 4 and all(_is_number(x) for x in fields):
        return "ratings.dat"
    fields = line.split("\t")
    if len(fields) == 4 and all(_is_number(x) for x in fields):
        return "u.data"
    return None


def _item_names(path: str, kind):
    """Titles from the MovieLens movies file beside a ratings file, as a pandas Series (or None)."""
    import pandas as pd

    folder = os.path.dirname(os.path.abspath(path))
    try:
        if kind == "ratings.csv" and os.path.isfile(os.path.join(folder, "movies.csv")):
            df = pd.read_csv(os.path.join(folder, "movies.csv"), usecols=["movieId", "title"])
            return pd.Series(df["title"].to_numpy(), index=df["movieId"].to_numpy())
        if kind == "ratings.dat" and os.path.isfile(os.path.join(folder, "movies.dat")):
            df = pd.read_csv(os.path.join(folder, "movies.dat"), sep="::", engine="python", header=None,
                             usecols=[0, 1], encoding="latin-1")
            return pd.Series(df[1].to_numpy(), index=df[0].to_numpy())
        if kind == "u.data" and os.path.isfile(os.path.join(folder, "u.item")):
            df = pd.read_csv(os.path.join(folder, "u.item"), sep="|", header=None, usecols=[0, 1], encoding="latin-1")
            return pd.Series(df[1].to_numpy(), index=df[0].to_numpy())
    except (OSError, ValueError, KeyError):  # titles are a nicety: never fail the run over them
        return None
    return None


class RatingsFile(NamedTuple):
    """A ratings file read by :func:`read_ratings`."""

    data: Interactions
    explicit: bool  # whether it has a rating column (else implicit feedback)
    description: str  # where it came from and in which format, for people
    names: object = None  # item titles (a pandas Series by raw item id) when a MovieLens movies file is beside it


def read_ratings(path, columns=None, duplicates="error") -> RatingsFile:
    """Read a ratings file whatever its format, guessing what the user would have to say.

    Recognised: CSV/TSV/``;``/``::``-separated files with a header naming the user, item and
    (optionally) rating and timestamp columns by common names (``user``/``userId``/``user_id``,
    ``item``/``movieId``/``product_id``, ``rating``/``score``, ``timestamp``/``time``, ...) or
    without a header in the order user, item[, rating[, timestamp]]; MovieLens ``ratings.csv``,
    ``ratings.dat`` and ``u.data`` (or a directory holding one); Parquet files. Without a rating
    column the data is implicit feedback.

    Parameters
    ----------
    path : str or Path
    columns : str, optional
        ``"USER,ITEM[,RATING[,TIMESTAMP]]"``: names or 0-based positions, when the guess fails.
    duplicates : {"error", "last", "sum", "mean"}
        As in :meth:`Interactions.from_arrays`.

    Raises FileNotFoundError for a missing path and ValueError (naming the file) for one that
    cannot be read or understood.
    """
    from .movielens import load_movielens

    path = os.fspath(path)
    hint = "; pass a CSV/TSV ratings file (user,item,rating[,timestamp]), a Parquet file or a MovieLens directory"
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file {path!r} does not exist{hint}")
    dup_hint = " (on the command line: --duplicates last|sum|mean)"
    if os.path.isdir(path):
        with _user_errors(f"cannot read {path!r}", hint):
            data = load_movielens(path)
        found = next(f for f in ("ratings.csv", "ratings.dat", "u.data") if os.path.isfile(os.path.join(path, f)))
        return RatingsFile(data, True, f"MovieLens {os.path.join(path, found)}",
                       _item_names(os.path.join(path, found), found))
    spec = _parse_columns(columns) if columns else None
    if path.lower().endswith((".parquet", ".pq")):
        with _user_errors(f"cannot read {path!r}"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            spec = spec or _guess_columns(names, path)
            spec = {r: (names[c] if isinstance(c, int) and c < len(names) else c) for r, c in spec.items()}
            data = Interactions.from_parquet(path, spec["user"], spec["item"], spec["rating"],
                                                      spec["timestamp"], duplicates=duplicates)
        return RatingsFile(data, spec["rating"] is not None, f"{path} (Parquet)")
    with _user_errors(f"cannot read {path!r}"):
        line, second = _first_lines(path)
    if not line.strip():
        raise _FileProblem(f"{path!r} is empty or starts with a blank line{hint}")
    kind = None if spec else _movielens_kind(line)
    if kind is not None:
        with _user_errors(f"cannot read {path!r}", dup_hint):
            data = load_movielens(path)
        return RatingsFile(data, True, f"{path} (MovieLens {kind} format)", _item_names(path, kind))
    if "::" in line:
        sep = "::"
    elif "\t" in line:
        sep = "\t"
    elif ";" in line and "," not in line:
        sep = ";"
    else:
        sep = ","
    fields = line.split(sep)
    header = _has_header(fields, second.split(sep))
    if spec is None:
        if header:
            spec = _guess_columns([f.strip('"') for f in fields], path)
        elif len(fields) >= 2:
            spec = dict(zip(("user", "item", "rating", "timestamp"), list(range(min(len(fields), 4))) + [None] * 2))
        else:
            raise _FileProblem(f"{path!r} has one column; expected user,item[,rating[,timestamp]]")
    if not header and any(isinstance(c, str) for c in spec.values() if c is not None):
        raise _FileProblem(f"{path!r} has no header line: give columns as 0-based positions, e.g. 0,1,2 "
                           "(--columns on the command line)")
    kwargs = dict(sep=sep, header=header, duplicates=duplicates)
    with _user_errors(f"cannot read {path!r}", dup_hint):
        try:
            data = Interactions.from_csv(path, spec["user"], spec["item"], spec["rating"], spec["timestamp"],
                                                  **kwargs)
        except ValueError as err:
            if "string_ids" not in str(err):
                raise
            data = Interactions.from_csv(path, spec["user"], spec["item"], spec["rating"], spec["timestamp"],
                                                  string_ids=True, **kwargs)
    what = {"\t": "TSV", ",": "CSV", ";": "CSV (;)", "::": "'::'-separated"}[sep]
    return RatingsFile(data, spec["rating"] is not None, f"{path} ({what})")
