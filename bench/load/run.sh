#!/usr/bin/env bash
# The load benchmark, one command:
#   ./bench/load/run.sh [--backend sqlite|postgres|both] [--clients 1,8,32] [--submissions N]
#                       [--reads N] [--seconds S]
# Builds kapstone in release, seeds synthetic patients with portal links, starts a real
# `kapstone serve` on loopback and drives portal submissions and chart reads from 1, 8 and 32
# concurrent clients; in the same run it times raw durable inserts of comparable rows into the
# same kind of database and prints the ratio against the 0.5x target. Prints throughput, p50/p99
# latency, errors and the server's peak memory. Not part of CI; figures in docs/performance.md.
# PostgreSQL: the server named by KAPSTONE_TEST_PG_URL, or the local cluster (started if stopped)
# with the test role that scripts/test.sh creates.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

if [ -z "${KAPSTONE_TEST_PG_URL:-}" ]; then
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
  if [ "$status" != "online" ]; then as_root pg_ctlcluster "$version" "$cluster" start; fi
  as_root runuser -u postgres -- psql -p "$port" -qc "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kapstone') THEN
        CREATE ROLE kapstone LOGIN CREATEDB PASSWORD 'kapstone';
      END IF; END \$\$;" >/dev/null
  export KAPSTONE_TEST_PG_URL="postgres://kapstone:kapstone@127.0.0.1:$port/postgres"
fi

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(git rev-parse --short HEAD)"
cargo bench -q -j2 -p kapstone --bench load -- "$@"
