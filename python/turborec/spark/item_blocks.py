"""Batch recommendation for factor models whose item table is too big to ship whole to every task.

The user factors go out in chunks and the item factors in ``B`` blocks, each as its own one-row
partition; a Cartesian product pairs every chunk with every block, so one task holds one chunk and
one block (never the whole item table). Each pair runs :func:`turborec.topk_dot` over its block
(the block's item biases added, the chunk's seen items in that block excluded), and the per-block
top-k lists of a chunk are merged into its top-k: score descending, ties by the lower item index,
exactly the kernel's own rule, so the result equals ``model.recommend``.

Memory per task: one chunk (users_per_task x factors floats, plus its seen rows) and one block
(n_items / B x factors floats); the merge holds B x k candidates per user of a chunk.
"""

from __future__ import annotations

import pickle

import numpy as np

from ..topk import topk_dot
from ._blocks import task_threads


def _payloads(model, chunks, edges, exclude_seen: bool):
    """(per-chunk payloads, per-block rows, per-chunk (dense, raw) user ids), the model's arrays
    read once (its fitted properties copy or rebuild on every access)."""
    P, Q = model.user_factors_, model.item_factors_
    bias = model.item_bias_ if model.biased else None
    seen = model.user_items_ if exclude_seen else None
    user_raw = None if model.user_ids_ is None else np.asarray(model.user_ids_)
    item_raw = None if model.item_ids_ is None else np.asarray(model.item_ids_)
    ids = [(users, None if user_raw is None else user_raw[users]) for users in chunks]
    chunk_payloads = []
    for users, raw in ids:
        rows = None if seen is None else seen[users]
        chunk_payloads.append(pickle.dumps((users, raw, np.ascontiguousarray(P[users]),
                                            None if rows is None else (rows.indptr, rows.indices)), protocol=5))
    block_rows = []
    for b, (lo, hi) in enumerate(zip(edges[:-1].tolist(), edges[1:].tolist())):
        if hi > lo:
            block_rows.append((b, pickle.dumps((lo, hi, None if item_raw is None else item_raw[lo:hi],
                                                np.ascontiguousarray(Q[lo:hi]),
                                                None if bias is None else np.ascontiguousarray(bias[lo:hi])),
                                               protocol=5)))
    return chunk_payloads, block_rows, ids


def _partial_top_k(k: int, n_items: int):
    """mapInPandas function: the top-k of each (chunk, block) row's users over that block."""

    def run(frames):
        import pandas as pd
        import scipy.sparse as sp

        for pdf in frames:
            out = {"chunk": [], "block": [], "part": []}
            for chunk, cp, block, bp in zip(pdf["chunk"], pdf["chunk_payload"], pdf["block"], pdf["block_payload"]):
                users, _, U, seen = pickle.loads(cp)
                lo, hi, item_raw, Q, bias = pickle.loads(bp)
                exclude = None
                if seen is not None:
                    rows = sp.csr_matrix((np.ones(seen[1].size, np.float32), seen[1], seen[0]),
                                         shape=(users.size, n_items))[:, lo:hi]
                    rows.sort_indices()
                    exclude = rows
                ids, scores = topk_dot(U, Q, min(k, hi - lo), exclude=exclude, item_bias=bias,
                                       n_threads=task_threads())
                valid = ids >= 0
                dense = np.where(valid, ids + lo, -1).astype(np.int32)
                raw = None if item_raw is None else item_raw[np.maximum(ids, 0)]  # masked by dense < 0 later
                out["chunk"].append(int(chunk))
                out["block"].append(int(block))
                out["part"].append(pickle.dumps((dense, raw, scores), protocol=5))
            yield pd.DataFrame(out)

    return run


def _merge(k: int, chunk_ids):
    """applyInPandas function: one chunk's per-block lists -> its rows (user, item, score, rank)."""

    def run(pdf):
        import pandas as pd

        chunk = int(pdf["chunk"].iloc[0])
        users, user_raw = chunk_ids.value[chunk]
        parts = [pickle.loads(p) for p in pdf.sort_values("block")["part"]]
        dense = np.concatenate([p[0] for p in parts], axis=1)
        scores = np.concatenate([p[2] for p in parts], axis=1)
        order = np.lexsort((dense, -scores), axis=1)[:, :k]  # score descending, then the lower index
        dense = np.take_along_axis(dense, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        valid = dense >= 0
        if parts[0][1] is not None:
            raw = np.take_along_axis(np.concatenate([p[1] for p in parts], axis=1), order, axis=1)
            items = raw[valid]
        else:
            items = dense[valid].astype(np.int64)
        who = users if user_raw is None else user_raw
        return pd.DataFrame({"user": np.repeat(who, valid.sum(axis=1)), "item": items,
                             "score": scores[valid].astype(np.float32),
                             "rank": ((np.cumsum(valid, axis=1) * valid)[valid]).astype(np.int32)})

    return run


def recommend_by_item_blocks(model, spark, *, k: int, exclude_seen: bool, chunks, item_blocks: int, schema: str):
    """The DataFrame of :func:`recommend_all` for a MatrixFactorization, items in ``item_blocks`` blocks."""
    sc = spark.sparkContext
    if not chunks:
        return spark.createDataFrame([], schema)
    n_items = model.n_items
    k = min(int(k), n_items)
    edges = np.linspace(0, n_items, int(item_blocks) + 1).astype(np.int64)
    chunk_payloads, block_rows, chunk_ids = _payloads(model, chunks, edges, exclude_seen)
    # One row per partition on each side: the Cartesian product's tasks are the (chunk, block) pairs.
    left = spark.createDataFrame(sc.parallelize(list(enumerate(chunk_payloads)), len(chunk_payloads)),
                                 "chunk int, chunk_payload binary")
    right = spark.createDataFrame(sc.parallelize(block_rows, len(block_rows)), "block int, block_payload binary")
    # shuffle_replicate_nl: a Cartesian product, never a broadcast of the item side to every task
    pairs = left.hint("shuffle_replicate_nl").crossJoin(right.hint("shuffle_replicate_nl"))
    partial = pairs.mapInPandas(_partial_top_k(k, n_items), "chunk int, block int, part binary")
    # the merge needs each chunk's user ids only: a broadcast of the chunks' (small) id arrays
    return partial.groupBy("chunk").applyInPandas(_merge(k, sc.broadcast(chunk_ids)), schema)
