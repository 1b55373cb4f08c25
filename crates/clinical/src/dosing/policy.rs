//! The clinic's dosing rules: vital-sign limits, the pre-dose blood-pressure gate, and the
//! minimum observation time per route before discharge can be signed.

use super::FieldError;
use super::vitals::{VitalLimits, Vitals};
use crate::course::Route;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Spravato label and REMS require at least 2 hours of observation (kap-protocol.md §2.3,
/// [R20][R22]); a clinic may ask for more, never less.
pub const ESKETAMINE_MIN_OBSERVATION: i64 = 120;
/// For the other routes the clinic sets the minimum; this is where it starts.
pub const DEFAULT_OBSERVATION: i64 = 120;
/// Slack for clocks and typing when a time is checked against "now".
pub const CLOCK_SLACK_MINUTES: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DosingPolicy {
    pub limits: VitalLimits,
    /// Spravato: assess BP before dosing; above 140/90 weigh the short-term rise against the
    /// benefit (kap-protocol.md §2.3, [R24][R24b]). Above the gate the pre-dose checklist needs
    /// a prescriber's written reason to proceed.
    pub predose_systolic_max: i64,
    pub predose_diastolic_max: i64,
    /// Minutes of observation after the last administration, by route id.
    pub observation_minutes: BTreeMap<String, i64>,
    /// Relative precautions (screening ids) this clinic does not screen for.
    pub precautions_off: Vec<String>,
}

impl Default for DosingPolicy {
    fn default() -> Self {
        DosingPolicy {
            limits: VitalLimits::default(),
            predose_systolic_max: 140,
            predose_diastolic_max: 90,
            observation_minutes: Route::ALL
                .iter()
                .map(|r| (r.as_str().to_string(), DEFAULT_OBSERVATION))
                .collect(),
            precautions_off: Vec::new(),
        }
    }
}

impl DosingPolicy {
    pub fn check(&self) -> Result<(), FieldError> {
        self.limits.check()?;
        if !(90..=220).contains(&self.predose_systolic_max)
            || !(50..=140).contains(&self.predose_diastolic_max)
        {
            return Err(FieldError::new(
                "predose_gate",
                "systolic gate must lie within 90–220 mmHg and diastolic within 50–140 mmHg",
            ));
        }
        for (route, minutes) in &self.observation_minutes {
            let r = Route::parse(route)?;
            let min = if r == Route::IntranasalEsketamine {
                ESKETAMINE_MIN_OBSERVATION
            } else {
                0
            };
            if !(min..=720).contains(minutes) {
                return Err(FieldError::new(
                    format!("observation_minutes.{route}"),
                    format!("{minutes} is outside the allowed range {min}–720 minutes"),
                ));
            }
        }
        for id in &self.precautions_off {
            match super::screening::condition(id) {
                Some(c) if c.kind == super::screening::Kind::Relative => {}
                Some(_) => {
                    return Err(FieldError::new(
                        "precautions_off",
                        format!("'{id}' is a labelled contraindication and is always screened"),
                    ));
                }
                None => {
                    return Err(FieldError::new(
                        "precautions_off",
                        format!("'{id}' is not a screening item"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn observation_minutes(&self, route: Route) -> i64 {
        let set = self
            .observation_minutes
            .get(route.as_str())
            .copied()
            .unwrap_or(DEFAULT_OBSERVATION);
        if route == Route::IntranasalEsketamine {
            set.max(ESKETAMINE_MIN_OBSERVATION)
        } else {
            set
        }
    }

    /// Discharge can be signed from the latest end of observation over all administrations:
    /// counted from the last dose, so a booster restarts the clock (stricter than counting from
    /// the first, as the REMS form's "total minutes" does).
    pub fn earliest_discharge(&self, given: &[(Timestamp, Route)]) -> Option<Timestamp> {
        given
            .iter()
            .map(|(t, r)| *t + SignedDuration::from_mins(self.observation_minutes(*r)))
            .max()
    }

    /// Why a pre-dose reading is above the gate, if it is.
    pub fn predose_gate(&self, v: &Vitals) -> Option<String> {
        match (v.systolic, v.diastolic) {
            (Some(s), Some(d))
                if s > self.predose_systolic_max || d > self.predose_diastolic_max =>
            {
                Some(format!(
                    "pre-dose blood pressure {s}/{d} mmHg is above the clinic's gate of {}/{} mmHg",
                    self.predose_systolic_max, self.predose_diastolic_max
                ))
            }
            _ => None,
        }
    }
}

/// A time in a session must not precede its start, nor lie in the future.
pub fn check_session_time(
    field: &str,
    t: Timestamp,
    started: Timestamp,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Result<(), FieldError> {
    let show = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    if t < started {
        return Err(FieldError::new(
            field,
            format!(
                "{} is before the session began at {}",
                show(t),
                show(started)
            ),
        ));
    }
    check_not_future(field, t, now, tz)
}

pub fn check_not_future(
    field: &str,
    t: Timestamp,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Result<(), FieldError> {
    if t > now + SignedDuration::from_mins(CLOCK_SLACK_MINUTES) {
        return Err(FieldError::new(
            field,
            format!(
                "{} is in the future",
                t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid") + SignedDuration::from_mins(min)
    }

    #[test]
    fn esketamine_observation_never_below_two_hours() {
        let mut p = DosingPolicy::default();
        p.observation_minutes.insert("sublingual".into(), 60);
        p.observation_minutes
            .insert("intranasal_esketamine".into(), 30);
        assert_eq!(p.observation_minutes(Route::Sublingual), 60);
        assert_eq!(p.observation_minutes(Route::IntranasalEsketamine), 120);
        let e = p.check().expect_err("refused");
        assert_eq!(e.field, "observation_minutes.intranasal_esketamine");
    }

    #[test]
    fn a_booster_restarts_the_observation_clock() {
        let p = DosingPolicy::default();
        let given = [(t(0), Route::Sublingual), (t(20), Route::Sublingual)];
        assert_eq!(p.earliest_discharge(&given), Some(t(140)));
        assert_eq!(p.earliest_discharge(&[]), None);
    }

    #[test]
    fn the_predose_gate_is_inclusive_of_its_limit() {
        let p = DosingPolicy::default();
        let v = |s, d| Vitals {
            systolic: Some(s),
            diastolic: Some(d),
            ..Default::default()
        };
        assert_eq!(p.predose_gate(&v(140, 90)), None);
        assert!(p.predose_gate(&v(141, 80)).is_some());
        assert!(p.predose_gate(&v(130, 91)).is_some());
    }

    #[test]
    fn times_before_the_session_or_in_the_future_are_refused() {
        let tz = jiff::tz::TimeZone::UTC;
        let e = check_session_time("taken_at", t(-1), t(0), t(60), &tz).expect_err("before");
        assert_eq!(e.field, "taken_at");
        assert!(e.message.contains("before the session began"), "{e}");
        assert!(check_session_time("taken_at", t(66), t(0), t(60), &tz).is_err());
        assert!(check_session_time("taken_at", t(64), t(0), t(60), &tz).is_ok());
    }

    #[test]
    fn the_default_policy_is_valid() {
        DosingPolicy::default().check().expect("valid");
        let off = DosingPolicy {
            precautions_off: vec!["aneurysmal_vascular_disease".into()],
            ..Default::default()
        };
        assert_eq!(off.check().expect_err("hard").field, "precautions_off");
    }
}
