"""Calls into _core for the content-based and hybrid models (keyword arguments, no validation:
the public functions validate once). To be folded into turborec._kernels."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _core, _sparse


def sparse_operand(*, candidates: sp.csr_matrix, n_threads: int):
    """The candidates (rows = items, columns = what the queries' rows are made of) packed once."""
    return _core.SparseOperand(_sparse.csr_tuples(candidates)[0], None, n_threads)


def sparse_topk(*, queries: sp.csr_matrix, operand, k: int, exclude: sp.csr_matrix | None,
                candidates: np.ndarray | None, n_threads: int):
    """Top-k of queries @ operand.T per row, excluding `exclude`'s pattern and non-candidates."""
    a, ex = _sparse.csr_tuples(queries, exclude, values=(True, False))
    return _core.sparse_topk(a, operand, ex, k, False, 1, 0.0, None, False, None, None, candidates, n_threads)


def feature_csr(*, matrix: sp.csr_matrix):
    """A canonical float32 CSR as the factorisation's feature rows (int64 indptr)."""
    return _core.FeatureCsr(np.ascontiguousarray(matrix.indptr, dtype=np.int64),
                            np.ascontiguousarray(matrix.indices, dtype=np.int32),
                            np.ascontiguousarray(matrix.data, dtype=np.float32), int(matrix.shape[1]))


def feature_mf_epoch(*, user_features, item_features, users, items, values, order, positives, pool, tables, factors,
                     mu, loss, lr, reg, reg_bias, adagrad, biased, max_sampled, seed, epoch, n_threads) -> float:
    """One SGD epoch; `tables` = (user_emb, item_emb, user_bias, item_bias, user_acc, item_acc), updated in place."""
    pos_indptr, pos_indices = positives
    return _core.feature_mf_epoch(user_features, item_features, users, items, values, order, pos_indptr, pos_indices,
                                  pool, *tables, factors, mu, loss, lr, reg, reg_bias, adagrad, biased, max_sampled,
                                  seed, epoch, n_threads)


def feature_mf_materialise(*, features, emb: np.ndarray, bias: np.ndarray, n_threads: int):
    """(features @ emb, features @ bias) as float32 arrays."""
    return _core.feature_mf_materialise(features, emb, bias, n_threads)


def feature_mf_stream(*, seed: int, epoch: int, chunk: int) -> int:
    return _core.feature_mf_stream(seed, epoch, chunk)
