//! Vital signs: what can be recorded at all (a reading outside these ranges is a typo, not a
//! patient), and the clinic's limits that raise an alert.

use super::{FieldError, optional_number};
use serde::{Deserialize, Serialize};

/// One set of readings; any may be absent, but not all, and blood pressure comes as a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Vitals {
    pub systolic: Option<i64>,
    pub diastolic: Option<i64>,
    pub heart_rate: Option<i64>,
    pub spo2: Option<i64>,
    pub resp_rate: Option<i64>,
}

/// The readings as typed, before parsing.
#[derive(Debug, Clone, Default)]
pub struct VitalsInput<'a> {
    pub systolic: &'a str,
    pub diastolic: &'a str,
    pub heart_rate: &'a str,
    pub spo2: &'a str,
    pub resp_rate: &'a str,
}

/// The bounds of a recordable reading. Wider than any alert limit; they catch slips such as
/// 400/20 or an SpO2 of 990.
pub const SYSTOLIC: (i64, i64) = (50, 260);
pub const DIASTOLIC: (i64, i64) = (20, 160);
pub const HEART_RATE: (i64, i64) = (20, 250);
pub const SPO2: (i64, i64) = (50, 100);
pub const RESP_RATE: (i64, i64) = (4, 60);

impl Vitals {
    pub fn parse(input: &VitalsInput<'_>) -> Result<Vitals, FieldError> {
        let v = Vitals {
            systolic: optional_number("systolic", input.systolic, SYSTOLIC.0, SYSTOLIC.1, "mmHg")?,
            diastolic: optional_number(
                "diastolic",
                input.diastolic,
                DIASTOLIC.0,
                DIASTOLIC.1,
                "mmHg",
            )?,
            heart_rate: optional_number(
                "heart_rate",
                input.heart_rate,
                HEART_RATE.0,
                HEART_RATE.1,
                "beats/min",
            )?,
            spo2: optional_number("spo2", input.spo2, SPO2.0, SPO2.1, "%")?,
            resp_rate: optional_number(
                "resp_rate",
                input.resp_rate,
                RESP_RATE.0,
                RESP_RATE.1,
                "breaths/min",
            )?,
        };
        v.check()?;
        Ok(v)
    }

    /// The rules that span fields, also applied to values read back from storage.
    pub fn check(&self) -> Result<(), FieldError> {
        match (self.systolic, self.diastolic) {
            (Some(_), None) => {
                return Err(FieldError::new(
                    "diastolic",
                    "is required with a systolic pressure",
                ));
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "systolic",
                    "is required with a diastolic pressure",
                ));
            }
            (Some(s), Some(d)) if d >= s => {
                return Err(FieldError::new(
                    "diastolic",
                    format!("{d} mmHg is not below the systolic {s} mmHg"),
                ));
            }
            _ => {}
        }
        if *self == Vitals::default() {
            return Err(FieldError::new(
                "vitals",
                "at least one reading is required (systolic/diastolic, heart_rate, spo2, resp_rate)",
            ));
        }
        Ok(())
    }

    /// "128/84 mmHg, HR 72, SpO2 98 %, RR 14"
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(s), Some(d)) = (self.systolic, self.diastolic) {
            parts.push(format!("BP {s}/{d} mmHg"));
        }
        if let Some(h) = self.heart_rate {
            parts.push(format!("HR {h}/min"));
        }
        if let Some(o) = self.spo2 {
            parts.push(format!("SpO2 {o} %"));
        }
        if let Some(r) = self.resp_rate {
            parts.push(format!("RR {r}/min"));
        }
        parts.join(", ")
    }
}

/// The clinic's limits during a session: a reading beyond one raises an alert. The defaults are
/// kapstone's starting point, not a guideline's (none gives in-session thresholds for KAP;
/// kap-protocol.md §2.3); each clinic sets its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VitalLimits {
    pub systolic_max: i64,
    pub systolic_min: i64,
    pub diastolic_max: i64,
    pub diastolic_min: i64,
    pub heart_rate_max: i64,
    pub heart_rate_min: i64,
    pub spo2_min: i64,
    pub resp_rate_max: i64,
    pub resp_rate_min: i64,
}

impl Default for VitalLimits {
    fn default() -> Self {
        VitalLimits {
            systolic_max: 160,
            systolic_min: 90,
            diastolic_max: 100,
            diastolic_min: 50,
            heart_rate_max: 120,
            heart_rate_min: 50,
            spo2_min: 92,
            resp_rate_max: 24,
            resp_rate_min: 10,
        }
    }
}

/// One reading beyond a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// Stable id, used as the alert kind: `vitals_systolic_high`, …
    pub kind: &'static str,
    pub message: String,
}

