#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer (OpenMP off, which also
# exercises the single-threaded build) and run the kernel tests against it. Uses the .venv made by
# the README's test command for numpy/scipy/pytest; the sanitized build goes to its own directory.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
target=build/asan-site
rm -rf "$target"
$py -m pip install -q --no-deps --target "$target" \
  -Cbuild-dir=build/asan -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.TURBOREC_SANITIZE=address,undefined -Ccmake.define.TURBOREC_OPENMP=OFF .
# libstdc++ is preloaded too: ASan must see it at start-up to intercept C++ throws.
asan="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
# The sanitized, OpenMP-free build is the one under test.
PYTHONPATH="$target" LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0 $py -c \
  "import turborec; assert 'asan-site' in turborec.__file__ and not turborec._core.has_openmp"
# Leak checking is off: CPython itself keeps memory alive until exit. Without OpenMP, asking for
# threads warns (tests/test_config.py checks that); the kernel tests ask for 2 threads on purpose.
PYTHONPATH="$target" LD_PRELOAD="$asan" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  $py -m pytest -q -p no:cacheprovider -x -W "ignore:n_threads=:RuntimeWarning" tests/test_topk.py tests/test_config.py tests/test_quantized.py \
  $(ls tests/test_similarity.py tests/test_knn.py tests/test_mf.py tests/test_metrics.py tests/test_feature_mf.py \
       tests/test_content.py 2>/dev/null)
