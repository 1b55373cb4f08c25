//! The text of a course's outcome series (migration 0006), which the cohort report reads instead
//! of the assessment and encounter rows: scored questionnaires as `instrument U+001F time
//! U+001F total` and completed dosing sessions as `time`, points separated by U+001E. Times are
//! microseconds since the epoch, or RFC 3339 text where SQLite's back-fill met a time not in its
//! usual fixed-width form. Also the decoding of the other aggregated text the outcome snapshot
//! reads (patients, courses, chunks of series).

use crate::error::{Result, StoreError};
use crate::local_date::LocalDates;
use crate::model::{Assessment, CourseId, OutcomeCourse, PatientId};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("course_series.{column}: {e}"))
}

/// The point a scored assessment of a course adds; none for an assessment outside a course or
/// without a total, which the report does not count either.
pub(crate) fn score_point(a: &Assessment) -> Option<String> {
    a.course_id?;
    let total = a.total?;
    // `{total}` is the shortest text that parses back to the same f64.
    Some(format!(
        "{}\u{1f}{}\u{1f}{total}",
        a.instrument,
        a.administered_at.as_microsecond()
    ))
}

/// The point a completed dosing session adds.
pub(crate) fn dose_point(occurred_at: Timestamp) -> String {
    occurred_at.as_microsecond().to_string()
}

fn parse_time(column: &str, at: &str) -> Result<Timestamp> {
    match at.parse::<i64>() {
        Ok(micros) => Timestamp::from_microsecond(micros).map_err(|e| corrupt(column, e)),
        Err(_) => at.parse().map_err(|e| corrupt(column, e)),
    }
}

fn points(text: &str) -> impl Iterator<Item = &str> {
    text.split('\u{1e}').filter(|p| !p.is_empty())
}

/// The dates of a course's completed dosing sessions, in order.
pub(crate) fn parse_doses(text: &str, dates: &mut LocalDates) -> Result<Vec<Date>> {
    let mut out = points(text)
        .map(|at| Ok(dates.date(parse_time("doses", at)?)))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    Ok(out)
}

/// A course's scored questionnaires as (instrument, date, total), ordered by date, then
/// instrument, time and total, so that the order never depends on how the text was written.
pub(crate) fn parse_scores(
    text: &str,
    dates: &mut LocalDates,
    names: &mut Names,
) -> Result<Vec<(Arc<str>, Date, f64)>> {
    let mut parsed = points(text)
        .map(|point| {
            let mut f = point.splitn(3, '\u{1f}');
            let (Some(instrument), Some(at), Some(total)) = (f.next(), f.next(), f.next()) else {
                return Err(corrupt("scores", "a point has fewer than three fields"));
            };
            let at = parse_time("scores", at)?;
            let total: f64 = total.parse().map_err(|e| corrupt("scores", e))?;
            Ok((dates.date(at), instrument, at, total))
        })
        .collect::<Result<Vec<_>>>()?;
    parsed.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then(a.3.total_cmp(&b.3))
    });
    Ok(parsed
        .into_iter()
        .map(|(date, instrument, _, total)| (names.get(instrument), date, total))
        .collect())
}

fn records(text: &str, separator: char) -> impl Iterator<Item = &str> {
    text.split(separator).filter(|r| !r.is_empty())
}

fn uuid(column: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| corrupt(column, e))
}

/// Each patient's sex from `id U+001F sex` records separated by U+001E.
pub(crate) fn parse_patients(text: &str) -> Result<HashMap<Uuid, &str>> {
    records(text, '\u{1e}')
        .map(|r| {
            let (id, sex) = r
                .split_once('\u{1f}')
                .ok_or_else(|| corrupt("patients", "a record has fewer than two fields"))?;
            Ok((uuid("patients", id)?, sex))
        })
        .collect()
}

/// The courses from `id U+001F patient U+001F indication U+001F planned route` records
/// separated by U+001E, with their patient's sex; no doses or scores yet.
pub(crate) fn parse_courses(text: &str, sexes: &HashMap<Uuid, &str>) -> Result<Vec<OutcomeCourse>> {
    records(text, '\u{1e}')
        .map(|r| {
            let f: Vec<&str> = r.split('\u{1f}').collect();
            let [id, patient, indication, route] = f[..] else {
                return Err(corrupt("courses", format!("{} fields", f.len())));
            };
            let patient = uuid("courses", patient)?;
            let sex = sexes.get(&patient).ok_or_else(|| {
                corrupt("courses", format!("patient {patient} is not in the clinic"))
            })?;
            Ok(OutcomeCourse {
                course_id: CourseId(uuid("courses", id)?),
                patient_id: PatientId(patient),
                indication: indication.to_string(),
                route: route.to_string(),
                sex: sex.to_string(),
                doses: Vec::new(),
                assessments: Vec::new(),
            })
        })
        .collect()
}

/// One course's decoded series: its id, dose dates and scores.
pub(crate) type Decoded = (Uuid, Vec<Date>, Vec<(Arc<str>, Date, f64)>);

/// Instrument ids, each allocated once per decoder and shared by its points.
#[derive(Default)]
pub(crate) struct Names(Vec<Arc<str>>);

