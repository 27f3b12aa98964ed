"""
turborec's compiled kernels (private: use the turborec package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str]
class PackedItems:
    """
    Item vectors (+ bias) packed once into the SIMD panels topk_dot streams; immutable, shareable across threads.
    """
    def __init__(self, items: numpy.typing.NDArray[numpy.float32], item_bias: numpy.typing.NDArray[numpy.float32] | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def n_items(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def simd_level(self) -> str:
        ...
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
class SgdStateArrays:
    """
    The model arrays SGD updates in place (float32, C-contiguous): P, Q and the (n, 4) per-row [bias, accumulators] tables.
    """
    def __init__(self, P: numpy.typing.NDArray[numpy.float32], Q: numpy.typing.NDArray[numpy.float32], user_meta: numpy.typing.NDArray[numpy.float32], item_meta: numpy.typing.NDArray[numpy.float32]) -> None:
        ...
class SgdGrid:
    """
    Ratings dealt into a G x G grid of blocks for lock-free parallel SGD.
    """
    def __init__(self, users: numpy.typing.NDArray[numpy.int32], items: numpy.typing.NDArray[numpy.int32], values: numpy.typing.NDArray[numpy.float32] | None, n_users: typing.SupportsInt | typing.SupportsIndex, n_items: typing.SupportsInt | typing.SupportsIndex, grid: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, user_sorted: bool = True) -> None:
        ...
    def strata(self, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex) -> list[int]:
        """
        The column shifts of the strata, in the order an epoch runs them.
        """
    @property
    def block_sizes(self) -> list[int]:
        ...
    @property
    def entries(self) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @property
    def grid(self) -> int:
        ...
    @property
    def item_group(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
    @property
    def n(self) -> int:
        ...
    @property
    def user_group(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
class FeatureCsr:
    """
    A rows x features CSR for the feature-aware factorisation, from the CSR wire tuple (int64 indptr, int32 indices, float32 data, n_rows, n_cols); the arrays are kept alive.
    """
    def __init__(self, wire: tuple) -> None:
        ...
class LowpItems:
    """
    int8 or bf16 items packed once into the kernels' panels (with sums, scales, bounds).
    """
    @property
    def dim(self) -> int:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def has_bias(self) -> bool:
        ...
    @property
    def n_items(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
def als_baselines(ratings: tuple, reg_user: typing.SupportsFloat | typing.SupportsIndex, reg_item: typing.SupportsFloat | typing.SupportsIndex, epochs: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Baselines (mu, b_user, b_item) by alternating least squares.
    """
def available_cpus() -> int:
    """
    Cores this process may run on: CPU affinity capped by a cgroup quota.
    """
