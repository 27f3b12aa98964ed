"""Low-precision top-k retrieval (issue #16): int8 / bf16 item factors against float32, side by side.

The task of bench/topk_retrieval.py: 100,000 users x 50,000 items x d=64, top-10, each user's ~50
seen items excluded. Contenders, in one process with the same thread count: the numpy float32
baseline (blocked matmul + argpartition), turborec.topk_dot (float32, the exact reference),
turborec.topk_quantized on int8 (AVX-512 VNNI) and bf16 (AVX512-BF16) codes with and without the
exact float32 re-rank, and where installed PyTorch CPU bf16 matmul + topk (blocked) and faiss
IndexScalarQuantizer 8-bit (over-fetching k + seen, then filtering).

Rate: effective GOP/s = 2 * users * items * d / seconds for everyone (whatever the precision).
recall@10: fraction of the exact float32 top-10 (turborec.topk_dot) returned. item MB: what the
contender keeps for the items (a re-rank also keeps the float32 factors). "x topk_dot": speed-up
over the float32 row of the same run, in wall time and in process CPU time ("cpu s", all threads:
on a shared machine the CPU-time ratio is the one that other sessions' load does not distort). "% peak": the row's operations per CPU second against one core's peak for its
instruction (vpdpbusd for int8, vdpbf16ps for bf16, vfmadd231ps for float32), probed in the same
run in register-only loops timed in thread CPU time (so other sessions' load lowers neither).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/lowp_retrieval.py [--quick] [--items N]
        [--slow-users N]   # numpy and the peers on N users only, their time scaled to all users
    python bench/lowp_retrieval.py --recall-sweep   # recall@10 against the re-rank width k'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PeakMemory, Row, has, machine, markdown_table, timed, versions  # noqa: E402
from topk_retrieval import numpy_blocked, seen_items  # noqa: E402

import turborec  # noqa: E402
from turborec import _kernels  # noqa: E402  # internals measured here


def peaks(threads: int, seconds: float = 0.5) -> dict:
    """GOP/s of each retrieval instruction in a register-only loop on `threads` threads."""
    return {w: _kernels.lowp_peak_gops(what=w, seconds=seconds, n_threads=threads)  # internals measured here
            for w in ("int8", "bf16", "fp32")}


def recall_at_k(ids: np.ndarray, exact: np.ndarray, sample: int = 5000) -> float:
    """Mean fraction of each sampled row's exact top-k that ids also holds (order-free)."""
    rows = np.linspace(0, exact.shape[0] - 1, min(sample, exact.shape[0])).astype(int)
    k = exact.shape[1]
    return float(np.mean([np.intersect1d(ids[r], exact[r]).size / k for r in rows]))


