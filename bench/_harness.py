"""Shared benchmark helpers: timing, the machine's own limits, peak memory, library versions.

Timings are medians of several runs after a warm-up (fewer runs for slow contenders: see
:func:`timed` and ``BUDGET_S``). Peak memory is sampled from /proc/self/statm while a call runs
(C++ allocations are invisible to tracemalloc), reported as growth over the resident size before
the call.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# Seconds of timed runs one contender may take before fewer repeats are run (None: no limit).
# compare.py sets it; a contender whose first call takes more than half of it is timed once.
BUDGET_S: float | None = None


def _fixed_mmap_threshold() -> None:
    """Serve every large allocation by mmap, so freed buffers leave the resident set and the next
    call's peak shows up in RSS (glibc otherwise raises the threshold and recycles heap memory)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD = 64 KiB
    except (OSError, AttributeError):
        pass


_fixed_mmap_threshold()


@dataclass
class Timing:
    seconds: float      # median of the timed runs
    result: object      # what the last call returned
    runs: int           # timed runs behind the median
    times: list


def timed(fn, repeats: int = 3, warmup: int = 1, budget=...) -> Timing:
    """Median wall time of fn() over up to `repeats` runs after `warmup` runs.

    With a budget in seconds (default: ``BUDGET_S``; None: no limit): a call slower than half the
    budget is timed once (its first call is the measurement: a warm-up is noise next to it),
    otherwise the repeats are cut so that they fit in the budget (at least one).
    """
    budget = BUDGET_S if budget is ... else budget
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    if budget is not None and first * 2 > budget:
        return Timing(first, result, 1, [first])
    times = []
    if warmup == 0:
        times.append(first)
    for _ in range(max(warmup - 1, 0)):
        result = fn()
    if budget is not None:
        repeats = max(1, min(repeats, int(budget / max(first, 1e-9))))
    while len(times) < repeats:
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return Timing(statistics.median(times), result, len(times), times)


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


def _cpu_busy_seconds() -> float | None:
    """CPU seconds all processes on this machine have been busy (user + system + ...), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


class OtherLoad:
    """Context manager: how many cores *other* processes kept busy while the block ran (machine-wide
    busy time from /proc/stat minus this process's own CPU time, over the wall time). On a shared
    machine this says which timings were taken while something else competed for the cores."""

    def __init__(self):
        self.cores = float("nan")

    def __enter__(self):
        self._t, self._busy, self._own = time.perf_counter(), _cpu_busy_seconds(), sum(os.times()[:2])
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t
        busy = _cpu_busy_seconds()
        # /proc/stat counts in clock ticks (10 ms): shorter blocks cannot tell, they stay NaN
        if busy is not None and self._busy is not None and wall >= 0.25:
            own = sum(os.times()[:2]) - self._own
            self.cores = min(max(0.0, (busy - self._busy - own) / wall), float(os.cpu_count() or 1))


_since_last_row = OtherLoad().__enter__()


def other_load_since_last_row() -> float:
    """Cores other processes kept busy since the previous Row was made (or since import): rows are
    made right after their measurement, so this is about the load during it."""
    global _since_last_row
    _since_last_row.__exit__(None, None, None)
    cores = _since_last_row.cores
    _since_last_row = OtherLoad().__enter__()
    return cores


# ---- the machine's own limits ------------------------------------------------------------------

def sgemm_gflops(n: int = 4096, repeats: int = 3, threads: int | None = None) -> float:
    """This machine's float32 matrix-multiply speed through numpy's BLAS (`threads` BLAS threads,
    default: whatever BLAS uses now)."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    if threads is None:
        seconds = timed(lambda: a @ a, repeats=repeats, budget=None).seconds
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads, user_api="blas"):
            seconds = timed(lambda: a @ a, repeats=repeats, budget=None).seconds
    return 2.0 * n**3 / seconds / 1e9


def memory_bandwidth_gbs(n_bytes: int = 1 << 30, threads: int = 1) -> float:
    """Copy bandwidth (bytes read + bytes written per second) of one large copy, GB/s, split over
    `threads` Python threads (numpy releases the GIL while copying)."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    if threads <= 1:
        seconds = timed(lambda: np.copyto(dst, src), repeats=3, budget=None).seconds
    else:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, src.size, threads + 1).astype(np.int64)
        parts = [(dst[b:e], src[b:e]) for b, e in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(threads) as pool:
            seconds = timed(lambda: list(pool.map(lambda p: np.copyto(*p), parts)), repeats=3, budget=None).seconds
    return 2.0 * n_bytes / seconds / 1e9


# ---- libraries ----------------------------------------------------------------------------------

# Contender-name prefix -> importable module; the first match names the row's library.
_LIBRARIES = (
    ("turborec", "turborec"),
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("faiss", "faiss"),
    ("implicit", "implicit"),
    ("sparse_dot_topn", "sparse_dot_topn"),
    ("scikit-learn", "sklearn"),
    ("sklearn", "sklearn"),
    ("scikit-surprise", "surprise"),
    ("surprise", "surprise"),
    ("LIBMF", "libmf"),
    ("libmf", "libmf"),
    ("LightFM", "lightfm"),
    ("lightfm", "lightfm"),
    ("cornac", "cornac"),
)


def library_of(name: str) -> str | None:
    """The module a contender (row name) runs in, from its name's first word."""
    for prefix, module in _LIBRARIES:
        if name.startswith(prefix):
            return module
    return None


