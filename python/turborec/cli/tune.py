"""``turborec tune``: cross-validated parameter search from the command line.

    turborec tune --data ratings.csv --model mf --grid reg=0.02,0.05,0.1 --grid factors=32,64
                  [--param epochs=30] [--search grid|random|halving] [--n-iter 10] [--folds 3]
                  [--metric rmse] [-k 10] [--seed 0] [--threads 0] [--jobs N] [--top 10]

Prints the candidates ranked by the metric (mean and std over the folds) and the best parameters.
Uses only the public API (turborec.model_selection). Exit status 2 for bad input, one line on stderr.
"""

from __future__ import annotations

import sys

import turborec

from ._common import _parse_value as _value
from ._common import UsageError, read_ratings

MODELS = ("mf", "itemknn", "userknn")
SEARCHES = ("grid", "random", "halving")


class _Usage(Exception):
    pass


def _pairs(items, flag: str, many: bool) -> dict:
    out = {}
    for item in items or ():
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            example = "reg=0.02,0.05" if many else "epochs=30"
            raise _Usage(f"{flag} expects NAME={'V1,V2,...' if many else 'VALUE'} (e.g. {flag} {example}), got {item!r}")
        out[name] = [_value(v) for v in values.split(",")] if many else _value(values)
    return out


def add_parser(subparsers):
    p = subparsers.add_parser("tune", help="cross-validated parameter search (grid, random, successive halving)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, metavar="FILE",
                   help="ratings CSV/TSV (user,item[,rating[,timestamp]]), Parquet, or a MovieLens file or directory")
    p.add_argument("--columns", metavar="U,I[,R[,T]]", help="column names or 0-based positions when the guess fails")
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--grid", "-g", action="append", metavar="NAME=V1,V2", help="values to search (repeatable)")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="a fixed parameter (repeatable)")
    p.add_argument("--search", choices=SEARCHES, default="grid", help="grid (default), random or halving (over epochs)")
    p.add_argument("--n-iter", type=int, default=10, help="candidates drawn by --search random (default 10)")
    p.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    p.add_argument("--metric", default=None, help="score to rank by (default rmse with ratings, ndcg without)")
    p.add_argument("-k", type=int, default=10, help="list length for ranking metrics (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds and models (default 0)")
    p.add_argument("--threads", type=int, default=0, help="thread budget for all fits (0 = all cores)")
    p.add_argument("--jobs", type=int, default=None, help="fits side by side (default: see model_selection)")
    p.add_argument("--top", type=int, default=10, help="rows of the ranking to print (default 10)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    try:
        return _run(args)
    except (_Usage, UsageError, ValueError, TypeError, OSError) as err:
        print(f"turborec tune: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from turborec.model_selection import GridSearch, RandomSearch, SuccessiveHalving

    grid = _pairs(args.grid, "--grid", True)
    fixed = _pairs(args.param, "--param", False)
    if not grid:
        raise _Usage("give at least one --grid NAME=V1,V2,...")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise _Usage(f"{both} given both as --grid and --param")
    ratings = read_ratings(args.data, args.columns)
    data, explicit = ratings.data, ratings.explicit
    metric = args.metric or ("rmse" if explicit else "ndcg")
    cls = {"mf": turborec.MatrixFactorization, "itemknn": turborec.ItemKNN, "userknn": turborec.UserKNN}[args.model]
    if args.model == "mf" and not explicit and "loss" not in fixed and "loss" not in grid:
        fixed["loss"] = "bpr"
    base = cls()
    unknown = sorted(set(fixed) - set(base.get_params()))
    if unknown:
        raise _Usage(f"--param: {cls.__name__} has no parameter(s) {unknown}")
    base.set_params(**fixed)
    common = dict(metric=metric, folds=args.folds, k=args.k, seed=args.seed, n_threads=args.threads,
                  n_jobs=args.jobs)
    if args.search == "grid":
        search = GridSearch(base, grid, **common)
    elif args.search == "random":
        search = RandomSearch(base, grid, n_iter=args.n_iter, **common)
    else:
        search = SuccessiveHalving(base, grid, **common)
    print(f"{cls.__name__}: {args.search} search, {data.n_users:,} users x {data.n_items:,} items, "
          f"{data.nnz:,} interactions, {args.folds}-fold, ranked by {metric}", flush=True)
    search.fit(data)
    table = search.results_.sort_values(f"rank_{metric}", kind="stable").head(max(1, args.top))
    names = [c for c in table.columns if c.startswith("param_")]
    head = [n[len("param_"):] for n in names] + (["epochs"] if args.search == "halving" else [])
    head += [f"{metric} mean", "std", "fit s", "rank"]
    rows = []
    for _, r in table.iterrows():
        cells = [str(r[n]) for n in names]
        if args.search == "halving":
            cells.append(str(int(r["n_resources"])))
        cells += [f"{r[f'mean_{metric}']:.5f}", f"{r[f'std_{metric}']:.5f}", f"{r['mean_fit_seconds']:.2f}",
                  str(int(r[f"rank_{metric}"]))]
        rows.append(cells)
    widths = [max(len(h), *(len(c[t]) for c in rows)) for t, h in enumerate(head)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for cells in rows:
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    best = ", ".join(f"{k}={v!r}" for k, v in search.best_params_.items())
    print(f"best: {best}  ({metric} {search.best_score_:.5f})")
    return 0
