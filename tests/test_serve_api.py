"""The HTTP service end to end: a real uvicorn subprocess, answers checked against the library."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import turborec  # noqa: E402
from serve_support import AUTH, Server, metric  # noqa: E402


@pytest.fixture(scope="module")
def mf_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_api")
    d = turborec.synthetic(300, 120, 4000, seed=3)
    data = turborec.Interactions(d.matrix, user_ids=[f"u{i}" for i in range(d.n_users)],
                                 item_ids=[f"i{i}" for i in range(d.n_items)])
    model = turborec.MatrixFactorization(16, 15, seed=0, n_threads=1).fit(data)
    path = root / "mf.npz"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def server(mf_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_api_db")
    db = root / "events.db"
    with Server(mf_file, f"sqlite:///{db}", root) as s:
        s.db = db
        yield s


@pytest.fixture(scope="module")
def http(server):
    with server.client() as c:
        yield c


def raw_items(model, ids):
    return [model.item_ids_[i] for i in ids if i >= 0]


def test_model_info_and_openapi(http, mf_file):
    info = http.get("/v1/model").json()
    assert info["class"] == "MatrixFactorization"
    assert (info["n_users"], info["n_items"]) == (300, 120)
    assert info["like_value"] == 5.0 and info["fold_in"] is True
    assert info["sample_users"][:2] == ["u0", "u1"]
    paths = http.get("/openapi.json").json()["paths"]
    for p in ("/v1/recommend", "/v1/recommend/batch", "/v1/feedback", "/v1/feedback/batch", "/v1/predict",
              "/v1/items/{item}/similar", "/v1/users/{user}/recommendations", "/v1/admin/reload"):
        assert p in paths
    assert http.get("/v1/ready").json()["ready"] is True


def test_recommend_matches_the_library(http, mf_file):
    model = turborec.load(mf_file)
    ids, scores = model.recommend([7], 6)
    got = http.get("/v1/users/u7/recommendations", params={"k": 6}).json()
    assert got["source"] == "model" and got["user"] == "u7"
    assert got["items"] == raw_items(model, ids[0])
    np.testing.assert_allclose(got["scores"], scores[0], rtol=1e-5, atol=1e-5)
    post = http.post("/v1/recommend", json={"user": "u7", "k": 6, "explain": True}).json()
    assert post["items"] == got["items"]
    assert len(post["reasons"]) == 6 and post["reasons"][0]["kind"] == "factors"
    # the top factor's contribution is the largest p_u[f] * q_i[f] of that item
    i0 = int(ids[0][0])
    contrib = model.user_factors[7] * model.item_factors[i0]
    assert post["reasons"][0]["factors"][0]["factor"] == int(np.argmax(contrib))


def test_exclude_seen_allow_and_deny(http, mf_file):
    model = turborec.load(mf_file)
    seen = set(raw_items(model, model.user_items_[11].indices))
    k = 20
    with_seen = http.post("/v1/recommend", json={"user": "u11", "k": k, "exclude_seen": False}).json()["items"]
    ids, _ = model.recommend([11], k, exclude_seen=False)
    assert with_seen == raw_items(model, ids[0])
    default = http.post("/v1/recommend", json={"user": "u11", "k": k}).json()["items"]
    assert not seen & set(default)
    allow = ["i3", "i4", "i5", "i6", "nope"]
    got = http.post("/v1/recommend", json={"user": "u11", "k": 3, "allow": allow}).json()["items"]
    ids, _ = model.recommend([11], 3, items=[3, 4, 5, 6])
    assert got == raw_items(model, ids[0])
    deny = default[:2]
    got = http.post("/v1/recommend", json={"user": "u11", "k": 5, "deny": deny}).json()["items"]
    assert got == default[2:7]


def test_batch_matches_single_requests(http):
    users = ["u1", "u2", "u40", "nobody-like-this", "u299"]
    batch = http.post("/v1/recommend/batch", json={"users": users, "k": 4}).json()["results"]
    assert [r["user"] for r in batch] == users
    for r in batch:
        one = http.post("/v1/recommend", json={"user": r["user"], "k": 4}).json()
        assert (r["items"], r["source"]) == (one["items"], one["source"])
    assert batch[3]["source"] == "popularity" and batch[3]["scores"] is None


def test_similar_items_and_predict(http, mf_file):
    model = turborec.load(mf_file)
    ids, scores = model.similar_items([9], 5)
    got = http.get("/v1/items/i9/similar", params={"k": 5}).json()
    assert got["items"] == raw_items(model, ids[0])
    np.testing.assert_allclose(got["scores"], scores[0], rtol=1e-5, atol=1e-5)
    pred = http.post("/v1/predict", json={"user": "u5", "items": ["i1", "i2", "i50"]}).json()["predictions"]
    np.testing.assert_allclose(pred, model.predict([5, 5, 5], [1, 2, 50]), rtol=1e-5)


def test_feedback_is_folded_in_like_partial_fit_users(http, mf_file):
    model = turborec.load(mf_file)
    u = 21
    before = http.get(f"/v1/users/u{u}/recommendations", params={"k": 8}).json()
    liked = before["items"][:2]
    r = http.post("/v1/feedback/batch", headers=AUTH, json={"events": [
        {"user": f"u{u}", "item": liked[0], "value": 5.0}, {"user": f"u{u}", "item": liked[1], "value": 1.0,
                                                             "type": "rating", "timestamp": 1.7e9}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acknowledged"] == 2 and body["folded"] is True
    after = http.get(f"/v1/users/u{u}/recommendations", params={"k": 8}).json()
    # the reference: the library's fold-in of the same row
    row = model.user_items_[u].tolil()
    row[0, int(liked[0][1:])] = 5.0
    row[0, int(liked[1][1:])] = 1.0
    model.partial_fit_users([u], sp.csr_matrix(row))
    ids, scores = model.recommend([u], 8)
    assert after["items"] == raw_items(model, ids[0])
    np.testing.assert_allclose(after["scores"], scores[0], rtol=1e-4, atol=1e-5)
    assert not set(liked) & set(after["items"])


def test_new_user_gets_recommendations_after_first_events(http, mf_file):
    cold = http.get("/v1/users/newcomer-1/recommendations", params={"k": 5}).json()
    assert cold["source"] == "popularity" and len(cold["items"]) == 5
    r = http.post("/v1/feedback", headers=AUTH, json={"user": "newcomer-1", "item": "i17", "value": 5})
    assert r.status_code == 200 and r.json()["folded"] is True
    warm = http.get("/v1/users/newcomer-1/recommendations", params={"k": 5}).json()
    assert warm["source"] == "model" and "i17" not in warm["items"]
    model = turborec.load(mf_file)
    n = model.n_users
    row = sp.csr_matrix((np.array([5.0], np.float32), ([0], [17])), shape=(1, model.n_items))
    model.partial_fit_users([n], row)
    ids, _ = model.recommend([n], 5)
    assert warm["items"] == raw_items(model, ids[0])


def test_unknown_items_are_stored_for_the_next_retrain(http, server):
    r = http.post("/v1/feedback", headers=AUTH, json={"user": "u3", "item": "brand-new-item", "value": 4})
    assert r.status_code == 200
    assert r.json()["results"][0]["item_known"] is False
    with sqlite3.connect(server.db) as conn:
        rows = conn.execute("SELECT user_id, value FROM turborec_events WHERE item_id = ?",
                            ("brand-new-item",)).fetchall()
    assert rows == [("u3", 4.0)]
    assert http.get("/v1/users/u3/recommendations").status_code == 200


def test_idempotency_keys_store_an_event_once(http, server):
    event = {"user": "u8", "item": "i8", "value": 3, "idempotency_key": "retry-me-1"}
    first = http.post("/v1/feedback", headers=AUTH, json=event).json()["results"][0]
    again = http.post("/v1/feedback", headers=AUTH, json=event).json()["results"][0]
    assert first["duplicate"] is False and again == {**first, "duplicate": True}
    batch = http.post("/v1/feedback/batch", headers=AUTH, json={"events": [
        {**event, "idempotency_key": "k-2"}, {**event, "idempotency_key": "k-2"}, event]}).json()["results"]
    assert [b["duplicate"] for b in batch] == [False, True, True]
    assert batch[0]["id"] == batch[1]["id"] and batch[2]["id"] == first["id"]
    with sqlite3.connect(server.db) as conn:
        n = conn.execute("SELECT COUNT(*) FROM turborec_events WHERE idempotency_key IN (?, ?)",
                         ("retry-me-1", "k-2")).fetchone()[0]
    assert n == 2


def test_cache_hits_and_invalidation_by_feedback(http):
    text = http.get("/metrics").text
    hits0 = metric(text, "turborec_cache_hits_total")
    a = http.get("/v1/users/u50/recommendations", params={"k": 7}).json()
    b = http.get("/v1/users/u50/recommendations", params={"k": 7}).json()
    assert a == b
    text = http.get("/metrics").text
    assert metric(text, "turborec_cache_hits_total") >= hits0 + 1
    assert 0 < metric(text, "turborec_cache_hit_rate") <= 1
    http.post("/v1/feedback", headers=AUTH, json={"user": "u50", "item": a["items"][0], "value": 5})
    c = http.get("/v1/users/u50/recommendations", params={"k": 7}).json()
    assert a["items"][0] not in c["items"]  # the cached answer was dropped


def test_metrics_report_requests_latency_model_and_events(http):
    http.get("/v1/users/u1/recommendations")
    text = http.get("/metrics").text
    assert metric(text, "turborec_requests_total", endpoint="/v1/users/{user}/recommendations", method="GET",
                  status="200") >= 1
    assert metric(text, "turborec_request_seconds_count", endpoint="/v1/users/{user}/recommendations") >= 1
    assert 'turborec_model_info{model_class="MatrixFactorization",version="mf.npz:' in text
    assert metric(text, "turborec_events_stored") >= 1
    assert metric(text, "turborec_fold_ins_total") >= 1
    assert metric(text, "turborec_events_acknowledged_total") >= 1


def test_the_readme_flow_serves_a_model_trained_by_the_cli(tmp_path):
    """README: ``turborec train ... --out model.npz`` then serve it; raw ids from the CSV work."""
    import subprocess
    import sys

    pd = pytest.importorskip("pandas")
    df = turborec.synthetic(80, 40, 900, seed=11).to_pandas()
    df.assign(user_id="user-" + df.user_id.astype(str)).to_csv(tmp_path / "ratings.csv", index=False)
    r = subprocess.run([sys.executable, "-m", "turborec", "train", "--data", str(tmp_path / "ratings.csv"), "--model",
                        "mf", "--out", str(tmp_path / "model.npz")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert pd is not None
    with Server(tmp_path / "model.npz", f"sqlite:///{tmp_path / 'events.db'}", tmp_path) as s, s.client() as c:
        got = c.get("/v1/users/user-3/recommendations", params={"k": 5}).json()
        assert got["source"] == "model" and len(got["items"]) == 5 and got["user"] == "user-3"
        assert "<h1>turborec</h1>" in c.get("/").text
