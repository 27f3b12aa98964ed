#!/usr/bin/env bash
# The Spark tests (tests/test_spark.py, pyspark from the test extra) need a Java runtime. Installs
# Debian's headless JRE only when `java` is missing and we are root; otherwise fails so the Spark
# tests skip with a reason.
set -uo pipefail
if ! command -v java >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  pkgs="default-jre-headless"
  timeout 600 apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 ||
    { timeout 300 apt-get update -q >/dev/null 2>&1 &&
      timeout 600 apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1; } || true
fi
command -v java >/dev/null || { echo "no java runtime; the Spark tests will skip" >&2; exit 1; }
java -version 2>&1 | head -1
