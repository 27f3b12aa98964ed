"""Bad input and trust: every malformed request gets a 4xx JSON error naming the problem, never a
5xx; write/admin endpoints need the bearer token; the token never reaches the logs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import turborec  # noqa: E402
from serve_support import AUTH, TOKEN, Server  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_errors")
    d = turborec.synthetic(120, 60, 1500, seed=4)
    path = root / "mf.npz"
    turborec.MatrixFactorization(8, 5, seed=0, n_threads=1).fit(d).save(path)
    (root / "junk.npz").write_bytes(b"this is not a model")
    return path


@pytest.fixture(scope="module")
def strict(model_file, tmp_path_factory):
    """Reads need the token, unknown users are an error, small limits."""
    root = tmp_path_factory.mktemp("serve_errors_strict")
    with Server(model_file, f"sqlite:///{root / 'ev.db'}", root, "--protect-reads", "--cold-start", "error",
                "--max-k", "50", "--max-batch", "20", "--max-body-bytes", "65536") as s:
        with s.client(headers=AUTH) as c:
            s.http = c
            yield s


def error_of(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in r.text
    return body["error"]


def raw(c, method, path, content, content_type="application/json"):
    return c.request(method, path, content=content, headers={"Content-Type": content_type})


MALFORMED = [
    # (method, path, body (object -> JSON, bytes -> sent as is), status, code)
    ("POST", "/v1/recommend", b'{"user": "1", ', 400, "bad_json"),
    ("POST", "/v1/recommend", b"\xff\xfe not json", 400, "bad_json"),
    ("POST", "/v1/recommend", [], 422, "invalid_request"),
    ("POST", "/v1/recommend", "a string", 422, "invalid_request"),
    ("POST", "/v1/recommend", {}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1.5}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": True}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": [1]}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": ""}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": "x" * 300}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1, "k": "ten"}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1, "k": 2.5}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1, "k": 0}, 422, "invalid_k"),
    ("POST", "/v1/recommend", {"user": 1, "k": -3}, 422, "invalid_k"),
    ("POST", "/v1/recommend", {"user": 1, "k": 51}, 422, "invalid_k"),
    ("POST", "/v1/recommend", {"user": 1, "k": 10**30}, 422, None),
    ("POST", "/v1/recommend", {"user": 1, "exclude_seen": "maybe"}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1, "allow": "i1"}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": 1, "unexpected": 1}, 422, "invalid_request"),
    ("POST", "/v1/recommend", {"user": "no-such-user"}, 404, "unknown_user"),
    ("GET", "/v1/users/1/recommendations?k=abc", None, 422, "invalid_request"),
    ("GET", "/v1/users/1/recommendations?k=0", None, 422, "invalid_k"),
    ("GET", "/v1/users/1/recommendations?k=1000", None, 422, "invalid_k"),
    ("GET", "/v1/users/nobody/recommendations", None, 404, "unknown_user"),
    ("POST", "/v1/recommend/batch", {"users": []}, 422, "empty_batch"),
    ("POST", "/v1/recommend/batch", {"users": list(range(21))}, 413, "batch_too_large"),
    ("POST", "/v1/recommend/batch", {"users": [1, None]}, 422, "invalid_request"),
    ("POST", "/v1/recommend/batch", {"users": [1], "k": 0}, 422, "invalid_k"),
    ("POST", "/v1/predict", {"user": 1, "items": []}, 422, "empty_items"),
    ("POST", "/v1/predict", {"user": 1, "items": [1, "nope"]}, 404, "unknown_item"),
    ("POST", "/v1/predict", {"user": "nope", "items": [1]}, 404, "unknown_user"),
    ("GET", "/v1/items/nope/similar", None, 404, "unknown_item"),
    ("GET", "/v1/items/1/similar?k=0", None, 422, "invalid_k"),
    ("POST", "/v1/feedback", {"user": 1}, 422, "invalid_request"),
    ("POST", "/v1/feedback", {"user": 1, "item": 2, "value": "high"}, 422, "invalid_request"),
    ("POST", "/v1/feedback", b'{"user": 1, "item": 2, "value": NaN}', 422, "invalid_request"),
    ("POST", "/v1/feedback", b'{"user": 1, "item": 2, "value": Infinity}', 422, "invalid_request"),
    ("POST", "/v1/feedback", {"user": 1, "item": 2, "timestamp": "yesterday"}, 422, "invalid_request"),
    ("POST", "/v1/feedback", {"user": 1, "item": 2, "type": ""}, 422, "invalid_request"),
    ("POST", "/v1/feedback", {"user": 1, "item": 2, "idempotency_key": "k" * 300}, 422, "invalid_request"),
    ("POST", "/v1/feedback/batch", {"events": []}, 422, "empty_batch"),
    ("POST", "/v1/feedback/batch", {"events": [{"user": 1, "item": 2}] * 21}, 413, "batch_too_large"),
    ("POST", "/v1/feedback/batch", {"events": {"user": 1}}, 422, "invalid_request"),
    ("POST", "/v1/admin/reload", {"path": "/no/such/model.npz"}, 422, "cannot_load_model"),
    ("POST", "/v1/admin/reload", {"path": 5}, 422, "invalid_request"),
    ("GET", "/v1/no-such-endpoint", None, 404, "not_found"),
    ("DELETE", "/v1/recommend", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize("method, path, body, status, code", MALFORMED, ids=[f"{m} {p} {b!r}"[:60] for m, p, b, *_ in
                                                                            MALFORMED])
def test_malformed_requests_get_a_4xx_json_error(strict, method, path, body, status, code):
    c = strict.http
    if isinstance(body, bytes):
        r = raw(c, method, path, body)
    elif body is None:
        r = c.request(method, path)
    else:
        r = c.request(method, path, json=body)
    error_of(r, status, code)


def test_error_messages_say_what_is_wrong(strict):
    err = error_of(strict.http.post("/v1/recommend", json={"user": 1, "k": 51}), 422, "invalid_k")
    assert "50" in err["message"]
    err = error_of(strict.http.post("/v1/recommend", json={"user": 1, "k": "ten"}), 422)
    assert any(d["loc"] == ["body", "k"] for d in err["details"])


def test_reload_of_a_file_that_is_not_a_model_keeps_the_model(strict, model_file):
    before = strict.http.get("/v1/model").json()["version"]
    error_of(strict.http.post("/v1/admin/reload", json={"path": str(model_file.parent / "junk.npz")}), 422,
             "cannot_load_model")
    assert strict.http.get("/v1/model").json()["version"] == before
    assert strict.http.post("/v1/recommend", json={"user": 1}).status_code == 200


def test_oversized_bodies_are_refused(strict):
    big = json.dumps({"events": [{"user": 1, "item": 2, "type": "x" * 60}] * 1000}).encode()
    error_of(raw(strict.http, "POST", "/v1/feedback/batch", big), 413, "body_too_large")

    def chunks():  # no Content-Length: the limit is counted as the body streams in
        for _ in range(100):
            yield b" " * 1024

    r = strict.http.post("/v1/feedback/batch", content=chunks(), headers={"Content-Type": "application/json"})
    error_of(r, 413, "body_too_large")


def test_wrong_content_type_is_a_4xx(strict):
    r = raw(strict.http, "POST", "/v1/recommend", b'{"user": 1}', "text/plain")
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_auth_on_writes_and_protected_reads(strict):
    url = strict.url
    event = {"user": 1, "item": 2, "value": 4}
    error_of(httpx.post(url + "/v1/feedback", json=event), 401, "unauthorized")
    error_of(httpx.post(url + "/v1/feedback", json=event, headers={"Authorization": TOKEN}), 401, "unauthorized")
    error_of(httpx.post(url + "/v1/feedback", json=event, headers={"Authorization": "Basic abc"}), 401)
    error_of(httpx.post(url + "/v1/feedback", json=event, headers={"Authorization": "Bearer wrong-token-xyz"}), 403,
             "forbidden")
    error_of(httpx.post(url + "/v1/admin/reload", json={}, headers={"Authorization": "Bearer " + TOKEN[:-1]}), 403)
    assert httpx.post(url + "/v1/feedback", json=event, headers=AUTH).status_code == 200
    # reads are protected on this server; health is not
    error_of(httpx.get(url + "/v1/users/1/recommendations"), 401)
    error_of(httpx.get(url + "/metrics"), 401)
    assert httpx.get(url + "/v1/health").status_code == 200
    assert httpx.get(url + "/v1/users/1/recommendations", headers=AUTH).status_code == 200
    assert TOKEN not in strict.logs() and "wrong-token-xyz" not in strict.logs()


def test_open_reads_and_disabled_writes_without_a_token(model_file, tmp_path):
    with Server(model_file, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path, token=None) as s:
        assert httpx.get(s.url + "/v1/users/1/recommendations").status_code == 200
        error_of(httpx.post(s.url + "/v1/feedback", json={"user": 1, "item": 2}, headers=AUTH), 403,
                 "writes_disabled")
        error_of(httpx.post(s.url + "/v1/admin/reload", json={}), 403, "writes_disabled")


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20)
                           | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
fields = {"user": json_values | st.integers(-5, 200), "item": json_values | st.integers(-5, 80),
          "users": json_values | st.lists(st.integers(-5, 200), max_size=25), "items": json_values,
          "k": json_values | st.integers(-5, 100), "value": json_values, "allow": json_values, "deny": json_values,
          "exclude_seen": json_values, "timestamp": json_values, "idempotency_key": json_values,
          "events": json_values}
bodies = st.fixed_dictionaries({}, optional=fields) | json_values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/recommend", "/v1/recommend/batch", "/v1/predict", "/v1/feedback",
                             "/v1/feedback/batch"]), body=bodies)
def test_fuzzed_bodies_never_get_a_5xx(strict, path, body):
    r = strict.http.post(path, json=body)
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        assert "error" in r.json()


def test_a_popularity_model_is_served_and_unsupported_requests_are_4xx(tmp_path):
    path = tmp_path / "pop.npz"
    turborec.Popularity().fit(turborec.synthetic(60, 30, 500, seed=13)).save(path)
    with Server(path, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path) as s, s.client(headers=AUTH) as c:
        assert len(c.get("/v1/users/1/recommendations", params={"k": 3, "explain": True}).json()["items"]) == 3
        error_of(c.get("/v1/items/1/similar"), 422, "not_supported")
        assert c.post("/v1/feedback", json={"user": "new", "item": 2, "value": 5}).json()["folded"] is True
        assert c.get("/v1/users/new/recommendations").json()["source"] == "model"


def test_the_token_can_come_from_a_file(model_file, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("file-token-abcdef123\n")
    with Server(model_file, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path, "--token-file", secret, token=None) as s:
        event = {"user": 1, "item": 2}
        ok = httpx.post(s.url + "/v1/feedback", json=event, headers={"Authorization": "Bearer file-token-abcdef123"})
        assert ok.status_code == 200
        error_of(httpx.post(s.url + "/v1/feedback", json=event, headers=AUTH), 403, "forbidden")
        assert "file-token-abcdef123" not in s.logs()


def test_serve_cli_reports_a_bad_model_file_in_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "junk.npz").write_bytes(b"junk")
    for model in (tmp_path / "missing.npz", tmp_path / "junk.npz"):
        r = subprocess.run([sys.executable, "-m", "turborec", "serve", "--model", str(model), "--events",
                            f"sqlite:///{tmp_path / 'ev.db'}"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (tmp_path / "ev.db").exists()  # nothing created for a server that cannot start
