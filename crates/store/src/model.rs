//! The records the store keeps, in domain words. Identifying data never prints in `Debug`.

use jiff::Timestamp;
use jiff::civil::Date;
use kapstone_clinical::bounds;
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::dosing::FieldError;
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
    AuditEventId,
    CareTeamId,
    SessionId,
    DueId,
    PortalLinkId,
    BreakGlassId
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
    /// Made by `kapstone demo`: synthetic patients only.
    pub synthetic: bool,
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

impl PatientDetails {
    /// The details as they are stored: names normalised (NFC, trimmed) and every rule of
    /// `kapstone_clinical::bounds` checked, naming the field that breaks one.
    pub fn cleaned(&self, today: Date) -> Result<PatientDetails, FieldError> {
        if let Some(email) = &self.email
            && (!email.contains('@') || email.trim() != email || email.len() > 254)
        {
            return Err(FieldError::new(
                "email",
                "is not an e-mail address (name@example.org)",
            ));
        }
        Ok(PatientDetails {
            given_name: bounds::name("given_name", &self.given_name)?,
            family_name: bounds::name("family_name", &self.family_name)?,
            birth_date: bounds::birth_date("birth_date", self.birth_date, today)?,
            sex: self.sex,
            email: self.email.clone(),
            phone: self.phone.clone(),
            postal_code: self.postal_code.clone(),
        })
    }
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
    /// Planned encounters and assessment schedule, written with the course.
    pub plan: kapstone_clinical::protocol::CoursePlan,
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

/// Which patients a staff member may see in lists: the whole clinic, or their care teams' patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Clinic,
    CareTeamsOf(UserId),
}

impl Scope {
    pub(crate) fn user(self) -> Option<uuid::Uuid> {
        match self {
            Scope::Clinic => None,
            Scope::CareTeamsOf(u) => Some(u.0),
        }
    }
}

/// Clinic settings a clinic admin controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicSettings {
    pub address: String,
    pub phone: String,
    /// Shown to a patient whose answers raised a safety flag, e.g. `988`.
    pub crisis_line: String,
    pub crisis_text: String,
    /// Only when true may the portal say that someone reads answers as they arrive.
    pub answers_monitored_live: bool,
    pub alert_overdue_minutes: i64,
    pub portal_link_days: i64,
    pub idle_timeout_minutes: i64,
    pub absolute_timeout_hours: i64,
    /// Roles allowed to sign in without a second factor (empty by default: MFA for everyone).
    pub mfa_exempt_roles: Vec<Role>,
}

