"""turborec.spark on a real local Spark (local[2]): every operation against the single-machine result."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec.similarity import METRICS, topk_similarity

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("no java: Spark needs a JRE (.ci/spark.sh installs one)", allow_module_level=True)

from turborec import spark as ts  # noqa: E402

# py4j / pyspark emit ResourceWarnings and DeprecationWarnings of their own (sockets, pandas API)
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def spark():
    session = ts.local_session("local[2]", shuffle_partitions=2, app_name="turborec-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _frame(spark, inter: turborec.Interactions, string_ids=False):
    """The interactions as a Spark DataFrame (user, item, rating), raw ids optionally as strings."""
    coo = inter.matrix.tocoo()
    users, items = inter.user_map.ids[coo.row], inter.item_map.ids[coo.col]
    if string_ids:
        users = np.array([f"u{int(u):05d}" for u in users], dtype=object)
        items = np.array([f"i{int(i)}" for i in items], dtype=object)  # unpadded: string order != numeric
    import pandas as pd

    pdf = pd.DataFrame({"user": users, "item": items, "rating": coo.data.astype(np.float64)})
    return spark.createDataFrame(pdf.sample(frac=1.0, random_state=3))  # shuffled rows: order must not matter


@pytest.fixture(scope="module")
def ratings():
    return turborec.synthetic(160, 90, 3000, seed=5)


@pytest.fixture(scope="module")
def ratings_df(spark, ratings):
    return _frame(spark, ratings, string_ids=True).cache()


def _local(df):
    return turborec.Interactions.from_pandas(df.toPandas(), "user", "item", "rating")


# ---- 1. input checks and id mapping ---------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors_naming_the_column(spark):
    good = spark.createDataFrame([(1, "a", 4.0), (2, "b", 3.0)], "user long, item string, rating double")
    with pytest.raises(ValueError, match="'rating'.*not a column"):
        ts.check_interactions(good.drop("rating"), "user", "item", "rating")
    with pytest.raises(ValueError, match="column 'user' has 1 missing"):
        ts.check_interactions(spark.createDataFrame([(None, "a", 1.0), (2, "b", 2.0)],
                                                    "user long, item string, rating double"), "user", "item", "rating")
    with pytest.raises(ValueError, match="rating column 'rating' has 1 NaN"):
        ts.check_interactions(spark.createDataFrame([(1, "a", float("nan")), (2, "a", 1.0)],
                                                    "user long, item string, rating double"), "user", "item", "rating")
    with pytest.raises(ValueError, match="duplicate .*user=1.*item='a'"):
        ts.check_interactions(spark.createDataFrame([(1, "a", 1.0), (1, "a", 2.0)],
                                                    "user long, item string, rating double"), "user", "item", "rating")
    with pytest.raises(ValueError, match="df is empty"):
        ts.check_interactions(good.limit(0), "user", "item", "rating")
    with pytest.raises(ValueError, match="rating column 'user'.*expected"):
        ts.check_interactions(spark.createDataFrame([("x", "a")], "user string, item string"), "item", "item",
                              "user")
    with pytest.raises(TypeError, match="pyspark.sql.DataFrame"):
        ts.check_interactions([(1, 2)], "user", "item")
    # the fits check the same way, before any training job
    with pytest.raises(ValueError, match="'score'.*not a column"):
        ts.fit_matrix_factorization(good, rating="score", blocks=1, epochs=1)
    with pytest.raises(ValueError, match="'rating'.*not a column"):
        ts.item_similarity(good.drop("rating"))
    # DSGD finds repeated pairs while it sorts its blocks, before the first epoch
    twice = spark.createDataFrame([(1, "a", 1.0), (2, "b", 2.0), (2, "b", 5.0), (3, "a", 1.0)],
                                  "user long, item string, rating double")
    with pytest.raises(ValueError, match=r"duplicate \(user, item\) pair: \(user=2, item='b'\)"):
        ts.fit_matrix_factorization(twice, blocks=2, epochs=1)
    # similarity counts them while it builds its row blocks, before any pair is scored
    for fn in (ts.item_similarity, ts.user_similarity):
        with pytest.raises(ValueError, match=r"duplicate \(user, item\) pair: \(user=2, item='b'\) occurs 2 times"):
            fn(twice, 5, blocks=2)
    assert good.count() == 2  # the input is untouched


@pytest.mark.parametrize("string_ids", [False, True], ids=["int_ids", "string_ids"])
def test_dense_ids_match_the_single_machine_idmap(spark, ratings, string_ids):
    df = _frame(spark, ratings, string_ids=string_ids)
    local = _local(df)
    indexed = ts.index_interactions(df, "user", "item", "rating")
    assert indexed.user_map == local.user_map and indexed.item_map == local.item_map
    pdf = indexed.frame.toPandas()
    got = sp.csr_matrix((pdf["r"].to_numpy(np.float32), (pdf["u"], pdf["i"])), shape=local.shape)
    assert (got != local.matrix).nnz == 0


# ---- 2. DSGD -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def split(spark):
    data = turborec.synthetic(400, 250, 6000, seed=11, noise=0.5)
    train, test = turborec.split.random_split(data, 0.2, seed=1)
    return _frame(spark, train).cache(), train, test


def _rmse(model, test: turborec.Interactions, train: turborec.Interactions):
    coo = test.matrix.tocoo()
    users = model.user_index(test.user_map.ids[coo.row])
    items = model.item_index(test.item_map.ids[coo.col])
    return float(np.sqrt(np.mean((model.predict(users, items) - coo.data) ** 2)))


def test_dsgd_reaches_single_machine_rmse_and_is_a_normal_model(spark, split):
    df, train, test = split
    model = ts.fit_matrix_factorization(df, blocks=2, factors=8, epochs=8, seed=3)
    local = turborec.MatrixFactorization(factors=8, epochs=8, seed=3, n_threads=1).fit(train)
    dist_rmse, local_rmse = _rmse(model, test, train), _rmse(local, test, train)
    assert dist_rmse <= 1.01 * local_rmse, (dist_rmse, local_rmse)
    assert len(model.history_) == 8 and model.history_[-1]["train_rmse"] < model.history_[0]["train_rmse"]
    # an ordinary fitted model: raw ids, the seen pattern, save / load round trip
    assert model.user_map_ == train.user_map and model.item_map_ == train.item_map
    assert (model.user_items_ != train.matrix).nnz == 0
    again = turborec.load(model.to_bytes())
    np.testing.assert_array_equal(again.recommend(np.arange(20), k=5)[0], model.recommend(np.arange(20), k=5)[0])


def test_dsgd_same_seed_and_blocks_give_the_same_model(spark, split):
    df = split[0]
    # two epochs: the second runs on the grids the Python workers cached in the first
    a = ts.fit_matrix_factorization(df.repartition(3), blocks=3, factors=4, epochs=2, seed=9)
    b = ts.fit_matrix_factorization(df.repartition(1), blocks=3, factors=4, epochs=2, seed=9)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)
    assert a.history_[1]["train_rmse"] == b.history_[1]["train_rmse"]


def test_dsgd_task_shipped_by_cloudpickle_reaches_the_workers_grid_cache():
    # A task closure travels by value with a private copy of the globals it names; the grid cache
    # must be reached through a function shipped by reference, or every task rebuilds its grid.
    from pyspark import cloudpickle

    from turborec.spark import dsgd

    task = cloudpickle.loads(cloudpickle.dumps(dsgd._sgd_task({"run": "x"}, None)))
    assert "_GRIDS" not in task.__code__.co_names
    assert task.__globals__["_worker_grid"] is dsgd._worker_grid
    built = []
    for _ in range(2):
        task.__globals__["_worker_grid"](("test-run", 0, 0), lambda: built.append(1) or object())
    assert built == [1] and ("test-run", 0, 0) in dsgd._GRIDS
    dsgd._GRIDS.clear()


def test_dsgd_bpr_learns_a_ranking(spark, split):
    df, train, test = split
    model = ts.fit_matrix_factorization(df, rating=None, loss="bpr", blocks=2, factors=8, epochs=3, seed=1)
    assert model.loss == "bpr" and model.global_mean_ == 0.0
    # sampled AUC of held-out positives against random items, well above chance
    coo = test.matrix.tocoo()
    users = model.user_index(test.user_map.ids[coo.row])
    items = model.item_index(test.item_map.ids[coo.col])
    negatives = np.random.default_rng(0).integers(0, model.n_items, users.size)
    auc = np.mean(model.predict(users, items) > model.predict(users, negatives))
    assert auc > 0.6


def test_a_failing_task_surfaces_as_a_clear_python_error(spark, split):
    with pytest.raises(ts.SparkTaskError, match="DSGD matrix factorization failed in a Spark task: .*diverged"):
        ts.fit_matrix_factorization(split[0], blocks=2, factors=4, epochs=1, lr=1e30, lr_schedule="constant",
                                    seed=0)
    with pytest.raises(ValueError, match="blocks"):
        ts.fit_matrix_factorization(split[0], blocks=0)



# ---- 3. similarity ---------------------------------------------------------------------------------------

def _as_csr(pdf, row_map, col_name, key):
    rows = row_map.index(pdf[key].to_numpy())
    cols = row_map.index(pdf[col_name].to_numpy())
    return sp.csr_matrix((pdf["score"].to_numpy(np.float32), (rows, cols)), shape=(len(row_map), len(row_map)))


@pytest.mark.parametrize("metric", METRICS)
def test_item_similarity_equals_the_single_machine_kernel(spark, ratings_df, metric):
    local = _local(ratings_df)
    kwargs = dict(shrinkage=2.0) if metric == "cosine" else {}
    got = ts.item_similarity(ratings_df, 7, metric=metric, blocks=3, **kwargs).toPandas()
    want = topk_similarity(local.matrix.T.tocsr(), 7, metric=metric, **kwargs)
    S = _as_csr(got, local.item_map, "other", "item")
    np.testing.assert_array_equal(S.indptr, want.indptr)
    np.testing.assert_array_equal(S.indices, want.indices)
    np.testing.assert_allclose(S.data, want.data, rtol=2e-5, atol=1e-6)
    # ranks are 1..n per item, best first
    first = got[got["rank"] == 1].set_index("item")["score"]
    assert (got.groupby("item")["score"].max() == first.reindex(got.groupby("item")["score"].max().index)).all()


@pytest.mark.parametrize("metric", ["jaccard", "pearson"])
def test_user_similarity_equals_the_single_machine_kernel(spark, ratings_df, metric):
    local = _local(ratings_df)
    got = ts.user_similarity(ratings_df, 5, metric=metric, blocks=2, include_self=True).toPandas()
    want = topk_similarity(local.matrix, 5, metric=metric, include_self=True)
    S = _as_csr(got, local.user_map, "other", "user")
    np.testing.assert_array_equal(S.indices, want.indices)
    np.testing.assert_allclose(S.data, want.data, rtol=2e-5, atol=1e-6)


# ---- 4. batch recommendation ------------------------------------------------------------------------------

def _check_against_local(model, frame, k, users=None, exclude_seen=True):
    pdf = ts.collect_recommendations(frame)
    got_users = model.user_index(pdf["user"].to_numpy())
    users = np.arange(model.n_users) if users is None else users
    ids, scores = model.recommend(users, k=k, exclude_seen=exclude_seen)
    assert pdf.groupby("user").size().max() <= k and set(got_users) <= set(users)
    for row, u in enumerate(users):
        rows = pdf[got_users == u].sort_values("rank")
        want = ids[row][ids[row] >= 0]
        np.testing.assert_array_equal(model.item_index(rows["item"].to_numpy()), want)
        np.testing.assert_allclose(rows["score"].to_numpy(), scores[row][: want.size], rtol=1e-6)
        np.testing.assert_array_equal(rows["rank"].to_numpy(), np.arange(1, want.size + 1))


def test_recommend_all_equals_the_local_models(spark, ratings):
    df = _frame(spark, ratings, string_ids=True)
    local = _local(df)
    mf = turborec.MatrixFactorization(factors=8, epochs=3, seed=0).fit(local)
    _check_against_local(mf, ts.recommend_all(mf, spark, k=6, users_per_task=50), 6)
    knn = turborec.ItemKNN(k=10).fit(local)
    _check_against_local(knn, ts.recommend_all(knn, spark, k=4, users_per_task=70), 4)
    with pytest.raises(ValueError, match="k must be"):
        ts.recommend_all(mf, spark, k=0)
    with pytest.raises(TypeError, match="fitted turborec model"):
        ts.recommend_all("model", spark)


def test_recommend_all_by_item_blocks_equals_the_local_model(spark, ratings):
    # the path for item tables too big to ship whole: (user chunk, item block) tasks + a top-k merge
    local = _local(_frame(spark, ratings, string_ids=True))
    mf = turborec.MatrixFactorization(factors=8, epochs=3, seed=0).fit(local)
    frame = ts.recommend_all(mf, spark, k=6, users_per_task=50, item_blocks=3)
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "CartesianProduct" in plan and "Broadcast" not in plan  # no task gets the whole item table
    _check_against_local(mf, frame, 6)
    # k above a block's size (90 items in 4 blocks), seen items kept, a subset of users
    some = np.array([5, 0, 77, 140])
    _check_against_local(mf, ts.recommend_all(mf, spark, k=40, users=some, exclude_seen=False, item_blocks=4), 40,
                         users=some, exclude_seen=False)
    # numeric ids, an unbiased model, more blocks than the items need
    plain = turborec.MatrixFactorization(factors=4, epochs=2, biased=False, seed=1).fit(ratings)
    _check_against_local(plain, ts.recommend_all(plain, spark, k=5, users_per_task=64, item_blocks=200), 5)
    with pytest.raises(ValueError, match="item_blocks"):
        ts.recommend_all(mf, spark, item_blocks=0)
    with pytest.raises(TypeError, match="item_blocks needs a MatrixFactorization"):
        ts.recommend_all(turborec.ItemKNN(k=5).fit(local), spark, item_blocks=2)


# ---- the README's section runs as written ----------------------------------------------------------------

def test_readme_spark_section_runs(spark, movielens, monkeypatch, tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "fit_matrix_factorization" in b)
    monkeypatch.setenv("TURBOREC_DATASETS", str(movielens.parent))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    top = namespace["top"]
    assert list(top["rank"]) == list(range(1, 11))
    local = turborec.load("mf-spark.npz")
    ids, _ = local.recommend(local.user_index([1]), k=10)
    assert list(local.item_index(top["item"].to_numpy())) == list(ids[0])


# ---- 5. more than one kernel thread per task ---------------------------------------------------------------

_TWO_CPU_TASKS = r"""
import json, sys
import numpy as np
import turborec
from turborec import spark as ts
from turborec.spark._blocks import task_threads

