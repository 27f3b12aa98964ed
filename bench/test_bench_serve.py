"""bench/serve_load.py must not rot: its smoke mode (tiny model, 0.3 s phases) runs every phase
against real servers and every answer is a 200."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def test_serve_load_smoke():
    import serve_load

    results = serve_load.main(["--smoke"])
    assert len(results["phases"]) == 10  # incl. the --workers 2 server
    for phase in results["phases"]:
        assert phase["requests"] > 0 and set(phase["statuses"]) == {200}, phase
