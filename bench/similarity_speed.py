"""Item-item top-50 cosine similarity (issue #3's main case) and batched ItemKNN recommend.

Data: generated implicit matrix, 500,000 users x 100,000 items, 20,000,000 interactions, power-law
on both sides (item degrees up to ~60,000, user degrees up to ~2,000, ~2.7e9 multiply-adds). All
contenders run in one process with the same thread count; neighbour sets are compared with the
scipy baseline's (on a sample of rows where that baseline is too slow to run in full).

Contenders: turborec.topk_similarity; sparse_dot_topn.sp_matmul_topn on L2-normalised rows;
implicit's CosineRecommender.fit; scikit-learn cosine_similarity in row blocks + argpartition;
a scipy baseline (blocked sparse product of normalised rows + argpartition).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/similarity_speed.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, has, machine, markdown_table, median_seconds, versions  # noqa: E402

import turborec  # noqa: E402

K = 50


def dataset(scale: float = 1.0, seed: int = 0) -> sp.csr_matrix:
    """users x items, binary. scale=1 is the issue's size; smaller scales shrink users and nnz."""
    n_users, n_items, nnz = int(500_000 * scale), int(100_000 * max(scale, 1 / 16) ** 0.5), int(20_000_000 * scale)
    data = turborec.synthetic(n_users, n_items, nnz, implicit=True, seed=seed, user_exponent=0.6, item_exponent=0.9,
                              user_offset=100, item_offset=20)
    return data.matrix


def normalised(X: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)) @ X


def topk_rows(S: sp.csr_matrix, k: int, drop_self_offset: int | None = None) -> np.ndarray:
    """Best-first top-k column ids of each row of a sparse score block (self excluded), padded -1."""
    out = np.full((S.shape[0], k), -1, dtype=np.int64)
    S = S.tocsr()
    for r in range(S.shape[0]):
        b, e = S.indptr[r], S.indptr[r + 1]
        cols, vals = S.indices[b:e], S.data[b:e]
        if drop_self_offset is not None:
            keep = cols != r + drop_self_offset
            cols, vals = cols[keep], vals[keep]
        order = np.lexsort((cols, -vals))[:k]
        out[r, : order.size] = cols[order]
    return out


def scipy_blocked(X, k, rows=None, block=2000):
    Xn = normalised(X)
    XT = Xn.T.tocsr()
    rows = np.arange(X.shape[0]) if rows is None else rows
    out = np.empty((rows.size, k), dtype=np.int64)
    for b in range(0, rows.size, block):
        sel = rows[b:b + block]
        out[b:b + block] = topk_rows_self(Xn[sel] @ XT, k, sel)
    return out


def topk_rows_self(S, k, rows):
    S = S.tocsr()
    out = np.full((S.shape[0], k), -1, dtype=np.int64)
    for r in range(S.shape[0]):
        b, e = S.indptr[r], S.indptr[r + 1]
        cols, vals = S.indices[b:e], S.data[b:e]
        keep = cols != rows[r]
        cols, vals = cols[keep], vals[keep]
        order = np.lexsort((cols, -vals))[:k]
        out[r, : order.size] = cols[order]
    return out


def sklearn_blocked(X, k, rows=None, block=2000):
    from sklearn.metrics.pairwise import cosine_similarity

    rows = np.arange(X.shape[0]) if rows is None else rows
    out = np.empty((rows.size, k), dtype=np.int64)
    for b in range(0, rows.size, block):
        sel = rows[b:b + block]
        S = cosine_similarity(X[sel], X, dense_output=True)
        S[np.arange(sel.size), sel] = -np.inf
        part = np.argpartition(-S, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(S, part, 1), axis=1, kind="stable")
        out[b:b + block] = np.take_along_axis(part, order, 1)
    return out


def sparse_dot_topn_run(X, k, threads):
    from sparse_dot_topn import sp_matmul_topn

    Xn = normalised(X).astype(np.float32)
    S = sp_matmul_topn(Xn, Xn.T.tocsr(), top_n=k + 1, n_threads=threads)
    return topk_rows(S, k, drop_self_offset=0)


def implicit_run(R, k, threads):
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=k + 1, num_threads=threads)
    model.fit(R, show_progress=False)
    return topk_rows(model.similarity, k, drop_self_offset=0)


