"""
turborec's compiled kernels (private: use the turborec package)
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str]
def default_threads() -> int:
    """
    Threads a kernel uses when n_threads is 0.
    """
def set_simd_active(level: str) -> None:
    """
    Select the SIMD level (scalar, avx2, avx512); it cannot exceed simd_supported().
    """
def simd_active() -> str:
    """
    SIMD level the kernels use now.
    """
def simd_supported() -> str:
    """
    Highest SIMD level this CPU and build can run.
    """
def topk(scores: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, exclude_indptr: typing.Any, exclude_indices: typing.Any, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Row-wise top-k of a C-contiguous float32 matrix; returns (ids int32, scores float32).
    """
def topk_dot(queries: numpy.typing.NDArray[numpy.float32], items: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude_indptr: typing.Any, exclude_indices: typing.Any, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of queries @ items.T (+ item_bias) without materialising the product.
    """
__version__: str
compiler: str
has_openmp: bool
native_build: bool
simd_compiled: str
