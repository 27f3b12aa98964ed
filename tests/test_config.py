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


def test_effective_threads_rules():
    assert _threads.effective_threads(0) == _threads.default_threads()
    assert _threads.effective_threads(1) == 1
    with pytest.raises(ValueError, match="n_threads must be 0"):
        _threads.effective_threads(-3)
    with pytest.raises(TypeError, match="must be an int"):
        _threads.effective_threads(True)
    with pytest.raises(TypeError, match="must be an int"):
        _threads.effective_threads("2")
    with pytest.raises(ValueError, match="threads per available core"):
        _threads.effective_threads(10**5)


def test_omp_num_threads_is_respected():
    code = "from turborec import _threads; print(_threads.default_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("3" if _core.has_openmp else "1")


def _reference_available_cpus() -> int:
    """The policy written out in Python: affinity, capped by the cgroup v2/v1 CPU quota."""
    def read(path):
        with open(path) as f:
            return f.read()

    n = len(os.sched_getaffinity(0))
    try:
        quota, period = read("/sys/fs/cgroup/cpu.max").split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        try:
            quota = int(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
            period = int(read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
            if quota > 0 and period > 0:
                n = min(n, max(1, int(quota / period)))
        except (OSError, ValueError):
            pass
    return n


def test_one_thread_policy_in_python_and_cpp():
    assert turborec.available_cpus() == _reference_available_cpus()
    if "OMP_NUM_THREADS" not in os.environ and _core.has_openmp:
        assert turborec.effective_threads(0) == _core.default_threads() == _reference_available_cpus()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two cores")
def test_cpu_affinity_limits_the_default():
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); import turborec; "
            "print(turborec.available_cpus(), turborec.effective_threads(0))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1" if _core.has_openmp else "1"]


@pytest.mark.skipif(_core.has_openmp, reason="only a build without OpenMP warns")
def test_threads_without_openmp_warn():
    with pytest.warns(RuntimeWarning, match="without OpenMP"):
        assert _threads.effective_threads(2) == 1
