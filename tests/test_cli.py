"""The ``turborec`` command line, run as a subprocess (``python -m turborec``) on small files."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import turborec
from turborec import cli

pd = pytest.importorskip("pandas")


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "turborec", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, encoding="utf-8")


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    return result.stdout


def user_error(result, *fragments):
    """Exit status 2 with one line on stderr, holding every fragment, and no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Ratings files written from one small generated data set: string ids, numeric ids, implicit, TSV."""
    root = tmp_path_factory.mktemp("cli")
    df = turborec.synthetic(200, 80, 3000, seed=5).to_pandas()
    strings = df.assign(user_id="u" + df.user_id.astype(str), item_id="item-" + df.item_id.astype(str))
    strings.to_csv(root / "str.csv", index=False)
    df.rename(columns={"user_id": "userId", "item_id": "movieId"}).to_csv(root / "num.csv", index=False)
    df[["user_id", "item_id"]].rename(columns={"item_id": "product_id"}).to_csv(root / "implicit.csv", index=False)
    df.to_csv(root / "noheader.tsv", index=False, header=False, sep="\t")
    df.rename(columns={"user_id": "a", "item_id": "b", "rating": "c"}).to_csv(root / "odd.csv", index=False)
    return root


def test_version():
    assert ok(run("--version")).strip() == f"turborec {turborec.__version__}"


def test_demo_small():
    result = run("demo", "--users", 400, "--items", 150, "--ratings", 6000, "--seed", 3, "--threads", 1)
    out = ok(result)
    assert "[1/5] Popularity: fitting and evaluating" in result.stderr  # progress without a terminal
    assert "not a predicted star rating" in out  # what the kNN scores are
    assert out.startswith(f"turborec {turborec.__version__} | SIMD ")
    assert "Data: 6,000 ratings by 400 users on 150 items" in out
    assert "Split: 80/20 per user (seed 3)" in out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split() == ["model", "fit", "s", "eval", "s", "RMSE", "MAE", "P@10", "R@10", "NDCG@10", "MAP@10",
                              "coverage"]
    for label in ("Popularity", "MF (squared loss)", "MF (BPR)", "ItemKNN", "UserKNN"):
        row = next(line for line in out.splitlines() if line.startswith(label))
        numbers = re.findall(r"\d+\.\d+", row[len(label):])
        assert len(numbers) == (7 if "BPR" in label else 9), row  # BPR predicts no ratings: RMSE/MAE '-'
    assert "Sample recommendations (ItemKNN" in out
    assert len(re.findall(r"^user \d+: \d+ training ratings", out, flags=re.M)) == 3
    assert "because you rated" in out and "would pick:" in out


def test_long_commands_report_progress_on_stderr(files, tmp_path):
    train = run("train", "--data", files / "str.csv", "--model", "itemknn", "--out", tmp_path / "m.npz")
    assert train.returncode == 0 and "training ItemKNN on" in train.stderr and "training" not in train.stdout
    ev = run("evaluate", "--data", files / "num.csv", "--model", "mf", "--split", "kfold", "--folds", 2)
    assert ev.returncode == 0 and "cross-validating MatrixFactorization over 2 folds" in ev.stderr


def test_demo_saves_the_model_it_trained(tmp_path):
    path = tmp_path / "model.npz"
    out = ok(run("demo", "--users", 300, "--items", 100, "--ratings", 4000, "--seed", 1, "--threads", 1,
                 "--save-model", path))
    assert f"saved MF (squared loss) (trained on the 80% split) to {path}" in out
    model = turborec.load(path)
    assert type(model) is turborec.MatrixFactorization and model.n_items == 100
    assert "top 10 for user" in ok(run("recommend", "--model", path, "--user", 5))
    user_error(run("demo", "--users", 300, "--items", 100, "--ratings", 4000, "--save-model",
                   tmp_path / "missing" / "m.npz"), "cannot write", "does not exist")


def test_demo_on_an_implicit_file(files):
    out = ok(run("demo", "--data", files / "implicit.csv", "--seed", 1))
    assert "3,000 interactions (implicit feedback) by 200 users on 80 items" in out
    assert "RMSE" not in out and "MF (squared loss)" not in out and "MF (BPR)" in out


def test_demo_movielens_titles(movielens):
    out = ok(run("demo", "--data", movielens))
    assert "100,836 ratings by 610 users on 9,724 items" in out
    assert re.search(r"because you rated .+ \(\d{4}\) \[\d+\]", out)  # titles from movies.csv, raw ids in []


def test_train_recommend_similar_info_string_ids(files, tmp_path):
    model_path = tmp_path / "knn.npz"
    out = ok(run("train", "--data", files / "str.csv", "--model", "itemknn", "--param", "k=15", "--param",
                 "metric=pearson", "--out", model_path))
    assert "3,000 interactions by 200 users on 80 items" in out and "saved to" in out
    model = turborec.load(model_path)
    assert isinstance(model, turborec.ItemKNN) and model.k == 15 and model.metric == "pearson"
    assert model.user_ids_[0] == "u0"

    out = ok(run("recommend", "--model", model_path, "--user", "u7", "-k", 5))
    rows = [line.split() for line in out.splitlines()[3:]]
    ids, scores = model.recommend([model.user_ids_.tolist().index("u7")], 5)
    assert [r[1] for r in rows] == [model.item_ids_[i] for i in ids[0]]
    np.testing.assert_allclose([float(r[2]) for r in rows], scores[0], rtol=1e-3)
    seen = ok(run("recommend", "--model", model_path, "--user", "u7", "-k", 80, "--include-seen"))
    assert "included" in seen and len(seen.splitlines()) > len(out.splitlines())

    out = ok(run("similar", "--model", model_path, "--item", "item-3", "-k", 4))
    ids, _ = model.similar_items([model.item_ids_.tolist().index("item-3")], 4)
    assert [line.split()[1] for line in out.splitlines()[3:]] == [model.item_ids_[i] for i in ids[0]]
    out = ok(run("similar", "--model", model_path, "--user", "u7", "-k", 3))
    assert len(out.splitlines()[3:]) == 3 and all(line.split()[1].startswith("u") for line in out.splitlines()[3:])

    out = ok(run("info", model_path))
    assert "ItemKNN" in out and "turborec-model version 1" in out and "k=15" in out
    assert "200 users x 80 items, 3,000 interactions" in out and f"turborec {turborec.__version__}" in out
    assert "users: str, items: str" in out and "similarity_.indptr" in out


def test_train_mf_with_split_numeric_ids(files, tmp_path):
    model_path = tmp_path / "mf.npz"
    out = ok(run("train", "--data", files / "num.csv", "--model", "mf", "--param", "factors=8", "--param",
                 "epochs=5", "--split", "per-user", "--seed", 4, "--out", model_path))
    assert "per-user split, seed 4" in out and "RMSE" in out and "NDCG@10" in out
    model = turborec.load(model_path)
    assert model.seed == 4 and model.factors == 8 and model.user_ids_.dtype.kind == "i"
    out = ok(run("recommend", "--model", model_path, "--user", 7, "-k", 3))
    ids, _ = model.recommend([int(np.flatnonzero(model.user_ids_ == 7)[0])], 3)
    assert [int(line.split()[1]) for line in out.splitlines()[3:]] == model.item_ids_[ids[0]].tolist()


@pytest.mark.parametrize("split", ["per-user", "leave-one-out", "temporal", "kfold"])
def test_evaluate(files, split):
    out = ok(run("evaluate", "--data", files / "noheader.tsv", "--model", "userknn", "--param", "k=10",
                 "--split", split, "--folds", 3, "-k", 5))
    assert "UserKNN(k=10" in out and "NDCG@5" in out and "RMSE" in out
    if split == "kfold":
        assert [line.split()[0] for line in out.splitlines()[-5:]] == ["fold", "fold", "fold", "mean", "std"]
    else:
        assert out.splitlines()[-1].startswith("UserKNN")


def test_evaluate_bpr_implicit(files):
    out = ok(run("evaluate", "--data", files / "implicit.csv", "--model", "mf", "--param", "loss=bpr",
                 "--split", "random"))
    assert "loss='bpr'" in out and "RMSE" not in out and "P@10" in out


def test_columns_option(files):
    user_error(run("evaluate", "--data", files / "odd.csv", "--model", "itemknn"),
               "cannot tell which columns", "--columns")
    out = ok(run("evaluate", "--data", files / "odd.csv", "--columns", "a,b,c", "--model", "itemknn"))
    assert "3,000 interactions" in out and "RMSE" in out


# ---- errors: exit status 2, one line, no traceback ----------------------------------------------------

@pytest.fixture(scope="module")
def model_file(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    ok(run("train", "--data", files / "num.csv", "--model", "itemknn", "--out", path))
    return path


def test_missing_data_file(tmp_path):
    user_error(run("train", "--data", tmp_path / "nope.csv", "--model", "mf", "--out", tmp_path / "m.npz"),
               "nope.csv' does not exist", "pass a CSV/TSV ratings file")


def test_unknown_user_and_item(model_file):
    user_error(run("recommend", "--model", model_file, "--user", "x"),
               "user 'x' is not in the model (it knows 200 users, e.g. 0, 1, 2)")
    user_error(run("similar", "--model", model_file, "--item", 999), "item '999' is not in the model")


@pytest.mark.parametrize("param, message", [
    ("k=0", "invalid parameter for ItemKNN: k must be an int >= 1, got 0"),
    ("metric=nope", "metric must be one of"),
    ("colour=red", "ItemKNN has no parameter 'colour'"),
    ("k", "--param expects NAME=VALUE"),
])
def test_bad_param(files, tmp_path, param, message):
    user_error(run("train", "--data", files / "num.csv", "--model", "itemknn", "--param", param,
                   "--out", tmp_path / "m.npz"), message)
    assert not (tmp_path / "m.npz").exists()


def test_bad_model_files(model_file, files, tmp_path):
    raw = model_file.read_bytes()
    (tmp_path / "half.npz").write_bytes(raw[: len(raw) // 2])
    user_error(run("recommend", "--model", tmp_path / "half.npz", "--user", 1), "corrupt or truncated",
               "turborec train")
    user_error(run("info", files / "num.csv"), "not a turborec model file")
    user_error(run("similar", "--model", tmp_path / "none.npz", "--item", 1), "does not exist")
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    user_error(run("info", tmp_path / "foreign.npz"), "not a turborec model file")


def test_other_user_errors(files, tmp_path):
    user_error(run("evaluate", "--data", files / "implicit.csv", "--model", "mf", "--split", "temporal"),
               "--split temporal needs timestamps")
    user_error(run("evaluate", "--data", files / "num.csv", "--model", "mf", "--test-fraction", 1.5),
               "--test-fraction must be between 0 and 1")
    user_error(run("evaluate", "--data", files / "num.csv", "--model", "mf", "--threads", -2), "--threads")
    user_error(run("train", "--data", files / "num.csv", "--model", "mf", "--out", tmp_path / "no" / "m.npz"),
               "directory", "does not exist")
    dup = tmp_path / "dup.csv"
    dup.write_text("user,item,rating\n1,2,3\n1,2,4\n")
    user_error(run("evaluate", "--data", dup, "--model", "itemknn"), "duplicate", "--duplicates last")
    usage = run("recommend", "--user", 1)  # argparse: missing --model
    assert usage.returncode == 2 and "Traceback" not in usage.stderr and "--model" in usage.stderr


# ---- helpers, in process ------------------------------------------------------------------------------

def test_parse_params():
    assert cli.parse_params(["k=5", "lr=0.01", "clip=(1, 5)", "grid=None", "biased=false", "metric=cosine",
                             "name='x y'"]) == {"k": 5, "lr": 0.01, "clip": (1, 5), "grid": None, "biased": False,
                                                "metric": "cosine", "name": "x y"}
    with pytest.raises(cli.UsageError, match="NAME=VALUE"):
        cli.parse_params(["=3"])


def test_guess_columns():
    from turborec.data.sniff import _guess_columns

    assert _guess_columns(["UserID", "Movie_ID", "Rating", "Timestamp"], "f") == {
        "user": "UserID", "item": "Movie_ID", "rating": "Rating", "timestamp": "Timestamp"}
    assert _guess_columns(["customer_id", "product_id"], "f") == {
        "user": "customer_id", "item": "product_id", "rating": None, "timestamp": None}
    with pytest.raises(ValueError, match="--columns"):
        _guess_columns(["x", "y"], "f")


def test_dense_id():
    data = turborec.Interactions.from_arrays(["a", "b", "7"], [10, 20, 10], [1.0, 2.0, 3.0])
    model = turborec.ItemKNN(k=1).fit(data)
    assert cli.dense_id(model, "b", "user") == 2 and cli.dense_id(model, "7", "user") == 0
    assert cli.dense_id(model, "20", "item") == 1
    with pytest.raises(cli.UsageError, match=r"item '30' is not in the model \(it knows 2 items, e.g. 10, 20\)"):
        cli.dense_id(model, "30", "item")


def test_popularity_baseline_contract():
    data = turborec.synthetic(50, 20, 300, seed=0)
    train, test = turborec.per_user_split(data, 0.2, seed=0)
    row = turborec.evaluate(turborec.Popularity(), train, test, 5).iloc[0]
    counts = np.bincount(train.matrix.indices, minlength=20)
    ids, _ = turborec.Popularity().fit(train).recommend([0], 20, exclude_seen=False)
    assert list(counts[ids[0]]) == sorted(counts, reverse=True)
    assert 0 < row["precision"] <= 1 and np.isfinite(row["rmse"])


def test_main_in_process_reports_unexpected_errors(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli, "run_info", boom)
    assert cli.main(["info", "x.npz"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "kaboom" in err and "unexpected error" in err


@pytest.mark.parametrize("text, explicit, users, nnz", [
    ("u1,i1,5\nu2,i1,3\nu2,i2,4\n", True, ["u1", "u2"], 3),                    # no header, string ids
    ("\ufeffUser ID;Movie;Stars\n1;10;4\n2;10;5\n2;11;1\n", True, [1, 2], 3),  # BOM, ';', spaced names
    ("customer_id\tproduct_id\nc1\tp1\nc2\tp1\nc2\tp2\n", False, ["c1", "c2"], 3),
    ("7::3::5::978300760\n8::3::4::978300761\n", True, [7, 8], 2),             # MovieLens ratings.dat
])
def test_read_ratings_formats(tmp_path, text, explicit, users, nnz):
    path = tmp_path / "ratings.txt"
    path.write_text(text, encoding="utf-8")
    ratings = cli.read_ratings(path)
    assert ratings.explicit == explicit and ratings.data.user_ids.tolist() == users and ratings.data.nnz == nnz
