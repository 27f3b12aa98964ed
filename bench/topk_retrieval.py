"""Top-k retrieval (issue #2's main case): 100,000 queries x 50,000 items x d=64, k=10, excluding each
user's ~50 seen items drawn from a power-law popularity.

Contenders, in one process with the same thread count: turborec.topk_dot, numpy's full score matrix
+ argpartition (on a subset of queries: the full matrix would be 20 GB), blocked numpy matmul +
argpartition, faiss IndexFlatIP (over-fetching k + seen, then filtering) and implicit's topk.
GFLOP/s counts 2 * n * m * d for everyone (the product; selection and filtering are extra work).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/topk_retrieval.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, has, machine, markdown_table, sgemm_gflops, timed, versions  # noqa: E402

import turborec  # noqa: E402


def seen_items(n: int, m: int, per_user: int, rng) -> sp.csr_matrix:
    """~per_user distinct items per user, popularity ~ (rank + 20)^-0.9 over a shuffled catalogue."""
    p = 1.0 / (np.arange(m) + 20.0) ** 0.9
    p /= p.sum()
    perm = rng.permutation(m)
    cols = perm[rng.choice(m, size=n * per_user, p=p)]
    rows = np.repeat(np.arange(n), per_user)
    seen = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, m))
    seen.sum_duplicates()
    seen.data[:] = 1
    return seen


def numpy_topk_rows(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    scores[rows, seen.indices] = -np.inf
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def numpy_blocked(q, items, seen, k, block=2048):
    out = np.empty((q.shape[0], k), dtype=np.int64)
    for b in range(0, q.shape[0], block):
        out[b:b + block] = numpy_topk_rows(q[b:b + block] @ items.T, seen[b:b + block], k)
    return out


def faiss_flat_ip(q, items, seen, k, threads):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    fetch = k + int(np.diff(seen.indptr).max())
    _, ids = index.search(q, fetch)
    # drop seen items, keep the first k of what remains
    out = np.full((q.shape[0], k), -1, dtype=np.int64)
    for r in range(q.shape[0]):
        row_seen = seen.indices[seen.indptr[r]:seen.indptr[r + 1]]
        keep = ids[r][~np.isin(ids[r], row_seen)][:k]
        out[r, : keep.size] = keep
    return out


def implicit_topk(q, items, seen, k, threads):
    from implicit.cpu.topk import topk

    ids, _ = topk(items, q, k, filter_query_items=seen, num_threads=threads)
    return ids


def agreement(ids, ref) -> float:
    """Mean fraction of reference ids also returned (order-free; near-ties may swap)."""
    n = min(ids.shape[0], ref.shape[0])
    return float(np.mean([np.intersect1d(ids[i], ref[i]).size / ref.shape[1] for i in range(0, n, max(1, n // 2000))]))


def run(quick: bool = False, threads: int = 0, repeats: int = 3, scale: float = 1.0) -> list[Row]:
    """The task's rows (turborec and every installed contender). `scale` multiplies the queries."""
    from threadpoolctl import threadpool_limits

    threads = turborec.effective_threads(threads)
    n, m, d, k = int((10_000 if quick else 100_000) * scale), 50_000, 64, 10
    rng = np.random.default_rng(0)
    q = rng.standard_normal((n, d), dtype=np.float32)
    items = rng.standard_normal((m, d), dtype=np.float32)
    seen = seen_items(n, m, 50, rng)
    flops = 2.0 * n * m * d
    rows: list[Row] = []
    task = f"top-{k} retrieval {n:,}x{m:,}x{d}"

    with threadpool_limits(threads):
        def measure(name, fn, work=flops, note="", reps=repeats):
            with PeakMemory() as mem:
                t = timed(fn, repeats=reps)
            row = Row(task, name, t.seconds, work, peak_bytes=mem.peak, note=note, threads=threads, runs=t.runs)
            rows.append(row)
            print(f"  {name:<28} {t.seconds:8.3f} s  {row.rate:7.1f} GFLOP/s  peak {mem.peak / 2**20:7.0f} MB", flush=True)
            return t.result

        ours = measure("turborec.topk_dot", lambda: turborec.topk_dot(q, items, k, exclude=seen, n_threads=threads)[0])
        base = measure("numpy blocked", lambda: numpy_blocked(q, items, seen, k), reps=1 if not quick else repeats)
        rows[0].quality["agree_numpy"] = agreement(ours, base)
        rows[1].quality["agree_numpy"] = 1.0
        n_full = min(n, 2_000 if quick else 10_000)
        full = measure("numpy full matrix (subset)", lambda: numpy_topk_rows(q[:n_full] @ items.T, seen[:n_full], k),
                       work=2.0 * n_full * m * d, note=f"{n_full:,} of the {n:,} queries (all at once: a {4 * n * m / 1e9:.1f} GB score matrix)")
        rows[-1].quality["agree_numpy"] = agreement(full, base)
        if has("faiss"):
            ids = measure("faiss IndexFlatIP", lambda: faiss_flat_ip(q, items, seen, k, threads), note="over-fetch k + max seen")
            rows[-1].quality["agree_numpy"] = agreement(ids, base)
        else:
            print("  faiss-cpu not installed: skipped")
        if has("implicit"):
            ids = measure("implicit topk", lambda: implicit_topk(q, items, seen, k, threads))
            rows[-1].quality["agree_numpy"] = agreement(ids, base)
        else:
            print("  implicit not installed: skipped")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10x fewer queries")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write rows here as JSON")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}  sgemm={sgemm_gflops():.0f} GFLOP/s", flush=True)
    rows = run(args.quick, args.threads, args.repeats)
    print(markdown_table(rows, baseline="numpy blocked"))
    print(versions("turborec", "numpy", "faiss", "implicit"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
