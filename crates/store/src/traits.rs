//! What the rest of kapstone may ask of storage, in domain words. Two implementations
//! (SQLite, PostgreSQL) pass one conformance suite. Every method that reads or writes patient
//! data takes an `AuditContext` and writes its audit event in the same transaction.

use crate::audit::ChainReport;
use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use jiff::Timestamp;
use kapstone_clinical::course::CourseStatus;

#[async_trait]
pub trait ClinicStore {
    async fn create_clinic(&self, new: &NewClinic, origin: &str) -> Result<Clinic>;
    async fn clinic(&self, id: ClinicId) -> Result<Clinic>;
    async fn clinics(&self) -> Result<Vec<Clinic>>;
    /// Renames the clinic or changes its time zone (audited).
    async fn update_clinic(
        &self,
        ctx: &AuditContext,
        name: &str,
        time_zone: &str,
    ) -> Result<Clinic>;
}

#[async_trait]
pub trait UserStore {
    async fn add_user(&self, ctx: &AuditContext, new: &NewUser) -> Result<User>;
    async fn user(&self, clinic: ClinicId, id: UserId) -> Result<User>;
    async fn user_by_email(&self, clinic: ClinicId, email: &str) -> Result<Option<User>>;
    /// The clinic's staff, by name.
    async fn users(&self, clinic: ClinicId) -> Result<Vec<User>>;
}

