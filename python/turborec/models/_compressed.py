"""Compressed retrieval for a factor model: the setting, and the item codes built once per fitted state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _kernels
from ..quantized import DTYPES, QuantizedFactors
from ..topk_lowp import _retrieve, default_candidates
from .._validation import check_k


@dataclass(frozen=True)
class Compression:
    """What :meth:`MatrixFactorization.compress` asked for (checked once; immutable).

    dtype: "int8", "bf16" or "fp16". rerank: re-score the low-precision candidates in float32 against
    the model's exact factors. candidates: how many per user (None: turborec.topk_lowp.default_candidates).
    """

    dtype: str
    rerank: bool = True
    candidates: int | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not isinstance(self.rerank, bool):
            raise TypeError(f"rerank must be a bool, got {type(self.rerank).__name__}")
        if self.candidates is not None:
            object.__setattr__(self, "candidates", check_k(self.candidates, "candidates"))
            if not self.rerank:
                raise ValueError("candidates needs rerank=True")

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "rerank": self.rerank, "candidates": self.candidates}


@dataclass(frozen=True)
class CompressedItems:
    """The operands compressed retrieval reads: built once per fitted state (the item side never
    changes after fit, so fold-in keeps them), immutable, safe to share across threads."""

    setting: Compression
    codes: QuantizedFactors  # (n_items, factors)
    exact: np.ndarray | None  # contiguous float32 (n_items, factors) for the re-rank
    bias: np.ndarray | None  # item bias, float32, or None
    packed: object | None  # fp16 (a storage format): PackedItems of the decoded codes; else LowpItems

    @classmethod
    def build(cls, setting: Compression, items: np.ndarray, bias, *, n_threads: int, codes=None):
        """items: the exact float32 item factors (n_items, factors); codes: adopt these (read from a
        file) instead of quantizing items again."""
        codes = QuantizedFactors(items, setting.dtype) if codes is None else codes
        if setting.dtype == "fp16":
            packed = _kernels.pack_items(codes.dequantize(), item_bias=bias, n_threads=n_threads)
        elif setting.dtype == "int8":  # packed once with the bias: a recommend call prepares nothing per item
            packed = _kernels.pack_lowp_int8(codes.data, item_scale=codes.scale, item_bias=bias, n_threads=n_threads)
        else:
            packed = _kernels.pack_lowp_bf16(codes.data, item_bias=bias, n_threads=n_threads)
        exact = np.ascontiguousarray(items, dtype=np.float32) if setting.rerank else None
        return cls(setting, codes, exact, bias, packed)

    def topk(self, queries: np.ndarray, k: int, *, exclude, n_threads: int):
        """queries: (n, factors) float32; exclude: a CSR or the wire tuple of the seen items."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        kc = k
        if self.setting.rerank:
            kc = default_candidates(k) if self.setting.candidates is None else max(self.setting.candidates, k)
        if self.setting.dtype == "fp16":
            ids, scores = _kernels.topk_dot(queries, items=self.packed, k=kc, exclude=exclude, n_threads=n_threads)
            if self.exact is None:
                return ids, scores
            return _kernels.rerank_exact(queries, items=self.exact, item_bias=self.bias, candidates=ids, k=k,
                                         n_threads=n_threads)
        return _retrieve(queries, self.codes, k, kc, item_bias=self.bias, rerank=self.exact, exclude=exclude,
                         n_threads=n_threads, packed=self.packed)
