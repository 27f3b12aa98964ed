"""The whole benchmark suite in one run: every task against its numpy/scipy baseline and every
installed peer, scaling curves, a markdown report, plots and the README's Performance section.

    pip install ".[bench]"
    python bench/compare.py --quick          # a few minutes: small data, fewer repeats
    python bench/compare.py                  # the issue's full sizes: ~16 min on 2 cores, 8 GB peak
    python bench/compare.py --only mf,scaling --no-readme
    python bench/compare.py --render         # re-draw report, plots and README from results.json

The machine's own limits (sgemm GFLOP/s through numpy's BLAS, copy bandwidth) are measured first,
at each thread count used, and every row's achieved rate is set against them. Each row: seconds
(median of the timed runs after a warm-up; a contender slower than half the time budget is timed
once, and the `runs` column says so), ratio to the baseline and to the fastest peer, peak memory
(resident-set growth), threads, SIMD level and library version. Quality sits next to speed
(neighbour-set agreement, RMSE, NDCG@10), so speed is never bought with wrong answers.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, slow numpy's BLAS (the baselines) down on some
machines: the script re-runs itself without them unless --keep-env is given.

Writes, under --out (default bench/results/): report.md, results.json, speedups.png,
scaling_size.png, scaling_threads.png; and, after a run of every task, the README section between
<!-- performance:start --> and <!-- performance:end -->.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import math
import os
import shlex
import sys
import textwrap
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_overrides(argv) -> None:
    """BLAS reads these when it loads: drop them before numpy is imported, by re-running ourselves."""
    if "--keep-env" in argv or "--render" in argv or not any(k in os.environ for k in _OVERRIDES):
        return
    env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES}
    print(f"note: re-running without {', '.join(k for k in _OVERRIDES if k in os.environ)} "
          "(they slow numpy's BLAS down; --keep-env keeps them)", flush=True)
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


import numpy as np  # noqa: E402

import _harness as H  # noqa: E402

README_START, README_END = "<!-- performance:start -->", "<!-- performance:end -->"
ML_TASKS = ("knn_quality", "mf_quality", "ranking", "content")
PEER_MODULES = ("turborec", "numpy", "scipy", "threadpoolctl", "faiss", "implicit", "sparse_dot_topn", "sklearn",
                "surprise", "libmf", "lightfm", "cornac", "matplotlib")
QUALITY_KEYS = ("agree_numpy", "agree_scipy", "neighbours_agree_scipy", "test_rmse", "rmse", "cold_ndcg@10", "ndcg@10")
QUALITY_MEANING = {
    "agree_numpy": "share of numpy's top-k ids returned (continuous random scores: no ties)",
    "agree_scipy": "neighbour-set agreement with the scipy baseline, ties counted: share of its top-k matched "
                   "by neighbours whose recomputed score reaches its k-th score",
    "neighbours_agree_scipy": "the same, for the item-item neighbour lists",
    "overlap_with_turborec": "top-10 id overlap with turborec's lists",
    "test_rmse": "RMSE on the held-out 10% (synthetic ratings)",
    "rmse": "RMSE over the test folds", "mae": "MAE over the test folds",
    "ndcg@10": "NDCG@10 over users with held-out items (binary gains)", "recall@10": "recall@10, same users",
    "cold_ndcg@10": "NDCG@10 on the cold-start items (held out with all their ratings), ranked among the cold items "
                    "(content task; its ndcg@10 is the warm items')",
    "cold_recall@10": "recall@10 on the cold-start items, same users",
    "items_per_s": "rows (items) of the similarity matrix per second", "users_per_s": "users served per second",
    "s_per_epoch": "seconds per epoch",
}


def tasks():
    """key -> (callable, what it is). Imported lazily so --render needs no turborec."""
    import content_quality
    import knn_quality
    import mf_quality
    import mf_speed
    import similarity_speed
    import topk_retrieval

    return {
        "topk": (topk_retrieval.run, "fused top-10 retrieval (topk_dot) vs numpy, faiss, implicit"),
        "similarity": (similarity_speed.run, "item-item top-50 cosine vs scipy, sparse_dot_topn, implicit, sklearn"),
        "knn_recommend": (similarity_speed.run_recommend, "batched ItemKNN recommend vs scipy, implicit"),
        "mf": (mf_speed.run, "MF SGD vs numpy loop, Surprise SVD, LIBMF"),
        "bpr": (mf_speed.run_bpr, "BPR vs implicit"),
        "knn_quality": (knn_quality.run, "UserKNN/ItemKNN on ml-latest-small vs Surprise KNN*"),
        "mf_quality": (mf_quality.run, "MF on ml-latest-small vs Surprise SVD"),
        "ranking": (knn_quality.run_ranking, "top-10 ranking on ml-latest-small vs implicit"),
        "content": (content_quality.run, "FeatureMF (item features, cold start) on ml-latest-small vs LightFM, cornac"),
        "scaling": (None, "turborec alone at x1, x4, x16 data and 1..n threads"),
    }


TASK_KEYS = ("topk", "similarity", "knn_recommend", "mf", "bpr", "knn_quality", "mf_quality", "ranking", "content",
             "scaling")


# ---- machine -----------------------------------------------------------------------------------

def thread_counts(n_cpus: int) -> list[int]:
    counts, t = [], 1
    while t < n_cpus:
        counts.append(t)
        t *= 2
    return sorted(set(counts + [n_cpus]))


def measure_limits(threads: list[int], quick: bool) -> dict:
    n = 2048 if quick else 4096
    out = {"sgemm_gflops": {}, "copy_gbs": {}, "sgemm_n": n, "copy_bytes": 1 << 30}
    for t in threads:
        out["sgemm_gflops"][t] = H.sgemm_gflops(n, threads=t)
        out["copy_gbs"][t] = H.memory_bandwidth_gbs(1 << 30, threads=t)
        print(f"  {t} thread(s): sgemm {out['sgemm_gflops'][t]:7.1f} GFLOP/s, copy {out['copy_gbs'][t]:5.1f} GB/s",
              flush=True)
    return out


# ---- scaling -----------------------------------------------------------------------------------

def scaling(quick: bool, threads: list[int], repeats: int) -> list[dict]:
    """turborec alone: similarity, MF SGD and topk_dot at three data sizes (x1, x4, x16) and at
    each thread count. Quick: 1/64, 1/16, 1/4 of the full sizes; full: 1/16, 1/4, 1."""
    import mf_speed
    import similarity_speed
    import topk_retrieval

    import turborec

    scales = [1 / 64, 1 / 16, 1 / 4] if quick else [1 / 16, 1 / 4, 1.0]
    epochs = 5 if quick else mf_speed.EPOCHS
    points: list[dict] = []

    def record(task, scale, size, size_unit, t, seconds, runs, work, rate_unit, load):
        points.append({"task": task, "scale": scale, "size": size, "size_unit": size_unit, "threads": t,
                       "seconds": seconds, "runs": runs, "rate": work / seconds, "rate_unit": rate_unit,
                       "other_load": load.cores})
        print(f"  {task:<30} x{scale / scales[0]:<3.0f} {size:>12,} {size_unit:<13} {t} thr  {seconds:8.3f} s "
              f"({runs} runs)  {work / seconds:10.3g} {rate_unit}  [others busy: {load.cores:.2f} cores]", flush=True)

    for scale in scales:
        R = similarity_speed.dataset(scale)
        X = R.T.tocsr()
        madds = float((np.diff(R.indptr).astype(np.float64) ** 2).sum())
        for t in threads:
            with H.OtherLoad() as load:
                tm = H.timed(lambda: turborec.topk_similarity(X, similarity_speed.K, n_threads=t), repeats=repeats)
            record("item-item top-50 cosine", scale, R.nnz, "interactions", t, tm.seconds, tm.runs, madds / 1e9,
                   "G multiply-adds/s", load)
    for scale in scales:
        train, _ = mf_speed.explicit_data(scale)
        for t in threads:
            fits = []

            def fit():
                model = turborec.MatrixFactorization(factors=mf_speed.FACTORS, epochs=epochs, seed=0, n_threads=t)
                model.fit(train.matrix)
                fits.append(sum(h["seconds"] for h in model.history_))

            with H.OtherLoad() as load:
                tm = H.timed(fit, repeats=repeats)
            seconds = float(np.median(fits[-tm.runs:]))
            record(f"MF SGD ({mf_speed.FACTORS} factors)", scale, train.nnz, "ratings", t, seconds, tm.runs,
                   train.nnz * epochs / 1e6, "M updates/s", load)
    m, d, k = 50_000, 64, 10
    for scale in scales:
        n = int(100_000 * scale)
        rng = np.random.default_rng(0)
        q = rng.standard_normal((n, d), dtype=np.float32)
        items = rng.standard_normal((m, d), dtype=np.float32)
        seen = topk_retrieval.seen_items(n, m, 50, rng)
        for t in threads:
            with H.OtherLoad() as load:
                tm = H.timed(lambda: turborec.topk_dot(q, items, k, exclude=seen, n_threads=t), repeats=repeats)
            record(f"topk_dot ({m:,} items, d={d})", scale, n, "queries", t, tm.seconds, tm.runs, 2.0 * n * m * d / 1e9,
                   "GFLOP/s", load)
    return points


# ---- running -----------------------------------------------------------------------------------

def run_all(args) -> dict:
    import turborec

    quick = args.quick
    H.BUDGET_S = args.budget if args.budget is not None else (3.0 if quick else 60.0)
    cfg = turborec.config()
    n_cpus = cfg["available_cpus"]
    main_threads = turborec.effective_threads(args.threads)
    scale_threads = [int(x) for x in args.scaling_threads.split(",")] if args.scaling_threads else thread_counts(n_cpus)
    keys = list(TASK_KEYS) if not args.only else [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in TASK_KEYS]
    if unknown:
        raise SystemExit(f"--only: unknown task(s) {unknown}; choose from {', '.join(TASK_KEYS)}")
    started = time.perf_counter()
    machine = H.machine()
    print(f"machine: {machine}", flush=True)
    print("measuring the machine's limits", flush=True)
    limits = measure_limits(sorted({1, main_threads, *scale_threads}), quick)
    registry = tasks()
    task_keys: dict = {}
    results = {
        "mode": "quick" if quick else "full",
        "command": command_line(args),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine,
        "turborec_config": dict(cfg),
        "limits": limits,
        "versions": H.versions(*PEER_MODULES),
        "budget_s": H.BUDGET_S,
        "tasks": keys,
        "rows": [],
        "scaling": [],
        "skipped": [],
        "failed": [],
        "task_seconds": {},
        "other_load": {},  # cores other processes kept busy during each task
    }
    for key in keys:
        fn, what = registry[key]
        print(f"\n=== {key}: {what}", flush=True)
        t0 = time.perf_counter()
        with H.OtherLoad() as load:
            try:
                if key == "scaling":
                    results["scaling"] = scaling(quick, scale_threads, args.repeats)
                else:
                    kwargs = {"quick": quick, "threads": main_threads, "repeats": args.repeats}
                    if key in ML_TASKS and args.data is not None:
                        kwargs["data"] = args.data
                    accepted = inspect.signature(fn).parameters
                    rows = fn(**{k: v for k, v in kwargs.items() if k in accepted})
                    if not rows:
                        results["skipped"].append(f"{key}: no rows (dataset missing?)")
                    for r in rows:
                        results["rows"].append({"key": key, **r.to_dict()})
                        task_keys[r.task] = key
            except Exception as err:  # one broken peer must not cost the whole run; the report says so
                traceback.print_exc()
                results["failed"].append(f"{key}: {type(err).__name__}: {err}")
        results["task_seconds"][key] = time.perf_counter() - t0
        results["other_load"][key] = load.cores
        print(f"  [{key}: {results['task_seconds'][key]:.0f} s; other processes kept {load.cores:.2f} of "
              f"{n_cpus} cores busy meanwhile]", flush=True)
    hints = {"libmf": " (optional, not in the bench extra; see bench/mf_speed.py)",
             "lightfm": " (its sdist needs a patched build under current setuptools; see bench/content_quality.py)"}
    for module in ("faiss", "implicit", "sparse_dot_topn", "sklearn", "surprise", "libmf", "lightfm", "cornac"):
        if not H.has(module):
            results["skipped"].append(f"{module} not installed: its rows are missing"
                                      + hints.get(module, " (pip install '.[bench]')"))
    results["wall_seconds"] = time.perf_counter() - started
    results["task_keys"] = task_keys
    return results


def command_line(args) -> str:
    parts = ["python", "bench/compare.py"]
    if args.quick:
        parts.append("--quick")
    if args.only:
        parts += ["--only", args.only]
    if args.threads:
        parts += ["--threads", str(args.threads)]
    if args.scaling_threads:
        parts += ["--scaling-threads", args.scaling_threads]
    if args.repeats != 3:
        parts += ["--repeats", str(args.repeats)]
    return "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " + " ".join(shlex.quote(p) for p in parts)


# ---- report ------------------------------------------------------------------------------------

def _rows(results) -> list:
    return [H.Row.from_dict(d) for d in results["rows"]]


def _by_task(rows) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r.task, []).append(r)
    return out


def short_label(task: str) -> str:
    """'UserKNN rating prediction, ml-latest-small 5-fold, pearson, k=40' -> 'UserKNN rating
    prediction (ml-latest-small, pearson)': the data set, and the metric when the task names one."""
    from turborec.similarity import METRICS

    parts = task.split(", ")  # "10,000x50,000" has no space after its commas
    where = "ml-latest-small" if "ml-latest-small" in task else "synthetic"
    metric = next((p for p in parts[1:] if p in METRICS), None)
    return f"{parts[0]} ({where}, {metric})" if metric else f"{parts[0]} ({where})"


