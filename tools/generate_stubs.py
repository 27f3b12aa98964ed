"""Generate python/turborec/_core.pyi from the built module with pybind11-stubgen.

Build-specific values (compiler, OpenMP, SIMD level, version) are reduced to their types so the
checked-in stub is the same for every build. tests/test_stubs.py regenerates and compares.

    python tools/generate_stubs.py          # rewrite the stub
    python tools/generate_stubs.py --check  # exit 1 if the stub is stale
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

STUB = Path(__file__).resolve().parent.parent / "python" / "turborec" / "_core.pyi"


def generate() -> str:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", "turborec._core", "-o", out, "--numpy-array-use-type-var"],
                       check=True, capture_output=True)
        text = (Path(out) / "turborec" / "_core.pyi").read_text()
    # `name: type = value` at module level -> `name: type`
    return re.sub(r"^(\w+: [\w.\[\], |]+) = .*$", r"\1", text, flags=re.M)


def main() -> int:
    text = generate()
    if "--check" in sys.argv:
        if not STUB.exists() or STUB.read_text() != text:
            print(f"{STUB} is stale: run python tools/generate_stubs.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    print(f"wrote {STUB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
