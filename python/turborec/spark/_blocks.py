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


def grouped_arrays(frame, key, columns: dict, partitions: int, all_keys: int = 0, partition_func=None):
    """RDD of (key, (array per column...)) with every row of a key concatenated (rows unordered),
    in partition ``partition_func(key) % partitions`` (Spark's hash of the key by default).

    ``key`` maps the numpy columns of a batch to an int key per row. Rows cross from the JVM as
    Arrow batches (no Python object per row); each input partition sends one packed record per
    key it holds, and the shuffle concatenates those: Spark moves arrays, never single rows.
    """
    names = list(columns)
    dtypes = [np.dtype(columns[c]) for c in names]
    schema = "k int, " + ", ".join(f"`{c}` binary" for c in names)

    def pack(batches):
        import pyarrow as pa

        parts = {c: [] for c in names}
        for batch in batches:
            for c, dt in zip(names, dtypes):
                parts[c].append(batch.column(c).to_numpy(zero_copy_only=False).astype(dt, copy=False))
        if not parts[names[0]]:
            return
        cols = {c: np.concatenate(parts[c]) for c in names}
        keys = np.asarray(key(cols), dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, keys.size]
        out = {"k": keys[starts].astype(np.int32)}
        for c in names:
            arr = cols[c][order]
            out[c] = [arr[lo:hi].tobytes() for lo, hi in zip(starts, ends)]
        yield pa.RecordBatch.from_pydict(out)

    packed = frame.select(*names).mapInArrow(pack, schema)

    def unpack(row):
        return int(row[0]), tuple(np.frombuffer(row[j + 1], dt) for j, dt in enumerate(dtypes))

    def concat(parts):
        parts = list(parts)
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(len(names)))

    records = packed.rdd.map(unpack)
    if all_keys:  # keys 0..all_keys-1 all present, empty where no row has them
        empty = tuple(np.empty(0, dt) for dt in dtypes)
        sc = frame.sparkSession.sparkContext
        records = records.union(sc.parallelize([(k, empty) for k in range(all_keys)], 1))
    if partition_func is None:
        return records.groupByKey(partitions).mapValues(concat)
    return records.groupByKey(partitions, partition_func).mapValues(concat)


def rating_blocks(frame, blocks: int, n_users: int, n_items: int, duplicates=None):
    """RDD of (user block, (item block, lu, li, r)) with each block's entries sorted by (lu, li),
    partitioned so partition b holds the blocks of user block b (the deterministic order makes the
    SGD visiting order, and so the model, depend only on the data and the seed). ``duplicates``:
    an accumulator that counts repeated (user, item) pairs (adjacent once sorted)."""
    P = int(blocks)
    # Key item block * P + user block: with block_partition (key % P) the grouping shuffle already
    # lands every block in its user block's partition, so no second shuffle is needed to place them.
    grouped = grouped_arrays(frame, lambda c: (c["i"] % P) * P + c["u"] % P,
                             {"u": np.int64, "i": np.int64, "r": np.float32}, P, all_keys=P * P,
                             partition_func=block_partition)

    def block(kv):
        k, (u, i, r) = kv
        order = np.lexsort((i, u))
        if duplicates is not None and u.size > 1:
            su, si = u[order], i[order]
            duplicates.add(int(np.count_nonzero((su[1:] == su[:-1]) & (si[1:] == si[:-1]))))
        return k % P, (k // P, (u[order] // P).astype(np.int32), (i[order] // P).astype(np.int32),
                       np.ascontiguousarray(r[order]))

    return grouped.mapPartitions(lambda kvs: map(block, kvs), preservesPartitioning=True).persist()