def _quality_pair(ours, peer) -> str:
    for key in QUALITY_KEYS:
        if ours is not None and key in ours.quality:
            a = ours.quality[key]
            b = peer.quality.get(key) if peer is not None else None
            b_txt = H.fmt_value(b) if isinstance(b, float) and math.isfinite(b) else "n/a"
            return f"{key} {H.fmt_value(a)} vs {b_txt}" if peer is not None else f"{key} {H.fmt_value(a)}"
    return ""


def _pair_load(ours, peer, task_load: float) -> float:
    """The larger other-load of the two rows a ratio compares; the task's when neither knows."""
    loads = [r.other_load for r in (ours, peer) if r is not None and r.other_load is not None
             and math.isfinite(r.other_load)]
    return max(loads) if loads else task_load


def headlines(results) -> list[dict]:
    out = []
    for task, rows in _by_task(_rows(results)).items():
        base, peer = H.pick_baseline(rows), H.pick_best_peer(rows)
        # the turborec row that mirrors the fastest peer (same model), else the first one
        ours = next((r for r in rows if r.role == "turborec" and peer is not None and r.counterpart == peer.name),
                    H.pick_turborec(rows))
        if ours is None:
            continue
        label = short_label(task)
        if sum(r.role == "turborec" for r in rows) > 1:  # say which of ours the ratios are for
            label += f": {ours.name.removeprefix('turborec ')}"
        key = results.get("task_keys", {}).get(task)
        out.append({
            "other_load": _pair_load(ours, peer, results.get("other_load", {}).get(key, float("nan"))),
            "task": task, "label": label, "turborec": ours.name, "seconds": ours.seconds,
            "threads": ours.threads,
            "baseline": base.name if base else None, "x_baseline": base.seconds / ours.seconds if base else None,
            "peer": peer.name if peer else None, "x_peer": peer.seconds / ours.seconds if peer else None,
            "quality": _quality_pair(ours, peer if peer is not None else base),
        })
    return out


