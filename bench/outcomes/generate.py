"""Writes a synthetic cohort as kapstone's four import CSVs (labelled synthetic in every name).

Each course: one patient, 4-8 weekly doses, PHQ-9 (item answers and total), GAD-7 and PCL-5
(totals) at baseline, before each dose, and at 1, 3 and 6 months, with loss to follow-up.
"""
import argparse
import csv
import datetime as dt
import os
import random

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--courses", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1806)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    start = dt.date(2022, 1, 3)
    files = {name: open(os.path.join(args.out, name), "w", newline="") for name in
             ["patients.csv", "courses.csv", "doses.csv", "assessments.csv"]}
    w = {k: csv.writer(f) for k, f in files.items()}
    w["patients.csv"].writerow(["patient_id", "given_name", "family_name", "birth_date", "sex", "postal_code", "email", "phone"])
    w["courses.csv"].writerow(["course_id", "patient_id", "indication", "route", "start_date"])
    w["doses.csv"].writerow(["course_id", "date", "route", "dose_mg", "weight_kg"])
    w["assessments.csv"].writerow(["course_id", "date", "instrument", "answers", "total"])
    rows = 0
    for i in range(args.courses):
        pid, cid = f"S{i:06d}", f"SC{i:06d}"
        sex = rng.choice(["female", "male", "female", "other"])
        w["patients.csv"].writerow([pid, "Synthetic", f"Patient{i}", f"{rng.randint(1950, 2002)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", sex, f"{80000 + i % 999:05d}", "", ""])
        indication = rng.choice(["mdd", "gad", "ptsd", "trd"])
        route = rng.choice(["sublingual", "im", "iv", "intranasal_esketamine"])
        begin = start + dt.timedelta(days=rng.randint(0, 900))
        w["courses.csv"].writerow([cid, pid, indication, route, begin.isoformat()])
        d0 = begin + dt.timedelta(days=7)
        doses = [d0 + dt.timedelta(days=7 * k) for k in range(rng.randint(4, 8))]
        for d in doses:
            mg = 56 if route == "intranasal_esketamine" else rng.choice([50, 100, 150])
            w["doses.csv"].writerow([cid, d.isoformat(), route, mg, rng.randint(50, 110)])
        base = rng.randint(6, 26)
        effect = rng.uniform(0.2, 0.8)
        # Days from D0 with an assessment: baseline, before each dose, 1, 3, 6 months; later ones lost.
        days = sorted(set([-3] + [(d - d0).days - 1 for d in doses[1:]] + [(d - d0).days + 2 for d in doses] + [30, 90, 180]))
        keep = 1.0
        for k, day in enumerate(days):
            if day >= 30:
                keep *= 0.7
                if rng.random() > keep:
                    break
            when = (d0 + dt.timedelta(days=day)).isoformat()
            frac = min(1.0, max(0.0, day / 60)) if day > 0 else 0.0
            total = max(0, min(27, round(base * (1 - effect * frac) + rng.gauss(0, 2))))
            items = [total // 9 + (1 if j < total % 9 else 0) for j in range(9)]
            w["assessments.csv"].writerow([cid, when, "phq9", ";".join(map(str, items)), total])
            w["assessments.csv"].writerow([cid, when, "gad7", "", max(0, min(21, round(total * 0.75)))])
            rows += 2
            if indication == "ptsd":
                w["assessments.csv"].writerow([cid, when, "pcl5", "", max(0, min(80, total * 3))])
                rows += 1
    for f in files.values():
        f.close()
    print(f"synthetic cohort: {args.courses} courses, {rows} assessments in {args.out}")

if __name__ == "__main__":
    main()
