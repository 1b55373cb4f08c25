//! Whose record a course or an encounter is, for the authorization check that comes before
//! reading it. Only the patient's id comes back, nothing of the record, so the lookup is not
//! audited: a refused read leaves only its refusal in the audit log, and an allowed one is
//! audited by the read that follows it.

use crate::error::Result;
use crate::model::{ClinicId, CourseId, EncounterId, PatientId};
use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

/// A record that belongs to one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    Course(CourseId),
    Encounter(EncounterId),
}

#[async_trait]
pub trait Ownership {
    /// The patient the record belongs to, if it exists in the clinic.
    async fn patient_of(&self, clinic: ClinicId, record: Owned) -> Result<Option<PatientId>>;
}

pub(crate) async fn patient_of<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    record: Owned,
) -> Result<Option<PatientId>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    (Uuid,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (sql, id) = match record {
        Owned::Course(c) => (
            "SELECT patient_id FROM treatment_course WHERE clinic_id = $1 AND id = $2",
            c.0,
        ),
        Owned::Encounter(e) => (
            "SELECT patient_id FROM encounter WHERE clinic_id = $1 AND id = $2",
            e.0,
        ),
    };
    let row: Option<(Uuid,)> = sqlx::query_as(sql)
        .bind(clinic.0)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(p,)| PatientId(p)))
}
