"""A CSR matrix whose rows can be replaced (or appended) at a cost proportional to those rows.

Fold-in replaces a few users' rows of a model's training matrix (or of UserKNN's neighbour
lists) on every feedback event; rebuilding the whole matrix each time costs O(nnz). Here the
replaced rows live in a small sorted overlay beside the untouched base, and the two are merged
only when the overlay has grown to a fair share of the rows (amortised O(rows touched)).
Instances are immutable: ``replace`` returns a new one, so readers holding the old one are never
disturbed.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp


def _canonical(m: sp.csr_matrix) -> sp.csr_matrix:
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def _select_rows(m: sp.csr_matrix, rows: np.ndarray, keep: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """Rows `rows` of m (rows[t] may be anything where keep[t] is False: that row comes out empty)."""
    safe = np.where(keep, rows, 0) if m.shape[0] else np.zeros_like(rows)
    if m.shape[0] == 0:
        return sp.csr_matrix((rows.size, n_cols), dtype=np.float32)
    lo = m.indptr[safe].astype(np.int64)
    hi = m.indptr[safe + 1].astype(np.int64)
    lengths = np.where(keep, hi - lo, 0)
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    total = int(indptr[-1])
    # Gather every kept row's entries in one vectorised pass.
    offsets = np.repeat(lo - indptr[:-1], lengths) + np.arange(total, dtype=np.int64)
    out = sp.csr_matrix((m.data[offsets], m.indices[offsets], indptr), shape=(rows.size, n_cols), copy=False)
    if total < np.iinfo(np.int32).max:
        out.indptr = out.indptr.astype(np.int32)
    return _canonical(out)


class ReplacedRows:
    """``base`` with some rows replaced; ``n_rows`` may exceed the base's (appended rows)."""

    __slots__ = ("_base", "_rows", "_over", "_n_rows", "_merged", "_lock")

    def __init__(self, base: sp.csr_matrix, *, _rows=None, _over=None, _n_rows=None):
        self._base = base
        self._rows = np.empty(0, np.int64) if _rows is None else _rows  # sorted replaced row numbers
        self._over = _over  # their new contents, row t for _rows[t]
        self._n_rows = base.shape[0] if _n_rows is None else _n_rows
        self._merged = base if self._rows.size == 0 and self._n_rows == base.shape[0] else None
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n_rows, self._base.shape[1])

    def rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """The given rows (int array, each < n_rows) as a canonical CSR of shape (len(rows), n_cols)."""
        rows = np.asarray(rows, dtype=np.int64)
        n_cols = self._base.shape[1]
        in_base = rows < self._base.shape[0]
        if self._rows.size == 0:
            if in_base.all():
                out = self._base[rows]
                return _canonical(out)
            return _select_rows(self._base, rows, in_base, n_cols)
        pos = np.minimum(np.searchsorted(self._rows, rows), self._rows.size - 1)
        hit = self._rows[pos] == rows
        from_base = _select_rows(self._base, rows, in_base & ~hit, n_cols)
        if not hit.any():
            return from_base
        from_over = _select_rows(self._over, pos, hit, n_cols)
        return _canonical((from_base + from_over).tocsr())

    def pattern_wire(self, rows: np.ndarray) -> tuple:
        """The pattern of the given rows in the kernels' CSR wire format (indptr, indices, None,
        n_rows, n_cols), built with numpy alone: the per-request exclusion list of recommend, at a
        cost proportional to those rows (no scipy matrix is constructed)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._rows.size == 0 and (rows.size == 0 or rows.max() < self._base.shape[0]):
            m = self._base
        else:
            m = self.rows(rows)
            rows = np.arange(rows.size)
        lo = m.indptr[rows].astype(np.int64)
        lengths = m.indptr[rows + 1] - lo
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        total = int(indptr[-1])
        if rows.size == 1:
            indices = m.indices[lo[0]:lo[0] + total]
        else:
            indices = m.indices[np.repeat(lo - indptr[:-1], lengths) + np.arange(total, dtype=np.int64)]
        if total < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        return (indptr, np.ascontiguousarray(indices, dtype=np.int32), None, rows.size, m.shape[1])

    def replace(self, rows: np.ndarray, values: sp.csr_matrix) -> "ReplacedRows":
        """A new ReplacedRows with rows[t] set to row t of ``values`` (canonical CSR); rows beyond
        n_rows append (the rows between come out empty)."""
        rows = np.asarray(rows, dtype=np.int64)
        n_rows = max(self._n_rows, int(rows.max(initial=-1)) + 1)
        if self._rows.size:
            kept = ~np.isin(self._rows, rows)
            all_rows = np.concatenate([self._rows[kept], rows])
            stacked = sp.vstack([self._over[np.flatnonzero(kept)], values], format="csr")
        else:
            all_rows, stacked = rows, values
        order = np.argsort(all_rows, kind="stable")
        over = _canonical(stacked[order].tocsr())
        new = ReplacedRows(self._base, _rows=all_rows[order], _over=over, _n_rows=n_rows)
        # Merge once the overlay holds a fair share of the rows: amortised O(rows replaced).
        if new._rows.size > max(256, self._base.shape[0] // 16):
            return ReplacedRows(new.matrix())
        return new

    def matrix(self) -> sp.csr_matrix:
        """The whole matrix, merged once and kept (the object is immutable, so it stays valid)."""
        merged = self._merged
        if merged is not None:
            return merged
        with self._lock:
            if self._merged is None:
                self._merged = self.rows(np.arange(self._n_rows))
            return self._merged

    def row_length(self, row: int) -> int:
        m = self.rows(np.array([row]))
        return int(m.indptr[1])
