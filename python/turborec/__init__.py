"""turborec: fast classic recommenders on numpy arrays and scipy CSR matrices.

C++17 kernels (OpenMP threads, SIMD chosen at run time) under a small Python API.
"""

from . import _core
from ._config import config, get_simd_level, set_simd_level, show_config, simd_level, supported_simd_levels
from ._config import _apply_env_simd
from .topk import topk, topk_dot

__version__ = _core.__version__

_apply_env_simd()
del _apply_env_simd

__all__ = [
    "__version__",
    "config",
    "get_simd_level",
    "set_simd_level",
    "show_config",
    "simd_level",
    "supported_simd_levels",
    "topk",
    "topk_dot",
]
