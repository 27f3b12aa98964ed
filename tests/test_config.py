"""show_config, module facts, and thread-count rules."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import turborec
from turborec import _core, _threads


def test_show_config_prints_every_fact():
    buf = io.StringIO()
    turborec.show_config(file=buf)
    text = buf.getvalue()
    for key in ("version", "compiler", "openmp", "simd_compiled", "simd_supported", "simd_active", "default_threads"):
        assert key in text
    assert turborec.__version__ in text


def test_module_attributes():
    assert isinstance(_core.has_openmp, bool)
    assert _core.simd_compiled in turborec._config.SIMD_LEVELS
    assert _core.compiler
    assert _core.default_threads() >= 1
    assert turborec.config()["simd_active"] == turborec.get_simd_level()


def test_resolve_threads_rules():
    assert _threads.resolve_threads(0) == _threads.default_threads()
    assert _threads.resolve_threads(1) == 1
    with pytest.raises(ValueError, match="n_threads must be 0"):
        _threads.resolve_threads(-3)
    with pytest.raises(TypeError, match="must be an int"):
        _threads.resolve_threads(True)
    with pytest.raises(TypeError, match="must be an int"):
        _threads.resolve_threads("2")
    with pytest.raises(ValueError, match="threads per available core"):
        _threads.resolve_threads(10**5)


def test_omp_num_threads_is_respected():
    code = "from turborec import _threads; print(_threads.default_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("3" if _core.has_openmp else "1")


def test_cgroup_quota_caps_cpus(monkeypatch, tmp_path):
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/sys/fs/cgroup/cpu.max":
            p = tmp_path / "cpu.max"
            p.write_text("100000 100000\n")
            return real_open(p, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert _threads.available_cpus() == 1


@pytest.mark.skipif(_core.has_openmp, reason="only a build without OpenMP warns")
def test_threads_without_openmp_warn():
    with pytest.warns(RuntimeWarning, match="without OpenMP"):
        assert _threads.resolve_threads(2) == 1