impl Names {
    pub(crate) fn get(&mut self, id: &str) -> Arc<str> {
        // A clinic uses a handful of instruments: a scan beats hashing.
        if let Some(n) = self.0.iter().find(|n| ***n == *id) {
            return n.clone();
        }
        let n: Arc<str> = id.into();
        self.0.push(n.clone());
        n
    }
}

/// Decodes a chunk of series read as three lists separated by U+001C, in the same order: course
/// ids, their scores, their doses (either may be empty for a course).
pub(crate) fn decode_chunk(
    ids: &str,
    scores: &str,
    doses: &str,
    dates: &mut LocalDates,
) -> Result<Vec<Decoded>> {
    let mut names = Names::default();
    let ids: Vec<&str> = ids.split('\u{1c}').collect();
    let scores: Vec<&str> = scores.split('\u{1c}').collect();
    let doses: Vec<&str> = doses.split('\u{1c}').collect();
    if ids.len() != scores.len() || ids.len() != doses.len() {
        return Err(corrupt(
            "chunk",
            format!(
                "{} courses, {} scores, {} doses",
                ids.len(),
                scores.len(),
                doses.len()
            ),
        ));
    }
    ids.into_iter()
        .zip(scores)
        .zip(doses)
        .map(|((id, scores), doses)| {
            Ok((
                uuid("course_id", id)?,
                parse_doses(doses, dates)?,
                parse_scores(scores, dates, &mut names)?,
            ))
        })
        .collect()
}

/// The last course id of a chunk's id list, where the next chunk starts.
pub(crate) fn last_id(ids: &str) -> Result<Uuid> {
    uuid("course_id", ids.rsplit('\u{1c}').next().unwrap_or(ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    fn denver() -> LocalDates {
        LocalDates::new(TimeZone::get("America/Denver").expect("zone"))
    }

    #[test]
    fn points_read_back_as_written_in_clinic_dates() {
        // 2026-03-08 05:30 UTC is still the 7th in Denver (UTC-7).
        let at = Timestamp::from_second(1_772_947_800).expect("valid");
        let text = format!(
            "phq9\u{1f}{}\u{1f}0.30000000000000004\u{1e}gad7\u{1f}2026-03-09T12:00:00.000000Z\u{1f}7",
            at.as_microsecond()
        );
        let got = parse_scores(&text, &mut denver(), &mut Names::default()).expect("parse");
        assert_eq!(
            got,
            [
                ("phq9".into(), date(2026, 3, 7), 0.1 + 0.2),
                ("gad7".into(), date(2026, 3, 9), 7.0),
            ]
        );
        let doses = format!(
            "{}\u{1e}{}",
            dose_point(at + jiff::SignedDuration::from_hours(48)),
            dose_point(at)
        );
        assert_eq!(
            parse_doses(&doses, &mut denver()).expect("parse"),
            [date(2026, 3, 7), date(2026, 3, 9)]
        );
        assert!(parse_doses("", &mut denver()).expect("empty").is_empty());
    }

    #[test]
    fn the_order_does_not_depend_on_the_order_written() {
        let a = "pcl5\u{1f}1000\u{1f}3\u{1e}gad7\u{1f}2000\u{1f}2\u{1e}gad7\u{1f}1000\u{1f}5\u{1e}gad7\u{1f}1000\u{1f}4";
        let b = "gad7\u{1f}1000\u{1f}4\u{1e}gad7\u{1f}2000\u{1f}2\u{1e}pcl5\u{1f}1000\u{1f}3\u{1e}gad7\u{1f}1000\u{1f}5";
        let got = parse_scores(a, &mut denver(), &mut Names::default()).expect("parse");
        assert_eq!(
            got,
            parse_scores(b, &mut denver(), &mut Names::default()).expect("parse")
        );
        let totals: Vec<f64> = got.iter().map(|p| p.2).collect();
        assert_eq!(totals, [4.0, 5.0, 2.0, 3.0]);
    }

    #[test]
    fn a_chunk_keeps_courses_without_scores_or_doses_in_step() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let ids = format!("{}\u{1c}{}", a.simple(), b.hyphenated());
        let scores = "\u{1c}phq9\u{1f}1000\u{1f}3";
        let doses = "1000\u{1c}";
        let got = decode_chunk(&ids, scores, doses, &mut denver()).expect("decode");
        let shape: Vec<_> = got
            .iter()
            .map(|(id, d, s)| (*id, d.len(), s.len()))
            .collect();
        assert_eq!(shape, [(a, 1, 0), (b, 0, 1)]);
        assert_eq!(last_id(&ids).expect("last"), b);
        assert!(
            decode_chunk(&ids, "", doses, &mut denver()).is_err(),
            "out of step"
        );
    }

    #[test]
    fn damaged_text_is_an_error_not_a_guess() {
        assert!(parse_scores("phq9\u{1f}1000", &mut denver(), &mut Names::default()).is_err());
        assert!(
            parse_scores(
                "phq9\u{1f}soon\u{1f}3",
                &mut denver(),
                &mut Names::default()
            )
            .is_err()
        );
        assert!(
            parse_scores(
                "phq9\u{1f}1000\u{1f}many",
                &mut denver(),
                &mut Names::default()
            )
            .is_err()
        );
        assert!(parse_doses("yesterday", &mut denver()).is_err());
    }
}
