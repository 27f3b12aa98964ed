"""Item-item and user-user top-k similarity on Spark, by block pairs through the sparse kernel.

The rows (items for item-item) are cut into B contiguous ranges; every ordered pair of blocks
(a, b) is one task running :func:`turborec.similarity.topk_similarity` of block a's rows against
block b's candidates (the per-row top-k of that pair), and the B partial top-k lists of each row
are merged into its global top-k (score descending, then the smaller id, as the kernel orders
ties). What a metric needs from the whole matrix is computed globally first, by Spark:
``adjusted_cosine`` subtracts each column's mean, ``bm25`` / ``tfidf`` weight by the document
frequency of each column and (bm25) the mean row length; the blocks then run plain ``cosine``.
Every other metric only needs the rows themselves (row norms, row means, row sizes), which live
whole in one block. The result equals the single-machine ``topk_similarity`` on the same matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..similarity import METRICS, topk_similarity
from .._threads import effective_threads
from .._validation import check_param_int
from ._blocks import task_threads
from .checks import check_interactions, first_duplicate
from .errors import spark_job
from .ids import index_interactions, to_raw

_GLOBAL = ("adjusted_cosine", "bm25", "tfidf")  # weighted globally, then cosine per block


def _merge_topk(rows, cols, scores, k):
    """Per row, the k best (score desc, col asc) of concatenated candidate lists."""
    order = np.lexsort((cols, -scores.astype(np.float64), rows))
    rows, cols, scores = rows[order], cols[order], scores[order]
    start = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    rank = np.arange(rows.size) - np.repeat(start, np.diff(np.r_[start, rows.size]))
    keep = rank < k
    return rows[keep], cols[keep], scores[keep]


def _weighted(rows, cols, vals, metric, stats):
    """The globally weighted values, as turborec.similarity computes them (float64, then float32)."""
    x = vals.astype(np.float32).astype(np.float64)
    if metric == "adjusted_cosine":
        return (x - stats["col_mean"][cols]).astype(np.float32)
    idf = np.log(max(stats["n_rows"], 1)) - np.log1p(stats["df"][cols])
    if metric == "tfidf":
        return (np.sqrt(vals.astype(np.float32)) * idf).astype(np.float32)
    K1, B = stats["K1"], stats["B"]
    uniq, inv = np.unique(rows, return_inverse=True)
    row_sums = np.bincount(inv, weights=x, minlength=uniq.size)
    mean_len = stats["mean_len"]
    length_norm = (1.0 - B) + B * row_sums[inv] / (mean_len if mean_len > 0 else 1.0)
    return (x * (K1 + 1.0) / (K1 * length_norm + x) * idf).astype(np.float32)


def _similarity(df, k, *, row_col, other_col, user, item, rating, metric, blocks, shrinkage, min_support, threshold,
                include_self):
    from pyspark.sql import functions as F

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    k = check_param_int(k, "k", 1)
    blocks = check_param_int(blocks, "blocks", 1)
    # The per-pair parameters are validated by the kernel's public function on a tiny input now.
    topk_similarity(sp.csr_matrix((1, 1), dtype=np.float32), 1, metric=metric, shrinkage=shrinkage,
                    min_support=min_support, threshold=threshold, n_threads=1)
    check_interactions(df, user, item, rating, duplicates=False)  # repeats: counted in the blocks below
    with spark_job(f"similarity (metric={metric!r})"):
        data = index_interactions(df, user, item, rating)
        n_rows = len(data.item_map if row_col == "i" else data.user_map)
        id_map = data.item_map if row_col == "i" else data.user_map
        # The values as the single-machine matrix stores them (float32), before any statistic.
        frame = data.frame.select(F.col(row_col).alias("row"), F.col(other_col).alias("col"),
                                  F.col("r").cast("float").cast("double").alias("r"))
        if metric in ("bm25", "tfidf") and frame.filter(F.col("r") < 0).limit(1).count():
            raise ValueError(f"rating column {rating!r}: {metric} needs non-negative values")
        stats = {}
        if metric in _GLOBAL:
            col_stats = frame.groupBy("col").agg(F.count(F.lit(1)).alias("n"), F.sum("r").alias("s")).collect()
            n_cols = len(data.user_map if row_col == "i" else data.item_map)
            cnt, tot = np.zeros(n_cols), np.zeros(n_cols)
            for row in col_stats:
                cnt[row["col"]], tot[row["col"]] = row["n"], row["s"]
            stats = {"col_mean": np.divide(tot, cnt, out=np.zeros(n_cols), where=cnt > 0), "df": cnt,
                     "n_rows": n_rows, "K1": 100.0, "B": 0.8,
                     "mean_len": float(tot.sum() / n_rows) if n_rows else 1.0}
        size = -(-n_rows // int(blocks))
        B = -(-n_rows // size)
        n_cols = len(data.user_map if row_col == "i" else data.item_map)
        local_metric = "cosine" if metric in _GLOBAL else metric
        sc = df.sparkSession.sparkContext
        bstats = sc.broadcast(stats)

        def pack(pdf):
            import pandas as pd

            rows = pdf["row"].to_numpy(np.int64)
            cols = pdf["col"].to_numpy(np.int64)
            vals = pdf["r"].to_numpy(np.float64)
            if metric in _GLOBAL:
                vals = _weighted(rows, cols, vals, metric, bstats.value)
            b = int(rows[0] // size)
            return pd.DataFrame({"b": [b], "rows": [rows.astype(np.int32).tobytes()],
                                 "cols": [cols.astype(np.int32).tobytes()],
                                 "vals": [np.asarray(vals, np.float32).tobytes()]})

        packed = frame.withColumn("b", (F.col("row") / size).cast("int")).groupBy("b") \
            .applyInPandas(pack, "b int, rows binary, cols binary, vals binary")

        repeats = sc.accumulator(0)

        def to_csr(row):
            b = int(row["b"])
            lo = b * size
            n = min(size, n_rows - lo)
            r = np.frombuffer(row["rows"], np.int32) - lo
            m = sp.csr_matrix((np.frombuffer(row["vals"], np.float32), (r, np.frombuffer(row["cols"], np.int32))),
                              shape=(n, n_cols), dtype=np.float32)
            m.sum_duplicates()  # (the constructor already sums repeated (row, col) pairs)
            repeats.add(r.size - m.nnz)
            return b, m

        # Built once, now, and cached: every block pair reads its two blocks from here, and the
        # repeated pairs are known before any similarity is computed. The cache lives as long as
        # the returned DataFrame's lineage (Spark's ContextCleaner drops it after).
        csr_blocks = packed.rdd.map(to_csr).persist()
        csr_blocks.count()
        if repeats.value:
            csr_blocks.unpersist()
            raise first_duplicate(df, user, item) or ValueError("duplicate (user, item) pairs")
        kk = int(k)

        def pair(both):
            (a, Xa), (b, Xb) = both
            n_threads = effective_threads(task_threads())
            if a == b:
                S = topk_similarity(Xa, kk, metric=local_metric, shrinkage=shrinkage, min_support=min_support,
                                    threshold=threshold, include_self=include_self, n_threads=n_threads) \
                    if Xa.shape[0] > (0 if include_self else 1) else sp.csr_matrix((Xa.shape[0], Xa.shape[0]),
                                                                                   dtype=np.float32)
            else:
                S = topk_similarity(Xa, kk, Y=Xb, metric=local_metric, shrinkage=shrinkage, min_support=min_support,
                                    threshold=threshold, n_threads=n_threads)
            S = S.tocoo()
            return a, (S.row.astype(np.int64) + a * size, S.col.astype(np.int64) + b * size, S.data)

        def merge(x, y):
            return _merge_topk(np.concatenate([x[0], y[0]]), np.concatenate([x[1], y[1]]),
                               np.concatenate([x[2], y[2]]), kk)

        merged = csr_blocks.cartesian(csr_blocks).map(pair).reduceByKey(merge, numPartitions=B) \
            .mapValues(lambda t: _merge_topk(*t, kk))

        def rows_out(kv):
            rows, cols, scores = kv[1]
            order = np.lexsort((cols, -scores.astype(np.float64), rows))
            rows, cols, scores = rows[order], cols[order], scores[order]
            start = np.r_[0, np.flatnonzero(np.diff(rows)) + 1] if rows.size else np.empty(0, np.int64)
            rank = np.arange(rows.size) - np.repeat(start, np.diff(np.r_[start, rows.size])) + 1
            return [(int(r), int(c), float(s), int(q)) for r, c, s, q in zip(rows, cols, scores, rank)]

        out = merged.flatMap(rows_out).toDF("row long, other long, score float, rank int")
        out = to_raw(to_raw(out, "row", id_map, raw=f"_{row_col}_raw"), "other", id_map, raw="_other_raw")
        name = item if row_col == "i" else user
        return out.select(F.col(f"_{row_col}_raw").alias(name), F.col("_other_raw").alias("other"), "score", "rank")


def item_similarity(df, k: int = 20, *, user: str = "user", item: str = "item", rating: str | None = "rating",
                    metric: str = "cosine", blocks: int = 4, shrinkage: float = 0.0, min_support: int = 1,
                    threshold=None, include_self: bool = False):
    """Top-k similar items of every item: a DataFrame (item, other, score, rank), raw ids.

    Equal to ``turborec.similarity.topk_similarity(R.T, k, metric=...)`` on the same data (``R``
    the users x items matrix of ``Interactions.from_pandas``). ``rating=None`` treats every row as
    a 1. ``blocks`` cuts the items into that many ranges: blocks^2 tasks, each holding two blocks.
    """
    return _similarity(df, k, row_col="i", other_col="u", user=user, item=item, rating=rating, metric=metric,
                       blocks=blocks, shrinkage=shrinkage, min_support=min_support, threshold=threshold,
                       include_self=include_self)


def user_similarity(df, k: int = 20, *, user: str = "user", item: str = "item", rating: str | None = "rating",
                    metric: str = "cosine", blocks: int = 4, shrinkage: float = 0.0, min_support: int = 1,
                    threshold=None, include_self: bool = False):
    """Top-k similar users of every user: a DataFrame (user, other, score, rank); see :func:`item_similarity`."""
    return _similarity(df, k, row_col="u", other_col="i", user=user, item=item, rating=rating, metric=metric,
                       blocks=blocks, shrinkage=shrinkage, min_support=min_support, threshold=threshold,
                       include_self=include_self)
