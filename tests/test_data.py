"""turborec.data.Interactions: every constructor, id mapping, duplicates, bad input, SQL round trips."""

from __future__ import annotations

import datetime
import os
import sqlite3
import uuid

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from turborec.data import Interactions


def entries(inter):
    """{(raw user, raw item): (value, timestamp or None)} of an Interactions."""
    df = inter.to_pandas()
    ts = df["timestamp"] if "timestamp" in df else [None] * len(df)
    return {(u, i): (float(r), None if t is None else t)
            for u, i, r, t in zip(df["user_id"], df["item_id"], df["rating"], ts)}


def assert_canonical(m):
    assert sp.isspmatrix_csr(m) and m.dtype == np.float32 and m.indices.dtype == np.int32
    for r in range(m.shape[0]):
        idx = m.indices[m.indptr[r]:m.indptr[r + 1]]
        assert np.all(np.diff(idx) > 0)


@pytest.fixture
def small_df():
    return pd.DataFrame({
        "user": ["u3", "u1", "u2", "u1", "u3"],
        "item": ["b", "a", "c", "c", "a"],
        "rating": [4.5, 3.0, 1.0, 5.0, 2.0],
        "ts": [50, 10, 30, 40, 20],
    })


# ---- MovieLens latest-small (the real file: CRLF line endings, half stars, sparse movie ids) -----

def test_movielens_from_csv(movielens):
    path = movielens / "ratings.csv"
    data = Interactions.from_csv(path, "userId", "movieId", "rating", "timestamp")
    assert (data.nnz, data.n_users, data.n_items) == (100836, 610, 9724)
    assert_canonical(data.matrix)
    assert data.timestamps.dtype == np.int64
    # The first data line is "1,1,4.0,964982703"; two more known rows.
    u, i = data.user_index(1), data.item_index(1)
    assert data.matrix[u, i] == 4.0 and data.timestamps[u, i] == 964982703
    assert data.matrix[data.user_index(2), data.item_index(1704)] == 4.5
    assert data.matrix[data.user_index(610), data.item_index(170875)] == 3.0
    assert np.any(data.matrix.data % 1 == 0.5)  # half stars survive
    # Everything matches an independent pandas read, entry by entry.
    ref = pd.read_csv(path)
    rows = data.user_index(ref["userId"].to_numpy())
    cols = data.item_index(ref["movieId"].to_numpy())
    np.testing.assert_array_equal(np.asarray(data.matrix[rows, cols]).ravel(), ref["rating"].to_numpy(np.float32))
    np.testing.assert_array_equal(np.asarray(data.timestamps[rows, cols]).ravel(),
                                  ref["timestamp"].to_numpy())
    np.testing.assert_array_equal(data.item_ids, np.sort(ref["movieId"].unique()))


def test_movielens_crlf_string_ids(movielens):
    data = Interactions.from_csv(movielens / "ratings.csv", "userId", "movieId", "rating", "timestamp",
                                 string_ids=True)
    assert data.user_ids.dtype == object and data.item_ids[0] == "1"
    assert not any("\r" in s for s in data.user_ids) and not any("\r" in s for s in data.item_ids)
    assert data.matrix[data.user_index("1"), data.item_index("1")] == 4.0


def test_crlf_last_column_string(tmp_path):
    p = tmp_path / "crlf.csv"
    p.write_bytes(b"rating,user,item\r\n4.0,u1,i1\r\n3.5,u2,i2\r\n")
    data = Interactions.from_csv(p, "user", "item", "rating")
    assert list(data.item_ids) == ["i1", "i2"]
    assert data.matrix[data.user_index("u2"), data.item_index("i2")] == 3.5


# ---- constructors and round trips ---------------------------------------------------------------

