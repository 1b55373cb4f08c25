//! The rows of a run of imported patients, written with one multi-row `INSERT` per table.
//!
//! Written a row at a time, an import made about 65 statements per course, and on PostgreSQL
//! each is a round trip and a fresh executor: the backend spent a third of its time in the
//! kernel waking for the next statement. The import builds its rows here instead and writes them
//! every few hundred patients, in the order the foreign keys need, with the same SQL on both
//! backends. The checks, ids and derived values stay with the import (`backend_import.rs`).

use crate::audit::{GENESIS, event_hash};
use crate::error::{Result, StoreError};
use crate::model::*;
use crate::types::Ts;
use jiff::civil::Date;
use kapstone_clinical::course::CourseStatus;
use kapstone_clinical::protocol::PlannedAssessment;
use sqlx::{Database, Encode, Executor, FromRow, QueryBuilder, Type};
use uuid::Uuid;

/// Bind parameters per statement: under SQLite's limit (32,766) and PostgreSQL's (65,535).
const PARAMETERS: usize = 30_000;

/// Patients per write: the first writes are small, so that the foreign-key checks of the empty
/// tables' first plans see few rows (see `planner_statistics`), then a few hundred at a time.
pub(crate) fn patients_per_write(written: usize) -> usize {
    written.clamp(16, 256)
}

/// One audit entry of the import: the `patient.import` event of a patient.
pub(crate) struct ImportAudit {
    pub patient: PatientId,
    pub detail: serde_json::Value,
}

/// A course's recorded status change.
pub(crate) struct StatusRow {
    pub course: CourseId,
    pub from: Option<CourseStatus>,
    pub to: CourseStatus,
    pub reason: Option<String>,
    pub at: jiff::Timestamp,
}

/// A planned assessment of a course and the imported assessment that completed it.
pub(crate) struct DueRow {
    pub patient: PatientId,
    pub course: CourseId,
    pub due: PlannedAssessment,
    pub assessment: Option<AssessmentId>,
}

#[derive(Default)]
pub(crate) struct ImportBatch {
    pub patients: Vec<Patient>,
    pub teams: Vec<(CareTeamId, PatientId)>,
    pub courses: Vec<Course>,
    pub status_changes: Vec<StatusRow>,
    pub encounters: Vec<Encounter>,
    pub administrations: Vec<(EncounterId, Administration)>,
    pub assessments: Vec<Assessment>,
    pub alerts: Vec<Alert>,
    /// (patient, instrument, points joined by U+001E): new patients, so no earlier points.
    pub score_series: Vec<(PatientId, String, String)>,
    /// (course, scores, doses): new courses, so no earlier points.
    pub course_series: Vec<(CourseId, String, String)>,
    pub dues: Vec<DueRow>,
    pub audit: Vec<ImportAudit>,
}

