"""MatrixFactorization at its defaults against LIBMF and Surprise SVD on many data sets (issue 12).

Rows: data sets -- MovieLens latest-small, a MovieLens-100K-shaped set (943 x 1,682, 100,000
ratings, >= 20 per user, generated), and generated sets of 1M and 10M ratings at two noise levels
(0.5 and 1.0 stars) and two popularity skews (power-law exponents 0.4/0.5 and 0.9/1.1 for
users/items). Columns: test RMSE of turborec's defaults, turborec tuned by its own
cross-validated search (turborec.model_selection on the training part only), LIBMF (python
``libmf``, its command line's defaults: l2 0.1, eta 0.1, no L1) and Surprise SVD (its defaults).
Everyone gets the same split (random 90/10, seed 0), the same factors and epochs (--factors,
--epochs; default 32 x 20), in the same process.

    python bench/mf_defaults_quality.py [--sizes 1M,10M] [--factors 32] [--epochs 20] [--no-tuned]
                                         [--out bench/results/mf_defaults_quality.md] [--quick]

LIBMF: CFLAGS="-O3 -DUSEAVX -mavx -mfma -DUSEOMP -fopenmp" LDFLAGS=-fopenmp pip install --no-binary libmf libmf
(skipped with a note when not installed). Surprise (pip install scikit-surprise) is single-threaded:
on the 10M sets it is trained on a 1M-rating sample of the training part (stated in the table).
BPR (--bpr): NDCG@10 of loss="bpr" at its defaults against implicit's BayesianPersonalizedRanking on
the implicit version of each set (ratings >= 4 as clicks, same split).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import find_dataset, has, versions  # noqa: E402

import turborec  # noqa: E402
from turborec.model_selection import GridSearch  # noqa: E402

SURPRISE_MAX = 1_000_000  # training ratings Surprise is given (single-threaded, ~0.25 us per update)
TUNE_GRID = {"reg": [0.7, 1.0, 1.4, 2.0], "lr": [0.03, 0.05]}  # around the defaults' rule (reg_exponent 0.5)
SKEWS = {"flat": (0.4, 0.5), "skewed": (0.9, 1.1)}  # (user, item) power-law exponents
NOISES = (0.5, 1.0)
SIZES = {"1M": (50_000, 10_000, 1_000_000), "10M": (200_000, 50_000, 10_000_000)}


def ml100k_shaped(seed=0, n_users=943, n_items=1682, n=100_000, rank=16, noise=0.8):
    """943 x 1,682, 100,000 distinct whole-star ratings, every user >= 20 (as MovieLens 100K):
    user activity 20 + a power-law extra, item popularity power-law, a low-rank preference plus
    user and item biases plus Gaussian noise, rounded to 1..5."""
    rng = np.random.default_rng(seed)
    weight = rng.permutation(np.arange(1, n_users + 1) ** -0.8)
    counts = np.full(n_users, 20)
    cap = 740  # ML-100K's most active user has 737 ratings
    while counts.sum() < n:  # top up by activity weight, never past the cap
        room = counts < cap
        p = np.where(room, weight, 0.0)
        extra = rng.choice(n_users, size=n - counts.sum(), p=p / p.sum())
        counts = np.minimum(counts + np.bincount(extra, minlength=n_users), cap)
    pop = rng.permutation((np.arange(1, n_items + 1) + 10.0) ** -1.0)
    users, items = [], []
    for u, c in enumerate(counts):  # distinct items per user, drawn by popularity
        items.append(rng.choice(n_items, size=c, replace=False, p=pop / pop.sum()))
        users.append(np.full(c, u))
    users, items = np.concatenate(users), np.concatenate(items)
    P = rng.normal(0, (0.6 / np.sqrt(rank)) ** 0.5, (n_users, rank))
    Q = rng.normal(0, (0.6 / np.sqrt(rank)) ** 0.5, (n_items, rank))
    bu, bi = rng.normal(0, 0.35, n_users), rng.normal(0, 0.45, n_items)
    r = 3.55 + bu[users] + bi[items] + np.einsum("nd,nd->n", P[users], Q[items]) + rng.normal(0, noise, users.size)
    values = np.clip(np.round(r), 1, 5).astype(np.float32)
    R = sp.csr_matrix((values, (users, items)), shape=(n_users, n_items))
    return R


def datasets(sizes, quick=False):
    """(name, csr) pairs; generated sets are built on demand."""
    ml = find_dataset("ml-latest-small")
    if ml is not None:
        yield "ml-latest-small (610 x 9,724, 100,836)", lambda: turborec.load_movielens(ml).matrix
    else:
        print("ml-latest-small not found (set TURBOREC_DATASETS): its row is skipped", flush=True)
    yield "MovieLens-100K-shaped (943 x 1,682, 100,000, generated)", lambda: ml100k_shaped(0)
    for size in sizes:
        n_users, n_items, n = SIZES[size]
        if quick:
            n_users, n_items, n = n_users // 10, n_items // 10, n // 10
        for noise in NOISES:
            for skew, (ue, ie) in SKEWS.items():
                name = f"generated {n / 1e6:g}M, noise {noise}, {skew} ({n_users:,} x {n_items:,})"
                yield name, (lambda n_users=n_users, n_items=n_items, n=n, noise=noise, ue=ue, ie=ie:
                             turborec.synthetic(n_users, n_items, n, noise=noise, user_exponent=ue, item_exponent=ie,
                                                seed=1).matrix)


def split(R, seed=0):
    train, test = turborec.random_split(R, 0.1, seed=seed)
    return train, test


def rmse(pred, truth) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


def pairs(M):
    return np.repeat(np.arange(M.shape[0], dtype=np.int32), np.diff(M.indptr)), M.indices


def run_turborec(train, test, threads, **params):
    start = time.perf_counter()
    model = turborec.MatrixFactorization(seed=0, n_threads=threads, **params).fit(train)
    seconds = time.perf_counter() - start
    return rmse(model.predict(*pairs(test)), test.data), seconds


def run_tuned(train, test, threads, factors, epochs):
    """The grid search on the training part only (3-fold), best refitted, scored on test."""
    start = time.perf_counter()
    search = GridSearch(turborec.MatrixFactorization(factors=factors, epochs=epochs, seed=0), TUNE_GRID, folds=3,
                        seed=0, n_threads=threads).fit(train)
    seconds = time.perf_counter() - start
    return rmse(search.best_model_.predict(*pairs(test)), test.data), seconds, search.best_params_


def run_libmf(train, test, threads, factors, epochs):
    from libmf import mf

    coo = train.tocoo()
    X = np.column_stack([coo.row, coo.col, coo.data]).astype(np.float64)
    engine = mf.MF(k=factors, nr_threads=threads, nr_iters=epochs, lambda_p1=0.0, lambda_q1=0.0, lambda_p2=0.1,
                   lambda_q2=0.1, eta=0.1, quiet=True)
    start = time.perf_counter()
    engine.fit(X)
    seconds = time.perf_counter() - start
    users, items = pairs(test)
    # the package's predict reads its (n, 2) argument column-major (X[t], X[t + n]): pass Fortran order
    pred = np.asarray(engine.predict(np.asfortranarray(np.column_stack([users, items]), np.float32)), np.float64)
    # LIBMF gives users/items without training ratings NaN factors; predict the mean there (as we do: mu)
    pred = np.where(np.isfinite(pred), pred, float(train.data.mean()))
    return rmse(pred, test.data), seconds


def run_surprise(train, test, factors, epochs):
    import pandas as pd
    import surprise

    coo = train.tocoo()
    note = ""
    keep = np.arange(coo.nnz)
    if coo.nnz > SURPRISE_MAX:
        keep = np.sort(np.random.default_rng(0).choice(coo.nnz, SURPRISE_MAX, replace=False))
        note = f"trained on a {SURPRISE_MAX / 1e6:g}M sample"
    df = pd.DataFrame({"u": coo.row[keep], "i": coo.col[keep], "r": coo.data[keep]})
    low, high = float(train.data.min()), float(train.data.max())
    start = time.perf_counter()
    trainset = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(low, high))).build_full_trainset()
    algo = surprise.SVD(n_factors=factors, n_epochs=epochs, random_state=0)
    algo.fit(trainset)
    users, items = pairs(test)
    pred = np.array([algo.predict(int(u), int(i), clip=True).est for u, i in zip(users, items)])
    return rmse(pred, test.data), time.perf_counter() - start, note


def run_bpr(train, test, threads, factors, epochs):
    """NDCG@10 of turborec BPR and implicit BPR on clicks = ratings >= 4 (same split)."""
    def clicks(M):
        M = M.copy()
        M.data = (M.data >= 4).astype(np.float32)
        M.eliminate_zeros()
        return M

    tr, te = clicks(train), clicks(test)
    users = np.flatnonzero(np.diff(te.indptr)).astype(np.int32)
    ours = turborec.MatrixFactorization(factors=factors, epochs=epochs, loss="bpr", seed=0, n_threads=threads).fit(tr)
    ids, _ = ours.recommend(users, 10)
    out = {"turborec": turborec.metrics.ranking_metrics(ids, te[users], k=10)["ndcg"]}
    if has("implicit"):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        peer = BayesianPersonalizedRanking(factors=factors, iterations=epochs, num_threads=threads, random_state=0)
        peer.fit(tr, show_progress=False)
        ids, _ = peer.recommend(users, tr[users], N=10, filter_already_liked_items=True)
        out["implicit"] = turborec.metrics.ranking_metrics(ids.astype(np.int32), te[users], k=10)["ndcg"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M", help="generated sizes to run: 1M, 10M (comma-separated)")
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-tuned", action="store_true", help="skip the tuned column (the slowest)")
    ap.add_argument("--tuned-max", type=float, default=2e6, help="tune only sets with at most this many ratings")
    ap.add_argument("--bpr", action="store_true", help="also BPR vs implicit (NDCG@10)")
    ap.add_argument("--bpr-max", type=float, default=2e6, help="BPR only on sets with at most this many ratings")
    ap.add_argument("--quick", action="store_true", help="generated sets at 1/10 size")
    ap.add_argument("--only", default="", help="run only the data sets whose name contains this")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = ap.parse_args(argv)
    threads = turborec.effective_threads(args.threads)
    sizes = [s for s in args.sizes.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            ap.error(f"--sizes: unknown {s!r}; choose from {list(SIZES)}")
    f, e = args.factors, args.epochs
    head = ["data set", "turborec defaults", "turborec tuned", "LIBMF", "Surprise SVD", "best peer - defaults"]
    if args.bpr:
        head += ["BPR NDCG@10 turborec", "implicit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = [f"Surprise on sets above {SURPRISE_MAX / 1e6:g}M training ratings: trained on a random sample of "
             f"that size (it is single-threaded; the full 9M x 20 epochs would take ~15 min per set).",
             f"`turborec tuned` runs on sets up to {args.tuned_max / 1e6:g}M ratings (24 fits each); "
             f"BPR up to {args.bpr_max / 1e6:g}M; `-` elsewhere.",
             "BPR: clicks = ratings >= 4, same split; NDCG@10 over test users, train items excluded; "
             "implicit's BayesianPersonalizedRanking at its defaults with the same factors/iterations/threads.",
             "LIBMF is multi-threaded without a fixed schedule: its RMSE varies by ~0.002 between runs."]
    write = _writer(args, argv, threads, f, e)
    start_all = time.perf_counter()
    for name, load in datasets(sizes, args.quick):
        if args.only and args.only not in name:
            continue
        R = load()
        train, test = split(R)
        print(f"{name}: {train.nnz:,} train / {test.nnz:,} test", flush=True)
        ours, s_ours = run_turborec(train, test, threads, factors=f, epochs=e)
        print(f"  turborec defaults {ours:.4f} ({s_ours:.1f} s)", flush=True)
        cells = [name, f"**{ours:.4f}**"]
        if args.no_tuned or train.nnz > args.tuned_max:
            cells.append("-")
        else:
            tuned, s_tuned, best = run_tuned(train, test, threads, f, e)
            print(f"  turborec tuned {tuned:.4f} {best} ({s_tuned:.1f} s)", flush=True)
            cells.append(f"{tuned:.4f} ({', '.join(f'{k} {v}' for k, v in best.items())})")
        peers = []
        if has("libmf"):
            lib, s_lib = run_libmf(train, test, threads, f, e)
            print(f"  LIBMF {lib:.4f} ({s_lib:.1f} s)", flush=True)
            cells.append(f"{lib:.4f}")
            peers.append(lib)
        else:
            cells.append("not installed")
        if has("surprise"):
            sur, s_sur, note = run_surprise(train, test, f, e)
            print(f"  Surprise SVD {sur:.4f} ({s_sur:.1f} s) {note}", flush=True)
            cells.append(f"{sur:.4f}" + (f" ({note})" if note else ""))
            peers.append(sur)
        else:
            cells.append("not installed")
        cells.append(f"{min(peers) - ours:+.4f}" if peers else "-")
        if args.bpr and train.nnz > args.bpr_max:
            cells += ["-", "-"]
        elif args.bpr:
            b = run_bpr(train, test, threads, f, e)
            cells += [f"{b['turborec']:.4f}", f"{b['implicit']:.4f}" if "implicit" in b else "not installed"]
            print(f"  BPR NDCG@10 {b}", flush=True)
        lines.append("| " + " | ".join(cells) + " |")
        write(lines, notes, (time.perf_counter() - start_all) / 60, partial=True)
    print(write(lines, notes, (time.perf_counter() - start_all) / 60))
    return 0


def _writer(args, argv, threads, f, e):
    def write(lines, notes, minutes, partial=False):
        table = "\n".join(lines)
        header = (f"# MatrixFactorization defaults vs LIBMF and Surprise SVD (test RMSE)\n\n"
              f"{f} factors, {e} epochs for everyone; random 90/10 split (seed 0); {threads} threads "
              f"(Surprise: 1). `turborec tuned`: GridSearch over {TUNE_GRID} (3-fold on the training part "
              f"only, rmse), best refitted. LIBMF: its command line's defaults (l2 0.1, eta 0.1). Surprise SVD: its "
              f"defaults otherwise. `best peer - defaults` > 0: turborec's defaults are more accurate. "
              f"Run: `python bench/mf_defaults_quality.py {' '.join(argv or sys.argv[1:])}` in {minutes:.1f} min; "
              f"versions {versions('turborec', 'libmf', 'surprise', 'implicit', 'numpy')}.\n\n")
        if partial:
            header += "(partial: the run is still going)\n\n"
        if args.out:
            args.out.write_text(header + table + "\n" + "".join(f"\n{n}" for n in notes))
        return table

    return write


if __name__ == "__main__":
    sys.exit(main())
