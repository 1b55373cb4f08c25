#!/usr/bin/env bash
# The outcomes benchmark, one command:
#   ./bench/outcomes/run.sh [COURSES] [--backend sqlite|postgres|both]   (default 100000, sqlite)
# Generates a synthetic cohort as the four CSVs, imports it into a fresh database with a release
# build of kapstone, then times `kapstone report` against DuckDB and pandas computing the same
# 3-month PHQ-9 response rate, checks they agree and prints the ratios. Not part of CI.
# `--backend postgres` creates a fresh database on the server named by KAPSTONE_BENCH_PG_URL
# (default: the test role, postgres://kapstone:kapstone@127.0.0.1:5432/postgres); `both` imports
# the same CSVs into SQLite and PostgreSQL and prints the PostgreSQL/SQLite import ratio against
# the 2x target. Needs python3 with venv (Debian: python3-venv); installs duckdb and pandas from
# PyPI into bench/outcomes/.venv. KAPSTONE_BIN runs a given binary instead of building one.
# `--restore` then times an encrypted backup of the (first) imported database and its restore
# into a fresh PostgreSQL database, which `kapstone restore` checks against the manifest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
courses=100000
backend=sqlite
restore=no
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="${2:?--backend needs sqlite, postgres or both}"; shift 2 ;;
    --backend=*) backend="${1#--backend=}"; shift ;;
    --restore) restore=yes; shift ;;
    [0-9]*) courses="$1"; shift ;;
    *) echo "usage: $0 [COURSES] [--backend sqlite|postgres|both] [--restore]" >&2; exit 2 ;;
  esac
done
case "$backend" in
  sqlite) backends=(sqlite) ;;
  postgres) backends=(postgres) ;;
  both) backends=(sqlite postgres) ;;
  *) echo "--backend: sqlite, postgres or both, not $backend" >&2; exit 2 ;;
esac
work="${BENCH_WORK:-$(mktemp -d /tmp/kapstone-outcomes-bench.XXXXXX)}"
mkdir -p "$work"

if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install -q duckdb pandas
fi
py="$here/.venv/bin/python"

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo "== generating $courses synthetic courses"
"$py" "$here/generate.py" --courses "$courses" --out "$work/csv"

if [ -n "${KAPSTONE_BIN:-}" ]; then
  bin="$KAPSTONE_BIN"
else
  echo "== building kapstone (release)"
  (cd "$root" && cargo build -q --release -j2 -p kapstone)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/kapstone"
fi

# The import seals contact details with the field key; the databases are thrown away with it.
[ -f "$work/field.keys" ] || "$bin" keys new --out "$work/field.keys" >/dev/null 2>&1
export KAPSTONE_KEY_FILE="$work/field.keys"

# A fresh database per run: a new file, or a new database on the PostgreSQL server.
fresh_db() {
  case "$1" in
    sqlite)
      rm -f "$work/kapstone.db" "$work/kapstone.db-wal" "$work/kapstone.db-shm"
      echo "sqlite://$work/kapstone.db"
      ;;
    postgres)
      local admin="${KAPSTONE_BENCH_PG_URL:-postgres://kapstone:kapstone@127.0.0.1:5432/postgres}"
      local name
      name="kapstone_bench_$(date +%Y%m%d%H%M%S)_$$"
      psql -q "$admin" -c "CREATE DATABASE $name" >/dev/null
      echo "${admin%/*}/$name"
      ;;
  esac
}

declare -A import_s db_of
for b in "${backends[@]}"; do
  db="$(fresh_db "$b")"
  db_of[$b]="$db"
  echo "== $b: $db"
  "$bin" clinic create --db "$db" --name "Synthetic benchmark clinic" --time-zone UTC >/dev/null
  "$bin" user add --db "$db" --email bench@synthetic.test --role admin >/dev/null
  echo "== $b: importing (timed separately; not part of the comparison)"
  import_s[$b]="$("$py" -c 'import subprocess, sys, time
t = time.time(); subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL, stdout=sys.stderr)
print(f"{time.time() - t:.1f}")' "$bin" import "$work/csv" --db "$db" --as bench@synthetic.test)"
  "$py" -c 'import sys; s, n = float(sys.argv[1]), int(sys.argv[2]); print(f"import ({sys.argv[3]}): {s:.1f} s, {1000 * s / n:.2f} ms per course")' \
    "${import_s[$b]}" "$courses" "$b"
  echo "== $b: timing"
  "$py" "$here/bench.py" "$bin" "$db" "$work/csv" "$work/duck.db"
done

if [ "$backend" = both ]; then
  "$py" -c 'import sys; s, p = map(float, sys.argv[1:3]); r = p / s
verdict = "met" if r <= 2 else "NOT met"
print(f"import PostgreSQL / SQLite: {p:.1f} s / {s:.1f} s = {r:.2f}x (target <= 2x: {verdict})")' \
    "${import_s[sqlite]}" "${import_s[postgres]}"
fi

# Seconds a command takes, its output kept on stderr.
timed() {
  "$py" -c 'import subprocess, sys, time
t = time.time(); subprocess.run(sys.argv[1:], check=True, stdout=sys.stderr)
print(f"{time.time() - t:.1f}")' "$@"
}

if [ "$restore" = yes ]; then
  source_db="${db_of[${backends[0]}]}"
  target="$(fresh_db postgres)"
  rm -f "$work/backup.key" "$work/full.kbak"
  recipient="$("$bin" backup new-key --out "$work/backup.key" 2>/dev/null)"
  echo "== backup of ${backends[0]} ($courses courses), encrypted to $recipient"
  backup_s="$(timed "$bin" backup --db "$source_db" --out "$work/full.kbak" --recipient "$recipient")"
  size="$(du -h "$work/full.kbak" | cut -f1)"
  echo "== restore into a fresh PostgreSQL database: $target"
  restore_s="$(timed "$bin" restore "$work/full.kbak" --db "$target" --identity "$work/backup.key")"
  echo "backup: $backup_s s ($size); restore into PostgreSQL (checked against the manifest): $restore_s s"
fi