def role_of(name: str) -> str:
    """'turborec', 'baseline' (plain numpy/scipy) or 'peer' (another library)."""
    lib = library_of(name)
    return "turborec" if lib == "turborec" else "baseline" if lib in ("numpy", "scipy") else "peer"


def version_of(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return "not installed"
    v = getattr(mod, "__version__", None)
    if v is None:
        try:
            from importlib.metadata import version

            v = version({"sklearn": "scikit-learn", "surprise": "scikit-surprise", "faiss": "faiss-cpu"}.get(module, module))
        except Exception:
            v = "?"
    return str(v)


def versions(*modules: str) -> dict[str, str]:
    return {name: version_of(name) for name in modules}


_SIMD_CACHE: dict[str, str] = {}


def simd_of(module: str | None) -> str:
    """The instruction set a library's kernels use here, where the library says: turborec's active
    level, OpenBLAS's core for numpy/scipy/scikit-learn, faiss's compile options; else ''."""
    if module is None:
        return ""
    if module == "turborec":
        import turborec

        return turborec.get_simd_level()  # not cached: set_simd_level may change it
    if module in _SIMD_CACHE:
        return _SIMD_CACHE[module]
    out = ""
    try:
        if module in ("numpy", "scipy", "sklearn"):
            from threadpoolctl import threadpool_info

            blas = [i for i in threadpool_info() if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")]
            blas = blas or [i for i in threadpool_info() if i.get("user_api") == "blas"]
            if blas:
                out = f"BLAS: {blas[0].get('internal_api', 'blas')} {blas[0].get('architecture', '?')}"
        elif module == "faiss":
            import faiss

            opts = faiss.get_compile_options().split()
            out = "faiss " + ("AVX512" if "AVX512" in opts else "AVX2" if "AVX2" in opts else "generic")
    except Exception:
        out = ""
    _SIMD_CACHE[module] = out
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
        "os": f"{platform.system()} {platform.release()}",
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
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


def find_dataset(name: str = "ml-latest-small") -> Path | None:
    """A shared dataset directory: $TURBOREC_DATASETS/name, else ../shared/datasets/name beside the
    checkout (or beside its parent, for a worktree in a subdirectory); None when none has it."""
    candidates = []
    if os.environ.get("TURBOREC_DATASETS"):
        candidates.append(Path(os.environ["TURBOREC_DATASETS"]) / name)
    candidates += [REPO.parent / "shared" / "datasets" / name, REPO.parent.parent / "shared" / "datasets" / name]
    for c in candidates:
        if (c / "ratings.csv").is_file():
            return c
    return None


# ---- results -----------------------------------------------------------------------------------

@dataclass
class Row:
    """One contender on one task."""

    task: str
    name: str
    seconds: float
    work: float = 0.0          # units of work done, so that work / seconds / 1e9 is in `unit`
    unit: str = "GFLOP/s"
    peak_bytes: int = 0
    quality: dict = field(default_factory=dict)
    note: str = ""
    threads: int = 0
    runs: int = 0              # timed runs behind `seconds` (0: not recorded)
    flops: float = 0.0         # floating-point operations done (for GFLOP/s against sgemm)
    bytes_moved: float = 0.0   # memory traffic estimate (for GB/s against copy bandwidth)
    role: str = ""             # 'turborec', 'baseline' or 'peer' (default: from the name)
    counterpart: str = ""      # for a turborec row: the name of the peer row running the same model
    library: str = ""          # the module the contender runs in (default: from the name)
    simd: str = ""
    versions: dict = field(default_factory=dict)
    other_load: float | None = None  # cores other processes kept busy while it was measured (about)

    def __post_init__(self):
        if self.other_load is None:  # made just after its measurement: the load since the previous row
            self.other_load = other_load_since_last_row()
        if not self.flops and self.unit == "GFLOP/s":
            self.flops = self.work
        self.role = self.role or role_of(self.name)
        self.library = self.library or (library_of(self.name) or "")
        if not self.simd:
            self.simd = simd_of(self.library or None)
        if not self.versions and self.library:
            self.versions = {self.library: version_of(self.library)}

    @property
    def rate(self) -> float:
        return self.work / self.seconds / 1e9 if self.seconds > 0 and self.work else float("nan")

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9 if self.seconds > 0 and self.flops else float("nan")

    @property
    def gbs(self) -> float:
        return self.bytes_moved / self.seconds / 1e9 if self.seconds > 0 and self.bytes_moved else float("nan")

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Row":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known.setdefault("other_load", float("nan"))  # not measured then; never measure it now
        return cls(**known)


def _fast(r: Row) -> float:
    return r.seconds if r.seconds > 0 and math.isfinite(r.seconds) else float("inf")


def pick_baseline(rows: list[Row]) -> Row | None:
    """The task's numpy/scipy baseline: the first such row (modules list the preferred one first)."""
    return next((r for r in rows if r.role == "baseline" and math.isfinite(_fast(r))), None)


def pick_best_peer(rows: list[Row]) -> Row | None:
    """The fastest other library on the task (any installed peer; None when none ran)."""
    peers = [r for r in rows if r.role == "peer" and math.isfinite(_fast(r))]
    return min(peers, key=_fast) if peers else None


def pick_turborec(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.role == "turborec"), None)


def fmt_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "" if math.isnan(v) else str(v)
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.1f}"
        return f"{v:.4f}"
    return str(v)


