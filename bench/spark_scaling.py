"""turborec.spark on one local[2] Spark next to Spark ML and single-machine turborec (issue #15).

Data: generated (turborec.synthetic), power-law activity on both sides, 1..5 stars, 90/10 split;
users = ratings / 50, items = 7 x sqrt(users). Per size, on the same local[2] session:

- fit: turborec.spark DSGD (biased MF, AdaGrad) at each --blocks P vs Spark ML ALS (rank 32,
  maxIter = epochs, regParam 0.05, native BLAS if libblas.so.3 is installed) vs single-machine
  MatrixFactorization (2 threads = the same 2 cores): wall seconds and test RMSE;
- item-item top-20 cosine: turborec.spark.item_similarity vs turborec.similarity.topk_similarity
  vs RowMatrix.columnSimilarities() (exact DIMSUM, all pairs; skipped above --dimsum-max ratings);
- batch top-10 for every user: turborec.spark.recommend_all (the model broadcast, and the
  --item-blocks path: user chunks x item blocks + a top-k merge) vs local model.recommend vs
  ALSModel.recommendForAllUsers(10) (outputs forced with the "noop" sink).

Every contender runs once untimed on 100k ratings first (JVM JIT, Python workers' imports).

Shuffle bytes, task counts and peak JVM heap come from Spark's REST API (the UI is on for this
run), as differences over each operation. Timings on a shared machine are noisy: the ratios of
one run are what count.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/spark_scaling.py --ratings 1000000,5000000
    python bench/spark_scaling.py --quick       # 100k ratings, a smoke run (~2 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

import turborec
from turborec import spark as ts

OUT = Path(__file__).resolve().parent / "results"


class SparkMetrics:
    """Totals of the application's stages (shuffle bytes, tasks) from the REST API of the UI."""

    def __init__(self, spark):
        self.url = spark.sparkContext.uiWebUrl
        self.app = spark.sparkContext.applicationId

    def _get(self, what):
        with urllib.request.urlopen(f"{self.url}/api/v1/applications/{self.app}/{what}", timeout=30) as r:
            return json.loads(r.read())

    def totals(self):
        try:
            stages = self._get("stages?status=complete")
        except Exception:  # the UI may be off (spark.ui.enabled=false)
            return {}
        return {"shuffle_write_mb": sum(s.get("shuffleWriteBytes", 0) for s in stages) / 2**20,
                "shuffle_read_mb": sum(s.get("shuffleReadBytes", 0) for s in stages) / 2**20,
                "tasks": sum(s.get("numCompleteTasks", 0) for s in stages), "stages": len(stages)}

    def peak_heap_mb(self):
        try:
            ex = self._get("executors")
            return max((e.get("peakMemoryMetrics", {}) or {}).get("JVMHeapMemory", 0) for e in ex) / 2**20
        except Exception:
            return None


def measured(metrics, fn):
    before = metrics.totals()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    after = metrics.totals()
    delta = {k: round(after[k] - before.get(k, 0), 2) for k in after}
    return result, seconds, delta


def rmse_of(predict, test):
    coo = test.matrix.tocoo()
    pred = predict(test.user_map.ids[coo.row], test.item_map.ids[coo.col])
    return float(np.sqrt(np.mean((pred - coo.data) ** 2)))


def frame_of(spark, inter, tmp: Path, name: str):
    """The interactions as a cached Spark DataFrame read from parquet (user, item int; rating float)."""
    coo = inter.matrix.tocoo()
    import pandas as pd

    pdf = pd.DataFrame({"user": inter.user_map.ids[coo.row].astype(np.int32),
                        "item": inter.item_map.ids[coo.col].astype(np.int32), "rating": coo.data.astype(np.float32)})
    path = tmp / f"{name}.parquet"
    pdf.to_parquet(path, index=False)
    df = spark.read.parquet(str(path)).cache()
    df.count()
    return df


