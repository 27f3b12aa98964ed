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
