"""Top-k retrieval on compressed item factors, with an optional exact float32 re-rank."""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._threads import effective_threads
from ._validation import as_csr, as_float32_array, check_k
from .topk import topk_dot
from .quantized import QuantizedFactors, _as_finite_float_matrix, quantize_bf16


def default_candidates(k: int) -> int:
    """Candidates re-ranked per query when the caller does not choose: k + max(4, ceil(k / 5)).

    Measured (``python bench/lowp_retrieval.py --recall-sweep``, 50,000 items x 64) against exact
    float32: int8 alone reaches recall@10 0.982 on random Gaussian factors (bf16 0.995), 0.996 on
    MF-like ones (skewed norms, bias) and 0.998 on an MF fitted to MovieLens; re-ranking k + 1 gives
    >= 0.997, k + 2 >= 0.999 and k + 4 = 1.0 on all three. Random int8 at k = 50 / 100 needs 54 / 104
    for 0.998 and 60 / 120 for 1.0, hence the k / 5 term. Fewer candidates than the former
    max(2k, k + 10) make the low-precision pass cheaper (its selection grows with the width).
    """
    return k + max(4, -(-k // 5))


def _exclude_csr(exclude, shape, n_threads):
    if exclude is None:
        return None
    return as_csr(exclude, "exclude", shape=shape, values=False, n_threads=n_threads)


def topk_quantized(queries, items, k, *, exclude=None, item_bias=None, rerank=None, candidates=None,
                   n_threads=0):
    """Top-k of ``queries @ items.T (+ item_bias)`` computed on compressed items.

    int8 items: queries are quantized the same way (per row, symmetric), products are summed in
    int32 (exact), and the score is ``float32(sum) * (query_scale * item_scale) + item_bias``.
    bf16 items: queries are rounded to bf16 and products summed in float32. fp16 is a storage
    format: retrieval runs in float32 (:func:`turborec.topk_dot`) on a dequantized copy.
    The kernels run on AVX-512 VNNI / AVX512-BF16 where the CPU has them, else portable C++
    (see :func:`turborec.supported_lowp_levels`). No (n, m) score matrix is built.

    Parameters
    ----------
    queries : array-like of floats (n, d)
        Finite, float32 preferred.
    items : QuantizedFactors (m, d)
    k : int >= 1
        Capped at the number of items: the output width is ``min(k, m)`` (at least 1).
    exclude : scipy.sparse matrix (n, m), optional
        Stored positions are never selected (a user's seen items).
    item_bias : array-like (m,), optional
        Added in float32 to every score of that item.
    rerank : array-like (m, d), optional
        The exact float32 item factors. Given, the low-precision pass keeps ``candidates`` items
        per query, which are re-scored in float32 against ``rerank`` (+ item_bias), and the best k
        of those are returned with their float32 scores.
    candidates : int >= k, optional
        Candidates per query for the re-rank; default :func:`default_candidates` (k).
    n_threads : int
        0 (default) = every available core.

    Returns
    -------
    (ids int32 (n, k), scores float32 (n, k)): rows best first, ties by lower id, padded with
    -1 / -inf when fewer than k items are left.
    """
    check_k(k)
    if not isinstance(items, QuantizedFactors):
        raise TypeError(f"items must be a turborec.QuantizedFactors, got {type(items).__name__}")
    queries = _as_finite_float_matrix(queries, "queries")
    m, d = items.shape
    k = check_k(k, n_candidates=m)  # capped at the items, like topk_dot
    if queries.shape[1] != d:
        raise ValueError(f"queries must have {d} columns like items, got {queries.shape[1]}")
    if m >= np.iinfo(np.int32).max - 64:
        raise ValueError(f"items: at most 2^31 - 66 rows are supported, got {m}")
    if item_bias is not None:
        item_bias = as_float32_array(item_bias, "item_bias", 1, finite=True)
        if item_bias.shape[0] != m:
            raise ValueError(f"item_bias must have shape ({m},), got {item_bias.shape}")
    if rerank is not None:
        rerank = _as_finite_float_matrix(rerank, "rerank")
        if rerank.shape != (m, d):
            raise ValueError(f"rerank must have the items' shape {(m, d)}, got {rerank.shape}")
        kc = min(default_candidates(k), max(m, 1)) if candidates is None else \
            check_k(candidates, "candidates", n_candidates=m)
        if kc < k:
            raise ValueError(f"candidates must be >= k = {k}, got {kc}")
    elif candidates is not None:
        raise ValueError("candidates needs rerank (the exact float32 items to re-score them with)")
    else:
        kc = k
    n_threads = effective_threads(n_threads)
    if items.dtype == "fp16":  # a storage format: float32 retrieval on a dequantized copy
        ids, scores = topk_dot(queries, items.dequantize(), kc, exclude=exclude, item_bias=item_bias,
                               n_threads=n_threads)
        if rerank is None:
            return ids, scores
        return _kernels.rerank_exact(queries, items=rerank, item_bias=item_bias, candidates=ids, k=k, n_threads=n_threads)
    exclude = _exclude_csr(exclude, (queries.shape[0], m), n_threads)
    if d == 0:  # no factors: every score is the bias; one zero column is equivalent
        queries = np.zeros((queries.shape[0], 1), np.float32)
        items = QuantizedFactors(np.zeros((m, 1), np.float32), items.dtype)
        if rerank is not None:
            rerank = np.zeros((m, 1), np.float32)
    return _retrieve(queries, items, k, kc, item_bias=item_bias, rerank=rerank, exclude=exclude, n_threads=n_threads)


def _retrieve(queries, items, k, kc, *, item_bias, rerank, exclude, n_threads, packed=None):
    """The trusted path (validated arguments, int8 / bf16 items): kc candidates in low precision,
    then the exact top-k of those when rerank (contiguous float32 items) is given. Models call it,
    with packed = their LowpItems holding the codes and item_bias already."""
    ids, scores = _lowp_topk(queries, items, kc, None if packed is not None else item_bias, exclude, n_threads,
                             packed)
    if rerank is None:
        return ids, scores
    return _kernels.rerank_exact(queries, items=rerank, item_bias=item_bias, candidates=ids, k=k, n_threads=n_threads)


def _lowp_topk(queries, items, k, item_bias, exclude, n_threads, packed=None):
    """packed: LowpItems of items (with their bias, then item_bias is None); default: items' cached pack."""
    if packed is None:
        packed = items._packed_items(n_threads)
    if items.dtype == "int8":  # queries are quantized inside, per chunk on every thread (as quantize_int8 does)
        return _kernels.topk_int8_float_queries(queries, items=packed, k=k, item_bias=item_bias, exclude=exclude,
                                                n_threads=n_threads)
    if items.dtype == "bf16":
        return _kernels.topk_bf16_packed(quantize_bf16(queries, "queries"), items=packed, k=k, item_bias=item_bias,
                                         exclude=exclude, n_threads=n_threads)
    raise AssertionError(items.dtype)  # fp16 is handled by the caller
