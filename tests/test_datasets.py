"""turborec.datasets: the synthetic generator, MovieLens loading, and the offline download paths."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

from turborec import datasets
from turborec.data import Interactions
from turborec.datasets import download_movielens, load_movielens, synthetic


def assert_canonical(m):
    assert m.dtype == np.float32 and m.indices.dtype == np.int32
    d = np.diff(m.indices)
    row_start = np.zeros(m.nnz, dtype=bool)
    row_start[m.indptr[1:-1][m.indptr[1:-1] < m.nnz]] = True
    assert np.all((d > 0) | row_start[1:])  # strictly increasing within each row: distinct pairs


# ---- synthetic ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2000, 8000, 60_000), (40_000, 8_000, 300_000)], ids=["exact", "sparse"])
def test_synthetic_count_distinct_ratings(shape):
    n_users, n_items, n = shape
    data = synthetic(n_users, n_items, n, seed=7)
    assert isinstance(data, Interactions)
    assert data.shape == (n_users, n_items) and data.nnz == n
    assert_canonical(data.matrix)
    assert set(np.unique(data.matrix.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.0 < data.matrix.data.mean() < 4.2 and len(np.unique(data.matrix.data)) == 5
    ts = data.timestamps
    assert ts.dtype == np.int64 and ts.nnz == n
    assert ts.data.min() >= 1_500_000_000 and ts.data.max() < 1_500_000_000 + 3 * 365 * 86400
    np.testing.assert_array_equal(data.user_ids, np.arange(n_users))
    # Power law: the top 1% of items hold a large share; popular ids are scattered, not 0..k.
    counts = np.bincount(data.matrix.indices, minlength=n_items)
    top = np.argsort(counts)[::-1][: n_items // 100]
    assert counts[top].sum() / n > 0.15
    assert top.max() > n_items // 2
    user_counts = np.diff(data.matrix.indptr)
    assert user_counts.max() > 5 * max(np.median(user_counts), 1)


def test_synthetic_deterministic():
    a = synthetic(20_000, 6_000, 100_000, seed=3)
    b = synthetic(20_000, 6_000, 100_000, seed=3)
    c = synthetic(20_000, 6_000, 100_000, seed=4)
    for x, y in ((a.matrix, b.matrix), (a.timestamps, b.timestamps)):
        np.testing.assert_array_equal(x.indptr, y.indptr)
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.data, y.data)
    assert not np.array_equal(a.matrix.indices, c.matrix.indices)
    small = [synthetic(50, 40, 300, seed=9, implicit=True).matrix for _ in range(2)]
    np.testing.assert_array_equal(small[0].indices, small[1].indices)


def test_synthetic_ratings_follow_the_factors():
    data, f = synthetic(2000, 800, 50_000, seed=1, noise=0.3, return_factors=True)
    m = data.matrix
    rows = np.repeat(np.arange(data.n_users), np.diff(m.indptr))
    cols = m.indices
    pred = (f["global_mean"] + f["user_bias"][rows] + f["item_bias"][cols]
            + np.einsum("ij,ij->i", f["user_factors"][rows], f["item_factors"][cols]))
    assert np.corrcoef(pred, m.data)[0, 1] > 0.7
    assert f["user_factors"].shape == (2000, 16) and f["item_factors"].dtype == np.float32
    dots = np.einsum("ij,ij->i", f["user_factors"][rows], f["item_factors"][cols])
    assert 0.45 < dots.std() < 0.75
    np.testing.assert_allclose(f["item_popularity"].sum(), 1.0)


@pytest.mark.parametrize("n_users", [300, 30_000], ids=["exact", "sparse"])
def test_synthetic_implicit_leans_to_affinity(n_users, rng):
    data, f = synthetic(n_users, 2000, 40_000, seed=2, implicit=True, return_factors=True)
    assert data.nnz == 40_000 and np.all(data.matrix.data == 1.0)
    m = data.matrix
    rows = np.repeat(np.arange(data.n_users), np.diff(m.indptr))
    observed = np.einsum("ij,ij->i", f["user_factors"][rows], f["item_factors"][m.indices]).mean()
    ru, ri = rng.integers(0, n_users, 40_000), rng.integers(0, 2000, 40_000)
    random = np.einsum("ij,ij->i", f["user_factors"][ru], f["item_factors"][ri]).mean()
    assert observed > random + 0.2


def test_synthetic_edges():
    full = synthetic(30, 20, 600, seed=0)
    assert full.nnz == 600 and full.matrix.toarray().all()
    assert synthetic(10, 10, 0, seed=0).nnz == 0
    uniform = synthetic(100, 100, 5000, seed=0, user_exponent=0, item_exponent=0)
    assert uniform.nnz == 5000
    with pytest.raises(ValueError, match=r"n_interactions \(601\) exceeds n_users \* n_items \(600\)"):
        synthetic(30, 20, 601)
    with pytest.raises(TypeError, match="n_users must be an int"):
        synthetic(10.0, 10, 5)
    with pytest.raises(ValueError, match="n_items must be >= 1"):
        synthetic(10, 0, 0)
    with pytest.raises(ValueError, match="noise must be finite and >= 0"):
        synthetic(10, 10, 5, noise=-1)
    with pytest.raises(TypeError, match="seed must be"):
        synthetic(10, 10, 5, seed="abc")


def test_synthetic_at_a_million_interactions():
    # Its speed is measured in bench/test_bench_data.py, not asserted here.
    data = synthetic(50_000, 20_000, 1_000_000, seed=0)
    assert data.nnz == 1_000_000
    assert data.matrix.has_canonical_format


# ---- MovieLens ------------------------------------------------------------------------------------

def test_load_movielens_latest_small(movielens):
    data = load_movielens(movielens)
    assert (data.nnz, data.n_users, data.n_items) == (100836, 610, 9724)
    assert data.timestamps is not None and data.timestamps.dtype == np.int64
    u, i = data.user_index(1), data.item_index(1)
    assert data.matrix[u, i] == 4.0 and data.timestamps[u, i] == 964982703
    assert np.any(data.matrix.data % 1 == 0.5)
    assert data.user_ids.dtype == np.int64 and data.item_ids.dtype == np.int64
    same = load_movielens(movielens / "ratings.csv")
    np.testing.assert_array_equal(same.matrix.data, data.matrix.data)


def _write_fake_100k(directory):
    """A few made-up lines in the ml-100k layout (not MovieLens data)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")


