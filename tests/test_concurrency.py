"""The concurrency contract of a fitted model (turborec.models.base): many readers at once, and a
fold-in that publishes its new state atomically -- a reader sees the old model or the new one,
never a mix. Eight threads hammer one model while another thread folds users in and out; every
answer must equal, array for array, the answer of one of the states the model passed through."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

import turborec

USERS = np.array([3, 5, 8])  # the users folded in, asked about together in one call
OTHERS = np.array([0, 1, 2])


def _models():
    return [
        turborec.MatrixFactorization(factors=8, epochs=3, seed=0, n_threads=2),
        turborec.MatrixFactorization(factors=8, epochs=3, loss="bpr", seed=0, n_threads=2),
        turborec.ItemKNN(k=10, n_threads=2),
        turborec.UserKNN(k=10, n_threads=2),
        turborec.Popularity(n_threads=2),
        turborec.FeatureMF(factors=8, epochs=3, seed=0, n_threads=2),
    ]


CALLS = {  # each call is atomic on its own: its whole answer must come from one state
    "recommend": lambda m: m.recommend(np.concatenate([USERS, OTHERS]), k=7),
    "predict": lambda m: (m.predict(np.repeat(USERS, 4), np.tile([0, 4, 9, 13], USERS.size)),),
}


def _answers(model):
    return {name: call(model) for name, call in CALLS.items()}


def _same_call(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _same(a, b) -> bool:
    return all(_same_call(a[name], b[name]) for name in CALLS)


@pytest.mark.parametrize("model", _models(), ids=lambda m: f"{type(m).__name__}-{getattr(m, 'loss', '')}")
def test_readers_see_one_state_or_the_other(model):
    data = turborec.synthetic(60, 40, 1200, seed=2)
    model.fit(data)
    R = data.matrix
    rng = np.random.default_rng(1)
    # Two histories for the folded users: their own (A) and a different one (B).
    rows_a = R[USERS]
    rows_b = sp.random(USERS.size, R.shape[1], density=0.3, format="csr", random_state=4, dtype=np.float32)
    rows_b.data = rng.integers(1, 6, rows_b.nnz).astype(np.float32)

    # The states a reader may meet: as fitted, after folding in B, after folding A back in.
    states = [_answers(model)]
    reference = turborec.load(model.to_bytes())
    for rows in (rows_b, rows_a):
        reference.partial_fit_users(USERS, rows)
        states.append(_answers(reference))
    assert not _same(states[0], states[1]) and not _same(states[1], states[2])

    stop = threading.Event()
    bad, seen, errors = [], set(), []

    def reader():
        try:
            while not stop.is_set():
                for name, call in CALLS.items():
                    got = call(model)
                    which = [i for i, s in enumerate(states) if _same_call(got, s[name])]
                    if not which:
                        bad.append((name, got))
                        return
                    seen.add(which[0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=reader) for _ in range(8)]
    for t in readers:
        t.start()
    try:
        for _ in range(15):  # B, A, B, A, ...: each fold-in is deterministic, so states repeat exactly
            model.partial_fit_users(USERS, rows_b)
            model.partial_fit_users(USERS, rows_a)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors, errors
    assert not bad, "a reader saw a state that is none of the published ones (a mix)"
    assert seen, "no reader finished a call"
    assert _same(_answers(model), states[2])


def test_similar_and_explain_are_safe_to_share():
    data = turborec.synthetic(80, 50, 1500, seed=3)
    knn = turborec.ItemKNN(k=10, n_threads=1).fit(data)
    expected = (knn.similar_items([1, 2, 3], 5), knn.similar_users([4, 5], 5), knn.explain(0, 1).score)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                got = (knn.similar_items([1, 2, 3], 5), knn.similar_users([4, 5], 5), knn.explain(0, 1).score)
                results.append(all(np.array_equal(a, b) for x, y in zip(got[:2], expected[:2]) for a, b in zip(x, y))
                               and got[2] == expected[2])
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results and all(results)
