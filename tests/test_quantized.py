"""QuantizedFactors and topk_quantized against numpy references of the same quantized arithmetic.

int8 is exact (integer sums, then float32 scaling in a fixed order), so ids and scores must equal
the reference bit for bit at every level. bf16 sums in float32 in a level-specific order: exact on
inputs whose sums are exact (small integers), within a rounding bound otherwise.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import topk_reference

import turborec
from turborec import _kernels
from turborec.quantized import bf16_to_float32, quantize_bf16, quantize_int8

INT8_LEVELS = turborec.supported_lowp_levels("int8")
BF16_LEVELS = turborec.supported_lowp_levels("bf16")


def random_exclude(rng, n, m, density):
    ex = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float32)
    ex.data[:] = 1
    return ex


def int8_scores(queries, items: turborec.QuantizedFactors, bias=None):
    """The int8 kernel's scores: float32(int sum) * (query_scale * item_scale) + bias, in float32."""
    q, qs = quantize_int8(np.ascontiguousarray(queries, np.float32))
    acc = (q.astype(np.int64) @ items.data.astype(np.int64).T).astype(np.float32)
    s = acc * (qs[:, None] * items.scale[None, :])
    return s + bias[None, :] if bias is not None else s


def bf16_exact_scores(queries, items, bias=None):
    q = bf16_to_float32(quantize_bf16(np.ascontiguousarray(queries, np.float32))).astype(np.float64)
    s = q @ items.dequantize().astype(np.float64).T
    return s + bias[None, :] if bias is not None else s


# ---- QuantizedFactors ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, ratio", [("int8", 4), ("bf16", 2), ("fp16", 2)])
def test_roundtrip_error_and_size(rng, dtype, ratio):
    x = (rng.standard_normal((300, 64)) * rng.uniform(0.01, 100, (300, 1))).astype(np.float32)
    before = x.copy()
    qf = turborec.QuantizedFactors(x, dtype)
    np.testing.assert_array_equal(x, before)  # the input is never modified
    back = qf.dequantize()
    assert back.dtype == np.float32 and back.shape == x.shape == qf.shape and len(qf) == 300
    amax = np.abs(x).max(1, keepdims=True)
    if dtype == "int8":
        assert qf.data.dtype == np.int8 and qf.scale.dtype == np.float32
        assert np.abs(qf.data).max() == 127 and qf.data.min() >= -127
        assert (np.abs(back - x) <= amax / 254 * 1.0001).all()
        assert qf.nbytes == x.size + 4 * 300
    else:
        rel = 2.0**-8 if dtype == "bf16" else 2.0**-11
        assert (np.abs(back - x) <= np.abs(x) * rel + 1e-7 * amax).all()
        assert qf.nbytes == x.nbytes // 2
    assert x.nbytes / qf.nbytes >= ratio * 0.94
    assert dtype in repr(qf)
    with pytest.raises(AttributeError):
        qf.data = None
    with pytest.raises(ValueError):
        qf.data[0, 0] = 1


def test_bf16_rounds_to_nearest_even():
    x = np.array([[1.0 + 2**-8, 1.0 + 3 * 2**-8, -(1.0 + 2**-9), 3.0]], np.float32)
    got = turborec.QuantizedFactors(x, "bf16").dequantize()
    np.testing.assert_array_equal(got, [[1.0, 1.0 + 4 * 2**-8, -1.0, 3.0]])


