"""Shared fixtures: a fixed-seed generator, every SIMD level, thread counts, the MovieLens path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import turborec

SIMD_LEVELS = turborec.supported_simd_levels()


@pytest.fixture
def rng():
    return np.random.default_rng(20261128)


@pytest.fixture(params=SIMD_LEVELS)
def simd(request):
    """Run the test at one SIMD level (every level this machine supports), then restore."""
    with turborec.simd_level(request.param):
        yield request.param


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request):
    return request.param


def movielens_dir() -> Path | None:
    """ml-latest-small beside the checkout (../shared/datasets), or TURBOREC_DATASETS."""
    candidates = [os.environ.get("TURBOREC_DATASETS", "")]
    here = Path(__file__).resolve().parent.parent
    candidates += [str(here.parent / "shared" / "datasets"), str(here / ".." / ".." / "shared" / "datasets")]
    for c in candidates:
        if c and (Path(c) / "ml-latest-small" / "ratings.csv").is_file():
            return Path(c) / "ml-latest-small"
    return None


@pytest.fixture
def movielens():
    path = movielens_dir()
    if path is None:
        pytest.skip("MovieLens ml-latest-small not found in ../shared/datasets (set TURBOREC_DATASETS)")
    return path


# CI (CI=true) replays the same hypothesis examples on every run, so a landing never depends on luck;
# a developer's run explores new ones (and the fuzz budget grows with TURBOREC_FUZZ_EXAMPLES).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    _hypothesis_settings.load_profile("ci")
