"""Raw ids -> dense indices with Spark, in the order the single-machine :class:`turborec.IdMap` uses.

``Interactions.from_arrays`` numbers ids in sorted order (pandas.factorize(sort=True)); Spark's sort
orders numbers the same way and strings by UTF-8 bytes, which is code-point order, i.e. Python's.
The dense index of each id comes from a distributed sort + ``zipWithIndex`` and a join: the ratings
never travel to the driver. The driver does collect the distinct ids once (sorted), because the
fitted model's IdMap needs them to answer ``user_index(raw)`` locally.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import IdMap


@dataclass(frozen=True)
class IndexedInteractions:
    """A DataFrame with dense int columns ``u``, ``i`` (and float ``r``), plus the two IdMaps."""

    frame: object  # pyspark DataFrame: u int, i int[, r double]
    user_map: IdMap
    item_map: IdMap

    cached: tuple = ()  # the persisted id tables behind ``frame``

    def release(self) -> None:
        """Drop the cached id tables once what ``frame`` feeds has been computed."""
        for rdd in self.cached:
            rdd.unpersist()

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_map), len(self.item_map)


def _dense_ids(df, col: str, dense: str):
    """(DataFrame raw -> dense, the raw ids in dense order as a numpy array, the cached RDD behind both)."""
    spark = df.sparkSession
    distinct = df.select(col).distinct().orderBy(col)
    indexed = distinct.rdd.zipWithIndex().map(lambda pair: (pair[0][0], int(pair[1]))).persist()
    table = spark.createDataFrame(indexed, schema=f"`{col}` {df.schema[col].dataType.simpleString()}, {dense} int")
    # The ids for the IdMap, in dense order (distinct ids only, never the ratings).
    pairs = indexed.collect()
    raw = [None] * len(pairs)
    for value, d in pairs:
        raw[d] = value
    kind = type(df.schema[col].dataType).__name__
    if kind == "StringType":
        arr = np.empty(len(raw), dtype=object)
        arr[:] = raw
    elif kind == "DecimalType":
        arr = np.asarray([float(v) for v in raw], dtype=np.float64)
    else:
        arr = np.asarray(raw)
    return table, arr, indexed


def index_interactions(df, user: str, item: str, rating: str | None = None) -> IndexedInteractions:
    """Dense ids for the (already checked) interactions, consistent with ``Interactions.from_arrays``."""
    from pyspark.sql import functions as F

    users, user_ids, user_rdd = _dense_ids(df, user, "u")
    items, item_ids, item_rdd = _dense_ids(df, item, "i")
    cols = [F.col("u"), F.col("i")]
    cols.append((F.col(rating).cast("double") if rating is not None else F.lit(1.0)).alias("r"))
    frame = df.join(F.broadcast(users) if len(user_ids) < 1_000_000 else users, user) \
        .join(F.broadcast(items) if len(item_ids) < 1_000_000 else items, item).select(*cols)
    return IndexedInteractions(frame, IdMap(user_ids, "user"), IdMap(item_ids, "item"), (user_rdd, item_rdd))


def to_raw(df, column: str, id_map: IdMap, *, raw: str | None = None):
    """Replace dense column ``column`` by the raw ids of ``id_map`` (a join against a small table)."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    ids = id_map.ids
    rows = [(int(d), v.item() if isinstance(v, np.generic) else v) for d, v in enumerate(ids)]
    table = spark.createDataFrame(rows, schema=["_dense", raw or column])
    return df.join(F.broadcast(table), df[column] == table["_dense"]).drop(column, "_dense")