def test_zero_rows_get_scale_zero(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    x[2] = 0
    x[4] = 1e-45  # the scale underflows: treated like a zero row
    qf = turborec.QuantizedFactors(x, "int8")
    assert qf.scale[2] == 0 and qf.scale[4] == 0 and not qf.data[[2, 4]].any()
    np.testing.assert_array_equal(qf.dequantize()[2], 0)
    empty = turborec.QuantizedFactors(np.zeros((0, 4), np.float32), "int8")
    assert empty.shape == (0, 4) and empty.nbytes == 0


@pytest.mark.parametrize("dtype", ["int8", "bf16", "fp16"])
def test_bad_factors(dtype):
    good = np.ones((3, 4), np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        x = good.copy()
        x[1, 2] = bad
        with pytest.raises(ValueError, match=r"factors must be finite.*\(1, 2\)"):
            turborec.QuantizedFactors(x, dtype)
    with pytest.raises(TypeError, match="factors must hold floating-point"):
        turborec.QuantizedFactors(np.ones((3, 4), np.int64), dtype)
    with pytest.raises(TypeError, match="factors must hold floating-point"):
        turborec.QuantizedFactors([["a"]], dtype)
    with pytest.raises(ValueError, match="factors must be 2-d"):
        turborec.QuantizedFactors(np.ones(4, np.float32), dtype)
    with pytest.raises(TypeError, match="dense array"):
        turborec.QuantizedFactors(sp.eye(3, format="csr", dtype=np.float32), dtype)
    with pytest.raises(ValueError, match="float32 range"):
        turborec.QuantizedFactors(np.full((1, 2), 1e300), dtype)
    with pytest.raises(ValueError, match="dtype must be one of"):
        turborec.QuantizedFactors(good, "int4")
    if dtype == "fp16":
        with pytest.raises(ValueError, match="too large for fp16"):
            turborec.QuantizedFactors(np.full((1, 2), 1e5, np.float32), dtype)
    if dtype == "bf16":
        with pytest.raises(ValueError, match="too large for bf16"):
            turborec.QuantizedFactors(np.full((1, 2), 3.4e38, np.float32), dtype)


def test_from_parts_round_trip_and_checks(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    for dtype in ("int8", "bf16", "fp16"):
        qf = turborec.QuantizedFactors(x, dtype)
        again = turborec.QuantizedFactors.from_parts(dtype, qf.data, qf.scale)
        np.testing.assert_array_equal(again.dequantize(), qf.dequantize())
    qf = turborec.QuantizedFactors(x, "int8")
    with pytest.raises(TypeError, match="must have dtype int8"):
        turborec.QuantizedFactors.from_parts("int8", qf.data.astype(np.int16), qf.scale)
    with pytest.raises(ValueError, match="scale is required"):
        turborec.QuantizedFactors.from_parts("int8", qf.data)
    with pytest.raises(ValueError, match="scale must be float32 of shape"):
        turborec.QuantizedFactors.from_parts("int8", qf.data, qf.scale[:3])
    with pytest.raises(ValueError, match="scale must be finite"):
        turborec.QuantizedFactors.from_parts("int8", qf.data, np.full(6, np.nan, np.float32))
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        turborec.QuantizedFactors.from_parts("int8", np.full((6, 5), -128, np.int8), qf.scale)
    with pytest.raises(ValueError, match="must be finite"):
        turborec.QuantizedFactors.from_parts("bf16", np.full((2, 2), 0x7F80, np.uint16))
    with pytest.raises(ValueError, match="scale must be None"):
        turborec.QuantizedFactors.from_parts("bf16", np.zeros((2, 2), np.uint16), qf.scale)


# ---- int8 retrieval: exact ----------------------------------------------------------------------

@pytest.mark.parametrize("level", INT8_LEVELS)
@pytest.mark.parametrize("d", [1, 3, 5, 17, 64])
def test_int8_exact_against_reference(rng, level, d, n_threads):
    n, m, k = 29, 403, 13
    queries = rng.standard_normal((n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.standard_normal((m, d)).astype(np.float32), "int8")
    bias = rng.standard_normal(m).astype(np.float32)
    exclude = random_exclude(rng, n, m, 0.1)
    exp_ids, exp_scores = topk_reference(int8_scores(queries, items, bias), k, exclude)
    with turborec.lowp_level(level):
        ids, scores = turborec.topk_quantized(queries, items, k, exclude=exclude, item_bias=bias, n_threads=n_threads)
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(scores, exp_scores)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 30),
    m=st.integers(0, 150),
    d=st.integers(1, 9),
    k=st.integers(1, 160),
    levels=st.integers(1, 3),  # few distinct values: many exact ties
    density=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**31),
    n_threads=st.sampled_from([1, 2]),
)
def test_int8_ties_padding_exclusion(n, m, d, k, levels, density, seed, n_threads):
    rng = np.random.default_rng(seed)
    queries = rng.integers(-levels, levels + 1, (n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.integers(-levels, levels + 1, (m, d)).astype(np.float32), "int8")
    exclude = random_exclude(rng, n, m, density) if n and m else None
    expected = topk_reference(int8_scores(queries, items), k, exclude)
    for level in INT8_LEVELS:
        with turborec.lowp_level(level):
            ids, scores = turborec.topk_quantized(queries, items, k, exclude=exclude, n_threads=n_threads)
        np.testing.assert_array_equal(ids, expected[0], err_msg=level)
        np.testing.assert_array_equal(scores, expected[1], err_msg=level)


def test_int8_int64_indptr_and_noncanonical_exclude(rng):
    queries = rng.standard_normal((40, 8)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.standard_normal((130, 8)).astype(np.float32), "int8")
    exclude = random_exclude(rng, 40, 130, 0.3)
    expected = topk_reference(int8_scores(queries, items), 7, exclude)
    coo = exclude.tocoo()
    order = rng.permutation(coo.nnz)
    messy = sp.csr_matrix((np.r_[coo.data[order], 1], (np.r_[coo.row[order], 0], np.r_[coo.col[order], 5])),
                          shape=exclude.shape)  # unsorted, maybe a duplicate
    expected_messy = topk_reference(int8_scores(queries, items), 7, messy)
    q, qs = quantize_int8(queries)
    for level in INT8_LEVELS:
        with turborec.lowp_level(level):
            np.testing.assert_array_equal(turborec.topk_quantized(queries, items, 7, exclude=messy)[0],
                                          expected_messy[0])
            # scipy stores small matrices with int32 indptr whatever it is given: the kernel's int64
            # path is reached directly.
            for indptr in (exclude.indptr.astype(np.int32), exclude.indptr.astype(np.int64)):
                wire = (indptr, exclude.indices, None, *exclude.shape)  # the one CSR wire format
                ids, _ = _kernels.topk_int8(q, query_scale=qs, items=items.data, item_scale=items.scale, k=7,
                                            item_bias=None, exclude=wire, n_threads=2)
                np.testing.assert_array_equal(ids, expected[0])
            wide = exclude.indptr.astype(np.int64)
            wide[5] = 10**6  # a malformed indptr is rejected, never read out of bounds
            with pytest.raises(ValueError):
                _kernels.topk_int8(q, query_scale=qs, items=items.data, item_scale=items.scale, k=7,
                                   item_bias=None, exclude=(wide, exclude.indices, None, *exclude.shape), n_threads=1)


def test_fully_excluded_rows_pad(rng):
    items_f = rng.standard_normal((4, 3)).astype(np.float32)
    queries = rng.standard_normal((3, 3)).astype(np.float32)
    exclude = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 1]], np.float32))
    for dtype, levels in (("int8", INT8_LEVELS), ("bf16", BF16_LEVELS), ("fp16", ["scalar"])):
        items = turborec.QuantizedFactors(items_f, dtype)
        for level in levels:
            with turborec.lowp_level(level):
                ids, scores = turborec.topk_quantized(queries, items, 3, exclude=exclude)
            np.testing.assert_array_equal(ids[0], [-1, -1, -1])
            assert sorted(ids[1]) != [-1] * 3 and -1 not in ids[1]
            assert ids[2, 0] == 1 and (ids[2, 1:] == -1).all()
            assert np.isneginf(scores[0]).all() and np.isneginf(scores[2, 1:]).all()


