"""The README's content / cold-start example runs exactly as written (see test_readme)."""

from __future__ import annotations

import numpy as np
from test_readme import movielens_env, python_blocks  # noqa: F401 (a fixture)


def test_cold_start_example_runs(movielens_env):
    block = next(b for b in python_blocks() if "cold_start_split" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    ratings, data, ids = namespace["ratings"], namespace["data"], namespace["ids"]
    assert data.n_items > ratings.n_items and ids.shape == (3, 5)
    assert ((ids >= ratings.n_items) | (ids == -1)).all()  # only movies nobody rated
    assert not set(namespace["new_movies"].ravel()) & set(ratings.item_ids)
    report = namespace["report"]
    assert list(report.segment) == ["warm", "cold"] and np.isfinite(report.ndcg).all()
