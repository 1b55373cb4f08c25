//! What happens in a dosing session besides doses and vitals: the pre-dose checklist,
//! in-session observations, adverse events (kap-protocol.md §2.4) and the discharge attestation.

use super::{FieldError, optional_number, optional_text, required_text};
use crate::vocab::vocab;
use serde::{Deserialize, Serialize};

vocab!(
    /// The minimum list of kap-protocol.md §2.4; `other` needs a description.
    AeTerm, "term" {
        BpRise = "bp_rise",
        Tachycardia = "tachycardia",
        Bradycardia = "bradycardia",
        Arrhythmia = "arrhythmia",
        Sedation = "sedation",
        LossOfConsciousness = "loss_of_consciousness",
        RespiratoryDepression = "respiratory_depression",
        Desaturation = "desaturation",
        Dissociation = "dissociation",
        AnxietyPanic = "anxiety_panic",
        EmergenceReaction = "emergence_reaction",
        Confusion = "confusion",
        PsychoticSymptoms = "psychotic_symptoms",
        ManicSymptoms = "manic_symptoms",
        Nausea = "nausea",
        Vomiting = "vomiting",
        Dizziness = "dizziness",
        BlurredVision = "blurred_vision",
        Nystagmus = "nystagmus",
        Headache = "headache",
        InjectionSitePain = "injection_site_pain",
        SuicidalIdeation = "suicidal_ideation",
        UrinarySymptoms = "urinary_symptoms",
        LiverInjury = "liver_injury",
        MisuseDiversion = "misuse_diversion",
        FallInjury = "fall_injury",
        Other = "other",
    }
);

vocab!(
    Severity, "severity" {
        Mild = "mild",
        Moderate = "moderate",
        Severe = "severe",
        LifeThreatening = "life_threatening",
    }
);

vocab!(
    AeAction, "action" {
        None = "none",
        Observed = "observed",
        Paused = "paused",
        Stopped = "stopped",
        MedicationGiven = "medication_given",
        EmergencyTransfer = "emergency_transfer",
    }
);

vocab!(
    AeOutcome, "outcome" {
        Resolved = "resolved",
        Resolving = "resolving",
        Ongoing = "ongoing",
        ResolvedWithSequelae = "resolved_with_sequelae",
        Unknown = "unknown",
    }
);

/// Onset can precede the first dose (anticipatory anxiety) by up to two hours, and follow it
/// by up to a day.
pub const ONSET_MINUTES: (i64, i64) = (-120, 1440);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdverseEvent {
    pub term: String,
    pub description: Option<String>,
    pub severity: String,
    pub onset_minutes: i64,
    pub action: String,
    pub outcome: String,
    pub session_stopped: bool,
    pub serious: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AdverseEventInput<'a> {
    pub term: &'a str,
    pub description: &'a str,
    pub severity: &'a str,
    pub onset_minutes: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub session_stopped: bool,
    pub serious: bool,
}

impl AdverseEvent {
    pub fn parse(i: &AdverseEventInput<'_>) -> Result<AdverseEvent, FieldError> {
        let term = AeTerm::parse(i.term.trim())?;
        let description = optional_text("description", i.description, 1000)?;
        if term == AeTerm::Other && description.is_none() {
            return Err(FieldError::new(
                "description",
                "is required when the term is other",
            ));
        }
        let onset = optional_number(
            "onset_minutes",
            i.onset_minutes,
            ONSET_MINUTES.0,
            ONSET_MINUTES.1,
            "minutes from the first dose",
        )?
        .ok_or_else(|| {
            FieldError::new(
                "onset_minutes",
                "is required: minutes from the first dose (negative if before it)",
            )
        })?;
        let action = AeAction::parse(i.action.trim())?;
        if action == AeAction::Stopped && !i.session_stopped {
            return Err(FieldError::new(
                "session_stopped",
                "must be ticked when the action is stopped",
            ));
        }
        Ok(AdverseEvent {
            term: term.as_str().into(),
            description,
            severity: Severity::parse(i.severity.trim())?.as_str().into(),
            onset_minutes: onset,
            action: action.as_str().into(),
            outcome: AeOutcome::parse(i.outcome.trim())?.as_str().into(),
            session_stopped: i.session_stopped,
            serious: i.serious,
        })
    }
}

