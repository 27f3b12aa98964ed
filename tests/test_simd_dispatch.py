"""SIMD dispatch: AVX code must live only in the per-ISA kernels, and levels must be selectable.

The compiled module keeps its symbol names (CMake NO_EXTRAS, install.strip=false), so the
disassembly shows which function every instruction belongs to. Baseline code (everything outside
the kernels_avx2 / kernels_avx512 namespaces) must contain no VEX/EVEX instruction at all: then it
runs on any x86-64 CPU, and AVX is reached only through the dispatch table after the CPU check.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

import turborec
from turborec import _core

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 only")

_FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")
# VEX/EVEX-encoded mnemonics start with 'v' (vmovups, vfmadd231ps, vzeroupper, ...); the few
# non-SIMD 'v' instructions (verr/verw, VMX) never appear in user-space code like ours.
_VEX = re.compile(r"^\s*[0-9a-f]+:\s+(v[a-z0-9]+)\b(.*)$")


def _disassembly_by_function():
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) not installed")
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", _core.__file__],
                         capture_output=True, text=True, check=True).stdout
    functions, name = {}, None
    for line in out.splitlines():
        m = _FUNC.match(line)
        if m:
            name = m.group(1)
            functions.setdefault(name, [])
        elif name is not None and line.strip():
            functions[name].append(line)
    return functions


def test_avx_instructions_only_in_their_kernels():
    functions = _disassembly_by_function()
    assert any("kernels_scalar::" in f for f in functions), "symbols stripped? the check needs them"
    leaks = []
    for name, lines in functions.items():
        vex = [m for m in map(_VEX.match, lines) if m]
        if not vex:
            continue
        uses_512 = any("zmm" in m.group(2) or re.search(r"%k[0-7]", m.group(2)) for m in vex)
        if "kernels_avx512::" in name or "lowp_vnni::" in name or "lowp_bf16::" in name:
            continue
        if "kernels_avx2::" in name and not uses_512:
            continue
        leaks.append(f"{name}: {vex[0].group(1)}{vex[0].group(2)}")
    assert not leaks, "AVX code outside the per-ISA kernels:\n" + "\n".join(leaks[:20])


# Instructions of an extension beyond the AVX-512 foundation, and the only namespace allowed to use them.
_EXTENSION_HOME = {
    "vpdpbusd": "lowp_vnni::", "vpdpbusds": "lowp_vnni::", "vpdpwssd": "lowp_vnni::", "vpdpwssds": "lowp_vnni::",
    "vdpbf16ps": "lowp_bf16::", "vcvtne2ps2bf16": "lowp_bf16::", "vcvtneps2bf16": "lowp_bf16::",
}
# AMX (tile*) instructions must not exist at all in this build (no AMX kernels yet).
_AMX = re.compile(r"^\s*[0-9a-f]+:\s+(t(?:dp|ile|ilezero|ileload|ilestore)[a-z0-9]*)\b")


def test_vnni_bf16_instructions_only_in_their_kernels():
    functions = _disassembly_by_function()
    seen, leaks = set(), []
    for name, lines in functions.items():
        for m in map(_VEX.match, lines):
            if m and m.group(1) in _EXTENSION_HOME:
                home = _EXTENSION_HOME[m.group(1)]
                seen.add(m.group(1))
                if home not in name:
                    leaks.append(f"{name}: {m.group(1)}")
        leaks += [f"{name}: {m.group(1)}" for m in map(_AMX.match, lines) if m]
    assert not leaks, "VNNI / BF16 / AMX code outside its kernels:\n" + "\n".join(leaks[:20])
    if _core.simd_compiled == "avx512":
        assert {"vpdpbusd", "vdpbf16ps"} <= seen, seen


def test_lowp_levels_and_environment_variable():
    for dtype in ("int8", "bf16"):
        levels = turborec.supported_lowp_levels(dtype)
        assert levels[0] == "scalar"
        with turborec.lowp_level("scalar"):
            assert turborec.get_lowp_level(dtype) == "scalar"
        assert turborec.get_lowp_level(dtype) == levels[-1]
        with turborec.simd_level("scalar"):  # forcing scalar SIMD forces the portable low-precision path
            assert turborec.get_lowp_level(dtype) == "scalar"
    with pytest.raises(ValueError, match="level must be one of"):
        turborec.set_lowp_level("amx9")
    with pytest.raises(ValueError, match="dtype must be one of"):
        turborec.get_lowp_level("int4")
    env = dict(os.environ, TURBOREC_LOWP="scalar")
    code = "import turborec; print(turborec.get_lowp_level('int8'), turborec.get_lowp_level('bf16'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["scalar", "scalar"]
    env["TURBOREC_LOWP"] = "fastest"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert "TURBOREC_LOWP='fastest' is not one of" in out.stderr
    config = turborec.config()
    assert config["lowp_int8"].startswith(turborec.get_lowp_level("int8"))


def test_every_compiled_level_has_kernels():
    functions = _disassembly_by_function()
    for level in ("scalar", "avx2", "avx512"):
        if level == "scalar" or _core.simd_compiled in (level, "avx512"):
            assert any(f"kernels_{level}::" in f for f in functions), level
    assert any("lowp_scalar::" in f for f in functions)
    if _core.simd_compiled == "avx512":
        assert any("lowp_vnni::" in f for f in functions) and any("lowp_bf16::" in f for f in functions)


def test_set_level_bounds():
    levels = turborec.supported_simd_levels()
    assert levels[0] == "scalar"
    with turborec.simd_level("scalar"):
        assert turborec.get_simd_level() == "scalar"
    assert turborec.get_simd_level() == levels[-1]
    with pytest.raises(ValueError, match="level must be one of"):
        turborec.set_simd_level("sse9")
    if levels[-1] != "avx512":
        with pytest.raises(ValueError, match="not available here"):
            turborec.set_simd_level("avx512")


def _run_with_env(env_value, code):
    env = dict(os.environ, TURBOREC_SIMD=env_value)
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                          check=True)


def test_environment_variable_forces_a_lower_level():
    out = _run_with_env("scalar", "import turborec; print(turborec.get_simd_level())")
    assert out.stdout.strip() == "scalar"
    if "avx2" in turborec.supported_simd_levels():
        out = _run_with_env("AVX2", "import turborec; print(turborec.get_simd_level())")
        assert out.stdout.strip() == "avx2"


def test_environment_variable_bad_value_warns():
    out = _run_with_env("fastest", "import turborec; print(turborec.get_simd_level())")
    assert "TURBOREC_SIMD='fastest' is not one of" in out.stderr
    assert out.stdout.strip() == turborec.supported_simd_levels()[-1]
