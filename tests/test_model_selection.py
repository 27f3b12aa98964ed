"""GridSearch / RandomSearch / SuccessiveHalving against a brute-force reference (every candidate
fitted by hand on the same folds), determinism, thread-budget rule, and bad input."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ItemKNN, MatrixFactorization
from turborec.model_selection import GridSearch, RandomSearch, SuccessiveHalving

pytest.importorskip("pandas")


def ratings(seed=0, n_users=60, n_items=40, density=0.3):
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(0, 0.7, (n_users, 3)), rng.normal(0, 0.7, (n_items, 3))
    mask = rng.random((n_users, n_items)) < density
    full = np.clip(3.5 + P @ Q.T + rng.normal(0, 0.3, (n_users, n_items)), 1, 5)
    R = sp.csr_matrix(np.where(mask, full, 0).astype(np.float32))
    R.eliminate_zeros()
    return R


def brute_force(make, grid_candidates, R, folds, seed, metric, k=10):
    """Mean metric per candidate, fitting each by hand on kfold(R, folds, seed)."""
    out = []
    for params in grid_candidates:
        values = []
        for train, test in turborec.kfold(R, folds, seed):
            model = make(params).fit(train)
            values.append(float(turborec.evaluate(model, train, test, k, [metric]).iloc[0][metric]))
        out.append(values)
    return out


def test_grid_search_matches_brute_force():
    R = ratings()
    grid = {"reg": [0.02, 0.2], "factors": [4, 8]}
    search = GridSearch(MatrixFactorization(epochs=5), grid, metric="rmse", metrics=["mae"], folds=3, seed=7,
                        n_threads=2).fit(R)
    cands = [{"reg": r, "factors": f} for r in grid["reg"] for f in grid["factors"]]
    ref = brute_force(lambda p: MatrixFactorization(epochs=5, seed=7, n_threads=1, **p), cands, R, 3, 7, "rmse")
    table = search.results_
    assert list(table["params"]) == cands
    for t, values in enumerate(ref):
        np.testing.assert_allclose(table.loc[t, [f"fold{f}_rmse" for f in range(3)]].to_numpy(float), values,
                                   rtol=1e-6)
        assert table.loc[t, "mean_rmse"] == pytest.approx(np.mean(values), rel=1e-6)
        assert table.loc[t, "std_rmse"] == pytest.approx(np.std(values), rel=1e-5, abs=1e-9)
    means = [np.mean(v) for v in ref]
    best = int(np.argmin(means))
    assert search.best_index_ == best and search.best_params_ == cands[best]
    assert search.best_score_ == pytest.approx(means[best], rel=1e-6)
    assert table.loc[best, "rank_rmse"] == 1 and sorted(table["rank_rmse"]) == [1, 2, 3, 4]
    assert "mean_mae" in table and "rank_mae" in table
    # refit: the best parameters on all the data, same seed
    expected = MatrixFactorization(epochs=5, seed=7, **cands[best]).fit(R)
    np.testing.assert_array_equal(search.best_model_.user_factors, expected.user_factors)


def test_ranking_metric_is_maximised_and_factory_form_works():
    R = ratings(1)
    grid = {"k": [2, 10, 30]}
    search = GridSearch(lambda **p: ItemKNN(**p), grid, metric="ndcg", k=5, folds=2, seed=3, refit=False).fit(R)
    ref = brute_force(lambda p: ItemKNN(**p), [{"k": v} for v in grid["k"]], R, 2, 3, "ndcg", k=5)
    means = [np.mean(v) for v in ref]
    np.testing.assert_allclose(search.results_["mean_ndcg"], means, rtol=1e-6)
    assert search.best_index_ == int(np.argmax(means)) and search.best_model_ is None


def test_results_do_not_depend_on_workers_or_threads():
    R = ratings(2)
    grid = [{"reg": [0.05, 0.1]}, {"lr": [0.02], "factors": [6]}]  # a list of grids: their union
    a = GridSearch(MatrixFactorization(epochs=4), grid, folds=2, seed=1, n_jobs=1, n_threads=1).fit(R)
    b = GridSearch(MatrixFactorization(epochs=4), grid, folds=2, seed=1, n_jobs=2, n_threads=2).fit(R)
    assert len(a.results_) == 3
    np.testing.assert_array_equal(a.results_["mean_rmse"], b.results_["mean_rmse"])
    assert a.best_params_ == b.best_params_


def test_thread_budget_is_never_oversubscribed():
    R = ratings(3)
    s = GridSearch(MatrixFactorization(epochs=1), {"reg": [0.1]}, n_threads=2)
    s._prepare(R)
    for n_jobs, tasks in ((None, 10), (1, 10), (2, 10), (4, 10), (3, 1)):
        s.n_jobs = n_jobs
        workers, threads = s._split_budget(tasks)
        assert workers * threads <= 2 and workers <= tasks and threads >= 1
    s.n_jobs = None
    assert s._split_budget(10) == (2, 1)  # small data: one single-threaded fit per core


def test_random_search_is_seeded_and_scores_its_draws():
    R = ratings(4)
    stats = pytest.importorskip("scipy.stats")
    dist = {"reg": stats.loguniform(0.01, 0.3), "factors": [4, 8, 16]}
    a = RandomSearch(MatrixFactorization(epochs=3), dist, n_iter=3, folds=2, seed=5).fit(R)
    b = RandomSearch(MatrixFactorization(epochs=3), dist, n_iter=3, folds=2, seed=5).fit(R)
    assert list(a.results_["params"]) == list(b.results_["params"])
    assert all(0.01 <= p["reg"] <= 0.3 and p["factors"] in (4, 8, 16) for p in a.results_["params"])
    ref = brute_force(lambda p: MatrixFactorization(epochs=3, seed=5, **p), list(a.results_["params"]), R, 2, 5,
                      "rmse")
    np.testing.assert_allclose(a.results_["mean_rmse"], [np.mean(v) for v in ref], rtol=1e-6)


def test_successive_halving_keeps_the_best_third_each_round():
    R = ratings(5)
    grid = {"reg": [0.005, 0.05, 0.1, 0.3], "lr": [0.02, 0.1]}  # 8 candidates
    search = SuccessiveHalving(MatrixFactorization(factors=4, epochs=9), grid, factor=3, folds=2, seed=2).fit(R)
    table = search.results_
    rounds = table.groupby("iter")
    assert list(rounds.size()) == [8, 3, 1]
    assert list(rounds["n_resources"].first()) == [1, 3, 9]
    cands = [{"reg": r, "lr": lr} for r in grid["reg"] for lr in grid["lr"]]
    # round 0 by brute force with epochs=1, then the survivors are its best three
    ref = brute_force(lambda p: MatrixFactorization(factors=4, seed=2, **p), [{**c, "epochs": 1} for c in cands],
                      R, 2, 2, "rmse")
    means = np.array([np.mean(v) for v in ref])
    first = table[table["iter"] == 0]
    np.testing.assert_allclose(first["mean_rmse"], means, rtol=1e-6)
    survivors = list(np.argsort(means, kind="stable")[:3])
    assert list(table[table["iter"] == 1]["candidate"]) == survivors
    last = table[table["iter"] == 2].iloc[0]
    assert search.best_params_ == {**cands[int(last["candidate"])], "epochs": 9}
    assert search.best_score_ == pytest.approx(last["mean_rmse"])
    assert search.best_model_.epochs == 9


@pytest.mark.parametrize("make, match, error", [
    (lambda: GridSearch(MatrixFactorization(), {}), "param_grid is empty", ValueError),
    (lambda: GridSearch(MatrixFactorization(), []), "param_grid is empty", ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": []}), r"param_grid\['reg'\] is empty", ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": 0.1}), "must be a list of values", TypeError),
    (lambda: GridSearch(MatrixFactorization(), {"regularisation": [0.1]}), "unknown parameter.*regularisation",
     ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": [-1.0]}), "candidate .*reg must be", ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": [0.1]}, metric="rsme"), "metric: unknown 'rsme'", ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": [0.1]}, metrics=["ndgc"]), "metrics: unknown", ValueError),
    (lambda: GridSearch(MatrixFactorization(), {"reg": [0.1]}, folds=1), "folds", ValueError),
    (lambda: GridSearch(42, {"reg": [0.1]}), "estimator must be", TypeError),
    (lambda: RandomSearch(MatrixFactorization(), {}, n_iter=2), "param_distributions is empty", ValueError),
    (lambda: RandomSearch(MatrixFactorization(), {"reg": [0.1]}, n_iter=0), "n_iter", ValueError),
    (lambda: SuccessiveHalving(MatrixFactorization(), {"epochs": [1, 2]}), "must not set the resource", ValueError),
    (lambda: SuccessiveHalving(MatrixFactorization(), {"reg": [0.1]}, resource="rounds"), "no parameter 'rounds'",
     ValueError),
])
def test_bad_input_is_a_clear_error(make, match, error):
    R = ratings(6, 20, 15)
    with pytest.raises(error, match=match):
        make().fit(R)


def test_cli_tune(tmp_path, capsys):
    from turborec import cli

    R = ratings(7, 40, 30).tocoo()
    path = tmp_path / "ratings.csv"
    with open(path, "w") as f:
        f.write("user,item,rating\n")
        for u, i, r in zip(R.row, R.col, R.data):
            f.write(f"u{u},i{i},{r:.2f}\n")
    assert cli.main(["tune", "--data", str(path), "--model", "mf", "--grid", "reg=0.02,0.2",
                     "--grid", "factors=4,8", "--param", "epochs=3", "--folds", "2", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "best" in out and "reg" in out and out.count("\n") >= 5
    for extra in (["--search", "halving", "--param", "epochs=4"], ["--search", "random", "--n-iter", "2"]):
        assert cli.main(["tune", "--data", str(path), "--model", "mf", "--grid", "reg=0.02,0.2,0.5",
                         "--folds", "2", *extra]) == 0
        out = capsys.readouterr().out
        assert "best: reg=" in out and (extra[1] != "halving" or "epochs=4" in out)
    assert cli.main(["tune", "--data", str(path), "--model", "mf", "--grid", "nope=1"]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["tune", "--data", str(tmp_path / "none.csv"), "--model", "mf", "--grid", "reg=1"]) == 2


def test_readme_model_selection_example_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "GridSearch(" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    search, halving, mf = namespace["search"], namespace["halving"], namespace["mf"]
    assert len(search.results_) == 6 and search.best_model_.is_fitted
    assert halving.best_params_["epochs"] == 27
    assert mf.best_epoch_ is not None and len(mf.history_) <= 100


def test_grid_search_properties_hypothesis():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    R = ratings(8, 30, 20, 0.4)

    @settings(max_examples=12, deadline=None)
    @given(ks=st.lists(st.integers(1, 25), min_size=1, max_size=3),
           shrink=st.lists(st.sampled_from([0.0, 10.0, 100.0]), min_size=1, max_size=2, unique=True),
           metric=st.sampled_from(["rmse", "mae", "ndcg"]))
    def check(ks, shrink, metric):
        grid = {"k": ks, "shrinkage": shrink}
        s = GridSearch(ItemKNN(), grid, metric=metric, folds=2, seed=0, refit=False).fit(R)
        t = s.results_
        assert len(t) == len(ks) * len(shrink)
        means = t[f"mean_{metric}"].to_numpy()
        best = means.min() if metric != "ndcg" else means.max()
        assert s.best_score_ == best and t.loc[s.best_index_, f"rank_{metric}"] == 1
        assert s.best_index_ == int(np.flatnonzero(means == best)[0])  # ties: the first in grid order
        better = means < means[:, None] if metric != "ndcg" else means > means[:, None]
        np.testing.assert_array_equal(t[f"rank_{metric}"].to_numpy(), 1 + better.sum(axis=1))

    check()