def cell_block(m: int) -> int:
    """Users per block so that a block's score matrix stays at 2^25 cells (128 MB in float32)."""
    return max(1, min(4096, 2**25 // m))


def torch_bf16_topk(q, items, seen, k, threads, block=4096):
    """PyTorch CPU: bf16 matmul (oneDNN) per block of users, seen items set to -inf, torch.topk."""
    import torch

    torch.set_num_threads(threads)
    qt = torch.from_numpy(q).to(torch.bfloat16)
    it = torch.from_numpy(items).to(torch.bfloat16).T.contiguous()
    out = np.empty((q.shape[0], k), np.int64)
    with torch.inference_mode():
        for b in range(0, q.shape[0], block):
            s = (qt[b:b + block] @ it).float()
            part = seen[b:b + block]
            rows = np.repeat(np.arange(part.shape[0]), np.diff(part.indptr))
            s[torch.from_numpy(rows), torch.from_numpy(part.indices.astype(np.int64))] = -float("inf")
            out[b:b + block] = torch.topk(s, k, dim=1).indices.numpy()
    return out


def faiss_sq8(q, items, seen, k, threads):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexScalarQuantizer(items.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    index.train(items)
    index.add(items)
    fetch = k + int(np.diff(seen.indptr).max())
    _, ids = index.search(q, fetch)
    out = np.full((q.shape[0], k), -1, np.int64)
    for r in range(q.shape[0]):
        keep = ids[r][~np.isin(ids[r], seen.indices[seen.indptr[r]:seen.indptr[r + 1]])][:k]
        out[r, : keep.size] = keep
    return out


def run(quick: bool = False, threads: int = 0, repeats: int = 3, n_items: int = 50_000, n_users: int | None = None,
        peers: bool = True, slow_users: int | None = None) -> list[Row]:
    """The rows. slow_users: the numpy baseline and the peers run on the first slow_users users only
    and their time is scaled to all users (every contender's work is linear in the users)."""
    from threadpoolctl import threadpool_limits

    threads = turborec.effective_threads(threads)
    n = n_users or (10_000 if quick else 100_000)
    m, d, k = n_items, 64, 10
    rng = np.random.default_rng(0)
    q = rng.standard_normal((n, d), dtype=np.float32)
    items = rng.standard_normal((m, d), dtype=np.float32)
    seen = seen_items(n, m, 50, rng)
    work = 2.0 * n * m * d
    task = f"low-precision top-{k} retrieval {n:,}x{m:,}x{d}"
    rows: list[Row] = []
    codes = {t: turborec.QuantizedFactors(items, t) for t in ("int8", "bf16")}
    f32_mb = items.nbytes / 2**20

    peak = peaks(threads)
    print("  peak GOP/s (" + f"{threads} threads): " + ", ".join(f"{w} {v:.0f}" for w, v in peak.items()), flush=True)

    with threadpool_limits(threads):
        def measure(name, fn, item_mb, note="", reps=repeats, unit="GOP/s", users=n):
            cpu = [0.0, 0]  # process CPU seconds (all threads) and calls: robust to being descheduled

            def counted():
                c = time.process_time()
                out = fn()
                cpu[0] += time.process_time() - c
                cpu[1] += 1
                return out

            with PeakMemory() as mem:
                t = timed(counted, repeats=reps)
            seconds = t.seconds * n / users
            if users < n:
                note = (note + "; " if note else "") + f"timed on {users:,} users, scaled to {n:,}"
            row = Row(task, name, seconds, work, unit=unit, peak_bytes=mem.peak, note=note, threads=threads,
                      runs=t.runs)
            row.quality["item MB"] = round(item_mb, 1)
            row.quality["cpu s"] = round(cpu[0] / cpu[1] * n / users, 3)
            rows.append(row)
            print(f"  {name:<34} {seconds:8.3f} s  {row.rate:7.1f} {unit}  peak {mem.peak / 2**20:6.0f} MB", flush=True)
            return t.result

        def rate_vs(row, base, instr):
            row.quality["x topk_dot"] = round(base.seconds / row.seconds, 2)
            row.quality["x topk_dot (cpu)"] = round(base.quality["cpu s"] / row.quality["cpu s"], 2)
            if peak[instr]:  # per core: the row's operations per CPU second against one core's peak
                row.quality["% peak"] = round(100 * (work / row.quality["cpu s"] / 1e9) / (peak[instr] / threads), 1)

        exact = measure("turborec.topk_dot float32",
                        lambda: turborec.topk_dot(q, items, k, exclude=seen, n_threads=threads)[0], f32_mb)
        rows[-1].quality["recall@10"] = 1.0
        f32_row = rows[-1]
        rate_vs(f32_row, f32_row, "fp32")
        for t in ("int8", "bf16"):
            turborec.topk_quantized(q[:1], codes[t], k)  # packs the codes once (kept by them), untimed
            level = turborec.get_lowp_level(t)
            ids = measure(f"turborec int8".replace("int8", t) + f" ({level})",
                          lambda: turborec.topk_quantized(q, codes[t], k, exclude=seen, n_threads=threads)[0],
                          codes[t].nbytes / 2**20, note="low-precision scores")
            rows[-1].quality["recall@10"] = recall_at_k(ids, exact)
            rate_vs(rows[-1], f32_row, t)
            ids = measure(f"turborec {t} + re-rank ({level})",
                          lambda: turborec.topk_quantized(q, codes[t], k, exclude=seen, rerank=items,
                                                          n_threads=threads)[0],
                          codes[t].nbytes / 2**20 + f32_mb,
                          note=f"{turborec.topk_lowp.default_candidates(k)} candidates re-scored in float32")
            rows[-1].quality["recall@10"] = recall_at_k(ids, exact)
            rate_vs(rows[-1], f32_row, t)
        ns = min(n, slow_users or n)
        qs, ss, es = q[:ns], seen[:ns], exact[:ns]
        ids = measure("numpy float32 blocked", lambda: numpy_blocked(qs, items, ss, k, block=cell_block(m)), f32_mb,
                      reps=1 if not quick else repeats, users=ns)
        rows[-1].quality["recall@10"] = recall_at_k(ids, es)
        if peers and has("torch"):
            ids = measure("torch bf16 matmul + topk",
                          lambda: torch_bf16_topk(qs, items, ss, k, threads, block=cell_block(m)),
                          f32_mb / 2, note=f"blocks of {cell_block(m)} users", reps=1 if not quick else repeats, users=ns)
            rows[-1].quality["recall@10"] = recall_at_k(ids, es)
        elif peers:
            print("  torch not installed: skipped")
        if peers and has("faiss"):
            ids = measure("faiss IndexScalarQuantizer 8-bit", lambda: faiss_sq8(qs, items, ss, k, threads),
                          m * d / 2**20, note="over-fetch k + max seen", reps=1, users=ns)
            rows[-1].quality["recall@10"] = recall_at_k(ids, es)
        elif peers:
            print("  faiss-cpu not installed: skipped")
    return rows


def mf_like(n: int, m: int, d: int, rng) -> tuple:
    """Factors shaped like a trained MF model's: a few strong latent directions, item norms spread by
    popularity (log-normal), a positive item bias; (queries, items, bias)."""
    basis = rng.standard_normal((8, d)).astype(np.float32)
    q = (rng.standard_normal((n, 8)) @ basis + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
    norms = rng.lognormal(0.0, 0.5, m).astype(np.float32)[:, None]
    items = ((rng.standard_normal((m, 8)) @ basis + 0.5 * rng.standard_normal((m, d))) * norms).astype(np.float32)
    return q, items, rng.gamma(2.0, 0.5, m).astype(np.float32)


def movielens_mf(d: int):
    """A MatrixFactorization fitted on MovieLens latest-small (None without $TURBOREC_DATASETS)."""
    try:
        ml = turborec.load_movielens("ml-latest-small")
    except FileNotFoundError:
        return None
    model = turborec.MatrixFactorization(factors=d, epochs=20, seed=0).fit(ml.matrix)
    return (np.ascontiguousarray(model.user_factors_), np.ascontiguousarray(model.item_factors_),
            np.ascontiguousarray(model.item_bias_))


def recall_sweep(n: int = 2000, m: int = 50_000, d: int = 64, k: int = 10,
                 widths=(10, 11, 12, 14, 16, 20, 30, 40)) -> list[dict]:
    """recall@k of int8 / bf16 retrieval re-ranked in float32, against the re-rank width k'."""
    rng = np.random.default_rng(1)
    data = {"random gaussian": (rng.standard_normal((n, d), dtype=np.float32),
                                rng.standard_normal((m, d), dtype=np.float32), None),
            "MF-like (skewed norms, bias)": mf_like(n, m, d, rng)}
    ml = movielens_mf(d)
    if ml is not None:
        data["MovieLens-small MF (fitted)"] = ml
    out = []
    for name, (q, items, bias) in data.items():
        exact = turborec.topk_dot(q, items, k, item_bias=bias)[0]
        for t in ("int8", "bf16"):
            codes = turborec.QuantizedFactors(items, t)
            row = {"data": f"{name} {q.shape[0]}x{items.shape[0]}", "dtype": t,
                   "no re-rank": recall_at_k(turborec.topk_quantized(q, codes, k, item_bias=bias)[0], exact)}
            for w in widths:
                w = min(w, items.shape[0])
                ids = turborec.topk_quantized(q, codes, k, item_bias=bias, rerank=items, candidates=w)[0]
                row[f"k'={w}"] = recall_at_k(ids, exact)
            out.append(row)
            print("  " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 users instead of 100,000")
    ap.add_argument("--users", type=int, help="override the number of users")
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true", help="skip torch and faiss")
    ap.add_argument("--slow-users", type=int, help="run numpy and the peers on this many users, time scaled")
    ap.add_argument("--json", type=Path, help="write rows here as JSON")
    ap.add_argument("--recall-sweep", action="store_true", help="only the recall@10 vs k' table")
    args = ap.parse_args(argv)
    if args.recall_sweep:
        rows = recall_sweep(n=500 if args.quick else 2000)
        cols = list(rows[0])
        print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
        return 0
    print(f"machine: {machine()}", flush=True)
    print({k: v for k, v in turborec.config().items() if k.startswith(("simd", "lowp"))}, flush=True)
    rows = run(args.quick, args.threads, args.repeats, args.items, args.users, not args.no_peers, args.slow_users)
    print(markdown_table(rows, baseline="numpy float32 blocked"))
    print(versions("turborec", "numpy", "torch", "faiss"))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
