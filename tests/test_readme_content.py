"""The README's content / cold-start example runs as written (MovieLens path substituted)."""

from __future__ import annotations

import numpy as np
from test_readme import python_blocks


def test_cold_start_example_runs(movielens):
    block = next(b for b in python_blocks() if "cold_start_split" in b)
    namespace: dict = {}
    exec(compile(block.replace('"ml-latest-small"', repr(str(movielens))), "README.md", "exec"), namespace)
    ratings, data, ids = namespace["ratings"], namespace["data"], namespace["ids"]
    assert data.n_items > ratings.n_items and ids.shape == (3, 5)
    assert ((ids >= ratings.n_items) | (ids == -1)).all()  # only movies nobody rated
    assert not set(namespace["new_movies"].ravel()) & set(ratings.item_ids)
    report = namespace["report"]
    assert list(report.segment) == ["warm", "cold"] and np.isfinite(report.ndcg).all()
