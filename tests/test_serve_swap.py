"""Retrain from the event store and hot swap under load: zero failed or mixed-model answers."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import turborec  # noqa: E402
from serve_support import AUTH, Server  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_swap")
    d = turborec.synthetic(200, 80, 2500, seed=8)
    data = turborec.Interactions(d.matrix, user_ids=[f"u{i}" for i in range(d.n_users)],
                                 item_ids=[f"i{i}" for i in range(d.n_items)])
    path = root / "mf.npz"
    turborec.MatrixFactorization(8, 8, seed=1, n_threads=1).fit(data).save(path)
    return path


def retrain_cli(*args):
    return subprocess.run([sys.executable, "-m", "turborec", "retrain", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_retrain_learns_new_users_and_items_from_events(model_file, tmp_path):
    url = f"sqlite:///{tmp_path / 'ev.db'}"
    with Server(model_file, url, tmp_path) as s, s.client(headers=AUTH) as c:
        events = [{"user": "u1", "item": "fresh-item", "value": 5}, {"user": "newbie", "item": "i3", "value": 4},
                  {"user": "newbie", "item": "fresh-item", "value": 5}, {"user": "u2", "item": "i7", "value": 2},
                  {"user": "u2", "item": "i7", "value": 3}]
        assert c.post("/v1/feedback/batch", json={"events": events}).status_code == 200
        c.post("/v1/feedback", json={"user": "u4", "item": next(iter(_seen(model_file, 4))), "value": 0})
    out = tmp_path / "next.npz"
    r = retrain_cli("--events", url, "--model", model_file, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "5 events applied" not in r.stdout and "6 events applied" in r.stdout
    old, new = turborec.load(model_file), turborec.load(out)
    assert new.get_params() == old.get_params()
    assert list(new.item_ids_[:80]) == list(old.item_ids_) and new.item_ids_[80] == "fresh-item"
    assert list(new.user_ids_[:200]) == list(old.user_ids_) and new.user_ids_[200] == "newbie"
    R, R0 = new.user_items_, old.user_items_
    assert R[1, 80] == 5 and R[200, 80] == 5 and R[200, 3] == 4
    assert R[2, 7] == 3  # the latest event wins
    removed = next(iter(_seen(model_file, 4)))
    assert R[4, int(removed[1:])] == 0 and R.nnz == R0.nnz + 4 - (R0[2, 7] != 0) - 1
    # unreadable input: a one-line error, exit status 2
    bad = retrain_cli("--events", url, "--model", tmp_path / "missing.npz", "--out", tmp_path / "x.npz")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def _answer(body) -> tuple:
    """A recommendation answer as (items, scores to 4 decimals): enough to tell two models apart."""
    return tuple(body["items"]), tuple(round(float(x), 4) for x in body["scores"])


def _seen(model_file, u):
    m = turborec.load(model_file)
    return [m.item_ids_[i] for i in m.user_items_[u].indices]


def test_hot_swap_under_concurrent_load(model_file, tmp_path):
    url = f"sqlite:///{tmp_path / 'ev.db'}"
    with Server(model_file, url, tmp_path) as s, s.client(headers=AUTH) as c:
        c.post("/v1/feedback/batch", json={"events": [{"user": "newbie", "item": "brand-new", "value": 5},
                                                      {"user": "newbie", "item": "i5", "value": 4}]})
        assert c.get("/v1/items/brand-new/similar").status_code == 404
        out = tmp_path / "next.npz"
        assert retrain_cli("--events", url, "--model", model_file, "--out", out).returncode == 0
        old_v = c.get("/v1/model").json()["version"]
        old_answer = _answer(c.get("/v1/users/u9/recommendations", params={"k": 5}).json())
        new_model = turborec.load(out)
        ids, scores = new_model.recommend([9], 5)
        # Items and scores: a retrain on a little more data may keep the same top 5, never the same scores.
        new_answer = _answer({"items": [new_model.item_ids_[i] for i in ids[0]], "scores": scores[0].tolist()})
        assert old_answer != new_answer

        stop = threading.Event()
        seen, failures, lock = [], [], threading.Lock()

        progress = {}

        def reader(t):
            versions = progress.setdefault(t, [])
            with httpx.Client(base_url=s.url, timeout=30.0) as rc:
                while not stop.is_set():
                    if t % 2:
                        r = rc.get("/v1/users/u9/recommendations", params={"k": 5})
                        body = r.json()
                        items = _answer(body) if r.status_code == 200 else None
                    else:
                        r = rc.post("/v1/recommend/batch", json={"users": ["u9", "u10", "newbie"], "k": 5})
                        body = r.json()
                        items = _answer(body["results"][0]) if r.status_code == 200 else None
                    if r.status_code != 200:
                        with lock:
                            failures.append((r.status_code, r.text))
                        continue
                    v = body["model_version"]
                    versions.append(v)
                    expected = old_answer if v == old_v else new_answer
                    if items != expected:
                        with lock:
                            failures.append(("mixed", v, items))
            with lock:
                seen.append(versions)

        from serve_support import wait_until

        threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        # swap while every reader is busy, then keep reading until each has seen the new model
        assert wait_until(lambda: len(progress) == 4 and all(len(v) >= 5 for v in progress.values()), timeout=60)
        r = c.post("/v1/admin/reload", json={"path": str(out)})
        assert r.status_code == 200, r.text
        new_v = r.json()["model_version"]
        assert wait_until(lambda: all(v.count(new_v) >= 5 for v in progress.values()), timeout=60)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not failures, failures[:5]
        for versions in seen:
            assert versions and versions[-1] == new_v
            flips = [a for a, b in zip(versions, versions[1:]) if a != b]
            assert flips in ([], [old_v])  # old ... old new ... new: never back
        assert any(old_v in v for v in seen)
        # the new model knows the item only events had mentioned
        assert c.get("/v1/items/brand-new/similar", params={"k": 3}).status_code == 200
        assert c.get("/v1/users/newbie/recommendations").json()["source"] == "model"
        info = c.get("/v1/model").json()
        assert info["version"] == new_v and info["n_items"] == 81


@pytest.mark.parametrize("cls", [turborec.ItemKNN, turborec.UserKNN])
def test_knn_models_fold_in_feedback(cls, tmp_path):
    path = tmp_path / "knn.npz"
    model = cls(10).fit(turborec.synthetic(120, 60, 1500, seed=10))
    model.save(path)
    with Server(path, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path) as s, s.client(headers=AUTH) as c:
        before = c.get("/v1/users/4/recommendations", params={"k": 6, "explain": True}).json()
        ids, _ = model.recommend([4], 6)
        assert before["items"] == ids[0][ids[0] >= 0].tolist()
        assert before["reasons"][0]["kind"] == "neighbours"
        liked = before["items"][:2]
        assert c.post("/v1/feedback/batch", json={"events": [{"user": 4, "item": i, "value": 5} for i in liked]}
                      ).status_code == 200
        after = c.get("/v1/users/4/recommendations", params={"k": 6}).json()
        row = model.user_items_[4].tolil()
        for i in liked:
            row[0, i] = 5.0
        model.partial_fit_users([4], row.tocsr())  # the library's fold-in of the same history
        want, _ = model.recommend([4], 6)
        assert after["items"] == want[0][want[0] >= 0].tolist() and not set(liked) & set(after["items"])
        cold = c.get("/v1/users/knn-new/recommendations").json()
        assert cold["source"] == "popularity"
        c.post("/v1/feedback", json={"user": "knn-new", "item": 3, "value": 5})
        warm = c.get("/v1/users/knn-new/recommendations").json()
        assert warm["source"] == "model" and 3 not in warm["items"] and warm["items"]


@pytest.mark.parametrize("cls", [turborec.MatrixFactorization, turborec.ItemKNN])
def test_fold_in_publishes_a_new_state_and_leaves_the_old_one_alone(cls, tmp_path):
    from turborec.serve.events import Event, EventStore
    from turborec.serve.holder import ModelHolder
    from turborec.serve.state import find

    path = tmp_path / "m.npz"
    params = {"seed": 0, "n_threads": 1} if cls is turborec.MatrixFactorization else {}
    cls(**params).fit(turborec.synthetic(60, 30, 500, seed=13)).save(path)
    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    holder = ModelHolder(path, store)
    old = holder.state
    before = old.model.recommend([2], 5)
    liked = [int(i) for i in before[0][0][:2]]
    store.append([Event("2", str(i), 5.0) for i in liked] + [Event("fresh", str(liked[0]), 5.0)])
    holder.fold_in(["2", "fresh"])
    new = holder.state
    assert new.generation > old.generation and new.model is not old.model
    after_old = old.model.recommend([2], 5)
    np.testing.assert_array_equal(after_old[0], before[0])  # readers of the old state see the old model
    assert old.model.n_users == 60 and find(old.users, "fresh") is None
    assert new.model.n_users == 61 and find(new.users, "fresh") == 60
    assert not set(liked) & set(new.model.recommend([2], 5)[0][0].tolist())
    store.close()