def test_int8_overflowing_scale_products_raise():
    items = turborec.QuantizedFactors(np.full((3, 4), 3e38, np.float32), "int8")
    for level in INT8_LEVELS:
        with turborec.lowp_level(level), pytest.raises(ValueError, match="overflowed float32"):
            turborec.topk_quantized(np.full((2, 4), 3e38, np.float32), items, 2)


# ---- bf16 retrieval -----------------------------------------------------------------------------

@pytest.mark.parametrize("level", BF16_LEVELS)
def test_bf16_exact_on_small_integers(rng, level, n_threads):
    # Integers up to 16 are exact in bf16 and every partial sum is exact in float32: any summation
    # order gives the reference's scores, ties included.
    n, m, d, k = 31, 275, 37, 20
    queries = rng.integers(-16, 17, (n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.integers(-3, 4, (m, d)).astype(np.float32), "bf16")
    bias = rng.integers(-5, 6, m).astype(np.float32)
    exclude = random_exclude(rng, n, m, 0.2)
    expected = topk_reference(bf16_exact_scores(queries, items, bias), k, exclude)
    with turborec.lowp_level(level):
        ids, scores = turborec.topk_quantized(queries, items, k, exclude=exclude, item_bias=bias, n_threads=n_threads)
    np.testing.assert_array_equal(ids, expected[0])
    np.testing.assert_array_equal(scores, expected[1])


@pytest.mark.parametrize("level", BF16_LEVELS)
def test_bf16_random_within_rounding(rng, level):
    n, m, d, k = 50, 1000, 64, 10
    queries = rng.standard_normal((n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.standard_normal((m, d)).astype(np.float32), "bf16")
    ref = bf16_exact_scores(queries, items)
    bound = 1e-5 * (np.abs(bf16_to_float32(quantize_bf16(queries))).astype(np.float64)
                    @ np.abs(items.dequantize()).astype(np.float64).T)
    with turborec.lowp_level(level):
        ids, scores = turborec.topk_quantized(queries, items, k)
    rows = np.arange(n)[:, None]
    assert (np.abs(scores - ref[rows, ids]) <= bound[rows, ids]).all()
    kth = np.sort(ref, axis=1)[:, -k]
    assert (ref[rows, ids] >= kth[:, None] - 2 * bound.max(1, keepdims=True)).all()
    assert (np.diff(scores, axis=1) <= 0).all()


def test_levels_agree_on_random_bf16(rng):
    queries = rng.standard_normal((20, 19)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.standard_normal((300, 19)).astype(np.float32), "bf16")
    results = []
    for level in BF16_LEVELS:
        with turborec.lowp_level(level):
            results.append(turborec.topk_quantized(queries, items, 5))
    for ids, scores in results[1:]:
        np.testing.assert_allclose(scores, results[0][1], rtol=1e-5, atol=1e-5)


# ---- re-rank and recall -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "bf16", "fp16"])
def test_rerank_reaches_recall_on_random_data(rng, dtype):
    n, m, d, k = 200, 20000, 64, 10
    queries = rng.standard_normal((n, d)).astype(np.float32)
    items_f = rng.standard_normal((m, d)).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32) * 0.1
    exclude = random_exclude(rng, n, m, 0.01)
    items = turborec.QuantizedFactors(items_f, dtype)
    exact = queries.astype(np.float64) @ items_f.astype(np.float64).T + bias
    exp_ids, exp_scores = topk_reference(exact, k, exclude)
    ids, scores = turborec.topk_quantized(queries, items, k, exclude=exclude, item_bias=bias, rerank=items_f)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exp_ids)])
    assert recall >= 0.99, recall
    rows = np.arange(n)[:, None]
    np.testing.assert_allclose(scores, exact[rows, ids], rtol=1e-5, atol=1e-5)  # float32 scores
    assert not exclude[rows, ids].toarray().any()


