#!/usr/bin/env bash
# A throwaway PostgreSQL server on localhost for the tests: start | url | stop.
# Uses the server binaries if installed (Debian: /usr/lib/postgresql/*/bin), installs Debian's
# package when missing and we are root, and otherwise fails so the tests skip with a reason.
set -uo pipefail
dir=/tmp/turborec-ci-pg
port=55432

find_bin() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$b" ] && [ -x "$b/initdb" ] && echo "$b"
}

as_pg() {  # initdb refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    bin=$(find_bin)
    if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      # A fresh machine may have no package lists yet: update them only if the first try fails.
      timeout 300 apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 ||
        { timeout 300 apt-get update -q >/dev/null 2>&1 &&
          timeout 300 apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1; } || true
      bin=$(find_bin)
    fi
    [ -n "$bin" ] || { echo "PostgreSQL not available; its tests will skip" >&2; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir/data" "$dir/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    chmod 700 "$dir/data"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 || {
      echo "initdb failed (see $dir/initdb.log); PostgreSQL tests will skip" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/sock/pg.log" -w \
      -o "-p $port -k $dir/sock -c listen_addresses=localhost" start >/dev/null || {
      echo "PostgreSQL did not start (see $dir/sock/pg.log); its tests will skip" >&2; exit 1; }
    "$bin/psql" -h localhost -p $port -U postgres -qc "CREATE DATABASE turborec_test" >/dev/null
    ;;
  url)
    echo "postgresql+psycopg://postgres@localhost:$port/turborec_test"
    ;;
  stop)
    bin=$(find_bin)
    [ -n "$bin" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|url|stop" >&2; exit 2 ;;
esac
