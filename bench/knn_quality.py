"""Neighbourhood CF quality and speed on MovieLens latest-small, 5-fold, next to scikit-surprise.

Same folds for everyone (turborec.kfold, seed 0); RMSE/MAE over each fold's test ratings; fit +
predict seconds summed over folds. Surprise's cosine/pearson are computed over co-rated items only,
ours over the whole rating vectors (turborec.similarity's definitions), so "same similarity" means
the same name; both libraries use k=40 and min_k=1.

    python bench/knn_quality.py [--data ../shared/datasets/ml-latest-small] [--folds 5] [--quick]
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

import turborec  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
VARIANTS = {"basic": "KNNBasic", "mean": "KNNWithMeans", "baseline": "KNNBaseline"}


def errors(pred, truth):
    d = pred.astype(np.float64) - truth
    return float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d)))


def run_turborec(folds, cls, variant, metric, k):
    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        t = time.perf_counter()
        model = cls(k=k, variant=variant, metric=metric).fit(train.matrix)
        rows = np.repeat(np.arange(test.matrix.shape[0]), np.diff(test.matrix.indptr)).astype(np.int32)
        pred = model.predict(rows, test.matrix.indices)
        seconds += time.perf_counter() - t
        r, m = errors(pred, test.matrix.data)
        rmse.append(r)
        mae.append(m)
    return float(np.mean(rmse)), float(np.mean(mae)), seconds


def run_surprise(folds, name, user_based, metric, k):
    import surprise

    algo_cls = getattr(surprise, name)
    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        tr = train.to_pandas(user="u", item="i", rating="r")[["u", "i", "r"]]
        te = test.to_pandas(user="u", item="i", rating="r")[["u", "i", "r"]]
        reader = surprise.Reader(rating_scale=(0.5, 5.0))
        t = time.perf_counter()
        trainset = surprise.Dataset.load_from_df(tr, reader).build_full_trainset()
        algo = algo_cls(k=k, min_k=1, sim_options={"name": metric, "user_based": user_based}, verbose=False)
        algo.fit(trainset)
        preds = algo.test(list(te.itertuples(index=False, name=None)))
        seconds += time.perf_counter() - t
        pred = np.array([p.est for p in preds])
        r, m = errors(pred, te["r"].to_numpy())
        rmse.append(r)
        mae.append(m)
    return float(np.mean(rmse)), float(np.mean(mae)), seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="one similarity (cosine), fewer variants")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not (args.data / "ratings.csv").is_file():
        print(f"MovieLens latest-small not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    data = turborec.load_movielens(args.data)
    folds = list(turborec.kfold(data, args.folds, seed=0))
    metrics = ["cosine"] if args.quick else ["cosine", "pearson"]
    rows = []
    print(f"{data.nnz:,} ratings, {args.folds}-fold, k={args.k}, threads={turborec.config()['default_threads']}")
    print(f"{'model':<40} {'RMSE':>7} {'MAE':>7} {'seconds':>8}")
    for user_based, cls in ((True, turborec.UserKNN), (False, turborec.ItemKNN)):
        for variant, sname in VARIANTS.items():
            for metric in metrics:
                label = f"{cls.__name__}({variant}, {metric})"
                r, m, s = run_turborec(folds, cls, variant, metric, args.k)
                rows.append({"library": "turborec", "model": label, "rmse": r, "mae": m, "seconds": s})
                print(f"{label:<40} {r:7.4f} {m:7.4f} {s:8.2f}", flush=True)
                if has("surprise"):
                    slabel = f"surprise {sname}({'user' if user_based else 'item'}, {metric})"
                    r2, m2, s2 = run_surprise(folds, sname, user_based, metric, args.k)
                    rows.append({"library": "surprise", "model": slabel, "rmse": r2, "mae": m2, "seconds": s2})
                    print(f"{slabel:<40} {r2:7.4f} {m2:7.4f} {s2:8.2f}   speed-up x{s2 / s:.0f}", flush=True)
    if not has("surprise"):
        print("scikit-surprise not installed: peers skipped (pip install '.[bench]')")
    print(versions("turborec", "surprise", "numpy"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
