"""turborec: fast classic recommenders on numpy arrays and scipy CSR matrices.

C++17 kernels (OpenMP threads, SIMD chosen at run time) under a small Python API.
"""

import os as _os

# Threads that finish early wait at barriers (SGD has one per stratum). GNU OpenMP spins there by
# default, which on a busy machine steals the core a still-working thread needs: measured 5x
# slowdowns with one foreign busy process on 2 cores. Waiting passively costs a few microseconds
# per barrier. Set before the OpenMP runtime starts; an explicit choice by the user wins.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from . import _kernels  # noqa: E402
from ._config import config, get_simd_level, set_simd_level, show_config, simd_level, supported_simd_levels
from ._config import _apply_env_simd
from ._threads import available_cpus, default_threads, effective_threads
from . import datasets, metrics, persistence, similarity, split
from .data import IdMap, Interactions, read_ratings
from .models import EarlyStopping, ItemKNN, MatrixFactorization, NotFittedError, Popularity, Recommender, UserKNN
from .datasets import download_movielens, load_movielens, synthetic
from .evaluation import cross_validate, evaluate
from .persistence import load
from .split import kfold, leave_k_out, per_user_split, random_split, temporal_leave_k_out, temporal_split
from .similarity import topk_similarity
from .topk import topk, topk_dot
from . import model_selection
from .model_selection import GridSearch, RandomSearch, SuccessiveHalving
from . import features
from .models import ContentKNN, FeatureMF, Hybrid
from .split import cold_start_split
from .evaluation import evaluate_cold_start
from .quantized import QuantizedFactors
from .topk_lowp import topk_quantized
from ._lowp_levels import get_lowp_level, lowp_level, set_lowp_level, supported_lowp_levels
from ._lowp_levels import _apply_env_lowp

__version__ = _kernels.version

_apply_env_simd()
del _apply_env_simd
_apply_env_lowp()
del _apply_env_lowp

__all__ = [
    "__version__",
    "IdMap",
    "Interactions",
    "Popularity",
    "Recommender",
    "available_cpus",
    "default_threads",
    "effective_threads",
    "read_ratings",
    "EarlyStopping",
    "ItemKNN",
    "MatrixFactorization",
    "NotFittedError",
    "UserKNN",
    "cross_validate",
    "datasets",
    "download_movielens",
    "evaluate",
    "kfold",
    "leave_k_out",
    "load",
    "load_movielens",
    "metrics",
    "per_user_split",
    "persistence",
    "random_split",
    "similarity",
    "split",
    "synthetic",
    "temporal_leave_k_out",
    "temporal_split",
    "topk_similarity",
    "config",
    "get_simd_level",
    "set_simd_level",
    "show_config",
    "simd_level",
    "supported_simd_levels",
    "topk",
    "topk_dot",
    "model_selection",
    "GridSearch",
    "RandomSearch",
    "SuccessiveHalving",
    "ContentKNN",
    "FeatureMF",
    "Hybrid",
    "cold_start_split",
    "evaluate_cold_start",
    "features",
    "QuantizedFactors",
    "topk_quantized",
    "get_lowp_level",
    "lowp_level",
    "set_lowp_level",
    "supported_lowp_levels",
]
