"""Shared benchmark helpers: timing, the machine's own limits, peak memory, library versions.

Timings are medians of several runs after a warm-up. Peak memory is sampled from /proc/self/statm
while a call runs (C++ allocations are invisible to tracemalloc), reported as growth over the
resident size before the call.
"""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field

import numpy as np


def _fixed_mmap_threshold() -> None:
    """Serve every large allocation by mmap, so freed buffers leave the resident set and the next
    call's peak shows up in RSS (glibc otherwise raises the threshold and recycles heap memory)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD = 64 KiB
    except (OSError, AttributeError):
        pass


_fixed_mmap_threshold()

def median_seconds(fn, repeats: int = 3, warmup: int = 1) -> tuple[float, object]:
    """Median wall time of fn() over `repeats` runs after `warmup` runs; returns (seconds, last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Context manager: peak resident-set growth (bytes) while the block runs."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0

    def __enter__(self):
        self._base = _rss_bytes()
        self._max = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._max = max(self._max, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, _rss_bytes())
        self.peak = self._max - self._base


def sgemm_gflops(n: int = 4096, repeats: int = 3) -> float:
    """This machine's float32 matrix-multiply speed through numpy's BLAS (all BLAS threads)."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    seconds, _ = median_seconds(lambda: a @ a, repeats=repeats)
    return 2.0 * n**3 / seconds / 1e9


def memory_bandwidth_gbs(n_bytes: int = 1 << 30) -> float:
    """Copy bandwidth (read + write) of one large numpy copy, GB/s."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    seconds, _ = median_seconds(lambda: np.copyto(dst, src), repeats=3)
    return 2.0 * n_bytes / seconds / 1e9


def versions(*modules: str) -> dict[str, str]:
    out = {}
    for name in modules:
        try:
            out[name] = getattr(importlib.import_module(name), "__version__", "?")
        except Exception:
            out[name] = "not installed"
    return out


def machine() -> dict:
    import turborec

    cfg = turborec.config()
    return {
        "cpu": _cpu_model(),
        "cores": cfg["available_cpus"],
        "threads": cfg["default_threads"],
        "simd": cfg["simd_active"],
        "python": platform.python_version(),
        "openblas_overrides": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def has(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


@dataclass
class Row:
    """One contender on one task."""

    task: str
    name: str
    seconds: float
    work: float = 0.0          # FLOPs (or bytes) done, for the rate column
    unit: str = "GFLOP/s"
    peak_bytes: int = 0
    quality: dict = field(default_factory=dict)
    note: str = ""
    threads: int = 0

    @property
    def rate(self) -> float:
        return self.work / self.seconds / 1e9 if self.seconds > 0 and self.work else float("nan")


def markdown_table(rows: list[Row], baseline: str, best_peer: str | None = None) -> str:
    base = next((r for r in rows if r.name == baseline), None)
    peer = next((r for r in rows if r.name == best_peer), None) if best_peer else None
    quality_keys = sorted({k for r in rows for k in r.quality})
    head = ["contender", "seconds", "rate", "x baseline", "x best peer", "peak MB", *quality_keys, "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.name,
            f"{r.seconds:.3f}",
            f"{r.rate:.1f} {r.unit}" if r.work else "",
            f"{base.seconds / r.seconds:.2f}" if base else "",
            f"{peer.seconds / r.seconds:.2f}" if peer else "",
            f"{r.peak_bytes / 2**20:.0f}",
            *[(f"{r.quality[k]:.4f}" if isinstance(r.quality.get(k), float) else str(r.quality.get(k, ""))) for k in quality_keys],
            r.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
