"""Low-precision retrieval (int8 / bf16 codes, with and without re-rank) against float32 topk_dot."""

from __future__ import annotations

import numpy as np
import pytest
from lowp_retrieval import recall_at_k
from topk_retrieval import seen_items

import turborec

N, M, D, K = 2000, 20000, 64, 10
GROUP = f"low-precision topk {N}x{M}x{D} k={K}"


@pytest.fixture(scope="module")
def retrieval():
    rng = np.random.default_rng(7)
    q = rng.standard_normal((N, D), dtype=np.float32)
    items = rng.standard_normal((M, D), dtype=np.float32)
    seen = seen_items(N, M, 50, rng)
    exact = turborec.topk_dot(q, items, K, exclude=seen)[0]
    codes = {t: turborec.QuantizedFactors(items, t) for t in ("int8", "bf16")}
    return q, items, seen, exact, codes


@pytest.mark.benchmark(group=GROUP)
def test_lowp_float32_topk_dot(benchmark, retrieval):
    q, items, seen, exact, _ = retrieval
    ids, _ = benchmark(turborec.topk_dot, q, items, K, exclude=seen)
    np.testing.assert_array_equal(ids, exact)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("dtype", ["int8", "bf16"])
@pytest.mark.parametrize("rerank", [False, True], ids=["plain", "rerank"])
def test_lowp_turborec(benchmark, retrieval, dtype, rerank):
    q, items, seen, exact, codes = retrieval
    ids, _ = benchmark(turborec.topk_quantized, q, codes[dtype], K, exclude=seen,
                       rerank=items if rerank else None)
    assert recall_at_k(ids, exact) >= (0.99 if rerank else 0.95)
