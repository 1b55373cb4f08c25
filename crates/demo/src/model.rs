//! The cohort as plain data, ready for the caller to write into the store.

use jiff::civil::Date;
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::vocab::Sex;

/// The patients a synthetic cohort starts from when `kapstone demo` is given no `--patients`:
/// the size of the largest KAP cohort study (Yermus et al., kap-protocol.md §1), so the demo's
/// outcome report has the same scale as the evidence it will be compared with.
pub const DEFAULT_PATIENTS: usize = 1806;

/// The protocol template every synthetic course follows: 2 preparation sessions, 6 twice-weekly
/// doses each followed next day by integration, follow-ups at 1, 3 and 6 months.
pub const PROTOCOL: &str = "kap-6";

/// What to generate. The same spec always gives the same cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortSpec {
    pub patients: usize,
    pub seed: u64,
    /// The clinic's "today": encounters after it are planned, nothing after it is measured.
    pub today: Date,
}

impl CohortSpec {
    /// [`DEFAULT_PATIENTS`] patients.
    pub fn new(seed: u64, today: Date) -> CohortSpec {
        CohortSpec {
            patients: DEFAULT_PATIENTS,
            seed,
            today,
        }
    }
}

/// A synthetic clinic's patients. Every person, date and answer is invented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    pub seed: u64,
    pub today: Date,
    pub patients: Vec<SyntheticPatient>,
}

/// An invented person. Names come from short lists of common US names; the email domain is
/// `example.org` (reserved, RFC 2606) and phones are in the 555-0100…555-0199 range reserved for
/// fiction, so no message can reach a real person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPatient {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub postal_code: Option<String>,
    /// In start order; a second course is a re-treatment after relapse.
    pub courses: Vec<SyntheticCourse>,
}

/// One treatment course on the [`PROTOCOL`] template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticCourse {
    pub indication: Indication,
    /// The planned route.
    pub route: Route,
    pub protocol: &'static str,
    /// The day the course was opened (screening began).
    pub start: Date,
    /// Where the course stands on `today`.
    pub status: CourseStatus,
    /// `Some` exactly when `status` is discontinued.
    pub discontinued_reason: Option<String>,
    /// Every status the course has passed through, with the day it was entered, starting with
    /// `(Screening, start)` and ending with `status`. Each step is a legal
    /// `CourseStatus::transition`; the dates never decrease and none is after `today`.
    pub history: Vec<(CourseStatus, Date)>,
    /// Chronological: preparation 1–2, then dosing *n* followed by integration *n* for n = 1…6,
    /// then follow-ups 1–3 (1, 3 and 6 months).
    pub encounters: Vec<SyntheticEncounter>,
    /// Chronological; within one day PHQ-9, GAD-7, PCL-5, ACE.
    pub assessments: Vec<SyntheticAssessment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticEncounter {
    pub kind: EncounterKind,
    pub date: Date,
    /// 1, 2, 3… among the course's encounters of the same kind.
    pub sequence: i64,
    /// It took place (on or before `today`). A past encounter that did not take place was
    /// cancelled by a discontinuation, or is a follow-up the patient never attended (loss to
    /// follow-up).
    pub completed: bool,
}

/// One questionnaire response. `answers` has one entry per item of the instrument in the
/// built-in library, `None` where unanswered, and always passes `Instrument::answers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticAssessment {
    /// Library id: `phq9`, `gad7`, `pcl5` or `ace`.
    pub instrument: &'static str,
    pub date: Date,
    /// `baseline`, `pre_dose_1`, `pre_dose_3`, `pre_dose_5`, `month_1`, `month_3` or `month_6`.
    /// Each was answered at the encounter on the same date: baseline at preparation 2,
    /// `pre_dose_n` at dosing *n*, `month_m` at the follow-up *m* months after the last dose.
    pub time_point: String,
    pub answers: Vec<Option<i64>>,
}

impl SyntheticCourse {
    /// The store status for one of this course's encounters on `today`: completed if it took
    /// place; cancelled if the course was discontinued or the day passed without it (a missed
    /// follow-up); otherwise planned.
    pub fn encounter_status(&self, encounter: &SyntheticEncounter, today: Date) -> EncounterStatus {
        if encounter.completed {
            EncounterStatus::Completed
        } else if self.status == CourseStatus::Discontinued || encounter.date <= today {
            EncounterStatus::Cancelled
        } else {
            EncounterStatus::Planned
        }
    }
}
