"""Model file watch with a real server: replacing the served file (write, then rename) switches the
answers to the new model under concurrent load with zero 5xx; a file that fails to load -- junk, or
a model caught half-written in place -- is refused and the current model keeps serving."""

from __future__ import annotations

import os
import threading

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import turborec  # noqa: E402
from serve_support import AUTH, Server, metric, wait_until  # noqa: E402
from turborec.serve.holder import file_version  # noqa: E402


def model(seed, path):
    turborec.MatrixFactorization(8, 4, seed=seed, n_threads=1).fit(turborec.synthetic(80, 40, 900, seed=5)).save(path)
    return path


def test_replacing_the_model_file_swaps_under_load_and_bad_files_are_refused(tmp_path):
    served = model(0, tmp_path / "model.npz")
    nxt = model(1, tmp_path / "next.npz")
    third = model(2, tmp_path / "third.npz")
    v_a = f"model.npz:{file_version(served).split(':')[1]}"
    v_b = f"model.npz:{file_version(nxt).split(':')[1]}"
    v_c = f"model.npz:{file_version(third).split(':')[1]}"
    with Server(served, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path, "--watch-interval", "0.1") as s, \
            s.client(headers=AUTH) as c:
        assert c.get("/v1/model").json()["version"] == v_a
        stop, bad, versions, lock = threading.Event(), [], [], threading.Lock()

        def reader():
            with httpx.Client(base_url=s.url, timeout=30) as rc:
                while not stop.is_set():
                    r = rc.get("/v1/users/3/recommendations", params={"k": 4})
                    with lock:
                        if r.status_code != 200:
                            bad.append((r.status_code, r.text[:200]))
                        else:
                            versions.append(r.json()["model_version"])

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            assert wait_until(lambda: len(versions) >= 20, timeout=30)
            os.replace(nxt, served)  # the writer's protocol: complete file, then one rename
            assert wait_until(lambda: c.get("/v1/model").json()["version"] == v_b, timeout=30)
            n = len(versions)
            assert wait_until(lambda: len(versions) >= n + 20, timeout=30)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not bad, bad[:3]
        assert versions[-1] == v_b
        flips = [a for a, b in zip(versions, versions[1:]) if a != b]
        assert flips == [v_a] or (flips == [] and set(versions) == {v_b})  # old ... new, never back
        expected = turborec.load(served).recommend([3], 4)[0][0].tolist()
        assert c.get("/v1/users/3/recommendations", params={"k": 4}).json()["items"] == expected

        # junk renamed over the path: refused, B keeps serving
        junk = tmp_path / "junk.npz"
        junk.write_bytes(b"not a model at all")
        os.replace(junk, served)
        assert wait_until(lambda: metric(c.get("/metrics").text, "turborec_model_file_refused_total") >= 1,
                          timeout=30)
        assert c.get("/v1/model").json()["version"] == v_b
        assert c.get("/v1/users/3/recommendations", params={"k": 4}).json()["items"] == expected

        # a model written in place, caught half-way: refused; once complete, served
        data = third.read_bytes()
        with open(served, "wb") as f:
            f.write(data[: len(data) // 2])
        assert wait_until(lambda: metric(c.get("/metrics").text, "turborec_model_file_refused_total") >= 2,
                          timeout=30)
        assert c.get("/v1/model").json()["version"] == v_b
        with open(served, "ab") as f:
            f.write(data[len(data) // 2:])
        assert wait_until(lambda: c.get("/v1/model").json()["version"] == v_c, timeout=30)
        text = c.get("/metrics").text
        assert metric(text, "turborec_model_file_swaps_total") == 2
        assert metric(text, "turborec_requests_total", endpoint="/v1/users/{user}/recommendations", method="GET",
                      status="500") == 0
