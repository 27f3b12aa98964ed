"""The layering of DESIGN.md, checked mechanically.

import-linter checks the layers inside the package (contracts in pyproject.toml); what it cannot see
is checked here from the source: only the seam imports the compiled core, and the applications
outside the package (bench/, examples/) use the public API only.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import turborec

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(turborec.__file__).resolve().parent


def _imports(path: Path, with_lines: bool = False):
    """(module imported, names imported from it[, line]) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts) if PACKAGE in path.parents else []
    package = parts if path.name == "__init__.py" else parts[:-1]  # where `from .` points
    package = package[:-1] if package and package[-1] == "__init__" else package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield (alias.name, (), node.lineno) if with_lines else (alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            names = tuple(a.name for a in node.names)
            yield (module, names, node.lineno) if with_lines else (module, names)


_EXEMPT = "internals measured here"  # a benchmark of the Python overhead itself says so on the line


def _private_uses(path: Path) -> list[str]:
    found = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for module, names, line in _imports(path, with_lines=True):
        if _EXEMPT in lines[line - 1]:
            continue
        parts = module.split(".")
        if parts[0] == "turborec" and any(p.startswith("_") for p in parts[1:]):
            found.append(module)
        if module == "turborec":
            found += [f"turborec.{n}" for n in names if n.startswith("_")]
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    for node in ast.walk(tree):  # turborec._something used as an attribute
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id == "turborec" and _EXEMPT not in
                lines[node.lineno - 1]):
            found.append(f"turborec.{node.attr}")
    return found


def test_only_the_seam_imports_the_compiled_core():
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, names in _imports(path):
            if module == "turborec._core" or (module == "turborec" and "_core" in names):
                importers.append(path.relative_to(PACKAGE).as_posix())
    assert importers == ["_kernels.py"]


@pytest.mark.parametrize("folder", ["bench", "examples"])
def test_applications_use_no_private_module(folder):
    files = sorted((ROOT / folder).glob("*.py"))
    assert files, f"{folder}/ has no Python files"
    offenders = {p.name: _private_uses(p) for p in files}
    assert {name: uses for name, uses in offenders.items() if uses} == {}


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    out = subprocess.run([lint, "--no-cache", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd=ROOT / "tests")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout
