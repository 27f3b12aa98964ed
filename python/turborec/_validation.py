"""Input validation shared by every public function: one helper per kind of input.

Messages name the argument, what was expected and what was received. TypeError for wrong types or
dtypes, ValueError for wrong shapes or values. Helpers never modify what the caller passed: when a
conversion is needed (float64 -> float32, a non-contiguous view, a non-canonical CSR) they copy once.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from . import _kernels

_INT32_MAX = int(np.iinfo(np.int32).max)
# Model sizes beyond these are typos, not models (a factor count of 2**20 is 4 MiB per user).
MAX_FACTORS = 2**16


def check_k(k, name: str = "k", *, n_candidates: int | None = None) -> int:
    """A positive int count of results.

    With ``n_candidates`` (the retrieval paths: topk, topk_dot, topk_similarity, recommend,
    similar_*), k is capped there: the output width is ``min(k, n_candidates)``, at least 1, so
    any k >= 1 is accepted and no (n, k) output ever exceeds (n, n_candidates). Without it (a
    cutoff such as metrics@k) k must fit an int32.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if n_candidates is not None:
        return max(1, min(k, int(n_candidates)))
    if k > _INT32_MAX:
        raise ValueError(f"{name} must be < 2^31, got {k}")
    return k


def check_param_int(v, name: str, minimum: int) -> int:
    """A model parameter that must be an int >= minimum (numpy ints too, bools not); ValueError
    naming it otherwise (the models' one wording for counts such as k, factors, epochs)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def check_int(v, name: str, minimum: int) -> int:
    """An int (numpy ints too, bools not) that is at least ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def is_finite_real(v) -> bool:
    """A real number (bools not) that is finite as a float: huge Python ints (2**70 works, 10**400
    overflows float) and numpy scalars included, never an exception."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    try:
        return bool(np.isfinite(float(v)))
    except OverflowError:
        return False


def check_real(v, name: str, minimum: float = 0.0) -> float:
    """A finite real number (bools not) that is at least ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    if not is_finite_real(v):
        raise ValueError(f"{name} must be finite and >= {minimum}, got {v!r}")
    v = float(v)
    if not np.isfinite(v) or v < minimum:
        raise ValueError(f"{name} must be finite and >= {minimum}, got {v}")
    return v


def check_range_pair(v, name: str):
    """None, False, or a finite (low, high) pair with low < high, returned as a tuple of floats."""
    if v is None or v is False:
        return v
    if isinstance(v, (str, bytes)) or not isinstance(v, (tuple, list, np.ndarray)):
        raise TypeError(f"{name} must be None, False or a (low, high) pair of numbers, got {v!r}")
    if len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, numbers.Real) for x in v):
        raise TypeError(f"{name} must be None, False or a (low, high) pair of numbers, got {v!r}")
    low, high = float(v[0]), float(v[1])
    if not (np.isfinite(low) and np.isfinite(high)) or not low < high:
        raise ValueError(f"{name} must be a finite (low, high) pair with low < high, got {v!r}")
    return low, high


