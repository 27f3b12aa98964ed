"""The README's Python examples run exactly as written (no text substituted): MovieLens is found
the way a user's copy is, through $TURBOREC_DATASETS (set here to the shared copy when only that
exists) or the download cache; the tests skip with the reason when it is nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import movielens_dir

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 2


@pytest.fixture
def movielens_env(monkeypatch):
    """TURBOREC_DATASETS as a user sets it; the README then names the data set only."""
    import turborec

    shared = movielens_dir()
    if shared is not None and not (Path.cwd() / "ml-latest-small").exists():
        monkeypatch.setenv("TURBOREC_DATASETS", str(shared.parent))
    try:
        turborec.datasets.movielens_path("ml-latest-small")
    except FileNotFoundError as e:
        pytest.skip(f"README examples need MovieLens: {e}")


def test_five_minute_example_runs(movielens_env):
    code = python_blocks()[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["ids"].shape == (3, 10)
    assert namespace["mf"].n_users == namespace["train"].n_users + 1


def test_kernel_example_runs():
    namespace: dict = {}
    exec(compile(python_blocks()[1], "README.md", "exec"), namespace)
    assert namespace["ids"].shape == (100, 10)
    assert namespace["S"].shape == (5000, 5000)