def test_from_pandas_sorted_dense_ids(small_df):
    data = Interactions.from_pandas(small_df, "user", "item", "rating", "ts")
    assert list(data.user_ids) == ["u1", "u2", "u3"] and list(data.item_ids) == ["a", "b", "c"]
    assert data.user_ids.dtype == object
    expected = np.array([[3.0, 0, 5.0], [0, 0, 1.0], [2.0, 4.5, 0]], dtype=np.float32)
    np.testing.assert_array_equal(data.matrix.toarray(), expected)
    np.testing.assert_array_equal(data.timestamps.toarray(), [[10, 0, 40], [0, 0, 30], [20, 50, 0]])
    assert_canonical(data.matrix)
    assert repr(data) == "Interactions(n_users=3, n_items=3, nnz=5, density=55.6%, timestamps=int64)"


def test_from_pandas_does_not_modify_input(small_df):
    before = small_df.copy(deep=True)
    Interactions.from_pandas(small_df, "user", "item", "rating", "ts", duplicates="sum")
    pd.testing.assert_frame_equal(small_df, before)


def test_round_trips_string_ids(tmp_path, small_df):
    data = Interactions.from_pandas(small_df, "user", "item", "rating", "ts")
    expected = entries(data)
    df = data.to_pandas()
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert entries(Interactions.from_pandas(df, rating="rating", timestamp="timestamp")) == expected
    # arrays
    again = Interactions.from_arrays(df["user_id"].tolist(), df["item_id"].to_numpy(), df["rating"].to_numpy(),
                                     df["timestamp"].to_numpy())
    assert entries(again) == expected
    # CSV (CRLF) and TSV
    csv = tmp_path / "x.csv"
    df.to_csv(csv, index=False, lineterminator="\r\n")
    assert entries(Interactions.from_csv(csv, rating="rating", timestamp="timestamp")) == expected
    tsv = tmp_path / "x.tsv"
    df.to_csv(tsv, index=False, sep="\t", header=False)
    assert entries(Interactions.from_csv(tsv, 0, 1, 2, 3, sep="\t", header=False)) == expected
    named = Interactions.from_csv(tsv, "u", "i", "r", "t", sep="\t", header=False, names=["u", "i", "r", "t"])
    assert entries(named) == expected
    # Parquet
    pq = tmp_path / "x.parquet"
    df.to_parquet(pq)
    assert entries(Interactions.from_parquet(pq, rating="rating", timestamp="timestamp")) == expected
    # from_matrix with the ids
    wrapped = Interactions.from_matrix(data.matrix, data.user_ids, data.item_ids, data.timestamps)
    assert entries(wrapped) == expected


def test_multichar_separator(tmp_path):
    p = tmp_path / "ratings.dat"
    p.write_text("1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n")
    data = Interactions.from_csv(p, 0, 1, 2, 3, sep="::", header=False)
    assert entries(data) == {(1, 10): (5.0, 978300760), (1, 20): (3.0, 978302109), (2, 10): (4.0, 978301968)}


def test_csv_without_pyarrow_falls_back_to_pandas(tmp_path, monkeypatch, small_df):
    import sys

    expected = entries(Interactions.from_pandas(small_df, "user", "item", "rating", "ts"))
    p = tmp_path / "x.csv"
    small_df.to_csv(p, index=False, lineterminator="\r\n")
    q = tmp_path / "x.dat"
    small_df.to_csv(q, index=False, header=False, sep="|")
    q.write_text(q.read_text().replace("|", "::"))
    z = tmp_path / "z.csv"
    z.write_text("user_id,item_id\n007,01\n7,1\n")
    monkeypatch.setitem(sys.modules, "pyarrow.csv", None)  # import pyarrow.csv now raises ImportError
    assert entries(Interactions.from_csv(p, "user", "item", "rating", "ts")) == expected
    assert entries(Interactions.from_csv(q, 0, 1, 2, 3, sep="::", header=False)) == expected
    assert sorted(Interactions.from_csv(z, string_ids=True).user_ids) == ["007", "7"]
    with pytest.raises(ValueError, match=r"rating='nope' is not a column of the file"):
        Interactions.from_csv(p, "user", "item", "nope")


