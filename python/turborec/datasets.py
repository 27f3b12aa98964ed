"""Datasets: a fast synthetic generator with power-law popularity, and MovieLens loaders.

The code lives in :mod:`turborec.data` (``synthetic.py``, ``movielens.py``); this module is where
users find it.
"""

from .data.movielens import MOVIELENS_SHA256, download_movielens, load_movielens, movielens_path
from .data.synthetic import synthetic

__all__ = ["MOVIELENS_SHA256", "download_movielens", "load_movielens", "movielens_path", "synthetic"]
