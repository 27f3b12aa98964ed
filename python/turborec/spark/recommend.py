"""Batch recommendation for every user on Spark: the fitted model shipped to executors as bytes.

Any fitted turborec model works (MatrixFactorization, ItemKNN, UserKNN, ...): the driver sends
``model.to_bytes()`` once as a broadcast; each Python worker loads it once and answers a range of
users per task with the model's own ``recommend`` (for MF: the SIMD ``topk_dot`` kernel over the
packed item factors, seen items excluded), so the results are exactly the local model's. The
output rows are built as Arrow batches (no per-row Python objects), with raw ids when the model
has them.
"""

from __future__ import annotations

import uuid

import numpy as np

from ..models import MatrixFactorization, Recommender
from ..persistence import loads
from .._threads import effective_threads
from .._validation import check_param_int
from ._blocks import task_threads
from .errors import spark_job
from .item_blocks import recommend_by_item_blocks

_MODELS: dict = {}  # per Python worker: token of the broadcast -> loaded model (a worker serves many tasks)


def _spark_type(ids) -> str:
    if ids is None:
        return "bigint"
    kind = np.asarray(ids).dtype.kind
    return {"i": "bigint", "u": "bigint", "f": "double", "b": "boolean"}.get(kind, "string")


def _load(token: str, broadcast):
    model = _MODELS.get(token)
    if model is None:
        _MODELS.clear()  # one model at a time per worker: an old broadcast's model is dropped
        model = loads(broadcast.value)
        model._n_threads = effective_threads(task_threads())  # the task's cores, not the machine's
        _MODELS[token] = model
    return model


def recommend_all(model: Recommender, spark, *, k: int = 10, exclude_seen: bool = True, users=None,
                  users_per_task: int = 20_000, item_blocks: int | None = None):
    """Top-k recommendations for every user (or the dense ``users``) as a Spark DataFrame.

    Columns ``user``, ``item``, ``score`` (float) and ``rank`` (1 = best), raw ids when the model
    was fitted on raw ids. Users with fewer than k candidates get fewer rows. One task answers
    ``users_per_task`` users with ``spark.task.cpus`` kernel threads.

    By default every task gets the whole model (one broadcast). ``item_blocks=B`` (a
    :class:`turborec.MatrixFactorization` only) is for item tables too big for that: tasks get one
    chunk of users and one of B item blocks, and the per-block top-k lists are merged per user
    (same result; float32 scoring, a compressed model's codes are not used).
    """
    from pyspark.sql import SparkSession

    if not isinstance(model, Recommender):
        raise TypeError(f"model must be a fitted turborec model, got {type(model).__name__}")
    model._check_fitted()
    if not isinstance(spark, SparkSession):
        raise TypeError(f"spark must be a SparkSession, got {type(spark).__name__}")
    k = check_param_int(k, "k", 1)
    users_per_task = check_param_int(users_per_task, "users_per_task", 1)
    if item_blocks is not None:
        item_blocks = check_param_int(item_blocks, "item_blocks", 1)
        if not isinstance(model, MatrixFactorization):
            raise TypeError(f"item_blocks needs a MatrixFactorization (its item factors are cut into blocks), got "
                            f"{type(model).__name__}; leave item_blocks=None to ship the whole model")
    n_users = model.n_users
    if users is None:
        users = np.arange(n_users, dtype=np.int64)
    else:
        users = np.asarray(users)
        if users.ndim != 1 or users.dtype.kind not in "iu" or (users.size and (users.min() < 0 or
                                                                               users.max() >= n_users)):
            raise ValueError(f"users must be a 1-d array of dense user ids in [0, {n_users})")
        users = users.astype(np.int64)
    sc = spark.sparkContext
    user_ids, item_ids = model.user_ids_, model.item_ids_
    schema = f"user {_spark_type(user_ids)}, item {_spark_type(item_ids)}, score float, rank int"
    chunks = [users[lo:lo + int(users_per_task)] for lo in range(0, users.size, int(users_per_task))]
    if item_blocks is not None:
        return recommend_by_item_blocks(model, spark, k=k, exclude_seen=exclude_seen, chunks=chunks,
                                        item_blocks=item_blocks, schema=schema)
    blob = sc.broadcast(model.to_bytes())
    token = uuid.uuid4().hex
    bc_users = sc.broadcast(chunks)

    def run(batches):
        import pandas as pd

        m = _load(token, blob)
        for batch in batches:
            for c in batch["chunk"].to_numpy():
                chunk = bc_users.value[int(c)]
                ids, scores = m.recommend(chunk, k=int(k), exclude_seen=exclude_seen)
                valid = ids >= 0
                rows = np.repeat(chunk, valid.sum(axis=1))
                items = ids[valid]
                ranks = (np.cumsum(valid, axis=1) * valid)[valid]
                u_raw = rows if user_ids is None or rows.size == 0 else np.asarray(m.user_ids_)[rows]
                i_raw = items if item_ids is None or items.size == 0 else np.asarray(m.item_ids_)[items]
                yield pd.DataFrame({"user": u_raw, "item": i_raw, "score": scores[valid].astype(np.float32),
                                    "rank": ranks.astype(np.int32)})

    frame = spark.range(len(chunks), numPartitions=max(len(chunks), 1)).withColumnRenamed("id", "chunk")
    return frame.mapInPandas(run, schema)


def collect_recommendations(frame, what: str = "recommend_all"):
    """frame.toPandas() with a failed task reported as a SparkTaskError."""
    with spark_job(what):
        return frame.toPandas()