def test_rerank_with_every_candidate_is_exact_float32(rng, n_threads):
    n, m, d, k = 30, 200, 24, 15
    queries = rng.standard_normal((n, d)).astype(np.float32)
    items_f = rng.standard_normal((m, d)).astype(np.float32)
    exclude = random_exclude(rng, n, m, 0.2)
    exact = queries.astype(np.float64) @ items_f.astype(np.float64).T
    exp_ids, _ = topk_reference(exact, k, exclude)
    for dtype in ("int8", "bf16"):
        items = turborec.QuantizedFactors(items_f, dtype)
        ids, _ = turborec.topk_quantized(queries, items, k, exclude=exclude, rerank=items_f, candidates=m,
                                         n_threads=n_threads)
        np.testing.assert_array_equal(ids, exp_ids)


def test_rerank_candidates_and_bad_input(rng):
    queries = rng.standard_normal((4, 6)).astype(np.float32)
    items_f = rng.standard_normal((50, 6)).astype(np.float32)
    items = turborec.QuantizedFactors(items_f, "int8")
    with pytest.raises(ValueError, match="candidates must be >= k = 5"):
        turborec.topk_quantized(queries, items, 5, rerank=items_f, candidates=4)
    with pytest.raises(ValueError, match="candidates needs rerank"):
        turborec.topk_quantized(queries, items, 5, candidates=10)
    with pytest.raises(ValueError, match="rerank must have the items' shape"):
        turborec.topk_quantized(queries, items, 5, rerank=items_f[:10])
    with pytest.raises(ValueError, match="rerank must be finite"):
        bad = items_f.copy()
        bad[3, 3] = np.nan
        turborec.topk_quantized(queries, items, 5, rerank=bad)
    with pytest.raises(TypeError, match="items must be a turborec.QuantizedFactors"):
        turborec.topk_quantized(queries, items_f, 5)
    with pytest.raises(ValueError, match="queries must be finite"):
        turborec.topk_quantized(np.full((1, 6), np.nan, np.float32), items, 5)
    with pytest.raises(TypeError, match="queries must hold floating-point"):
        turborec.topk_quantized(np.ones((1, 6), np.int32), items, 5)
    with pytest.raises(ValueError, match="queries must have 6 columns"):
        turborec.topk_quantized(queries[:, :5], items, 5)
    with pytest.raises(ValueError, match="item_bias must have shape"):
        turborec.topk_quantized(queries, items, 5, item_bias=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="k must be >= 1"):
        turborec.topk_quantized(queries, items, 0)
    with pytest.raises(ValueError, match="exclude must have shape"):
        turborec.topk_quantized(queries, items, 5, exclude=sp.csr_matrix((3, 50)))
    # candidates > m pads before the re-rank; the re-rank keeps the real ones
    ids, scores = turborec.topk_quantized(queries, items, 60, rerank=items_f, candidates=70)
    assert (ids[:, :50] >= 0).all() and (ids[:, 50:] == -1).all() and np.isneginf(scores[:, 50:]).all()


