"""The ``turborec`` command line."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    """Top-k retrieval on generated factors, timed against the numpy baseline."""
    import turborec

    rng = np.random.default_rng(args.seed)
    n, m, d, k = args.users, args.items, args.factors, 10
    users = rng.standard_normal((n, d), dtype=np.float32)
    items = rng.standard_normal((m, d), dtype=np.float32)
    turborec.show_config()
    print(f"\nrecommend top-{k} of {m:,} items for {n:,} users (d={d})")
    t = time.perf_counter()
    ids, _ = turborec.topk_dot(users, items, k)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    block = 4096
    ref = np.empty((n, k), dtype=np.int64)
    for b in range(0, n, block):
        s = users[b:b + block] @ items.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        ref[b:b + block] = np.take_along_axis(part, order, 1)
    t_np = time.perf_counter() - t
    flops = 2.0 * n * m * d
    print(f"  turborec.topk_dot : {t_ours:7.3f} s  {flops / t_ours / 1e9:7.1f} GFLOP/s")
    print(f"  numpy (blocked)   : {t_np:7.3f} s  {flops / t_np / 1e9:7.1f} GFLOP/s  -> {t_np / t_ours:.1f}x")
    print(f"  same top-{k} ids   : {(ids == ref).mean():.4%}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turborec", description="Fast classic recommenders.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in demonstration on generated data")
    demo.add_argument("--users", type=int, default=20000)
    demo.add_argument("--items", type=int, default=20000)
    demo.add_argument("--factors", type=int, default=64)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
