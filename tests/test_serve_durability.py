"""Durable feedback: kill -9 during a burst of acknowledged events, restart, and every acknowledged
event is stored exactly once; two server processes share one event store. SQLite always,
PostgreSQL when TURBOREC_TEST_POSTGRES_URL is set (.ci/postgres.sh)."""

from __future__ import annotations

import os
import threading

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
sa = pytest.importorskip("sqlalchemy")

import turborec  # noqa: E402
from serve_support import AUTH, Server, wait_until  # noqa: E402

PG = os.environ.get("TURBOREC_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_durability")
    path = root / "mf.npz"
    turborec.MatrixFactorization(8, 5, seed=0, n_threads=1).fit(turborec.synthetic(150, 70, 2000, seed=6)).save(path)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG, reason="TURBOREC_TEST_POSTGRES_URL is not set (.ci/postgres.sh starts a server)"))])
def events_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    engine = sa.create_engine(PG)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS turborec_events"))
    engine.dispose()
    return PG


def stored_keys(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [k for (k,) in conn.execute(sa.text("SELECT idempotency_key FROM turborec_events"))]
    finally:
        engine.dispose()


def test_kill9_during_a_burst_loses_and_duplicates_nothing(model_file, events_url, tmp_path):
    server = Server(model_file, events_url, tmp_path).start()
    acknowledged, unanswered, lock = set(), set(), threading.Lock()
    stop = threading.Event()

    def writer(w):
        n = 0
        with httpx.Client(base_url=server.url, timeout=10.0, headers=AUTH) as c:
            while not stop.is_set():
                keys = [f"w{w}-{n}-{j}" for j in range(3)]
                n += 1
                events = [{"user": f"burst-{w}", "item": (n * 3 + j) % 70, "value": 4.0, "idempotency_key": key}
                          for j, key in enumerate(keys)]
                try:
                    r = c.post("/v1/feedback/batch", json={"events": events})
                except httpx.HTTPError:  # the server died mid-request: maybe stored, maybe not
                    with lock:
                        unanswered.update(keys)
                    return
                with lock:
                    (acknowledged if r.status_code == 200 else unanswered).update(keys)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    assert wait_until(lambda: len(acknowledged) >= 150, timeout=60), "the burst did not get going"
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    keys = stored_keys(events_url)
    assert acknowledged <= set(keys), f"{len(acknowledged - set(keys))} acknowledged events lost"
    assert len(keys) == len(set(keys))
    # restart on the same store; clients retry what got no answer, with the same keys
    with Server(model_file, events_url, tmp_path) as again, again.client(headers=AUTH) as c:
        retry = sorted(unanswered)
        events = [{"user": "burst-0", "item": 1, "value": 4.0, "idempotency_key": k} for k in retry]
        for lo in range(0, len(events), 100):
            assert c.post("/v1/feedback/batch", json={"events": events[lo:lo + 100]}).status_code == 200
        keys = stored_keys(events_url)
        assert sorted(keys) == sorted(acknowledged | unanswered)  # every event exactly once
        # the restarted server folded the burst users' stored feedback back in
        assert c.get("/v1/users/burst-1/recommendations").json()["source"] == "model"


def test_two_server_processes_share_one_store(model_file, events_url, tmp_path):
    with Server(model_file, events_url, tmp_path) as a, Server(model_file, events_url, tmp_path) as b, \
            a.client(headers=AUTH) as ca, b.client(headers=AUTH) as cb:
        assert cb.get("/v1/users/shared-user/recommendations").json()["source"] == "popularity"
        r = ca.post("/v1/feedback", json={"user": "shared-user", "item": 5, "value": 5.0})
        assert r.status_code == 200
        want = ca.get("/v1/users/shared-user/recommendations").json()
        assert want["source"] == "model"
        # b folds in a's event after its next poll (every 0.2 s here)
        got = wait_until(lambda: (x := cb.get("/v1/users/shared-user/recommendations").json())["source"] == "model"
                         and x, timeout=20)
        assert got and got["items"] == want["items"]
        # and the other way round, for a known user whose answer is cached on a
        before = ca.get("/v1/users/3/recommendations").json()["items"]
        assert cb.post("/v1/feedback", json={"user": 3, "item": before[0], "value": 5.0}).status_code == 200
        after_b = cb.get("/v1/users/3/recommendations").json()["items"]
        assert before[0] not in after_b
        assert wait_until(lambda: ca.get("/v1/users/3/recommendations").json()["items"] == after_b, timeout=20)


@pytest.mark.skipif(not PG, reason="TURBOREC_TEST_POSTGRES_URL is not set (.ci/postgres.sh starts a server)")
def test_postgres_notify_reaches_the_other_process_long_before_its_poll(model_file, tmp_path):
    """With a 60 s poll interval only LISTEN/NOTIFY can bring a's feedback to b within the test."""
    url = PG
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS turborec_events"))
    engine.dispose()
    from serve_support import metric

    with Server(model_file, url, tmp_path, poll_interval=60) as a, Server(model_file, url, tmp_path,
                                                                         poll_interval=60) as b, \
            a.client(headers=AUTH) as ca, b.client(headers=AUTH) as cb:
        assert wait_until(lambda: all(metric(c.get("/metrics").text, "turborec_event_listening") == 1
                                      for c in (ca, cb)), timeout=20)
        before = cb.get("/v1/users/4/recommendations").json()["items"]
        assert cb.get("/v1/users/notify-user/recommendations").json()["source"] == "popularity"
        r = ca.post("/v1/feedback/batch", json={"events": [{"user": 4, "item": before[0], "value": 5.0},
                                                            {"user": "notify-user", "item": 7, "value": 5.0}]})
        assert r.status_code == 200
        want = ca.get("/v1/users/4/recommendations").json()["items"]
        assert before[0] not in want
        assert wait_until(lambda: cb.get("/v1/users/4/recommendations").json()["items"] == want, timeout=15)
        assert cb.get("/v1/users/notify-user/recommendations").json()["source"] == "model"
        assert metric(cb.get("/metrics").text, "turborec_event_notifications_total") >= 1
        # a's own commit does not wake a: it folded its events already
        assert metric(ca.get("/metrics").text, "turborec_event_notifications_total") == 0