def test_csv_mixed_ids_become_strings(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("user_id,item_id\n" + "1,1\n" * 3 + "abc,2\n")
    data = Interactions.from_csv(p, duplicates="sum")
    assert sorted(data.user_ids) == ["1", "abc"] and data.matrix.data.max() == 3


def test_string_ids_keep_leading_zeros(tmp_path):
    p = tmp_path / "z.csv"
    p.write_text("user_id,item_id\n007,01\n7,1\n")
    data = Interactions.from_csv(p, string_ids=True)
    assert sorted(data.user_ids) == ["007", "7"] and sorted(data.item_ids) == ["01", "1"]
    numeric = Interactions.from_csv(p, duplicates="sum")
    assert numeric.nnz == 1 and numeric.matrix.data[0] == 2.0  # as ints the two rows coincide


def test_implicit_and_numeric_ids():
    data = Interactions.from_arrays(np.array([30, 10, 20, 10]), np.array([5, 5, 7, 7]))
    assert list(data.user_ids) == [10, 20, 30] and data.user_ids.dtype == np.int64
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 1], [0, 1], [1, 0]])
    assert data.timestamps is None
    half = Interactions.from_arrays([1, 2], [1, 1], implicit_value=0.5)
    np.testing.assert_array_equal(half.matrix.data, [0.5, 0.5])


def test_mixed_type_ids_deterministic():
    a = Interactions.from_arrays(np.array([1, "a", 2, "b"], dtype=object), [0, 0, 0, 0])
    b = Interactions.from_arrays(np.array([1, "a", 2, "b"], dtype=object), [0, 0, 0, 0])
    assert list(a.user_ids) == list(b.user_ids)
    assert a.user_index("a") == b.user_index("a") and a.user_index(2) == b.user_index(2)


def test_datetime_timestamps_become_unix_seconds():
    t = pd.to_datetime(["2020-01-01T00:00:00", "2020-01-02T00:00:01.7"], format="ISO8601")
    data = Interactions.from_arrays([1, 2], [1, 1], [1.0, 2.0], t)
    np.testing.assert_array_equal(np.sort(data.timestamps.data), [1577836800, 1577923201])
    tz = pd.Series(t).dt.tz_localize("Europe/Paris")
    data = Interactions.from_arrays([1, 2], [1, 1], None, tz)
    np.testing.assert_array_equal(np.sort(data.timestamps.data), [1577833200, 1577919601])
    floats = Interactions.from_arrays([1, 2], [1, 1], None, [1.5, 2.5])
    assert floats.timestamps.dtype == np.float64


def test_nullable_extension_columns():
    df = pd.DataFrame({"user_id": pd.array([1, 2], dtype="Int64"), "item_id": ["a", "b"],
                       "r": pd.array([1.0, 2.0], dtype="Float64")})
    data = Interactions.from_pandas(df, rating="r")
    assert data.user_ids.dtype == np.int64 and list(data.item_ids) == ["a", "b"]
    df.loc[1, "r"] = pd.NA
    with pytest.raises(ValueError, match=r"rating column 'r' has a missing value \(NaN\) at row 1"):
        Interactions.from_pandas(df, rating="r")