def test_no_factor_columns_rank_by_bias():
    bias = np.array([0.5, 2.0, -1.0], np.float32)
    for dtype in ("int8", "bf16", "fp16"):
        items = turborec.QuantizedFactors(np.zeros((3, 0), np.float32), dtype)
        ids, scores = turborec.topk_quantized(np.zeros((2, 0), np.float32), items, 2, item_bias=bias)
        np.testing.assert_array_equal(ids, [[1, 0], [1, 0]])
        np.testing.assert_array_equal(scores, [[2.0, 0.5], [2.0, 0.5]])


def test_concurrent_calls_from_python_threads(rng):
    # The kernels release the GIL and share no state: parallel callers get the serial answers.
    import threading

    queries = rng.standard_normal((64, 16)).astype(np.float32)
    items_f = rng.standard_normal((500, 16)).astype(np.float32)
    both = {t: turborec.QuantizedFactors(items_f, t) for t in ("int8", "bf16")}
    serial = {t: turborec.topk_quantized(queries, q, 5, rerank=items_f, n_threads=1) for t, q in both.items()}
    results, errors = {}, []

    def work(i):
        try:
            t = ("int8", "bf16")[i % 2]
            results[i] = (t, turborec.topk_quantized(queries, both[t], 5, rerank=items_f, n_threads=1))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t, (ids, scores) in results.values():
        np.testing.assert_array_equal(ids, serial[t][0])
        np.testing.assert_array_equal(scores, serial[t][1])


# ---- MatrixFactorization.compress ---------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_mf():
    rng = np.random.default_rng(5)
    R = sp.random(200, 400, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    R.data[:] = rng.integers(1, 6, R.nnz)
    return turborec.MatrixFactorization(factors=20, epochs=3, seed=1, n_threads=1).fit(R)


@pytest.mark.parametrize("dtype", ["int8", "bf16", "fp16"])
def test_mf_compress_recommend(fitted_mf, dtype):
    model = fitted_mf
    users = np.arange(model.n_users)
    exact_ids, exact_scores = model.recommend(users, 10)
    try:
        ids, scores = model.compress(dtype).recommend(users, 10)
        np.testing.assert_array_equal(ids, exact_ids)  # re-ranked: float32 results
        np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)
        ids, scores = model.compress(dtype, rerank=False).recommend(users, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact_ids)])
        assert recall >= 0.95
        seen = model.user_items_.tocsr()
        assert all(not set(ids[u]) & set(seen.indices[seen.indptr[u]:seen.indptr[u + 1]]) for u in users)
        # the quantized scores are those of topk_quantized on the model's own factors
        codes = model._live.compressed.codes  # part of the published state
        assert codes.dtype == dtype and codes.nbytes <= model.item_factors.nbytes // 2 + 4 * model.n_items
        assert model.compress(dtype, candidates=15).compression.candidates == 15
    finally:
        model.compress(None)
    assert model.compression is None
    np.testing.assert_array_equal(model.recommend(users, 10)[0], exact_ids)