impl VitalLimits {
    pub fn breaches(&self, v: &Vitals) -> Vec<Breach> {
        let mut out = Vec::new();
        let mut high = |kind, what: &str, value: Option<i64>, limit: i64, unit: &str| {
            if let Some(x) = value.filter(|x| *x > limit) {
                out.push(Breach {
                    kind,
                    message: format!("{what} {x} {unit} is above the clinic's limit of {limit}"),
                });
            }
        };
        high(
            "vitals_systolic_high",
            "Systolic pressure",
            v.systolic,
            self.systolic_max,
            "mmHg",
        );
        high(
            "vitals_diastolic_high",
            "Diastolic pressure",
            v.diastolic,
            self.diastolic_max,
            "mmHg",
        );
        high(
            "vitals_heart_rate_high",
            "Heart rate",
            v.heart_rate,
            self.heart_rate_max,
            "/min",
        );
        high(
            "vitals_resp_rate_high",
            "Respiratory rate",
            v.resp_rate,
            self.resp_rate_max,
            "/min",
        );
        let mut low = |kind, what: &str, value: Option<i64>, limit: i64, unit: &str| {
            if let Some(x) = value.filter(|x| *x < limit) {
                out.push(Breach {
                    kind,
                    message: format!("{what} {x} {unit} is below the clinic's limit of {limit}"),
                });
            }
        };
        low(
            "vitals_systolic_low",
            "Systolic pressure",
            v.systolic,
            self.systolic_min,
            "mmHg",
        );
        low(
            "vitals_diastolic_low",
            "Diastolic pressure",
            v.diastolic,
            self.diastolic_min,
            "mmHg",
        );
        low(
            "vitals_heart_rate_low",
            "Heart rate",
            v.heart_rate,
            self.heart_rate_min,
            "/min",
        );
        low("vitals_spo2_low", "SpO2", v.spo2, self.spo2_min, "%");
        low(
            "vitals_resp_rate_low",
            "Respiratory rate",
            v.resp_rate,
            self.resp_rate_min,
            "/min",
        );
        out
    }

    /// Limits must lie inside the recordable ranges and each minimum below its maximum.
    pub fn check(&self) -> Result<(), FieldError> {
        let pairs = [
            ("systolic", self.systolic_min, self.systolic_max, SYSTOLIC),
            (
                "diastolic",
                self.diastolic_min,
                self.diastolic_max,
                DIASTOLIC,
            ),
            (
                "heart_rate",
                self.heart_rate_min,
                self.heart_rate_max,
                HEART_RATE,
            ),
            (
                "resp_rate",
                self.resp_rate_min,
                self.resp_rate_max,
                RESP_RATE,
            ),
            ("spo2", self.spo2_min, SPO2.1, SPO2),
        ];
        for (name, min, max, (lo, hi)) in pairs {
            if !(lo..=hi).contains(&min) || !(lo..=hi).contains(&max) || min >= max {
                return Err(FieldError::new(
                    format!("{name}_limits"),
                    format!(
                        "minimum {min} and maximum {max} must lie within {lo}–{hi}, minimum below maximum"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(s: &'a str, d: &'a str) -> VitalsInput<'a> {
        VitalsInput {
            systolic: s,
            diastolic: d,
            ..Default::default()
        }
    }

    #[test]
    fn impossible_readings_are_refused_naming_the_field() {
        let e = Vitals::parse(&input("400", "20")).expect_err("refused");
        assert_eq!(e.field, "systolic");
        assert_eq!(
            e.to_string(),
            "systolic: 400 mmHg is outside the allowed range 50–260 mmHg"
        );
        assert_eq!(
            Vitals::parse(&input("120", "")).expect_err("pair").field,
            "diastolic"
        );
        assert_eq!(
            Vitals::parse(&input("80", "90")).expect_err("order").field,
            "diastolic"
        );
        assert_eq!(
            Vitals::parse(&input("12o", "80")).expect_err("typo").field,
            "systolic"
        );
        assert_eq!(
            Vitals::parse(&VitalsInput::default())
                .expect_err("empty")
                .field,
            "vitals"
        );
        let spo2 = VitalsInput {
            spo2: "101",
            ..Default::default()
        };
        assert_eq!(Vitals::parse(&spo2).expect_err("spo2").field, "spo2");
    }

    #[test]
    fn limits_raise_breaches_at_the_edges() {
        let l = VitalLimits::default();
        let at = Vitals::parse(&input("160", "100")).expect("valid");
        assert!(
            l.breaches(&at).is_empty(),
            "a reading at the limit is within it"
        );
        let over = Vitals::parse(&input("161", "101")).expect("valid");
        let kinds: Vec<_> = l.breaches(&over).iter().map(|b| b.kind).collect();
        assert_eq!(kinds, ["vitals_systolic_high", "vitals_diastolic_high"]);
        let low = Vitals {
            spo2: Some(91),
            ..Default::default()
        };
        assert_eq!(
            l.breaches(&low)[0].message,
            "SpO2 91 % is below the clinic's limit of 92"
        );
        assert!(l.check().is_ok());
        let bad = VitalLimits {
            systolic_min: 170,
            ..l
        };
        assert_eq!(
            bad.check().expect_err("min over max").field,
            "systolic_limits"
        );
    }
}
