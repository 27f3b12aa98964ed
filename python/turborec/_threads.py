"""How many threads a kernel gets: ``n_threads=0`` means every core this process may use."""

from __future__ import annotations

import numbers
import os
import warnings

from . import _core

# Beyond this many threads per usable core a request is a mistake, not a tuning choice.
_MAX_OVERSUBSCRIPTION = 16


def _cgroup_cpu_limit() -> float | None:
    """CPU quota of this process's cgroup (v2 ``cpu.max`` or v1 CFS files), or None if unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def available_cpus() -> int:
    """Cores this process may run on: CPU affinity, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, max(1, int(limit)))
    return max(1, n)


def default_threads() -> int:
    """Threads used for ``n_threads=0``: ``OMP_NUM_THREADS`` when set, else :func:`available_cpus`."""
    if not _core.has_openmp:
        return 1
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cpus()


def resolve_threads(n_threads, name: str = "n_threads") -> int:
    """Validate a user's thread count and turn it into the positive count handed to the kernels."""
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"{name} must be an int (0 = all cores), got {type(n_threads).__name__}")
    n_threads = int(n_threads)
    if n_threads < 0:
        raise ValueError(f"{name} must be 0 (all available cores) or a positive count, got {n_threads}")
    if n_threads == 0:
        return default_threads()
    limit = _MAX_OVERSUBSCRIPTION * available_cpus()
    if n_threads > limit:
        raise ValueError(
            f"{name}={n_threads} is more than {_MAX_OVERSUBSCRIPTION} threads per available core "
            f"({available_cpus()} cores); use 0 for all cores"
        )
    if n_threads > 1 and not _core.has_openmp:
        warnings.warn(
            f"{name}={n_threads} requested, but turborec was built without OpenMP; running single-threaded",
            RuntimeWarning,
            stacklevel=3,
        )
        return 1
    return n_threads
