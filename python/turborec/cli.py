"""The ``turborec`` command line.

Subcommands::

    turborec demo      [--data FILE] [--users N --items N --ratings N] [--seed S] [--threads T]
    turborec train     --data FILE --model mf|itemknn|userknn [--param NAME=VALUE ...] --out model.npz
                       [--split none|random|per-user] [--test-fraction F] [--seed S]
    turborec recommend --model model.npz --user RAW_ID [-k 10] [--include-seen]
    turborec similar   --model model.npz (--item RAW_ID | --user RAW_ID) [-k 10]
    turborec evaluate  --data FILE --model mf|itemknn|userknn [--param ...]
                       [--split random|per-user|leave-one-out|temporal|kfold] [--folds 5] [-k 10]
    turborec info      model.npz
    turborec --version

Ratings files: CSV or TSV with a header naming the user, item and (optionally) rating and
timestamp columns -- common names are recognised (``user``/``userId``/``user_id``,
``item``/``movieId``/``item_id``/``product_id``, ``rating``/``score``, ``timestamp``/``time``) --
or without a header in the order user, item[, rating[, timestamp]]; MovieLens ``ratings.csv``,
``ratings.dat`` and ``u.data`` (or a directory holding one); Parquet files. Without a rating column
the data is implicit feedback. ``--columns`` names the columns when the guess fails.

Exit status: 0 on success; 2 for a usage or input problem (bad argument, missing or unreadable
file, unknown id, invalid model parameter), reported as one line on stderr; 1 for an unexpected
error (a bug), with its traceback.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import math
import os
import re
import sys
import textwrap
import time
import traceback

import numpy as np

MODEL_NAMES = ("mf", "itemknn", "userknn")
SPLITS = ("random", "per-user", "leave-one-out", "temporal", "kfold")
DEMO_SIZE = (50_000, 10_000, 1_000_000)  # users, items, ratings: 10-20 s and 0.6 GB on 2 cores
RATING_METRICS = ("rmse", "mae")
RANKING_METRICS = ("precision", "recall", "ndcg", "map", "coverage")


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err) or type(err).__name__


@contextlib.contextmanager
def _user_errors(prefix: str, hint: str = ""):
    """Turn the library's input errors raised inside the block into UsageError."""
    try:
        yield
    except UsageError:
        raise
    except (ValueError, TypeError, KeyError, OSError, ImportError, FloatingPointError) as err:
        raise UsageError(f"{prefix}: {_message(err)}{hint}") from err


# ---- output helpers -----------------------------------------------------------------------------------

