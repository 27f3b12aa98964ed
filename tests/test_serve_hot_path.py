"""The recommendation hot path: the GET fast path answers like the routed FastAPI endpoint (and hands
anything unusual to it), concurrent single-user requests batched into one model call get exactly
the answers the library gives each user alone, and --workers 2 serves one port from two processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import turborec  # noqa: E402
from serve_support import AUTH, Server, metric, wait_until  # noqa: E402
from turborec.serve.fastpath import _query  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_hot")
    d = turborec.synthetic(200, 90, 3000, seed=8)
    path = root / "mf.npz"
    turborec.MatrixFactorization(12, 5, seed=0, n_threads=1).fit(d).save(path)
    return path


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_hot_db")
    with Server(model_file, f"sqlite:///{root / 'ev.db'}", root, "--cache-size", "0", "--max-k", "60") as s:
        yield s


def test_query_parser_takes_only_plain_queries():
    assert _query(b"") == (10, True, False)
    assert _query(b"k=7&exclude_seen=false&explain=1") == (7, False, True)
    for odd in (b"k=abc", b"k=-1", b"k=5&k=6", b"k=%C2%B2", b"foo=1", b"k", b"exclude_seen=yes", b"k=1234567890",
                b"\xff=1"):
        assert _query(odd) is None, odd


def test_fast_path_answers_like_the_routed_endpoint(server, model_file):
    model = turborec.load(model_file)
    with server.client() as c:
        for user, query in [(3, {"k": 5}), (4, {"k": 8, "exclude_seen": "false"}), (5, {})]:
            ids, scores = model.recommend([user], query.get("k", 10),
                                          exclude_seen=query.get("exclude_seen") != "false")
            fast = c.get(f"/v1/users/{user}/recommendations", params=query)
            assert fast.status_code == 200 and fast.headers["content-type"] == "application/json"
            got = fast.json()
            assert got["items"] == ids[0].tolist()
            np.testing.assert_allclose(got["scores"], scores[0], rtol=1e-5, atol=1e-6)
            # the same request in forms only the full stack takes (a leading zero, yes/no booleans,
            # an unknown parameter) gives the same answer
            routed = {"k": f"0{query.get('k', 10)}", "exclude_seen": {"false": "no"}.get(query.get("exclude_seen"),
                                                                                       "yes"), "other": "1"}
            assert c.get(f"/v1/users/{user}/recommendations", params=routed).json() == got
            post = c.post("/v1/recommend", json={"user": user, "k": query.get("k", 10),
                                                 "exclude_seen": query.get("exclude_seen") != "false"}).json()
            assert post == got
        # errors still come from the full stack, in its format
        r = c.get("/v1/users/3/recommendations", params={"k": 61})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_k"
        explained = c.get("/v1/users/3/recommendations", params={"k": 2, "explain": "true"}).json()
        assert [x["kind"] for x in explained["reasons"]] == ["factors", "factors"]
        text = c.get("/metrics").text
        assert metric(text, "turborec_requests_total", endpoint="/v1/users/{user}/recommendations", method="GET",
                      status="200") == 7
        assert metric(text, "turborec_requests_total", endpoint="/v1/users/{user}/recommendations", method="GET",
                      status="422") == 1


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(server, model_file):
    model = turborec.load(model_file)
    users = list(range(120))
    ks = [1 + u % 13 for u in users]
    want = [model.recommend([u], k, exclude_seen=u % 3 != 0)[0][0].tolist() for u, k in zip(users, ks)]

    def ask(t):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            return c.get(f"/v1/users/{users[t]}/recommendations",
                         params={"k": ks[t], "exclude_seen": "false" if users[t] % 3 == 0 else "true"}).json()

    def batched():
        with server.client() as c:
            text = c.get("/metrics").text
        return (metric(text, "turborec_recommend_batched_users_total"),
                metric(text, "turborec_recommend_model_calls_total"))

    users0, calls0 = batched()
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(ask, range(len(users))))
    assert [g["items"] for g in got] == want
    assert [g["user"] for g in got] == users
    users1, calls1 = batched()
    assert users1 - users0 == len(users) and 1 <= calls1 - calls0 <= len(users)


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts worker processes through /proc")
def test_two_workers_serve_one_port_and_see_each_others_feedback(model_file, tmp_path):
    model = turborec.load(model_file)
    with Server(model_file, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path, "--workers", "2") as s, \
            s.client(headers=AUTH) as c:
        # uvicorn's supervisor runs two server processes (plus, maybe, multiprocessing's helper)
        assert wait_until(lambda: len(children(s.proc.pid)) >= 2, timeout=30)
        ids, _ = model.recommend([6], 5)
        assert c.get("/v1/users/6/recommendations", params={"k": 5}).json()["items"] == ids[0].tolist()
        top = int(ids[0][0])
        assert c.post("/v1/feedback", json={"user": 6, "item": top, "value": 5.0}).status_code == 200

        def every_answer_folded():
            # new connections land on either worker: all answers must drop the now-seen item
            answers = []
            for _ in range(8):
                with httpx.Client(base_url=s.url, timeout=30) as fresh:
                    answers.append(fresh.get("/v1/users/6/recommendations", params={"k": 5}).json()["items"])
            return all(top not in a for a in answers)

        assert wait_until(every_answer_folded, timeout=20)


def test_feedback_fast_path_and_its_fallbacks_store_each_event_once(server):
    with server.client(headers=AUTH) as c:
        before = metric(c.get("/metrics").text, "turborec_requests_total", endpoint="/v1/feedback", method="POST",
                        status="200")
        answers = [c.post("/v1/feedback", json={"user": "fp", "item": 1, "value": 4.0, "idempotency_key": "fp-1"}),
                   # forms only the full stack takes: another spelling of the flag, a charset parameter
                   c.post("/v1/feedback", params={"wait": "yes"},
                          json={"user": "fp", "item": 2, "idempotency_key": "fp-2"}),
                   c.request("POST", "/v1/feedback", content=b'{"user": "fp", "item": 3, "idempotency_key": "fp-3"}',
                             headers={"Content-Type": "application/json; charset=utf-8"}),
                   c.post("/v1/feedback", json={"user": "fp", "item": 1, "value": 4.0, "idempotency_key": "fp-1"})]
        assert [r.status_code for r in answers] == [200] * 4
        bodies = [r.json() for r in answers]
        assert [b["results"][0]["duplicate"] for b in bodies] == [False, False, False, True]
        assert bodies[3]["results"][0]["id"] == bodies[0]["results"][0]["id"] and bodies[0]["folded"] is True
        # refused before any effect: the full stack's errors
        assert c.post("/v1/feedback", json={"user": "fp"}).json()["error"]["code"] == "invalid_request"
        with server.client() as anonymous:
            assert anonymous.post("/v1/feedback", json={"user": "fp", "item": 1}).status_code == 401
        text = c.get("/metrics").text
        assert metric(text, "turborec_requests_total", endpoint="/v1/feedback", method="POST", status="200") == \
            before + 4
        got = c.get("/v1/users/fp/recommendations", params={"k": 60}).json()
        assert got["source"] == "model" and not {1, 2, 3} & set(got["items"])
