"""MatrixFactorization: SGD replayed against a numpy reference, determinism, fold-in against the
closed form, BPR learning, retrieval, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from reference import sgd_reference, topk_reference

import turborec
from turborec import _core
from turborec.models.mf import EarlyStopping, MatrixFactorization


def low_rank_ratings(rng, n_users=80, n_items=60, density=0.3, rank=3, noise=0.1):
    P = rng.normal(0, 0.7, (n_users, rank))
    Q = rng.normal(0, 0.7, (n_items, rank))
    mask = rng.random((n_users, n_items)) < density
    full = 3.5 + P @ Q.T + rng.normal(0, noise, (n_users, n_items))
    R = sp.csr_matrix(np.where(mask, np.clip(full, 1, 5), 0).astype(np.float32))
    R.eliminate_zeros()
    return R


@pytest.mark.parametrize("schedule", ["adagrad", "constant", "decay"])
@pytest.mark.parametrize("grid", [1, 3])
@pytest.mark.parametrize("factors", [5, 40, 70])  # rows of 16 and 48 floats (unrolled kernels), 80 (run-time loop)
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("reg_exponent", [0.0, 0.5, 1.0])
def test_sgd_matches_numpy_replay(rng, schedule, grid, factors, biased, reg_exponent, simd):
    R = low_rank_ratings(rng, 25, 20, 0.3).tolil()
    R[3] = 0  # a user without ratings, and rows of 1..n ratings: every per-row weight differs
    R[5, 1:] = 0
    R = R.tocsr()
    R.eliminate_zeros()
    kw = dict(factors=factors, seed=11, grid=grid, lr_schedule=schedule, lr=0.03, reg=0.05, reg_bias=0.02, decay=0.5,
              biased=biased, reg_exponent=reg_exponent)
    start = MatrixFactorization(epochs=0, **kw).fit(R)
    model = MatrixFactorization(epochs=2, **kw).fit(R)
    users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(R.indptr))
    g = _core.SgdGrid(users, R.indices, R.data, R.shape[0], R.shape[1], grid, 11)
    P, Q, bu, bi = sgd_reference(R, start.user_factors, start.item_factors, start.user_bias, start.item_bias,
                                 start.global_mean, g, 11, 2, factors, 0.03, 0.05, 0.02, schedule, 0.5,
                                 biased=biased, reg_exponent=reg_exponent)
    np.testing.assert_allclose(model.user_factors, P, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(model.item_factors, Q, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(model.user_bias, bu, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(model.item_bias, bi, rtol=1e-3, atol=2e-5)


@pytest.mark.parametrize("user_sorted", [True, False])
@pytest.mark.parametrize("grid", [1, 4])
def test_grid_visits_every_rating_once_in_its_block(rng, user_sorted, grid):
    R = low_rank_ratings(rng, 60, 40, 0.3)
    users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(R.indptr))
    g = _core.SgdGrid(users, R.indices, R.data, R.shape[0], R.shape[1], grid, 3, user_sorted=user_sorted)
    gu, gi, gv = g.entries
    key = lambda u, i: u.astype(np.int64) * R.shape[1] + i  # noqa: E731
    order = np.argsort(key(gu, gi))
    np.testing.assert_array_equal(key(gu, gi)[order], np.sort(key(users, R.indices)))
    np.testing.assert_array_equal(gv[order], R.data[np.argsort(key(users, R.indices))])
    # Each block holds exactly the ratings of its (user group, item group) cell.
    bounds = np.concatenate([[0], np.cumsum(g.block_sizes)])
    ug, ig = np.asarray(g.user_group), np.asarray(g.item_group)
    for b in range(grid * grid):
        lo, hi = bounds[b], bounds[b + 1]
        assert (ug[gu[lo:hi]] == b // grid).all() and (ig[gi[lo:hi]] == b % grid).all()
        if user_sorted:  # the block's user-sorted sequence, cut in four and interleaved
            n, per = hi - lo, -(-(hi - lo) // 4)
            position = [r * per + j for j in range(per) for r in range(4) if r * per + j < n]
            sequence = np.empty(n, np.int32)
            sequence[position] = gu[lo:hi]
            assert (np.diff(sequence) >= 0).all()


def test_converges_on_low_rank_data(rng):
    R = low_rank_ratings(rng, 300, 200, 0.2, rank=4, noise=0.1)
    model = MatrixFactorization(factors=8, epochs=30, seed=0, reg=0.02).fit(R)
    rmse = [h["train_rmse"] for h in model.history_]
    assert rmse[-1] < 0.5 * rmse[0]
    assert rmse[-1] < 0.25


def test_same_model_for_any_thread_count_and_repeat(rng):
    R = low_rank_ratings(rng, 200, 150, 0.2)
    a = MatrixFactorization(factors=16, epochs=3, seed=5, grid=4, n_threads=1).fit(R)
    b = MatrixFactorization(factors=16, epochs=3, seed=5, grid=4, n_threads=1).fit(R)
    c = MatrixFactorization(factors=16, epochs=3, seed=5, grid=4, n_threads=2).fit(R)
    for m in (b, c):
        np.testing.assert_array_equal(m.user_factors, a.user_factors)
        np.testing.assert_array_equal(m.item_factors, a.item_factors)
        np.testing.assert_array_equal(m.item_bias, a.item_bias)
    d = MatrixFactorization(factors=16, epochs=3, seed=6, grid=4).fit(R)
    assert not np.array_equal(d.user_factors, a.user_factors)


def test_levels_agree_closely(rng):
    R = low_rank_ratings(rng, 100, 80, 0.2)
    with turborec.simd_level("scalar"):
        ref = MatrixFactorization(factors=20, epochs=3, seed=1).fit(R)
    for level in turborec.supported_simd_levels():
        with turborec.simd_level(level):
            m = MatrixFactorization(factors=20, epochs=3, seed=1).fit(R)
        np.testing.assert_allclose(m.user_factors, ref.user_factors, rtol=1e-3, atol=1e-4)


def test_divergence_raises_a_clear_error(rng):
    R = low_rank_ratings(rng, 50, 40, 0.3)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        MatrixFactorization(factors=8, epochs=50, lr=50.0, reg=0.0, lr_schedule="constant", seed=0).fit(R)


def test_predict_clips_and_history_tracks_validation(rng):
    R = low_rank_ratings(rng, 120, 90, 0.3)
    train, test = turborec.random_split(R, 0.2, seed=0)
    # nearly noiseless data (noise 0.1): the defaults' regularisation, chosen for real noise levels,
    # would hold the factors back here
    kw = dict(factors=8, epochs=10, seed=0, reg=0.1, reg_exponent=0.0, init_std=0.1)
    model = MatrixFactorization(**kw).fit(train, validation=test)
    assert [h["epoch"] for h in model.history_] == list(range(10))
    assert all("validation_rmse" in h and h["seconds"] >= 0 for h in model.history_)
    assert model.history_[-1]["validation_rmse"] < model.history_[0]["validation_rmse"]
    p = model.predict(np.arange(50), np.arange(50) % 90)
    lo, hi = model.rating_range_
    assert p.min() >= lo and p.max() <= hi
    free = MatrixFactorization(clip=False, **kw).fit(train)
    raw = free.predict(np.arange(50), np.arange(50) % 90)
    np.testing.assert_allclose(np.clip(raw, lo, hi), p, rtol=1e-6)


def test_early_stopping_restores_the_best_epoch(rng):
    R = low_rank_ratings(rng, 100, 80, 0.3, noise=0.5)
    train, test = turborec.random_split(R, 0.3, seed=1)
    stop = EarlyStopping(patience=1)
    model = MatrixFactorization(factors=32, epochs=60, seed=0, lr=0.2, reg=0.0).fit(train, validation=test,
                                                                                    callbacks=[stop])
    assert len(model.history_) < 60
    users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(test.indptr))
    err = model.predict(users, test.indices) - test.data
    assert np.sqrt(np.mean(err ** 2)) == pytest.approx(stop.best, rel=1e-5)


def test_early_stopping_is_the_default_with_validation(rng):
    R = low_rank_ratings(rng, 100, 80, 0.3, noise=0.5)
    train, test = turborec.random_split(R, 0.3, seed=1)
    kw = dict(factors=32, epochs=60, seed=0, lr=0.2, reg=0.0)  # overfits: validation RMSE turns up
    model = MatrixFactorization(patience=2, **kw).fit(train, validation=test)
    scores = [h["validation_rmse"] for h in model.history_]
    assert len(scores) < 60 and model.best_epoch_ == int(np.argmin(scores))
    assert len(scores) == model.best_epoch_ + 1 + 2  # stopped after `patience` epochs without improvement
    users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(test.indptr))
    kept = np.sqrt(np.mean((model.predict(users, test.indices) - test.data) ** 2))
    assert kept == pytest.approx(model.best_score_, rel=1e-5) and model.best_score_ == pytest.approx(min(scores))
    # the kept model is the one a fit of best_epoch_ + 1 epochs gives
    again = MatrixFactorization(**{**kw, "epochs": model.best_epoch_ + 1}).fit(train)
    np.testing.assert_array_equal(again.user_factors, model.user_factors)
    # off: every epoch, the last one kept; without validation: nothing to report
    full = MatrixFactorization(early_stopping=False, **kw).fit(train, validation=test)
    assert len(full.history_) == 60 and full.best_epoch_ is None
    plain = MatrixFactorization(**kw).fit(train)
    assert len(plain.history_) == 60 and plain.best_epoch_ is None


def test_early_stopping_keeps_the_best_epoch_when_training_ends_first(rng):
    R = low_rank_ratings(rng, 100, 80, 0.3, noise=0.5)
    train, test = turborec.random_split(R, 0.3, seed=1)
    probe = MatrixFactorization(factors=32, epochs=60, seed=0, lr=0.2, reg=0.0, early_stopping=False).fit(
        train, validation=test)
    scores = [h["validation_rmse"] for h in probe.history_]
    best = int(np.argmin(scores))
    # the run ends one epoch after the best one, before patience runs out: the best is put back
    model = MatrixFactorization(factors=32, epochs=best + 2, seed=0, lr=0.2, reg=0.0, patience=5).fit(
        train, validation=test)
    assert model.best_epoch_ == best and len(model.history_) == best + 2
    users = np.repeat(np.arange(R.shape[0], dtype=np.int32), np.diff(test.indptr))
    kept = np.sqrt(np.mean((model.predict(users, test.indices) - test.data) ** 2))
    assert kept == pytest.approx(scores[best], rel=1e-5)


@pytest.mark.parametrize("bad", [{"patience": 0}, {"patience": 1.5}, {"early_stopping": "yes"}])
def test_early_stopping_parameters_are_checked(rng, bad):
    R = low_rank_ratings(rng, 20, 15, 0.3)
    with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
        MatrixFactorization(**bad).fit(R)


def test_callbacks_can_stop(rng):
    R = low_rank_ratings(rng, 40, 30, 0.3)
    model = MatrixFactorization(factors=4, epochs=10, seed=0).fit(R, callbacks=[lambda m, e, row: e == 2])
    assert len(model.history_) == 3


def test_recommend_is_topk_of_the_dense_scores(rng, n_threads):
    R = low_rank_ratings(rng, 60, 70, 0.2)
    model = MatrixFactorization(factors=8, epochs=5, seed=0, n_threads=n_threads).fit(R)
    scores = model.user_factors @ model.item_factors.T + model.item_bias
    exp_ids, exp_scores = topk_reference(scores, 5, R)
    ids, got = model.recommend(np.arange(60), 5)
    np.testing.assert_allclose(got, exp_scores, rtol=1e-4, atol=1e-5)
    assert (ids == exp_ids).mean() > 0.99
    allowed = np.array([3, 10, 11, 40, 41, 69])
    ids, _ = model.recommend(np.arange(60), 3, items=allowed, exclude_seen=False)
    exp = topk_reference(scores[:, allowed], 3)[0]
    np.testing.assert_array_equal(ids, allowed[exp])


def test_similar_items_by_cosine(rng):
    R = low_rank_ratings(rng, 60, 50, 0.3)
    model = MatrixFactorization(factors=6, epochs=5, seed=0).fit(R)
    Qn = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    cos = Qn @ Qn.T
    np.fill_diagonal(cos, -np.inf)
    exp_ids, exp_scores = topk_reference(cos, 4)
    ids, got = model.similar_items(np.arange(50), 4)
    np.testing.assert_allclose(got, exp_scores, rtol=1e-4, atol=1e-5)
    assert not (ids == np.arange(50)[:, None]).any()


@pytest.mark.parametrize("reg_exponent", [0.0, 0.5, 1.0])
def test_fold_in_matches_closed_form(rng, reg_exponent):
    R = low_rank_ratings(rng, 80, 60, 0.3)
    model = MatrixFactorization(factors=6, epochs=10, seed=0, reg=0.05, reg_bias=0.02, reg_exponent=reg_exponent).fit(R)
    items = np.array([1, 5, 9, 20, 33, 47])
    values = np.array([5, 4, 1, 3, 5, 2], dtype=np.float32)
    p, b = model.recalculate_user((items, values))
    Qi = model.item_factors[items].astype(np.float64)
    X = np.hstack([np.ones((6, 1)), Qi])
    y = values - model.global_mean - model.item_bias[items]
    n = 6 ** (1 - reg_exponent)  # training's penalty over an epoch for a row of 6 ratings
    penalty = np.diag([n * 0.02] + [n * 0.05] * 6)
    w = np.linalg.solve(X.T @ X + penalty, X.T @ y)
    np.testing.assert_allclose(p, w[1:], rtol=1e-4, atol=1e-6)
    assert b == pytest.approx(w[0], rel=1e-4, abs=1e-6)


def test_partial_fit_users_grows_and_replaces(rng):
    R = low_rank_ratings(rng, 50, 40, 0.3)
    model = MatrixFactorization(factors=6, epochs=10, seed=0).fit(R)
    new_rows = sp.csr_matrix(np.array([[5, 0, 0, 4] + [0] * 36, [0, 1, 2, 0] + [0] * 36], dtype=np.float32))
    model.partial_fit_users([3, 52], new_rows)
    assert model.n_users == 53 and model.user_factors.shape == (53, 6)
    np.testing.assert_array_equal(model.user_items_[52].toarray(), new_rows[1].toarray())
    np.testing.assert_array_equal(model.user_items_[3].toarray(), new_rows[0].toarray())
    assert not model.user_factors[51].any()  # an untouched new slot stays empty
    p, b = model.recalculate_user(new_rows[1])
    np.testing.assert_allclose(model.user_factors[52], p)
    ids, _ = model.recommend([52], 5)
    assert not np.isin(ids, [1, 2]).any()


def clustered_clicks(rng, n_users=400, n_items=300, per_user=25, clusters=4):
    """Users click mostly (90%) within their own cluster of items: a planted ranking signal."""
    user_c = rng.integers(0, clusters, n_users)
    item_c = rng.integers(0, clusters, n_items)
    rows, cols = [], []
    for u in range(n_users):
        own = np.flatnonzero(item_c == user_c[u])
        picks = np.where(rng.random(per_user) < 0.9, rng.choice(own, per_user), rng.integers(0, n_items, per_user))
        rows += [u] * per_user
        cols += list(picks)
    R = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    R.data[:] = 1
    return R


def test_bpr_learns_a_ranking(rng):
    R = clustered_clicks(rng)
    train, test = turborec.random_split(R, 0.2, seed=0)
    model = MatrixFactorization(factors=16, epochs=15, loss="bpr", seed=0).fit(train, validation=test)
    auc = [h["validation_auc"] for h in model.history_]
    assert auc[-1] > 0.75 and auc[-1] > auc[0]  # a perfect cluster ranker scores ~0.84 here
    ids, _ = model.recommend(np.arange(400), 10)
    hits = np.mean([np.isin(ids[u], test[u].indices).any() for u in range(400) if test[u].nnz])
    assert hits > 0.3
    # same seed, one thread, the same validation (so the same early-stopping decision): same model
    again = MatrixFactorization(factors=16, epochs=15, loss="bpr", seed=0, n_threads=1).fit(train, validation=test)
    np.testing.assert_array_equal(again.item_factors, model.item_factors)
    assert again.best_epoch_ == model.best_epoch_ == int(np.argmax(auc))


def test_bpr_fold_in_ranks_the_users_items_high(rng):
    R = clustered_clicks(rng)
    model = MatrixFactorization(factors=12, epochs=15, loss="bpr", seed=0).fit(R)
    row = R[7]
    p, _ = model.recalculate_user(row)
    scores = model.item_factors @ p + model.item_bias
    owned = scores[row.indices].mean()
    assert owned > np.median(scores)


def test_fit_from_arrays_and_interactions(rng):
    R = low_rank_ratings(rng, 30, 20, 0.3)
    coo = R.tocoo()
    a = MatrixFactorization(factors=4, epochs=3, seed=0).fit((coo.row, coo.col, coo.data))
    b = MatrixFactorization(factors=4, epochs=3, seed=0).fit(R)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(factors=0), ValueError, "factors must be an int >= 1"),
    (dict(loss="hinge"), ValueError, "loss must be one of"),
    (dict(lr_schedule="cosine"), ValueError, "lr_schedule must be one of"),
    (dict(lr=-0.1), ValueError, "lr must be"),
    (dict(reg=float("nan")), ValueError, "reg must be"),
    (dict(clip=3), TypeError, "clip must be"),
    (dict(grid=0), ValueError, "grid must be"),
    (dict(reg_exponent=1.5), ValueError, "reg_exponent must be a number in"),
    (dict(reg_exponent="half"), ValueError, "reg_exponent must be a number in"),
    (dict(loss="bpr", reg_exponent=0.5), ValueError, "reg_exponent must be 0 for loss='bpr'"),
    (dict(init_std=-1.0), ValueError, "init_std must be"),
])
def test_bad_parameters(rng, kwargs, exc, match):
    R = low_rank_ratings(rng, 10, 10, 0.5)
    with pytest.raises(exc, match=match):
        MatrixFactorization(**kwargs).fit(R)


def test_bad_fold_in_input(rng):
    R = low_rank_ratings(rng, 20, 15, 0.4)
    model = MatrixFactorization(factors=4, epochs=2, seed=0).fit(R)
    with pytest.raises(ValueError, match="user_items must have shape"):
        model.recalculate_user(sp.csr_matrix((1, 14), dtype=np.float32))
    with pytest.raises(ValueError, match="must not repeat"):
        model.partial_fit_users([1, 1], sp.csr_matrix((2, 15), dtype=np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        model.partial_fit_users([-1], sp.csr_matrix((1, 15), dtype=np.float32))