impl Default for ClinicSettings {
    fn default() -> Self {
        ClinicSettings {
            address: String::new(),
            phone: String::new(),
            crisis_line: "988".into(),
            crisis_text: "If you are thinking about suicide or are in crisis, call or text 988 \
                          (Suicide & Crisis Lifeline, US) now, or call 911 or go to the nearest \
                          emergency department if you are in danger."
                .into(),
            answers_monitored_live: false,
            alert_overdue_minutes: 240,
            portal_link_days: 7,
            idle_timeout_minutes: 15,
            absolute_timeout_hours: 12,
            mfa_exempt_roles: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareTeam {
    pub id: CareTeamId,
    pub clinic_id: ClinicId,
    pub name: String,
}

/// A staff member's sign-in secrets. Only hashes and the TOTP seed are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub clinic_id: ClinicId,
    pub user_id: UserId,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_confirmed: bool,
    /// The last TOTP time step accepted, so a code cannot be replayed.
    pub totp_last_step: Option<i64>,
    pub failed_attempts: i64,
    pub locked_until: Option<Timestamp>,
    /// Changes whenever credentials change; sessions carrying an old stamp are void.
    pub security_stamp: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user_id", &self.user_id)
            .field("totp_confirmed", &self.totp_confirmed)
            .field("failed_attempts", &self.failed_attempts)
            .finish_non_exhaustive()
    }
}

/// A signed-in (or half-signed-in, before MFA) staff session, found by the hash of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub id: SessionId,
    pub clinic_id: ClinicId,
    pub user_id: UserId,
    pub mfa_verified: bool,
    pub csrf_token: String,
    pub security_stamp: String,
    pub origin: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

/// One scheduled assessment of a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: DueId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub course_id: CourseId,
    pub instrument: String,
    pub time_point: String,
    pub due_on: jiff::civil::Date,
    pub window_days: i64,
    pub assessment_id: Option<AssessmentId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    pub id: PortalLinkId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub due_id: DueId,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// A patient's whole history, written in one transaction by `ImportStore::import`: used for
/// historical imports and the synthetic demo clinic.
#[derive(Debug, Clone)]
pub struct ImportPatient {
    pub mrn: Option<String>,
    pub details: PatientDetails,
    pub teams: Vec<CareTeamId>,
    pub courses: Vec<ImportCourse>,
}

#[derive(Debug, Clone)]
pub struct ImportCourse {
    pub indication: kapstone_clinical::course::Indication,
    pub planned_route: Option<kapstone_clinical::course::Route>,
    pub protocol: String,
    pub opened_at: Timestamp,
    /// Every status the course passed through, in order, from `screening`; the last is current.
    pub history: Vec<(CourseStatus, Timestamp, Option<String>)>,
    pub encounters: Vec<ImportEncounter>,
    pub assessments: Vec<ImportAssessment>,
    pub dues: Vec<kapstone_clinical::protocol::PlannedAssessment>,
}

#[derive(Debug, Clone)]
pub struct ImportEncounter {
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    pub planned_for: Timestamp,
    pub occurred_at: Option<Timestamp>,
    /// For an imported dosing session: what was given (recorded as one administration at
    /// `occurred_at`, by the importing user).
    pub dose: Option<kapstone_clinical::dosing::administration::Dose>,
}

#[derive(Debug, Clone)]
pub struct ImportAssessment {
    pub result: ImportResult,
    pub time_point: String,
    pub administered_at: Timestamp,
}

/// An imported questionnaire: item answers scored by the library, or — for legacy records that
/// kept only a total — the total alone, stored without item answers and marked total-only.
#[derive(Debug, Clone)]
pub enum ImportResult {
    Scored(Box<kapstone_clinical::instrument::Response>),
    TotalOnly {
        instrument: String,
        version: String,
        rater: String,
        total: f64,
        severity: Option<String>,
    },
}

/// How imported safety flags become alerts: flags from before `acknowledged_before` arrive
/// already acknowledged (they were dealt with at the time) with this user and note.
#[derive(Debug, Clone)]
pub struct ImportAlerts {
    pub acknowledged_before: Timestamp,
    pub acknowledged_by: UserId,
    pub note: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub patients: usize,
    pub courses: usize,
    pub encounters: usize,
    pub assessments: usize,
    pub alerts: usize,
}

/// What the chart needs of an assessment: its place in time and its result, without the item
/// answers (read the full `Assessment` for those).
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentPoint {
    pub id: AssessmentId,
    pub course_id: Option<CourseId>,
    pub instrument: String,
    pub time_point: String,
    pub complete: bool,
    pub total: Option<f64>,
    pub severity: Option<String>,
    /// Comma-separated flag ids, empty when none.
    pub flags: String,
    pub administered_at: Timestamp,
}

/// One scored result on a trend chart.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub instrument: String,
    pub administered_at: Timestamp,
    pub total: f64,
    pub time_point: String,
}

/// What the patient chart reads of the assessments.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartAssessments {
    /// Every scored result, oldest first.
    pub series: Vec<SeriesPoint>,
    /// The latest assessments (scored or not), oldest first.
    pub recent: Vec<AssessmentPoint>,
    /// All the patient's assessments, scored or not.
    pub count: usize,
}

/// Everything the patient chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientChart {
    pub patient: Patient,
    pub courses: Vec<Course>,
    /// Every encounter of every course, in no particular order.
    pub encounters: Vec<Encounter>,
    pub assessments: ChartAssessments,
    pub alerts: Vec<Alert>,
    pub dues: Vec<Due>,
}

/// Emergency access to a patient outside the user's care teams, with its reason and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    pub id: BreakGlassId,
    pub clinic_id: ClinicId,
    pub user_id: UserId,
    pub patient_id: PatientId,
    pub reason: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

// ---- The clinical record: screening, consent, dosing sessions, notes ----

pub use kapstone_clinical::dosing::administration::Dose;
pub use kapstone_clinical::dosing::events::{AdverseEvent, Checklist, Discharge, Measure, Setting};
pub use kapstone_clinical::dosing::policy::DosingPolicy;
pub use kapstone_clinical::dosing::screening::{Decision, Finding, Medication, PregnancyStatus};
pub use kapstone_clinical::dosing::vitals::Vitals;

id_type!(
    MedicationId,
    ConsentDocumentId,
    ConsentId,
    AddendumId,
    RecordEntryId,
    PsychotherapyNoteId
);

