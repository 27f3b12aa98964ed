"""ItemKNN / UserKNN: predictions against a numpy reference, recommendations against a dense
product, the design document's worked example, explanations and the cold-start rules."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from reference import als_baselines_reference, knn_predict_reference, topk_reference

import turborec
from turborec.models._baselines import als_baselines

ROOT = Path(__file__).resolve().parent.parent
MODELS = [turborec.ItemKNN, turborec.UserKNN]


def ratings(rng, n_users=60, n_items=40, density=0.25):
    R = sp.random(n_users, n_items, density=density, format="csr", random_state=rng, dtype=np.float64)
    R.data = np.ceil(R.data * 10) / 2  # half stars 0.5 .. 5
    return R.astype(np.float32)


def reference_predictions(model, users, items):
    item_based = isinstance(model, turborec.ItemKNN)
    S = model.similarity_.toarray()
    if item_based:
        targets, others, M = items, users, model.user_items_
        tm, tb, ob = model.item_mean_, model.item_bias_, model.user_bias_
    else:
        targets, others, M = users, items, model.user_items_.T.tocsr()
        tm, tb, ob = model.user_mean_, model.user_bias_, model.item_bias_
    out = knn_predict_reference(S, M, targets, others, model.k, model.min_k, model.variant, tm,
                                float(model.global_mean_), tb, ob)
    return np.clip(out, *model.rating_range_) if model.clip else out


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("variant", ["basic", "mean", "baseline"])
@pytest.mark.parametrize("metric", ["cosine", "pearson", "adjusted_cosine"])
def test_predict_matches_reference(rng, cls, variant, metric, n_threads):
    R = ratings(rng)
    model = cls(k=5, variant=variant, metric=metric, min_k=2, n_threads=n_threads).fit(R)
    users = rng.integers(0, R.shape[0], 300).astype(np.int32)
    items = rng.integers(0, R.shape[1], 300).astype(np.int32)
    np.testing.assert_allclose(model.predict(users, items), reference_predictions(model, users, items), rtol=1e-5,
                               atol=1e-5)


def test_baselines_match_numpy_alternating_least_squares(rng):
    R = ratings(rng, 80, 50)
    mu, bu, bi = als_baselines(R)
    emu, ebu, ebi = als_baselines_reference(R)
    np.testing.assert_allclose([mu], [emu], rtol=1e-6)
    np.testing.assert_allclose(bu, ebu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bi, ebi, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", MODELS)
def test_recommend_is_the_neighbourhood_score(rng, cls, simd, n_threads):
    R = ratings(rng, 50, 70, 0.15)
    model = cls(k=10, n_threads=n_threads).fit(R)
    S = model.similarity_.toarray()
    scores = (R @ S) if cls is turborec.ItemKNN else (S @ R.toarray())
    scores = np.asarray(scores)
    users = np.arange(50)
    # Candidates are items reached through a nonzero term; others are never ranked.
    reach = ((R != 0).astype(float) @ (S != 0)) if cls is turborec.ItemKNN else ((S != 0).astype(float) @ (R != 0).toarray())
    masked = np.where(np.asarray(reach) > 0, scores, -np.inf)
    masked = np.where(R.toarray() != 0, -np.inf, masked)
    exp_ids, exp_scores = topk_reference(np.where(np.isinf(masked), -1e30, masked), 8)
    ids, got = model.recommend(users, 8)
    valid = exp_scores > -1e29
    np.testing.assert_allclose(got[valid], exp_scores[valid], rtol=1e-4, atol=1e-5)
    assert (ids[~valid] == -1).all()
    for u in users:  # returned ids carry their reference scores
        ok = ids[u] >= 0
        np.testing.assert_allclose(scores[u, ids[u][ok]], got[u][ok], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
def test_recommend_options(rng, cls):
    R = ratings(rng, 30, 50, 0.2)
    model = cls(k=5).fit(R)
    ids, _ = model.recommend(np.arange(30), 10, exclude_seen=True)
    seen = R.toarray() != 0
    assert not any(seen[u, i] for u in range(30) for i in ids[u] if i >= 0)
    allowed = np.array([1, 4, 9, 16, 25, 36, 49])
    ids, _ = model.recommend(np.arange(30), 10, items=allowed, exclude_seen=False)
    assert np.isin(ids[ids >= 0], allowed).all()
    ids, scores = model.recommend([3], 60)
    assert (ids[0, -5:] == -1).all() and np.isneginf(scores[0, -5:]).all()


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("stored", [None, 6])  # 6: a truncated, asymmetric neighbour graph
def test_explain_is_consistent_with_predict_and_recommend(rng, cls, stored):
    R = ratings(rng, 40, 30, 0.3)
    model = cls(k=4, max_neighbours=stored).fit(R)
    ids, scores = model.recommend(np.arange(40), 3)
    for u in range(0, 40, 7):
        for item, score in zip(ids[u], scores[u]):
            if item < 0:
                continue
            why = model.explain(u, item)
            assert why.score == pytest.approx(score, rel=1e-4)
            assert why.prediction == pytest.approx(float(model.predict([u], [item])[0]), rel=1e-6)
            np.testing.assert_allclose(why.weights, why.similarities * why.ratings, rtol=1e-6)
            assert why.used_for_prediction.sum() <= model.k
            voters = np.sort(why.prediction_similarities[why.used_for_prediction])
            assert (voters > 0).all()
            assert np.all(np.diff(why.weights) <= 1e-6)  # strongest first


@pytest.mark.parametrize("cls", MODELS)
def test_similar_items_and_users(rng, cls):
    R = ratings(rng, 40, 30, 0.3)
    model = cls(k=4).fit(R)
    items = np.array([0, 5, 7])
    ids, scores = model.similar_items(items, 5)
    S = turborec.topk_similarity(R.T.tocsr(), 6, metric="cosine")
    exp_ids, exp_scores = turborec.similarity.neighbours(S, items, k=5)
    np.testing.assert_allclose(scores, exp_scores, rtol=1e-5)
    assert not (ids == items[:, None]).any()
    ids, scores = model.similar_users([1, 2], 3)
    S = turborec.topk_similarity(R, 3, metric="cosine")
    np.testing.assert_allclose(scores, turborec.similarity.neighbours(S, [1, 2], k=3)[1], rtol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
def test_cold_users_and_items_fall_back_to_baselines(cls):
    R = sp.csr_matrix(np.array([[5, 3, 0, 0], [4, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 5]], dtype=np.float32))
    model = cls(k=2, variant="baseline").fit(R)
    # user 2 has no ratings, item 2 has none: the prediction is mu + b_u + b_i (0 for the unknown side)
    pred = model.predict([2, 0], [1, 2])
    mu, bu, bi = als_baselines(R)
    np.testing.assert_allclose(pred, np.clip([mu + bu[2] + bi[1], mu + bu[0] + bi[2]], 1, 5), rtol=1e-6)
    ids, _ = model.recommend([2], 2)  # a user without history gets no neighbourhood candidates
    assert (ids == -1).all()


@pytest.mark.parametrize("cls", MODELS)
def test_min_k_fallback(rng, cls):
    R = ratings(rng, 40, 30, 0.2)
    strict = cls(k=5, min_k=1000, variant="mean").fit(R)
    users = np.arange(40, dtype=np.int32)
    items = (users % 30).astype(np.int32)
    expected = (strict.item_mean_[items] if cls is turborec.ItemKNN else strict.user_mean_[users])
    np.testing.assert_allclose(strict.predict(users, items), np.clip(expected, *strict.rating_range_), rtol=1e-6)


@pytest.mark.parametrize("cls", MODELS)
def test_deterministic_across_threads_and_levels(rng, cls):
    R = ratings(rng, 100, 80, 0.1)
    users = rng.integers(0, 100, 500).astype(np.int32)
    items = rng.integers(0, 80, 500).astype(np.int32)
    ref = cls(k=10, n_threads=1).fit(R)
    ref_pred, ref_rec = ref.predict(users, items), ref.recommend(np.arange(100), 5)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            other = cls(k=10, n_threads=2).fit(R)
            np.testing.assert_array_equal(other.predict(users, items), ref_pred)
            np.testing.assert_array_equal(other.recommend(np.arange(100), 5)[0], ref_rec[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), "k must be an int >= 1"),
    (dict(variant="median"), "variant must be one of"),
    (dict(metric="l2"), "metric must be one of"),
    (dict(min_k=-1), "min_k must be"),
    (dict(k=10, max_neighbours=5), "max_neighbours"),
    (dict(k=1, max_neighbours=True), "max_neighbours"),  # a bool is no count (was accepted as 1)
    (dict(k=True), "k must be an int >= 1"),
])
def test_bad_parameters(kwargs, match):
    R = sp.csr_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match=match):
        turborec.ItemKNN(**kwargs).fit(R)


def test_worked_example_from_the_design_document():
    """The document's 4 x 4 matrix: every '?' is filled by both methods, and the numbers follow the
    reference formulas; the known ratings' mean is 44 / 12 (the document's 3.375 is a slip)."""
    spec = importlib.util.spec_from_file_location("worked_example", ROOT / "examples" / "worked_example.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    known = example.RATINGS[example.RATINGS > 0]
    assert known.sum() / known.size == pytest.approx(44 / 12)
    unknown = np.argwhere(example.RATINGS == 0)
    assert len(unknown) == 4
    for cls in (turborec.UserKNN, turborec.ItemKNN):
        model, filled = example.complete(cls)
        assert np.isfinite(filled).all() and (filled > 0).all()
        u, i = unknown[:, 0].astype(np.int32), unknown[:, 1].astype(np.int32)
        np.testing.assert_allclose(filled[u, i], reference_predictions(model, u, i), rtol=1e-5)
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "worked_example.py")], capture_output=True, text=True,
                         check=True).stdout
    assert "44 / 12 = 3.667" in out and "item-based CF" in out and "user-based CF" in out


def test_ratings_csv_program_runs(movielens):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "ratings_csv_program.py"), str(movielens / "ratings.csv")],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    rmse = float(out.split("held-out ratings: ")[1].split()[0])
    assert 0.7 < rmse < 1.0