def check_seed(v, name: str = "seed"):
    """None or an int in [0, 2^63) (what numpy's generators and the kernels' 64-bit seeds take)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be None or an int, got {v!r}")
    v = int(v)
    if not 0 <= v < 2**63:
        raise ValueError(f"{name} must be in [0, 2^63), got {v}")
    return v


def check_finite_scores(ids: np.ndarray, scores: np.ndarray, what: str) -> None:
    """Scores of returned entries (id >= 0) must be finite: inf/NaN means float32 overflowed."""
    kept = scores[ids >= 0] if ids is not None else scores
    if kept.size and not np.isfinite(kept).all():
        raise ValueError(f"{what} overflowed float32 (inf or NaN scores): the input values are too large; "
                         "scale them down")


def _describe(x) -> str:
    dtype = getattr(x, "dtype", None)
    return f"{type(x).__name__} of dtype {dtype}" if dtype is not None else type(x).__name__


def as_float32_array(x, name: str, ndim: int, *, finite: bool = False) -> np.ndarray:
    """A C-contiguous float32 array of the given ndim.

    Real-valued input (floats, ints, bools excluded) is accepted; anything else is converted once
    to a float32 copy. Values beyond float32's range raise instead of silently becoming inf.
    """
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense array, got a scipy.sparse matrix")
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers (float32 preferred), got {_describe(arr)}")
    if arr.ndim != ndim:
        hint = " (use x[None, :] for a single row)" if ndim == 2 and arr.ndim == 1 else ""
        raise ValueError(f"{name} must be {ndim}-d, got shape {arr.shape}{hint}")
    if arr.dtype != np.float32:
        with np.errstate(over="raise"):
            try:
                arr = arr.astype(np.float32)
            except FloatingPointError:
                raise ValueError(f"{name} has values outside the float32 range") from None
    arr = np.ascontiguousarray(arr)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite; found {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return arr


def as_csr(x, name: str, *, shape: tuple[int, int] | None = None, values: bool = True,
           finite: bool = True, n_threads: int = 1) -> sp.csr_matrix:
    """A canonical CSR matrix (sorted indices, no duplicates) with int32 indices and float32 data.

    indptr stays int32 or int64 (nnz > 2^31 works). Other sparse formats are converted and
    non-canonical input is canonicalised on a copy (one pass over the data). When ``values`` is
    False only the pattern matters and data is left as is. ``n_threads`` (resolved) runs the
    pattern check.
    """
    if not sp.issparse(x):
        raise TypeError(f"{name} must be a scipy.sparse matrix (CSR preferred), got {_describe(x)}")
    csr = x.tocsr() if x.format != "csr" else x
    if shape is not None and csr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {csr.shape}")
    if csr.shape[1] > np.iinfo(np.int32).max:
        raise ValueError(f"{name} has {csr.shape[1]} columns; at most 2^31 - 1 are supported")
    indices = csr.indices
    if indices.dtype != np.int32:
        if indices.size and (indices.min() < 0 or indices.max() >= csr.shape[1]):
            raise ValueError(f"{name} has column indices outside [0, {csr.shape[1]})")
        indices = indices.astype(np.int32)
    indptr = csr.indptr
    if indptr.dtype not in (np.int32, np.int64):
        indptr = indptr.astype(np.int64)
    data = csr.data
    if values:
        if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
                or data.dtype == np.bool_):
            raise TypeError(f"{name} must hold real numbers, got values of dtype {data.dtype}")
        if data.dtype != np.float32:
            with np.errstate(over="raise"):
                try:
                    data = data.astype(np.float32)
                except FloatingPointError:
                    raise ValueError(f"{name} has values outside the float32 range") from None
        if finite and data.size and not np.isfinite(data).all():
            raise ValueError(f"{name} must not contain NaN or inf values")
    if indices is not csr.indices or indptr is not csr.indptr or data is not csr.data:
        csr = sp.csr_matrix((data, indices, indptr), shape=csr.shape, copy=False)
    if csr.indptr.size != csr.shape[0] + 1:
        raise ValueError(f"{name} has an invalid indptr: {csr.indptr.size} entries for {csr.shape[0]} rows")
    pattern, problem = _kernels.check_csr(csr, name=name, n_threads=n_threads)
    if pattern == "invalid":
        raise ValueError(f"{name}: {problem}")
    if pattern == "unsorted":
        # A full copy first: the arrays may still be the caller's.
        csr = sp.csr_matrix((csr.data.copy(), csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)
        csr.sum_duplicates()  # sorts indices too
        if csr.indices.dtype != np.int32:  # scipy may widen while canonicalising
            csr.indices = csr.indices.astype(np.int32)
    return csr


def check_ids(ids, name: str, upper: int) -> np.ndarray:
    """An int array of indices in [0, upper), returned as int32 (1-d; a scalar becomes shape (1,))."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":  # bools and everything else are not indices
        raise TypeError(f"{name} must be integer indices, got {_describe(arr)}")
    if arr.ndim != 1:
        arr = np.atleast_1d(arr)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    if arr.size == 1:  # the serving case: one user, no reductions
        v = int(arr[0])
        if not 0 <= v < upper:
            raise ValueError(f"{name} contains {v}, outside [0, {upper})")
    elif arr.size and (arr.min() < 0 or arr.max() >= upper):
        bad = arr[(arr < 0) | (arr >= upper)][0]
        raise ValueError(f"{name} contains {int(bad)}, outside [0, {upper})")
    return np.ascontiguousarray(arr, dtype=np.int32)
