//! Cohort outcomes the way published KAP studies count them, with every denominator kept:
//! baseline, eligibility, windows at 1, 3 and 6 months, response / remission / MCID / reliable
//! improvement, outcomes after the Nth dose, durability of response (Kaplan–Meier), and 3-month
//! subgroups. The definitions are data ([`Definitions`]), printed with every report.
//!
//! Input is a compact snapshot: per course its dose dates and its scored questionnaires by date.
//! Pure: no I/O, no clock.

pub mod charts;
mod definitions;
mod pdf_report;
pub mod present;
mod stats;
#[cfg(test)]
mod tests;

pub use definitions::{Definitions, InstrumentRule, PRESETS, Window};
pub use pdf_report::report_pdf;
pub use stats::{Follow, Rate, kaplan_meier, wilson};

use jiff::civil::Date;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One questionnaire result of a course; `total` is None for an incomplete form (never used).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub instrument: std::sync::Arc<str>,
    pub date: Date,
    pub total: Option<f64>,
}

/// What the report needs of one course.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseData {
    pub indication: String,
    pub route: String,
    pub sex: String,
    /// The patient's latest ACE total, if they have one.
    pub ace: Option<f64>,
    /// Dates of the dosing sessions.
    pub doses: Vec<Date>,
    pub assessments: Vec<Scored>,
}

/// The outcome measures over the courses observed in one window (or after one dose).
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub observed: usize,
    pub mean_change: Option<f64>,
    pub response: Rate,
    pub remission: Rate,
    /// None where the instrument has no threshold (HAM-A).
    pub mcid: Option<Rate>,
    pub reliable_improvement: Option<Rate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Durability {
    pub events: usize,
    pub censored: usize,
    pub median_days: Option<i64>,
    pub km: Vec<[f64; 2]>,
}

/// 3-month observed and response, for one subgroup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Subgroup {
    pub observed: usize,
    pub response: Rate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentReport {
    pub instrument: String,
    pub with_baseline: usize,
    pub eligible: usize,
    /// By window id, in the definitions' order.
    pub windows: Vec<(String, Measures)>,
    /// By dose number (1, 2, …).
    pub after_dose: Vec<(usize, Measures)>,
    pub durability: Durability,
    /// Percent change from baseline, (score − baseline) / baseline × 100, of each course
    /// observed in the subgroup window (3m by default), most worsened first: the waterfall.
    pub waterfall: Vec<f64>,
    pub ace_high: Subgroup,
    pub ace_low: Subgroup,
    pub indication: BTreeMap<String, Subgroup>,
    pub route: BTreeMap<String, Subgroup>,
    pub sex: BTreeMap<String, Subgroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CohortReport {
    pub courses: usize,
    /// Courses with at least one dose: only these have a D0 and are analysed.
    pub courses_with_dose: usize,
    pub instruments: Vec<InstrumentReport>,
}

/// One observed course's result against its baseline.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    baseline: f64,
    score: f64,
}

/// Accumulates outcomes into [`Measures`].
#[derive(Debug, Default, Clone)]
struct Tally {
    outcomes: Vec<Outcome>,
}

impl Tally {
    fn measures(&self, rule: &InstrumentRule, defs: &Definitions) -> Measures {
        let n = self.outcomes.len();
        let count = |f: &dyn Fn(&Outcome) -> bool| self.outcomes.iter().filter(|o| f(o)).count();
        #[allow(clippy::cast_precision_loss)] // counts of courses
        let mean_change = (n > 0).then(|| {
            self.outcomes
                .iter()
                .map(|o| o.score - o.baseline)
                .sum::<f64>()
                / n as f64
        });
        Measures {
            observed: n,
            mean_change,
            response: Rate::new(count(&|o| responds(o.baseline, o.score, defs)), n),
            remission: Rate::new(count(&|o| o.score < rule.remission_below), n),
            mcid: rule
                .mcid
                .map(|t| Rate::new(count(&|o| o.baseline - o.score >= t), n)),
            reliable_improvement: rule
                .reliable_improvement
                .map(|t| Rate::new(count(&|o| o.baseline - o.score >= t), n)),
        }
    }
}

