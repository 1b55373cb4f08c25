//! What the rest of kapstone may ask of storage, in domain words. Two implementations
//! (SQLite, PostgreSQL) pass one conformance suite. Every method that reads or writes patient
//! data takes an `AuditContext` and writes its audit event in the same transaction.

use crate::audit::ChainReport;
use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use kapstone_clinical::course::CourseStatus;

#[async_trait]
pub trait ClinicStore {
    async fn create_clinic(&self, new: &NewClinic, origin: &str) -> Result<Clinic>;
    async fn clinic(&self, id: ClinicId) -> Result<Clinic>;
    async fn clinics(&self) -> Result<Vec<Clinic>>;
}

#[async_trait]
pub trait UserStore {
    async fn add_user(&self, ctx: &AuditContext, new: &NewUser) -> Result<User>;
    async fn user(&self, clinic: ClinicId, id: UserId) -> Result<User>;
    async fn user_by_email(&self, clinic: ClinicId, email: &str) -> Result<Option<User>>;
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
}

#[async_trait]
pub trait AlertStore {
    /// The clinic's unacknowledged alerts, oldest first.
    async fn open_alerts(&self, ctx: &AuditContext) -> Result<Vec<Alert>>;
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

#[async_trait]
pub trait Store:
    ClinicStore
    + UserStore
    + PatientStore
    + CourseStore
    + AssessmentStore
    + AlertStore
    + AuditLog
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Apply the embedded migrations that are not yet applied.
    async fn migrate(&self) -> Result<()>;
    /// Names of the embedded migrations, in order (both backends must agree).
    fn migration_names(&self) -> Vec<String>;
    /// A normalised description of the migrated schema, for the parity test.
    async fn schema_description(&self) -> Result<Vec<String>>;
}
