#!/usr/bin/env bash
# The service's browser test needs Debian's chromium and chromedriver (selenium drives them).
# Installs them when missing and we are root; otherwise fails so the browser test skips with a reason.
set -uo pipefail
have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }
if ! have && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # A fresh machine may have no package lists yet: update them only if the first try fails.
  pkgs="chromium chromium-driver"
  timeout 600 apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 ||
    { timeout 300 apt-get update -q >/dev/null 2>&1 &&
      timeout 600 apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1; } || true
fi
have || { echo "chromium/chromedriver not available; the service's browser test will skip" >&2; exit 1; }
