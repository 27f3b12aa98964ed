"""The seam between the Python API and the compiled kernels: the only module that imports ``_core``.

Everything here trusts its caller. Arguments are keyword-only, already validated and converted by
the public layer (``turborec._validation``), thread counts are already resolved to a positive
count, and CSR matrices cross in one wire format: ``(indptr, indices, data or None, n_rows,
n_cols)`` with int32 indices, float32 data and one indptr width (int32 or int64) per call. Nothing
is re-validated on the way: the bindings only guard the C++ core's contract (dtypes, shapes) so a
wrong call can never crash the process.

A second backend (a GPU, say) plugs in here: the public layer never names ``_core``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _core

# ---- build and runtime facts -----------------------------------------------------------------------

version: str = _core.__version__
compiler: str = _core.compiler
has_openmp: bool = bool(_core.has_openmp)
native_build: bool = bool(_core.native_build)
simd_compiled: str = _core.simd_compiled
simd_supported = _core.simd_supported
simd_active = _core.simd_active
set_simd_active = _core.set_simd_active
default_threads = _core.default_threads
available_cpus = _core.available_cpus

# Opaque operands the models keep between calls (immutable once built; safe to share across threads).
PackedItems = _core.PackedItems
SparseOperand = _core.SparseOperand
SgdGrid = _core.SgdGrid


# ---- the CSR wire format -----------------------------------------------------------------------------

def csr_wire(*mats: sp.csr_matrix | None, values: tuple[bool, ...] | None = None) -> list:
    """The wire tuples of canonical CSR matrices (int32 indices), for one kernel call.

    The kernels take one indptr width for all operands of a call: int64 if any matrix has it (an
    O(rows) cast of the others), else int32. ``values[i]`` False sends matrix i's pattern only;
    None entries pass through, and so do tuples already in the wire format (a model's hot path
    builds its exclusion rows that way) when they are the only operand.
    """
    if len(mats) == 1 and isinstance(mats[0], tuple):
        return [mats[0]]
    wide = any(m is not None and m.indptr.dtype == np.int64 for m in mats)
    ptr = np.int64 if wide else np.int32
    out = []
    for i, m in enumerate(mats):
        if m is None:
            out.append(None)
            continue
        with_values = values[i] if values is not None else True
        data = np.ascontiguousarray(m.data, dtype=np.float32) if with_values else None
        out.append((np.ascontiguousarray(m.indptr, dtype=ptr), np.ascontiguousarray(m.indices, dtype=np.int32), data,
                    m.shape[0], m.shape[1]))
    return out


def csr_from_wire(arrays: tuple, shape: tuple[int, int]) -> sp.csr_matrix:
    """A canonical scipy CSR around (indptr, indices, data) the core allocated (no copy)."""
    indptr, indices, data = arrays
    m = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def check_csr(matrix: sp.csr_matrix, *, name: str, n_threads: int) -> tuple[str, str]:
    """The one CSR pattern check: ('canonical' | 'unsorted' | 'invalid', what is wrong and where)."""
    return _core.check_csr(csr_wire(matrix, values=(False,))[0], name, n_threads)


# ---- top-k retrieval ---------------------------------------------------------------------------------

def topk(scores: np.ndarray, *, k: int, exclude: sp.csr_matrix | None, n_threads: int):
    return _core.topk(scores, k, csr_wire(exclude, values=(False,))[0], n_threads)


def pack_items(items: np.ndarray, *, item_bias: np.ndarray | None, n_threads: int) -> PackedItems:
    """Items (+ bias) packed into the SIMD panels topk_dot streams; keep it while the items do not change."""
    return _core.PackedItems(items, item_bias, n_threads)


def topk_dot(queries: np.ndarray, *, items: PackedItems, k: int, exclude: sp.csr_matrix | None, n_threads: int):
    return _core.topk_dot(queries, items, k, csr_wire(exclude, values=(False,))[0], n_threads)


# ---- sparse kernels ----------------------------------------------------------------------------------

def transpose(matrix: sp.csr_matrix, *, n_threads: int) -> sp.csr_matrix:
    """CSR of matrix.T with sorted rows (a parallel counting sort)."""
    t = _core.transpose(csr_wire(matrix)[0], n_threads)
    return csr_from_wire(t, (matrix.shape[1], matrix.shape[0]))


def row_norms(matrix: sp.csr_matrix, *, n_threads: int) -> np.ndarray:
    return _core.csr_row_norms(csr_wire(matrix)[0], n_threads)


def scale_rows(matrix: sp.csr_matrix, *, scale: np.ndarray, n_threads: int) -> np.ndarray:
    """The data of the matrix with each row multiplied by scale[row]."""
    return _core.csr_scale_rows(csr_wire(matrix)[0], scale, n_threads)


def sparse_operand(candidates: sp.csr_matrix, *, scale: np.ndarray | None, n_threads: int) -> SparseOperand:
    """Candidates (rows) prepared once for sparse_topk: transposed and relabelled, reusable across calls."""
    return _core.SparseOperand(csr_wire(candidates)[0], scale, n_threads)


def sparse_topk(queries: sp.csr_matrix, *, operand: SparseOperand, k: int, exclude: sp.csr_matrix | None = None,
                candidates: np.ndarray | None = None, jaccard: bool = False, min_support: int = 1,
                shrinkage: float = 0.0, threshold: float | None = None, exclude_diagonal: bool = False,
                query_sizes: np.ndarray | None = None, candidate_sizes: np.ndarray | None = None, n_threads: int):
    """Top-k of each row of queries @ candidates.T without forming the product: padded (ids, scores)."""
    a, ex = csr_wire(queries, exclude, values=(True, False))
    return _core.sparse_topk(a, operand, ex, k, jaccard, min_support, shrinkage, threshold, exclude_diagonal,
                             query_sizes, candidate_sizes, candidates, n_threads)


def padded_to_csr(ids: np.ndarray, scores: np.ndarray, *, n_cols: int, n_threads: int) -> sp.csr_matrix:
    """Padded top-k rows (id -1 = empty) as a canonical CSR matrix."""
    return csr_from_wire(_core.padded_to_csr(ids, scores, n_cols, n_threads), (ids.shape[0], n_cols))


# ---- neighbourhood models ----------------------------------------------------------------------------

def als_baselines(ratings: sp.csr_matrix, *, reg_user: float, reg_item: float, epochs: int):
    return _core.als_baselines(csr_wire(ratings)[0], reg_user, reg_item, epochs)


def knn_predict(similarity: sp.csr_matrix, ratings: sp.csr_matrix, *, targets: np.ndarray, others: np.ndarray, k: int,
                min_k: int, variant: str, target_mean: np.ndarray | None, global_mean: float, target_bias: np.ndarray,
                other_bias: np.ndarray, n_threads: int):
    S, M = csr_wire(similarity, ratings)
    return _core.knn_predict(S, M, targets, others, k, min_k, variant, target_mean, global_mean, target_bias,
                             other_bias, n_threads)


# ---- matrix factorisation ----------------------------------------------------------------------------

def sgd_grid(*, users: np.ndarray, items: np.ndarray, values: np.ndarray | None, n_users: int, n_items: int,
             grid: int, seed: int, user_sorted: bool) -> SgdGrid:
    return _core.SgdGrid(users, items, values, n_users, n_items, grid, seed, user_sorted=user_sorted)


def sgd_state(P: np.ndarray, Q: np.ndarray, user_meta: np.ndarray, item_meta: np.ndarray):
    return _core.SgdStateArrays(P, Q, user_meta, item_meta)


def sgd_epoch(grid: SgdGrid, state, *, factors: int, mu: float, loss: str, lr_schedule: str, lr: float, reg: float,
              reg_bias: float, decay: float, biased: bool, seed: int, positives: sp.csr_matrix | None, epoch: int,
              n_threads: int) -> float:
    pos_indptr, pos_indices = (None, None) if positives is None else (positives.indptr.astype(np.int64, copy=False),
                                                                      positives.indices)
    return _core.sgd_epoch(grid, state, factors, mu, loss, lr_schedule, lr, reg, reg_bias, decay, biased, seed,
                           pos_indptr, pos_indices, epoch, n_threads)


def mf_predict(state, *, factors: int, mu: float, users: np.ndarray, items: np.ndarray, biased: bool,
               n_threads: int) -> np.ndarray:
    return _core.mf_predict(state, factors, mu, users, items, biased, n_threads)


# ---- metrics -------------------------------------------------------------------------------------------

def ranking_metrics(recommended: np.ndarray, *, k: int, relevant: sp.csr_matrix, exclude: sp.csr_matrix | None,
                    n_items: int, gain: str, names, dtype, n_threads: int) -> dict:
    rel, ex = csr_wire(relevant, exclude, values=(gain != "binary", False))
    return _core.ranking_metrics(recommended, k, rel, ex, n_items, gain, list(names), dtype, n_threads)


# ---- feature-aware factorisation -----------------------------------------------------------------------

FeatureCsr = _core.FeatureCsr


def feature_csr(matrix: sp.csr_matrix) -> FeatureCsr:
    """A canonical float32 CSR as the factorisation's feature rows (the wire format, int64 indptr)."""
    indptr, indices, data, n_rows, n_cols = csr_wire(matrix)[0]
    return _core.FeatureCsr((indptr.astype(np.int64, copy=False), indices, data, n_rows, n_cols))