def fmt_sig(v: float) -> str:
    """Three significant digits, thousands separated."""
    if not math.isfinite(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _ratio(a: Row | None, r: Row) -> str:
    if a is None or not (r.seconds > 0):
        return ""
    x = a.seconds / r.seconds
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def markdown_table(rows: list[Row], baseline: str | None = None, best_peer: str | None = None,
                   limits: dict | None = None, details: bool = False) -> str:
    """One task's rows as a markdown table. baseline / best_peer name rows; by default the first
    numpy/scipy row and the fastest other library. limits: {'sgemm_gflops': {threads: GFLOP/s},
    'copy_gbs': {threads: GB/s}} for the share of the machine's limits. details adds threads, SIMD
    and version columns."""
    base = next((r for r in rows if r.name == baseline), None) if baseline else pick_baseline(rows)
    peer = next((r for r in rows if r.name == best_peer), None) if best_peer else pick_best_peer(rows)
    quality_keys = list(dict.fromkeys(k for r in rows for k in r.quality))
    show_rate = any(r.work for r in rows)
    show_limit = any(r.flops or r.bytes_moved for r in rows)
    head = ["contender", "seconds", "runs"]
    head += ["rate"] if show_rate else []
    head += ["x baseline", "x best peer"]
    head += ["of machine limit"] if show_limit else []
    head += ["peak MB", *quality_keys]
    head += ["threads", "SIMD", "version", "other load"] if details else []
    head += ["note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        tag = " (baseline)" if r is base else " (best peer)" if r is peer else ""
        cells = [f"{r.name}{tag}", f"{r.seconds:.3f}" if r.seconds < 100 else f"{r.seconds:,.0f}", str(r.runs or "")]
        if show_rate:
            cells.append(f"{fmt_sig(r.rate)} {r.unit}" if r.work else "")
        cells += [_ratio(base, r), _ratio(peer, r)]
        if show_limit:
            cells.append(limit_share(r, limits) if limits else "")
        cells.append(f"{r.peak_bytes / 2**20:,.0f}" if r.peak_bytes else "")
        cells += [fmt_value(r.quality[k]) if k in r.quality else "" for k in quality_keys]
        if details:
            cells += [str(r.threads or ""), r.simd, ", ".join(f"{k} {v}" for k, v in r.versions.items()),
                      f"{r.other_load:.2f}" if math.isfinite(r.other_load) else ""]
        cells.append(r.note)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _at_threads(table: dict, threads: int) -> float | None:
    if not table:
        return None
    table = {int(k): v for k, v in table.items()}
    if threads in table:
        return table[threads]
    below = [t for t in table if t <= threads]
    return table[max(below)] if below else table[min(table)]


def limit_share(r: Row, limits: dict) -> str:
    """'x GFLOP/s = y% sgemm; z GB/s = w% copy' at the row's thread count."""
    parts = []
    if r.flops:
        peak = _at_threads(limits.get("sgemm_gflops", {}), r.threads or 1)
        same = r.unit == "GFLOP/s" and r.flops == r.work  # the rate column says it already
        parts.append(("" if same else f"{fmt_sig(r.gflops)} GFLOP/s = ")
                     + (f"{fmt_sig(100 * r.gflops / peak)}% of sgemm" if peak else ""))
    if r.bytes_moved:
        peak = _at_threads(limits.get("copy_gbs", {}), r.threads or 1)
        parts.append(f"{fmt_sig(r.gbs)} GB/s" + (f" = {fmt_sig(100 * r.gbs / peak)}% copy" if peak else ""))
    return "; ".join(parts)