def test_mf_compress_bad_arguments_and_refit(fitted_mf):
    model = fitted_mf
    with pytest.raises(ValueError, match="dtype must be one of"):
        model.compress("int4")
    with pytest.raises(TypeError, match="rerank must be a bool"):
        model.compress("int8", rerank="yes")
    with pytest.raises(ValueError, match="candidates needs rerank=True"):
        model.compress("int8", rerank=False, candidates=20)
    before = model._live
    try:
        model.compress("int8")
        live = model._live
        assert live is not before and before.compressed is None  # compress publishes a new state
        assert live.compressed.codes.dtype == "int8"
        model.recommend(np.arange(5), 10)
        assert model._live is live  # recommend reads, never mutates
    finally:
        model.compress(None)
    assert model._live.compressed is None


def test_mf_compressed_codes_survive_fold_in_and_follow_refit():
    rng = np.random.default_rng(9)
    R = sp.random(60, 120, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    R.data[:] = rng.integers(1, 6, R.nnz)
    model = turborec.MatrixFactorization(factors=8, epochs=2, seed=3, n_threads=1).fit(R)
    model.compress("int8")
    first = model._live.compressed.codes
    row = sp.csr_matrix(np.eye(1, 120, 7, dtype=np.float32) * 5)
    model.partial_fit_users([4], row)
    assert model._live.compressed.codes is first  # the item side did not change
    ids, _ = model.recommend([4], 5)
    assert 7 not in ids[0]
    model.fit(R[::-1])
    assert model.compression.dtype == "int8"
    assert model._live.compressed.codes is not first  # new item factors: new codes
    expected = turborec.QuantizedFactors(model.item_factors, "int8")
    np.testing.assert_array_equal(model._live.compressed.codes.data, expected.data)


@pytest.mark.parametrize("dtype, ratio", [("int8", 4), ("bf16", 2), ("fp16", 2)])
def test_mf_compressed_save_is_smaller_and_loads_back(fitted_mf, tmp_path, dtype, ratio):
    model = fitted_mf
    users = np.arange(model.n_users)
    plain, small = tmp_path / "plain.npz", tmp_path / "small.npz"
    model.save(plain)
    try:
        model.compress(dtype, rerank=False)
        before = model.recommend(users, 10)
        model.save(small)
    finally:
        model.compress(None)
    factor_bytes = model._live.P[model._live.slot].nbytes + model._live.Q.nbytes
    scales = 4 * (model.n_users + model.n_items) if dtype == "int8" else 0
    headers = 4 * 256  # two more zip members with their .npy headers
    saved = plain.stat().st_size - small.stat().st_size
    assert saved >= factor_bytes * (1 - 1 / ratio) - scales - headers  # the factor matrices shrank by ratio
    loaded = turborec.load(small)
    assert loaded.compression is not None and loaded.compression.dtype == dtype
    codes = turborec.QuantizedFactors(model.item_factors, dtype)
    np.testing.assert_array_equal(loaded.item_factors, codes.dequantize())  # the factors are the codes' values
    np.testing.assert_array_equal(loaded._live.compressed.codes.data, codes.data)  # codes reused
    after = loaded.recommend(users, 10)  # re-ranked on the dequantized factors by default
    agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(before[0], after[0])])
    assert agree >= 0.95
    np.testing.assert_allclose(loaded.predict(users[:50], users[:50] % model.n_items),
                               model.predict(users[:50], users[:50] % model.n_items), atol=0.05)
    assert turborec.load(plain).compression is None


def test_corrupt_quantized_member_is_rejected(fitted_mf, tmp_path):
    model = fitted_mf
    path = tmp_path / "m.npz"
    try:
        model.compress("int8").save(path)
    finally:
        model.compress(None)
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members["_Q.scale"] = np.full_like(members["_Q.scale"], np.nan)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **members)
    with pytest.raises(ValueError, match="is inconsistent: '_Q'"):
        turborec.load(bad)