def feature_mf_epoch(*, user_features: FeatureCsr, item_features: FeatureCsr, users: np.ndarray, items: np.ndarray,
                     values: np.ndarray | None, order: np.ndarray, positives: sp.csr_matrix | None,
                     pool: np.ndarray | None, tables: tuple, factors: int, mu: float, loss: str, lr: float, reg: float,
                     reg_bias: float, adagrad: bool, biased: bool, max_sampled: int, seed: int, epoch: int,
                     n_threads: int, refresh: int = 0, shared_item_features: int = 0) -> float:
    """One SGD epoch; ``tables`` = (user_emb, item_emb, user_bias, item_bias, user_acc, item_acc),
    updated in place. ``positives``: the users x items training pattern (ranking losses).
    ``refresh``: WARP's samples per round of its negative-scoring cache (0: the default).
    ``shared_item_features``: the leading item columns that many items share (the side features
    before the own-vector block); with several threads each keeps its own copy between merges."""
    pos_indptr, pos_indices = (None, None) if positives is None else (positives.indptr.astype(np.int64, copy=False),
                                                                      positives.indices)
    return _core.feature_mf_epoch(user_features, item_features, users, items, values, order, pos_indptr, pos_indices,
                                  pool, *tables, factors, mu, loss, lr, reg, reg_bias, adagrad, biased, max_sampled,
                                  seed, epoch, n_threads, refresh, shared_item_features)


