"""MatrixFactorization quality on MovieLens latest-small, 5-fold, next to scikit-surprise's SVD
(and SVD++ with --svdpp: slow). Same folds for everyone (turborec.kfold, seed 0); the same factors
and epochs for ours and Surprise's SVD; ours at its defaults, then a tuned setting.

    python bench/mf_quality.py [--data DIR] [--folds 5] [--svdpp] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import has, versions  # noqa: E402
from knn_quality import DEFAULT_DATA, errors  # noqa: E402

import turborec  # noqa: E402

TUNED = dict(factors=128, epochs=40, reg=0.08, init_std=0.01)


def run_turborec(folds, **params):
    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        t = time.perf_counter()
        model = turborec.MatrixFactorization(seed=0, **params).fit(train.matrix)
        rows = np.repeat(np.arange(test.n_users), np.diff(test.matrix.indptr)).astype(np.int32)
        pred = model.predict(rows, test.matrix.indices)
        seconds += time.perf_counter() - t
        r, m = errors(pred, test.matrix.data)
        rmse.append(r)
        mae.append(m)
    return float(np.mean(rmse)), float(np.mean(mae)), seconds


def run_surprise(folds, algo_name, **params):
    import surprise

    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        tr = train.to_pandas(user="u", item="i", rating="r")[["u", "i", "r"]]
        te = test.to_pandas(user="u", item="i", rating="r")[["u", "i", "r"]]
        t = time.perf_counter()
        trainset = surprise.Dataset.load_from_df(tr, surprise.Reader(rating_scale=(0.5, 5.0))).build_full_trainset()
        algo = getattr(surprise, algo_name)(random_state=0, **params)
        algo.fit(trainset)
        pred = np.array([p.est for p in algo.test(list(te.itertuples(index=False, name=None)))])
        seconds += time.perf_counter() - t
        r, m = errors(pred, te["r"].to_numpy())
        rmse.append(r)
        mae.append(m)
    return float(np.mean(rmse)), float(np.mean(mae)), seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--svdpp", action="store_true", help="also run Surprise's SVD++ (minutes)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not (args.data / "ratings.csv").is_file():
        print(f"MovieLens latest-small not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    data = turborec.load_movielens(args.data)
    folds = list(turborec.kfold(data, args.folds, seed=0))
    defaults = turborec.MatrixFactorization()
    rows = []

    def report(library, label, result):
        r, m, s = result
        rows.append({"library": library, "model": label, "rmse": r, "mae": m, "seconds": s})
        print(f"{label:<58} {r:7.4f} {m:7.4f} {s:8.2f}", flush=True)

    print(f"{data.nnz:,} ratings, {args.folds}-fold, threads={turborec.config()['default_threads']}")
    print(f"{'model':<58} {'RMSE':>7} {'MAE':>7} {'seconds':>8}")
    report("turborec", f"MatrixFactorization() defaults ({defaults.factors} factors, {defaults.epochs} epochs)",
           run_turborec(folds))
    report("turborec", f"MatrixFactorization(**{TUNED})", run_turborec(folds, **TUNED))
    if has("surprise"):
        report("surprise", f"surprise SVD(n_factors={defaults.factors}, n_epochs={defaults.epochs})",
               run_surprise(folds, "SVD", n_factors=defaults.factors, n_epochs=defaults.epochs))
        report("surprise", "surprise SVD() defaults (100 factors, 20 epochs)", run_surprise(folds, "SVD"))
        if args.svdpp:
            report("surprise", "surprise SVDpp() defaults", run_surprise(folds, "SVDpp"))
    else:
        print("scikit-surprise not installed: peers skipped (pip install '.[bench]')")
    print(versions("turborec", "surprise", "numpy"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
