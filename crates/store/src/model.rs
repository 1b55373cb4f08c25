//! The records the store keeps, in domain words. Identifying data never prints in `Debug`.

use jiff::Timestamp;
use jiff::civil::Date;
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::vocab::{Role, Sex};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($($name:ident),+) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) key.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )+};
}

id_type!(
    ClinicId,
    UserId,
    PatientId,
    CourseId,
    EncounterId,
    AssessmentId,
    AlertId,
    AuditEventId
);

/// Now, truncated to the microsecond: both backends keep microseconds, and the audit hash must
/// be computed over exactly what is stored.
pub fn now() -> Timestamp {
    let micros = Timestamp::now().as_microsecond();
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinic {
    pub id: ClinicId,
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`; clinical times are stored in UTC.
    pub time_zone: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewClinic {
    pub name: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub clinic_id: ClinicId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Patient {
    pub id: PatientId,
    pub clinic_id: ClinicId,
    /// The clinic's own record number; unique within the clinic.
    pub mrn: String,
    pub details: PatientDetails,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a person can enter or change about a patient.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientDetails {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub postal_code: Option<String>,
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patient")
            .field("id", &self.id)
            .field("clinic_id", &self.clinic_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PatientDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatientDetails { <redacted> }")
    }
}

#[derive(Debug, Clone)]
pub struct NewPatient {
    /// `None`: the store assigns the next number.
    pub mrn: Option<String>,
    pub details: PatientDetails,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub id: CourseId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub indication: Indication,
    pub planned_route: Option<Route>,
    /// Id of the protocol template the course follows.
    pub protocol: String,
    pub status: CourseStatus,
    pub status_reason: Option<String>,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewCourse {
    pub patient_id: PatientId,
    pub indication: Indication,
    pub planned_route: Option<Route>,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub course_id: CourseId,
    pub from: Option<CourseStatus>,
    pub to: CourseStatus,
    pub reason: Option<String>,
    pub changed_at: Timestamp,
    pub changed_by: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encounter {
    pub id: EncounterId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub course_id: CourseId,
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    /// 1, 2, 3… among the course's encounters of the same kind.
    pub sequence: i64,
    pub planned_for: Option<Timestamp>,
    pub occurred_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewEncounter {
    pub course_id: CourseId,
    pub kind: EncounterKind,
    pub planned_for: Option<Timestamp>,
}

/// A stored questionnaire response: every item answer, and the score the engine gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub id: AssessmentId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub course_id: Option<CourseId>,
    pub encounter_id: Option<EncounterId>,
    pub instrument: String,
    pub instrument_version: String,
    /// One entry per item, `None` where unanswered.
    pub answers: Vec<Option<i64>>,
    pub complete: bool,
    pub total: Option<f64>,
    pub severity: Option<String>,
    pub subscales: Option<Vec<(String, i64)>>,
    pub flags: Vec<String>,
    /// screen_positive / provisional diagnosis / risk, where the instrument has them.
    pub interpretation: serde_json::Value,
    /// e.g. `baseline`, `pre_dose_3`, `month_3`.
    pub time_point: String,
    pub rater: String,
    pub administered_at: Timestamp,
    pub recorded_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub patient_id: PatientId,
    pub course_id: Option<CourseId>,
    pub encounter_id: Option<EncounterId>,
    pub response: kapstone_clinical::instrument::Response,
    pub time_point: String,
    pub administered_at: Timestamp,
}

/// A safety alert; open until a named clinician acknowledges it with an action note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: AlertId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub course_id: Option<CourseId>,
    pub assessment_id: Option<AssessmentId>,
    /// The flag that raised it, e.g. `phq9_item9`.
    pub kind: String,
    pub message: String,
    pub raised_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<UserId>,
    pub action_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAssessment {
    pub assessment: Assessment,
    pub alerts: Vec<Alert>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// A patient through a portal link.
    Patient(PatientId),
    /// kapstone itself or an operator at the command line.
    System,
}

impl Actor {
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::Patient(_) => "patient",
            Actor::System => "system",
        }
    }

    pub fn id(self) -> Option<Uuid> {
        match self {
            Actor::User(u) => Some(u.0),
            Actor::Patient(p) => Some(p.0),
            Actor::System => None,
        }
    }
}

/// Every store call that touches patient data carries this, and writes its audit event from it
/// in the same transaction.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub clinic_id: ClinicId,
    pub actor: Actor,
    /// Where the request came from: a client IP, or `cli`.
    pub origin: String,
}

/// One entry of the append-only, hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub clinic_id: ClinicId,
    /// 1, 2, 3… within the clinic's chain.
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    /// e.g. `patient.read`, `assessment.record`.
    pub action: String,
    pub patient_id: Option<PatientId>,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    pub origin: String,
    /// Canonical JSON (sorted keys); never free text a person typed.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub patient_id: Option<PatientId>,
    pub actor_id: Option<Uuid>,
    pub limit: i64,
}
