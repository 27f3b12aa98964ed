"""Matrix factorisation speed (issue #4's main case) and BPR next to implicit.

Explicit data: generated, 200,000 users x 50,000 items, 10,000,000 distinct ratings, power-law
activity on both sides ((rank_u + 100)^-0.7 x (rank_i + 20)^-0.9), rank-16 structure, 1..5 stars;
90/10 split; 32 factors, 20 epochs, same threads for everyone. Reported: seconds per epoch, rating
updates per second, test RMSE, and the kernel's bounds on this machine (FLOP and memory traffic
per update against the measured sgemm speed and copy bandwidth).

Contenders: turborec MatrixFactorization (biased, AdaGrad; and biased=False, LIBMF's model); LIBMF
through the `libmf` package when installed (build it with its SIMD path:
CFLAGS="-O3 -DUSEAVX -mavx -mfma -DUSEOMP -fopenmp" LDFLAGS=-fopenmp pip install --no-binary libmf libmf);
scikit-surprise's SVD (single-threaded: timed on a 1M-rating sample); a pure numpy loop (timed on
50,000 updates). Implicit: turborec loss="bpr" vs implicit's BayesianPersonalizedRanking on the
implicit version of the data, NDCG@10 / recall@10 on a held-out 10%.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mf_speed.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, has, machine, markdown_table, memory_bandwidth_gbs, sgemm_gflops, versions  # noqa: E402
import _harness  # noqa: E402

import turborec  # noqa: E402

FACTORS, EPOCHS = 32, 20


def explicit_data(scale=1.0, seed=0):
    data = turborec.synthetic(int(200_000 * scale), int(50_000 * max(scale, 1 / 16) ** 0.5), int(10_000_000 * scale),
                              rank=16, seed=seed)
    return turborec.random_split(data, 0.1, seed=seed)


def rmse_of(model_predict, test: sp.csr_matrix) -> float:
    users = np.repeat(np.arange(test.shape[0], dtype=np.int32), np.diff(test.indptr))
    pred = model_predict(users, test.indices)
    return float(np.sqrt(np.mean((pred.astype(np.float64) - test.data) ** 2)))


def numpy_sgd(users, items, values, P, Q, bu, bi, mu, lr=0.005, reg=0.02):
    """The textbook per-rating loop (Surprise's SVD update) in numpy: the pure-Python baseline."""
    for u, i, r in zip(users, items, values):
        e = r - (mu + bu[u] + bi[i] + P[u] @ Q[i])
        bu[u] += lr * (e - reg * bu[u])
        bi[i] += lr * (e - reg * bi[i])
        pu = P[u].copy()
        P[u] += lr * (e * Q[i] - reg * P[u])
        Q[i] += lr * (e * pu - reg * Q[i])


FLOP_PER_UPDATE = 2 * FACTORS + 4 * 2 * FACTORS + 2 * 2 * FACTORS + 2 * 2 * FACTORS + 30  # dot, grads, steps, norms, scalars
ROW_BYTES = FACTORS * 4 + 16  # a factor row and its line of per-row scalars


def bytes_per_update(R: sp.csr_matrix, grid: int) -> float:
    """Memory traffic of one epoch of the blocked schedule, per update: the COO entry (12 bytes),
    each user row read and written once per block holding its ratings (blocks are sorted by user),
    each item group's rows once per block (the group's panel stays in L2 while the block runs)."""
    degree = np.diff(R.indptr).astype(np.float64)
    user_visits = (grid * (1.0 - (1.0 - 1.0 / grid) ** degree)).sum()
    item_visits = grid * R.shape[1]
    return 12.0 + 2 * ROW_BYTES * (user_visits + item_visits) / max(R.nnz, 1)


def bounds(updates_per_s: float, peak_gflops: float, bandwidth_gbs: float, traffic: float) -> dict:
    """What one biased AdaGrad update of 32 factors costs, against this machine's limits. `traffic`:
    bytes per update from bytes_per_update (a random-order kernel without blocking would move
    2 * 2 * ROW_BYTES + 12 = 588)."""
    flops = FLOP_PER_UPDATE
    return {"flop_per_update": flops, "bytes_per_update": traffic,
            "flop_bound_Mupd_s": peak_gflops * 1e9 / flops / 1e6,
            "memory_bound_Mupd_s": bandwidth_gbs * 1e9 / traffic / 1e6,
            "achieved_GFLOP_s": updates_per_s * flops / 1e9, "achieved_GB_s": updates_per_s * traffic / 1e9}


def run(quick: bool = False, threads: int = 0, repeats: int = 1, scale: float = 1.0) -> list[Row]:
    threads = turborec.effective_threads(threads)
    scale = scale / 16 if quick else scale
    train, test = explicit_data(scale)
    n = train.nnz
    task = f"MF SGD {train.n_users:,}x{train.n_items:,}, {n:,} ratings, {FACTORS} factors x {EPOCHS} epochs"
    print(f"{task}, {threads} threads", flush=True)
    rows: list[Row] = []

    def add(name, seconds, updates, rmse, note="", peak=0, runs=1, traffic=None, used=threads):
        row = Row(task, name, seconds, work=updates * 1e3, unit="M updates/s", peak_bytes=peak, note=note,
                  threads=used, runs=runs)  # Row.rate = work / s / 1e9 = millions of updates per second
        if traffic is not None:  # ours: the update's FLOPs and bytes (see bounds()), for the machine-limit column
            row.flops, row.bytes_moved = updates * FLOP_PER_UPDATE, updates * traffic
        row.quality["test_rmse"] = rmse
        row.quality["s_per_epoch"] = seconds / EPOCHS
        rows.append(row)
        print(f"  {name:<40} {seconds:8.2f} s  {updates / seconds / 1e6:7.1f} M updates/s  RMSE {rmse:.4f}", flush=True)

    for label, params in (("turborec MF (biased, AdaGrad)", {}), ("turborec MF (biased=False)", {"biased": False})):
        fits = []

        def fit():
            model = turborec.MatrixFactorization(factors=FACTORS, epochs=EPOCHS, seed=0, n_threads=threads, **params)
            model.fit(train.matrix)
            fits.append(sum(h["seconds"] for h in model.history_))
            return model

        with PeakMemory() as mem:
            t = _harness.timed(fit, repeats=max(repeats, 3))
        seconds = float(np.median(fits[-t.runs:]))
        add(label, seconds, n * EPOCHS, rmse_of(t.result.predict, test.matrix), "epochs only (fit adds grid setup)",
            mem.peak, runs=t.runs, traffic=bytes_per_update(train.matrix, t.result.grid_))
        # the same model elsewhere: Surprise's SVD is biased MF, LIBMF's is the plain <p_u, q_i> one
        rows[-1].counterpart = "LIBMF (libmf package), epochs only" if params else "scikit-surprise SVD (1 thread, sampled)"
    if has("libmf"):
        from libmf import mf

        coo = train.matrix.tocoo()
        X = np.column_stack([coo.row, coo.col, coo.data]).astype(np.float64)
        engine = mf.MF(k=FACTORS, nr_threads=threads, nr_iters=EPOCHS, lambda_p1=0.0, lambda_q1=0.0, lambda_p2=0.05,
                       lambda_q2=0.05, eta=0.1, quiet=True)
        start = time.perf_counter()
        engine.fit(X)
        seconds = time.perf_counter() - start
        tcoo = test.matrix.tocoo()
        # the package's predict reads its (n, 2) argument column-major (X[t], X[t + n]): pass Fortran order
        pred = np.asarray(engine.predict(np.asfortranarray(np.column_stack([tcoo.row, tcoo.col]), np.float32)))
        libmf_rmse = float(np.sqrt(np.mean((pred - tcoo.data) ** 2)))
        add("LIBMF (libmf package)", seconds, n * EPOCHS, libmf_rmse, "whole fit incl. its setup")
        rows[-1].library = "libmf"
        # its in-epoch rate (what ours reports): the package times only whole fits, so the epochs'
        # share is the difference between fits of EPOCHS and 2 iterations
        short = mf.MF(k=FACTORS, nr_threads=threads, nr_iters=2, lambda_p1=0.0, lambda_q1=0.0, lambda_p2=0.05,
                      lambda_q2=0.05, eta=0.1, quiet=True)
        start = time.perf_counter()
        short.fit(X)
        in_epochs = max(seconds - (time.perf_counter() - start), 1e-9) * EPOCHS / (EPOCHS - 2)
        add("LIBMF (libmf package), epochs only", in_epochs, n * EPOCHS, libmf_rmse,
            f"(fit of {EPOCHS} - fit of 2 iterations) x {EPOCHS}/{EPOCHS - 2}: its setup left out, as ours")
        rows[-1].library = "libmf"
    else:
        print("  libmf not installed: skipped (see the module docstring)")
    if has("surprise"):
        import surprise

        sample = min(n, 1_000_000)
        df = train.to_pandas(user="u", item="i", rating="r")[["u", "i", "r"]].iloc[:sample]
        trainset = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=(1, 5))).build_full_trainset()
        algo = surprise.SVD(n_factors=FACTORS, n_epochs=2, random_state=0)
        start = time.perf_counter()
        algo.fit(trainset)
        per_update = (time.perf_counter() - start) / (2 * sample)
        add("scikit-surprise SVD (1 thread, sampled)", per_update * n * EPOCHS, n * EPOCHS, float("nan"),
            f"timed on {sample:,} ratings x 2 epochs, scaled", used=1)
    rng = np.random.default_rng(0)
    m = 50_000
    coo = train.matrix.tocoo()
    P = rng.normal(0, 0.1, (train.n_users, FACTORS))
    Q = rng.normal(0, 0.1, (train.n_items, FACTORS))
    start = time.perf_counter()
    numpy_sgd(coo.row[:m], coo.col[:m], coo.data[:m], P, Q, np.zeros(train.n_users), np.zeros(train.n_items),
              float(coo.data.mean()))
    per_update = (time.perf_counter() - start) / m
    add("numpy loop (sampled)", per_update * n * EPOCHS, n * EPOCHS, float("nan"), f"timed on {m:,} updates, scaled",
        used=1)
    return rows


