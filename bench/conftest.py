"""Microbenchmarks: pytest-benchmark groups, each kernel beside its numpy/scipy baseline at the same
thread count, with the answer checked inside the benchmark. Not part of the test run:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench --benchmark-only
    python -m pytest bench --benchmark-disable     # CI: run each once, check answers, no timing
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _same_blas_threads():
    """numpy's BLAS gets the thread count turborec uses, so baselines compete on equal terms."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import turborec

    with threadpool_limits(turborec.config()["default_threads"]):
        yield
