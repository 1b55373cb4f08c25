#!/usr/bin/env bash
# The crash-safety proof (docs/reliability.md): a real `kapstone serve` SIGKILLed amid concurrent
# portal submissions, KAPSTONE_CRASH_ROUNDS rounds (default 20) on SQLite and on PostgreSQL,
# with the per-round figures. Afterwards PostgreSQL's pg_amcheck, as the postgres superuser when
# this machine allows it, checks the test database holding every round's writes.
#   KAPSTONE_CRASH_SEED=N replays a run (each backend prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export KAPSTONE_CRASH_ROUNDS="${KAPSTONE_CRASH_ROUNDS:-20}"

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -u postgres "$@"
  else return 1; fi
}

if [ -z "${KAPSTONE_TEST_PG_URL:-}" ]; then
  # The same server and role scripts/test.sh sets up (run it once on a fresh machine).
  if command -v pg_lsclusters >/dev/null 2>&1; then
    read -r version cluster _port status _ < <(pg_lsclusters -h | head -n 1)
    if [ "$status" != "online" ]; then
      if [ "$(id -u)" -eq 0 ]; then pg_ctlcluster "$version" "$cluster" start; else sudo pg_ctlcluster "$version" "$cluster" start; fi
    fi
  fi
  export KAPSTONE_TEST_PG_URL="postgres://kapstone:kapstone@127.0.0.1:${KAPSTONE_TEST_PG_PORT:-5432}/postgres"
fi

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "== crash test: $KAPSTONE_CRASH_ROUNDS round(s) per backend"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test -q -p kapstone --test crash -- --nocapture --test-threads 1 2>&1 | tee "$log"
status="${PIPESTATUS[0]}"

db="$(sed -n 's/^postgres database: //p' "$log" | head -n 1)"
if [ -n "$db" ]; then
  pg_port="$(sed -E 's#^[^/]*//[^/]*:([0-9]+)/.*#\1#' <<<"$KAPSTONE_TEST_PG_URL")"
  [[ "$pg_port" =~ ^[0-9]+$ ]] || pg_port=5432
  amcheck="$(ls /usr/lib/postgresql/*/bin/pg_amcheck 2>/dev/null | tail -n 1 || true)"
  if [ -n "$amcheck" ] && as_postgres true 2>/dev/null; then
    echo "== pg_amcheck --heapallindexed --parent-check on $db (every round's writes)"
    if as_postgres "$amcheck" -p "$pg_port" --install-missing --heapallindexed --parent-check --progress -d "$db"; then
      echo "pg_amcheck: no corruption found in $db"
    else
      echo "pg_amcheck reported problems in $db (kept for inspection)"
      status=1
    fi
    [ "$status" -ne 0 ] || as_postgres psql -p "$pg_port" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
  else
    echo "== pg_amcheck skipped: it needs the postgres superuser on this machine (the test ran its own heap/index check)"
  fi
fi
exit "$status"
