"""Issue 11: the failure classes found by hand and by property tests, one test per class.

Each test here failed before its fix: a crash, an unbounded allocation, silently wrong output, or
an error that named the wrong thing.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import ItemKNN, MatrixFactorization, UserKNN


def _ratings(seed=0, n_users=30, n_items=20, density=0.3):
    rng = np.random.default_rng(seed)
    R = sp.random(n_users, n_items, density=density, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5).astype(np.float32)
    return R


# ---- 1. k is capped at the number of candidates -------------------------------------------------

def test_topk_huge_k_is_capped_and_does_not_crash():
    S = np.random.default_rng(0).random((1, 40), dtype=np.float32)
    ids, scores = turborec.topk(S, 2**31 - 1)
    assert ids.shape == scores.shape == (1, 40)
    np.testing.assert_array_equal(ids[0], np.argsort(-S[0], kind="stable"))
    ids, _ = turborec.topk(S, 10**30)  # any positive int, even beyond int64
    assert ids.shape == (1, 40)


def test_topk_of_zero_columns_has_width_one():
    ids, scores = turborec.topk(np.zeros((3, 0), np.float32), 5)
    assert ids.shape == (3, 1) and (ids == -1).all() and np.isneginf(scores).all()


def test_topk_dot_caps_k_at_the_items():
    rng = np.random.default_rng(1)
    Q, V = rng.random((50, 4), dtype=np.float32), rng.random((40, 4), dtype=np.float32)
    ids, scores = turborec.topk_dot(Q, V, 10**6)
    assert ids.shape == (50, 40)
    np.testing.assert_allclose(scores, -np.sort(-(Q @ V.T), axis=1), rtol=1e-5)


def test_topk_similarity_caps_k_at_the_candidate_rows():
    X = _ratings(2)
    S = turborec.topk_similarity(X, 10**9)
    assert S.shape == (X.shape[0], X.shape[0])
    assert np.diff(S.indptr).max() <= X.shape[0] - 1
    same = turborec.topk_similarity(X, X.shape[0] - 1)
    assert (S != same).nnz == 0


@pytest.mark.parametrize("cls", [MatrixFactorization, ItemKNN, UserKNN, turborec.Popularity])
def test_recommend_and_similar_cap_k(cls):
    R = _ratings(3)
    model = cls(**({"epochs": 2, "seed": 0} if cls is MatrixFactorization else {})).fit(R)
    ids, scores = model.recommend([0, 1], k=10**12)
    assert ids.shape == (2, R.shape[1])
    ids, _ = model.recommend([0], k=50, items=[1, 2, 2, 3])
    assert ids.shape == (1, 3)
    if cls is not turborec.Popularity:
        ids, _ = model.similar_items([0], k=10**12)
        assert ids.shape == (1, R.shape[1] - 1)
        ids, _ = model.similar_users([0], k=10**12)
        assert ids.shape == (1, R.shape[0] - 1)


def test_k_still_validated():
    S = np.zeros((1, 4), np.float32)
    with pytest.raises(ValueError, match="k must be >= 1"):
        turborec.topk(S, 0)
    with pytest.raises(TypeError, match="k must be a positive int"):
        turborec.topk(S, 2.0)


# ---- 2. no silent garbage ------------------------------------------------------------------------

@pytest.mark.parametrize("clip, exc", [((5, 1), ValueError), ((np.nan, np.nan), ValueError), ((0, np.inf), ValueError),
                                       ("yes", TypeError), ((1, 2, 3), TypeError), (True, TypeError),
                                       (("a", "b"), TypeError)])
def test_mf_clip_is_validated_at_set_and_fit_time(clip, exc):
    with pytest.raises(exc, match="clip"):
        MatrixFactorization(clip=clip, epochs=1).fit(_ratings())
    model = MatrixFactorization(epochs=1)
    with pytest.raises(exc, match="clip"):
        model.set_params(clip=clip)
    assert model.clip is None  # a refused value is not kept


def test_mf_clip_pair_is_applied():
    model = MatrixFactorization(clip=(2, 3), epochs=2, seed=0).fit(_ratings())
    p = model.predict(np.arange(10), np.arange(10))
    assert p.min() >= 2 and p.max() <= 3


@pytest.mark.parametrize("seed, exc", [("abc", TypeError), (-1, ValueError), (2**70, ValueError), (1.5, TypeError)])
@pytest.mark.parametrize("cls", [MatrixFactorization, turborec.FeatureMF])
def test_bad_seed_names_seed(cls, seed, exc):
    with pytest.raises(exc, match="seed"):
        cls(seed=seed, epochs=1).fit(_ratings())


def test_dot_similarity_overflow_raises():
    X = sp.csr_matrix(np.full((3, 4), 3e19, np.float32))
    with pytest.raises(ValueError, match="overflowed"):
        turborec.topk_similarity(X, 2, metric="dot")


def test_cosine_with_norms_beyond_float32_raises():
    R = sp.csr_matrix(np.full((4, 5), 2e38, np.float32))  # each row's norm is 4e38: beyond float32
    with pytest.raises(ValueError, match="norms overflow float32"):
        ItemKNN(metric="cosine").fit(R)
    with pytest.raises(ValueError, match="^X: row norms overflow"):
        turborec.topk_similarity(R, 2)


def test_knn_recommend_overflow_raises():
    R = sp.csr_matrix(np.full((4, 5), 1e38, np.float32))  # norms fit; 4 x 1e38 x similarity does not
    R[0, 0] = 0
    R.eliminate_zeros()
    model = ItemKNN(metric="cosine").fit(R)
    with pytest.raises(ValueError, match="overflowed"):
        model.recommend([0], 3)


def test_bm25_refuses_negative_values_like_tfidf():
    X = sp.csr_matrix(np.array([[1.0, -2.0], [3.0, 1.0]], np.float32))
    for metric in ("bm25", "tfidf"):
        with pytest.raises(ValueError, match="non-negative"):
            turborec.topk_similarity(X, 1, metric=metric)
    with pytest.raises(ValueError, match="non-negative"):
        turborec.similarity.bm25_weight(X)


@pytest.mark.parametrize("cls", [MatrixFactorization, ItemKNN, UserKNN, turborec.Popularity])
def test_all_empty_matrix_is_refused_by_every_model(cls):
    with pytest.raises(ValueError, match="R has no interactions"):
        cls().fit(sp.csr_matrix((5, 4), dtype=np.float32))


def _tamper(path, out, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        arrays[k] = v(arrays[k])
    np.savez(out, **arrays)


def _with_nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


@pytest.mark.parametrize("cls, member", [(MatrixFactorization, "_P"), (MatrixFactorization, "_item_meta"),
                                         (ItemKNN, "item_bias_"), (ItemKNN, "similarity_.data")])
def test_load_refuses_nan_members(tmp_path, cls, member):
    model = cls(**({"epochs": 1, "seed": 0} if cls is MatrixFactorization else {})).fit(_ratings())
    model.save(tmp_path / "m.npz")
    _tamper(tmp_path / "m.npz", tmp_path / "bad.npz", **{member: _with_nan})
    with pytest.raises(ValueError, match=r"bad\.npz.*NaN"):
        turborec.load(tmp_path / "bad.npz")


def test_load_refuses_an_item_id_list_of_the_wrong_length(tmp_path):
    R = _ratings()
    inter = turborec.Interactions.from_arrays([f"u{u}" for u in R.tocoo().row], [f"i{i}" for i in R.tocoo().col],
                                              R.tocoo().data)
    model = MatrixFactorization(epochs=1, seed=0).fit(inter)
    model.save(tmp_path / "m.npz")
    _tamper(tmp_path / "m.npz", tmp_path / "bad.npz", item_ids_=lambda a: a[:-1])
    with pytest.raises(ValueError, match=r"bad\.npz.*item_ids_"):
        turborec.load(tmp_path / "bad.npz")


# ---- 3. errors that name the right thing --------------------------------------------------------

def test_csv_empty_or_ragged_names_the_path(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv"):
        turborec.Interactions.from_csv(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("user_id,item_id,rating\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="ragged.csv"):
        turborec.Interactions.from_csv(ragged, rating="rating")


def test_sql_messages_name_the_query_result_and_the_table(tmp_path):
    import sqlite3

    db = tmp_path / "r.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (user_id INT, item_id INT)")
        con.execute("INSERT INTO t VALUES (1, 2)")
    with pytest.raises(ValueError, match=r"user='uid' is not a column of the query result"):
        turborec.Interactions.from_sql("SELECT * FROM t", db, user="uid")
    # SQLite would read the quoted "uid" as a string literal: it must not become a column
    with pytest.raises(ValueError, match=r"user='uid' is not a column of table 't'; its columns are \['user_id', "
                                         r"'item_id'\]"):
        turborec.Interactions.from_sql("t", db, user="uid")


def test_huge_grid_is_a_clear_error_not_bad_alloc():
    with pytest.raises(ValueError, match=r"grid=1000000 exceeds the data.*grid <= 20"):
        MatrixFactorization(grid=10**6, epochs=1).fit(_ratings())


def test_divergence_advice_fits_the_settings():
    R = _ratings()
    with pytest.raises(FloatingPointError, match=r"reg=1e\+30.*lower reg") as info:
        MatrixFactorization(reg=1e30, epochs=3, seed=0, lr_schedule="constant", lr=0.01).fit(R)
    assert "raise the regularisation" not in str(info.value)
    with pytest.raises(FloatingPointError, match=r"lr=50 makes every regularisation step overshoot.*lower the learning rate \(lr\)$"):
        MatrixFactorization(factors=8, epochs=50, lr=50.0, reg=0.0, lr_schedule="constant", seed=0).fit(R)


@pytest.mark.parametrize("metric", ["bm25", "tfidf"])
def test_weighting_errors_name_the_bad_matrix(metric):
    X = sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 1.0]], np.float32))
    Y = sp.csr_matrix(np.array([[1.0, -2.0]], np.float32))
    with pytest.raises(ValueError, match=r"^Y: "):
        turborec.topk_similarity(X, 1, Y=Y, metric=metric)
    with pytest.raises(ValueError, match=r"^X: "):
        turborec.topk_similarity(Y, 1, Y=X, metric=metric)


def test_bm25_of_large_values_is_computed_without_overflow():
    # found by the property tests: float32 row sums and products overflowed (a RuntimeWarning)
    X = sp.csr_matrix(np.array([[1e38, 1e38, 0], [1e38, 1e38, 1]], np.float32))
    S = turborec.topk_similarity(X, 1, metric="bm25")
    assert np.isfinite(S.data).all() and S.nnz == 2


# ---- 4. consistent names ---------------------------------------------------------------------------

def test_mf_fitted_attributes_end_with_underscore_and_old_names_are_read_only_aliases():
    model = MatrixFactorization(epochs=1, seed=0, factors=4).fit(_ratings())
    for new, old in (("user_bias_", "user_bias"), ("item_bias_", "item_bias"), ("user_factors_", "user_factors"),
                     ("item_factors_", "item_factors"), ("global_mean_", "global_mean")):
        np.testing.assert_array_equal(getattr(model, new), getattr(model, old))
    assert model.user_factors_.shape == (30, 4) and model.item_bias_.shape == (20,)
    with pytest.raises(AttributeError):
        model.user_bias = np.zeros(30)


def test_cross_validate_takes_n_folds_like_kfold_and_folds_as_alias():
    R = _ratings()
    a = turborec.cross_validate(lambda: turborec.Popularity(), R, n_folds=3, seed=0)
    b = turborec.cross_validate(lambda: turborec.Popularity(), R, folds=3, seed=0)
    scores = [c for c in a.columns if not c.endswith("_seconds")]
    assert len(a) == len(b) == 3 + 2 and a[scores].equals(b[scores])
    assert len(list(turborec.kfold(R, n_folds=3, seed=0))) == 3
    with pytest.raises(ValueError, match="n_folds"):
        turborec.cross_validate(lambda: turborec.Popularity(), R, n_folds=1)
    with pytest.raises(TypeError, match="not both"):
        turborec.cross_validate(lambda: turborec.Popularity(), R, n_folds=3, folds=4)


# ---- 5. the README's quick start as written ---------------------------------------------------------

def test_load_movielens_by_name_under_turborec_datasets(tmp_path, monkeypatch):
    d = tmp_path / "ml-latest-small"
    d.mkdir()
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,5\n2,10,3.5,6\n")
    monkeypatch.chdir(tmp_path / "..")
    monkeypatch.setenv("TURBOREC_DATASETS", str(tmp_path))
    data = turborec.load_movielens("ml-latest-small")
    assert data.nnz == 2
    monkeypatch.setenv("TURBOREC_DATASETS", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=r"MovieLens 'ml-latest-small' not found.*download_movielens"):
        turborec.load_movielens("ml-latest-small")


# ---- 8. the worked example shows the article's model ------------------------------------------------

def test_worked_example_shows_the_article_model_term_by_term():
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "worked_example.py"
    spec = importlib.util.spec_from_file_location("worked_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model, filled, terms = example.factorise()
    assert len(terms) == 4
    for u, i, mu, bu, bi, dot in terms:  # the four terms add up to the model's prediction
        assert mu + bu + bi + dot == pytest.approx(float(filled[u, i]), abs=1e-4)
        assert mu == pytest.approx(44 / 12, abs=1e-5)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
    assert "r = mu + b_u + b_i + <q_u, k_i>" in out and "<q_u, k_i>" in out.split("term by term")[1]


def test_evaluate_with_k_beyond_the_catalogue():
    R = _ratings()
    train, test = turborec.random_split(R, 0.3, seed=0)
    row = turborec.evaluate(turborec.Popularity().fit(train), train, test, k=50)
    assert np.isfinite(float(row["ndcg"].iloc[0]))
