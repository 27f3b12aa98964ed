"""Property-based tests of the public kernels and models (issue 11).

The property, for random inputs including empty and degenerate ones: the answer matches the simple
reference in tests/reference.py, or the call raises TypeError/ValueError whose message names an
argument. Never a crash, a warning, another exception type, a modified input or a different answer.
Inputs cover random shapes (0 rows/columns included), random k (1 .. far beyond the candidates),
CSR structure as users build it (unsorted, duplicates, empty rows, int64 indptr), 1 and 2 threads
and every SIMD level this CPU supports. Budgets are fixed so the file stays well under a minute.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import best_first, similarity_reference, topk_reference

import turborec
from turborec.similarity import METRICS, neighbours

LEVELS = turborec.supported_simd_levels()
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def awkward_csr(draw, n=None, m=None, values=st.integers(1, 5), max_n=7, max_m=9):
    """A scipy CSR matrix built the ways users build them: any order, duplicates, empty rows,
    int32 or int64 indptr. Returned with its dense equivalent (duplicates summed)."""
    n = draw(st.integers(0, max_n)) if n is None else n
    m = draw(st.integers(0, max_m)) if m is None else m
    nnz = draw(st.integers(0, n * m * 2)) if n and m else 0
    rows = draw(st.lists(st.integers(0, n - 1), min_size=nnz, max_size=nnz)) if nnz else []
    cols = draw(st.lists(st.integers(0, m - 1), min_size=nnz, max_size=nnz)) if nnz else []
    vals = draw(st.lists(values, min_size=nnz, max_size=nnz)) if nnz else []
    dense = np.zeros((n, m))
    np.add.at(dense, (np.asarray(rows, int), np.asarray(cols, int)), np.asarray(vals, float))
    order = np.argsort(rows, kind="stable")  # rows grouped, columns in drawn order: unsorted, duplicated
    counts = np.bincount(np.asarray(rows, int), minlength=n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(draw(st.sampled_from([np.int32, np.int64])))
    mat = sp.csr_matrix((np.asarray(vals, np.float32)[order], np.asarray(cols, np.int32)[order], indptr),
                        shape=(n, m))
    return mat, dense


def _copy(mat):
    return None if mat is None else (mat.data.copy(), mat.indices.copy(), mat.indptr.copy())


def _unchanged(mat, saved):
    if mat is not None:
        for a, b in zip((mat.data, mat.indices, mat.indptr), saved):
            np.testing.assert_array_equal(a, b)


k_values = st.one_of(st.integers(1, 12), st.sampled_from([2**31 - 1, 2**40, 10**30]))


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), k=k_values, n_threads=st.sampled_from([1, 2]), level=st.sampled_from(LEVELS))
def test_topk_matches_reference(data, k, n_threads, level):
    n, m = data.draw(st.integers(0, 6)), data.draw(st.integers(0, 10))
    values = st.one_of(st.integers(-3, 3).map(float), st.sampled_from([np.inf, -np.inf]))
    scores = np.array(data.draw(st.lists(values, min_size=n * m, max_size=n * m)), np.float32).reshape(n, m)
    exclude, _ = data.draw(awkward_csr(n, m)) if data.draw(st.booleans()) else (None, None)
    saved, scores_before = _copy(exclude), scores.copy()
    with turborec.simd_level(level):
        ids, got = turborec.topk(scores, k, exclude=exclude, n_threads=n_threads)
    exp_ids, exp = topk_reference(scores, k, exclude)
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(got, exp)
    assert ids.shape == (n, max(1, min(k, m)))
    _unchanged(exclude, saved)
    np.testing.assert_array_equal(scores, scores_before)


@settings(max_examples=50, **SETTINGS)
@given(data=st.data(), k=k_values, n_threads=st.sampled_from([1, 2]), level=st.sampled_from(LEVELS),
       bias=st.booleans())
def test_topk_dot_matches_reference(data, k, n_threads, level, bias):
    n, m, d = data.draw(st.integers(0, 6)), data.draw(st.integers(0, 20)), data.draw(st.integers(0, 9))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    q = rng.integers(-2, 3, size=(n, d)).astype(np.float32)  # small integers: exact products, exact ties
    items = rng.integers(-2, 3, size=(m, d)).astype(np.float32)
    b = rng.integers(-3, 4, size=m).astype(np.float32) if bias else None
    exclude, _ = data.draw(awkward_csr(n, m)) if data.draw(st.booleans()) else (None, None)
    with turborec.simd_level(level):
        ids, got = turborec.topk_dot(q, items, k, exclude=exclude, item_bias=b, n_threads=n_threads)
    scores = q.astype(np.float64) @ items.T.astype(np.float64) + (0 if b is None else b)
    exp_ids, exp = topk_reference(scores.reshape(n, m), k, exclude)
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(got, exp)


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), metric=st.sampled_from(METRICS), k=st.integers(1, 12), n_threads=st.sampled_from([1, 2]),
       level=st.sampled_from(LEVELS), include_self=st.booleans(), with_y=st.booleans(),
       shrinkage=st.sampled_from([0.0, 0.5, 10.0]), min_support=st.integers(1, 3))
def test_topk_similarity_matches_reference(data, metric, k, n_threads, level, include_self, with_y, shrinkage,
                                           min_support):
    values = st.integers(1, 5) if metric in ("bm25", "tfidf") else st.integers(-3, 5)
    X, _ = data.draw(awkward_csr(values=values))
    Y = data.draw(awkward_csr(m=X.shape[1], values=values))[0] if with_y else None
    saved = _copy(X)
    opts = dict(metric=metric, shrinkage=shrinkage, min_support=min_support, include_self=include_self)
    with turborec.simd_level(level):
        S = turborec.topk_similarity(X, k, Y=Y, n_threads=n_threads, **opts)
    _unchanged(X, saved)
    scores, candidate = similarity_reference(X, Y, **opts)
    assert S.shape == scores.shape
    exp_ids, exp_scores = best_first(scores, candidate, k)
    ids, got = neighbours(S, k=k)
    np.testing.assert_allclose(got, exp_scores, rtol=1e-4, atol=1e-4)
    real = ids >= 0
    np.testing.assert_array_equal(real, exp_ids >= 0)
    rows = np.nonzero(real)[0]
    assert candidate[rows, ids[real]].all()


def _names_an_argument(err, names):
    text = str(err)
    assert any(name in text for name in names), f"{type(err).__name__}({text!r}) names none of {names}"


BAD = st.sampled_from([0, -1, 1.5, "3", None, True, np.nan, np.inf, -np.inf, 2**70, [2], 1e300])


@settings(max_examples=80, **SETTINGS)
@given(k=st.one_of(BAD, st.integers(1, 5)), n_threads=st.one_of(BAD, st.sampled_from([0, 1, 2])),
       metric=st.sampled_from(METRICS + ("cos", "", 3)), shrinkage=st.one_of(BAD, st.just(0.0)),
       min_support=st.one_of(BAD, st.just(1)), threshold=st.one_of(BAD, st.just(None)))
def test_similarity_arguments_in_and_just_outside_their_domains(k, n_threads, metric, shrinkage, min_support,
                                                                 threshold):
    X = sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 1], [4, 0, 0]], np.float32))
    try:
        S = turborec.topk_similarity(X, k, metric=metric, shrinkage=shrinkage, min_support=min_support,
                                     threshold=threshold, n_threads=n_threads)
    except (TypeError, ValueError) as err:
        _names_an_argument(err, ["k", "n_threads", "metric", "shrinkage", "min_support", "threshold"])
        return
    assert S.shape == (3, 3) and np.isfinite(S.data).all()


MODELS = {
    "MatrixFactorization": (turborec.MatrixFactorization, dict(
        factors=st.one_of(BAD, st.integers(1, 4)), epochs=st.one_of(BAD, st.integers(0, 2)),
        lr=st.one_of(BAD, st.sampled_from([0.01, 0.1])), reg=st.one_of(BAD, st.sampled_from([0.0, 0.05])),
        clip=st.one_of(BAD, st.sampled_from([None, False, (1, 5), (5, 1), (np.nan, 1), "yes"])),
        seed=st.one_of(BAD, st.integers(0, 2**63 - 1)), grid=st.one_of(BAD, st.sampled_from([None, 1, 2, 50])))),
    "ItemKNN": (turborec.ItemKNN, dict(k=st.one_of(BAD, st.integers(1, 5)), min_k=st.one_of(BAD, st.integers(0, 2)),
                                       shrinkage=st.one_of(BAD, st.just(0.0)),
                                       metric=st.sampled_from(["cosine", "pearson", "dot", "nope"]))),
    "UserKNN": (turborec.UserKNN, dict(k=st.one_of(BAD, st.integers(1, 5)), min_k=st.one_of(BAD, st.integers(0, 2)),
                                       variant=st.sampled_from(["basic", "mean", "baseline", "other"]))),
    "Popularity": (turborec.Popularity, {}),
}


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), name=st.sampled_from(sorted(MODELS)), k=k_values, exclude_seen=st.booleans(),
       n_threads=st.sampled_from([1, 2]), level=st.sampled_from(LEVELS))
def test_models_fit_or_name_the_bad_argument_then_answer_consistently(data, name, k, exclude_seen, n_threads,
                                                                       level):
    cls, space = MODELS[name]
    params = {p: data.draw(s, label=p) for p, s in space.items() if data.draw(st.booleans())}
    R, dense = data.draw(awkward_csr(values=st.integers(1, 5), max_n=8, max_m=8))
    saved = _copy(R)
    with turborec.simd_level(level):
        try:
            model = cls(**params)
            if "n_threads" in model.get_params():
                model.set_params(n_threads=n_threads)
            model.fit(R)
        except (TypeError, ValueError) as err:
            _names_an_argument(err, list(params) + ["R", "n_threads"])
            return
        except FloatingPointError as err:  # documented: SGD divergence, with advice naming a setting
            assert "diverged" in str(err) and ("lower the learning rate" in str(err) or "lower reg" in str(err)
                                               or "learning rate" in str(err)), err
            return
        finally:
            _unchanged(R, saved)
        n_users, n_items = R.shape
        users = np.arange(n_users)
        ids, scores = model.recommend(users, k, exclude_seen=exclude_seen)
        p = model.predict(users, users % n_items)
    assert ids.shape == scores.shape == (n_users, max(1, min(k, n_items)))
    assert np.isfinite(p).all()
    for u in range(n_users):
        real = ids[u][ids[u] >= 0]
        assert len(set(real)) == real.size and (real < n_items).all()
        assert (np.diff(scores[u][: real.size]) <= 0).all()  # best first
        assert np.isneginf(scores[u][real.size:]).all()
        if exclude_seen:
            assert not (dense[u, real] != 0).any(), "recommended a seen item"
