"""Compressed retrieval for a factor model: quantized item factors built once, used by recommend."""

from __future__ import annotations

from ..quantized import DTYPES, QuantizedFactors
from ..topk_lowp import topk_quantized
from .._validation import check_k


class CompressedItems:
    """How a model retrieves on compressed item factors, and the codes (rebuilt when Q is replaced).

    dtype: "int8", "bf16" or "fp16". rerank: re-score the low-precision candidates in float32 against
    the model's exact factors (recall ~1.0; keeps the float32 factors). candidates: how many per user
    (None: turborec.topk_lowp.default_candidates).
    """

    __slots__ = ("dtype", "rerank", "candidates", "_codes")

    def __init__(self, dtype: str, rerank: bool = True, candidates=None):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if not isinstance(rerank, bool):
            raise TypeError(f"rerank must be a bool, got {type(rerank).__name__}")
        if candidates is not None:
            candidates = check_k(candidates, "candidates")
            if not rerank:
                raise ValueError("candidates needs rerank=True")
        self.dtype, self.rerank, self.candidates = dtype, rerank, candidates
        self._codes = (None, None)  # (the Q array they were built from, QuantizedFactors)

    def codes(self, Q) -> QuantizedFactors:
        source, codes = self._codes
        if source is not Q:  # first use, or the model was refitted / reloaded: a new Q array
            codes = QuantizedFactors(Q, self.dtype)
            self._codes = (Q, codes)
        return codes

    def adopt(self, codes: QuantizedFactors, Q) -> None:
        """Use codes (read from a file) as those of Q, instead of quantizing Q again."""
        self._codes = (Q, codes)

    def topk(self, queries, Q, k, *, exclude, item_bias, n_threads):
        candidates = None
        if self.rerank and self.candidates is not None:
            candidates = max(self.candidates, k)
        return topk_quantized(queries, self.codes(Q), k, exclude=exclude, item_bias=item_bias,
                              rerank=Q if self.rerank else None, candidates=candidates, n_threads=n_threads)

    def __repr__(self) -> str:
        return f"CompressedItems(dtype={self.dtype!r}, rerank={self.rerank}, candidates={self.candidates})"
