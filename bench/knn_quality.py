"""Neighbourhood CF quality and speed on MovieLens latest-small, k-fold, next to scikit-surprise;
and top-10 ranking quality (item-item cosine, BPR) next to implicit.

Rating prediction: same folds for everyone (turborec.kfold, seed 0); RMSE/MAE over each fold's test
ratings; fit + predict seconds summed over folds. Surprise's cosine/pearson are computed over
co-rated items only, ours over the whole rating vectors (turborec.similarity's definitions), so
"same similarity" means the same name; both libraries use k=40 and min_k=1.

Ranking (``run_ranking``): ratings >= 4 as positives, 20% of each user's held out (seed 0); top-10
lists excluding training items; NDCG@10 / recall@10 over users with held-out items. Item-item
cosine (50 neighbours) against a scipy baseline of the same scores and implicit's
CosineRecommender; BPR against implicit's BayesianPersonalizedRanking.

    python bench/knn_quality.py [--data DIR] [--folds 5] [--quick] [--ranking]

DIR defaults to $TURBOREC_DATASETS/ml-latest-small or ../shared/datasets/ml-latest-small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, find_dataset, has, markdown_table, versions  # noqa: E402

import turborec  # noqa: E402

DEFAULT_DATA = find_dataset("ml-latest-small") or Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
VARIANTS = {"basic": "KNNBasic", "mean": "KNNWithMeans", "baseline": "KNNBaseline"}


def errors(pred, truth):
    d = pred.astype(np.float64) - truth
    return float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d)))


def run_turborec(folds, cls, variant, metric, k, threads=0):
    rmse, mae, seconds = [], [], 0.0
    for train, test in folds:
        t = time.perf_counter()
        model = cls(k=k, variant=variant, metric=metric, n_threads=threads).fit(train.matrix)
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


def load_folds(data_dir: Path | None, n_folds: int, max_folds: int | None):
    """(data, folds, description) or None when the dataset is missing."""
    data_dir = data_dir or DEFAULT_DATA
    if not (Path(data_dir) / "ratings.csv").is_file():
        print(f"  MovieLens latest-small not found at {data_dir}: skipped (pass --data or set TURBOREC_DATASETS)")
        return None
    data = turborec.load_movielens(data_dir)
    folds = list(turborec.kfold(data, n_folds, seed=0))
    used = folds[: max_folds or n_folds]
    desc = f"{n_folds}-fold" if len(used) == n_folds else f"fold 1 of {n_folds}" if len(used) == 1 else \
        f"{len(used)} of {n_folds} folds"
    return data, used, desc


def run(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0, *, data: Path | None = None,
        folds: int = 5, max_folds: int | None = None, metrics=None, variants=None, k: int = 40) -> list[Row]:
    """UserKNN / ItemKNN rating prediction on ml-latest-small next to Surprise's KNN family.

    quick: the first fold only, cosine only, the basic and baseline variants. `scale` is ignored
    (the dataset has one size). turborec's times are the median of `repeats` passes over the folds;
    Surprise's (single-threaded) one pass.
    """
    threads = turborec.effective_threads(threads)
    metrics = metrics or (["cosine"] if quick else ["cosine", "pearson"])
    variants = variants or (["basic", "baseline"] if quick else list(VARIANTS))
    max_folds = max_folds or (1 if quick else None)
    loaded = load_folds(data, folds, max_folds)
    if loaded is None:
        return []
    ml, used, desc = loaded
    rows: list[Row] = []
    if not has("surprise"):
        print("  scikit-surprise not installed: peers skipped (pip install '.[bench]')")
    for user_based, cls in ((True, turborec.UserKNN), (False, turborec.ItemKNN)):
        for metric in metrics:
            task = f"{cls.__name__} rating prediction, ml-latest-small {desc}, {metric}, k={k}"
            print(f"{task}: {ml.nnz:,} ratings, {threads} threads", flush=True)
            for variant in variants:
                runs = [run_turborec(used, cls, variant, metric, k, threads) for _ in range(max(1, repeats))]
                r, m, _ = runs[-1]
                s = float(np.median([x[2] for x in runs]))
                rows.append(Row(task, f"turborec {cls.__name__}({variant})", s, threads=threads, runs=len(runs),
                                quality={"rmse": r, "mae": m}, note="fit + predict"))
                print(f"  {rows[-1].name:<40} {r:7.4f} {m:7.4f} {s:8.2f} s", flush=True)
                if has("surprise"):
                    sname = VARIANTS[variant]
                    rows[-1].counterpart = f"scikit-surprise {sname}"
                    r2, m2, s2 = run_surprise(used, sname, user_based, metric, k)
                    rows.append(Row(task, f"scikit-surprise {sname}", s2, threads=1, runs=1,
                                    quality={"rmse": r2, "mae": m2}, note="fit + predict, single-threaded; "
                                    "similarity over co-rated items only"))
                    print(f"  {rows[-1].name:<40} {r2:7.4f} {m2:7.4f} {s2:8.2f} s   speed-up x{s2 / s:.0f}", flush=True)
    return rows


# ---- ranking -----------------------------------------------------------------------------------

def ndcg_recall(ids, test: sp.csr_matrix, users) -> dict:
    q = turborec.metrics.ranking_metrics(np.asarray(ids), test[users], k=10)
    return {"ndcg@10": q["ndcg"], "recall@10": q["recall"]}


def run_ranking(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0, *,
                data: Path | None = None, neighbours: int = 50, factors: int = 64, epochs: int = 50) -> list[Row]:
    """Top-10 recommendation quality on ml-latest-small (ratings >= 4 as positives, per-user 80/20)."""
    from threadpoolctl import threadpool_limits

    from _harness import timed
    from similarity_speed import normalised, padded, scipy_graph, scipy_recommend, set_agreement

    threads = turborec.effective_threads(threads)
    data_dir = data or DEFAULT_DATA
    if not (Path(data_dir) / "ratings.csv").is_file():
        print(f"  MovieLens latest-small not found at {data_dir}: skipped (pass --data or set TURBOREC_DATASETS)")
        return []
    ml = turborec.load_movielens(data_dir)
    R = ml.matrix.copy()
    R.data = (R.data >= 4.0).astype(np.float32)
    R.eliminate_zeros()
    train, test = turborec.per_user_split(R, 0.2, seed=0)
    train, test = sp.csr_matrix(train, dtype=np.float32), sp.csr_matrix(test, dtype=np.float32)
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
    rows: list[Row] = []
    k = neighbours

    task = f"item-item cosine top-10, ml-latest-small (ratings >= 4, {train.nnz:,} train), {k} neighbours"
    print(f"{task}: {users.size} test users, {threads} threads", flush=True)

    def add(task, name, t, ids, peak, quality=None, note="", th=threads):
        row = Row(task, name, t.seconds, threads=th, runs=t.runs, peak_bytes=peak, note=note,
                  quality={**ndcg_recall(ids, test, users), **(quality or {})})
        rows.append(row)
        print(f"  {name:<44} {t.seconds:8.3f} s  NDCG@10 {row.quality['ndcg@10']:.4f}", flush=True)

    with threadpool_limits(threads):
        def ours():
            model = turborec.ItemKNN(k=k, max_neighbours=k, n_threads=threads).fit(train)
            return model, model.recommend(users, 10)[0]

        with PeakMemory() as mem:
            t = timed(ours, repeats=repeats)
        model, our_ids = t.result
        items = np.arange(train.shape[1])
        our_nb = turborec.similarity.neighbours(model.similarity_, items, k=k)[0]
        add(task, "turborec ItemKNN fit + recommend", t, our_ids, mem.peak)

        def baseline():
            S = scipy_graph(train.T.tocsr(), k)
            return S, scipy_recommend(train, S, users, 10)

        with PeakMemory() as mem:
            t = timed(baseline, repeats=repeats)
        G, ref_ids = t.result
        ref_nb, ref_scores = padded(G, k)
        Xn = normalised(train.T.tocsr()).tocsr()

        def agree(nb):  # neighbour-set agreement with scipy, ties counted (see similarity_speed.set_agreement)
            return set_agreement(nb, items, ref_scores, Xn, Xn)

        rows[-1].quality["neighbours_agree_scipy"] = agree(our_nb)
        add(task, "scipy cosine + R @ S", t, ref_ids, mem.peak, {"neighbours_agree_scipy": agree(ref_nb)},
            "normalise, blocked X X^T + top-k, then R @ S; single-threaded", th=1)
        if has("implicit"):
            from implicit.nearest_neighbours import CosineRecommender

            def theirs():
                peer = CosineRecommender(K=k + 1, num_threads=threads)  # +1: implicit keeps each item itself
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    peer.fit(train, show_progress=False)
                ids, _ = peer.recommend(users, train[users], N=10, filter_already_liked_items=True)
                return peer, ids

            with PeakMemory() as mem:
                t = timed(theirs, repeats=repeats)
            peer, ids = t.result
            S = peer.similarity.tocsr()
            S.setdiag(0)
            S.eliminate_zeros()
            their_nb = turborec.similarity.neighbours(S, items, k=k)[0]
            add(task, "implicit CosineRecommender fit + recommend", t, ids, mem.peak,
                {"neighbours_agree_scipy": agree(their_nb)})
        else:
            print("  implicit not installed: skipped")

    task = f"BPR top-10, ml-latest-small (ratings >= 4), {factors} factors x {epochs} epochs"
    print(f"{task}, {threads} threads", flush=True)

    def bpr_ours():
        model = turborec.MatrixFactorization(factors=factors, epochs=epochs, loss="bpr", seed=0, n_threads=threads)
        model.fit(train)
        return model.recommend(users, 10)[0]

    with PeakMemory() as mem:
        t = timed(bpr_ours, repeats=repeats)
    add(task, "turborec MF(loss='bpr') fit + recommend", t, t.result, mem.peak)
    if has("implicit"):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        def bpr_theirs():
            peer = BayesianPersonalizedRanking(factors=factors, iterations=epochs, num_threads=threads, random_state=0)
            peer.fit(train, show_progress=False)
            return peer.recommend(users, train[users], N=10, filter_already_liked_items=True)[0]

        with PeakMemory() as mem:
            t = timed(bpr_theirs, repeats=repeats)
        add(task, "implicit BayesianPersonalizedRanking fit + recommend", t, t.result, mem.peak,
            note="its defaults otherwise (lr 0.01, reg 0.01)")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one similarity (cosine)")
    ap.add_argument("--ranking", action="store_true", help="also the top-10 ranking comparison with implicit")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not (args.data / "ratings.csv").is_file():
        print(f"MovieLens latest-small not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    rows = run(False, args.threads, 1, data=args.data, folds=args.folds, k=args.k,
               metrics=["cosine"] if args.quick else None)
    if args.ranking:
        rows += run_ranking(args.quick, args.threads, data=args.data)
    for task in dict.fromkeys(r.task for r in rows):
        print(f"\n{task}\n")
        print(markdown_table([r for r in rows if r.task == task]))
    print(versions("turborec", "surprise", "implicit", "numpy"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
