"""Fuzzing of every file reader (issue 11): CSV, Parquet, SQLite tables and model files.

Valid files are truncated, bit-flipped, or crafted to look valid (npz members with NaN, the wrong
length or dtype); each read must either succeed or raise ValueError / TypeError / FileNotFoundError /
KeyError whose message names the file (the documented errors), never crash or leak another
exception type. CI runs a fixed, bounded budget; a longer local run:

    TURBOREC_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_readers.py -p no:cacheprovider
"""

from __future__ import annotations

import io
import os
import sqlite3
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turborec
from turborec import Interactions

EXAMPLES = int(os.environ.get("TURBOREC_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DOCUMENTED = (ValueError, TypeError, FileNotFoundError, KeyError)


def _mutate(raw: bytes, data) -> bytes:
    """Truncate, flip bits, splice bytes, or any mix of them."""
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        how = data.draw(st.sampled_from(["truncate", "flip", "insert", "zero"]), label="how")
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        if how == "truncate":
            del raw[at:]
        elif how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif how == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        else:
            raw[at:at + 16] = bytes(len(raw[at:at + 16]))
    return bytes(raw)


def _check(call, path):
    try:
        call()
    except DOCUMENTED as err:
        assert os.path.basename(str(path)) in str(err), f"{type(err).__name__} does not name the file: {err}"


def _ratings():
    return Interactions.from_arrays([1, 1, 2, 3, 3, 4], [10, 11, 10, 12, 11, 10], [4.0, 3.5, 5.0, 1.0, 2.0, 3.0])


# ---- CSV -----------------------------------------------------------------------------------------------

CSV = b"user_id,item_id,rating,timestamp\n1,10,4.0,100\n1,11,3.5,101\n2,10,5.0,102\n3,12,1.0,103\n"


@FUZZ
@given(data=st.data())
def test_csv_reader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "fuzzed.csv"
    path.write_bytes(_mutate(CSV, data) if data.draw(st.booleans()) else data.draw(st.binary(max_size=64)))
    _check(lambda: Interactions.from_csv(path, rating="rating", timestamp="timestamp"), path)


# ---- Parquet ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path_factory.mktemp("pq") / "ok.parquet"
    pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 11, 10, 12], "rating": [4.0, 3.5, 5.0, 1.0]}).to_parquet(path)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_parquet_reader(tmp_path_factory, parquet_bytes, data):
    path = tmp_path_factory.mktemp("pq") / "fuzzed.parquet"
    path.write_bytes(_mutate(parquet_bytes, data))
    _check(lambda: Interactions.from_parquet(path, rating="rating"), path)


# ---- SQLite ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sqlite_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "ok.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE ratings (user_id INT, item_id INT, rating REAL)")
        con.executemany("INSERT INTO ratings VALUES (?, ?, ?)", [(1, 10, 4.0), (1, 11, 3.5), (2, 10, 5.0)])
    con.close()
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_sqlite_reader(tmp_path_factory, sqlite_bytes, data):
    path = tmp_path_factory.mktemp("db") / "fuzzed.db"
    path.write_bytes(_mutate(sqlite_bytes, data))
    _check(lambda: Interactions.from_sql("ratings", path, rating="rating"), path)


# ---- model files -----------------------------------------------------------------------------------------

MODEL_KINDS = {
    "MatrixFactorization": lambda: turborec.MatrixFactorization(factors=4, epochs=1, seed=0),
    "ItemKNN": lambda: turborec.ItemKNN(k=3),
    "UserKNN": lambda: turborec.UserKNN(k=3),
    "Popularity": lambda: turborec.Popularity(),
}


@pytest.fixture(scope="module")
def model_files():
    return {name: make().fit(_ratings()).to_bytes() for name, make in MODEL_KINDS.items()}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(MODEL_KINDS)))
def test_model_file_bytes(tmp_path_factory, model_files, data, name):
    path = tmp_path_factory.mktemp("model") / "fuzzed.npz"
    path.write_bytes(_mutate(model_files[name], data))
    _check(lambda: turborec.load(path), path)


def _crafted(raw: bytes, data) -> bytes:
    """A well-formed npz whose members were changed: NaN/inf values, wrong lengths or dtypes."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        key = data.draw(st.sampled_from(sorted(k for k in arrays if k != "__turborec__")), label="member")
        a = arrays[key]
        how = data.draw(st.sampled_from(["nan", "inf", "shorter", "longer", "dtype", "negative", "huge"]),
                        label="how")
        if how in ("nan", "inf") and a.dtype.kind == "f" and a.size:
            a = a.copy()
            a.flat[data.draw(st.integers(0, a.size - 1))] = np.nan if how == "nan" else np.inf
        elif how == "shorter" and a.ndim and a.shape[0]:
            a = a[:-1]
        elif how == "longer" and a.ndim:
            a = np.concatenate([a, a[:1]])
        elif how == "dtype" and a.dtype.kind in "fiu":
            a = a.astype(np.float64 if a.dtype.kind != "f" else np.int64)
        elif how == "negative" and a.dtype.kind in "iu" and a.size:
            a = a.astype(np.int64) * -1 - 1
        elif how == "huge" and a.dtype.kind in "iu" and a.size:
            a = a.astype(np.int64) + 2**40
        arrays[key] = a
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(MODEL_KINDS)))
def test_model_file_crafted_members(tmp_path_factory, model_files, data, name):
    path = tmp_path_factory.mktemp("model") / "crafted.npz"
    path.write_bytes(_crafted(model_files[name], data))
    try:
        model = turborec.load(path)
    except DOCUMENTED as err:
        assert "crafted.npz" in str(err), f"{type(err).__name__} does not name the file: {err}"
        return
    # it loaded: then it is a model that answers (no NaN, no crash)
    n_users = model.n_users
    ids, scores = model.recommend(np.arange(n_users), 3)
    assert ids.shape[0] == n_users
    assert not np.isnan(scores).any()
