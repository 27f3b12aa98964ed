"""Content-based kernels beside their baselines, answers checked inside the benchmark:

- FeatureMF (BPR) one epoch against the numpy replay of the same updates
  (tests/test_feature_mf.py's reference_fit) and LightFM (if installed) on the same data and features;
- ContentKNN recommend against scipy: profiles @ item vectors.T, seen items dropped, argpartition.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_feature_mf import reference_fit

import turborec

N_USERS, N_ITEMS, NNZ, N_FEATURES = 300, 200, 3000, 30
GROUP_MF = f"FeatureMF BPR one epoch, {NNZ:,} interactions, {N_FEATURES} features"
GROUP_KNN = f"ContentKNN recommend top-10, {N_USERS} users x {N_ITEMS} items"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    R = sp.random(N_USERS, N_ITEMS, density=NNZ / (N_USERS * N_ITEMS), format="csr", random_state=rng,
                  dtype=np.float32)
    R.data[:] = 1.0
    F = sp.random(N_ITEMS, N_FEATURES, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    F.data[:] = 1.0
    return R, F


def feature_mf(R, F):
    return turborec.FeatureMF(factors=16, epochs=1, loss="bpr", seed=3, n_threads=1).fit(R, item_features=F)


@pytest.fixture(scope="module")
def replayed(data):
    R, F = data
    return reference_fit(feature_mf(R, F), R)


@pytest.mark.benchmark(group=GROUP_MF)
def test_feature_mf_epoch_turborec(benchmark, data, replayed):
    R, F = data
    model = benchmark(feature_mf, R, F)
    np.testing.assert_allclose(model.embeddings["item_emb"], replayed[1], rtol=1e-3, atol=1e-4)


@pytest.mark.benchmark(group=GROUP_MF)
def test_feature_mf_epoch_numpy(benchmark, data, replayed):
    R, F = data
    model = feature_mf(R, F)
    Eu, Ei, _, _ = benchmark.pedantic(reference_fit, args=(model, R), rounds=1, iterations=1)
    np.testing.assert_array_equal(Ei, replayed[1])


@pytest.mark.benchmark(group=GROUP_MF)
def test_feature_mf_epoch_lightfm(benchmark, data):
    lightfm = pytest.importorskip("lightfm")
    R, F = data
    full = sp.hstack([sp.identity(N_ITEMS, format="csr", dtype=np.float32), F], format="csr")
    full = sp.csr_matrix(sp.diags(1.0 / np.asarray(full.sum(1)).ravel()) @ full, dtype=np.float32)
    model = benchmark(lambda: lightfm.LightFM(no_components=16, loss="bpr", random_state=0).fit(
        R.tocoo(), item_features=full, epochs=1, num_threads=1))
    assert np.isfinite(model.item_embeddings).all()


@pytest.fixture(scope="module")
def content(data):
    R, F = data
    return turborec.ContentKNN(metric="cosine", center=False, n_threads=1).fit(R, item_features=F)


def scipy_recommend(model, R, k=10):
    scores = (model.user_profiles @ model.item_vectors.T).toarray()
    scores[R.nonzero()] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return np.take_along_axis(scores, top, axis=1)


@pytest.mark.benchmark(group=GROUP_KNN)
def test_content_recommend_turborec(benchmark, data, content):
    R, _ = data
    ids, scores = benchmark(content.recommend, np.arange(N_USERS), 10)
    expected = np.sort(scipy_recommend(content, R), axis=1)[:, ::-1]
    got = np.where(ids >= 0, scores, 0.0)
    np.testing.assert_allclose(got, np.where(np.isfinite(expected), np.maximum(expected, 0), 0.0), rtol=1e-4, atol=1e-5)


@pytest.mark.benchmark(group=GROUP_KNN)
def test_content_recommend_scipy(benchmark, data, content):
    R, _ = data
    top = benchmark(scipy_recommend, content, R)
    assert top.shape == (N_USERS, 10)
