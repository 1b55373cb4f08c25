"""The outcomes benchmark: kapstone report against DuckDB and pandas on the same synthetic
cohort, computing the same 3-month PHQ-9 response rate; checks the three agree and prints the
timings, ratios and peak memory. Run through ./run.sh (one command).

kapstone's time is the whole `kapstone report --format json` command reading from its database
(every instrument, window and measure). DuckDB's is its query over a database file loaded
beforehand (the load is not timed); pandas' includes reading the CSVs, as the issue specifies.
"""
import json
import os
import resource
import subprocess
import sys
import time

def run(cmd, **kw):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    return time.perf_counter() - t, out

def peak_child_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

DUCK_SQL = """
WITH d0 AS (SELECT course_id, min(date) AS d0 FROM doses GROUP BY course_id),
phq AS (
  SELECT a.course_id, a.date, a.total, d0.d0 FROM assessments a JOIN d0 USING (course_id)
  WHERE a.instrument = 'phq9' AND a.total IS NOT NULL),
base AS (
  SELECT course_id, arg_max(total, date) AS baseline FROM phq
  WHERE date BETWEEN d0 - INTERVAL 30 DAY AND d0 GROUP BY course_id),
win AS (
  SELECT course_id, total, row_number() OVER (
    PARTITION BY course_id ORDER BY abs(date_diff('day', d0, date) - 90), date) AS rk
  FROM phq WHERE date_diff('day', d0, date) BETWEEN 60 AND 120)
SELECT count(*) FILTER (WHERE (b.baseline - w.total) / b.baseline >= 0.5) AS n, count(*) AS observed
FROM base b JOIN win w ON w.course_id = b.course_id AND w.rk = 1
WHERE b.baseline >= 10
"""

def duckdb_load(db, csv_dir):
    import duckdb
    con = duckdb.connect(db)
    for t in ["doses", "assessments"]:
        con.execute(f"CREATE OR REPLACE TABLE {t} AS SELECT * FROM read_csv_auto('{csv_dir}/{t}.csv', header=true)")
    con.close()

def duckdb_query(db):
    import duckdb
    con = duckdb.connect(db, read_only=True)
    t = time.perf_counter()
    n, observed = con.execute(DUCK_SQL).fetchone()
    return time.perf_counter() - t, (n, observed)

def pandas_query(csv_dir):
    import pandas as pd
    t = time.perf_counter()
    doses = pd.read_csv(f"{csv_dir}/doses.csv", parse_dates=["date"])
    a = pd.read_csv(f"{csv_dir}/assessments.csv", parse_dates=["date"])
    d0 = doses.groupby("course_id")["date"].min().rename("d0")
    phq = a[(a.instrument == "phq9") & a.total.notna()].join(d0, on="course_id", how="inner")
    phq["day"] = (phq.date - phq.d0).dt.days
    base = phq[(phq.day >= -30) & (phq.day <= 0)].sort_values(["course_id", "date"]).groupby("course_id").last()["total"].rename("baseline")
    w = phq[(phq.day >= 60) & (phq.day <= 120)].copy()
    w["dist"] = (w.day - 90).abs()
    w = w.sort_values(["course_id", "dist", "date"]).groupby("course_id").first()["total"]
    j = pd.concat([base, w.rename("score")], axis=1, join="inner")
    j = j[j.baseline >= 10]
    n = int(((j.baseline - j.score) / j.baseline >= 0.5).sum())
    return time.perf_counter() - t, (n, int(len(j)))

def main():
    kapstone, db, csv_dir, duck = sys.argv[1:5]
    # kapstone: the report command, reading the database the import filled.
    t_k, out = run([kapstone, "report", "--db", db, "--format", "json"])
    k_mem = peak_child_mib()
    rep = json.loads(out.stdout)
    r3 = rep["instruments"]["phq9"]["windows"]["3m"]["response"]
    k = (r3["n"], r3["of"])
    duckdb_load(duck, csv_dir)
    t_d, d = duckdb_query(duck)
    t_p, p = pandas_query(csv_dir)
    own_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"3m PHQ-9 response (n of observed): kapstone {k}, DuckDB {d}, pandas {p}")
    agree = k == d == p
    print("the three agree" if agree else "THE THREE DISAGREE")
    backend = "PostgreSQL" if db.startswith("postgres") else "SQLite"
    print(f"kapstone report --format json ({backend}): {t_k:.3f} s (peak memory {k_mem:.0f} MiB)")
    print(f"DuckDB query (file loaded beforehand): {t_d:.3f} s")
    print(f"pandas (reading the CSVs and computing): {t_p:.3f} s (this Python process peak {own_mem:.0f} MiB, DuckDB and pandas together)")
    print(f"ratio kapstone / DuckDB: {t_k / t_d:.1f}x (target <= 1.0x)")
    print(f"ratio pandas / kapstone: {t_p / t_k:.1f}x (target >= 10x)")
    sys.exit(0 if agree else 1)

if __name__ == "__main__":
    main()
