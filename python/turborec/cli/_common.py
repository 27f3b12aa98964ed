"""What every subcommand shares: the user-error type and its conversion, printing helpers, model
construction from --param values, splits and evaluation with timings. Parsing and printing only:
the work is done by the public turborec API."""

from __future__ import annotations

import ast
import contextlib
import math
import sys
import time

import numpy as np

import turborec

MODEL_NAMES = ("mf", "itemknn", "userknn", "popularity")
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


def read_ratings(path, columns=None, duplicates="error") -> turborec.data.RatingsFile:
    """turborec.read_ratings with its errors as UsageError (exit status 2)."""
    try:
        return turborec.read_ratings(path, columns, duplicates)
    except (ValueError, TypeError, OSError) as err:
        raise UsageError(_message(err)) from err


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
    cls = {"mf": turborec.MatrixFactorization, "itemknn": turborec.ItemKNN, "userknn": turborec.UserKNN,
           "popularity": turborec.Popularity}[name]
    _threads(threads)
    model = cls()
    defaults = {"n_threads": threads}
    if "seed" in model.get_params():
        defaults["seed"] = seed
    with _user_errors(f"invalid parameter for {cls.__name__}"):
        model.set_params(**{**defaults, **params})
        model._validate_params()
    return model


def _say(text: str) -> None:
    """A progress line on stderr (stdout keeps only the results), shown at once."""
    print(text, file=sys.stderr, flush=True)


def _fit(model, data):
    _say(f"training {type(model).__name__} on {data.nnz:,} interactions ...")
    with _user_errors(f"cannot train {type(model).__name__}"):
        return model.fit(data)


def _metrics_for(model, explicit: bool):
    rating = explicit and not (getattr(model, "loss", "squared") == "bpr")
    return (RATING_METRICS if rating else ()) + RANKING_METRICS


# ---- splits and evaluation ------------------------------------------------------------------------------

def _split(data, how: str, fraction: float, seed):
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


def _evaluate(model, train, test, k, metrics, threads, quiet=False):
    """evaluate() plus wall-clock seconds spent after fitting (predict, recommend and metrics)."""
    if not quiet:
            _say(f"training {type(model).__name__} on {train.nnz:,} interactions, then predicting and ranking "
             f"{test.nnz:,} held-out ones ...")
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


def _require_pandas(command: str) -> None:
    try:
        import pandas
    except ImportError:
        raise UsageError(f"turborec {command} needs pandas (data loading and evaluation): "
                         "pip install 'turborec[data]'") from None
    del pandas


def _threads(n) -> int:
    with _user_errors("invalid argument"):
        return turborec.effective_threads(n, "--threads")