def test_load_movielens_100k_and_1m_layouts(tmp_path):
    _write_fake_100k(tmp_path / "ml-100k")
    data = load_movielens(tmp_path / "ml-100k")
    assert data.nnz == 3 and list(data.user_ids) == [22, 186, 196]
    assert data.matrix[data.user_index(196), data.item_index(242)] == 3.0
    assert data.timestamps[data.user_index(22), data.item_index(377)] == 878887116
    d1m = tmp_path / "ml-1m"
    d1m.mkdir()
    (d1m / "ratings.dat").write_bytes(b"1::1193::5::978300760\r\n1::661::3::978302109\r\n2::1193::4::978298413\r\n")
    data = load_movielens(d1m)
    assert data.nnz == 3 and data.matrix[data.user_index(2), data.item_index(1193)] == 4.0
    assert data.timestamps[data.user_index(1), data.item_index(661)] == 978302109


def test_load_movielens_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no MovieLens ratings file"):
        load_movielens(tmp_path)
    other = tmp_path / "movies.csv"
    other.write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    with pytest.raises(ValueError, match="is not a MovieLens ratings file"):
        load_movielens(other)


# ---- download (never touches the network) ---------------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    calls = []

    def fail(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    return calls


def test_download_offline_explains_manual_placement(tmp_path, offline):
    with pytest.raises(ConnectionError, match="could not download https://files.grouplens.org/datasets/movielens/"
                                              "ml-latest-small.zip") as e:
        download_movielens("ml-latest-small", tmp_path)
    assert str(tmp_path / "ml-latest-small.zip") in str(e.value) and "load_movielens" in str(e.value)
    assert offline == ["https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"]
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
    assert isinstance(e.value, OSError)


def test_download_uses_existing_directory(tmp_path, offline):
    _write_fake_100k(tmp_path / "ml-100k")
    assert download_movielens("ml-100k", tmp_path) == tmp_path / "ml-100k"
    assert offline == []


def _zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_download_extracts_a_placed_zip(tmp_path, offline):
    (tmp_path / "ml-100k.zip").write_bytes(_zip_bytes({"ml-100k/u.data": "1\t2\t5\t100\n3\t2\t4\t200\n"}))
    path = download_movielens("ml-100k", tmp_path)  # checksum unknown: only the zip is verified
    assert path == tmp_path / "ml-100k" and offline == []
    assert load_movielens(path).nnz == 2


def test_download_checksum_mismatch(tmp_path, offline):
    placed = tmp_path / "ml-latest-small.zip"
    placed.write_bytes(_zip_bytes({"ml-latest-small/ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,5\n"}))
    with pytest.raises(ValueError, match="has sha256 .* expected 696d65a3dfce"):
        download_movielens("ml-latest-small", tmp_path)
    assert placed.exists()  # a file the user placed is not deleted


def test_download_with_fake_server(tmp_path, monkeypatch):
    payload = _zip_bytes({"ml-1m/ratings.dat": "1::2::3::4\n"})
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(payload))
    path = download_movielens("ml-1m", tmp_path)
    assert path == tmp_path / "ml-1m" and load_movielens(path).nnz == 1
    assert (tmp_path / "ml-1m.zip").read_bytes() == payload


def test_download_rejects_bad_zips(tmp_path, offline):
    (tmp_path / "ml-1m.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a readable zip"):
        download_movielens("ml-1m", tmp_path)
    (tmp_path / "ml-20m.zip").write_bytes(_zip_bytes({"../evil.txt": "x"}))
    with pytest.raises(ValueError, match="outside"):
        download_movielens("ml-20m", tmp_path)
    assert not (tmp_path.parent / "evil.txt").exists()
    with pytest.raises(ValueError, match="name must be one of"):
        download_movielens("ml-3m", tmp_path)
    assert "ml-latest-small" in datasets.MOVIELENS_SHA256