def run_bpr(quick: bool = False, threads: int = 0, repeats: int = 1, scale: float = 1.0) -> list[Row]:
    threads = turborec.effective_threads(threads)
    scale = scale / 16 if quick else scale
    data = turborec.synthetic(int(200_000 * scale), int(50_000 * max(scale, 1 / 16) ** 0.5), int(10_000_000 * scale),
                              rank=16, implicit=True, seed=1)
    train, test = turborec.random_split(data, 0.1, seed=0)
    users = np.flatnonzero(np.diff(test.matrix.indptr)).astype(np.int32)
    task = f"BPR {train.n_users:,}x{train.n_items:,}, {train.nnz:,} clicks, {FACTORS} factors x {EPOCHS} epochs"
    print(f"{task}, {threads} threads", flush=True)
    rows = []

    def add(name, seconds, ids, runs, peak, note):
        q = turborec.metrics.ranking_metrics(ids, test.matrix[users], k=10)
        row = Row(task, name, seconds, work=train.nnz * EPOCHS * 1e3, unit="M updates/s", threads=threads, runs=runs,
                  peak_bytes=peak, note=note)
        row.quality.update({"ndcg@10": q["ndcg"], "recall@10": q["recall"]})
        rows.append(row)
        print(f"  {name:<40} {seconds:8.2f} s  {train.nnz * EPOCHS / seconds / 1e6:7.1f} M updates/s  "
              f"NDCG@10 {q['ndcg']:.4f}  recall@10 {q['recall']:.4f}", flush=True)

    def ours():
        model = turborec.MatrixFactorization(factors=FACTORS, epochs=EPOCHS, loss="bpr", seed=0, n_threads=threads)
        with PeakMemory() as mem:
            model.fit(train.matrix)
        return model, sum(h["seconds"] for h in model.history_), mem.peak

    def theirs():
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        peer = BayesianPersonalizedRanking(factors=FACTORS, iterations=EPOCHS, num_threads=threads, random_state=0)
        with PeakMemory() as mem:
            start = time.perf_counter()
            peer.fit(train.matrix, show_progress=False)
            seconds = time.perf_counter() - start
        return peer, seconds, mem.peak

    fits = [ours() for _ in range(repeats)]
    model, seconds, peak = fits[-1]
    add("turborec MF(loss='bpr')", float(np.median([f[1] for f in fits])), model.recommend(users, 10)[0], len(fits), peak,
        "epochs only (fit adds grid setup)")
    if has("implicit"):
        fits = [theirs() for _ in range(repeats)]
        peer, _, peak = fits[-1]
        ids, _ = peer.recommend(users, train.matrix[users], N=10, filter_already_liked_items=True)
        add("implicit BayesianPersonalizedRanking", float(np.median([f[1] for f in fits])), ids, len(fits), peak,
            "whole fit")
    else:
        print("  implicit not installed: skipped")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1/16 of the data")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    peak, bandwidth = sgemm_gflops(), memory_bandwidth_gbs()
    print(f"machine: {machine()}  sgemm {peak:.0f} GFLOP/s, copy bandwidth {bandwidth:.1f} GB/s", flush=True)
    rows = run(args.quick, args.threads)
    ours = rows[0]
    print("bounds of the biased AdaGrad update (blocked-schedule traffic):",
          {k: round(v, 1) for k, v in bounds(ours.rate * 1e6, peak, bandwidth, ours.bytes_moved * 1e3 / ours.work).items()})
    print(markdown_table(rows, baseline="numpy loop (sampled)"))
    bpr = run_bpr(args.quick, args.threads)
    print(markdown_table(bpr))
    print(versions("turborec", "numpy", "surprise", "implicit"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows + bpr], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
