"""The serving hot path of a fitted MatrixFactorization (50,000 items x 64 factors, ~50 seen items per
user), beside the obvious numpy code a service would otherwise run:

- recommend(k=10) for 1 user and for 100 users: numpy ``P[u] @ Q.T + b``, seen items set to -inf,
  argpartition + sort of the top 10;
- predict for 1 pair: numpy ``mu + b_u + b_i + P[u] . Q[i]``.

The model keeps its packed item panels between calls (no re-packing per request); the Python part
of a call (validation, the user's vector, the exclusion row) is measured on its own in the
``python part`` rows, to compare with the kernel's time. Run:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/test_bench_serving.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import turborec

N_USERS, N_ITEMS, FACTORS, SEEN, K = 5_000, 50_000, 64, 50, 10


@pytest.fixture(scope="module")
def model():
    R = sp.random(N_USERS, N_ITEMS, density=SEEN / N_ITEMS, format="csr", random_state=3, dtype=np.float32)
    R.data[:] = 1.0 + 4.0 * R.data
    # epochs=0: the factors stay at their random start -- the hot path does not care how they were fitted.
    return turborec.MatrixFactorization(factors=FACTORS, epochs=0, seed=0, n_threads=1).fit(R)


@pytest.fixture(scope="module")
def arrays(model):
    return (np.ascontiguousarray(model.user_factors), np.ascontiguousarray(model.item_factors),
            model.item_bias.copy(), model.user_bias.copy(), float(model.global_mean), model.user_items_)


def numpy_recommend(arrays, users, k=K):
    P, Q, b, _, _, seen = arrays
    scores = P[users] @ Q.T + b
    rows = seen[users]
    for t in range(len(users)):
        scores[t, rows.indices[rows.indptr[t]:rows.indptr[t + 1]]] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def numpy_predict(arrays, u, i):
    P, Q, b, bu, mu, _ = arrays
    return mu + bu[u] + b[i] + np.einsum("ij,ij->i", P[u], Q[i])


@pytest.mark.parametrize("n_users", [1, 100])
def test_recommend_turborec(benchmark, model, arrays, n_users):
    benchmark.group = f"MF recommend k=10, {n_users} user(s), {N_ITEMS:,} items x {FACTORS}"
    users = list(range(7, 7 + n_users))
    ids, _ = benchmark(model.recommend, users, K)
    np.testing.assert_array_equal(ids, numpy_recommend(arrays, users))


@pytest.mark.parametrize("n_users", [1, 100])
def test_recommend_numpy(benchmark, arrays, n_users):
    benchmark.group = f"MF recommend k=10, {n_users} user(s), {N_ITEMS:,} items x {FACTORS}"
    users = list(range(7, 7 + n_users))
    benchmark(numpy_recommend, arrays, users)


def test_recommend_python_part(benchmark, model):
    """Everything recommend does for one user except the kernel: validation, the user's vector and
    the exclusion row in the kernels' wire format."""
    benchmark.group = f"MF recommend k=10, 1 user(s), {N_ITEMS:,} items x {FACTORS}"
    from turborec._validation import check_ids, check_k  # internals measured here

    live = model._live  # internals measured here

    def python_part():
        users = check_ids([7], "users", live.seen.shape[0])
        check_k(K)
        return live.P[live.slot[users], :FACTORS], live.seen.pattern_wire(users)

    queries, wire = benchmark(python_part)
    assert queries.shape == (1, FACTORS) and wire[3] == 1


def test_predict_turborec(benchmark, model, arrays):
    benchmark.group = "MF predict, 1 pair"
    out = benchmark(model.predict, [7], [11])
    np.testing.assert_allclose(out, np.clip(numpy_predict(arrays, [7], [11]), *model.rating_range_), rtol=1e-5)


def test_predict_numpy(benchmark, arrays):
    benchmark.group = "MF predict, 1 pair"
    benchmark(numpy_predict, arrays, [7], [11])
