"""Rating blocks of the P x P grid, built and held by Spark (never on the driver).

Dense user u lies in user block ``u % P`` at local row ``u // P`` (items alike): hashing by the
dense id spreads the popular users, which the sorted-id order does not cluster anyway.
"""

from __future__ import annotations

import numpy as np


def block_size(n: int, blocks: int, b: int) -> int:
    """Rows of block b when n dense ids are dealt by ``id % blocks``."""
    return (n - b + blocks - 1) // blocks


def block_partition(key: int) -> int:
    """Partition of a block key: the key itself. One function object, so PySpark sees the factor
    and rating RDDs as co-partitioned and joins them without a shuffle."""
    return int(key)


def task_threads() -> int:
    """Threads a kernel may use inside a Spark task: the task's cores (spark.task.cpus), else 1."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        return max(int(ctx.cpus()), 1) if ctx is not None else 1
    except Exception:  # older pyspark without TaskContext.cpus
        return 1


def rating_blocks(frame, blocks: int, n_users: int, n_items: int):
    """RDD of (user block, (item block, lu, li, r)) with each block's entries sorted by (lu, li),
    partitioned so partition b holds the blocks of user block b (the deterministic order makes the
    SGD visiting order, and so the model, depend only on the data and the seed)."""
    from pyspark.sql import functions as F

    P = int(blocks)
    keyed = frame.select((F.col("u") % P).alias("ub"), (F.col("i") % P).alias("ib"),
                         (F.col("u") / P).cast("int").alias("lu"), (F.col("i") / P).cast("int").alias("li"),
                         F.col("r").cast("float").alias("r"))

    def pack(pdf):
        import pandas as pd

        lu = pdf["lu"].to_numpy(np.int32)
        li = pdf["li"].to_numpy(np.int32)
        r = pdf["r"].to_numpy(np.float32)
        order = np.lexsort((li, lu))
        return pd.DataFrame({"ub": [int(pdf["ub"].iloc[0])], "ib": [int(pdf["ib"].iloc[0])],
                             "lu": [lu[order].tobytes()], "li": [li[order].tobytes()], "r": [r[order].tobytes()]})

    packed = keyed.groupBy("ub", "ib").applyInPandas(pack, "ub int, ib int, lu binary, li binary, r binary")

    def unpack(row):
        return (int(row["ub"]), (int(row["ib"]), np.frombuffer(row["lu"], np.int32), np.frombuffer(row["li"], np.int32),
                                 np.frombuffer(row["r"], np.float32)))

    present = packed.rdd.map(unpack)
    # Every (ub, ib) block exists, empty or not, so each stratum touches every factor block.
    sc = frame.sparkSession.sparkContext
    empty = np.empty(0, np.int32), np.empty(0, np.float32)
    everything = sc.parallelize([(ub, ib) for ub in range(P) for ib in range(P)], P) \
        .map(lambda k: (k[0], (k[1], empty[0], empty[0], empty[1])))
    merged = present.union(everything).map(lambda kv: ((kv[0], kv[1][0]), kv[1])) \
        .reduceByKey(lambda a, b: a if a[1].size >= b[1].size else b) \
        .map(lambda kv: (kv[0][0], kv[1]))
    return merged.partitionBy(P, block_partition).persist()