def feature_mf_materialise(features: FeatureCsr, *, emb: np.ndarray, bias: np.ndarray, n_threads: int):
    """(features @ emb, features @ bias) as float32 arrays."""
    return _core.feature_mf_materialise(features, emb, bias, n_threads)


def feature_mf_stream(*, seed: int, epoch: int, chunk: int) -> int:
    """Seed of the negative-sampling stream of one chunk of one epoch (for reference replays)."""
    return _core.feature_mf_stream(seed, epoch, chunk)


# ---- low-precision retrieval (int8 / bf16) -------------------------------------------------------------

def topk_int8(queries: np.ndarray, *, query_scale: np.ndarray, items: np.ndarray, item_scale: np.ndarray, k: int,
              item_bias: np.ndarray | None, exclude: sp.csr_matrix | tuple | None, n_threads: int):
    """Top-k of int8 queries x int8 items (int32 accumulation, per-row scales) + bias."""
    return _core.topk_int8(queries, query_scale, items, item_scale, k, item_bias,
                           csr_wire(exclude, values=(False,))[0], n_threads)


def topk_bf16(queries: np.ndarray, *, items: np.ndarray, k: int, item_bias: np.ndarray | None,
              exclude: sp.csr_matrix | tuple | None, n_threads: int):
    """Top-k of bf16 queries x bf16 items (uint16 bit patterns, float32 accumulation) + bias."""
    return _core.topk_bf16(queries, items, k, item_bias, csr_wire(exclude, values=(False,))[0], n_threads)


