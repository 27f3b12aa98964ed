"""Build facts, the SIMD level in use, and ``show_config``."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Iterator

from . import _kernels
from ._threads import available_cpus, default_threads
from ._lowp_levels import lowp_config as _lowp_config

SIMD_LEVELS = ("scalar", "avx2", "avx512")


def supported_simd_levels() -> list[str]:
    """Every level this CPU and build can run, lowest first (what the tests iterate over)."""
    best = SIMD_LEVELS.index(_kernels.simd_supported())
    return list(SIMD_LEVELS[: best + 1])


def get_simd_level() -> str:
    """The SIMD level the kernels use now."""
    return _kernels.simd_active()


def set_simd_level(level: str) -> None:
    """Select the SIMD level for all later kernel calls (process-wide).

    Only levels up to the best this CPU supports are accepted; use it to compare paths or to work
    around a suspected miscompiled path. The environment variable ``TURBOREC_SIMD`` sets the
    starting level at import.
    """
    if level not in SIMD_LEVELS:
        raise ValueError(f"level must be one of {SIMD_LEVELS}, got {level!r}")
    _kernels.set_simd_active(level)


@contextlib.contextmanager
def simd_level(level: str) -> Iterator[None]:
    """Context manager: run a block at another SIMD level, then restore the previous one."""
    previous = get_simd_level()
    set_simd_level(level)
    try:
        yield
    finally:
        set_simd_level(previous)


def _apply_env_simd() -> None:
    requested = os.environ.get("TURBOREC_SIMD", "").strip().lower()
    if not requested:
        return
    if requested not in SIMD_LEVELS:
        warnings.warn(
            f"TURBOREC_SIMD={requested!r} is not one of {SIMD_LEVELS}; ignoring it", RuntimeWarning, stacklevel=3
        )
        return
    supported = supported_simd_levels()
    if requested not in supported:
        warnings.warn(
            f"TURBOREC_SIMD={requested!r} is not supported here; using {supported[-1]!r}",
            RuntimeWarning,
            stacklevel=3,
        )
        requested = supported[-1]
    _kernels.set_simd_active(requested)


def config() -> dict:
    """The facts :func:`show_config` prints, as a dict."""
    return {
        "version": _kernels.version,
        "python": sys.version.split()[0],
        "compiler": _kernels.compiler,
        "openmp": _kernels.has_openmp,
        "simd_compiled": _kernels.simd_compiled,
        "simd_supported": _kernels.simd_supported(),
        "simd_active": _kernels.simd_active(),
        "native_build": _kernels.native_build,
        "available_cpus": available_cpus(),
        "default_threads": default_threads(),
        **_lowp_config(),
    }


def show_config(file=None) -> None:
    """Print version, compiler, OpenMP, SIMD levels (compiled / supported / in use) and threads."""
    facts = config()
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}} : {value}", file=file or sys.stdout)
