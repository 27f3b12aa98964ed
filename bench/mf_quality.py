"""MatrixFactorization quality on MovieLens latest-small, 5-fold, next to scikit-surprise's SVD
(and SVD++ with --svdpp: slow). Same folds for everyone (turborec.kfold, seed 0); the same factors
and epochs for ours and Surprise's SVD; ours at its defaults, then a tuned setting.

    python bench/mf_quality.py [--data DIR] [--folds 5] [--svdpp] [--json out.json]

DIR defaults to $TURBOREC_DATASETS/ml-latest-small or ../shared/datasets/ml-latest-small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Row, has, markdown_table, versions  # noqa: E402
from knn_quality import DEFAULT_DATA, errors, load_folds  # noqa: E402

import turborec  # noqa: E402

TUNED = dict(factors=128, epochs=40, reg=0.08, init_std=0.01, reg_exponent=0.0)


def run_turborec(folds, threads=0, **params):
    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        t = time.perf_counter()
        model = turborec.MatrixFactorization(seed=0, n_threads=threads, **params).fit(train.matrix)
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


def run(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0, *, data: Path | None = None,
        folds: int = 5, max_folds: int | None = None, svdpp: bool = False) -> list[Row]:
    """MatrixFactorization (defaults, tuned) next to Surprise's SVD on ml-latest-small.

    quick: the first fold only. `scale` is ignored. turborec's times are the median of `repeats`
    passes over the folds; Surprise's (single-threaded) one pass.
    """
    threads = turborec.effective_threads(threads)
    loaded = load_folds(data, folds, max_folds or (1 if quick else None))
    if loaded is None:
        return []
    ml, used, desc = loaded
    defaults = turborec.MatrixFactorization()
    task = f"MF rating prediction, ml-latest-small {desc}"
    print(f"{task}: {ml.nnz:,} ratings, {threads} threads", flush=True)
    rows: list[Row] = []

    def ours(label, **params):
        runs = [run_turborec(used, threads, **params) for _ in range(max(1, repeats))]
        r, m, _ = runs[-1]
        s = float(np.median([x[2] for x in runs]))
        rows.append(Row(task, label, s, threads=threads, runs=len(runs), quality={"rmse": r, "mae": m},
                        note="fit + predict"))
        print(f"  {label:<58} {r:7.4f} {m:7.4f} {s:8.2f}", flush=True)

    def theirs(label, algo, **params):
        r, m, s = run_surprise(used, algo, **params)
        rows.append(Row(task, label, s, threads=1, runs=1, quality={"rmse": r, "mae": m},
                        note="fit + predict, single-threaded"))
        print(f"  {label:<58} {r:7.4f} {m:7.4f} {s:8.2f}", flush=True)

    ours(f"turborec MatrixFactorization() defaults ({defaults.factors} factors, {defaults.epochs} epochs)")
    rows[-1].counterpart = f"scikit-surprise SVD(n_factors={defaults.factors}, n_epochs={defaults.epochs})"
    ours(f"turborec MatrixFactorization({', '.join(f'{k}={v}' for k, v in TUNED.items())})", **TUNED)
    if has("surprise"):
        theirs(f"scikit-surprise SVD(n_factors={defaults.factors}, n_epochs={defaults.epochs})", "SVD",
               n_factors=defaults.factors, n_epochs=defaults.epochs)
        theirs("scikit-surprise SVD() defaults (100 factors, 20 epochs)", "SVD")
        if svdpp:
            theirs("scikit-surprise SVDpp() defaults", "SVDpp")
    else:
        print("  scikit-surprise not installed: peers skipped (pip install '.[bench]')")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--svdpp", action="store_true", help="also run Surprise's SVD++ (minutes)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not (args.data / "ratings.csv").is_file():
        print(f"MovieLens latest-small not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    rows = run(False, args.threads, 1, data=args.data, folds=args.folds, svdpp=args.svdpp)
    print(markdown_table(rows))
    print(versions("turborec", "surprise", "numpy"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