def _human(v: float) -> str:
    """1,562 -> '1.56k', 5,000,000 -> '5M'."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _x(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}x" if v >= 100 else f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"


LOAD_FOOTNOTE = ("\\* cores that other processes on the machine kept busy while turborec's and the peer's rows "
                 "were measured (the larger of the two): above ~0.3 the ratio understates turborec, whose threads "
                 "wait for each other at barriers.")


def headline_table(results) -> str:
    lines = ["| task | turborec (s) | vs numpy/scipy baseline | vs fastest peer | quality (turborec vs that peer) "
             "| other load* |", "|---|---|---|---|---|---|"]
    for h in headlines(results):
        peer = f"{_x(h['x_peer'])} ({h['peer']})" if h["peer"] else "-"
        load = f"{h['other_load']:.1f}" if math.isfinite(h["other_load"]) else ""
        lines.append(f"| {h['label']} | {h['seconds']:.3f} | {_x(h['x_baseline'])} | {peer} | {h['quality']} | {load} |")
    return "\n".join(lines)


def machine_line(results) -> str:
    m = results["machine"]
    blas = H.simd_of("numpy") if "numpy" in sys.modules else ""
    return (f"{m['cpu']}, {m['cores']} cores available, {m.get('memory_gb', '?')} GB, {m.get('os', '')}, "
            f"Python {m['python']}; turborec SIMD {m['simd']}"
            + (f"; numpy's {results.get('blas', blas)}" if results.get("blas", blas) else ""))


def limits_line(results) -> str:
    lim = results["limits"]
    sg = ", ".join(f"{float(v):.0f} GFLOP/s at {k} thread{'s' if int(k) > 1 else ''}" for k, v in lim["sgemm_gflops"].items())
    cp = ", ".join(f"{float(v):.1f} GB/s at {k} thread{'s' if int(k) > 1 else ''}" for k, v in lim["copy_gbs"].items())
    return f"sgemm ({lim['sgemm_n']}^3, numpy BLAS): {sg}; copy bandwidth (1 GiB, read + write): {cp}"


def _load_cell(v) -> str:
    return f"{v:.2f}" if v is not None and math.isfinite(v) else ""


def write_report(results, out: Path) -> Path:
    rows = _rows(results)
    quick = results["mode"] == "quick"
    lines = ["# turborec benchmark report", ""]
    if quick:
        lines += ["> **Quick mode** (`--quick`): data at 1/10-1/16 of the issue's sizes, one fold of the "
                  "MovieLens comparisons, a 3 s timing budget per contender. For day-to-day work; the full run "
                  "(`python bench/compare.py`) gives the numbers to quote.", ""]
    lines += [
        f"- **Machine**: {machine_line(results)}",
        f"- **Measured limits** (this run): {limits_line(results)}",
        f"- **Command**: `{results['command']}`",
        f"- **Date**: {results['date']}; wall time {results['wall_seconds'] / 60:.1f} min "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in results['task_seconds'].items())})",
        "- **Other load** (cores other processes kept busy during each task, from /proc/stat): "
        + ", ".join(f"{k} {v:.2f}" for k, v in results.get("other_load", {}).items()),
        "- **Versions**: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v != "not installed"),
    ]
    if results["machine"].get("openblas_overrides"):
        lines.append(f"- **Warning**: BLAS overrides were set ({results['machine']['openblas_overrides']}): "
                     "numpy baselines may be slowed down.")
    lines += [
        "",
        "How to read the tables: *seconds* is the median of the timed runs after one warm-up call (*runs* "
        "says how many; a contender slower than half the time budget is timed once, its first call). "
        "Rows marked *sampled* ran on a subset and are scaled to the whole task. *x baseline* and "
        "*x best peer* are that contender's speed relative to the numpy/scipy baseline and to the fastest "
        "other library on the task (above 1: faster). *of machine limit* sets the achieved GFLOP/s against "
        "the sgemm speed and the estimated bytes against the copy bandwidth measured above at the same "
        "thread count. *peak MB* is resident-memory growth during the call (0 or blank: below sampling "
        "resolution or not measured). Every contender gets the same thread count (BLAS limited through "
        "threadpoolctl) unless it is single-threaded by design (Surprise, scipy's sparse product, Python "
        "loops): *threads* says what each one could use.",
    ]
    if results["machine"]["cores"] <= 4:
        lines += ["", f"This machine has {results['machine']['cores']} cores shared with other work: timings are "
                  "noisy (10-30% run to run); ratios of several x are meaningful, small differences are not. "
                  "The *other load* column says how many cores other processes kept busy while a task ran: "
                  "above ~0.3, multi-threaded rows (turborec's above all, whose threads meet at barriers) "
                  "were slowed down by the competition, not by their own work."]
    lines += ["", "## Headline ratios", "", headline_table(results), "", LOAD_FOOTNOTE, ""]
    for h in headlines(results):
        parts = []
        if h["x_baseline"]:
            parts.append(f"{_x(h['x_baseline'])} the numpy/scipy baseline")
        if h["x_peer"]:
            parts.append(f"{_x(h['x_peer'])} the fastest peer ({h['peer']})")
        if parts:
            lines.append(f"- {h['label']}: turborec at {' and '.join(parts)}" + (f"; {h['quality']}" if h['quality'] else ""))
    lines += ["", "## Plots", "", "![speed-ups](speedups.png)", ""]
    if results["scaling"]:
        lines += ["![time against data size](scaling_size.png)", "", "![throughput against threads](scaling_threads.png)",
                  ""]
    lines += ["## Tasks", ""]
    meanings = {}
    for task, trows in _by_task(rows).items():
        lines += [f"### {task}", ""]
        busy = results.get("other_load", {}).get(results.get("task_keys", {}).get(task), float("nan"))
        if math.isfinite(busy) and busy > LOADED:
            lines += [f"> Other processes kept {busy:.1f} of {results['machine']['cores']} cores busy while this "
                      "task ran: its timings are pessimistic, multi-threaded ones most.", ""]
        lines += [H.markdown_table(trows, limits=results["limits"], details=True), ""]
        for r in trows:
            for k in r.quality:
                if k in QUALITY_MEANING:
                    meanings[k] = QUALITY_MEANING[k]
    if meanings:
        lines += ["Quality columns:", ""] + [f"- *{k}*: {v}" for k, v in meanings.items()] + [""]
    if results["scaling"]:
        lines += ["## Scaling (turborec alone)", "",
                  "Data sizes x1, x4, x16 (interactions for the similarity, ratings for MF, queries for topk_dot); "
                  "each size at each thread count. Speed-up is against 1 thread at the same size.", "",
                  "| task | size | threads | seconds | runs | throughput | speed-up | parallel efficiency | other load |",
                  "|---|---|---|---|---|---|---|---|---|"]
        one = {(p["task"], p["size"]): p["seconds"] for p in results["scaling"] if p["threads"] == 1}
        for p in results["scaling"]:
            base = one.get((p["task"], p["size"]))
            sp = base / p["seconds"] if base else float("nan")
            lines.append(f"| {p['task']} | {p['size']:,} {p['size_unit']} | {p['threads']} | {p['seconds']:.3f} | "
                         f"{p['runs']} | {H.fmt_sig(p['rate'])} {p['rate_unit']} | {sp:.2f} | "
                         f"{100 * sp / p['threads']:.0f}% | {_load_cell(p.get('other_load'))} |")
        lines.append("")
    if results["skipped"] or results["failed"]:
        lines += ["## Skipped and failed", ""]
        lines += [f"- skipped: {s}" for s in results["skipped"]]
        lines += [f"- **failed**: {s}" for s in results["failed"]]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# ---- plots -------------------------------------------------------------------------------------

LOADED = 0.3  # cores busy with other processes above which a measurement is flagged


def _mark_loaded(ax, points) -> None:
    if points:
        ax.scatter(*zip(*points), s=140, facecolors="none", edgecolors="red", linewidths=1.2, zorder=5,
                   label=f"other processes > {LOADED} cores busy")


def plot_all(results, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    made = []
    mode = "quick mode" if results["mode"] == "quick" else "full mode"
    cores = results["machine"]["cores"]
    hs = [h for h in headlines(results) if h["x_baseline"] or h["x_peer"]]
    if hs:
        fig, ax = plt.subplots(figsize=(11, 0.6 * len(hs) + 1.8))
        y = np.arange(len(hs))
        h_b = [h["x_baseline"] or np.nan for h in hs]
        h_p = [h["x_peer"] or np.nan for h in hs]
        ax.barh(y - 0.2, h_b, 0.38, label="vs numpy/scipy baseline", color="#4C72B0")
        ax.barh(y + 0.2, h_p, 0.38, label="vs fastest installed peer", color="#DD8452")
        for yy, v in zip(y - 0.2, h_b):
            if np.isfinite(v):
                ax.text(v * 1.06, yy, _x(v), va="center", fontsize=8)
        for yy, v in zip(y + 0.2, h_p):
            if np.isfinite(v):
                ax.text(v * 1.06, yy, _x(v), va="center", fontsize=8)
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_yticks(y, [textwrap.fill(h["label"], 48) for h in hs], fontsize=8)
        ax.invert_yaxis()
        vals = [v for v in h_b + h_p if np.isfinite(v)]
        ax.set_xlim(min(0.5, min(vals) / 1.5), max(vals) * 3)
        ax.set_xlabel("speed-up of turborec: their seconds / turborec's seconds (log scale; right of 1x = turborec faster)")
        ax.set_title(f"turborec speed-ups, same thread count ({cores} cores), {mode}", fontsize=10)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.legend(loc="best", fontsize=8)
        ax.grid(axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        made.append(out / "speedups.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    pts = results["scaling"]
    if pts:
        names = list(dict.fromkeys(p["task"] for p in pts))
        threads = sorted({p["threads"] for p in pts})
        fig, axes = plt.subplots(1, len(names), figsize=(4.3 * len(names), 4))
        for ax, name in zip(np.atleast_1d(axes), names):
            sub = [p for p in pts if p["task"] == name]
            for t in threads:
                line = sorted((p["size"], p["seconds"]) for p in sub if p["threads"] == t)
                ax.plot(*zip(*line), marker="o", label=f"{t} thread{'s' if t > 1 else ''}")
            _mark_loaded(ax, [(p["size"], p["seconds"]) for p in sub if p.get("other_load", 0) > LOADED])
            ref = sorted((p["size"], p["seconds"]) for p in sub if p["threads"] == threads[0])
            xs = np.array([r[0] for r in ref], float)
            ax.plot(xs, ref[0][1] * xs / xs[0], ls="--", color="grey", lw=1, label="linear in size")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(ticker.FixedLocator(xs))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _human(v)))
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.set_xlim(xs[0] / 1.6, xs[-1] * 1.6)
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_xlabel(f"data size ({sub[0]['size_unit']}, log scale)")
            ax.set_ylabel("seconds (log scale)")
            ax.set_title(name, fontsize=10)
            ax.grid(which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"turborec: time against data size (x1, x4, x16), {mode}", fontsize=11)
        fig.tight_layout()
        made.append(out / "scaling_size.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)

        fig, axes = plt.subplots(1, len(names), figsize=(4.3 * len(names), 4))
        for ax, name in zip(np.atleast_1d(axes), names):
            sub = [p for p in pts if p["task"] == name]
            sizes = sorted({p["size"] for p in sub})
            for s in sizes:
                line = sorted((p["threads"], p["rate"]) for p in sub if p["size"] == s)
                ax.plot(*zip(*line), marker="o", label=f"{s:,} {sub[0]['size_unit']}")
            _mark_loaded(ax, [(p["threads"], p["rate"]) for p in sub if p.get("other_load", 0) > LOADED])
            big = sorted((p["threads"], p["rate"]) for p in sub if p["size"] == sizes[-1])
            ts = np.array([b[0] for b in big], float)
            ax.plot(ts, big[0][1] * ts / ts[0], ls="--", color="grey", lw=1, label="linear in threads")
            ax.set_xticks(threads)
            ax.set_xlabel("threads")
            ax.set_ylabel(f"throughput ({sub[0]['rate_unit']})")
            ax.set_ylim(bottom=0)
            ax.set_title(name, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"turborec: throughput against threads, {mode} ({cores} cores available)", fontsize=11)
        fig.tight_layout()
        made.append(out / "scaling_threads.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


# ---- README ------------------------------------------------------------------------------------

def readme_section(results, out: Path, readme: Path) -> str:
    rel = os.path.relpath(out, readme.parent).replace(os.sep, "/")
    quick = results["mode"] == "quick"
    lines = [
        README_START,
        "## Performance",
        "",
        "<!-- generated by bench/compare.py from " + f"{rel}/results.json; edit the script, not this section -->",
        "",
        ("**Quick-mode numbers** (`--quick`: reduced data sizes, one MovieLens fold, few repeats) "
         if quick else "Full-mode numbers ")
        + f"from {results['date'][:10]} on {machine_line(results)}; "
        f"{results['machine']['cores']} cores shared with other work, so expect 10-30% noise. "
        "Every contender runs in the same process with the same thread count; quality is measured on the same "
        f"output. Full tables, versions and the machine's measured limits: [{rel}/report.md]({rel}/report.md).",
        "",
        headline_table(results),
        "",
        LOAD_FOOTNOTE,
        "",
        f"![turborec speed-ups against the numpy/scipy baseline and the fastest peer]({rel}/speedups.png)",
    ]
    if results["scaling"]:
        lines += ["", f"![turborec time against data size at 1 and more threads]({rel}/scaling_size.png)"]
    lines += [
        "",
        "Reproduce (peers come with the `bench` extra; a missing peer is skipped with a note):",
        "",
        "```bash",
        'pip install ".[bench]"',
        "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py --quick   # a few minutes",
        "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py           # full sizes (~16 min, 8 GB)",
        "```",
        "",
        "MovieLens comparisons need ml-latest-small in `../shared/datasets` or `$TURBOREC_DATASETS`.",
        README_END,
    ]
    return "\n".join(lines)


def update_readme(results, out: Path, readme: Path) -> bool:
    text = readme.read_text()
    section = readme_section(results, out, readme)
    if README_START in text and README_END in text:
        a, b = text.index(README_START), text.index(README_END) + len(README_END)
        text = text[:a] + section + text[b:]
    else:  # first time: before "## Layout", or at the end
        anchor = text.find("\n## Layout")
        text = (text[:anchor + 1] + section + "\n\n" + text[anchor + 1:]) if anchor >= 0 else text.rstrip() + "\n\n" + section + "\n"
    readme.write_text(text)
    return True


# ---- main --------------------------------------------------------------------------------------

def render(results, out: Path, readme: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots = plot_all(results, out)
    report = write_report(results, out)
    print(f"wrote {report}" + "".join(f", {p.name}" for p in plots))
    if readme is not None:
        update_readme(results, out, readme)
        print(f"updated the Performance section of {readme}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data and few repeats: a few minutes")
    ap.add_argument("--only", help=f"comma-separated tasks: {','.join(TASK_KEYS)}")
    ap.add_argument("--threads", type=int, default=0, help="threads for every contender (0 = all available)")
    ap.add_argument("--scaling-threads", help="thread counts for the scaling runs, e.g. 1,2,4 (default: 1, 2, 4, ... cores)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per contender (fewer when slow)")
    ap.add_argument("--budget", type=float, help="seconds of timed runs per contender (default 3 quick, 60 full)")
    ap.add_argument("--data", type=Path, help="ml-latest-small directory (default: $TURBOREC_DATASETS or ../shared)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    ap.add_argument("--render", action="store_true", help="only re-draw report, plots and README from results.json")
    ap.add_argument("--keep-env", action="store_true", help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = ap.parse_args(argv)
    _reexec_without_overrides(argv)
    out = args.out.resolve()
    if args.render:
        results = json.loads((out / "results.json").read_text())
    else:
        results = run_all(args)
        results["blas"] = H.simd_of("numpy")
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    full_run = set(results["tasks"]) == set(TASK_KEYS)
    readme = None if args.no_readme else args.readme
    if readme is not None and not full_run:
        print("README not updated: it shows a run of every task (this one ran only "
              f"{', '.join(results['tasks'])}); --no-readme silences this")
        readme = None
    render(results, out, readme)
    print(f"\nwall time {results['wall_seconds'] / 60:.1f} min")
    if results["failed"]:
        print("FAILED: " + "; ".join(results["failed"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