def test_readme_compressed_example_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "topk_quantized" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["ids"].shape == (1000, 10)
    assert namespace["codes"].nbytes <= namespace["item_factors"].nbytes // 4 + 4 * 10_000


def test_compressed_file_with_a_wrong_setting_or_shape_is_rejected(fitted_mf, tmp_path):
    import json

    model = fitted_mf
    try:
        blob = model.compress("int8").to_bytes()
    finally:
        model.compress(None)
    with np.load(io.BytesIO(blob)) as npz:
        members = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(members["__metadata__"]))

    def rewritten(change):
        m = json.loads(json.dumps(meta))
        change(m)
        out = io.BytesIO()
        np.savez(out, **dict(members, __metadata__=np.frombuffer(json.dumps(m).encode(), np.uint8)))
        return out.getvalue()

    def wrong_dtype(m):
        m["attributes"]["compression_"]["value"]["dtype"] = "bf16"

    def not_a_dict(m):
        m["attributes"]["compression_"]["value"] = 3

    for change, message in ((wrong_dtype, "must be bf16 codes"), (not_a_dict, "compression_ must be a JSON object")):
        with pytest.raises(ValueError, match=message):
            turborec.load(rewritten(change))
    loaded = turborec.load(blob)  # the untouched file loads, compressed, and folds users in keeping its codes
    codes = loaded._live.compressed.codes
    loaded.partial_fit_users([0], sp.csr_matrix(np.eye(1, model.n_items, 3, dtype=np.float32)))
    assert loaded._live.compressed.codes is codes


# ---- packed items kept across calls (issue 16 follow-up) ------------------------------------------------

