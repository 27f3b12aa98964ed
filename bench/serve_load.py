"""Bounded load benchmark of ``turborec serve`` on loopback, beside a minimal numpy FastAPI app.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/serve_load.py [--seconds 5] [--smoke] [--only TEXT]

Phases (each runs --seconds, then stops by itself): single-user recommendations (GET, k=10,
random users, result cache off so every request computes), batch recommendations (POST, 1,000
users per request: users/s), feedback writes (single events and batches of 100; acknowledged =
committed to SQLite with synchronous=FULL, i.e. an fsync per commit, concurrent requests sharing
one commit (group commit); with and without waiting for the fold-in). The same model (MF,
--items x --factors) is served by the numpy baseline (bench/serve_baseline.py) for the
recommendation phases; turborec also runs with --workers 2 (two server processes on one port,
each with its own model state). Server and load generator share this machine's cores: the
generator is one asyncio loop with keep-alive connections speaking HTTP/1.1 directly (an HTTP
library would cost more CPU than the servers it measures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, port, log, **extra_env):
    env = dict(os.environ, TURBOREC_SERVE_TOKEN=TOKEN, **extra_env)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def request(method, path, body=None, auth=False) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    if auth:
        head += f"Authorization: Bearer {TOKEN}\r\n"
    return head.encode() + b"\r\n" + data


async def _worker(port, make, until, latencies, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            req = make()
            t0 = time.perf_counter()
            writer.write(req)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def load(port, make, seconds, concurrency, per_request=1):
    """Run `concurrency` keep-alive clients for `seconds`; returns throughput and latency quantiles."""
    latencies, statuses = [], {}

    async def main():
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_worker(port, make, until, latencies, statuses) for _ in range(concurrency)))

    t0 = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    q = np.percentile(lat, [50, 95, 99]) if lat.size else [float("nan")] * 3
    return {"requests": int(lat.size), "per_s": lat.size / wall, "units_per_s": lat.size * per_request / wall,
            "p50_ms": float(q[0]), "p95_ms": float(q[1]), "p99_ms": float(q[2]), "statuses": statuses}


def build_model(path, n_users, n_items, factors, nnz, seed=0):
    import scipy.sparse as sp

    import turborec

    rng = np.random.default_rng(seed)
    R = sp.csr_matrix((rng.integers(1, 6, nnz).astype(np.float32),
                       (rng.integers(0, n_users, nnz), rng.integers(0, n_items, nnz))), shape=(n_users, n_items))
    R.sum_duplicates()
    R.data = np.minimum(R.data, 5).astype(np.float32)
    turborec.MatrixFactorization(factors, 2, seed=seed).fit(R).save(path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--nnz", type=int, default=300_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch-users", type=int, default=1000)
    ap.add_argument("--smoke", action="store_true", help="tiny model and 0.3 s phases (CI: it must not rot)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--only", default=None, help="run only the phases whose name contains this text")
    args = ap.parse_args(argv)
    if args.smoke:
        args.users, args.items, args.factors, args.nnz = 200, 300, 16, 3000
        args.seconds, args.concurrency, args.batch_users = 0.3, 4, 50
    results = {"config": vars(args).copy(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "mf.npz")
        t0 = time.perf_counter()
        build_model(model, args.users, args.items, args.factors, args.nnz)
        print(f"model: MF {args.users} users x {args.items} items x {args.factors} factors "
              f"({time.perf_counter() - t0:.1f} s to build)", flush=True)
        log = open(os.path.join(tmp, "servers.log"), "wb")
        tp, tp2, bp, bp1 = free_port(), free_port(), free_port(), free_port()

        def serve_cmd(port, workers, db):
            return [sys.executable, "-m", "turborec", "serve", "--model", model, "--events", f"sqlite:///{tmp}/{db}",
                    "--port", str(port), "--cache-size", "0", "--log-level", "warning",
                    "--max-batch", str(max(args.batch_users, 100)), "--workers", str(workers)]

        ours = start(serve_cmd(tp, 1, "events.db"), tp, log)
        ours2 = start(serve_cmd(tp2, 2, "events2.db"), tp2, log)
        base = start([sys.executable, str(HERE / "serve_baseline.py"), model, str(bp)], bp, log)
        # the same baseline with single-threaded BLAS: on a busy machine BLAS threads can cost more than they give
        base1 = start([sys.executable, str(HERE / "serve_baseline.py"), model, str(bp1)], bp1, log,
                      OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        rnd = random.Random(0)
        phases = []
        try:
            def user():
                return rnd.randrange(args.users)

            k = 10
            phases.append(("single-user recommend, turborec", "req", tp,
                           lambda: request("GET", f"/v1/users/{user()}/recommendations?k={k}"), 1))
            phases.append(("single-user recommend, turborec --workers 2", "req", tp2,
                           lambda: request("GET", f"/v1/users/{user()}/recommendations?k={k}"), 1))
            phases.append(("single-user recommend, numpy baseline", "req", bp,
                           lambda: request("GET", f"/rec/{user()}?k={k}"), 1))
            phases.append(("single-user recommend, numpy baseline, 1 BLAS thread", "req", bp1,
                           lambda: request("GET", f"/rec/{user()}?k={k}"), 1))
            nb = args.batch_users
            phases.append((f"batch recommend ({nb} users/request), turborec", "users", tp,
                           lambda: request("POST", "/v1/recommend/batch",
                                           {"users": [user() for _ in range(nb)], "k": k}), nb))
            phases.append((f"batch recommend ({nb} users/request), turborec --workers 2", "users", tp2,
                           lambda: request("POST", "/v1/recommend/batch",
                                           {"users": [user() for _ in range(nb)], "k": k}), nb))
            phases.append((f"batch recommend ({nb} users/request), numpy baseline", "users", bp,
                           lambda: request("POST", "/batch", {"users": [user() for _ in range(nb)], "k": k}), nb))
            counter = iter(range(10**9))

            def event():
                n = next(counter)
                return {"user": user(), "item": rnd.randrange(args.items), "value": 4.0, "idempotency_key": f"b{n}"}

            phases.append(("feedback, 1 event/request, ack after commit", "events", tp,
                           lambda: request("POST", "/v1/feedback?wait=false", event(), auth=True), 1))
            phases.append(("feedback, 1 event/request, ack after commit + fold-in", "events", tp,
                           lambda: request("POST", "/v1/feedback", event(), auth=True), 1))
            phases.append(("feedback, 100 events/request, ack after commit + fold-in", "events", tp,
                           lambda: request("POST", "/v1/feedback/batch", {"events": [event() for _ in range(100)]},
                                           auth=True), 100))
            load_avg = os.getloadavg()[0]
            results["load_average_before"] = load_avg
            print(f"{args.seconds:g} s per phase, {args.concurrency} keep-alive clients (4 for multi-user requests), "
                  f"load generator on the same {os.cpu_count()} cores as the servers; load average before: "
                  f"{load_avg:.1f} (shared machine: timings are noisy)", flush=True)
            print(f"{'phase':60s} {'units/s':>10s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}"
                  "  statuses")
            for name, unit, port, make, per in phases:
                if args.only and args.only not in name:
                    continue
                # big requests: a few in flight are enough to keep a server busy (more only queue)
                clients = args.concurrency if per == 1 else min(args.concurrency, 4)
                load(port, make, min(args.seconds, 0.5), min(clients, 4), per)  # warm-up
                r = load(port, make, args.seconds, clients, per)
                r["clients"] = clients
                r.update(phase=name, unit=unit)
                results.setdefault("phases", []).append(r)
                print(f"{name:60s} {r['units_per_s']:10.0f} {r['per_s']:8.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} "
                      f"{r['p99_ms']:8.2f}  {r['statuses']}", flush=True)
        finally:
            for p in (ours, ours2, base, base1):
                p.terminate()
                p.wait(timeout=30)
            log.close()
    results["load_average_after"] = os.getloadavg()[0]
    print(f"load average after: {results['load_average_after']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
