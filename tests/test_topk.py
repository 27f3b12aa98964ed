"""turborec.topk and turborec.topk_dot against the numpy reference, plus every bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import topk_reference

import turborec


def random_exclude(rng, n, m, density):
    ex = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float32)
    ex.data[:] = 1
    return ex


# ---- topk (dense) -------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 12),
    m=st.integers(0, 70),
    k=st.integers(1, 80),
    levels=st.integers(1, 6),  # few distinct values: many ties
    density=st.sampled_from([0.0, 0.2, 0.9, 1.0]),
    seed=st.integers(0, 2**31),
    n_threads=st.sampled_from([1, 2]),
)
def test_topk_matches_reference_every_level(n, m, k, levels, density, seed, n_threads):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, m)).astype(np.float32)
    exclude = random_exclude(rng, n, m, density) if m and n else None
    expected = topk_reference(scores, k, exclude)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            ids, vals = turborec.topk(scores, k, exclude=exclude, n_threads=n_threads)
        np.testing.assert_array_equal(ids, expected[0], err_msg=level)
        np.testing.assert_array_equal(vals, expected[1], err_msg=level)


def test_topk_large_random(rng, simd, n_threads):
    scores = rng.standard_normal((300, 5000)).astype(np.float32)
    exclude = random_exclude(rng, 300, 5000, 0.01)
    ids, vals = turborec.topk(scores, 25, exclude=exclude, n_threads=n_threads)
    exp_ids, exp_vals = topk_reference(scores, 25, exclude)
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(vals, exp_vals)


def test_topk_fully_excluded_rows_and_padding(simd):
    scores = np.arange(12, dtype=np.float32).reshape(3, 4)
    exclude = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.float32))
    ids, vals = turborec.topk(scores, 3, exclude=exclude)
    np.testing.assert_array_equal(ids, [[-1, -1, -1], [3, 2, 1], [3, 1, -1]])
    np.testing.assert_array_equal(vals, [[-np.inf] * 3, [7, 6, 5], [11, 9, -np.inf]])


def test_topk_infinities_are_scores(simd):
    scores = np.array([[-np.inf, 1.0, np.inf, -np.inf]], dtype=np.float32)
    ids, vals = turborec.topk(scores, 5)  # k capped at the 4 columns
    np.testing.assert_array_equal(ids, [[2, 1, 0, 3]])
    np.testing.assert_array_equal(vals, [[np.inf, 1.0, -np.inf, -np.inf]])
    ids, vals = turborec.topk(scores, 4, exclude=sp.csr_matrix(([1], ([0], [1])), shape=(1, 4)))
    np.testing.assert_array_equal(ids, [[2, 0, 3, -1]])  # fewer candidates than the width: padded


def test_topk_nan_raises_naming_row(simd):
    scores = np.zeros((40, 100), dtype=np.float32)
    scores[17, 63] = np.nan
    with pytest.raises(ValueError, match=r"scores: row 17 contains NaN"):
        turborec.topk(scores, 3)


def test_topk_int64_indptr_and_noncanonical_exclude(rng, simd):
    scores = rng.standard_normal((20, 30)).astype(np.float32)
    exclude = random_exclude(rng, 20, 30, 0.3)
    expected = topk_reference(scores, 7, exclude)
    wide = sp.csr_matrix((exclude.data, exclude.indices.astype(np.int64), exclude.indptr.astype(np.int64)),
                         shape=exclude.shape)
    np.testing.assert_array_equal(turborec.topk(scores, 7, exclude=wide)[0], expected[0])
    # unsorted and duplicated indices within rows: canonicalised on a copy, caller's arrays untouched
    rows = np.repeat(np.arange(20), np.diff(exclude.indptr))
    perm = rng.permutation(rows.size)
    messy = sp.coo_matrix((np.ones(2 * rows.size), (np.r_[rows[perm], rows], np.r_[exclude.indices[perm], exclude.indices])),
                          shape=(20, 30))
    np.testing.assert_array_equal(turborec.topk(scores, 7, exclude=messy)[0], expected[0])
    unsorted = sp.csr_matrix((exclude.data[::-1].copy(), exclude.indices.copy(), exclude.indptr.copy()), shape=(20, 30))
    for r in range(20):  # reverse each row's indices in place on our own copy
        b, e = unsorted.indptr[r], unsorted.indptr[r + 1]
        unsorted.indices[b:e] = unsorted.indices[b:e][::-1]
    before = unsorted.indices.copy()
    np.testing.assert_array_equal(turborec.topk(scores, 7, exclude=unsorted)[0], expected[0])
    np.testing.assert_array_equal(unsorted.indices, before)


def test_topk_converts_float64_and_noncontiguous_without_touching_input(rng):
    base = rng.standard_normal((50, 80))
    view = base[:, ::2]  # float64, not contiguous
    snapshot = view.copy()
    ids, vals = turborec.topk(view, 5)
    np.testing.assert_array_equal(ids, topk_reference(view.astype(np.float32), 5)[0])
    np.testing.assert_array_equal(view, snapshot)
    ints = rng.integers(0, 5, (4, 9))
    np.testing.assert_array_equal(turborec.topk(ints, 3)[0], topk_reference(ints, 3)[0])


def test_topk_empty_shapes():
    ids, vals = turborec.topk(np.zeros((0, 5), np.float32), 3)
    assert ids.shape == (0, 3) and ids.dtype == np.int32 and vals.dtype == np.float32
    ids, vals = turborec.topk(np.zeros((2, 0), np.float32), 2)
    np.testing.assert_array_equal(ids, -np.ones((2, 1)))  # no candidates: width 1, all padding


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(scores=np.zeros((2, 3), np.complex64), k=1), TypeError, "scores must hold real numbers"),
        (dict(scores=np.array([["a"]]), k=1), TypeError, "scores must hold real numbers"),
        (dict(scores=np.zeros(3, np.float32), k=1), ValueError, r"scores must be 2-d.*x\[None, :\]"),
        (dict(scores=np.zeros((2, 3), np.float32), k=0), ValueError, "k must be >= 1"),
        (dict(scores=np.zeros((2, 3), np.float32), k=-2), ValueError, "k must be >= 1"),
        (dict(scores=np.zeros((2, 3), np.float32), k=2.5), TypeError, "k must be a positive int"),
        (dict(scores=np.zeros((2, 3), np.float32), k=True), TypeError, "k must be a positive int"),
        (dict(scores=sp.csr_matrix((2, 3), dtype=np.float32), k=1), TypeError, "dense array"),
        (dict(scores=np.full((2, 3), 1e300), k=1), ValueError, "outside the float32 range"),
        (dict(scores=np.zeros((2, 3), np.float32), k=1, exclude=np.zeros((2, 3))), TypeError, "exclude must be a scipy.sparse"),
        (dict(scores=np.zeros((2, 3), np.float32), k=1, exclude=sp.csr_matrix((3, 3))), ValueError, r"exclude must have shape \(2, 3\)"),
        (dict(scores=np.zeros((2, 3), np.float32), k=1, n_threads=-1), ValueError, "n_threads must be 0"),
        (dict(scores=np.zeros((2, 3), np.float32), k=1, n_threads=1.0), TypeError, "n_threads must be an int"),
        (dict(scores=np.zeros((2, 3), np.float32), k=1, n_threads=10**6), ValueError, "threads per available core"),
    ],
)
def test_topk_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        turborec.topk(**kwargs)


def test_topk_exclude_out_of_range_index_is_refused():
    # Built unchecked, as a careless caller could: column 7 in a 3-column matrix.
    bad = sp.csr_matrix((3, 3), dtype=np.float32)
    bad.indptr = np.array([0, 1, 1, 1], dtype=np.int32)
    bad.indices = np.array([7], dtype=np.int32)
    bad.data = np.ones(1, np.float32)
    with pytest.raises(ValueError, match=r"exclude: row 0 has column index 7 outside \[0, 3\)"):
        turborec.topk(np.zeros((3, 3), np.float32), 1, exclude=bad)
    neg = sp.csr_matrix((np.ones(1, np.float32), np.array([-1], np.int32), np.array([0, 1, 1, 1], np.int32)), shape=(3, 3))
    with pytest.raises(ValueError, match="exclude"):
        turborec.topk(np.zeros((3, 3), np.float32), 1, exclude=neg)


def test_compiled_module_refuses_silent_conversion():
    with pytest.raises(TypeError):
        turborec._core.topk(np.zeros((2, 2), np.float64), 1, None, 1)
    with pytest.raises(TypeError):
        turborec._core.topk(np.zeros((4, 4), np.float32)[:, ::2], 1, None, 1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        turborec._core.topk(np.zeros((2, 2), np.float32), 0, None, 1)


# ---- topk_dot -----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 30),
    m=st.integers(0, 90),
    d=st.integers(0, 40),
    k=st.integers(1, 100),
    bias=st.booleans(),
    density=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**31),
    n_threads=st.sampled_from([1, 2]),
)
def test_topk_dot_exact_on_integer_inputs(n, m, d, k, bias, density, seed, n_threads):
    """Small integers make every product exact in float32, so ties must break exactly like numpy."""
    rng = np.random.default_rng(seed)
    q = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
    items = rng.integers(-2, 3, size=(m, d)).astype(np.float32)
    b = rng.integers(-3, 4, size=m).astype(np.float32) if bias else None
    exclude = random_exclude(rng, n, m, density) if n and m else None
    scores = q.astype(np.float64) @ items.T.astype(np.float64) + (0 if b is None else b)
    expected = topk_reference(scores.reshape(n, m), k, exclude)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            ids, vals = turborec.topk_dot(q, items, k, exclude=exclude, item_bias=b, n_threads=n_threads)
        np.testing.assert_array_equal(ids, expected[0], err_msg=level)
        np.testing.assert_array_equal(vals, expected[1], err_msg=level)


def test_topk_dot_random_floats_close_to_reference(rng, simd, n_threads):
    n, m, d, k = 700, 3001, 37, 15  # awkward sizes: partial query panels and item panels
    q = rng.standard_normal((n, d)).astype(np.float32)
    items = rng.standard_normal((m, d)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    exclude = random_exclude(rng, n, m, 0.02)
    ids, vals = turborec.topk_dot(q, items, k, exclude=exclude, item_bias=b, n_threads=n_threads)
    scores = q.astype(np.float64) @ items.T.astype(np.float64) + b
    exp_ids, exp_vals = topk_reference(scores, k, exclude)
    np.testing.assert_allclose(vals, exp_vals, rtol=1e-5, atol=1e-4)
    agreement = (ids == exp_ids).mean()
    assert agreement > 0.999  # near-ties may swap under float32 rounding
    got = scores[np.arange(n)[:, None], ids]  # the returned ids really have those scores
    np.testing.assert_allclose(vals, got, rtol=1e-5, atol=1e-4)
    assert not exclude[np.arange(n)[:, None], ids].toarray().any()


def test_topk_dot_levels_agree_with_scalar(rng):
    q = rng.standard_normal((257, 64)).astype(np.float32)
    items = rng.standard_normal((1000, 64)).astype(np.float32)
    with turborec.simd_level("scalar"):
        ref_ids, ref_vals = turborec.topk_dot(q, items, 10)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            ids, vals = turborec.topk_dot(q, items, 10)
        np.testing.assert_allclose(vals, ref_vals, rtol=1e-5, atol=1e-5)
        assert (ids == ref_ids).mean() > 0.999


def test_topk_dot_is_deterministic_across_threads(rng, simd):
    q = rng.standard_normal((500, 32)).astype(np.float32)
    items = rng.standard_normal((2000, 32)).astype(np.float32)
    one = turborec.topk_dot(q, items, 20, n_threads=1)
    two = turborec.topk_dot(q, items, 20, n_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_topk_dot_overflow_is_reported():
    q = np.full((1, 4), 3e38, np.float32)
    items = np.array([[1, 1, 1, 1], [1, -1, 1, -1]], np.float32) * 3e38
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level), pytest.raises(ValueError, match="overflowed float32"):
            turborec.topk_dot(q, items, 1)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(queries=np.zeros((2, 3)), items=np.zeros((4, 2)), k=1), ValueError, "same number of columns"),
        (dict(queries=np.zeros(3), items=np.zeros((4, 3)), k=1), ValueError, "queries must be 2-d"),
        (dict(queries=np.zeros((2, 3)), items=np.zeros((4, 3), np.complex64), k=1), TypeError, "items must hold real"),
        (dict(queries=np.array([[np.nan, 0, 0]]), items=np.zeros((4, 3)), k=1), ValueError, r"queries must be finite.*\(0, 0\)"),
        (dict(queries=np.zeros((1, 3)), items=np.array([[0, np.inf, 0]]), k=1), ValueError, "items must be finite"),
        (dict(queries=np.zeros((1, 3)), items=np.zeros((4, 3)), k=1, item_bias=np.zeros(3)), ValueError, r"item_bias must have shape \(4,\)"),
        (dict(queries=np.zeros((1, 3)), items=np.zeros((4, 3)), k=1, item_bias=np.array([0, 0, np.nan, 0])), ValueError, "item_bias must be finite"),
        (dict(queries=np.zeros((1, 3)), items=np.zeros((4, 3)), k=0), ValueError, "k must be >= 1"),
        (dict(queries=np.zeros((1, 3)), items=np.zeros((4, 3)), k=1, exclude=sp.csr_matrix((1, 5))), ValueError, r"exclude must have shape \(1, 4\)"),
    ],
)
def test_topk_dot_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        turborec.topk_dot(**kwargs)


def test_topk_dot_does_not_modify_inputs(rng):
    q = rng.standard_normal((30, 8)).astype(np.float32)
    items = rng.standard_normal((50, 8)).astype(np.float32)
    b = rng.standard_normal(50).astype(np.float32)
    ex = random_exclude(rng, 30, 50, 0.1)
    copies = [a.copy() for a in (q, items, b, ex.data, ex.indices, ex.indptr)]
    turborec.topk_dot(q, items, 5, exclude=ex, item_bias=b)
    for before, after in zip(copies, (q, items, b, ex.data, ex.indices, ex.indptr)):
        np.testing.assert_array_equal(before, after)


# ---- the GIL is released, and concurrent calls are safe -----------------------------------------

def test_concurrent_calls_from_python_threads(rng):
    q = rng.standard_normal((2000, 32)).astype(np.float32)
    items = rng.standard_normal((3000, 32)).astype(np.float32)
    expected = turborec.topk_dot(q, items, 10, n_threads=1)
    results = [None] * 4

    def work(i):
        results[i] = turborec.topk_dot(q, items, 10, n_threads=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r[0], expected[0])


def test_kernel_releases_the_gil(rng):
    """While one thread is inside a long kernel, the main thread must still run Python code."""
    q = rng.standard_normal((20000, 64)).astype(np.float32)
    items = rng.standard_normal((20000, 64)).astype(np.float32)
    started = threading.Event()
    worker = threading.Thread(target=lambda: (started.set(), turborec.topk_dot(q, items, 10, n_threads=1)))
    worker.start()
    started.wait()
    ran_during_kernel = False
    for _ in range(200):  # pure-Python work needs the GIL
        sum(range(1000))
        if worker.is_alive():
            ran_during_kernel = True
            break
    worker.join()
    assert ran_during_kernel


def test_an_indptr_pointing_past_the_entries_is_refused_without_reading_them():
    """A row whose end lies beyond the stored entries (the last indptr being fine) must be refused
    before any index is read (AddressSanitizer caught the one CSR check reading past the array)."""
    from turborec import _kernels

    indptr = np.array([0, 1, 10**6, 2], np.int64)  # row 1 ends far beyond the 2 stored entries
    wire = (indptr, np.array([0, 1], np.int32), None, 3, 3)
    with pytest.raises(ValueError, match="outside the 2 stored entries|decreases"):
        _kernels.topk(np.zeros((3, 3), np.float32), k=1, exclude=wire, n_threads=1)
