"""Global mean, per-user and per-item baselines and means, shared by the rating models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _kernels


def entry_rows(R: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(R.shape[0], dtype=np.int64), np.diff(R.indptr))


def means(R: sp.csr_matrix, axis: int, fill: float) -> np.ndarray:
    """Mean stored value per row (axis=1) or column (axis=0); `fill` where there is none."""
    index = entry_rows(R) if axis == 1 else R.indices
    size = R.shape[0] if axis == 1 else R.shape[1]
    sums = np.bincount(index, weights=R.data, minlength=size)
    counts = np.bincount(index, minlength=size)
    return np.divide(sums, counts, out=np.full(size, fill, dtype=np.float64), where=counts > 0).astype(np.float32)


def als_baselines(R: sp.csr_matrix, reg_user: float = 15.0, reg_item: float = 10.0, epochs: int = 10):
    """mu, b_u, b_i minimising sum (r - mu - b_u - b_i)^2 + reg_user |b_u|^2 + reg_item |b_i|^2 by
    alternating least squares (Surprise's baseline_only defaults). Users or items without ratings
    get a bias of 0."""
    mu, b_u, b_i = _kernels.als_baselines(R, reg_user=float(reg_user), reg_item=float(reg_item), epochs=int(epochs))
    return np.float32(mu), b_u, b_i