fn responds(baseline: f64, score: f64, defs: &Definitions) -> bool {
    baseline > 0.0 && (baseline - score) / baseline >= defs.response_fraction
}

/// The window's assessment: the one closest to the target day, the earlier on a tie (the series
/// is in date order, and `min_by_key` keeps the first of equal keys).
fn in_window(series: &[(i64, f64)], d0: i64, w: &Window) -> Option<f64> {
    series
        .iter()
        .map(|(d, t)| (d - d0, *t))
        .filter(|(k, _)| (w.from..=w.to).contains(k))
        .min_by_key(|(k, _)| (k - w.target).abs())
        .map(|(_, t)| t)
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Hinnant's `days_from_civil`):
/// the analysis counts whole days between dates millions of times, and integer subtraction is
/// what that needs (jiff's calendar spans cost microseconds each).
pub fn day_number(d: Date) -> i64 {
    let (m, day) = (i64::from(d.month()), i64::from(d.day()));
    let y = i64::from(d.year()) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Computes every instrument's report over the courses. The instruments are independent, so
/// each is computed on its own thread: a large clinic's report takes a noticeable fraction of
/// a second per instrument.
pub fn report(courses: &[CourseData], defs: &Definitions) -> CohortReport {
    // Each course's dose days, sorted, once for every instrument.
    let doses: Vec<Vec<i64>> = courses
        .iter()
        .map(|c| {
            let mut d: Vec<i64> = c.doses.iter().map(|d| day_number(*d)).collect();
            d.sort_unstable();
            d
        })
        .collect();
    let doses = doses.as_slice();
    let instruments = std::thread::scope(|scope| {
        let running: Vec<_> = defs
            .instruments
            .iter()
            .map(|rule| scope.spawn(move || instrument_report(courses, doses, rule, defs)))
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    CohortReport {
        courses: courses.len(),
        courses_with_dose: courses.iter().filter(|c| !c.doses.is_empty()).count(),
        instruments,
    }
}

fn instrument_report(
    courses: &[CourseData],
    dose_days: &[Vec<i64>],
    rule: &InstrumentRule,
    defs: &Definitions,
) -> InstrumentReport {
    let mut with_baseline = 0;
    let mut eligible = 0;
    let mut windows: Vec<Tally> = vec![Tally::default(); defs.windows.len()];
    let mut after_dose: Vec<Tally> = Vec::new();
    let mut follows = Vec::new();
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    let mut waterfall = Vec::new();
    let subgroup_window = defs
        .windows
        .iter()
        .position(|w| w.id == defs.subgroup_window);

    for (course, doses) in courses.iter().zip(dose_days) {
        let Some(&d0) = doses.first() else {
            continue;
        };
        let mut series: Vec<(i64, f64)> = course
            .assessments
            .iter()
            .filter(|a| *a.instrument == *rule.id)
            .filter_map(|a| Some((day_number(a.date), a.total?)))
            .collect();
        // Stable: assessments of one day keep their given order.
        series.sort_by_key(|(d, _)| *d);

        let baseline = series
            .iter()
            .rfind(|(d, _)| (0..=defs.baseline_days_before).contains(&(d0 - d)))
            .map(|(_, t)| *t);
        let Some(baseline) = baseline else {
            continue;
        };
        with_baseline += 1;
        if baseline < rule.caseness {
            continue;
        }
        eligible += 1;

        for (w, tally) in defs.windows.iter().zip(windows.iter_mut()) {
            if let Some(score) = in_window(&series, d0, w) {
                tally.outcomes.push(Outcome { baseline, score });
            }
        }
        let subgroup_score = subgroup_window.and_then(|i| in_window(&series, d0, &defs.windows[i]));
        if let Some(score) = subgroup_score {
            let o = Outcome { baseline, score };
            // A baseline of 0 (possible only where a preset drops caseness) has no percent change.
            if baseline > 0.0 {
                waterfall.push((score - baseline) / baseline * 100.0);
            }
            let mut keys = vec![
                format!("indication.{}", course.indication),
                format!("route.{}", course.route),
                format!("sex.{}", course.sex),
            ];
            match course.ace {
                Some(a) if a >= defs.ace_high_at => keys.push("ace_high".into()),
                Some(_) => keys.push("ace_low".into()),
                None => {}
            }
            for k in keys {
                groups.entry(k).or_default().outcomes.push(o);
            }
        }

        for (i, dose) in doses.iter().enumerate() {
            let until = doses
                .get(i + 1)
                .copied()
                .unwrap_or(dose + defs.last_dose_follow_days);
            let hit = series.iter().rfind(|(d, _)| d > dose && *d <= until);
            if after_dose.len() <= i {
                after_dose.resize(i + 1, Tally::default());
            }
            if let Some((_, score)) = hit {
                after_dose[i].outcomes.push(Outcome {
                    baseline,
                    score: *score,
                });
            }
        }

        let after: Vec<&(i64, f64)> = series.iter().filter(|(d, _)| *d > d0).collect();
        if let Some(start) = after.iter().position(|(_, t)| responds(baseline, *t, defs)) {
            let t0 = after[start].0;
            let later = &after[start + 1..];
            match later.iter().find(|(_, t)| !responds(baseline, *t, defs)) {
                Some((d, _)) => follows.push(Follow {
                    days: d - t0,
                    event: true,
                }),
                None => follows.push(Follow {
                    days: after.last().map_or(0, |(d, _)| d - t0),
                    event: false,
                }),
            }
        }
    }

    let (km, median_days) = kaplan_meier(&follows);
    waterfall.sort_by(|a: &f64, b: &f64| b.total_cmp(a));
    let group = |key: &str| {
        let m = groups
            .get(key)
            .map(|t| t.measures(rule, defs))
            .unwrap_or_else(|| Tally::default().measures(rule, defs));
        Subgroup {
            observed: m.observed,
            response: m.response,
        }
    };
    let by_prefix = |prefix: &str| -> BTreeMap<String, Subgroup> {
        groups
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(|id| (id.to_string(), group(&format!("{prefix}{id}"))))
            .collect()
    };
    InstrumentReport {
        instrument: rule.id.clone(),
        with_baseline,
        eligible,
        windows: defs
            .windows
            .iter()
            .zip(&windows)
            .map(|(w, t)| (w.id.clone(), t.measures(rule, defs)))
            .collect(),
        after_dose: after_dose
            .iter()
            .enumerate()
            .map(|(i, t)| (i + 1, t.measures(rule, defs)))
            .collect(),
        durability: Durability {
            events: follows.iter().filter(|f| f.event).count(),
            censored: follows.iter().filter(|f| !f.event).count(),
            median_days,
            km,
        },
        waterfall,
        ace_high: group("ace_high"),
        ace_low: group("ace_low"),
        indication: by_prefix("indication."),
        route: by_prefix("route."),
        sex: by_prefix("sex."),
    }
}

fn rate_json(r: &Rate) -> Value {
    json!({ "n": r.n, "of": r.of, "rate": r.rate, "ci95": r.ci95 })
}

fn measures_json(m: &Measures) -> Value {
    json!({
        "observed": m.observed,
        "mean_change": m.mean_change,
        "response": rate_json(&m.response),
        "remission": rate_json(&m.remission),
        "mcid": m.mcid.as_ref().map(rate_json),
        "reliable_improvement": m.reliable_improvement.as_ref().map(rate_json),
    })
}

fn subgroup_json(s: &Subgroup) -> Value {
    json!({ "observed": s.observed, "response": rate_json(&s.response) })
}

fn subgroups_json(map: &BTreeMap<String, Subgroup>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, s)| (k.clone(), subgroup_json(s)))
            .collect::<Map<_, _>>(),
    )
}

/// The report as JSON: `definitions`, `synthetic`, and per instrument `with_baseline`,
/// `eligible`, `windows`, `after_dose`, `durability` and `subgroups`.
pub fn to_json(report: &CohortReport, defs: &Definitions, synthetic: bool) -> Value {
    let instruments: Map<String, Value> = report
        .instruments
        .iter()
        .map(|r| {
            let windows: Map<String, Value> = r
                .windows
                .iter()
                .map(|(id, m)| (id.clone(), measures_json(m)))
                .collect();
            let after: Map<String, Value> = r
                .after_dose
                .iter()
                .map(|(n, m)| (n.to_string(), measures_json(m)))
                .collect();
            (
                r.instrument.clone(),
                json!({
                    "with_baseline": r.with_baseline,
                    "eligible": r.eligible,
                    "windows": windows,
                    "after_dose": after,
                    "durability": {
                        "events": r.durability.events,
                        "censored": r.durability.censored,
                        "median_days": r.durability.median_days,
                        "km": r.durability.km,
                    },
                    "subgroups": {
                        "ace_high": subgroup_json(&r.ace_high),
                        "ace_low": subgroup_json(&r.ace_low),
                        "indication": subgroups_json(&r.indication),
                        "route": subgroups_json(&r.route),
                        "sex": subgroups_json(&r.sex),
                    },
                }),
            )
        })
        .collect();
    json!({
        "synthetic": synthetic,
        "definitions": defs,
        "courses": report.courses,
        "courses_with_dose": report.courses_with_dose,
        "instruments": instruments,
    })
}

/// The report as CSV, one row per number: instrument, section (`count`, `window`,
/// `after_dose`, `durability`, `subgroup`), group (window id, dose number or subgroup), measure,
/// n, of, rate, ci95_low, ci95_high, value.
pub fn to_csv(report: &CohortReport) -> String {
    fn num(v: Option<f64>) -> String {
        v.map(|x| format!("{x:.6}")).unwrap_or_default()
    }
    fn rate(i: &str, section: &str, group: &str, measure: &str, r: &Rate) -> String {
        format!(
            "{i},{section},{group},{measure},{},{},{},{},{},",
            r.n,
            r.of,
            num(r.rate),
            num(r.ci95.map(|c| c[0])),
            num(r.ci95.map(|c| c[1])),
        )
    }
    let mut rows =
        vec!["instrument,section,group,measure,n,of,rate,ci95_low,ci95_high,value".to_string()];
    for r in &report.instruments {
        let i = r.instrument.as_str();
        rows.push(format!("{i},count,,with_baseline,,,,,,{}", r.with_baseline));
        rows.push(format!("{i},count,,eligible,,,,,,{}", r.eligible));
        let sections = r
            .windows
            .iter()
            .map(|(w, m)| ("window", w.clone(), m))
            .chain(
                r.after_dose
                    .iter()
                    .map(|(n, m)| ("after_dose", n.to_string(), m)),
            );
        for (section, group, m) in sections {
            rows.push(format!(
                "{i},{section},{group},observed,,,,,,{}",
                m.observed
            ));
            rows.push(format!(
                "{i},{section},{group},mean_change,,,,,,{}",
                num(m.mean_change)
            ));
            rows.push(rate(i, section, &group, "response", &m.response));
            rows.push(rate(i, section, &group, "remission", &m.remission));
            if let Some(x) = &m.mcid {
                rows.push(rate(i, section, &group, "mcid", x));
            }
            if let Some(x) = &m.reliable_improvement {
                rows.push(rate(i, section, &group, "reliable_improvement", x));
            }
        }
        let d = &r.durability;
        rows.push(format!("{i},durability,,events,,,,,,{}", d.events));
        rows.push(format!("{i},durability,,censored,,,,,,{}", d.censored));
        rows.push(format!(
            "{i},durability,,median_days,,,,,,{}",
            d.median_days.map(|m| m.to_string()).unwrap_or_default()
        ));
        let groups = [
            ("ace_high".to_string(), &r.ace_high),
            ("ace_low".to_string(), &r.ace_low),
        ]
        .into_iter()
        .chain(
            r.indication
                .iter()
                .map(|(k, s)| (format!("indication.{k}"), s)),
        )
        .chain(r.route.iter().map(|(k, s)| (format!("route.{k}"), s)))
        .chain(r.sex.iter().map(|(k, s)| (format!("sex.{k}"), s)));
        for (g, s) in groups {
            rows.push(rate(i, "subgroup", &g, "response", &s.response));
        }
    }
    let mut out = rows.join("\n");
    out.push('\n');
    out
}