def rerank_exact(queries: np.ndarray, *, items: np.ndarray, item_bias: np.ndarray | None, candidates: np.ndarray,
                 k: int, n_threads: int):
    """Re-score candidate ids (n, k', -1 = none) in float32 and keep the best k of each row."""
    return _core.rerank_exact(queries, items, item_bias, candidates, k, n_threads)


def lowp_supported(*, dtype: str) -> str:
    return _core.lowp_supported(dtype)


def lowp_active(*, dtype: str) -> str:
    return _core.lowp_active(dtype)


def lowp_cap() -> str:
    return _core.lowp_cap()


def set_lowp_cap(*, level: str) -> None:
    _core.set_lowp_cap(level)


# ---- low-precision items packed once (issue 16: no per-call repacking) ---------------------------------

LowpItems = _core.LowpItems


def pack_lowp_int8(items: np.ndarray, *, item_scale: np.ndarray, item_bias: np.ndarray | None,
                   n_threads: int) -> LowpItems:
    """int8 (m, d) items + per-row scales (+ bias) packed into the kernels' panels, once."""
    return _core.pack_lowp_int8(items, item_scale, item_bias, n_threads)


def pack_lowp_bf16(items: np.ndarray, *, item_bias: np.ndarray | None, n_threads: int) -> LowpItems:
    """bf16 (m, d) items (uint16 bit patterns, + bias) packed into the kernels' panels, once."""
    return _core.pack_lowp_bf16(items, item_bias, n_threads)


def topk_int8_packed(queries: np.ndarray, *, query_scale: np.ndarray, items: LowpItems, k: int,
                     item_bias: np.ndarray | None, exclude: sp.csr_matrix | tuple | None, n_threads: int):
    """topk_int8 on packed items; item_bias, when given, replaces the bias packed with them."""
    return _core.topk_int8_packed(queries, query_scale, items, k, item_bias,
                                  csr_wire(exclude, values=(False,))[0], n_threads)


def topk_bf16_packed(queries: np.ndarray, *, items: LowpItems, k: int, item_bias: np.ndarray | None,
                     exclude: sp.csr_matrix | tuple | None, n_threads: int):
    """topk_bf16 on packed items; item_bias, when given, replaces the bias packed with them."""
    return _core.topk_bf16_packed(queries, items, k, item_bias, csr_wire(exclude, values=(False,))[0], n_threads)


def lowp_peak_gops(*, what: str, seconds: float, n_threads: int) -> float:
    """Measured peak GOP/s of the instruction behind 'int8', 'bf16' or 'fp32' retrieval (0: not here)."""
    return _core.lowp_peak_gops(what, seconds, n_threads)


def topk_int8_float_queries(queries: np.ndarray, *, items: LowpItems, k: int, item_bias: np.ndarray | None,
                            exclude: sp.csr_matrix | tuple | None, n_threads: int):
    """topk_int8_packed on float32 queries, quantized inside the kernel call (as quantize_int8 does)."""
    return _core.topk_int8_float_queries(queries, items, k, item_bias, csr_wire(exclude, values=(False,))[0],
                                         n_threads)
