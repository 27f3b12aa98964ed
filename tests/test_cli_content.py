"""turborec train-content (python/turborec/cli/content.py): train, save, then query with the CLI."""

from __future__ import annotations

import pytest

import turborec
from turborec import cli

pd = pytest.importorskip("pandas")


@pytest.fixture
def files(tmp_path):
    ratings = pd.DataFrame({"userId": [1, 1, 2, 2, 3, 3, 4], "movieId": [10, 20, 10, 30, 20, 30, 10],
                            "rating": [5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 3.0]})
    movies = pd.DataFrame({"movieId": [10, 20, 30, 40], "title": ["a b", "b c", "c d", "d a"],
                           "genres": ["Action", "Drama", "Action|Drama", "Action"]})
    tags = pd.DataFrame({"movieId": [10, 40], "tag": ["fun", "fun"]})
    paths = {}
    for name, df in (("ratings", ratings), ("movies", movies), ("tags", tags)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


@pytest.mark.parametrize("model", ["feature-mf", "content", "hybrid"])
def test_train_save_recommend(files, tmp_path, model, capsys):
    out = tmp_path / "m.npz"
    assert cli.main(["train-content", "--ratings", str(files["ratings"]), "--items", str(files["movies"]),
                     "--tags", str(files["tags"]), "--multi-valued", "genres", "--text", "title", "--model", model,
                     "--epochs", "3", "--out", str(out)]) == 0
    assert "of which 1 without ratings" in capsys.readouterr().out
    m = turborec.load(out)
    assert 40 in list(m.item_ids_)
    assert cli.main(["recommend", "--model", str(out), "--user", "4", "-k", "3"]) == 0
    assert "top 3 for user 4" in capsys.readouterr().out


def test_bad_column_is_a_usage_error(files, tmp_path, capsys):
    assert cli.main(["train-content", "--ratings", str(files["ratings"]), "--items", str(files["movies"]),
                     "--multi-valued", "nope", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "no column 'nope'" in err and "Traceback" not in err


def test_evaluate_prints_warm_and_cold(files, tmp_path, capsys):
    assert cli.main(["train-content", "--ratings", str(files["ratings"]), "--items", str(files["movies"]),
                     "--multi-valued", "genres", "--model", "content", "--evaluate", "--out",
                     str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert "warm" in out and "cold" in out and "ndcg" in out