#[async_trait]
pub trait PatientStore {
    async fn create_patient(&self, ctx: &AuditContext, new: &NewPatient) -> Result<Patient>;
    async fn patient(&self, ctx: &AuditContext, id: PatientId) -> Result<Patient>;
    async fn update_patient(
        &self,
        ctx: &AuditContext,
        id: PatientId,
        details: &PatientDetails,
    ) -> Result<Patient>;
    /// Patients whose name or record number contains `query` (case-insensitive).
    async fn find_patients(
        &self,
        ctx: &AuditContext,
        scope: Scope,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Patient>>;
}

#[async_trait]
pub trait CourseStore {
    async fn open_course(&self, ctx: &AuditContext, new: &NewCourse) -> Result<Course>;
    async fn course(&self, ctx: &AuditContext, id: CourseId) -> Result<Course>;
    async fn courses_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Course>>;
    /// Moves the course through the status machine; illegal moves are refused, and a move
    /// racing another is refused rather than applied twice.
    async fn change_course_status(
        &self,
        ctx: &AuditContext,
        id: CourseId,
        to: CourseStatus,
        reason: Option<&str>,
    ) -> Result<Course>;
    async fn course_history(&self, ctx: &AuditContext, id: CourseId) -> Result<Vec<StatusChange>>;
    async fn add_encounter(&self, ctx: &AuditContext, new: &NewEncounter) -> Result<Encounter>;
    async fn encounters(&self, ctx: &AuditContext, course: CourseId) -> Result<Vec<Encounter>>;
    /// Every encounter of the patient's courses, in no particular order: what the chart reads.
    async fn patient_encounters(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
    ) -> Result<Vec<Encounter>>;
}

#[async_trait]
pub trait AssessmentStore {
    /// Stores the response (every item answer and its score) and opens an alert for every
    /// alerting flag, in one transaction.
    async fn record_assessment(
        &self,
        ctx: &AuditContext,
        new: &NewAssessment,
    ) -> Result<RecordedAssessment>;
    async fn assessments_of(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
    ) -> Result<Vec<Assessment>>;
    /// The patient's results over time, for charts and timelines (no item answers).
    async fn assessment_points(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
    ) -> Result<Vec<AssessmentPoint>>;
    /// What the chart draws: every scored result as a series point (from the compact series
    /// kept with each assessment), the latest `recent` assessments in full, and how many
    /// assessments the patient has. One audited read.
    async fn chart_assessments(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
        recent: usize,
    ) -> Result<ChartAssessments>;
    /// Everything the patient chart shows, read in one transaction and audited as one
    /// `chart.read` event.
    async fn patient_chart(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
        recent: usize,
    ) -> Result<PatientChart>;
}

#[async_trait]
pub trait AlertStore {
    /// The clinic's unacknowledged alerts, oldest first.
    async fn open_alerts(&self, ctx: &AuditContext, scope: Scope) -> Result<Vec<Alert>>;
    async fn alerts_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Alert>>;
    /// Closes an alert; needs a named user and a non-empty action note, and happens once.
    async fn acknowledge_alert(
        &self,
        ctx: &AuditContext,
        id: AlertId,
        action_note: &str,
    ) -> Result<Alert>;
}

#[async_trait]
pub trait AuditLog {
    async fn audit_events(&self, clinic: ClinicId, filter: &AuditFilter)
    -> Result<Vec<AuditEvent>>;
    /// Walks every clinic's chain and reports the first broken event.
    async fn verify_audit_chain(&self) -> Result<ChainReport>;
}

/// Audit events that are not part of a data read or write: sign-in, sign-out, refusals.
#[async_trait]
pub trait AuditRecord {
    async fn record(
        &self,
        ctx: &AuditContext,
        action: &str,
        patient: Option<PatientId>,
        entity: &str,
        entity_id: Option<uuid::Uuid>,
        detail: serde_json::Value,
    ) -> Result<()>;
}

#[async_trait]
pub trait SettingsStore {
    /// The clinic's settings, or the defaults when none were saved.
    async fn settings(&self, clinic: ClinicId) -> Result<ClinicSettings>;
    async fn save_settings(&self, ctx: &AuditContext, settings: &ClinicSettings) -> Result<()>;
}

#[async_trait]
pub trait CareTeamStore {
    async fn create_team(&self, ctx: &AuditContext, name: &str) -> Result<CareTeam>;
    async fn teams(&self, clinic: ClinicId) -> Result<Vec<CareTeam>>;
    async fn teams_of_user(&self, clinic: ClinicId, user: UserId) -> Result<Vec<CareTeam>>;
    async fn teams_of_patient(&self, clinic: ClinicId, patient: PatientId)
    -> Result<Vec<CareTeam>>;
    async fn add_team_member(
        &self,
        ctx: &AuditContext,
        team: CareTeamId,
        user: UserId,
    ) -> Result<()>;
    async fn assign_patient(
        &self,
        ctx: &AuditContext,
        team: CareTeamId,
        patient: PatientId,
    ) -> Result<()>;
    /// Records emergency access (audited as `access.break_glass`).
    async fn grant_break_glass(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
        reason: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<BreakGlass>;
    /// Whether the user holds unexpired emergency access to the patient.
    async fn has_break_glass(
        &self,
        clinic: ClinicId,
        user: UserId,
        patient: PatientId,
    ) -> Result<bool>;
    /// Every grant, newest first, for the admins' review.
    async fn break_glass_log(&self, clinic: ClinicId, limit: i64) -> Result<Vec<BreakGlass>>;
    /// Whether the user is on a care team the patient is assigned to.
    async fn in_care_team(
        &self,
        clinic: ClinicId,
        user: UserId,
        patient: PatientId,
    ) -> Result<bool>;
}

#[async_trait]
pub trait AccessStore {
    /// Active accounts with this e-mail, in any clinic.
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>>;
    async fn credential(&self, clinic: ClinicId, user: UserId) -> Result<Option<Credential>>;
    /// Creates or replaces the credential row; audited as a credential change.
    async fn save_credential(&self, ctx: &AuditContext, cred: &Credential) -> Result<()>;
    async fn create_setup_token(
        &self,
        ctx: &AuditContext,
        user: UserId,
        token_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<()>;
    /// Marks a live set-up token used and returns whose it was; `None` if unknown, used or expired.
    async fn consume_setup_token(&self, token_hash: &str) -> Result<Option<(ClinicId, UserId)>>;
    /// Whether a set-up token is live, without using it.
    async fn peek_setup_token(&self, token_hash: &str) -> Result<Option<(ClinicId, UserId)>>;
    async fn replace_recovery_codes(
        &self,
        ctx: &AuditContext,
        user: UserId,
        hashes: &[String],
    ) -> Result<()>;
    /// Uses a recovery code once; false if it is unknown or already used.
    async fn use_recovery_code(&self, ctx: &AuditContext, user: UserId, hash: &str)
    -> Result<bool>;
    async fn create_session(&self, session: &StaffSession, token_hash: &str) -> Result<()>;
    async fn session_by_token(&self, token_hash: &str) -> Result<Option<StaffSession>>;
    async fn touch_session(
        &self,
        clinic: ClinicId,
        id: SessionId,
        at: jiff::Timestamp,
    ) -> Result<()>;
    async fn delete_session(&self, clinic: ClinicId, id: SessionId) -> Result<()>;
}

#[async_trait]
pub trait ScheduleStore {
    async fn dues_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Due>>;
    async fn due(&self, ctx: &AuditContext, id: DueId) -> Result<Due>;
    /// Stores a portal link for a scheduled assessment (only the token's hash).
    async fn create_portal_link(
        &self,
        ctx: &AuditContext,
        due: DueId,
        token_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<PortalLink>;
    /// A live link (unused, unexpired) and what it is for; `None` otherwise. Audited as the patient.
    async fn open_portal_link(
        &self,
        token_hash: &str,
        origin: &str,
    ) -> Result<Option<(PortalLink, Due)>>;
    /// Uses the link once: `respond` turns the answers into a response for the scheduled item
    /// the link is for, and the response is stored, the item completed and alerts raised in one
    /// transaction. `None` if the link is unknown, used or expired; nothing is stored when
    /// `respond` refuses the answers.
    async fn submit_portal_response(
        &self,
        token_hash: &str,
        origin: &str,
        respond: &(
             dyn for<'d> Fn(&'d Due) -> Result<kapstone_clinical::instrument::Response>
                 + Send
                 + Sync
         ),
    ) -> Result<Option<RecordedAssessment>>;
    /// The clinic of a link that was used and whose answers are stored; `None` for unknown,
    /// live, or expired-unused links. Lets the portal tell a patient who retries after a lost
    /// reply that their answers arrived, rather than that the link is dead.
    async fn answered_portal_link(&self, token_hash: &str) -> Result<Option<ClinicId>>;
}

#[async_trait]
pub trait ImportStore {
    /// Writes whole patient histories in one transaction: all or nothing. One audit event per
    /// patient (`patient.import`). `progress` hears how many patients are written so far (the
    /// commit comes after the last).
    async fn import(
        &self,
        ctx: &AuditContext,
        patients: &[ImportPatient],
        alerts: &ImportAlerts,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<ImportCounts>;
}

/// The clinical record of a course. Every write to an encounter — note, vitals, doses,
/// observations, adverse events, discharge — is refused once the encounter is signed; after
/// that only addenda are added.
#[async_trait]
pub trait RecordStore {
    async fn dosing_policy(&self, ctx: &AuditContext) -> Result<DosingPolicy>;
    async fn save_dosing_policy(&self, ctx: &AuditContext, policy: &DosingPolicy) -> Result<()>;