def _can_encode(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _table(headers, rows, right=None) -> str:
    """Plain-text table; columns in `right` (indices) are right-aligned."""
    right = set(range(1, len(headers))) if right is None else set(right)
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _num(x, digits=4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _show(v) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    return str(v)


def _progress(iterable, desc, total=None):
    """tqdm on stderr when it is a terminal (and tqdm is installed); the plain iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False)


# ---- reading ratings files ----------------------------------------------------------------------------

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
    """{role: column name or None} from header names; UsageError when user or item is unclear."""
    normed = {_norm(c): c for c in reversed(list(columns))}  # first occurrence wins
    found = {}
    for role, aliases in _ALIASES.items():
        found[role] = next((normed[a] for a in aliases if a in normed), None)
    if found["user"] is None or found["item"] is None or found["user"] == found["item"]:
        raise UsageError(f"cannot tell which columns of {path!r} hold users and items (columns: "
                         f"{', '.join(map(str, columns))}); name them user,item,rating[,timestamp] or pass "
                         "--columns USER,ITEM[,RATING[,TIMESTAMP]]")
    return found


def _parse_columns(spec: str):
    parts = [p.strip() for p in spec.split(",")]
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise UsageError(f"--columns expects USER,ITEM[,RATING[,TIMESTAMP]] (names or 0-based positions), "
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


class Ratings:
    """A loaded ratings file: the Interactions, whether it has ratings, a description, item titles."""

    def __init__(self, data, explicit: bool, description: str, names=None):
        self.data, self.explicit, self.description, self.names = data, explicit, description, names


def read_ratings(path, columns=None, duplicates="error") -> Ratings:
    """Load a ratings file for the CLI (see the module docstring for what is recognised)."""
    import turborec

    path = os.fspath(path)
    hint = "; pass a CSV/TSV ratings file (user,item,rating[,timestamp]), a Parquet file or a MovieLens directory"
    if not os.path.exists(path):
        raise UsageError(f"data file {path!r} does not exist{hint}")
    dup_hint = " (on the command line: --duplicates last|sum|mean)"
    if os.path.isdir(path):
        with _user_errors(f"cannot read {path!r}", hint):
            data = turborec.load_movielens(path)
        found = next(f for f in ("ratings.csv", "ratings.dat", "u.data") if os.path.isfile(os.path.join(path, f)))
        return Ratings(data, True, f"MovieLens {os.path.join(path, found)}",
                       _item_names(os.path.join(path, found), found))
    spec = _parse_columns(columns) if columns else None
    if path.lower().endswith((".parquet", ".pq")):
        with _user_errors(f"cannot read {path!r}"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            spec = spec or _guess_columns(names, path)
            spec = {r: (names[c] if isinstance(c, int) and c < len(names) else c) for r, c in spec.items()}
            data = turborec.Interactions.from_parquet(path, spec["user"], spec["item"], spec["rating"],
                                                      spec["timestamp"], duplicates=duplicates)
        return Ratings(data, spec["rating"] is not None, f"{path} (Parquet)")
    with _user_errors(f"cannot read {path!r}"):
        line, second = _first_lines(path)
    if not line.strip():
        raise UsageError(f"{path!r} is empty or starts with a blank line{hint}")
    kind = None if spec else _movielens_kind(line)
    if kind is not None:
        with _user_errors(f"cannot read {path!r}", dup_hint):
            data = turborec.load_movielens(path)
        return Ratings(data, True, f"{path} (MovieLens {kind} format)", _item_names(path, kind))
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
            raise UsageError(f"{path!r} has one column; expected user,item[,rating[,timestamp]]")
    if not header and any(isinstance(c, str) for c in spec.values() if c is not None):
        raise UsageError(f"{path!r} has no header line: give --columns as 0-based positions, e.g. 0,1,2")
    kwargs = dict(sep=sep, header=header, duplicates=duplicates)
    with _user_errors(f"cannot read {path!r}", dup_hint):
        try:
            data = turborec.Interactions.from_csv(path, spec["user"], spec["item"], spec["rating"], spec["timestamp"],
                                                  **kwargs)
        except ValueError as err:
            if "string_ids" not in str(err):
                raise
            data = turborec.Interactions.from_csv(path, spec["user"], spec["item"], spec["rating"], spec["timestamp"],
                                                  string_ids=True, **kwargs)
    what = {"\t": "TSV", ",": "CSV", ";": "CSV (;)", "::": "'::'-separated"}[sep]
    return Ratings(data, spec["rating"] is not None, f"{path} ({what})")


# ---- models ---------------------------------------------------------------------------------------------

def _parse_value(text: str):
    """A --param value: None, bool, int, float, a Python literal (tuple, quoted string) or a plain string."""
    t = text.strip()
    low = t.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for convert in (int, float):
        try:
            return convert(t)
        except ValueError:
            pass
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return t


def parse_params(items) -> dict:
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--param expects NAME=VALUE (e.g. --param k=20), got {item!r}")
        params[name] = _parse_value(value)
    return params


def make_model(name: str, params: dict, *, seed=None, threads=0):
    """A model from its CLI name and --param values, validated (UsageError on bad parameters)."""
    import turborec

    cls = {"mf": turborec.MatrixFactorization, "itemknn": turborec.ItemKNN, "userknn": turborec.UserKNN}[name]
    _threads(threads)
    model = cls()
    defaults = {"n_threads": threads}
    if "seed" in model.get_params():
        defaults["seed"] = seed
    with _user_errors(f"invalid parameter for {cls.__name__}"):
        model.set_params(**{**defaults, **params})
        model._validate_params()
    return model


def _fit(model, data):
    with _user_errors(f"cannot train {type(model).__name__}"):
        return model.fit(data)


def _metrics_for(model, explicit: bool):
    rating = explicit and not (getattr(model, "loss", "squared") == "bpr")
    return (RATING_METRICS if rating else ()) + RANKING_METRICS


class _Popularity:
    """Baseline for the demo: recommends the most-rated training items; predicts each item's mean
    rating (the global mean for unrated items). Follows the model contract ``evaluate`` needs."""

    is_fitted = False

    def fit(self, data):
        m = data.matrix if hasattr(data, "matrix") else data
        n_items = m.shape[1]
        counts = np.bincount(m.indices, minlength=n_items)
        sums = np.bincount(m.indices, weights=m.data, minlength=n_items)
        mu = float(m.data.mean()) if m.nnz else 0.0
        self.item_mean_ = np.divide(sums, counts, out=np.full(n_items, mu), where=counts > 0).astype(np.float32)
        self.popularity_ = counts.astype(np.float32)
        self.user_items_ = m
        self.n_users, self.n_items = m.shape
        self.is_fitted = True
        return self

    def predict(self, users, items):
        return self.item_mean_[np.asarray(items)]

    def recommend(self, users, k=10, *, exclude_seen=True):
        import turborec

        users = np.asarray(users)
        ones = np.ones((users.size, 1), np.float32)
        exclude = self.user_items_[users] if exclude_seen else None
        return turborec.topk_dot(ones, self.popularity_[:, None], k, exclude=exclude)


# ---- splits and evaluation ------------------------------------------------------------------------------

def _split(data, how: str, fraction: float, seed):
    import turborec

    with _user_errors(f"cannot split the data ({how})"):
        if how == "random":
            return turborec.random_split(data, fraction, seed)
        if how == "per-user":
            return turborec.per_user_split(data, fraction, seed)
        if how == "leave-one-out":
            return turborec.leave_k_out(data, 1, seed)
        if how == "temporal":
            if data.timestamps is None:
                raise UsageError("--split temporal needs timestamps, and the data file has no timestamp column; "
                                 "use --split per-user or random")
            return turborec.temporal_split(data, test_fraction=fraction)
    raise AssertionError(how)  # pragma: no cover


def _metric_headers(k: int):
    return {"rmse": "RMSE", "mae": "MAE", "precision": f"P@{k}", "recall": f"R@{k}", "ndcg": f"NDCG@{k}",
            "map": f"MAP@{k}", "coverage": "coverage"}


def _evaluate(model, train, test, k, metrics, threads):
    """evaluate() plus wall-clock seconds spent after fitting (predict, recommend and metrics)."""
    import turborec

    start = time.perf_counter()
    with _user_errors(f"cannot evaluate {type(model).__name__}"):
        row = turborec.evaluate(model, train, test, k, list(metrics), n_threads=threads).iloc[0]
    total = time.perf_counter() - start
    fit = float(row["fit_seconds"])
    return row, fit, total - (0.0 if math.isnan(fit) else fit)


def _check_fraction(f: float) -> float:
    if not 0.0 < f < 1.0:
        raise UsageError(f"--test-fraction must be between 0 and 1 (exclusive), got {f}")
    return f


# ---- the demo -----------------------------------------------------------------------------------------

def _config_line(threads: int) -> str:
    import turborec

    c = turborec.config()
    return (f"turborec {c['version']} | SIMD {c['simd_active']} (CPU supports {c['simd_supported']}) | "
            f"OpenMP {'on' if c['openmp'] else 'off'} | {threads} of {c['available_cpus']} cores | "
            f"{c['compiler']} | Python {c['python']}")


def _demo_models(explicit: bool, seed, threads: int):
    import turborec

    models = [("Popularity", _Popularity())]
    if explicit:
        models.append(("MF (squared loss)", turborec.MatrixFactorization(seed=seed, n_threads=threads)))
    models.append(("MF (BPR)", turborec.MatrixFactorization(loss="bpr", seed=seed, n_threads=threads)))
    models.append(("ItemKNN", turborec.ItemKNN(n_threads=threads)))
    models.append(("UserKNN", turborec.UserKNN(n_threads=threads)))
    return models


def _title(ids, names, dense: int) -> str:
    raw = ids[dense] if ids is not None else dense
    text = _show(raw)
    if names is not None:
        title = names.get(raw.item() if isinstance(raw, np.generic) else raw)
        if title is not None:
            return f"{title} [{text}]"
    return text


def _samples(fitted, train, test, names, seed, n_users: int = 3, n_items: int = 5):
    """Recommendations for a few users with ItemKNN's reasons and the other models' picks."""
    star = "★" if _can_encode("★✓") else "*"
    tick = "✓" if star == "★" else "+"
    R, T = train.matrix, test.matrix
    train_counts, test_counts = np.diff(R.indptr), np.diff(T.indptr)
    pool = np.flatnonzero((train_counts >= 5) & (test_counts >= 2))
    if pool.size == 0:
        pool = np.flatnonzero(train_counts >= 1)
    if pool.size == 0:
        return
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(pool, size=min(n_users, pool.size), replace=False))
    knn = fitted.get("ItemKNN")
    print(f"\nSample recommendations (ItemKNN, best first; {tick} = in the user's held-out test ratings)")
    uid, iid = train.user_ids, train.item_ids
    for u in users:
        row = slice(R.indptr[u], R.indptr[u + 1])
        items, values = R.indices[row], R.data[row]
        liked = items[np.lexsort((items, -values))][:3]
        vals = {int(i): float(v) for i, v in zip(items, values)}
        held = set(T.indices[T.indptr[u]:T.indptr[u + 1]].tolist())
        liked_text = ", ".join(f"{_title(iid, names, int(i))} ({vals[int(i)]:g}{star})" for i in liked)
        print(f"\nuser {_show(uid[u])}: {items.size} training ratings; rated highest: {liked_text}")
        if knn is None:
            continue
        ids, scores = knn.recommend([u], n_items)
        for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1):
            if i < 0:
                break
            mark = f" {tick}" if int(i) in held else ""
            print(f"  {rank}. {_title(iid, names, int(i))}{mark}   score {s:.3g}")
            exp = knn.explain(int(u), int(i))
            reasons = [f"{_title(iid, names, int(j))} ({r:g}{star}, similarity {sim:.2f})"
                       for j, sim, r, w in zip(exp.neighbours, exp.similarities, exp.ratings, exp.weights) if w > 0][:3]
            if reasons:
                print(f"       because you rated {'; '.join(reasons)}")
        for label, model in fitted.items():
            if label == "ItemKNN":
                continue
            other, _ = model.recommend([u], n_items)
            picks = ", ".join(_title(iid, names, int(i)) + (f" {tick}" if int(i) in held else "")
                              for i in other[0] if i >= 0)
            print(f"  {label:<17} would pick: {picks}")


def run_demo(args) -> int:
    import turborec

    _require_pandas("demo")
    threads = _threads(args.threads)
    print(_config_line(threads))
    if args.data is not None:
        ratings = read_ratings(args.data, args.columns, args.duplicates)
        data, explicit, names = ratings.data, ratings.explicit, ratings.names
        source = f"from {ratings.description}"
    else:
        n_users, n_items, n_ratings = args.users, args.items, args.ratings
        with _user_errors("cannot generate the demo data"):
            data = turborec.synthetic(n_users, n_items, n_ratings, seed=args.seed)
        explicit, names = True, None
        source = f"generated (power-law popularity, low-rank tastes, 1-5 stars; seed {args.seed})"
    m = data.matrix
    density = m.nnz / max(m.shape[0] * m.shape[1], 1)
    kind = "ratings" if explicit else "interactions (implicit feedback)"
    print(f"\nData: {m.nnz:,} {kind} by {m.shape[0]:,} users on {m.shape[1]:,} items (density {density:.3%}), {source}")
    train, test = _split(data, "per-user", 0.2, args.seed)
    users_with_test = int(np.count_nonzero(np.diff(test.matrix.indptr)))
    print(f"Split: 80/20 per user (seed {args.seed}): {train.nnz:,} train / {test.nnz:,} test {kind.split()[0]}; "
          f"{users_with_test:,} users have test items")
    k = 10
    models = _demo_models(explicit, args.seed, threads)
    print(f"\nTraining and evaluating {len(models)} models (top-{k} lists exclude each user's training items):\n")
    headers = _metric_headers(k)
    shown = (RATING_METRICS if explicit else ()) + RANKING_METRICS
    rows, fitted = [], {}
    bar = _progress(models, "training + evaluating")
    for label, model in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(label)
        row, fit_s, eval_s = _evaluate(model, train, test, k, _metrics_for(model, explicit), threads)
        fitted[label] = model
        values = [_num(row.get(mname), 3 if mname == "coverage" else 4) for mname in shown]
        rows.append([label, f"{fit_s:.2f}", f"{eval_s:.2f}"] + values)
    print(_table(["model", "fit s", "eval s"] + [headers[mname] for mname in shown], rows))
    legend = (("RMSE/MAE: error of the predicted ratings on the test ratings (lower is better; '-': not a "
               "rating model). ") if explicit else "") + (
        f"P/R/NDCG/MAP@{k}: how well each user's top-{k} list finds their test items (higher is better). "
        "coverage: share of the catalogue that appears in some list. eval s: predict + recommend + metrics.")
    if args.data is None:
        legend += (" On this generated data, which items a user rates depends only on their popularity (tastes "
                   "shape the stars), so popularity is hard to beat on the top-k metrics; on real ratings "
                   "(--data FILE) the personalised models pull ahead.")
    print("\n" + textwrap.fill(legend, width=100))
    _samples(fitted, train, test, names, args.seed)
    return 0


# ---- train / recommend / similar / evaluate / info --------------------------------------------------

def _require_pandas(command: str) -> None:
    try:
        import pandas
    except ImportError:
        raise UsageError(f"turborec {command} needs pandas (data loading and evaluation): "
                         "pip install 'turborec[data]'") from None
    del pandas


def _threads(n) -> int:
    from ._threads import effective_threads

    with _user_errors("invalid argument"):
        return effective_threads(n, "--threads")


def run_train(args) -> int:
    _require_pandas("train")
    params = parse_params(args.param)
    model = make_model(args.model, params, seed=args.seed, threads=args.threads)
    out = os.fspath(args.out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {out!r}: directory {folder!r} does not exist")
    ratings = read_ratings(args.data, args.columns, args.duplicates)
    data = ratings.data
    print(f"data: {data.nnz:,} interactions by {data.n_users:,} users on {data.n_items:,} items, from "
          f"{ratings.description}")
    if args.split == "none":
        start = time.perf_counter()
        _fit(model, data)
        print(f"trained {model!r} in {time.perf_counter() - start:.2f} s")
    else:
        train, test = _split(data, args.split, _check_fraction(args.test_fraction), args.seed)
        row, fit_s, eval_s = _evaluate(model, train, test, args.k, _metrics_for(model, ratings.explicit),
                                       _threads(args.threads))
        print(f"trained {model!r} on {train.nnz:,} interactions ({args.split} split, seed {args.seed}) in "
              f"{fit_s:.2f} s; held-out {test.nnz:,}:")
        _print_metrics([(type(model).__name__, row, fit_s, eval_s)], args.k, ratings.explicit)
    with _user_errors(f"cannot write {out!r}"):
        model.save(out)
    print(f"saved to {out} ({_size(os.path.getsize(out))})")
    return 0


def _load_model(path):
    import turborec

    hint = "; train one with: turborec train --data FILE --model mf|itemknn|userknn --out model.npz"
    with _user_errors("cannot load the model", hint):
        return turborec.load(path)


def dense_id(model, raw: str, kind: str) -> int:
    """The dense index of a raw user/item id given on the command line: tried as int, then float, then
    as the string itself, against the ids the model stores."""
    ids = model.user_ids_ if kind == "user" else model.item_ids_
    n = model.n_users if kind == "user" else model.n_items
    if ids is None:  # fitted on a bare matrix: raw ids are the indices
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if 0 <= value < n:
            return value
        raise UsageError(f"{kind} {raw!r} is not in the model (it knows {n:,} {kind}s, ids 0 to {n - 1})")
    candidates = []
    for convert in (int, float):
        try:
            candidates.append(convert(raw))
        except ValueError:
            pass
    candidates.append(raw)
    for value in candidates:
        if ids.dtype.kind in "iub" and not isinstance(value, int):
            continue
        if ids.dtype.kind == "f" and isinstance(value, str):
            continue
        hits = np.flatnonzero(ids == value)
        if hits.size:
            return int(hits[0])
    examples = ", ".join(_show(v) for v in ids[:3])
    raise UsageError(f"{kind} {raw!r} is not in the model (it knows {ids.size:,} {kind}s, e.g. {examples})")


def run_recommend(args) -> int:
    model = _load_model(args.model)
    u = dense_id(model, args.user, "user")
    k = _positive(args.k, "-k")
    ids, scores = model.recommend([u], k, exclude_seen=not args.include_seen)
    items = model.item_ids_
    seen = int(model.user_items_.indptr[u + 1] - model.user_items_.indptr[u]) if u < model.n_users else 0
    print(f"top {k} for user {args.user} from {type(model).__name__} ({seen} items in training"
          f"{', included' if args.include_seen else ' excluded'}):")
    rows = [[rank, _show(items[i]) if items is not None else int(i), f"{s:.4g}"]
            for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1) if i >= 0]
    if not rows:
        print("(no candidates)")
        return 0
    print(_table(["rank", "item", "score"], rows, right={0, 2}))
    return 0


def _positive(v: int, flag: str) -> int:
    if v < 1:
        raise UsageError(f"{flag} must be >= 1, got {v}")
    return v


def run_similar(args) -> int:
    model = _load_model(args.model)
    k = _positive(args.k, "-k")
    if args.item is not None:
        kind, raw = "item", args.item
        ids, scores = model.similar_items([dense_id(model, raw, "item")], k)
        names = model.item_ids_
    else:
        kind, raw = "user", args.user
        ids, scores = model.similar_users([dense_id(model, raw, "user")], k)
        names = model.user_ids_
    print(f"{k} {kind}s most similar to {kind} {raw} ({type(model).__name__}):")
    rows = [[rank, _show(names[i]) if names is not None else int(i), f"{s:.4f}"]
            for rank, (i, s) in enumerate(zip(ids[0], scores[0]), 1) if i >= 0]
    if not rows:
        print("(none)")
        return 0
    print(_table(["rank", kind, "similarity"], rows, right={0, 2}))
    return 0


def _print_metrics(rows, k, explicit, extra=None):
    headers = _metric_headers(k)
    shown = [mname for mname in (RATING_METRICS if explicit else ()) + RANKING_METRICS
             if any(mname in row.index and not _isnan(row[mname]) for _, row, _, _ in rows)]
    table = []
    for label, row, fit_s, eval_s in rows:
        table.append([label, _num(fit_s, 2), _num(eval_s, 2)]
                     + [_num(row.get(mname), 3 if mname == "coverage" else 4) for mname in shown])
    print(_table(["", "fit s", "eval s"] + [headers[mname] for mname in shown], table))


def _isnan(x) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def run_evaluate(args) -> int:
    import turborec

    _require_pandas("evaluate")
    params = parse_params(args.param)
    model = make_model(args.model, params, seed=args.seed, threads=args.threads)
    k = _positive(args.k, "-k")
    ratings = read_ratings(args.data, args.columns, args.duplicates)
    data = ratings.data
    metrics = list(_metrics_for(model, ratings.explicit))
    threads = _threads(args.threads)
    print(f"data: {data.nnz:,} interactions by {data.n_users:,} users on {data.n_items:,} items, from "
          f"{ratings.description}")
    print(f"model: {model!r}")
    if args.split == "kfold":
        if args.folds < 2:
            raise UsageError(f"--folds must be >= 2, got {args.folds}")
        with _user_errors(f"cannot cross-validate {type(model).__name__}"):
            table = turborec.cross_validate(model.clone, data, args.folds, k, metrics, seed=args.seed,
                                            n_threads=threads)
        print(f"{args.folds}-fold cross-validation (seed {args.seed}), top-{k} lists:")
        rows = []
        for label, row in table.iterrows():
            fit_s = float(row["fit_seconds"])
            eval_s = sum(float(row[c]) for c in ("predict_seconds", "recommend_seconds") if not _isnan(row[c]))
            if label == "std":  # the std of a sum is not the sum of the stds
                eval_s = math.nan
            rows.append((f"fold {label}" if isinstance(label, (int, np.integer)) else str(label), row, fit_s, eval_s))
        _print_metrics(rows, k, ratings.explicit)
        return 0
    fraction = _check_fraction(args.test_fraction)
    train, test = _split(data, args.split, fraction, args.seed)
    row, fit_s, eval_s = _evaluate(model, train, test, k, metrics, threads)
    ratio = f"{1 - fraction:.0%}/{fraction:.0%}"
    how = {"random": f"random {ratio}", "per-user": f"per-user {ratio}", "leave-one-out": "leave one out per user",
           "temporal": f"temporal, latest {fraction:.0%} as test"}[args.split]
    seeded = "" if args.split == "temporal" else f" (seed {args.seed})"
    print(f"split: {how}{seeded}: {train.nnz:,} train / {test.nnz:,} test; top-{k} lists for "
          f"{int(row['n_users']):,} users")
    _print_metrics([(type(model).__name__, row, fit_s, eval_s)], k, ratings.explicit)
    return 0


def run_info(args) -> int:
    from . import persistence

    hint = "; train one with: turborec train --data FILE --model mf|itemknn|userknn --out model.npz"
    with _user_errors("cannot read the model", hint):
        meta = persistence.info(args.path)
    params = ", ".join(f"{k}={v!r}" for k, v in meta["params"].items())
    ids = ", ".join(f"{n[:-5]}s: {spec.get('kind')}" for n, spec in meta["ids"].items())
    arrays = meta["arrays"]
    rows = [
        ("file", f"{args.path} ({_size(meta['file_bytes'])})"),
        ("format", f"{meta['format']} version {meta['format_version']}"),
        ("model", meta["class"]),
        ("parameters", params),
        ("trained on", f"{meta.get('n_users', 0):,} users x {meta.get('n_items', 0):,} items, "
                       f"{meta.get('nnz', 0):,} interactions"),
        ("raw ids", ids),
        ("written by", f"turborec {meta.get('turborec_version', '?')}"),
        ("created", meta.get("created", "?")),
        ("arrays", f"{len(arrays)}"),
    ]
    width = max(len(r[0]) for r in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for name, spec in arrays.items():
        shape = " x ".join(f"{s:,}" for s in spec["shape"]) or "scalar"
        dt = np.dtype(spec["dtype"])
        kind = f"str (up to {dt.itemsize // 4} characters)" if dt.kind == "U" else dt.name
        print(f"{'':<{width}}    {name:<24} {shape:>20}  {kind}")
    return 0


# ---- the parser -----------------------------------------------------------------------------------------

def _add_data_args(p, required=True):
    p.add_argument("--data", metavar="FILE", required=required,
                   help="ratings file: CSV/TSV with a header (user,item[,rating][,timestamp]; userId/movieId, "
                        "user_id/item_id ... are recognised), MovieLens ratings.csv/ratings.dat/u.data or its "
                        "directory, or Parquet")
    p.add_argument("--columns", metavar="U,I[,R[,T]]",
                   help="the user, item, rating and timestamp columns (names or 0-based positions) when the "
                        "header does not say")
    p.add_argument("--duplicates", choices=("error", "last", "sum", "mean"), default="error",
                   help="what to do with repeated (user, item) pairs (default: error)")


def _add_model_args(p):
    p.add_argument("--model", required=True, choices=MODEL_NAMES,
                   help="mf: MatrixFactorization (use --param loss=bpr for implicit data), itemknn, userknn")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                   help="model parameter, repeatable (e.g. --param k=20 --param metric=pearson); values are "
                        "read as int, float, true/false, none or text")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and the model (default 0)")
    p.add_argument("--threads", type=int, default=0, help="threads (0 = all cores, the default)")


def build_parser() -> argparse.ArgumentParser:
    from . import _core

    parser = argparse.ArgumentParser(
        prog="turborec", description="Fast classic recommenders: train, evaluate, query and compare models.",
        epilog="Run 'turborec COMMAND --help' for a command's options. Exit status: 0 ok, 2 usage or input error, "
               "1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"turborec {_core.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="train and compare every model on generated (or your) ratings",
                          description="Generate a realistic ratings data set (or load --data), split it 80/20 per "
                                      "user, train popularity, matrix factorisation, ItemKNN and UserKNN, and print "
                                      "their accuracy, timings and sample recommendations with explanations.")
    _add_data_args(demo, required=False)
    demo.add_argument("--users", type=int, default=DEMO_SIZE[0], help=f"generated users (default {DEMO_SIZE[0]:,})")
    demo.add_argument("--items", type=int, default=DEMO_SIZE[1], help=f"generated items (default {DEMO_SIZE[1]:,})")
    demo.add_argument("--ratings", type=int, default=DEMO_SIZE[2],
                      help=f"generated ratings (default {DEMO_SIZE[2]:,})")
    demo.add_argument("--seed", type=int, default=0, help="seed for data, split and models (default 0)")
    demo.add_argument("--threads", type=int, default=0, help="threads (0 = all cores, the default)")
    demo.set_defaults(func=run_demo)

    train = sub.add_parser("train", help="train a model on a ratings file and save it",
                           description="Train a model on a ratings file and save it to one .npz file. With "
                                       "--split, train on the training part and report held-out metrics first.")
    _add_data_args(train)
    _add_model_args(train)
    train.add_argument("--out", "-o", required=True, metavar="MODEL.npz", help="where to save the model")
    train.add_argument("--split", choices=("none", "random", "per-user"), default="none",
                       help="hold out test data and report metrics (default: none, train on everything)")
    train.add_argument("--test-fraction", type=float, default=0.2, help="share held out by --split (default 0.2)")
    train.add_argument("-k", type=int, default=10, help="list length for the ranking metrics (default 10)")
    train.set_defaults(func=run_train)

    rec = sub.add_parser("recommend", help="top-k items for a user of a saved model")
    rec.add_argument("--model", required=True, metavar="MODEL.npz")
    rec.add_argument("--user", required=True, metavar="RAW_ID", help="the user's id as in the training data")
    rec.add_argument("-k", type=int, default=10, help="how many items (default 10)")
    rec.add_argument("--include-seen", action="store_true", help="also rank the items the user has in training")
    rec.set_defaults(func=run_recommend)

    sim = sub.add_parser("similar", help="the most similar items (or users) of a saved model")
    sim.add_argument("--model", required=True, metavar="MODEL.npz")
    which = sim.add_mutually_exclusive_group(required=True)
    which.add_argument("--item", metavar="RAW_ID", help="items similar to this item")
    which.add_argument("--user", metavar="RAW_ID", help="users similar to this user")
    sim.add_argument("-k", type=int, default=10, help="how many (default 10)")
    sim.set_defaults(func=run_similar)

    ev = sub.add_parser("evaluate", help="split a ratings file, train a model and print its metrics",
                        description="Hold out test data (or run k-fold cross-validation), train the model and "
                                    "print RMSE/MAE (rating models) and precision, recall, NDCG, MAP at k and "
                                    "catalogue coverage.")
    _add_data_args(ev)
    _add_model_args(ev)
    ev.add_argument("--split", choices=SPLITS, default="per-user", help="how to hold out test data (default per-user)")
    ev.add_argument("--test-fraction", type=float, default=0.2, help="share held out (default 0.2)")
    ev.add_argument("--folds", type=int, default=5, help="folds for --split kfold (default 5)")
    ev.add_argument("-k", type=int, default=10, help="list length for the ranking metrics (default 10)")
    ev.set_defaults(func=run_evaluate)

    info = sub.add_parser("info", help="describe a saved model file")
    info.add_argument("path", metavar="MODEL.npz")
    info.set_defaults(func=run_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with status 2
    try:
        return args.func(args)
    except UsageError as err:
        print(f"turborec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("turborec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception:
        traceback.print_exc()
        print("turborec: unexpected error (a bug); please report it with the traceback above", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
