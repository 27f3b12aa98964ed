"""turborec.metrics: hand-computed examples, a per-user numpy reference, threads, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ranking_reference as reference

import turborec
from turborec import metrics as M

LOG3, LOG5 = math.log2(3), math.log2(5)


def assert_metrics_equal(got, expected, rtol=1e-12):
    for name in M.RANKING_METRICS:
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=rtol, err_msg=name)


# ---- hand-computed -------------------------------------------------------------------------------

# n_items = 6. user 0: hits at positions 2 and 4; user 1: only padding; user 2: no relevant items.
REC = np.array([[2, 0, 5, 1], [-1, -1, -1, -1], [1, 3, -1, -1]], dtype=np.int32)
REL = sp.csr_matrix((np.array([3.0, 1.0, 2.0, 1.0], np.float32), np.array([0, 1, 3, 4]), np.array([0, 3, 4, 4])),
                    shape=(3, 6))


def test_hand_computed_per_user():
    got = M.ranking_metrics(REC, REL, 4, per_user=True)
    nan = np.nan
    np.testing.assert_allclose(got["precision"], [2 / 4, 0, nan])
    np.testing.assert_allclose(got["recall"], [2 / 3, 0, nan])
    np.testing.assert_allclose(got["hit_rate"], [1, 0, nan])
    np.testing.assert_allclose(got["mrr"], [1 / 2, 0, nan])
    np.testing.assert_allclose(got["map"], [(1 / 2 + 2 / 4) / 3, 0, nan])  # 1/min(k, 3) * (P@2 + P@4)
    np.testing.assert_allclose(got["ndcg"], [(1 / LOG3 + 1 / LOG5) / (1 + 1 / LOG3 + 1 / 2), 0, nan])
    # user 0: order 2 > 0 > 5 > 1 > {3, 4} tied; positives {0, 1, 3}, negatives {2, 4, 5}.
    # 0 beats 5, 4 (2); 1 beats 4 (1); 3 ties with 4 (1/2) -> 3.5 of 9 pairs.
    # user 1: its positive 4 is unlisted, tied with all 5 unlisted negatives -> 1/2.
    np.testing.assert_allclose(got["auc"], [3.5 / 9, 0.5, nan])
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in got.values())


def test_hand_computed_means_skip_users_without_relevant_items():
    got = M.ranking_metrics(REC, REL, 4)
    assert got["precision"] == pytest.approx((0.5 + 0) / 2)
    assert got["recall"] == pytest.approx(1 / 3)
    assert got["auc"] == pytest.approx((3.5 / 9 + 0.5) / 2)
    assert got["coverage"] == pytest.approx(5 / 6)  # {0, 1, 2, 3, 5}
    for name, func in [("precision", M.precision_at_k), ("recall", M.recall_at_k), ("hit_rate", M.hit_rate_at_k),
                       ("map", M.map_at_k), ("mrr", M.mrr), ("ndcg", M.ndcg_at_k)]:
        assert func(REC, REL, 4) == pytest.approx(got[name]), name
        np.testing.assert_array_equal(func(REC, REL, per_user=True),
                                      M.ranking_metrics(REC, REL, 4, per_user=True)[name])
    assert M.auc(REC, REL) == pytest.approx(got["auc"])


def test_hand_computed_k_below_width():
    got = M.ranking_metrics(REC, REL, 2, per_user=True)
    np.testing.assert_allclose(got["precision"][:2], [1 / 2, 0])
    np.testing.assert_allclose(got["recall"][:2], [1 / 3, 0])
    np.testing.assert_allclose(got["map"][:2], [(1 / 2) / 2, 0])  # 1/min(2, 3) * P@2
    np.testing.assert_allclose(got["ndcg"][:2], [(1 / LOG3) / (1 + 1 / LOG3), 0])
    # only 2 and 0 listed: 0 beats 4, 5 (2); 1 and 3 tie with 4 and 5 (4 halves) -> 4 / 9
    np.testing.assert_allclose(got["auc"][:2], [4 / 9, 0.5])


@pytest.mark.parametrize("gain, g", [("linear", {0: 3.0, 1: 1.0, 3: 2.0}), ("exponential", {0: 7.0, 1: 1.0, 3: 3.0})])
def test_hand_computed_graded_ndcg(gain, g):
    expected = (g[0] / LOG3 + g[1] / LOG5) / (g[0] + g[3] / LOG3 + g[1] / 2)
    got = M.ndcg_at_k(REC, REL, gain=gain, per_user=True)
    np.testing.assert_allclose(got, [expected, 0, np.nan])


def test_graded_all_zero_gains_is_nan():
    rel = sp.csr_matrix((np.zeros(2, np.float32), [0, 1], [0, 2]), shape=(1, 3))
    assert np.isnan(M.ndcg_at_k([[0, 1]], rel, gain="linear", per_user=True)[0])
    assert M.ndcg_at_k([[0, 1]], rel) == 1.0  # binary: stored entries are relevant whatever their value


def test_auc_with_exclude_and_larger_catalogue():
    # items 0..7; relevant {1, 6} (relevant has only 7 columns); excluded {0, 6}: 6 is no positive.
    rec = np.array([[0, 2, 1]])
    rel = sp.csr_matrix(([1, 1], [1, 6], [0, 2]), shape=(1, 7))
    ex = sp.csr_matrix(([1, 1], [0, 6], [0, 2]), shape=(1, 8))
    # candidates {1..5, 7}: positive 1, negatives {2, 3, 4, 5, 7}; 2 listed above 1 -> 1 beats 4 of 5.
    assert M.auc(rec, rel, n_items=8, exclude=ex) == pytest.approx(4 / 5)
    got = M.auc(rec, rel, n_items=8, exclude=ex, per_user=True)
    np.testing.assert_allclose(got, reference(rec, rel, 3, ex, 8)["auc"])
    # every candidate relevant: no negatives -> NaN, and the mean over nobody is NaN without a warning
    assert np.isnan(M.auc([[0, 1]], sp.csr_matrix(np.ones((1, 2))), per_user=True)[0])
    assert math.isnan(M.auc([[0, 1]], sp.csr_matrix(np.ones((1, 2)))))


def test_auc_full_ranking_matches_brute_force_roc_auc(rng):
    """k = n_items (a full ranking without ties): the classic ROC AUC of the scores."""
    n_users, n_items = 30, 25
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    relevant = sp.random(n_users, n_items, density=0.2, format="csr", random_state=rng)
    train = sp.random(n_users, n_items, density=0.2, format="csr", random_state=rng)
    train = train - train.multiply(relevant > 0)  # disjoint from relevant
    train.eliminate_zeros()
    ids, _ = turborec.topk(scores, n_items, exclude=train)
    got = M.auc(ids, relevant, exclude=train, per_user=True)
    R, E = relevant.toarray() > 0, train.toarray() > 0
    for u in range(n_users):
        pos, neg = scores[u, R[u] & ~E[u]], scores[u, ~R[u] & ~E[u]]
        if pos.size == 0 or neg.size == 0:
            assert np.isnan(got[u])
            continue
        brute = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
        assert got[u] == pytest.approx(brute, abs=1e-12)


def test_rmse_mae_hand_computed():
    assert M.rmse([1, 2, 3, 4], [1.5, 2, 2, 4]) == pytest.approx(math.sqrt((0.25 + 1) / 4))
    assert M.mae([1, 2, 3, 4], np.array([1.5, 2, 2, 4], np.float32)) == pytest.approx(1.5 / 4)
    assert M.rmse(np.array([[1.0, 3.0]]), np.array([[2.0, 1.0]])) == pytest.approx(math.sqrt(2.5))


def test_coverage_hand_computed():
    assert M.coverage(REC, 6) == pytest.approx(5 / 6)  # {0, 1, 2, 3, 5}
    assert M.coverage(REC, 6, k=1) == pytest.approx(2 / 6)  # {1, 2}
    assert M.coverage(np.full((2, 3), -1), 4) == 0.0
    assert M.coverage(np.zeros((0, 3), np.int64), 4) == 0.0


# ---- against the reference -----------------------------------------------------------------------

@st.composite
def ranking_inputs(draw):
    n_users = draw(st.integers(0, 8))
    n_rel_items = draw(st.integers(1, 14))
    n_items = n_rel_items + draw(st.sampled_from([0, 0, 3]))
    width = draw(st.integers(1, min(9, n_items)))
    k = draw(st.integers(1, width))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    rec = np.stack([rng.permutation(n_items)[:width] for _ in range(n_users)]) if n_users else np.zeros((0, width))
    rec = rec.astype(np.int64)
    rec[rng.random(rec.shape) < draw(st.sampled_from([0.0, 0.3]))] = -1  # empty slots anywhere
    stored = rng.random((n_users, n_rel_items)) < draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    grades = rng.integers(0, 4, stored.shape).astype(np.float32)  # graded 0..3; stored zeros are still relevant
    rows, cols = np.nonzero(stored)
    relevant = sp.csr_matrix((grades[rows, cols], (rows, cols)), shape=stored.shape)
    exclude = None
    if draw(st.booleans()):
        exclude = sp.random(n_users, n_items, density=draw(st.sampled_from([0.1, 0.5])), format="csr", random_state=rng)
    gain = draw(st.sampled_from(M.GAINS))
    return rec, relevant, k, exclude, n_items, gain


@settings(max_examples=80, deadline=None)
@given(inputs=ranking_inputs(), n_threads=st.sampled_from([1, 2]))
def test_matches_reference(inputs, n_threads):
    rec, relevant, k, exclude, n_items, gain = inputs
    got = M.ranking_metrics(rec, relevant, k, exclude=exclude, per_user=True, n_items=n_items, gain=gain,
                            n_threads=n_threads)
    assert_metrics_equal(got, reference(rec, relevant, k, exclude, n_items, gain))
    single = M.ranking_metrics(rec, relevant, k, exclude=exclude, per_user=True, n_items=n_items, gain=gain,
                               dtype=np.float32, n_threads=n_threads)
    for name in M.RANKING_METRICS:
        assert single[name].dtype == np.float32
        np.testing.assert_array_equal(single[name], got[name].astype(np.float32))


def test_threads_give_identical_results(rng):
    n_users, n_items, k = 20000, 500, 10
    rec = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int32)
    rec[rng.random(rec.shape) < 0.05] = -1
    relevant = sp.random(n_users, n_items, density=0.01, format="csr", random_state=rng, dtype=np.float32)
    exclude = sp.random(n_users, n_items, density=0.02, format="csr", random_state=rng)
    one = M.ranking_metrics(rec, relevant, k, exclude=exclude, per_user=True, gain="linear", n_threads=1)
    two = M.ranking_metrics(rec, relevant, k, exclude=exclude, per_user=True, gain="linear", n_threads=2)
    for name in M.RANKING_METRICS:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    ref = reference(rec[:300], relevant[:300], k, exclude[:300], gain="linear")
    assert_metrics_equal({n: v[:300] for n, v in one.items()}, ref)


def test_long_lists_match_reference(rng):
    """k above the pairwise duplicate check (32): the sorting path."""
    n_users, n_items, k = 40, 90, 50
    rec = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    rec[rng.random(rec.shape) < 0.1] = -1
    relevant = sp.random(n_users, n_items, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    exclude = sp.random(n_users, n_items, density=0.2, format="csr", random_state=rng)
    got = M.ranking_metrics(rec, relevant, k, exclude=exclude, per_user=True, gain="linear", n_threads=2)
    assert_metrics_equal(got, reference(rec, relevant, k, exclude, gain="linear"))
    rec[7, [3, 45]] = 5  # a repeat deep in the list (the only one: row 7 was a permutation)
    with pytest.raises(ValueError, match="row 7 lists item 5 more than once"):
        M.ranking_metrics(rec, relevant, k)


def test_int64_indptr_noncanonical_and_inputs_untouched(rng):
    rec = np.argsort(rng.random((40, 30)), axis=1)[:, :5]  # int64 ids
    relevant = sp.random(40, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    expected = M.ranking_metrics(rec, relevant, 5, per_user=True)
    wide = sp.csr_matrix((relevant.data, relevant.indices.astype(np.int64), relevant.indptr.astype(np.int64)),
                         shape=relevant.shape)
    assert_metrics_equal(M.ranking_metrics(rec, wide, 5, per_user=True), expected, rtol=0)
    coo = relevant.tocoo()
    messy = sp.coo_matrix((np.r_[coo.data, coo.data][::-1], (np.r_[coo.row, coo.row][::-1], np.r_[coo.col, coo.col][::-1])),
                          shape=relevant.shape).tocsr()  # unsorted rows with duplicates (summed: still relevant)
    snapshot = (messy.indices.copy(), messy.data.copy(), rec.copy())
    assert_metrics_equal(M.ranking_metrics(rec, messy, 5, per_user=True), expected, rtol=0)
    np.testing.assert_array_equal(messy.indices, snapshot[0])
    np.testing.assert_array_equal(messy.data, snapshot[1])
    np.testing.assert_array_equal(rec, snapshot[2])
    exclude = sp.random(40, 30, density=0.2, format="csr", random_state=rng)
    wide_ex = sp.csr_matrix((exclude.data, exclude.indices, exclude.indptr.astype(np.int64)), shape=exclude.shape)
    np.testing.assert_array_equal(M.auc(rec, relevant, exclude=wide_ex, per_user=True),
                                  M.auc(rec, relevant, exclude=exclude, per_user=True))


def test_empty_inputs():
    got = M.ranking_metrics(np.zeros((0, 3), np.int32), sp.csr_matrix((0, 5)), 3)
    assert all(math.isnan(got[n]) for n in M.RANKING_METRICS) and got["coverage"] == 0.0
    per_user = M.ranking_metrics(np.zeros((0, 3), np.int32), sp.csr_matrix((0, 5)), 3, per_user=True)
    assert all(v.shape == (0,) for v in per_user.values())
    assert math.isnan(M.precision_at_k([[0, 1]], sp.csr_matrix((1, 4))))  # nobody has relevant items


# ---- bad input -----------------------------------------------------------------------------------

R2 = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0]], np.float32))
OK = np.array([[0, 1], [2, 3]], np.int32)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: M.ranking_metrics(OK.astype(float), R2, 2), TypeError, "recommended must hold integer item ids"),
        (lambda: M.ranking_metrics(OK.astype(bool), R2, 2), TypeError, "recommended must hold integer"),
        (lambda: M.ranking_metrics(sp.csr_matrix(OK), R2, 2), TypeError, "recommended must be a dense"),
        (lambda: M.ranking_metrics(OK[0], R2, 2), ValueError, r"recommended must be 2-d.*ids\[None, :\]"),
        (lambda: M.ranking_metrics(OK, R2, 3), ValueError, r"k \(3\) exceeds the width of recommended \(2"),
        (lambda: M.ranking_metrics(OK, R2, 0), ValueError, "k must be >= 1"),
        (lambda: M.ranking_metrics(OK, R2, 1.5), TypeError, "k must be a positive int"),
        (lambda: M.precision_at_k(np.zeros((2, 0), np.int32), R2), ValueError, "recommended has no columns"),
        (lambda: M.ranking_metrics(OK, R2.toarray(), 2), TypeError, "relevant must be a scipy.sparse"),
        (lambda: M.ranking_metrics(OK, R2[:1], 2), ValueError, r"relevant must have one row per row of recommended \(2\)"),
        (lambda: M.ranking_metrics(np.array([[0, 4], [1, 2]]), R2, 2), ValueError,
         r"recommended: row 0 has id 4 outside \[0, 4\)"),
        (lambda: M.ranking_metrics(np.array([[0, 1], [1, -2]], np.int32), R2, 2), ValueError,
         r"recommended: row 1 has id -2 outside"),
        (lambda: M.ranking_metrics(np.array([[0, 1], [1, -2]], np.int64), R2, 2), ValueError,
         "recommended contains -2"),
        (lambda: M.ranking_metrics(np.array([[0, 1], [3, 3]]), R2, 2), ValueError, "recommended: row 1 lists item 3 more than once"),
        (lambda: M.ranking_metrics(OK, R2, 2, exclude=sp.csr_matrix((2, 3))), ValueError, r"exclude must have shape \(2, 4\)"),
        (lambda: M.auc(OK, R2, n_items=3), ValueError, r"n_items \(3\) is smaller than the 4 columns of relevant"),
        (lambda: M.auc(OK, R2, n_items=4.0), TypeError, "n_items must be an int"),
        (lambda: M.ndcg_at_k(OK, R2, gain="log"), ValueError, "gain must be one of"),
        (lambda: M.ndcg_at_k(OK, -R2, gain="linear"), ValueError, "non-negative relevance values"),
        (lambda: M.ndcg_at_k(OK, R2 * 2000, gain="exponential"), ValueError, "2\\^rel - 1 overflows"),
        (lambda: M.ndcg_at_k(OK, R2 * np.nan, gain="linear"), ValueError, "relevant must not contain NaN"),
        (lambda: M.ranking_metrics(OK, R2, 2, dtype=np.int32), TypeError, "dtype must be float32 or float64"),
        (lambda: M.ranking_metrics(OK, R2, 2, n_threads=-1), ValueError, "n_threads must be 0"),
        (lambda: M.coverage(OK, 3), ValueError, r"recommended contains 3, outside \[0, 3\)"),
        (lambda: M.coverage(OK, 0), ValueError, "n_items must be >= 1"),
        (lambda: M.rmse([1, 2], [1, 2, 3]), ValueError, "same shape"),
        (lambda: M.rmse([1, np.nan], [1, 2]), ValueError, "y_true must be finite; found nan at index"),
        (lambda: M.mae([1, 2], [1, np.inf]), ValueError, "y_pred must be finite"),
        (lambda: M.mae([], []), ValueError, "empty"),
        (lambda: M.mae(["a"], [1]), TypeError, "y_true must hold real numbers"),
        (lambda: M.rmse(sp.csr_matrix([[1.0]]), [1.0]), TypeError, "y_true must be a dense array"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_broken_csr_is_refused_by_the_kernel():
    # Built unchecked, as a careless caller could: column 7 in a 4-column matrix, int32 indices.
    bad = sp.csr_matrix((np.ones(1, np.float32), np.array([7], np.int32), np.array([0, 1, 1], np.int32)), shape=(2, 4))
    with pytest.raises(ValueError, match=r"relevant: row 0 has column index 7 outside \[0, 4\)"):
        M.ranking_metrics(OK, bad, 2)
    with pytest.raises(ValueError, match=r"exclude: row 0 has column index 7"):
        M.auc(OK, R2, exclude=bad)


def test_first_bad_row_is_reported_with_threads():
    rec = np.tile(np.array([[0, 1]], np.int32), (50000, 1))
    rec[31000, 1] = 0
    rec[45000, 0] = 9
    rel = sp.csr_matrix((np.ones(50000, np.float32), np.zeros(50000, np.int32), np.arange(50001)), shape=(50000, 4))
    for threads in (1, 2):
        with pytest.raises(ValueError, match="row 31000 lists item 0 more than once"):
            M.ranking_metrics(rec, rel, 2, n_threads=threads)


def test_compiled_module_refuses_silent_conversion():
    rel_t = (R2.indptr, R2.indices, None, 2, 4)
    with pytest.raises(TypeError):
        turborec._core.ranking_metrics(OK.astype(np.int64), 2, rel_t, None, 4, "binary", ["precision"],
                                       np.dtype(np.float64), 1)
    with pytest.raises(ValueError, match="unknown ranking metric"):
        turborec._core.ranking_metrics(OK, 2, rel_t, None, 4, "binary", ["f1"], np.dtype(np.float64), 1)
    with pytest.raises(TypeError, match="relevant: data must be contiguous float32"):
        turborec._core.ranking_metrics(OK, 2, rel_t, None, 4, "linear", ["ndcg"], np.dtype(np.float64), 1)
    with pytest.raises(ValueError, match=r"k must be in \[1, recommended.shape\[1\]\]"):
        turborec._core.ranking_metrics(OK, 3, rel_t, None, 4, "binary", ["precision"], np.dtype(np.float64), 1)