/// Runs `rows` through `INSERT INTO {head} VALUES …{tail}` in as few statements as the
/// parameter limit allows, each row bound by `push`.
async fn insert_rows<DB, T>(
    conn: &mut DB::Connection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    mut push: impl FnMut(&mut sqlx::query_builder::Separated<'_, DB, &'static str>, &T),
) -> std::result::Result<(), sqlx::Error>
where
    DB: Database + sqlx::database::HasStatementCache,
    DB::Arguments: Default + sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for chunk in rows.chunks((PARAMETERS / columns).max(1)) {
        let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO {head} "));
        q.push_values(chunk, |mut b, row| push(&mut b, row));
        q.push(tail);
        // Each write's row counts make new statement text: prepared and cached, every statement
        // would cost an extra round trip and evict the connection's reusable statements.
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(column: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

impl ImportBatch {
    pub(crate) fn is_empty(&self) -> bool {
        self.patients.is_empty()
    }

    /// Writes every row and empties the batch; the caller's transaction keeps it all-or-nothing.
    pub(crate) async fn write<DB>(
        &mut self,
        conn: &mut DB::Connection,
        ctx: &AuditContext,
        keys: &kapstone_keys::Keyring,
    ) -> Result<()>
    where
        DB: Database + sqlx::database::HasStatementCache,
        DB::Arguments: Default + sqlx::IntoArguments<DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'r> (String,): FromRow<'r, DB::Row>,
        for<'r> (i64, String): FromRow<'r, DB::Row>,
        for<'t> Uuid: Encode<'t, DB> + Type<DB>,
        for<'t> Option<Uuid>: Encode<'t, DB> + Type<DB>,
        for<'t> String: Encode<'t, DB> + Type<DB>,
        for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
        for<'t> &'static str: Encode<'t, DB> + Type<DB>,
        for<'t> Option<&'static str>: Encode<'t, DB> + Type<DB>,
        for<'t> Ts: Encode<'t, DB> + Type<DB>,
        for<'t> Option<Ts>: Encode<'t, DB> + Type<DB>,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
        for<'t> f64: Encode<'t, DB> + Type<DB>,
        for<'t> Option<f64>: Encode<'t, DB> + Type<DB>,
        for<'t> bool: Encode<'t, DB> + Type<DB>,
        for<'t> jiff_sqlx::Date: Encode<'t, DB> + Type<DB>,
    {
        let clinic = ctx.clinic_id.0;
        let date = |d: Date| jiff_sqlx::ToSqlx::to_sqlx(d);
        self.refuse_taken_mrns::<DB>(conn, clinic).await?;
        // Contact details are sealed before they reach a statement, as on every other path.
        let contact =
            |f: kapstone_keys::Field, v: &Option<String>| keys.seal_opt(f, &clinic, v.as_deref());
        let sealed: Vec<(&Patient, [Option<String>; 3])> = self
            .patients
            .iter()
            .map(|p| {
                let d = &p.details;
                Ok((
                    p,
                    [
                        contact(kapstone_keys::Field::PATIENT_EMAIL, &d.email)?,
                        contact(kapstone_keys::Field::PATIENT_PHONE, &d.phone)?,
                        contact(kapstone_keys::Field::PATIENT_POSTAL_CODE, &d.postal_code)?,
                    ],
                ))
            })
            .collect::<Result<_>>()?;
        insert_rows::<DB, _>(
            conn,
            "patient (clinic_id, id, mrn, given_name, family_name, birth_date, sex, email, phone, \
             postal_code, created_at, updated_at)",
            12,
            "",
            &sealed,
            |b, (p, [email, phone, postal_code])| {
                let d = &p.details;
                b.push_bind(p.clinic_id.0)
                    .push_bind(p.id.0)
                    .push_bind(p.mrn.clone())
                    .push_bind(d.given_name.trim().to_string())
                    .push_bind(d.family_name.trim().to_string())
                    .push_bind(date(d.birth_date))
                    .push_bind(d.sex.as_str())
                    .push_bind(email.clone())
                    .push_bind(phone.clone())
                    .push_bind(postal_code.clone())
                    .push_bind(Ts(p.created_at))
                    .push_bind(Ts(p.updated_at));
            },
        )
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict("mrn: a record number appears twice in the import".into())
            }
            _ => StoreError::Database(e),
        })?;
        insert_rows::<DB, _>(
            conn,
            "care_team_patient (clinic_id, team_id, patient_id)",
            3,
            " ON CONFLICT (clinic_id, team_id, patient_id) DO NOTHING",
            &self.teams,
            |b, (team, patient)| {
                b.push_bind(clinic).push_bind(team.0).push_bind(patient.0);
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "treatment_course (clinic_id, id, patient_id, indication, planned_route, protocol, \
             status, status_reason, opened_at, closed_at)",
            10,
            "",
            &self.courses,
            |b, c| {
                b.push_bind(c.clinic_id.0)
                    .push_bind(c.id.0)
                    .push_bind(c.patient_id.0)
                    .push_bind(c.indication.as_str())
                    .push_bind(c.planned_route.map(|r| r.as_str()))
                    .push_bind(c.protocol.clone())
                    .push_bind(c.status.as_str())
                    .push_bind(c.status_reason.clone())
                    .push_bind(Ts(c.opened_at))
                    .push_bind(c.closed_at.map(Ts));
            },
        )
        .await?;
        let by = ctx
            .actor
            .id()
            .filter(|_| matches!(ctx.actor, Actor::User(_)));
        insert_rows::<DB, _>(
            conn,
            "course_status_change (clinic_id, id, course_id, from_status, to_status, reason, \
             changed_at, changed_by)",
            8,
            "",
            &self.status_changes,
            |b, s| {
                b.push_bind(clinic)
                    .push_bind(Uuid::now_v7())
                    .push_bind(s.course.0)
                    .push_bind(s.from.map(CourseStatus::as_str))
                    .push_bind(s.to.as_str())
                    .push_bind(s.reason.clone())
                    .push_bind(Ts(s.at))
                    .push_bind(by);
            },
        )
        .await?;
        let created = Ts(now());
        insert_rows::<DB, _>(
            conn,
            "encounter (clinic_id, id, patient_id, course_id, kind, status, sequence, planned_for, \
             occurred_at, created_at)",
            10,
            "",
            &self.encounters,
            |b, e| {
                b.push_bind(e.clinic_id.0)
                    .push_bind(e.id.0)
                    .push_bind(e.patient_id.0)
                    .push_bind(e.course_id.0)
                    .push_bind(e.kind.as_str())
                    .push_bind(e.status.as_str())
                    .push_bind(e.sequence)
                    .push_bind(e.planned_for.map(Ts))
                    .push_bind(e.occurred_at.map(Ts))
                    .push_bind(created);
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "administration (clinic_id, id, encounter_id, drug, route, formulation, dose_mg, \
             weight_kg, lot, given_at, given_by)",
            11,
            "",
            &self.administrations,
            |b, (encounter, a)| {
                let d = &a.dose;
                b.push_bind(clinic)
                    .push_bind(a.id.0)
                    .push_bind(encounter.0)
                    .push_bind(d.drug.as_str())
                    .push_bind(d.route.as_str())
                    .push_bind(d.formulation.as_str())
                    .push_bind(d.dose_mg)
                    .push_bind(d.weight_kg)
                    .push_bind(d.lot.clone())
                    .push_bind(Ts(a.given_at))
                    .push_bind(a.given_by.map(|u| u.0));
            },
        )
        .await?;
        let mut encoded = Vec::with_capacity(self.assessments.len());
        for a in &self.assessments {
            encoded.push((
                json("answers", &a.answers)?,
                a.subscales
                    .as_ref()
                    .map(|s| json("subscales", s))
                    .transpose()?,
                json("flags", &a.flags)?,
            ));
        }
        let assessments: Vec<_> = self.assessments.iter().zip(encoded).collect();
        insert_rows::<DB, _>(
            conn,
            "assessment (clinic_id, id, patient_id, course_id, encounter_id, instrument, \
             instrument_version, rater, answers, complete, total, severity, subscales, flags, \
             interpretation, time_point, administered_at, recorded_at)",
            18,
            "",
            &assessments,
            |b, (a, (answers, subscales, flags))| {
                b.push_bind(a.clinic_id.0)
                    .push_bind(a.id.0)
                    .push_bind(a.patient_id.0)
                    .push_bind(a.course_id.map(|c| c.0))
                    .push_bind(a.encounter_id.map(|e| e.0))
                    .push_bind(a.instrument.clone())
                    .push_bind(a.instrument_version.clone())
                    .push_bind(a.rater.clone())
                    .push_bind(answers.clone())
                    .push_bind(a.complete)
                    .push_bind(a.total)
                    .push_bind(a.severity.clone())
                    .push_bind(subscales.clone())
                    .push_bind(flags.clone())
                    .push_bind(a.interpretation.to_string())
                    .push_bind(a.time_point.clone())
                    .push_bind(Ts(a.administered_at))
                    .push_bind(Ts(a.recorded_at));
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "alert (clinic_id, id, patient_id, course_id, assessment_id, kind, message, raised_at, \
             acknowledged_at, acknowledged_by, action_note)",
            11,
            "",
            &self.alerts,
            |b, a| {
                b.push_bind(a.clinic_id.0)
                    .push_bind(a.id.0)
                    .push_bind(a.patient_id.0)
                    .push_bind(a.course_id.map(|c| c.0))
                    .push_bind(a.assessment_id.map(|x| x.0))
                    .push_bind(a.kind.clone())
                    .push_bind(a.message.clone())
                    .push_bind(Ts(a.raised_at))
                    .push_bind(a.acknowledged_at.map(Ts))
                    .push_bind(a.acknowledged_by.map(|u| u.0))
                    .push_bind(a.action_note.clone());
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "score_series (clinic_id, patient_id, instrument, points)",
            4,
            "",
            &self.score_series,
            |b, (patient, instrument, points)| {
                b.push_bind(clinic)
                    .push_bind(patient.0)
                    .push_bind(instrument.clone())
                    .push_bind(points.clone());
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "course_series (clinic_id, course_id, scores, doses)",
            4,
            "",
            &self.course_series,
            |b, (course, scores, doses)| {
                b.push_bind(clinic)
                    .push_bind(course.0)
                    .push_bind(scores.clone())
                    .push_bind(doses.clone());
            },
        )
        .await?;
        insert_rows::<DB, _>(
            conn,
            "assessment_due (clinic_id, id, patient_id, course_id, instrument, time_point, due_on, \
             window_days, assessment_id)",
            9,
            "",
            &self.dues,
            |b, d| {
                b.push_bind(clinic)
                    .push_bind(Uuid::now_v7())
                    .push_bind(d.patient.0)
                    .push_bind(d.course.0)
                    .push_bind(d.due.instrument)
                    .push_bind(d.due.time_point.clone())
                    .push_bind(date(d.due.due_on))
                    .push_bind(d.due.window_days)
                    .push_bind(d.assessment.map(|a| a.0));
            },
        )
        .await?;
        self.append_audit::<DB>(conn, ctx).await?;
        *self = ImportBatch::default();
        Ok(())
    }

    /// Names a record number the clinic already uses, which a unique-violation error cannot
    /// (and after which PostgreSQL accepts no further statement in the transaction).
    async fn refuse_taken_mrns<DB>(&self, conn: &mut DB::Connection, clinic: Uuid) -> Result<()>
    where
        DB: Database + sqlx::database::HasStatementCache,
        DB::Arguments: Default + sqlx::IntoArguments<DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'r> (String,): FromRow<'r, DB::Row>,
        for<'t> Uuid: Encode<'t, DB> + Type<DB>,
        for<'t> String: Encode<'t, DB> + Type<DB>,
    {
        for chunk in self.patients.chunks(PARAMETERS) {
            let mut q = QueryBuilder::<DB>::new("SELECT mrn FROM patient WHERE clinic_id = ");
            q.push_bind(clinic).push(" AND mrn IN (");
            let mut list = q.separated(", ");
            for p in chunk {
                list.push_bind(p.mrn.clone());
            }
            q.push(") LIMIT 1");
            if let Some((mrn,)) = q
                .build_query_as::<(String,)>()
                .persistent(false)
                .fetch_optional(&mut *conn)
                .await?
            {
                return Err(StoreError::Conflict(format!(
                    "mrn: {mrn} is already used in this clinic"
                )));
            }
        }
        Ok(())
    }

    /// Appends the batch's events to the clinic's chain: the tip row is locked and moved once
    /// per batch rather than once per patient, which on PostgreSQL also keeps that one row from
    /// gathering a version per patient inside the import's transaction.
    async fn append_audit<DB>(&self, conn: &mut DB::Connection, ctx: &AuditContext) -> Result<()>
    where
        DB: Database + sqlx::database::HasStatementCache,
        DB::Arguments: Default + sqlx::IntoArguments<DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'r> (i64, String): FromRow<'r, DB::Row>,
        for<'t> Uuid: Encode<'t, DB> + Type<DB>,
        for<'t> Option<Uuid>: Encode<'t, DB> + Type<DB>,
        for<'t> String: Encode<'t, DB> + Type<DB>,
        for<'t> &'static str: Encode<'t, DB> + Type<DB>,
        for<'t> Ts: Encode<'t, DB> + Type<DB>,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
    {
        if self.audit.is_empty() {
            return Ok(());
        }
        let clinic = ctx.clinic_id.0;
        sqlx::query::<DB>(
            "INSERT INTO audit_head (clinic_id, seq, hash) VALUES ($1, 0, $2) \
             ON CONFLICT (clinic_id) DO NOTHING",
        )
        .bind(clinic)
        .bind(GENESIS)
        .execute(&mut *conn)
        .await?;
        let count =
            i64::try_from(self.audit.len()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (last, mut prev): (i64, String) = sqlx::query_as::<DB, (i64, String)>(
            "UPDATE audit_head SET seq = seq + $2 WHERE clinic_id = $1 RETURNING seq, hash",
        )
        .bind(clinic)
        .bind(count)
        .fetch_one(&mut *conn)
        .await?;
        let mut events = Vec::with_capacity(self.audit.len());
        for (seq, entry) in (last - count + 1..).zip(&self.audit) {
            let mut event = AuditEvent {
                id: AuditEventId::new(),
                clinic_id: ctx.clinic_id,
                seq,
                occurred_at: now(),
                actor_kind: ctx.actor.kind().to_string(),
                actor_id: ctx.actor.id(),
                action: "patient.import".into(),
                patient_id: Some(entry.patient),
                entity: "patient".into(),
                entity_id: Some(entry.patient.0),
                origin: ctx.origin.clone(),
                detail: entry.detail.to_string(),
                prev_hash: prev,
                hash: String::new(),
            };
            event.hash = event_hash(&event);
            prev = event.hash.clone();
            events.push(event);
        }
        insert_rows::<DB, _>(
            conn,
            "audit_event (clinic_id, id, seq, occurred_at, actor_kind, actor_id, action, patient_id, \
             entity, entity_id, origin, detail, prev_hash, hash)",
            14,
            "",
            &events,
            |b, e| {
                b.push_bind(e.clinic_id.0)
                    .push_bind(e.id.0)
                    .push_bind(e.seq)
                    .push_bind(Ts(e.occurred_at))
                    .push_bind(e.actor_kind.clone())
                    .push_bind(e.actor_id)
                    .push_bind(e.action.clone())
                    .push_bind(e.patient_id.map(|p| p.0))
                    .push_bind(e.entity.clone())
                    .push_bind(e.entity_id)
                    .push_bind(e.origin.clone())
                    .push_bind(e.detail.clone())
                    .push_bind(e.prev_hash.clone())
                    .push_bind(e.hash.clone());
            },
        )
        .await?;
        sqlx::query::<DB>("UPDATE audit_head SET hash = $2 WHERE clinic_id = $1")
            .bind(clinic)
            .bind(prev)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