/// A prescriber's eligibility decision as submitted (already checked by the clinical rules).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreeningInput {
    pub findings: Vec<Finding>,
    pub pregnancy_status: PregnancyStatus,
    pub weight_kg: f64,
    pub vitals: Vitals,
    pub decision: Decision,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    pub course_id: CourseId,
    pub patient_id: PatientId,
    pub input: ScreeningInput,
    pub signed_by: UserId,
    pub signed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MedicationRecord {
    pub id: MedicationId,
    pub patient_id: PatientId,
    pub medication: Medication,
    pub added_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentDocument {
    pub id: ConsentDocumentId,
    pub version: String,
    pub title: String,
    pub body: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    pub patient_id: PatientId,
    pub document_id: ConsentDocumentId,
    pub signer_name: String,
    pub witness_name: String,
    pub signed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: ConsentId,
    pub patient_id: PatientId,
    pub document_id: ConsentDocumentId,
    pub version: String,
    pub signer_name: String,
    pub witness_name: String,
    pub signed_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revocation_reason: Option<String>,
}

/// A preparation encounter's structured fields (kap-protocol.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Preparation {
    /// In the patient's words.
    pub intentions: String,
    pub skills: String,
    pub support_person: String,
    pub support_contact: String,
    pub integration_plan: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncounterNote {
    pub body: String,
    pub preparation: Option<Preparation>,
    pub updated_by: UserId,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addendum {
    pub id: AddendumId,
    pub author_id: UserId,
    pub body: String,
    pub created_at: Timestamp,
}

/// What the pre-dose checklist records when a dosing session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DosingStart {
    pub started_at: Timestamp,
    pub checklist: Checklist,
    pub setting: Setting,
    pub predose: Vitals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DosingSession {
    pub start: DosingStart,
    pub discharged_at: Option<Timestamp>,
    pub discharge: Option<Discharge>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Administration {
    pub id: RecordEntryId,
    pub dose: Dose,
    pub given_at: Timestamp,
    /// None only for imported doses whose records did not say who gave them.
    pub given_by: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitalSign {
    pub id: RecordEntryId,
    pub taken_at: Timestamp,
    pub vitals: Vitals,
    pub recorded_by: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub id: RecordEntryId,
    pub observed_at: Timestamp,
    pub measure: Measure,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdverseEventRecord {
    pub id: RecordEntryId,
    pub event: AdverseEvent,
    pub recorded_by: UserId,
    pub recorded_at: Timestamp,
}

/// Everything recorded in one encounter. Psychotherapy notes are not part of it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncounterRecord {
    pub encounter: Encounter,
    pub signed: Option<(UserId, Timestamp)>,
    pub note: Option<EncounterNote>,
    pub addenda: Vec<Addendum>,
    pub dosing: Option<DosingSession>,
    pub administrations: Vec<Administration>,
    pub vitals: Vec<VitalSign>,
    pub observations: Vec<Observation>,
    pub adverse_events: Vec<AdverseEventRecord>,
    /// Questionnaires given in the encounter (in a dosing session: CADSS-6).
    pub questionnaires: Vec<SessionScore>,
}

/// A questionnaire given in an encounter, as the encounter page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionScore {
    pub instrument: String,
    pub total: Option<f64>,
    pub administered_at: Timestamp,
}

/// The text of a psychotherapy note. It has no `Display`, no `Serialize` and a redacted
/// `Debug`, so it cannot reach a page, a log or a JSON body except through `reveal`, which only
/// the author's own note page calls.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedText(String);

impl SealedText {
    pub fn new(text: String) -> SealedText {
        SealedText(text)
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SealedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedText(…)")
    }
}

/// A psychotherapy note (45 CFR 164.501): kept apart from the record, readable by its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsychotherapyNote {
    pub id: PsychotherapyNoteId,
    pub patient_id: PatientId,
    pub author_id: UserId,
    pub body: SealedText,
    pub written_at: Timestamp,
}

/// One course as the outcome report reads it: dates in the clinic's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeCourse {
    pub course_id: CourseId,
    pub patient_id: PatientId,
    pub indication: String,
    /// The planned route, or else the route of the first dose; `unknown` when neither exists.
    pub route: String,
    pub sex: String,
    /// Completed dosing sessions, in date order.
    pub doses: Vec<jiff::civil::Date>,
    /// Scored questionnaires of the course: (instrument, date, total), ordered by date, then
    /// instrument, time and total.
    /// The instrument id is shared among a snapshot's points (millions in a large clinic).
    pub assessments: Vec<(std::sync::Arc<str>, jiff::civil::Date, f64)>,
}

/// Everything a cohort report reads, in one audited read.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSnapshot {
    pub synthetic: bool,
    pub courses: Vec<OutcomeCourse>,
    /// Each patient's latest ACE total.
    pub ace: std::collections::HashMap<PatientId, f64>,
}
