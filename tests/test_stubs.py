"""The checked-in type stub of the compiled module matches a freshly generated one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("pybind11_stubgen") is None, reason="pybind11-stubgen not installed")
def test_core_stub_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "generate_stubs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_package_ships_py_typed():
    import turborec

    assert (Path(turborec.__file__).parent / "py.typed").is_file()
    assert (Path(turborec.__file__).parent / "_core.pyi").is_file()
