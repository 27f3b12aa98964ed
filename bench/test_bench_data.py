"""turborec.synthetic against the plain numpy way of drawing the same kind of data: power-law
popularity on both sides, distinct (user, item) pairs, by rejection of duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from turborec import synthetic

N_USERS, N_ITEMS, NNZ = 200_000, 50_000, 2_000_000


def numpy_power_law_pairs(n_users, n_items, nnz, seed=0, user_exponent=0.7, item_exponent=0.9):
    """Distinct pairs with P(u, i) ~ (rank_u + 100)^-a (rank_i + 20)^-b: draw, deduplicate, repeat."""
    rng = np.random.default_rng(seed)
    pu = (np.arange(n_users) + 100.0) ** -user_exponent
    pi = (np.arange(n_items) + 20.0) ** -item_exponent
    keys = np.empty(0, np.int64)
    while keys.size < nnz:
        need = int((nnz - keys.size) * 1.2) + 1000
        u = rng.choice(n_users, need, p=pu / pu.sum())
        i = rng.choice(n_items, need, p=pi / pi.sum())
        keys = np.unique(np.concatenate([keys, u.astype(np.int64) * n_items + i]))
    return rng.permutation(keys)[:nnz]


@pytest.mark.benchmark(group="synthetic 200k x 50k, 2M interactions")
def test_synthetic(benchmark):
    data = benchmark(synthetic, N_USERS, N_ITEMS, NNZ, seed=0)
    assert data.nnz == NNZ and data.matrix.has_canonical_format
    assert np.isin(data.matrix.data, np.arange(1, 6)).all()  # 1..5 stars
    popular = np.diff(data.matrix.tocsc().indptr)
    assert popular[: N_ITEMS // 100].sum() > popular[-N_ITEMS // 100:].sum()  # low item ids are the popular ones


@pytest.mark.benchmark(group="synthetic 200k x 50k, 2M interactions")
def test_numpy_baseline(benchmark):
    keys = benchmark(numpy_power_law_pairs, N_USERS, N_ITEMS, NNZ)
    assert keys.size == NNZ and np.unique(keys).size == NNZ