def test_empty():
    data = Interactions.from_arrays(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert data.shape == (0, 0) and data.nnz == 0
    assert len(data.to_pandas()) == 0


# ---- duplicates -----------------------------------------------------------------------------------

@pytest.fixture
def dup_df():
    return pd.DataFrame({"user_id": ["a", "b", "a", "a", "b"], "item_id": ["x", "x", "y", "x", "x"],
                         "rating": [1.0, 2.0, 3.0, 4.0, 5.0], "t": [9, 2, 3, 4, 5]})


def test_duplicates_error_names_pair_and_rows(dup_df):
    with pytest.raises(ValueError, match=r"duplicate \(user column 'user_id', item column 'item_id'\) pair "
                                         r"\('a', 'x'\) at rows 0 and 3"):
        Interactions.from_pandas(dup_df, rating="rating")


def test_duplicates_policies(dup_df):
    last = Interactions.from_pandas(dup_df, rating="rating", timestamp="t", duplicates="last")
    assert entries(last) == {("a", "x"): (4.0, 4), ("a", "y"): (3.0, 3), ("b", "x"): (5.0, 5)}
    total = Interactions.from_pandas(dup_df, rating="rating", timestamp="t", duplicates="sum")
    assert entries(total) == {("a", "x"): (5.0, 9), ("a", "y"): (3.0, 3), ("b", "x"): (7.0, 5)}
    mean = Interactions.from_pandas(dup_df, rating="rating", duplicates="mean")
    assert entries(mean) == {("a", "x"): (2.5, None), ("a", "y"): (3.0, None), ("b", "x"): (3.5, None)}
    counts = Interactions.from_pandas(dup_df, duplicates="sum")
    assert entries(counts) == {("a", "x"): (2.0, None), ("a", "y"): (1.0, None), ("b", "x"): (2.0, None)}
    assert_canonical(total.matrix)


def test_duplicates_many_random(rng):
    u = rng.integers(0, 50, 5000)
    i = rng.integers(0, 40, 5000)
    r = rng.integers(1, 6, 5000).astype(float)
    df = pd.DataFrame({"u": u, "i": i, "r": r})
    got = Interactions.from_pandas(df, "u", "i", "r", duplicates="mean")
    ref = df.groupby(["u", "i"])["r"].mean()
    np.testing.assert_allclose(got.matrix[got.user_index(ref.index.get_level_values(0).to_numpy()),
                                          got.item_index(ref.index.get_level_values(1).to_numpy())].A1,
                               ref.to_numpy(), rtol=1e-6)
    last = Interactions.from_pandas(df, "u", "i", "r", duplicates="last")
    ref = df.groupby(["u", "i"])["r"].last()
    np.testing.assert_array_equal(last.matrix[last.user_index(ref.index.get_level_values(0).to_numpy()),
                                              last.item_index(ref.index.get_level_values(1).to_numpy())].A1,
                                  ref.to_numpy())
    assert last.nnz == len(ref)


# ---- bad input ------------------------------------------------------------------------------------

def test_nan_rating_names_row():
    with pytest.raises(ValueError, match=r"ratings has a missing value \(NaN\) at row 2"):
        Interactions.from_arrays([1, 2, 3], [1, 2, 3], [1.0, 2.0, np.nan])
    with pytest.raises(ValueError, match=r"non-finite value \(inf\) at row 0"):
        Interactions.from_arrays([1], [1], [np.inf])
    with pytest.raises(ValueError, match="outside the float32 range"):
        Interactions.from_arrays([1], [1], [1e300])


def test_nan_rating_in_csv_names_row(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("user_id,item_id,rating\n1,1,4.0\n1,2,\n")
    with pytest.raises(ValueError, match=r"rating column 'rating' has a missing value \(NaN\) at row 1"):
        Interactions.from_csv(p, rating="rating")


def test_missing_ids_rejected():
    with pytest.raises(ValueError, match=r"users has a missing id \(NaN/None\) at row 1"):
        Interactions.from_arrays([1.0, np.nan], [1, 2])
    with pytest.raises(ValueError, match=r"items has a missing id \(NaN/None\) at row 0"):
        Interactions.from_arrays(["a", "b"], [None, "x"])
    df = pd.DataFrame({"user_id": ["a", None], "item_id": [1, 2]})
    with pytest.raises(ValueError, match=r"user column 'user_id' has a missing id .* at row 1"):
        Interactions.from_pandas(df)


def test_bad_types_and_arguments(small_df):
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        Interactions.from_pandas({"user": [1]})
    with pytest.raises(ValueError, match=r"rating='nope' is not a column of df"):
        Interactions.from_pandas(small_df, "user", "item", "nope")
    with pytest.raises(TypeError, match="rating column 'user' must hold real numbers"):
        Interactions.from_pandas(small_df, "user", "item", "user")
    with pytest.raises(TypeError, match="ratings must hold real numbers"):
        Interactions.from_arrays([1], [1], [True])
    with pytest.raises(ValueError, match="duplicates must be one of"):
        Interactions.from_pandas(small_df, "user", "item", duplicates="first")
    with pytest.raises(TypeError, match="implicit_value must be a real number"):
        Interactions.from_arrays([1], [1], implicit_value="1")
    with pytest.raises(ValueError, match="users and items must have the same length"):
        Interactions.from_arrays([1, 2], [1])
    with pytest.raises(ValueError, match="ratings must have the same length"):
        Interactions.from_arrays([1, 2], [1, 2], [1.0])
    with pytest.raises(ValueError, match="users must be 1-d"):
        Interactions.from_arrays(np.ones((2, 2)), [1, 2])
    with pytest.raises(TypeError, match="timestamps must hold"):
        Interactions.from_arrays([1], [1], None, ["yesterday"])


def test_csv_bad_arguments(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        Interactions.from_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"user='user_id' is not a column of the file; its columns are \['a', 'b'\]"):
        Interactions.from_csv(p)
    with pytest.raises(ValueError, match="with header=False, pass column positions"):
        Interactions.from_csv(p, header=False)
    with pytest.raises(ValueError, match="user=5 is not a column position"):
        Interactions.from_csv(p, 5, 1, header=False)


# ---- id mapping -----------------------------------------------------------------------------------

def test_user_item_index(small_df):
    data = Interactions.from_pandas(small_df, "user", "item", "rating")
    assert data.user_index("u2") == 1 and isinstance(data.user_index("u2"), int)
    np.testing.assert_array_equal(data.item_index(["c", "a"]), [2, 0])
    np.testing.assert_array_equal(data.item_index(np.array(["c", "a"])), [2, 0])
    with pytest.raises(KeyError, match="unknown user id 'nobody'"):
        data.user_index("nobody")
    with pytest.raises(KeyError, match=r"unknown item id 'zz' \(2 of 3 ids are unknown\)"):
        data.item_index(["a", "zz", "yy"])
    np.testing.assert_array_equal(data.item_index(["a", "zz", "c"], missing=-1), [0, -1, 2])
    np.testing.assert_array_equal(data.item_index(["a", "zz", "c"], missing="ignore"), [0, 2])
    assert data.user_index("nobody", missing=-1) == -1
    with pytest.raises(ValueError, match="missing must be"):
        data.user_index("u1", missing="skip")


def test_numeric_index():
    data = Interactions.from_arrays([100, 5, 42], [1, 2, 3])
    np.testing.assert_array_equal(data.user_index([42, 5, 100]), [1, 0, 2])
    assert data.user_index(np.int32(42)) == 1
    with pytest.raises(KeyError, match="unknown user id 7"):
        data.user_index([5, 7])
    np.testing.assert_array_equal(data.user_index(["5", 5], missing=-1), [-1, 0])
    assert data.user_index("x", missing=-1) == -1
    assert data.item_index([], missing="error").size == 0


# ---- from_matrix / subset -------------------------------------------------------------------------

def test_from_matrix_canonicalises_on_a_copy():
    # Row 1 is unsorted and holds column 2 twice.
    values = np.array([1.0, 3.0, 1.0, 2.0], dtype=np.float32)
    indices = np.array([1, 2, 0, 2], dtype=np.int32)
    csr = sp.csr_matrix((values, indices, np.array([0, 1, 4], dtype=np.int32)), shape=(2, 3))
    data = Interactions.from_matrix(csr)
    assert data.matrix[1, 2] == 5.0 and data.nnz == 3
    np.testing.assert_array_equal(csr.indices, [1, 2, 0, 2])  # the caller's arrays untouched
    np.testing.assert_array_equal(csr.data, [1.0, 3.0, 1.0, 2.0])
    np.testing.assert_array_equal(data.user_ids, [0, 1])
    np.testing.assert_array_equal(data.item_ids, [0, 1, 2])
    assert_canonical(data.matrix)
    coo = Interactions.from_matrix(csr.tocoo())
    np.testing.assert_array_equal(coo.matrix.toarray(), data.matrix.toarray())


def test_from_matrix_checks_ids_and_timestamps():
    m = sp.csr_matrix(np.array([[1, 0], [2, 3]], dtype=np.float32))
    with pytest.raises(ValueError, match="user_ids must have 2 entries"):
        Interactions.from_matrix(m, user_ids=["a"])
    with pytest.raises(ValueError, match="item_ids must be unique"):
        Interactions.from_matrix(m, item_ids=["a", "a"])
    with pytest.raises(ValueError, match="item_ids must be unique"):
        Interactions.from_matrix(m, item_ids=[3, 3])
    with pytest.raises(TypeError, match="matrix must be a scipy.sparse matrix"):
        Interactions.from_matrix(np.ones((2, 2)))
    bad_ts = sp.csr_matrix(np.array([[1, 1], [2, 3]], dtype=np.int64))
    with pytest.raises(ValueError, match="timestamps must store exactly the same"):
        Interactions.from_matrix(m, timestamps=bad_ts)
    ts = sp.csr_matrix(np.array([[7, 0], [8, 9]], dtype=np.int32))
    data = Interactions.from_matrix(m, ["x", "y"], np.array(["p", "q"]), ts)
    assert data.timestamps.dtype == np.int64 and data.user_index("y") == 1 and data.item_ids.dtype == object
    assert entries(data) == {("x", "p"): (1.0, 7), ("y", "p"): (2.0, 8), ("y", "q"): (3.0, 9)}


def test_subset(small_df):
    data = Interactions.from_pandas(small_df, "user", "item", "rating", "ts")
    sub = data.subset(data.timestamps.data >= 30)
    assert sub.shape == data.shape and sub.user_ids is data.user_ids
    assert entries(sub) == {k: v for k, v in entries(data).items() if v[1] >= 30}
    assert entries(data.subset([0, 0, 4])) == entries(data.subset(np.isin(np.arange(5), [0, 4])))
    with pytest.raises(ValueError, match="boolean mask must have shape"):
        data.subset(np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="outside"):
        data.subset([5])


# ---- SQL ------------------------------------------------------------------------------------------

def _sql_data():
    df = pd.DataFrame({"u": ["alice", "bob", "alice", "carol"], "i": ["x", "x", "y", "z"],
                       "r": [4.5, 3.0, 1.0, 2.5], "t": [100, 200, 300, 400]})
    return Interactions.from_pandas(df, "u", "i", "r", "t")


def test_sqlite_round_trip_path_connection_and_url(tmp_path):
    data = _sql_data()
    db = tmp_path / "ratings.db"
    # Reserved words as column names: identifiers must be quoted.
    data.to_sql("ratings", db, user="user", item="order", rating="rating", timestamp="time")
    cols = dict(user="user", item="order", rating="rating", timestamp="time")
    assert entries(Interactions.from_sql("ratings", db, **cols)) == entries(data)
    assert entries(Interactions.from_sql("ratings", str(db), **cols)) == entries(data)
    with sqlite3.connect(db) as con:
        got = Interactions.from_sql('SELECT "user", "order", rating FROM ratings WHERE rating >= ?', con,
                                    "user", "order", "rating", params=(2.5,))
        assert entries(got) == {("alice", "x"): (4.5, None), ("bob", "x"): (3.0, None), ("carol", "z"): (2.5, None)}
        assert entries(Interactions.from_sql("main.ratings", con, **cols)) == entries(data)
    url = f"sqlite:///{db}"
    assert entries(Interactions.from_sql("ratings", url, **cols)) == entries(data)
    got = Interactions.from_sql('SELECT "user", "order" FROM ratings WHERE "time" > :t', url, "user", "order",
                                params={"t": 150})
    assert entries(got) == {("bob", "x"): (1.0, None), ("alice", "y"): (1.0, None), ("carol", "z"): (1.0, None)}
    # if_exists
    with pytest.raises(ValueError, match="already exists"):
        data.to_sql("ratings", db)
    data.to_sql("ratings", url, if_exists="append", user="user", item="order", rating="rating", timestamp="time")
    with pytest.raises(ValueError, match=r"duplicate .* pair \('alice', 'x'\)"):
        Interactions.from_sql("ratings", db, **cols)
    data.to_sql("ratings", db, if_exists="replace", user="user", item="order", rating="rating", timestamp=None)
    assert entries(Interactions.from_sql("ratings", db, "user", "order", "rating")) == {
        k: (v[0], None) for k, v in entries(data).items()}


def test_sql_table_name_is_quoted_not_formatted(tmp_path):
    db = tmp_path / "q.db"
    _sql_data().to_sql("Select", db)  # a keyword as a table name still works quoted
    assert Interactions.from_sql("Select", db, rating="rating").nnz == 4
    with sqlite3.connect(db) as con:  # not an identifier: treated as SQL, and it is not valid SQL
        with pytest.raises(Exception):
            Interactions.from_sql("Select; DROP TABLE x", con)
        assert con.execute('SELECT count(*) FROM "Select"').fetchone() == (4,)


def test_sql_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Interactions.from_sql("ratings", tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(TypeError, match="con must be"):
        Interactions.from_sql("ratings", 42)
    with pytest.raises(TypeError, match="query_or_table must be a non-empty str"):
        Interactions.from_sql("", tmp_path / "x.db")
    with pytest.raises(ValueError, match="if_exists must be"):
        _sql_data().to_sql("t", tmp_path / "x.db", if_exists="overwrite")
    db = tmp_path / "y.db"
    _sql_data().to_sql("t", db)
    with pytest.raises(ValueError, match=r"user='uid' is not a column of the query result"):
        Interactions.from_sql("SELECT * FROM t", db, user="uid")


POSTGRES_URL = os.environ.get("TURBOREC_TEST_POSTGRES_URL")


@pytest.mark.skipif(not POSTGRES_URL, reason="set TURBOREC_TEST_POSTGRES_URL (e.g. postgresql+psycopg://user@/db?"
                                             "host=/tmp/sock) to run the PostgreSQL round trip")
def test_postgres_round_trip():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    data = _sql_data()
    table = f"turborec_test_{uuid.uuid4().hex[:12]}"
    cols = dict(user="user", item="order", rating="rating", timestamp="time")  # reserved words
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        data.to_sql(table, POSTGRES_URL, **cols)
        assert entries(Interactions.from_sql(table, POSTGRES_URL, **cols)) == entries(data)
        assert entries(Interactions.from_sql(f"public.{table}", engine, **cols)) == entries(data)
        got = Interactions.from_sql(f'SELECT "user", "order", rating FROM {table} WHERE rating > :m', POSTGRES_URL,
                                    "user", "order", "rating", params={"m": 2.0})
        assert entries(got) == {("alice", "x"): (4.5, None), ("bob", "x"): (3.0, None), ("carol", "z"): (2.5, None)}
        data.to_sql(table, POSTGRES_URL, if_exists="replace")
        assert entries(Interactions.from_sql(table, POSTGRES_URL, rating="rating", timestamp="timestamp")) == \
            entries(data)
    finally:
        with engine.begin() as con:
            con.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def test_datetime_cutoff_helper_types():
    # Timestamps converted from datetimes are Unix seconds: the same value a datetime cutoff maps to.
    t = datetime.datetime(2021, 5, 1, tzinfo=datetime.timezone.utc)
    data = Interactions.from_arrays([1], [1], None, pd.to_datetime([t]))
    assert data.timestamps.data[0] == int(t.timestamp())
