"""The service's raw-id convention on top of turborec.IdMap: a JSON string or integer names the same
id by its text form, whatever the model's id dtype; unknown ids are None / -1, never an error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("fastapi")

import turborec  # noqa: E402
from turborec.serve.state import find, find_many, model_map, raw_of, raws_of, with_new  # noqa: E402

QUERIES = [5, "5", "05", "a", "x", 10**30, "-", "", "5.0"]


@pytest.mark.parametrize("ids, want", [
    (["5", "6", "a"], [0, 0, None, 2, None, None, None, None, None]),
    ([5, 6, 7], [0, 0, None, None, None, None, None, None, None]),
    (np.array([5.0, 6.0]), [0, 0, None, None, None, None, None, None, None]),
    (np.array(["x", 5], dtype=object), [1, 1, None, None, 0, None, None, None, None]),
])
def test_text_form_lookup_one_and_many(ids, want):
    m = turborec.IdMap(ids, "user")
    assert [find(m, q) for q in QUERIES] == want
    assert find_many(m, QUERIES).tolist() == [-1 if w is None else w for w in want]
    assert find_many(m, []).tolist() == []


def test_new_ids_are_appended_once_and_keep_their_json_type():
    m = turborec.IdMap([5, 6, 7], "user")
    m2 = with_new(m, ["8", "alice", "5", "8"])
    assert len(m) == 3 and list(m2.ids) == [5, 6, 7, 8, "alice"]
    assert (find(m2, "alice"), find(m2, 8), find(m2, "8")) == (4, 3, 3)
    assert raws_of(m2, np.arange(5)) == [5, 6, 7, 8, "alice"] and raw_of(m2, 3) == 8
    assert with_new(m2, ["alice", 5]) is m2
    numeric = with_new(m, ["9", "10"])
    assert numeric.ids.dtype.kind == "i" and find(numeric, 10) == 4


def test_rows_without_raw_ids_are_named_null():
    d = turborec.synthetic(30, 20, 200, seed=2)
    data = turborec.Interactions(d.matrix, user_ids=[f"u{i}" for i in range(30)], item_ids=list(range(20)))
    model = turborec.MatrixFactorization(4, 2, seed=0, n_threads=1).fit(data)
    model.partial_fit_users([30], sp.csr_matrix(np.ones((1, 20), np.float32)))  # a row with no raw id
    users = model_map(model, "user")
    assert len(users) == 31 and raw_of(users, 30) is None and raws_of(users, [29, 30]) == ["u29", None]
    assert find(users, "u29") == 29 and find(users, 30) is None
    assert len(model_map(model, "item")) == 20 and find(model_map(model, "item"), "7") == 7
    bare = turborec.MatrixFactorization(4, 2, seed=0, n_threads=1).fit(d.matrix)
    assert find(model_map(bare, "user"), "12") == 12 and find(model_map(bare, "user"), 30) is None