spark = ts.local_session("local[2]", task_cpus=int(sys.argv[1]), shuffle_partitions=2)
spark.sparkContext.setLogLevel("ERROR")
seen = spark.sparkContext.parallelize(range(2), 2).map(lambda _: task_threads()).collect()
data = turborec.synthetic(3000, 400, 100_000, seed=8)  # ~25k ratings a block: its own 2 x 2 grid
coo = data.matrix.tocoo()
import pandas as pd
df = spark.createDataFrame(pd.DataFrame({"user": data.user_map.ids[coo.row], "item": data.item_map.ids[coo.col],
                                         "rating": coo.data.astype(np.float64)}))
mf = ts.fit_matrix_factorization(df, blocks=2, factors=8, epochs=3, seed=4)
recs = ts.recommend_all(mf, spark, k=5, users_per_task=700).toPandas().sort_values(["user", "rank"])
print(json.dumps({"threads": seen, "P": mf.user_factors_.tolist(), "Q": mf.item_factors_.tolist(),
                  "recs": recs["item"].tolist()}))
spark.stop()
"""


def test_tasks_with_two_cores_run_two_kernel_threads_and_give_the_same_results(tmp_path):
    # spark.task.cpus=2 on local[2]: one task at a time, each kernel call on 2 threads; the DSGD
    # model (the SGD kernel is thread-count independent) and the recommendations must not change.
    import json
    import subprocess
    import sys

    script = tmp_path / "two_cpus.py"
    script.write_text(_TWO_CPU_TASKS)
    runs = {}
    for cpus in (1, 2):
        out = subprocess.run([sys.executable, str(script), str(cpus)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        runs[cpus] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs[1]["threads"] == [1, 1] and runs[2]["threads"] == [2, 2]
    assert runs[1]["P"] == runs[2]["P"] and runs[1]["Q"] == runs[2]["Q"]
    assert runs[1]["recs"] == runs[2]["recs"]
