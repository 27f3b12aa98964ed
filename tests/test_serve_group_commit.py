"""Group commit of feedback: requests queued while a commit runs share the next transaction, each is
answered only after that commit, and idempotency keys are stored once even inside one group."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
sa = pytest.importorskip("sqlalchemy")

import turborec  # noqa: E402
from serve_support import AUTH, Server, metric  # noqa: E402
from turborec.serve.events import Event, EventStore  # noqa: E402
from turborec.serve.group_commit import GroupCommitter  # noqa: E402


class GatedStore(EventStore):
    """The real SQLite store, whose first append waits for a gate: what queues meanwhile must be
    committed together by the next append. Events of the user "poison" make a transaction fail
    (standing in for a constraint only that request violates)."""

    def __init__(self, url):
        super().__init__(url)
        self.gate, self.entered, self.calls = threading.Event(), threading.Event(), []

    def append(self, events):
        self.calls.append(len(events))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.gate.wait(30)
        if any(e.user == "poison" for e in events):
            raise RuntimeError("refused")
        return super().append(events)


def rows(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT user_id, item_id, idempotency_key FROM turborec_events ORDER BY id")).all()


def test_requests_queued_during_a_commit_share_the_next_one(tmp_path):
    store = GatedStore(f"sqlite:///{tmp_path / 'e.db'}")
    groups = []
    gc = GroupCommitter(store, after_commit=lambda events, results: groups.append(len(events)) or len(groups))
    gc.start()
    try:
        first = gc.submit([Event("a", "1")])
        assert store.entered.wait(30)
        later = [gc.submit([Event(f"u{n}", str(n), idempotency_key=f"k{n % 4}")]) for n in range(10)]
        later.append(gc.submit([Event("b", "x", idempotency_key="k0"), Event("b", "y", idempotency_key="k9")]))
        assert not any(f.done() for f in later)  # nobody is answered before their commit
        store.gate.set()
        assert first.result(30)[0][0][1] is False
        results = [f.result(30) for f in later]
        assert store.calls == [1, 12]  # one transaction for the 11 queued requests
        assert {ticket for _, ticket in results} == {2}
        ids = [r[0] for r, _ in results[:10]]
        # k0..k3 stored once each: the first request with a key wins, the later ones are duplicates of it
        for n in range(10):
            assert ids[n] == (ids[n % 4][0], n >= 4)
        assert results[10][0][0] == (ids[0][0], True) and results[10][0][1][1] is False
        keys = [k for _, _, k in rows(store)]
        assert sorted(k for k in keys if k) == ["k0", "k1", "k2", "k3", "k9"]
        assert len(keys) == 1 + 4 + 1
    finally:
        gc.stop()
        store.close()


def test_a_failing_request_does_not_fail_its_group(tmp_path):
    store = GatedStore(f"sqlite:///{tmp_path / 'e.db'}")
    gc = GroupCommitter(store)
    gc.start()
    try:
        first = gc.submit([Event("a", "1")])
        assert store.entered.wait(30)
        good1, bad, good2 = gc.submit([Event("g1", "1")]), gc.submit([Event("poison", "1")]), gc.submit(
            [Event("g2", "1")])
        store.gate.set()
        first.result(30)
        assert good1.result(30)[0][0][1] is False and good2.result(30)[0][0][1] is False
        with pytest.raises(RuntimeError, match="refused"):
            bad.result(30)
        assert [u for u, _, _ in rows(store)] == ["a", "g1", "g2"]
    finally:
        gc.stop()
        store.close()


def test_concurrent_single_events_over_http_are_group_committed_once_each(tmp_path):
    path = tmp_path / "mf.npz"
    turborec.MatrixFactorization(8, 3, seed=0, n_threads=1).fit(turborec.synthetic(60, 40, 600, seed=1)).save(path)
    db = tmp_path / "events.db"
    with Server(path, f"sqlite:///{db}", tmp_path) as server, server.client(headers=AUTH) as c:
        def send(n):
            # every key is sent by 3 requests at once: one is stored, two are answered as duplicates
            body = {"user": f"g{n % 7}", "item": n % 40, "value": 3.0, "idempotency_key": f"key-{n // 3}"}
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as own:
                return own.post("/v1/feedback?wait=false", json=body)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(120)))
        assert {r.status_code for r in answers} == {200}
        by_key = {}
        for n, r in enumerate(answers):
            (res,) = r.json()["results"]
            by_key.setdefault(n // 3, []).append((res["id"], res["duplicate"]))
        for got in by_key.values():
            assert len({i for i, _ in got}) == 1 and sorted(d for _, d in got) == [False, True, True]
        engine = sa.create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            keys = [k for (k,) in conn.execute(sa.text("SELECT idempotency_key FROM turborec_events"))]
        engine.dispose()
        assert sorted(keys) == sorted(f"key-{n}" for n in range(40))
        text = c.get("/metrics").text
        assert metric(text, "turborec_event_commit_requests_total") == 120
        assert 1 <= metric(text, "turborec_event_commits_total") <= 120
        assert metric(text, "turborec_events_duplicate_total") == 80
