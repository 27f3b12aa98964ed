"""The low-precision retrieval kernels of ``_core``, called with keyword arguments and no validation.

Private: public functions validate once (``turborec.quantized``, ``turborec.topk_lowp``) and then
call these. To be folded into ``turborec._kernels`` (the one importer of ``_core``).
"""

from __future__ import annotations

from . import _core


def topk_int8(*, queries, query_scale, items, item_scale, k, item_bias, exclude_indptr, exclude_indices, n_threads):
    return _core.topk_int8(queries=queries, query_scale=query_scale, items=items, item_scale=item_scale, k=k,
                           item_bias=item_bias, exclude_indptr=exclude_indptr, exclude_indices=exclude_indices,
                           n_threads=n_threads)


def topk_bf16(*, queries, items, k, item_bias, exclude_indptr, exclude_indices, n_threads):
    return _core.topk_bf16(queries=queries, items=items, k=k, item_bias=item_bias, exclude_indptr=exclude_indptr,
                           exclude_indices=exclude_indices, n_threads=n_threads)


def rerank_exact(*, queries, items, item_bias, candidates, k, n_threads):
    return _core.rerank_exact(queries=queries, items=items, item_bias=item_bias, candidates=candidates, k=k,
                              n_threads=n_threads)


def lowp_supported(*, dtype: str) -> str:
    return _core.lowp_supported(dtype=dtype)


def lowp_active(*, dtype: str) -> str:
    return _core.lowp_active(dtype=dtype)


def lowp_cap() -> str:
    return _core.lowp_cap()


def set_lowp_cap(*, level: str) -> None:
    _core.set_lowp_cap(level=level)
