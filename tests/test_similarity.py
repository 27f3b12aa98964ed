"""turborec.similarity.topk_similarity against a dense numpy reference, for every metric and option."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import best_first, similarity_reference

import turborec
from turborec.similarity import METRICS, bm25_weight, neighbours, tfidf_weight, topk_similarity


def random_ratings(rng, n, m, density, *, integers=True, positive=True):
    mat = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float64)
    if integers:
        mat.data = np.ceil(mat.data * 5)  # 1..5, like ratings: plenty of ties
    if not positive:
        mat.data -= 3.0
    mat.eliminate_zeros()
    return mat.astype(np.float32)


def assert_matches(S, X, Y=None, k=5, tol=1e-4, **options):
    """Same scores as the reference (best first), and every returned id really has its score."""
    scores, candidate = similarity_reference(X, Y, **options)
    exp_ids, exp_scores = best_first(scores, candidate, k)
    ids, got = neighbours(S, k=k)
    assert S.shape == scores.shape
    np.testing.assert_allclose(got, exp_scores, rtol=tol, atol=tol)
    real = ids >= 0
    np.testing.assert_array_equal(real, exp_ids >= 0)
    rows = np.nonzero(real)[0]
    assert candidate[rows, ids[real]].all(), "returned a pair that is not a candidate"
    np.testing.assert_allclose(scores[rows, ids[real]], got[real], rtol=tol, atol=tol)
    # Ties may order differently only where scores are equal within rounding.
    mismatch = real & (ids != exp_ids)
    if mismatch.any():
        near = np.abs(got[mismatch] - exp_scores[mismatch]) <= tol
        assert near.all()


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_matches_dense_reference(rng, metric, simd, n_threads):
    X = random_ratings(rng, 40, 25, 0.25, positive=metric not in ("dot", "pearson", "adjusted_cosine"))
    if metric in ("bm25", "tfidf"):
        X.data = np.abs(X.data)
    S = topk_similarity(X, 6, metric=metric, n_threads=n_threads)
    assert_matches(S, X, k=6, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "jaccard", "pearson", "dot"])
def test_options_shrinkage_min_support_threshold_include_self(rng, metric):
    X = random_ratings(rng, 50, 30, 0.3)
    for opts in (dict(shrinkage=10.0), dict(min_support=3), dict(threshold=0.2), dict(include_self=True),
                 dict(shrinkage=2.5, min_support=2, threshold=0.05)):
        S = topk_similarity(X, 7, metric=metric, **opts)
        assert_matches(S, X, k=7, metric=metric, **opts)


def test_negative_scores_are_kept_by_default(rng):
    X = random_ratings(rng, 30, 20, 0.4, positive=False)
    S = topk_similarity(X, 29, metric="dot")
    assert (S.data < 0).any()
    assert_matches(S, X, k=29, metric="dot")


def test_y_compares_against_another_catalogue(rng):
    X = random_ratings(rng, 20, 15, 0.3)
    Y = random_ratings(rng, 35, 15, 0.3)
    for metric in ("cosine", "adjusted_cosine", "bm25", "jaccard"):
        S = topk_similarity(X, 4, Y=Y, metric=metric)
        assert S.shape == (20, 35)
        assert_matches(S, X, Y, k=4, metric=metric)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 25), m=st.integers(1, 20), k=st.integers(1, 30), density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       metric=st.sampled_from(METRICS), seed=st.integers(0, 2**31), n_threads=st.sampled_from([1, 2]))
def test_awkward_shapes(n, m, k, density, metric, seed, n_threads):
    """Empty rows, k beyond the row, complete matrices, one row, one column."""
    rng = np.random.default_rng(seed)
    X = random_ratings(rng, n, m, density)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            S = topk_similarity(X, k, metric=metric, n_threads=n_threads)
        assert_matches(S, X, k=k, metric=metric)


def test_zero_vectors_have_no_neighbours():
    # Row 0 has one rating: centred by its own mean it is all zero (pearson).
    X = sp.csr_matrix(np.array([[5, 0, 0], [1, 2, 3], [3, 2, 1], [0, 0, 0]], dtype=np.float32))
    S = topk_similarity(X, 3, metric="pearson")
    assert S[0].nnz == 0 and S[3].nnz == 0
    assert 0 not in S.indices and 3 not in S.indices


def test_identical_results_for_threads_and_levels(rng):
    X = random_ratings(rng, 300, 200, 0.05)
    ref = topk_similarity(X, 10, n_threads=1)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            for t in (1, 2):
                S = topk_similarity(X, 10, n_threads=t)
                np.testing.assert_array_equal(S.indptr, ref.indptr)
                np.testing.assert_array_equal(S.indices, ref.indices)
                np.testing.assert_allclose(S.data, ref.data, rtol=1e-6)


def test_int64_indptr_noncanonical_and_other_formats(rng):
    X = random_ratings(rng, 40, 30, 0.2)
    ref = topk_similarity(X, 5)
    wide = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    for variant in (wide, X.tocsc(), X.tocoo(), X.astype(np.float64)):
        S = topk_similarity(variant, 5)
        np.testing.assert_array_equal(S.indices, ref.indices)
        np.testing.assert_allclose(S.data, ref.data, rtol=1e-6)
    # duplicates are summed (scipy's canonical form)
    coo = X.tocoo()
    dup = sp.coo_matrix((np.r_[coo.data, coo.data] / 2, (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])), shape=X.shape)
    S = topk_similarity(dup, 5)
    np.testing.assert_allclose(S.data, ref.data, rtol=1e-5)


def test_inputs_are_not_modified(rng):
    X = random_ratings(rng, 30, 20, 0.3)
    before = [a.copy() for a in (X.data, X.indices, X.indptr)]
    for metric in METRICS:
        topk_similarity(X, 5, metric=metric)
    for b, a in zip(before, (X.data, X.indices, X.indptr)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(X=np.ones((3, 3)), k=2), TypeError, "X must be a scipy.sparse matrix"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=0), ValueError, "k must be >= 1"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, metric="euclid"), ValueError, "metric must be one of"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, shrinkage=-1.0), ValueError, "shrinkage"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, min_support=0), ValueError, "min_support"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, threshold=float("nan")), ValueError, "threshold"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, Y=sp.csr_matrix(np.ones((3, 4)))), ValueError, "same number of columns"),
    (dict(X=sp.csr_matrix(np.array([[1.0, np.nan]])), k=1), ValueError, "NaN or inf"),
    (dict(X=sp.csr_matrix(np.array([[1 + 1j]])), k=1), TypeError, "real numbers"),
    (dict(X=sp.csr_matrix(np.ones((3, 3))), k=2, n_threads=-2), ValueError, "n_threads"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        topk_similarity(**kwargs)


def test_weightings_match_implicit_formulas(rng):
    X = random_ratings(rng, 30, 20, 0.3)
    D = X.toarray().astype(np.float64)
    P = D != 0
    idf = np.log(30) - np.log1p(P.sum(0))
    np.testing.assert_allclose(tfidf_weight(X).toarray(), np.where(P, np.sqrt(D) * idf, 0), rtol=1e-5)
    norm = 0.2 + 0.8 * D.sum(1) / D.sum(1).mean()
    expected = np.where(P, D * 101 / (100 * norm[:, None] + D) * idf, 0)
    np.testing.assert_allclose(bm25_weight(X).toarray(), expected, rtol=1e-5)


def test_similarity_of_large_power_law_matrix_matches_brute_force_rows(rng):
    """A matrix big enough for the dense-scan and reduce paths; a sample of rows checked exactly."""
    n_items, n_users = 3000, 2000
    pop = 1.0 / (np.arange(n_items) + 5.0)
    pop /= pop.sum()
    rows = rng.integers(0, n_users, 60000)
    cols = rng.choice(n_items, 60000, p=pop)
    R = sp.csr_matrix((np.ones(60000, np.float32), (rows, cols)), shape=(n_users, n_items))
    R.data[:] = 1
    X = R.T.tocsr()
    S = topk_similarity(X, 20)
    for level in turborec.supported_simd_levels():  # every level and thread count: the same graph
        with turborec.simd_level(level):
            for t in (1, 2):
                other = topk_similarity(X, 20, n_threads=t)
                np.testing.assert_array_equal(other.indices, S.indices)
                np.testing.assert_allclose(other.data, S.data, rtol=1e-6)
    # Popular items (dense scans), random ones, and the least popular (marked scans of a few blocks).
    degree = np.diff(X.indptr)
    by_degree = np.argsort(-degree, kind="stable")
    light = by_degree[degree[by_degree] > 0][-15:]
    sample = np.unique(np.concatenate([by_degree[:15], rng.choice(n_items, 30, replace=False), light]))
    Xd = X.toarray().astype(np.float64)
    norms = np.linalg.norm(Xd, axis=1)
    for i in sample:
        dots = Xd @ Xd[i]
        cos = np.divide(dots, norms * norms[i], out=np.zeros(n_items), where=(norms * norms[i]) > 0)
        cand = dots > 0
        cand[i] = False
        exp_ids = np.flatnonzero(cand)[np.lexsort((np.flatnonzero(cand), -cos[cand]))][:20]
        ids, got = neighbours(S, [i], k=20)
        np.testing.assert_allclose(got[0, : exp_ids.size], cos[exp_ids], rtol=1e-5)


def test_weighted_rows_reaching_most_candidates_keep_every_best_score(rng):
    """Rows dense enough for the full scan and with far more candidates than the selector's buffer,
    so the threshold rises and the scan's per-block scale bound decides which slots it reads: with
    weighted values the norms, and so the scales, are out of order inside a block. Every level and
    thread count against the dense reference; a bound that drops one real candidate shifts the scores."""
    n_items, n_users = 1500, 400
    pop = 1.0 / (np.arange(n_items) + 30.0)
    cells = np.unique(rng.integers(0, n_users, 60000) * n_items + rng.choice(n_items, 60000, p=pop / pop.sum()))
    values = rng.lognormal(0.0, 1.0, cells.size).astype(np.float32)  # norms spread over a wide range
    X = sp.csr_matrix((values, (cells % n_items, cells // n_items)), shape=(n_items, n_users))
    scores, candidate = similarity_reference(X, metric="cosine")
    exp_ids, exp = best_first(scores, candidate, 5)
    assert (candidate.sum(1) > 600).mean() > 0.5  # most rows overflow the 512-slot buffer
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            for t in (1, 2):
                ids, got = neighbours(topk_similarity(X, 5, n_threads=t), np.arange(n_items), k=5)
                np.testing.assert_allclose(got, exp, rtol=1e-5, err_msg=f"{level}, {t} threads")
                np.testing.assert_array_equal(ids, exp_ids, err_msg=f"{level}, {t} threads")


@pytest.mark.parametrize("n", [2, 17, 63, 64, 200])
@pytest.mark.parametrize("value", [-1.0, -2.5, 3.0])
def test_untouched_candidates_are_never_neighbours(n, value):
    """Found by tests/test_properties.py: with one common negative value in Y, the empty rows of Y came
    out as neighbours with score 0 (the common value moved into the scale flipped -0.0 to +0.0)."""
    Y = sp.csr_matrix((np.array([value], np.float32), np.array([0], np.int32), np.r_[0, np.ones(n, int)]),
                      shape=(n, 1))
    X = sp.csr_matrix(np.array([[1.0]], np.float32))
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            for metric in ("cosine", "dot"):
                S = turborec.topk_similarity(X, 3, Y=Y, metric=metric, n_threads=1)
                assert S.indices.tolist() == [0], (level, metric, S.toarray())
