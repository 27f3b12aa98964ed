"""topk and topk_dot against numpy baselines (and implicit/faiss when installed)."""

from __future__ import annotations

import numpy as np
import pytest
from reference import topk_reference
from topk_retrieval import numpy_blocked, numpy_topk_rows, seen_items

import turborec
from _harness import has

N, M, D, K = 4000, 20000, 64, 10


@pytest.fixture(scope="module")
def retrieval():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((N, D), dtype=np.float32)
    items = rng.standard_normal((M, D), dtype=np.float32)
    seen = seen_items(N, M, 50, rng)
    expected = numpy_topk_rows(q @ items.T, seen, K)
    return q, items, seen, expected


def _agree(ids, expected):
    return float((np.sort(ids, 1) == np.sort(expected, 1)).mean())


@pytest.mark.benchmark(group="topk_dot 4000x20000x64 k=10")
def test_topk_dot_turborec(benchmark, retrieval):
    q, items, seen, expected = retrieval
    ids, _ = benchmark(turborec.topk_dot, q, items, K, exclude=seen)
    assert _agree(ids, expected) > 0.999


@pytest.mark.benchmark(group="topk_dot 4000x20000x64 k=10")
def test_topk_dot_numpy_blocked(benchmark, retrieval):
    q, items, seen, expected = retrieval
    ids = benchmark(numpy_blocked, q, items, seen, K)
    assert _agree(ids, expected) > 0.999


@pytest.mark.benchmark(group="topk_dot 4000x20000x64 k=10")
@pytest.mark.skipif(not has("implicit"), reason="implicit not installed (pip install '.[bench]')")
def test_topk_dot_implicit(benchmark, retrieval):
    from implicit.cpu.topk import topk

    q, items, seen, expected = retrieval
    threads = turborec.config()["default_threads"]
    ids, _ = benchmark(topk, items, q, K, filter_query_items=seen, num_threads=threads)
    assert _agree(ids, expected) > 0.999


@pytest.fixture(scope="module")
def dense_scores():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((2000, 50000)).astype(np.float32)
    seen = seen_items(2000, 50000, 50, rng)
    return scores, seen, topk_reference(scores[:50], K, seen[:50])[0]


@pytest.mark.benchmark(group="topk dense 2000x50000 k=10")
def test_topk_turborec(benchmark, dense_scores):
    scores, seen, expected = dense_scores
    ids, _ = benchmark(turborec.topk, scores, K, exclude=seen)
    np.testing.assert_array_equal(ids[:50], expected)


@pytest.mark.benchmark(group="topk dense 2000x50000 k=10")
def test_topk_numpy_argpartition(benchmark, dense_scores):
    scores, seen, expected = dense_scores
    ids = benchmark(lambda: numpy_topk_rows(scores.copy(), seen, K))
    np.testing.assert_array_equal(ids[:50], expected)
