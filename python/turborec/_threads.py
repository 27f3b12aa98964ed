"""How many threads a call gets: one policy, shared with the C++ core (``cpp/src/threading.cpp``).

``n_threads=0`` means ``OMP_NUM_THREADS`` when it is set, else every core this process may run on
(its CPU affinity, capped by a cgroup CPU quota). Public functions and models resolve the count
once per call with :func:`effective_threads` and hand the positive result to the kernels.
"""

from __future__ import annotations

import numbers
import warnings

from . import _kernels

# Beyond this many threads per usable core a request is a mistake, not a tuning choice.
_MAX_OVERSUBSCRIPTION = 16


def available_cpus() -> int:
    """Cores this process may run on: CPU affinity, capped by a cgroup CPU quota."""
    return int(_kernels.available_cpus())


def default_threads() -> int:
    """Threads used for ``n_threads=0``: ``OMP_NUM_THREADS`` when set, else :func:`available_cpus`
    (1 in a build without OpenMP). Read once per process, as OpenMP itself does."""
    return int(_kernels.default_threads())


def effective_threads(n_threads=0, name: str = "n_threads") -> int:
    """The positive thread count a call with ``n_threads`` runs on (0 = :func:`default_threads`).

    Raises TypeError for a non-int and ValueError for a negative count or more than 16 threads per
    available core; warns (RuntimeWarning) and returns 1 when more than one thread is asked of a
    build without OpenMP.
    """
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
    if n_threads > 1 and not _kernels.has_openmp:
        warnings.warn(
            f"{name}={n_threads} requested, but turborec was built without OpenMP; running single-threaded",
            RuntimeWarning,
            stacklevel=3,
        )
        return 1
    return n_threads