vocab!(
    /// In-session state observations. Dissociation is scored with the CADSS-6 questionnaire.
    Measure, "measure" {
        /// Modified Observer's Assessment of Alertness/Sedation, 0 (no response) – 5 (alert).
        Moaas = "moaas",
        /// 0 none, 1 mild, 2 moderate, 3 severe.
        Nausea = "nausea",
        /// 0 none, 1 mild, 2 moderate, 3 severe.
        Agitation = "agitation",
    }
);

impl Measure {
    pub fn range(self) -> (i64, i64) {
        match self {
            Measure::Moaas => (0, 5),
            Measure::Nausea | Measure::Agitation => (0, 3),
        }
    }

    pub fn parse_value(self, raw: &str) -> Result<i64, FieldError> {
        let (lo, hi) = self.range();
        optional_number("value", raw, lo, hi, "")?
            .ok_or_else(|| FieldError::new("value", format!("is required: {lo}–{hi} for {self}")))
    }
}

/// The pre-dose checklist as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub fasting: bool,
    pub escort_confirmed: bool,
    pub consent_current: bool,
    pub held_medications: Option<String>,
    /// Why dosing proceeds with a pre-dose pressure above the clinic's gate.
    pub bp_override: Option<String>,
}

/// The setting and who is present.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Setting {
    pub eye_mask: bool,
    pub music: bool,
    pub position: Option<String>,
    pub present: Option<String>,
    pub intention: Option<String>,
}

/// The discharge attestation: all three must hold for discharge to be signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discharge {
    pub criteria_met: bool,
    pub escort_name: String,
    pub no_driving_advice: bool,
}

impl Discharge {
    pub fn parse(
        criteria_met: bool,
        escort: &str,
        no_driving: bool,
    ) -> Result<Discharge, FieldError> {
        if !criteria_met {
            return Err(FieldError::new(
                "criteria_met",
                "must be attested: the patient meets the clinic's discharge criteria",
            ));
        }
        let escort_name = required_text("escort_name", escort, 120)?;
        if !no_driving {
            return Err(FieldError::new(
                "no_driving_advice",
                "must be attested: no driving or machinery until the next day after restful sleep",
            ));
        }
        Ok(Discharge {
            criteria_met,
            escort_name,
            no_driving_advice: no_driving,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae<'a>() -> AdverseEventInput<'a> {
        AdverseEventInput {
            term: "nausea",
            description: "",
            severity: "mild",
            onset_minutes: "25",
            action: "medication_given",
            outcome: "resolved",
            session_stopped: false,
            serious: false,
        }
    }

    #[test]
    fn adverse_events_name_the_bad_field() {
        assert!(AdverseEvent::parse(&ae()).is_ok());
        let mut other = ae();
        other.term = "other";
        assert_eq!(
            AdverseEvent::parse(&other).expect_err("desc").field,
            "description"
        );
        let mut late = ae();
        late.onset_minutes = "5000";
        assert_eq!(
            AdverseEvent::parse(&late).expect_err("onset").field,
            "onset_minutes"
        );
        let mut stop = ae();
        stop.action = "stopped";
        assert_eq!(
            AdverseEvent::parse(&stop).expect_err("stopped").field,
            "session_stopped"
        );
        let mut bad = ae();
        bad.severity = "bad";
        assert_eq!(
            AdverseEvent::parse(&bad).expect_err("severity").field,
            "severity"
        );
    }

    #[test]
    fn observations_and_discharge_are_bounded() {
        assert_eq!(Measure::Moaas.parse_value("5"), Ok(5));
        assert_eq!(
            Measure::Nausea.parse_value("4").expect_err("range").field,
            "value"
        );
        assert!(Discharge::parse(true, "Sam (partner)", true).is_ok());
        assert_eq!(
            Discharge::parse(false, "Sam", true)
                .expect_err("criteria")
                .field,
            "criteria_met"
        );
        assert_eq!(
            Discharge::parse(true, " ", true).expect_err("escort").field,
            "escort_name"
        );
        assert_eq!(
            Discharge::parse(true, "Sam", false)
                .expect_err("driving")
                .field,
            "no_driving_advice"
        );
    }
}
