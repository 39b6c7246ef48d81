#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL server for the store tests.
#   .ci/postgres.sh start   -> prints the URL to use as STATGUARD_TEST_DATABASE_URL
#   .ci/postgres.sh stop
# Idempotent. The server refuses to run as root, so it runs as the `postgres`
# user in a temporary data directory (PGDATA_DIR, default /tmp/statguard-pgdata)
# on port PGPORT (default 54329), listening on 127.0.0.1 only, trust auth.
# Durability is off (fsync, synchronous_commit, full_page_writes): a throw-away server whose data dies with the run
# never needs its writes on disk, and waiting for each commit's flush left test processes idle (a store test that
# creates and migrates a database per case spent three quarters of its time waiting). What the tests check is
# unchanged: transactions, locks, constraints, triggers, and a killed client's open transaction rolled back.
set -euo pipefail
PGPORT="${PGPORT:-54329}"
PGDATA_DIR="${PGDATA_DIR:-/tmp/statguard-pgdata}"
LOG="${PGDATA_DIR}.log"
URL="postgres://postgres@127.0.0.1:${PGPORT}/postgres"

ensure_binaries() {
  if ! command -v pg_config >/dev/null 2>&1 || [ ! -x "$(pg_config --bindir)/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  BIN="$(pg_config --bindir)"
  if [ ! -x "$BIN/initdb" ]; then
    # Debian installs the server binaries under /usr/lib/postgresql/<major>/bin.
    BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  fi
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
}

as_pg() {
  if [ "$(id -u)" = "0" ]; then su postgres -c "$*"; else bash -c "$*"; fi
}

cmd="${1:-start}"
case "$cmd" in
  start)
    ensure_binaries
    if [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
      echo "$URL"; exit 0
    fi
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
      rm -rf "$PGDATA_DIR"; mkdir -p "$PGDATA_DIR"
      [ "$(id -u)" = "0" ] && chown postgres "$PGDATA_DIR"
      as_pg "'$BIN/initdb' -D '$PGDATA_DIR' -A trust -U postgres" >/dev/null
    fi
    touch "$LOG"; [ "$(id -u)" = "0" ] && chown postgres "$LOG"
    as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -o \"-p $PGPORT -k /tmp -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" -l '$LOG' -w start" >/dev/null
    echo "$URL"
    ;;
  stop)
    if command -v pg_config >/dev/null 2>&1; then
      BIN="$(pg_config --bindir)"; [ -x "$BIN/pg_ctl" ] || BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
      if [ -f "$PGDATA_DIR/postmaster.pid" ]; then as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -m fast -w stop" >/dev/null || true; fi
    fi
    rm -rf "$PGDATA_DIR" "$LOG"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
