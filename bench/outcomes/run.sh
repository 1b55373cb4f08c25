#!/usr/bin/env bash
# The outcomes benchmark, one command: ./bench/outcomes/run.sh [COURSES]  (default 100000).
# Generates a synthetic cohort as the four CSVs, imports it into a fresh SQLite database with a
# release build of kapstone, then times `kapstone report` against DuckDB and pandas computing the
# same 3-month PHQ-9 response rate, checks they agree and prints the ratios. Not part of CI.
# Needs python3 with venv (Debian: python3-venv); installs duckdb and pandas from PyPI into
# bench/outcomes/.venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
courses="${1:-100000}"
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

echo "== building kapstone (release)"
(cd "$root" && cargo build -q --release -j2 -p kapstone)
bin="$root/target/release/kapstone"
db="sqlite://$work/kapstone.db"
"$bin" clinic create --db "$db" --name "Synthetic benchmark clinic" --time-zone UTC >/dev/null
"$bin" user add --db "$db" --email bench@synthetic.test --role admin >/dev/null
echo "== importing (timed separately; not part of the comparison)"
"$py" -c 'import subprocess, sys, time; t = time.time(); subprocess.run(sys.argv[1:], check=True); print(f"import: {time.time() - t:.1f} s")' \
  "$bin" import "$work/csv" --db "$db" --as bench@synthetic.test

echo "== timing"
"$py" "$here/bench.py" "$bin" "$db" "$work/csv" "$work/duck.db"
