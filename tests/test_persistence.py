"""model.save / turborec.load: exact round trips for every model, pickling, and refusing bad files."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec import persistence

MODELS = {
    "ItemKNN": lambda: turborec.ItemKNN(k=5, variant="baseline", shrinkage=2.0),
    "UserKNN": lambda: turborec.UserKNN(k=5),
    "MatrixFactorization": lambda: turborec.MatrixFactorization(factors=8, epochs=4, seed=0, clip=(1.0, 5.0)),
    "MatrixFactorization-bpr": lambda: turborec.MatrixFactorization(factors=5, epochs=3, loss="bpr", seed=1),
}


@pytest.fixture(params=sorted(MODELS))
def factory(request):
    return MODELS[request.param]


def _interactions(rng, ids):
    """A small explicit data set; raw ids are ints, strings, or ints mixed with strings."""
    data = turborec.synthetic(40, 30, 400, seed=7)
    users, items = data.matrix.nonzero()
    if ids == "int":
        return data
    if ids == "str":
        uid = np.array([f"user-{u}" for u in range(40)], dtype=object)
        iid = np.array([f"émile {i}" for i in range(30)], dtype=object)  # non-ASCII survives
    else:
        uid = np.array([u if u % 2 else f"u{u}" for u in range(40)], dtype=object)
        iid = np.array([f"i{i}" for i in range(30)], dtype=object)
    return turborec.Interactions.from_arrays(uid[users], iid[items], data.matrix.data)


def _assert_same_state(a, b):
    assert type(a) is type(b)
    assert a.get_params() == b.get_params()
    state_a, state_b = a._saved_state(a._live), b._saved_state(b._live)
    assert sorted(state_a) == sorted(("user_items_",) + a._saved_attributes) == sorted(state_b)
    for name in state_a:
        x, y = state_a[name], state_b[name]
        if sp.issparse(x):
            assert type(x) is type(y) and x.shape == y.shape
            for part in ("data", "indices", "indptr"):
                px, py = getattr(x, part), getattr(y, part)
                assert px.dtype == py.dtype and np.array_equal(px, py), (name, part)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        else:
            assert type(x) is type(y) and x == y, name
    for name in ("user_ids_", "item_ids_"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
        else:
            assert x.dtype == y.dtype and x.tolist() == y.tolist()
            assert [type(v) for v in x.tolist()] == [type(v) for v in y.tolist()]


def _assert_same_outputs(a, b):
    users = np.arange(a.n_users, dtype=np.int32)
    items = np.arange(a.n_items, dtype=np.int32)
    pairs_u, pairs_i = np.repeat(users[:10], 5), np.tile(items[:5], 10)
    np.testing.assert_array_equal(a.predict(pairs_u, pairs_i), b.predict(pairs_u, pairs_i))
    for x, y in zip(a.recommend(users, 7), b.recommend(users, 7)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.recommend(users[:5], 4, exclude_seen=False, items=items[::2]),
                    b.recommend(users[:5], 4, exclude_seen=False, items=items[::2])):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.similar_items(items[:6], 3), b.similar_items(items[:6], 3)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.similar_users(users[:6], 3), b.similar_users(users[:6], 3)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("ids", ["int", "str", "mixed"])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_is_exact(factory, rng, tmp_path, ids, compress):
    model = factory().fit(_interactions(rng, ids))
    model.recommend([0, 1], 3)  # builds the KNN operand cache, which is not saved
    path = tmp_path / "model.npz"
    model.save(path, compress=compress)
    loaded = turborec.load(path)
    _assert_same_state(model, loaded)
    _assert_same_outputs(model, loaded)
    if isinstance(model, turborec.MatrixFactorization):
        assert loaded.history_ == model.history_ and len(loaded.history_) == model.epochs
    if isinstance(model, turborec.ItemKNN):
        a, b = model.explain(3, 4), loaded.explain(3, 4)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_round_trip_bare_matrix_and_str_path(factory, rng, tmp_path):
    R = sp.random(20, 15, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    R.data = np.ceil(R.data * 5)
    model = factory().fit(R)
    path = str(tmp_path / "no-extension")
    model.save(path)
    assert (tmp_path / "no-extension").is_file()  # used as given: numpy would have added .npz
    loaded = turborec.load(path)
    assert loaded.user_ids_ is None and loaded.item_ids_ is None
    _assert_same_state(model, loaded)
    _assert_same_outputs(model, loaded)


def test_mf_after_fold_in(tmp_path, rng):
    data = _interactions(rng, "int")
    model = turborec.MatrixFactorization(factors=4, epochs=2, seed=3).fit(data)
    model.partial_fit_users([40], sp.csr_matrix(np.eye(1, 30, 2, dtype=np.float32) * 4))
    model.save(tmp_path / "m.npz")
    loaded = turborec.load(tmp_path / "m.npz")
    assert loaded.n_users == 41
    np.testing.assert_array_equal(loaded.recalculate_user(([1, 2], [3.0, 4.0]))[0],
                                  model.recalculate_user(([1, 2], [3.0, 4.0]))[0])
    _assert_same_outputs(model, loaded)


def test_metadata(tmp_path, rng):
    model = turborec.ItemKNN(k=3).fit(_interactions(rng, "str"))
    model.save(tmp_path / "m.npz")
    meta = persistence.info(tmp_path / "m.npz")
    assert meta["format"] == "turborec-model" and meta["format_version"] == persistence.FORMAT_VERSION == 1
    assert meta["class"] == "ItemKNN" and meta["params"] == model.get_params()
    assert meta["turborec_version"] == turborec.__version__
    assert (meta["n_users"], meta["n_items"], meta["nnz"]) == (40, 30, 400)
    assert meta["ids"]["user_ids_"] == {"kind": "str"}
    assert meta["arrays"]["user_ids_"]["dtype"].startswith("<U")
    assert "T" in meta["created"] and meta["file_bytes"] > 0
    with zipfile.ZipFile(tmp_path / "m.npz") as zf:
        members = {n[:-4] for n in zf.namelist()}
    assert members == set(meta["arrays"]) | {"__metadata__"}


def test_no_pickle_needed_and_object_arrays_refused(tmp_path, rng, monkeypatch):
    model = turborec.UserKNN(k=3).fit(_interactions(rng, "mixed"))
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:  # every member loads without pickle
        assert all(npz[name].dtype != object for name in npz.files)
    # A file whose member is an object array (pickle inside) is refused, never unpickled.
    with np.load(path) as npz:
        members = {name: npz[name] for name in npz.files}
    members["user_mean_"] = np.array([object()] * 2, dtype=object)
    evil = tmp_path / "evil.npz"
    np.savez(evil, **members)
    loads = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: loads.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(ValueError, match="object \\(pickled\\) array 'user_mean_'"):
        turborec.load(evil)
    assert not loads


def test_pickle(factory, rng):
    model = factory().fit(_interactions(rng, "str"))
    model.recommend([0], 3)  # KNN: caches a C++ operand, which cannot be pickled
    copy = pickle.loads(pickle.dumps(model))
    _assert_same_state(model, copy)
    _assert_same_outputs(model, copy)
    assert model.recommend([0], 3)[0].shape == (1, 3)  # the original keeps working
    unfitted = pickle.loads(pickle.dumps(factory()))
    assert not unfitted.is_fitted and unfitted.get_params() == factory().get_params()


# ---- bad files ----------------------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path, rng):
    path = tmp_path / "model.npz"
    turborec.MatrixFactorization(factors=4, epochs=1, seed=0).fit(_interactions(rng, "int")).save(path)
    return path


def _rewrite(src, dst, change):
    """Copy a model file, letting change(members, meta) edit it."""
    with np.load(src) as npz:
        members = {name: npz[name] for name in npz.files}
    meta = json.loads(members.pop("__metadata__").tobytes())
    change(members, meta)
    np.savez(dst, __metadata__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **members)
    return dst


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        turborec.load(tmp_path / "nope.npz")


def test_truncated(saved, tmp_path):
    raw = saved.read_bytes()
    half = tmp_path / "half.npz"
    half.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="half.npz.*corrupt or truncated"):
        turborec.load(half)


def test_corrupt(saved, tmp_path):
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("_P.npy")
    start = info.header_offset + 30 + len(info.filename) + 200  # inside _P's stored bytes
    raw[start:start + 16] = bytes(16)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="bad.npz.*corrupt"):
        turborec.load(bad)


def test_not_a_zip(tmp_path):
    for content in (b"user,item,rating\n1,2,3\n", b"", np.lib.format.magic(1, 0)):
        path = tmp_path / "x.npz"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="x.npz' is not a turborec model file .*not an .npz"):
            turborec.load(path)
    with pytest.raises(ValueError, match="is a directory"):
        turborec.load(tmp_path)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="foreign.npz' is not a turborec model file"):
        turborec.load(path)
    np.savez(path, __metadata__=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match="not a turborec model file"):
        turborec.load(path)
    np.savez(path, __metadata__=np.frombuffer(b"\xff not json", np.uint8))
    with pytest.raises(ValueError, match="not a turborec model file .*JSON"):
        turborec.load(path)


def test_newer_version(saved, tmp_path):
    newer = _rewrite(saved, tmp_path / "newer.npz", lambda m, meta: meta.update(format_version=2))
    with pytest.raises(ValueError, match="newer turborec .*format version 2.*upgrade turborec"):
        turborec.load(newer)


def test_unknown_class(saved, tmp_path):
    other = _rewrite(saved, tmp_path / "other.npz", lambda m, meta: meta.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="unknown class 'os.system'"):
        turborec.load(other)


def test_missing_array(saved, tmp_path):
    partial = _rewrite(saved, tmp_path / "partial.npz", lambda m, meta: m.pop("_Q"))
    with pytest.raises(ValueError, match="partial.npz' is incomplete: missing array.*_Q"):
        turborec.load(partial)

    def drop_everywhere(members, meta):
        members.pop("_Q")
        del meta["arrays"]["_Q"], meta["attributes"]["_Q"]

    partial = _rewrite(saved, tmp_path / "partial2.npz", drop_everywhere)
    with pytest.raises(ValueError, match="incomplete: MatrixFactorization needs fitted attribute.*_Q"):
        turborec.load(partial)


def test_inconsistent_arrays(saved, tmp_path):
    def shrink(members, meta):
        members["_P"] = members["_P"][:-1]
        meta["arrays"]["_P"]["shape"][0] -= 1

    bad = _rewrite(saved, tmp_path / "bad.npz", shrink)
    with pytest.raises(ValueError, match="inconsistent: _P is a float32 array of shape"):
        turborec.load(bad)

    def break_csr(members, meta):
        members["user_items_.indices"] = members["user_items_.indices"] + 1000

    bad = _rewrite(saved, tmp_path / "bad2.npz", break_csr)
    with pytest.raises(ValueError, match="'user_items_' is not a valid 40 x 30 CSR matrix"):
        turborec.load(bad)

    def lie(members, meta):
        meta["arrays"]["_Q"]["dtype"] = "<f8"

    bad = _rewrite(saved, tmp_path / "bad3.npz", lie)
    with pytest.raises(ValueError, match="array '_Q' has shape"):
        turborec.load(bad)


def test_save_errors(tmp_path, rng):
    with pytest.raises(turborec.NotFittedError):
        turborec.ItemKNN().save(tmp_path / "m.npz")
    model = turborec.ItemKNN(k=2).fit(_interactions(rng, "int"))
    with pytest.raises(TypeError, match="path must be a str"):
        model.save(3)
    with pytest.raises(TypeError, match="compress must be a bool"):
        model.save(tmp_path / "m.npz", compress="yes")
    model.metric = object()  # a parameter JSON cannot hold
    with pytest.raises(TypeError, match="cannot save the parameters of ItemKNN"):
        model.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
    with pytest.raises(TypeError, match="one of turborec's models"):
        persistence.save(object(), tmp_path / "m.npz")


# ---- bytes and file objects -------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: turborec.MatrixFactorization(factors=4, epochs=2, seed=1),
                                  lambda: turborec.ItemKNN(k=5), lambda: turborec.UserKNN(k=5),
                                  lambda: turborec.Popularity()])
def test_bytes_and_file_objects_round_trip(make, tmp_path):
    import io

    data = turborec.synthetic(40, 30, 500, seed=2)
    model = make().fit(data)
    blob = model.to_bytes()
    assert isinstance(blob, bytes) and blob[:2] == b"PK"
    for source in (blob, bytearray(blob), memoryview(blob), io.BytesIO(blob)):
        again = turborec.load(source)
        _assert_same_state(model, again)
    path = tmp_path / "m.npz"
    model.save(path)
    assert path.read_bytes() != b"" and turborec.load(path.read_bytes()).n_items == model.n_items
    with open(path, "rb") as f:  # a file object, read from its position, left open
        _assert_same_state(model, turborec.load(f))
        assert not f.closed
    buf = io.BytesIO(b"junk-before")
    buf.seek(len(b"junk-before"))
    model.save(buf)
    buf.seek(len(b"junk-before"))
    _assert_same_state(model, turborec.load(buf))


def test_bad_bytes_and_sources_are_refused():
    import io

    with pytest.raises(ValueError, match="<bytes>' is not a turborec model file"):
        turborec.load(b"not a zip")
    blob = turborec.Popularity().fit(turborec.synthetic(10, 10, 50, seed=0)).to_bytes()
    with pytest.raises(ValueError, match="<bytes>' is corrupt or truncated"):
        turborec.load(blob[: len(blob) // 2])
    with pytest.raises(TypeError, match="source must be a path, bytes or a binary file object"):
        turborec.load(3.5)
    with pytest.raises(TypeError, match="binary mode"):
        turborec.load(io.StringIO("text"))
    with pytest.raises(TypeError, match="data must be bytes"):
        turborec.persistence.loads("text")


def test_save_into_a_missing_folder_names_the_path(tmp_path):
    model = turborec.Popularity().fit(turborec.synthetic(10, 10, 50, seed=0))
    target = tmp_path / "nope" / "m.npz"
    with pytest.raises(FileNotFoundError, match="folder .*nope.* does not exist") as err:
        model.save(target)
    assert ".tmp-" not in str(err.value)