def check_csr(matrix: tuple, name: str, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    The one CSR pattern check: ('canonical' | 'unsorted' | 'invalid', what is wrong and where).
    """
def csr_row_norms(matrix: tuple, n_threads: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    """
    L2 norm of every row.
    """
def csr_scale_rows(matrix: tuple, scale: numpy.typing.NDArray[numpy.float32], n_threads: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    """
    The data of the matrix with each row multiplied by scale[row].
    """
def default_threads() -> int:
    """
    Threads for n_threads=0: OMP_NUM_THREADS when set, else available_cpus() (1 without OpenMP).
    """
def feature_mf_epoch(user_features: FeatureCsr, item_features: FeatureCsr, users: numpy.typing.NDArray[numpy.int32], items: numpy.typing.NDArray[numpy.int32], values: numpy.typing.NDArray[numpy.float32] | None, order: numpy.typing.NDArray[numpy.int64], pos_indptr: numpy.typing.NDArray[numpy.int64] | None, pos_indices: numpy.typing.NDArray[numpy.int32] | None, pool: numpy.typing.NDArray[numpy.int32] | None, user_emb: numpy.typing.NDArray[numpy.float32], item_emb: numpy.typing.NDArray[numpy.float32], user_bias: numpy.typing.NDArray[numpy.float32], item_bias: numpy.typing.NDArray[numpy.float32], user_acc: numpy.typing.NDArray[numpy.float32], item_acc: numpy.typing.NDArray[numpy.float32], factors: typing.SupportsInt | typing.SupportsIndex, mu: typing.SupportsFloat | typing.SupportsIndex, loss: str, lr: typing.SupportsFloat | typing.SupportsIndex, reg: typing.SupportsFloat | typing.SupportsIndex, reg_bias: typing.SupportsFloat | typing.SupportsIndex, adagrad: bool, biased: bool, max_sampled: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex, refresh: typing.SupportsInt | typing.SupportsIndex = 0, shared_item_features: typing.SupportsInt | typing.SupportsIndex = 0) -> float:
    """
    One lock-free parallel SGD epoch of the feature-aware factorisation; returns the summed loss.
    """
def feature_mf_materialise(features: FeatureCsr, emb: numpy.typing.NDArray[numpy.float32], bias: numpy.typing.NDArray[numpy.float32], n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    (features @ emb, features @ bias).
    """
def feature_mf_stream(seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, chunk: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Seed of the negative-sampling stream of one chunk of one epoch (splitmix64).
    """
def knn_predict(similarity: tuple, ratings: tuple, targets: numpy.typing.NDArray[numpy.int32], others: numpy.typing.NDArray[numpy.int32], k: typing.SupportsInt | typing.SupportsIndex, min_k: typing.SupportsInt | typing.SupportsIndex, variant: str, target_mean: numpy.typing.NDArray[numpy.float32] | None, global_mean: typing.SupportsFloat | typing.SupportsIndex, target_bias: numpy.typing.NDArray[numpy.float32], other_bias: numpy.typing.NDArray[numpy.float32], n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Neighbourhood rating prediction for (target, other) pairs; returns (predictions, neighbours used).
    """
def lowp_active(dtype: str) -> str:
    """
    Low-precision level the 'int8' or 'bf16' kernels use now.
    """
def lowp_cap() -> str:
    """
    The low-precision level cap in force.
    """
def lowp_peak_gops(what: str, seconds: typing.SupportsFloat | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    Measured peak GOP/s of vpdpbusd ('int8'), vdpbf16ps ('bf16') or vfmadd231ps ('fp32'); 0 if not run here.
    """
def lowp_supported(dtype: str) -> str:
    """
    Highest low-precision level this CPU and build run for 'int8' or 'bf16'.
    """
def mf_predict(state: SgdStateArrays, factors: typing.SupportsInt | typing.SupportsIndex, mu: typing.SupportsFloat | typing.SupportsIndex, users: numpy.typing.NDArray[numpy.int32], items: numpy.typing.NDArray[numpy.int32], biased: bool, n_threads: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    """
    mu + b_u + b_i + <p_u, q_i> per pair.
    """
def pack_lowp_bf16(items: numpy.typing.NDArray[numpy.uint16], item_bias: numpy.typing.NDArray[numpy.float32] | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> LowpItems:
    """
    Pack bf16 items (uint16 bit patterns, optional bias) once.
    """
def pack_lowp_int8(items: numpy.typing.NDArray[numpy.int8], item_scale: numpy.typing.NDArray[numpy.float32], item_bias: numpy.typing.NDArray[numpy.float32] | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> LowpItems:
    """
    Pack int8 items (+ scales, optional bias) once.
    """
def padded_to_csr(ids: numpy.typing.NDArray[numpy.int32], scores: numpy.typing.NDArray[numpy.float32], n_cols: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Padded top-k rows to canonical CSR arrays.
    """
def ranking_metrics(recommended: numpy.typing.NDArray[numpy.int32], k: typing.SupportsInt | typing.SupportsIndex, relevant: tuple, exclude: tuple | None, n_items: typing.SupportsInt | typing.SupportsIndex, gain: str, metrics: collections.abc.Sequence[str], dtype: numpy.dtype[typing.Any], n_threads: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Per-user ranking metrics of top-k lists (recommended int32 (n, width), CSR tuples for relevant and exclude); returns {name: array (n,)} for the requested names among precision, recall, ndcg, map, hit_rate, mrr, auc.
    """
def rerank_exact(queries: numpy.typing.NDArray[numpy.float32], items: numpy.typing.NDArray[numpy.float32], item_bias: numpy.typing.NDArray[numpy.float32] | None, candidates: numpy.typing.NDArray[numpy.int32], k: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Re-score candidate ids (n, k', -1 = none) in float32 and keep the best k of each row.
    """
def set_lowp_cap(level: str) -> None:
    """
    Cap the low-precision level (scalar, avx512).
    """
def set_simd_active(level: str) -> None:
    """
    Select the SIMD level (scalar, avx2, avx512); it cannot exceed simd_supported().
    """
def sgd_epoch(grid: SgdGrid, state: SgdStateArrays, factors: typing.SupportsInt | typing.SupportsIndex, mu: typing.SupportsFloat | typing.SupportsIndex, loss: str, schedule: str, lr: typing.SupportsFloat | typing.SupportsIndex, reg: typing.SupportsFloat | typing.SupportsIndex, reg_bias: typing.SupportsFloat | typing.SupportsIndex, decay: typing.SupportsFloat | typing.SupportsIndex, biased: bool, seed: typing.SupportsInt | typing.SupportsIndex, pos_indptr: numpy.typing.NDArray[numpy.int64] | None, pos_indices: numpy.typing.NDArray[numpy.int32] | None, epoch: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    One SGD epoch over the grid; returns the summed loss.
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
def topk(scores: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Row-wise top-k of a C-contiguous float32 matrix; returns (ids int32, scores float32).
    """
def topk_bf16(queries: numpy.typing.NDArray[numpy.uint16], items: numpy.typing.NDArray[numpy.uint16], k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of bf16 queries x bf16 items (uint16 bit patterns), float32 accumulation.
    """
def topk_bf16_packed(queries: numpy.typing.NDArray[numpy.uint16], items: LowpItems, k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    topk_bf16 on packed items; item_bias (when given) replaces the packed bias.
    """
def topk_dot(queries: numpy.typing.NDArray[numpy.float32], items: PackedItems, k: typing.SupportsInt | typing.SupportsIndex, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of queries @ items.T (+ item bias) without materialising the product.
    """
def topk_int8(queries: numpy.typing.NDArray[numpy.int8], query_scale: numpy.typing.NDArray[numpy.float32], items: numpy.typing.NDArray[numpy.int8], item_scale: numpy.typing.NDArray[numpy.float32], k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    Top-k of int8 queries x int8 items with integer accumulation; returns (ids int32, scores float32).
    """
def topk_int8_float_queries(queries: numpy.typing.NDArray[numpy.float32], items: LowpItems, k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    topk_int8_packed on float32 queries, quantized inside exactly like quantize_int8.
    """
def topk_int8_packed(queries: numpy.typing.NDArray[numpy.int8], query_scale: numpy.typing.NDArray[numpy.float32], items: LowpItems, k: typing.SupportsInt | typing.SupportsIndex, item_bias: numpy.typing.NDArray[numpy.float32] | None, exclude: tuple | None, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    topk_int8 on packed items; item_bias (when given) replaces the packed bias.
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
