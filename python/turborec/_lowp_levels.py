"""Which low-precision (int8 / bf16) retrieval paths run: levels, the knob, and TURBOREC_LOWP.

Levels, lowest first: ``"scalar"`` (portable C++) and ``"avx512"`` (AVX-512 VNNI ``vpdpbusd`` for
int8, AVX512-BF16 ``vdpbf16ps`` for bf16). Each type runs at the lowest of the cap set here, the
best its CPU supports, and ``"scalar"`` whenever :func:`turborec.set_simd_level` chose a level
below ``"avx512"``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator

from . import _kernels

LOWP_LEVELS = ("scalar", "avx512")
LOWP_TYPES = ("int8", "bf16")


def _check_type(dtype: str) -> str:
    if dtype not in LOWP_TYPES:
        raise ValueError(f"dtype must be one of {LOWP_TYPES}, got {dtype!r}")
    return dtype


def supported_lowp_levels(dtype: str) -> list[str]:
    """Every low-precision level this CPU and build run for ``dtype`` ("int8" or "bf16"), lowest first."""
    best = LOWP_LEVELS.index(_kernels.lowp_supported(dtype=_check_type(dtype)))
    return list(LOWP_LEVELS[: best + 1])


def get_lowp_level(dtype: str) -> str:
    """The level the ``dtype`` kernels use now."""
    return _kernels.lowp_active(dtype=_check_type(dtype))


def set_lowp_level(level: str) -> None:
    """Cap the low-precision level for later calls (process-wide); tests use it to force each path.

    Raises ValueError for an unknown level or one neither type supports here.
    """
    if level not in LOWP_LEVELS:
        raise ValueError(f"level must be one of {LOWP_LEVELS}, got {level!r}")
    _kernels.set_lowp_cap(level=level)


@contextlib.contextmanager
def lowp_level(level: str) -> Iterator[None]:
    """Context manager: run a block with another low-precision cap, then restore the previous one."""
    previous = _kernels.lowp_cap()
    set_lowp_level(level)
    try:
        yield
    finally:
        _kernels.set_lowp_cap(level=previous)


_INSTRUCTIONS = {"int8": "AVX-512 VNNI vpdpbusd", "bf16": "AVX512-BF16 vdpbf16ps"}


def lowp_config() -> dict:
    """The level each type runs at now and what it supports, for show_config."""
    out = {}
    for t in LOWP_TYPES:
        level = get_lowp_level(t)
        what = _INSTRUCTIONS[t] if level == "avx512" else "portable C++"
        out[f"lowp_{t}"] = f"{level} ({what}; supported: {', '.join(supported_lowp_levels(t))})"
    return out


def _apply_env_lowp() -> None:
    requested = os.environ.get("TURBOREC_LOWP", "").strip().lower()
    if not requested:
        return
    if requested not in LOWP_LEVELS:
        warnings.warn(f"TURBOREC_LOWP={requested!r} is not one of {LOWP_LEVELS}; ignoring it", RuntimeWarning,
                      stacklevel=3)
        return
    try:
        _kernels.set_lowp_cap(level=requested)
    except ValueError:
        warnings.warn(f"TURBOREC_LOWP={requested!r} is not supported here; using the best available",
                      RuntimeWarning, stacklevel=3)
