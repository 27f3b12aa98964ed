#!/usr/bin/env bash
# LightFM (a peer in bench/content_quality.py and bench/compare.py's content task) from its sdist:
# its setup.py sets `__builtins__.__LIGHTFM_SETUP__`, which fails when setuptools runs it as a
# module (there __builtins__ is a dict), and pip's build isolation hides the Cython it needs. So:
# download the sdist, set the flag through the builtins module instead, build without isolation.
set -euo pipefail
python -m pip install -q cython setuptools wheel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m pip download -q --no-deps --no-binary :all: -d "$work" "lightfm${1:+==$1}"
tar -xzf "$work"/lightfm-*.tar.gz -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'lightfm-*' | head -1)
sed -i 's/^__builtins__\.__LIGHTFM_SETUP__ = True/import builtins; builtins.__LIGHTFM_SETUP__ = True/' "$src/setup.py"
grep -q "builtins.__LIGHTFM_SETUP__ = True" "$src/setup.py"
python -m pip install -q --no-build-isolation "$src"
python -c "import lightfm; print('lightfm', lightfm.__version__)"
