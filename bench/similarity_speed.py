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
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, has, machine, markdown_table, timed, versions  # noqa: E402

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
    self_cols = None if drop_self_offset is None else np.arange(S.shape[0]) + drop_self_offset
    return padded(S, k, self_cols)[0]


def select_topk(S: sp.csr_matrix, k: int, self_cols: np.ndarray | None = None):
    """Per-row top-k of a sparse score block by numpy: (row, col, value) arrays, rows ascending,
    each row best first (tied scores in any order). Stored entries only (any sign); self_cols[r] is
    row r's own column, left out. One argsort of a row-major composite key row * 2 + rank-in-[0, 1]
    of the score: a fraction of a second per million entries."""
    S = S.tocsr()
    r = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    c, v = S.indices, S.data.astype(np.float64)
    if self_cols is not None:
        keep = c != self_cols[r]
        r, c, v = r[keep], c[keep], v[keep]
    if r.size == 0:
        return r, c, v
    lo, hi = v.min(), v.max()
    order = np.argsort(r * 2.0 + (hi - v) / ((hi - lo) or 1.0))
    r, c, v = r[order], c[order], v[order]
    keep = np.arange(r.size) - np.searchsorted(r, r, side="left") < k
    return r[keep], c[keep], v[keep]


def scipy_graph(X, k, rows=None, block=2000) -> sp.csr_matrix:
    """The scipy baseline: L2-normalise the rows, blocked sparse X X^T, vectorised top-k per row.
    Returns the (len(rows), n) graph of the k best neighbours (self excluded)."""
    Xn = normalised(X)
    XT = Xn.T.tocsr()
    rows = np.arange(X.shape[0]) if rows is None else rows
    parts = []
    for b in range(0, rows.size, block):
        sel = rows[b:b + block]
        r, c, v = select_topk(Xn[sel] @ XT, k, sel)
        parts.append((r + b, c, v))
    r, c, v = (np.concatenate(x) for x in zip(*parts)) if parts else (np.empty(0, int),) * 3
    return sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(rows.size, X.shape[0]))


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
    with warnings.catch_warnings():  # implicit converts a COO intermediate of its own and says so
        warnings.simplefilter("ignore")
        model.fit(R, show_progress=False)
    return topk_rows(model.similarity, k, drop_self_offset=0)


def set_agreement(ids, rows, ref_scores, A, B, tol=1e-4) -> float:
    """Neighbour-set agreement that counts ties: the share of the reference's top-k matched by
    returned neighbours whose true score -- A[row] . B[id], recomputed here -- reaches the
    reference's k-th score (relative tolerance `tol`). ids, ref_scores: (len(rows), k), padded -1
    / -inf. A wrong neighbour or a missing one lowers it; swapping equal-score neighbours does not."""
    ids, ref_scores, rows = np.asarray(ids), np.asarray(ref_scores, dtype=np.float64), np.asarray(rows)
    n_ref = np.isfinite(ref_scores).sum(1)
    kth = np.where(n_ref > 0, np.min(np.where(np.isfinite(ref_scores), ref_scores, np.inf), 1), np.inf)
    valid = ids >= 0
    pos = np.nonzero(valid)[0]
    r, c = rows[pos], ids[valid]
    true = np.asarray(A[r].multiply(B[c]).sum(1)).ravel() if r.size else np.zeros(0)
    finite = np.isfinite(kth)
    threshold = np.full(kth.shape, np.inf)
    threshold[finite] = kth[finite] - tol * np.maximum(1.0, np.abs(kth[finite]))
    good = true >= threshold[pos]
    hits = np.minimum(np.bincount(pos, weights=good, minlength=len(rows)), n_ref)
    keep = n_ref > 0
    return float(np.mean(hits[keep] / n_ref[keep])) if keep.any() else 1.0


