"""
turborec's compiled kernels (private: use the turborec package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str]
class SparseOperand:
    """
    Candidates prepared for sparse_topk: Y transposed and relabelled, reusable across calls.
    """
    def __init__(self, y: tuple, scale: numpy.typing.NDArray[numpy.float32] | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_candidates(self) -> int:
        ...
    @property
    def n_features(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def pattern_only(self) -> bool:
        ...
def default_threads() -> int:
    """
    Threads a kernel uses when n_threads is 0.
    """
def padded_to_csr(ids: numpy.typing.NDArray[numpy.int32], scores: numpy.typing.NDArray[numpy.float32], n_cols: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Padded top-k rows to canonical CSR arrays.
    """
def ranking_metrics(recommended: numpy.typing.NDArray[numpy.int32], k: typing.SupportsInt | typing.SupportsIndex, relevant: tuple, exclude: tuple | None, n_items: typing.SupportsInt | typing.SupportsIndex, gain: str, metrics: collections.abc.Sequence[str], dtype: numpy.dtype[typing.Any], n_threads: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Per-user ranking metrics of top-k lists (recommended int32 (n, width), CSR tuples for relevant and exclude); returns {name: array (n,)} for the requested names among precision, recall, ndcg, map, hit_rate, mrr, auc.
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
def sparse_topk(a: tuple, y: SparseOperand, exclude: tuple | None, k: typing.SupportsInt | typing.SupportsIndex, jaccard: bool, min_support: typing.SupportsInt | typing.SupportsIndex, shrinkage: typing.SupportsFloat | typing.SupportsIndex, threshold: typing.SupportsFloat | typing.SupportsIndex | None, exclude_diagonal: bool, a_sizes: numpy.typing.NDArray[numpy.float32] | None, y_sizes: numpy.typing.NDArray[numpy.float32] | None, candidates: numpy.typing.NDArray[numpy.uint8] | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of each row of A (CSR tuple) against prepared candidates, without forming the product; returns padded (ids, scores).
    """
def topk(scores: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, exclude_indptr: typing.Any, exclude_indices: typing.Any, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Row-wise top-k of a C-contiguous float32 matrix; returns (ids int32, scores float32).
    """
def topk_dot(queries: numpy.typing.NDArray[numpy.float32], items: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude_indptr: typing.Any, exclude_indices: typing.Any, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of queries @ items.T (+ item_bias) without materialising the product.
    """
def transpose(matrix: tuple, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    CSR transpose; matrix = (indptr, indices, data, n_rows, n_cols); returns (indptr int64, indices, data).
    """
__version__: str
compiler: str
has_openmp: bool
native_build: bool
simd_compiled: str
