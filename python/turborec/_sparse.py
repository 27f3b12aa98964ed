"""Internal glue between scipy CSR matrices and the compiled sparse kernels."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _core


def csr_tuples(*mats: sp.csr_matrix | None, values: tuple[bool, ...] | None = None) -> list:
    """(indptr, indices, data or None, n_rows, n_cols) tuples for the kernels, which take one indptr
    width for all operands: int64 if any matrix needs it (an O(rows) cast), else int32.
    Matrices must be canonical CSR with int32 indices; None passes through."""
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


def from_tuple(t: tuple, shape: tuple[int, int]) -> sp.csr_matrix:
    indptr, indices, data = t
    m = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def transpose(m: sp.csr_matrix, n_threads: int) -> sp.csr_matrix:
    """CSR of m.T with sorted rows, by the parallel counting sort in C++."""
    return from_tuple(_core.transpose(csr_tuples(m)[0], n_threads), (m.shape[1], m.shape[0]))


def row_lengths(m: sp.csr_matrix) -> np.ndarray:
    return np.diff(m.indptr)