def padded(G: sp.csr_matrix, k: int, self_cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of each row's top k, best first, padded with -1 / -inf (see select_topk)."""
    r, c, v = select_topk(G, k, self_cols)
    ids = np.full((G.shape[0], k), -1, dtype=np.int64)
    scores = np.full((G.shape[0], k), -np.inf, dtype=np.float64)
    col = np.arange(r.size) - np.searchsorted(r, r, side="left")
    ids[r, col], scores[r, col] = c, v
    return ids, scores


def run(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0) -> list[Row]:
    from threadpoolctl import threadpool_limits

    threads = turborec.effective_threads(threads)
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
        def measure(name, fn, note="", reps=repeats, rows_done=X.shape[0], used=threads):
            with PeakMemory() as mem:
                t = timed(fn, repeats=reps, warmup=1 if reps > 1 else 0)
            full = t.seconds * X.shape[0] / rows_done
            row = Row(task, name, full, 2 * work, peak_bytes=mem.peak, note=note, threads=used, runs=t.runs)
            row.quality["items_per_s"] = X.shape[0] / full
            result = t.result
            rows.append(row)
            print(f"  {name:<34} {full:8.2f} s  {X.shape[0] / full:10.0f} items/s  peak {mem.peak / 2**20:6.0f} MB",
                  flush=True)
            return result

        S = measure("turborec.topk_similarity", lambda: turborec.topk_similarity(X, K, n_threads=threads))
        ours = turborec.similarity.neighbours(S, sample, k=K)[0]
        G = measure("scipy baseline (sample of rows)", lambda: scipy_graph(X, K, sample), reps=1, used=1,
                    rows_done=sample.size, note=f"{sample.size} rows timed, scaled to all; scipy's sparse product "
                    "is single-threaded")
        _, ref_scores = padded(G, K)
        Xn = normalised(X).tocsr()

        def agree(ids):  # neighbour-set agreement with the scipy baseline on the sampled rows, ties counted
            return set_agreement(ids, sample, ref_scores, Xn, Xn)

        rows[0].quality["agree_scipy"] = agree(ours)
        rows[1].quality["agree_scipy"] = agree(padded(G, K)[0])
        if has("sparse_dot_topn"):
            ids = measure("sparse_dot_topn (normalised rows)", lambda: sparse_dot_topn_run(X, K, threads), reps=1)
            rows[-1].quality["agree_scipy"] = agree(ids[sample])
        else:
            print("  sparse_dot_topn not installed: skipped")
        if has("implicit"):
            ids = measure("implicit CosineRecommender.fit", lambda: implicit_run(R, K, threads), reps=1)
            rows[-1].quality["agree_scipy"] = agree(ids[sample])
        else:
            print("  implicit not installed: skipped")
        if has("sklearn"):
            ids = measure("scikit-learn blocked (sample of rows)", lambda: sklearn_blocked(X, K, sample), reps=1,
                          rows_done=sample.size, used=1,
                          note=f"{sample.size} rows timed, scaled to all; sparse input: single-threaded")
            rows[-1].quality["agree_scipy"] = agree(ids)
        else:
            print("  scikit-learn not installed: skipped")
    return rows


def scipy_recommend(R: sp.csr_matrix, S: sp.csr_matrix, users: np.ndarray, k: int, block: int | None = None,
                    with_scores: bool = False):
    """The same scores in scipy: R[users] @ S (S item x item), seen items dropped, argpartition.
    Users go in blocks whose dense score matrix has at most 2^25 cells (128 MB of float32)."""
    block = block or max(1, (1 << 25) // max(S.shape[1], 1))
    out = np.full((users.size, k), -1, dtype=np.int64)
    out_scores = np.full((users.size, k), -np.inf)
    for b in range(0, users.size, block):
        sel = users[b:b + block]
        Ru = R[sel]
        scores = (Ru @ S).toarray()
        scores[scores == 0] = -np.inf  # unreachable items are no candidates (turborec pads with -1)
        rows = np.repeat(np.arange(sel.size), np.diff(Ru.indptr))
        scores[rows, Ru.indices] = -np.inf
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
        best = np.take_along_axis(part, order, 1)
        best_scores = np.take_along_axis(scores, best, 1)
        best[~np.isfinite(best_scores)] = -1
        out[b:b + block], out_scores[b:b + block] = best, best_scores
    return (out, out_scores) if with_scores else out


def recommend_agreement(ids, users, ref_scores, R, S) -> float:
    """Top-k agreement with the scipy baseline, ties counted: true scores R[u] . S[:, i]."""
    return set_agreement(ids, users, ref_scores, R.tocsr(), S.T.tocsr())


def run_recommend(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0) -> list[Row]:
    """Batched top-10 ItemKNN recommend for 100,000 users (excluding seen items) vs a scipy
    baseline (on a sample of users) and implicit's ItemItemRecommender on the same neighbours."""
    from threadpoolctl import threadpool_limits

    threads = turborec.effective_threads(threads)
    R = dataset((1 / 16 if quick else 1.0) * scale)
    users = np.arange(min(R.shape[0], 100_000), dtype=np.int32)
    task = f"ItemKNN recommend top-10, {users.size:,} users ({R.shape[0]:,}x{R.shape[1]:,})"
    print(f"{task}, {threads} threads", flush=True)
    model = turborec.ItemKNN(k=K, max_neighbours=K, n_threads=threads).fit(R)
    rows = []

    def add(name, t, rows_done=users.size, note="", peak=0, quality=None, used=threads):
        seconds = t.seconds * users.size / rows_done
        row = Row(task, name, seconds, quality={"users_per_s": users.size / seconds, **(quality or {})},
                  threads=used, runs=t.runs, note=note, peak_bytes=peak)
        rows.append(row)
        print(f"  {name:<40} {seconds:8.3f} s  {users.size / seconds:10.0f} users/s", flush=True)

    with threadpool_limits(threads):
        with PeakMemory() as mem:
            t = timed(lambda: model.recommend(users, 10), repeats=repeats)
        ours = t.result[0]
        add("turborec ItemKNN.recommend", t, peak=mem.peak)
        sample = users[:: max(1, users.size // 5000)]
        S = model.similarity_
        with PeakMemory() as mem:
            t = timed(lambda: scipy_recommend(R, S, sample, 10, with_scores=True), repeats=repeats)
        ref_ids, ref_scores = t.result

        def agree(ids):
            return recommend_agreement(ids, sample, ref_scores, R, S)

        rows[0].quality["agree_scipy"] = agree(ours[sample])
        add("scipy R[users] @ S (sample of users)", t, rows_done=sample.size, peak=mem.peak, used=1,
            note=f"{sample.size:,} users timed, scaled to all; single-threaded", quality={"agree_scipy": agree(ref_ids)})
        if has("implicit"):
            from implicit.nearest_neighbours import CosineRecommender

            peer = CosineRecommender(K=K, num_threads=threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peer.fit(R, show_progress=False)
            Ru = R[users]
            with PeakMemory() as mem:
                t = timed(lambda: peer.recommend(users, Ru, N=10, filter_already_liked_items=True), repeats=repeats)
            ids = t.result[0]
            add("implicit CosineRecommender.recommend", t, peak=mem.peak,
                note="its own cosine neighbours (same definition)",
                quality={"agree_scipy": agree(ids[sample])})
        else:
            print("  implicit not installed: skipped")
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
    for task in dict.fromkeys(r.task for r in rows):
        print(markdown_table([r for r in rows if r.task == task]))
    print(versions("turborec", "numpy", "scipy", "sparse_dot_topn", "implicit", "sklearn"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