def test_codes_are_packed_once_and_reused_at_every_level(rng):
    n, m, d, k = 37, 1000, 24, 12
    queries = rng.standard_normal((n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.standard_normal((m, d)).astype(np.float32), "int8")
    first = items._packed_items(1)
    assert items._packed_items(2) is first and first.n_items == m and first.dim == d and not first.has_bias
    for bias in (None, rng.standard_normal(m).astype(np.float32), rng.standard_normal(m).astype(np.float32)):
        expected = topk_reference(int8_scores(queries, items, bias), k, None)
        for level in INT8_LEVELS:  # a level change needs no repacking: the layout is shared
            with turborec.lowp_level(level):
                ids, scores = turborec.topk_quantized(queries, items, k, item_bias=bias)
            np.testing.assert_array_equal(ids, expected[0], err_msg=level)
            np.testing.assert_array_equal(scores, expected[1], err_msg=level)
    assert items._packed_items(1) is first


@pytest.mark.parametrize("dtype", ["int8", "bf16"])
def test_call_bias_replaces_the_packed_bias(rng, dtype):
    n, m, d, k = 20, 500, 6, 9
    queries = rng.integers(-3, 4, (n, d)).astype(np.float32)  # small integers: bf16 sums are exact too
    items = turborec.QuantizedFactors(rng.integers(-3, 4, (m, d)).astype(np.float32), dtype)
    packed_bias, call_bias = (rng.integers(-5, 6, m).astype(np.float32) for _ in range(2))
    if dtype == "int8":
        packed = _kernels.pack_lowp_int8(items.data, item_scale=items.scale, item_bias=packed_bias, n_threads=1)
        q, qs = quantize_int8(queries)
        run = lambda b: _kernels.topk_int8_packed(q, query_scale=qs, items=packed, k=k, item_bias=b, exclude=None,
                                                  n_threads=2)
        score = lambda b: int8_scores(queries, items, b)
    else:
        packed = _kernels.pack_lowp_bf16(items.data, item_bias=packed_bias, n_threads=1)
        qb = quantize_bf16(queries)
        run = lambda b: _kernels.topk_bf16_packed(qb, items=packed, k=k, item_bias=b, exclude=None, n_threads=2)
        score = lambda b: bf16_exact_scores(queries, items, b)
    assert packed.has_bias and packed.dtype == dtype
    for level in (INT8_LEVELS if dtype == "int8" else BF16_LEVELS):
        with turborec.lowp_level(level):
            for given, used in ((None, packed_bias), (call_bias, call_bias)):
                ids, scores = run(given)
                exp_ids, exp_scores = topk_reference(score(used).astype(np.float32), k, None)
                np.testing.assert_array_equal(ids, exp_ids, err_msg=level)
                np.testing.assert_array_equal(scores, exp_scores, err_msg=level)
    wrong = _kernels.pack_lowp_bf16(quantize_bf16(np.ones((3, d), np.float32)), item_bias=None, n_threads=1)
    with pytest.raises(ValueError, match="int8"):
        _kernels.topk_int8_packed(*quantize_int8(queries)[:1], query_scale=quantize_int8(queries)[1], items=wrong,
                                  k=2, item_bias=None, exclude=None, n_threads=1)


@pytest.mark.parametrize("k", [1, 31, 32, 33, 70])  # both sides of the sorted-array / heap switch
def test_selection_with_many_ties_around_the_sorted_heap_switch(rng, k):
    n, m, d = 23, 3000, 3
    queries = rng.integers(-2, 3, (n, d)).astype(np.float32)
    items = turborec.QuantizedFactors(rng.integers(-2, 3, (m, d)).astype(np.float32), "int8")
    exclude = random_exclude(rng, n, m, 0.05)
    expected = topk_reference(int8_scores(queries, items), k, exclude)
    for level in INT8_LEVELS:
        with turborec.lowp_level(level):
            ids, scores = turborec.topk_quantized(queries, items, k, exclude=exclude, n_threads=2)
        np.testing.assert_array_equal(ids, expected[0], err_msg=level)
        np.testing.assert_array_equal(scores, expected[1], err_msg=level)


def test_packed_codes_pickle_without_their_cache(rng):
    import pickle

    items = turborec.QuantizedFactors(rng.standard_normal((50, 5)).astype(np.float32), "int8")
    items._packed_items(1)
    again = pickle.loads(pickle.dumps(items))
    assert again._packed is None and again.dtype == "int8"
    np.testing.assert_array_equal(again.data, items.data)
    np.testing.assert_array_equal(again.scale, items.scale)
    q = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(turborec.topk_quantized(q, again, 3)[0], turborec.topk_quantized(q, items, 3)[0])


def test_queries_quantized_inside_the_kernel_match_quantize_int8(rng):
    """topk_quantized quantizes int8 queries in C++; against identity items every score shows one
    quantized component, so all d scores must equal those of numpy's quantize_int8 bit for bit."""
    d = 9
    rows = [np.zeros(d), np.full(d, 1e-42), np.linspace(-3e38, 3e38, d), np.arange(d) - 4.0,
            np.array([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -127.0]),  # exact halves: ties to even
            np.array([1e-38, -1e-39, 1e-45, 0, 0, 0, 0, 0, 2e-38])]
    queries = np.vstack(rows + [rng.standard_normal(d) * 10.0 ** rng.integers(-30, 30) for _ in range(30)])
    queries = queries.astype(np.float32)
    items = turborec.QuantizedFactors(np.eye(d, dtype=np.float32), "int8")
    q, qs = quantize_int8(queries)
    packed = items._packed_items(1)
    for level in INT8_LEVELS:
        with turborec.lowp_level(level):
            exp_ids, exp_scores = _kernels.topk_int8_packed(q, query_scale=qs, items=packed, k=d, item_bias=None,
                                                            exclude=None, n_threads=1)
            for threads in (1, 2):
                ids, scores = turborec.topk_quantized(queries, items, d, n_threads=threads)
                np.testing.assert_array_equal(ids, exp_ids, err_msg=level)
                np.testing.assert_array_equal(scores, exp_scores, err_msg=level)


def test_peak_probes():
    for what, dtype in (("int8", "int8"), ("bf16", "bf16"), ("fp32", None)):
        gops = _kernels.lowp_peak_gops(what=what, seconds=0.02, n_threads=1)
        if dtype is None:
            assert (gops > 0) == (turborec.get_simd_level() == "avx512")
        else:
            assert (gops > 0) == (turborec.get_lowp_level(dtype) == "avx512")
        with turborec.lowp_level("scalar"):
            if dtype is not None:
                assert _kernels.lowp_peak_gops(what=what, seconds=0.02, n_threads=1) == 0.0
    with pytest.raises(ValueError, match="int8"):
        _kernels.lowp_peak_gops(what="int4", seconds=0.02, n_threads=1)
