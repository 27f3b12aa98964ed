"""turborec.IdMap against a dict reference, and the id maps a model carries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import turborec
from turborec import IdMap
from turborec.data.idmap import _query_array


@settings(max_examples=60, deadline=None)
@given(ids=st.one_of(st.lists(st.integers(-10**12, 10**12), unique=True, max_size=40),
                     st.lists(st.text(max_size=4), unique=True, max_size=40)),
       queries=st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=2)), max_size=20))
def test_index_matches_a_dict(ids, queries):
    m = IdMap(ids, "user")
    ref = {v: i for i, v in enumerate(ids)}
    assert len(m) == len(ids)
    # Queries of the map's own type (mixing types in one query array is not an id lookup).
    same_type = [q for q in queries if isinstance(q, type(ids[0]))] if ids else []
    got = m.index(same_type, missing=-1) if same_type else np.empty(0, np.int64)
    assert list(got) == [ref.get(q, -1) for q in same_type]
    for q in same_type:
        assert (q in m) == (q in ref)
    if ids:
        dense = np.arange(len(ids))[::-1]
        assert list(m.raw(dense)) == [ids[i] for i in dense]
        assert m.index(ids[-1]) == len(ids) - 1 and isinstance(m.index(ids[-1]), int)


@settings(max_examples=80, deadline=None)
@given(ids=st.one_of(st.lists(st.integers(-10**12, 10**12), unique=True, max_size=30),
                     st.lists(st.floats(allow_nan=False, width=32), unique=True, max_size=30),
                     st.lists(st.text(max_size=3), unique=True, max_size=30)),
       queries=st.lists(st.one_of(st.integers(-3, 3), st.integers(2**63, 2**70), st.floats(width=32), st.text(max_size=2),
                                  st.booleans(), st.none()), max_size=15))
def test_one_id_lookup_agrees_with_the_array_lookup(ids, queries):
    """The scalar fast path (one id per service request) answers exactly as the vectorised one,
    for ids of another type, NaN, None, bools and ints beyond int64 included."""
    m = IdMap(ids, "user")
    for q in queries + ids[:3]:
        expected = int(m._lookup(_query_array(q)[0])[0])
        assert m._lookup_one(q) == expected, q
        assert (q in m) == (expected >= 0)
        assert m.index(q, missing=-1) == expected


def test_unknown_ids_are_reported_not_dropped():
    m = IdMap(["a", "b", "c"], "item")
    with pytest.raises(KeyError, match=r"unknown item id 'zz' \(2 of 3 ids are unknown\)"):
        m.index(["a", "zz", "yy"])
    assert list(m.index(["a", "zz", "c"], missing=-1)) == [0, -1, 2]
    assert list(m.index(["a", "zz", "c"], missing="ignore")) == [0, 2]
    assert list(m.unknown(["a", "zz", "c", "q"])) == ["zz", "q"]
    with pytest.raises(ValueError, match="missing must be"):
        m.index("a", missing="skip")


def test_bad_ids_raise():
    with pytest.raises(ValueError, match="must be unique"):
        IdMap([1, 2, 1])
    with pytest.raises(ValueError, match="NaN"):
        IdMap([1.0, float("nan")])
    with pytest.raises(ValueError, match="missing id"):
        IdMap(np.array(["a", None], dtype=object))
    m = IdMap([10, 20])
    with pytest.raises(IndexError, match="outside"):
        m.raw([2])
    with pytest.raises(IndexError, match="outside"):
        m.raw([-1])
    with pytest.raises(TypeError, match="integers"):
        m.raw([0.5])


def test_raw_padded_and_index_text():
    m = IdMap([7, 11, 13], "user")
    assert m.raw_padded(np.array([[2, -1], [0, 1]])).tolist() == [[13, None], [7, 11]]
    assert m.index_text("11") == 1
    s = IdMap(["007", "x"], "user")
    assert s.index_text("007") == 0 and s.index_text("x") == 1  # strings stay strings: no leading-zero loss
    with pytest.raises(KeyError, match="'99' is not known"):
        m.index_text("99")
    with pytest.raises(TypeError):
        m.index_text(11)


def test_extend_returns_a_new_map():
    m = IdMap([5, 3], "user")
    bigger = m.extend([9, 1])
    assert list(bigger.ids) == [5, 3, 9, 1] and len(m) == 2
    assert bigger.index(1) == 3 and bigger.index(5) == 0
    with pytest.raises(ValueError, match="already in the map"):
        m.extend([3])
    with pytest.raises(ValueError, match="unique"):
        m.extend([8, 8])
    assert m.extend([]) is m


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(-50, 50), unique=True, max_size=30), new=st.lists(st.integers(-80, 80), unique=True,
                                                                                  max_size=10))
def test_extend_merges_like_a_fresh_map(ids, new):
    new = [v for v in new if v not in ids]
    m = IdMap(np.asarray(ids, dtype=np.int64), "user").extend(np.asarray(new, dtype=np.int64))
    fresh = IdMap(np.asarray(ids + new, dtype=np.int64), "user")
    assert list(m.ids) == ids + new and not m.ids.flags.writeable
    probe = np.arange(-90, 91)
    assert np.array_equal(m.index(probe, missing=-1), fresh.index(probe, missing=-1))


def test_ids_are_read_only_and_copied():
    raw = np.array([4, 2, 9])
    m = IdMap(raw)
    raw[0] = 100
    assert m.ids[0] == 4
    with pytest.raises(ValueError):
        m.ids[0] = 1


def test_models_share_the_interactions_maps():
    data = turborec.Interactions.from_arrays(["u2", "u1", "u3", "u1"], ["b", "a", "a", "c"], [4.0, 3.0, 5.0, 1.0])
    model = turborec.ItemKNN(k=2).fit(data)
    assert model.user_map_ is data.user_map and model.item_ids_.tolist() == ["a", "b", "c"]
    assert model.user_index("u3") == 2 and list(model.item_index(["c", "a"])) == [2, 0]
    with pytest.raises(KeyError, match="unknown user id 'nobody'"):
        model.user_index("nobody")
    bare = turborec.ItemKNN(k=2).fit(data.matrix)
    assert bare.user_ids_ is None and bare.user_index(1) == 1
    with pytest.raises(KeyError):
        bare.user_index(7)


def test_fold_in_names_new_users():
    data = turborec.Interactions.from_arrays(["u1", "u2", "u2"], ["a", "a", "b"], [4.0, 3.0, 5.0])
    mf = turborec.MatrixFactorization(factors=2, epochs=2, seed=0).fit(data)
    row = sp.csr_matrix(([5.0], ([0], [data.item_index("b")])), shape=(1, data.n_items), dtype=np.float32)
    mf.partial_fit_users([2], row, user_ids=["new"])
    assert mf.n_users == 3 and mf.user_index("new") == 2 and data.user_map.index("u1", missing=-1) == 0
    with pytest.raises(ValueError, match="user_ids must name"):
        mf.partial_fit_users([3, 4], sp.vstack([row, row]), user_ids=["only-one"])
    with pytest.raises(ValueError, match="already in the map"):
        mf.partial_fit_users([3], row, user_ids=["u1"])
