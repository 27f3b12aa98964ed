"""Compressed factor matrices: int8 (symmetric, one scale per row), bf16 and fp16.

A :class:`QuantizedFactors` is what :func:`turborec.topk_quantized` retrieves from and what a
compressed model stores: int8 takes 1/4 of the float32 bytes (plus one float32 scale per row),
bf16 and fp16 half.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import as_float32_array

DTYPES = ("int8", "bf16", "fp16")


def _check_dtype(dtype) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return dtype


def _as_finite_float_matrix(x, name: str) -> np.ndarray:
    """A float32 C-contiguous 2-d copy-if-needed of real floating input; NaN/inf raise. Unlike
    the other public arrays, integers are refused: integer codes passed as factors are a mistake."""
    if not sp.issparse(x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must hold floating-point numbers (float32 preferred), got dtype {x.dtype}")
    return as_float32_array(x, name, 2, finite=True)


def quantize_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, d) -> (int8 (n, d), float32 scale (n,)) with x ~= q * scale, q in [-127, 127].

    The scale is max|row| / 127; an all-zero row (or one so small the scale underflows) gets scale 0
    and zeros. -128 is never used, so negating a row is exact.
    """
    amax = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0], np.float32)
    scale = (amax / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.rint(x / safe[:, None])
    q = np.clip(q, -127, 127)
    q[scale == 0] = 0
    scale[scale == 0] = 0
    return q.astype(np.int8), scale


def quantize_bf16(x: np.ndarray, name: str = "factors") -> np.ndarray:
    """float32 -> bf16 bit patterns (uint16), rounded to nearest even; overflow to inf raises."""
    bits = x.view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    if rounded.size and ((rounded & np.uint16(0x7F80)) == np.uint16(0x7F80)).any():
        raise ValueError(f"{name} has values too large for bf16 (|x| > 3.39e38 rounds to inf)")
    return rounded


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def quantize_fp16(x: np.ndarray, name: str = "factors") -> np.ndarray:
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    if h.size and not np.isfinite(h).all():
        raise ValueError(f"{name} has values too large for fp16 (|x| > 65504)")
    return h


class QuantizedFactors:
    """A factor matrix (n, d) stored compressed, row by row.

    Parameters
    ----------
    factors : array-like of floats, shape (n, d)
        Finite values (NaN or inf raise ValueError; non-float dtypes raise TypeError). Not modified.
    dtype : {"int8", "bf16", "fp16"}
        ``"int8"``: symmetric per-row quantization, ``row ~= q * scale`` with q in [-127, 127] and
        scale = max|row| / 127 (an all-zero row has scale 0). ``"bf16"``: float32 rounded to nearest
        even to 8 mantissa bits (float32's range). ``"fp16"``: IEEE half precision (|x| <= 65504).

    Attributes
    ----------
    dtype : str
    data : ndarray (n, d)
        int8 values, bf16 bit patterns as uint16, or float16.
    scale : float32 ndarray (n,) for int8, else None
    shape : (n, d)
    nbytes : int
        Bytes held (data plus scales).
    """

    __slots__ = ("dtype", "data", "scale", "_packed")

    def __init__(self, factors, dtype: str = "int8"):
        dtype = _check_dtype(dtype)
        x = _as_finite_float_matrix(factors, "factors")
        scale = None
        if dtype == "int8":
            data, scale = quantize_int8(x)
        elif dtype == "bf16":
            data = quantize_bf16(x)
        else:
            data = quantize_fp16(x)
        self._set(dtype, data, scale)

    def _set(self, dtype, data, scale):
        data.setflags(write=False)
        if scale is not None:
            scale.setflags(write=False)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "_packed", None)

    def _packed_items(self, n_threads: int):
        """The int8 / bf16 codes packed into the retrieval kernels' panels, built on first use and kept
        (the codes are immutable; the layout is the same at every SIMD level, so no repacking when the
        level changes). Two threads racing here each build one; either result is the same."""
        packed = self._packed
        if packed is None:
            from . import _kernels  # late: quantized is imported by the API layer before the kernels

            data = self.data if self.data.shape[1] else np.zeros((self.data.shape[0], 1), self.data.dtype)
            if self.dtype == "int8":
                packed = _kernels.pack_lowp_int8(data, item_scale=self.scale, item_bias=None, n_threads=n_threads)
            elif self.dtype == "bf16":
                packed = _kernels.pack_lowp_bf16(data, item_bias=None, n_threads=n_threads)
            else:
                raise ValueError("fp16 is a storage format: it has no low-precision kernel to pack for")
            object.__setattr__(self, "_packed", packed)
        return packed

    @classmethod
    def from_parts(cls, dtype: str, data, scale=None) -> "QuantizedFactors":
        """Rebuild from stored parts (as persistence saves them), checking dtypes and shapes."""
        dtype = _check_dtype(dtype)
        want = {"int8": np.int8, "bf16": np.uint16, "fp16": np.float16}[dtype]
        data = np.asarray(data)
        if data.dtype != want:
            raise TypeError(f"data for {dtype} must have dtype {np.dtype(want)}, got {data.dtype}")
        if data.ndim != 2:
            raise ValueError(f"data must be 2-d (n, d), got shape {data.shape}")
        data = np.ascontiguousarray(data).copy()
        if dtype == "int8":
            if scale is None:
                raise ValueError("scale is required for int8 data")
            scale = np.asarray(scale)
            if scale.dtype != np.float32 or scale.shape != (data.shape[0],):
                raise ValueError(f"scale must be float32 of shape ({data.shape[0]},), got {scale.dtype} {scale.shape}")
            if not np.isfinite(scale).all() or (scale < 0).any():
                raise ValueError("scale must be finite and >= 0")
            if (data == -128).any():
                raise ValueError("int8 data must lie in [-127, 127]")
            scale = scale.copy()
        else:
            if scale is not None:
                raise ValueError(f"scale must be None for {dtype} data")
            if data.size and not np.isfinite(cls._decode(dtype, data, None)).all():
                raise ValueError(f"{dtype} data must be finite")
        obj = cls.__new__(cls)
        obj._set(dtype, data, scale)
        return obj

    def __setattr__(self, name, value):
        raise AttributeError("QuantizedFactors is immutable")

    def __getstate__(self):  # the packed panels are a cache: rebuilt after unpickling, never stored
        return {"dtype": self.dtype, "data": self.data, "scale": self.scale}

    def __setstate__(self, state):
        self._set(state["dtype"], np.array(state["data"]), None if state["scale"] is None else np.array(state["scale"]))

    @staticmethod
    def _decode(dtype, data, scale) -> np.ndarray:
        if dtype == "int8":
            return data.astype(np.float32) * scale[:, None]
        if dtype == "bf16":
            return bf16_to_float32(data)
        return data.astype(np.float32)

    def dequantize(self) -> np.ndarray:
        """The float32 (n, d) matrix these values stand for (a new array)."""
        return self._decode(self.dtype, self.data, self.scale)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.data.shape)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes + (self.scale.nbytes if self.scale is not None else 0))

    def __len__(self) -> int:
        return self.data.shape[0]

    def __repr__(self) -> str:
        n, d = self.shape
        return f"QuantizedFactors(dtype={self.dtype!r}, shape=({n}, {d}), nbytes={self.nbytes})"