    /// Signs the eligibility decision of a course; once signed it does not change.
    async fn sign_screening(
        &self,
        ctx: &AuditContext,
        course: CourseId,
        input: &ScreeningInput,
    ) -> Result<Screening>;
    async fn screening(&self, ctx: &AuditContext, course: CourseId) -> Result<Option<Screening>>;

    async fn add_medication(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
        medication: &Medication,
    ) -> Result<MedicationRecord>;
    async fn stop_medication(&self, ctx: &AuditContext, id: MedicationId) -> Result<()>;
    /// The patient's current medications.
    async fn medications(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
    ) -> Result<Vec<MedicationRecord>>;

    async fn add_consent_document(
        &self,
        ctx: &AuditContext,
        version: &str,
        title: &str,
        body: &str,
    ) -> Result<ConsentDocument>;
    async fn consent_documents(&self, ctx: &AuditContext) -> Result<Vec<ConsentDocument>>;
    async fn sign_consent(&self, ctx: &AuditContext, new: &NewConsent) -> Result<Consent>;
    async fn revoke_consent(
        &self,
        ctx: &AuditContext,
        id: ConsentId,
        reason: &str,
    ) -> Result<Consent>;
    async fn consents(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Consent>>;

    /// Saves the draft note (and a preparation encounter's fields).
    async fn save_note(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        body: &str,
        preparation: Option<&Preparation>,
    ) -> Result<()>;
    /// Signs and locks the encounter, and marks it completed.
    async fn sign_encounter(&self, ctx: &AuditContext, encounter: EncounterId) -> Result<()>;
    /// Adds an addendum to a signed encounter.
    async fn add_addendum(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        body: &str,
    ) -> Result<Addendum>;

    /// Starts a dosing session: the course must be active with a signed eligible screening and
    /// an unrevoked consent.
    async fn start_dosing(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        start: &DosingStart,
    ) -> Result<()>;
    async fn add_administration(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        dose: &Dose,
        given_at: Timestamp,
    ) -> Result<Administration>;
    /// Records vitals; readings beyond the clinic's limits raise alerts, returned.
    async fn add_vitals(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        taken_at: Timestamp,
        vitals: &Vitals,
    ) -> Result<(VitalSign, Vec<Alert>)>;
    async fn add_observation(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        observed_at: Timestamp,
        measure: Measure,
        value: i64,
    ) -> Result<Observation>;
    async fn add_adverse_event(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        event: &AdverseEvent,
    ) -> Result<AdverseEventRecord>;
    /// Signs discharge: refused before the observation minimum after the last dose.
    async fn discharge(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
        at: Timestamp,
        attestation: &Discharge,
    ) -> Result<()>;
    async fn encounter_record(
        &self,
        ctx: &AuditContext,
        encounter: EncounterId,
    ) -> Result<EncounterRecord>;
    /// The encounter alone (whose it is, its kind and status).
    async fn encounter(&self, ctx: &AuditContext, encounter: EncounterId) -> Result<Encounter>;
}

/// What cohort outcome reports read.
#[async_trait]
pub trait OutcomeStore {
    /// Marks the clinic as holding synthetic data only (`kapstone demo`).
    async fn mark_synthetic(&self, ctx: &AuditContext) -> Result<()>;
    /// Every course with its dose dates and scored questionnaires, and each patient's latest
    /// ACE total: one audited read.
    async fn outcome_snapshot(&self, ctx: &AuditContext) -> Result<OutcomeSnapshot>;
}

/// Psychotherapy notes: written by a clinician and read back only by their author. No other
/// store method reads the table.
#[async_trait]
pub trait PsychotherapyNoteStore {
    async fn write_psychotherapy_note(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
        body: &SealedText,
    ) -> Result<PsychotherapyNoteId>;
    /// The caller's own notes about the patient; nobody else's.
    async fn my_psychotherapy_notes(
        &self,
        ctx: &AuditContext,
        patient: PatientId,
    ) -> Result<Vec<PsychotherapyNote>>;
}

#[async_trait]
pub trait Store:
    ClinicStore
    + UserStore
    + PatientStore
    + CourseStore
    + AssessmentStore
    + AlertStore
    + AuditLog
    + AuditRecord
    + SettingsStore
    + CareTeamStore
    + AccessStore
    + ScheduleStore
    + ImportStore
    + RecordStore
    + PsychotherapyNoteStore
    + OutcomeStore
    + crate::dump::Dump
    + crate::sealing::Sealing
    + crate::sign_in_guard::SignInGuard
    + crate::ownership::Ownership
    + crate::audit_anchor::AuditAnchoring
    + crate::staff_lifecycle::StaffLifecycle
    + crate::staff_grants::StaffGrants
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Apply the embedded migrations that are not yet applied.
    async fn migrate(&self) -> Result<()>;
    /// Names of the embedded migrations, in order (both backends must agree).
    fn migration_names(&self) -> Vec<String>;
    /// Names (as `migration_names` spells them) of the migrations applied to this database, in
    /// order; empty when it has never been migrated.
    async fn applied_migrations(&self) -> Result<Vec<String>>;
    /// A trivial query: the database answers.
    async fn ping(&self) -> Result<()>;
    /// A normalised description of the migrated schema, for the parity test.
    async fn schema_description(&self) -> Result<Vec<String>>;
}
