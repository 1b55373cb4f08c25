#!/usr/bin/env bash
# Runs kapstone's whole test suite, against SQLite and against PostgreSQL.
# On a fresh Debian machine it installs and starts what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PG_USER=kapstone
PG_PASS=kapstone
PG_PORT="${KAPSTONE_TEST_PG_PORT:-5432}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_postgres() {
  if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo "== installing PostgreSQL"
    apt_install postgresql
  fi
  # Start the first cluster Debian knows about (15 on bookworm).
  read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
  if [ "$status" != "online" ]; then
    echo "== starting PostgreSQL $version/$cluster"
    as_root pg_ctlcluster "$version" "$cluster" start
  fi
  PG_PORT="$port"
  for _ in $(seq 1 30); do
    if as_root runuser -u postgres -- psql -p "$PG_PORT" -Atqc 'SELECT 1' >/dev/null 2>&1; then break; fi
    sleep 1
  done
  as_root runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qc "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASS';
      END IF;
    END \$\$;
    -- The encryption-at-rest test flushes pages to the table files and reads them raw.
    GRANT pg_checkpoint, pg_read_all_settings TO $PG_USER;" >/dev/null
  # Databases left behind by earlier runs (each test creates its own).
  as_root runuser -u postgres -- psql -p "$PG_PORT" -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'kapstone_test_%'" |
    while read -r db; do
      as_root runuser -u postgres -- psql -p "$PG_PORT" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
    done
}

if [ -z "${KAPSTONE_TEST_PG_URL:-}" ]; then
  start_postgres
  export KAPSTONE_TEST_PG_URL="postgres://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/postgres"
fi

# The PDF report's tests read the file with tools independent of kapstone's writer, and the
# backup tests decrypt backups with the reference age tool.
outside_tools=()
command -v qpdf >/dev/null 2>&1 || outside_tools+=(qpdf)
command -v pdftotext >/dev/null 2>&1 || outside_tools+=(poppler-utils)
command -v age >/dev/null 2>&1 || outside_tools+=(age)
if [ ${#outside_tools[@]} -gt 0 ]; then
  echo "== installing ${outside_tools[*]}"
  apt_install "${outside_tools[@]}"
fi

echo "== test suite (SQLite and PostgreSQL at ${KAPSTONE_TEST_PG_URL%%:*}://…:$PG_PORT)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

echo "== browser journey (Debian's Chromium, axe-core)"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
cargo build -q -p kapstone --bin kapstone
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
(cd tests/browser && npm ci --silent --no-audit --no-fund)
KAPSTONE_BIN="$target_dir/debug/kapstone" CHROMIUM="$(command -v chromium)" ARTIFACTS="$PWD/artifacts/browser" \
  node tests/browser/journey.mjs
