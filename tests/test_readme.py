"""The README's Python examples run as written (MovieLens path substituted)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 2


def test_five_minute_example_runs(movielens):
    code = python_blocks()[0].replace('"ml-latest-small"', repr(str(movielens)))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["ids"].shape == (3, 10)
    assert namespace["mf"].n_users == namespace["train"].n_users + 1


def test_kernel_example_runs():
    namespace: dict = {}
    exec(compile(python_blocks()[1], "README.md", "exec"), namespace)
    assert namespace["ids"].shape == (100, 10)
    assert namespace["S"].shape == (5000, 5000)
