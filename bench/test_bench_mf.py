"""One epoch of biased-MF SGD: turborec against the textbook per-rating numpy loop (Surprise's SVD
update, the same constant learning rate and regularisation), on small generated ratings.

Both start from N(0, 0.1^2) factors and zero biases and visit the ratings in a random order, so they
are different runs of the same algorithm: after the epoch both must have lowered the training RMSE
and agree on it (and on the test RMSE) within 1%.
"""

from __future__ import annotations

import numpy as np
import pytest
from mf_speed import numpy_sgd

import turborec

N_USERS, N_ITEMS, NNZ, FACTORS = 2000, 600, 30_000, 16
LR, REG = 0.005, 0.02  # Surprise's SVD defaults; turborec's lr_schedule="constant" defaults too
GROUP = f"MF SGD one epoch, {NNZ:,} ratings x {FACTORS} factors"


def rmse(pred, truth) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


@pytest.fixture(scope="module")
def ratings():
    train, test = turborec.random_split(turborec.synthetic(N_USERS, N_ITEMS, NNZ, rank=8, seed=4), 0.1, seed=0)
    R, T = train.matrix, test.matrix
    coo = R.tocoo()
    tusers = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr)).astype(np.int32)
    mu = float(R.data.mean())
    start_rmse = rmse(np.full(R.nnz, mu), R.data)  # zero biases; factors ~0.1 add ~0.04 to the error
    return R, T, coo, tusers, mu, start_rmse


def numpy_epoch(coo, mu, seed=0):
    rng = np.random.default_rng(seed)
    order = rng.permutation(coo.nnz)
    P = rng.normal(0, 0.1, (coo.shape[0], FACTORS))
    Q = rng.normal(0, 0.1, (coo.shape[1], FACTORS))
    bu, bi = np.zeros(coo.shape[0]), np.zeros(coo.shape[1])
    numpy_sgd(coo.row[order], coo.col[order], coo.data[order].astype(np.float64), P, Q, bu, bi, mu, lr=LR, reg=REG)
    return P, Q, bu, bi


def turborec_epoch(R):
    model = turborec.MatrixFactorization(factors=FACTORS, epochs=1, lr_schedule="constant", lr=LR, reg=REG,
                                         reg_bias=REG, init_std=0.1, clip=False, seed=0)
    return model.fit(R)


@pytest.fixture(scope="module")
def numpy_result(ratings):
    R, T, coo, tusers, mu, start = ratings
    P, Q, bu, bi = numpy_epoch(coo, mu)

    def predict(u, i):
        return mu + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i])

    return rmse(predict(coo.row, coo.col), coo.data), rmse(predict(tusers, T.indices), T.data)


@pytest.mark.benchmark(group=GROUP)
def test_sgd_epoch_turborec(benchmark, ratings, numpy_result):
    R, T, coo, tusers, mu, start = ratings
    model = benchmark(turborec_epoch, R)
    train_rmse = rmse(model.predict(coo.row, coo.col), coo.data)
    test_rmse = rmse(model.predict(tusers, T.indices), T.data)
    assert train_rmse < start, f"one epoch did not lower the training RMSE ({start:.4f} -> {train_rmse:.4f})"
    np.testing.assert_allclose([train_rmse, test_rmse], numpy_result, rtol=0.01)


@pytest.mark.benchmark(group=GROUP)
def test_sgd_epoch_numpy(benchmark, ratings, numpy_result):
    R, T, coo, tusers, mu, start = ratings
    P, Q, bu, bi = benchmark(numpy_epoch, coo, mu)
    train_rmse = rmse(mu + bu[coo.row] + bi[coo.col] + np.einsum("ij,ij->i", P[coo.row], Q[coo.col]), coo.data)
    assert train_rmse < start
    assert train_rmse == pytest.approx(numpy_result[0], rel=1e-12)


@pytest.mark.benchmark(group=f"MF SGD 20 epochs, {NNZ:,} ratings x {FACTORS} factors (AdaGrad)")
@pytest.mark.parametrize("n_threads", [1, 0], ids=["1thread", "all"])
def test_sgd_fit_turborec(benchmark, ratings, n_threads):
    """A whole default fit: the loss must fall every epoch and end well below the start."""
    R, T, coo, tusers, mu, start = ratings
    model = benchmark(lambda: turborec.MatrixFactorization(factors=FACTORS, seed=0, n_threads=n_threads).fit(R))
    losses = [h["train_rmse"] for h in model.history_]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * start