def agreement(ids, ref) -> float:
    """Mean overlap of the neighbour sets (order-free)."""
    n = min(len(ids), len(ref))
    step = max(1, n // 3000)
    return float(np.mean([np.intersect1d(ids[i][ids[i] >= 0], ref[i][ref[i] >= 0]).size / max(1, (ref[i] >= 0).sum())
                          for i in range(0, n, step)]))


def run(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0) -> list[Row]:
    from threadpoolctl import threadpool_limits

    threads = turborec._threads.resolve_threads(threads)
    scale = scale / 16 if quick else scale
    R = dataset(scale)
    X = R.T.tocsr()  # items x users
    work = float((np.diff(R.indptr).astype(np.float64) ** 2).sum())  # multiply-adds of X X^T
    task = f"item-item top-{K} cosine {R.shape[0]:,}x{R.shape[1]:,}, {R.nnz:,} nnz"
    print(f"{task}: {work:.2e} multiply-adds, {threads} threads", flush=True)
    rows: list[Row] = []
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(X.shape[0], min(X.shape[0], 3000), replace=False))

    with threadpool_limits(threads):
        def measure(name, fn, note="", reps=repeats, rows_done=X.shape[0]):
            with PeakMemory() as mem:
                seconds, result = median_seconds(fn, repeats=reps, warmup=1 if reps > 1 else 0)
            full = seconds * X.shape[0] / rows_done
            row = Row(task, name, full, 2 * work, peak_bytes=mem.peak, note=note, threads=threads)
            row.quality["items_per_s"] = X.shape[0] / full
            rows.append(row)
            print(f"  {name:<34} {full:8.2f} s  {X.shape[0] / full:10.0f} items/s  peak {mem.peak / 2**20:6.0f} MB",
                  flush=True)
            return result

        S = measure("turborec.topk_similarity", lambda: turborec.topk_similarity(X, K, n_threads=threads))
        ours = turborec.similarity.neighbours(S, sample, k=K)[0]
        ref = measure("scipy baseline (sample of rows)", lambda: scipy_blocked(X, K, sample), reps=1,
                      rows_done=sample.size, note=f"{sample.size} rows timed, scaled to all")
        rows[0].quality["agree_scipy"] = agreement(ours, ref)
        rows[1].quality["agree_scipy"] = 1.0
        if has("sparse_dot_topn"):
            ids = measure("sparse_dot_topn (normalised rows)", lambda: sparse_dot_topn_run(X, K, threads), reps=1)
            rows[-1].quality["agree_scipy"] = agreement(ids[sample], ref)
        if has("implicit"):
            ids = measure("implicit CosineRecommender.fit", lambda: implicit_run(R, K, threads), reps=1)
            rows[-1].quality["agree_scipy"] = agreement(ids[sample], ref)
        if has("sklearn"):
            ids = measure("scikit-learn blocked (sample of rows)", lambda: sklearn_blocked(X, K, sample), reps=1,
                          rows_done=sample.size, note=f"{sample.size} rows timed, scaled to all")
            rows[-1].quality["agree_scipy"] = agreement(ids, ref)
    return rows


def run_recommend(quick: bool = False, threads: int = 0, repeats: int = 3) -> list[Row]:
    """Batched top-10 ItemKNN recommend for 100,000 users (excluding seen items) vs implicit."""
    threads = turborec._threads.resolve_threads(threads)
    R = dataset(1 / 16 if quick else 1.0)
    users = np.arange(min(R.shape[0], 100_000), dtype=np.int32)
    task = f"ItemKNN recommend top-10, {users.size:,} users ({R.shape[0]:,}x{R.shape[1]:,})"
    model = turborec.ItemKNN(k=K, max_neighbours=K, n_threads=threads).fit(R)
    rows = []
    seconds, (ours, _) = median_seconds(lambda: model.recommend(users, 10), repeats=repeats)
    rows.append(Row(task, "turborec ItemKNN.recommend", seconds, quality={"users_per_s": users.size / seconds},
                    threads=threads))
    print(f"  turborec ItemKNN.recommend     {seconds:8.3f} s  {users.size / seconds:10.0f} users/s", flush=True)
    if has("implicit"):
        from implicit.nearest_neighbours import CosineRecommender

        peer = CosineRecommender(K=K, num_threads=threads)
        peer.fit(R, show_progress=False)
        Ru = R[users]
        seconds, (ids, _) = median_seconds(lambda: peer.recommend(users, Ru, N=10, filter_already_liked_items=True),
                                           repeats=repeats)
        overlap = float(np.mean([np.intersect1d(ids[u], ours[u]).size / 10 for u in range(0, users.size, 50)]))
        rows.append(Row(task, "implicit CosineRecommender.recommend", seconds,
                        quality={"users_per_s": users.size / seconds, "overlap_with_turborec": overlap},
                        threads=threads))
        print(f"  implicit recommend             {seconds:8.3f} s  {users.size / seconds:10.0f} users/s "
              f"(top-10 overlap with ours {overlap:.3f})", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1/16 of the data")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    rows = run(args.quick, args.threads, args.repeats)
    rows += run_recommend(args.quick, args.threads, args.repeats)
    sim_rows = [r for r in rows if r.task == rows[0].task]
    peers = [r for r in sim_rows if r.name.startswith(("sparse_dot_topn", "implicit"))]
    best = min(peers, key=lambda r: r.seconds).name if peers else None
    print(markdown_table(sim_rows, baseline="scipy baseline (sample of rows)", best_peer=best))
    print(versions("turborec", "numpy", "scipy", "sparse_dot_topn", "implicit", "sklearn"))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