def warm_up(spark, args, tmp):
    """Each contender once on 100k ratings, untimed: the first timed one must not pay alone for the
    JVM's JIT warm-up and the Python workers' start (imports), which every later one reuses."""
    data = turborec.synthetic(2_000, 363, 100_000, seed=1, noise=0.5)
    df = frame_of(spark, data, tmp, "warmup")
    model = ts.fit_matrix_factorization(df, blocks=args.blocks[0], factors=32, epochs=2, seed=0)
    ts.item_similarity(df, 20, metric="cosine", blocks=args.sim_blocks).write.format("noop").mode("overwrite").save()
    for blocks in (None, 2):
        ts.recommend_all(model, spark, k=10, item_blocks=blocks).write.format("noop").mode("overwrite").save()
    if not args.no_als:
        from pyspark.ml.recommendation import ALS

        als = ALS(rank=32, maxIter=2, regParam=args.als_reg, userCol="user", itemCol="item", ratingCol="rating",
                  seed=0).fit(df)
        als.recommendForAllUsers(10).write.format("noop").mode("overwrite").save()
    df.unpersist()


def run_size(spark, metrics, n_ratings, args, tmp):
    n_users = max(n_ratings // 50, 100)
    n_items = int(7 * np.sqrt(n_users)) + 50
    data = turborec.synthetic(n_users, n_items, n_ratings, seed=0, noise=0.5)
    train, test = turborec.split.random_split(data, 0.1, seed=0, remove_unseen="both")
    df = frame_of(spark, train, tmp, f"train{n_ratings}")
    rows = []
    meta = dict(ratings=n_ratings, train=int(train.nnz), users=n_users, items=n_items)

    def row(op, contender, seconds, delta=None, **extra):
        r = dict(meta, op=op, contender=contender, seconds=round(seconds, 2), **(delta or {}), **extra)
        rows.append(r)
        print(json.dumps(r), flush=True)
        return r

    E, d = args.epochs, 32
    # ---- fit -----------------------------------------------------------------------------------------
    local, s, _ = measured(metrics, lambda: turborec.MatrixFactorization(d, E, seed=0, n_threads=2).fit(train))
    base = row("fit", "turborec MF (1 machine, 2 threads)", s, rmse=round(rmse_of(
        lambda u, i: local.predict(local.user_index(u), local.item_index(i)), test), 4))
    dsgd = None
    for P in args.blocks:
        dsgd, s, delta = measured(metrics, lambda: ts.fit_matrix_factorization(
            df, blocks=P, factors=d, epochs=E, seed=0))
        epoch_s = float(np.median([h["seconds"] for h in dsgd.history_]))
        row("fit", f"turborec.spark DSGD P={P}", s, delta, peak_heap_mb=metrics.peak_heap_mb(),
            median_epoch_seconds=round(epoch_s, 2), rmse=round(rmse_of(
            lambda u, i: dsgd.predict(dsgd.user_index(u), dsgd.item_index(i)), test), 4),
            ratio_to_local=round(s / max(base["seconds"], 1e-3), 2))
    als_model = None
    if not args.no_als:
        from pyspark.ml.recommendation import ALS

        als = ALS(rank=d, maxIter=E, regParam=args.als_reg, userCol="user", itemCol="item", ratingCol="rating",
                  coldStartStrategy="drop", seed=0)
        als_model, s, delta = measured(metrics, lambda: als.fit(df))
        coo = test.matrix.tocoo()
        import pandas as pd

        tdf = spark.createDataFrame(pd.DataFrame({"user": test.user_map.ids[coo.row].astype(np.int32),
                                                  "item": test.item_map.ids[coo.col].astype(np.int32),
                                                  "rating": coo.data.astype(np.float32)}))
        pred = als_model.transform(tdf).toPandas()
        als_rmse = float(np.sqrt(np.mean((np.clip(pred["prediction"], 1, 5) - pred["rating"]) ** 2)))
        row("fit", f"Spark ML ALS (rank {d}, {E} iterations)", s, delta, rmse=round(als_rmse, 4),
            ratio_to_local=round(s / max(base["seconds"], 1e-3), 2))
    # ---- item-item similarity ----------------------------------------------------------------------
    RT = train.matrix.T.tocsr()
    _, s, _ = measured(metrics, lambda: turborec.similarity.topk_similarity(RT, 20, metric="cosine", n_threads=2))
    sim_base = row("item similarity k=20", "turborec topk_similarity (1 machine)", s)
    _, s, delta = measured(metrics, lambda: ts.item_similarity(df, 20, metric="cosine", blocks=args.sim_blocks)
                           .write.format("noop").mode("overwrite").save())
    row("item similarity k=20", f"turborec.spark item_similarity B={args.sim_blocks}", s, delta,
        ratio_to_local=round(s / max(sim_base["seconds"], 1e-3), 2))
    if n_ratings <= args.dimsum_max:
        from pyspark.mllib.linalg.distributed import CoordinateMatrix, MatrixEntry

        def dimsum():
            entries = df.rdd.map(lambda r: MatrixEntry(r["user"], r["item"], float(r["rating"])))
            sims = CoordinateMatrix(entries).toRowMatrix().columnSimilarities()
            return sims.entries.count()

        n_pairs, s, delta = measured(metrics, dimsum)
        row("item similarity k=20", "Spark RowMatrix.columnSimilarities (all pairs)", s, delta, pairs=n_pairs,
            ratio_to_local=round(s / max(sim_base["seconds"], 1e-3), 2))
    # ---- batch recommendation ----------------------------------------------------------------------
    _, s, _ = measured(metrics, lambda: local.recommend(np.arange(local.n_users), k=10))
    rec_base = row("recommend all users k=10", "turborec MF.recommend (1 machine)", s)
    model = dsgd or local
    _, s, delta = measured(metrics, lambda: ts.recommend_all(model, spark, k=10).write.format("noop")
                           .mode("overwrite").save())
    row("recommend all users k=10", "turborec.spark recommend_all", s, delta,
        ratio_to_local=round(s / max(rec_base["seconds"], 1e-3), 2))
    _, s, delta = measured(metrics, lambda: ts.recommend_all(model, spark, k=10, item_blocks=args.item_blocks)
                           .write.format("noop").mode("overwrite").save())
    row("recommend all users k=10", f"turborec.spark recommend_all item_blocks={args.item_blocks}", s, delta,
        ratio_to_local=round(s / max(rec_base["seconds"], 1e-3), 2))
    if als_model is not None:
        _, s, delta = measured(metrics, lambda: als_model.recommendForAllUsers(10).write.format("noop")
                               .mode("overwrite").save())
        row("recommend all users k=10", "Spark ALSModel.recommendForAllUsers", s, delta,
            ratio_to_local=round(s / max(rec_base["seconds"], 1e-3), 2))
    df.unpersist()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", default="1000000,5000000", help="comma-separated sizes")
    ap.add_argument("--blocks", default="2,4", help="DSGD P values")
    ap.add_argument("--sim-blocks", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--item-blocks", type=int, default=4, help="B of recommend_all's item-block path")
    ap.add_argument("--als-reg", type=float, default=0.05)
    ap.add_argument("--dimsum-max", type=int, default=1_000_000)
    ap.add_argument("--no-als", action="store_true")
    ap.add_argument("--quick", action="store_true", help="100k ratings, P=2, 3 epochs")
    ap.add_argument("--out", default=str(OUT / "spark_scaling.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.ratings, args.blocks, args.epochs = "100000", "2", 3
    args.blocks = [int(b) for b in args.blocks.split(",")]
    spark = ts.local_session("local[2]", app_name="turborec-spark-bench", shuffle_partitions=4,
                             conf={"spark.ui.enabled": "true", "spark.ui.port": "4077", "spark.driver.memory": "6g",
                                   "spark.ui.retainedStages": "100000", "spark.ui.retainedJobs": "100000"})
    spark.sparkContext.setLogLevel("ERROR")
    metrics = SparkMetrics(spark)
    blas = any(Path(p).exists() for p in ("/usr/lib/x86_64-linux-gnu/libblas.so.3", "/usr/lib/libblas.so.3"))
    rows = []
    info = {"machine": f"{os.cpu_count()} cpus (shared with other jobs)", "spark": spark.version,
            "master": "local[2]", "native_blas_for_als": blas, "epochs": args.epochs, "python": sys.version.split()[0]}
    print(json.dumps(info), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(spark, args, Path(tmp))
        for n in (int(x) for x in args.ratings.split(",")):
            rows += run_size(spark, metrics, n, args, Path(tmp))
            Path(args.out).write_text(json.dumps({"info": info, "rows": rows}, indent=1))  # after each size
    spark.stop()


if __name__ == "__main__":
    main()
