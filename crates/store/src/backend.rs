//! The store, written once: the SQL text is the same on both backends, and this macro expands
//! the same Rust for each sqlx driver, so the two implementations cannot drift apart. What must
//! differ (connecting, migrations, schema introspection) lives in `sqlite.rs` and `postgres.rs`.

macro_rules! impl_store {
    ($store:ident, $db:ty, $begin:literal, points: $points_sql:literal, encounters: $encounters_sql:literal) => {
        use $crate::audit::{ChainReport, ChainWalker};
        use $crate::error::{Result, StoreError};
        use $crate::model::*;
        use $crate::traits::*;
        use $crate::types::Ts;
        use async_trait::async_trait;
        use jiff::Timestamp;
        use kapstone_clinical::course::{
            CourseStatus, EncounterKind, EncounterStatus, Indication, Route,
        };
        use kapstone_clinical::vocab::{Role, Sex};
        use kapstone_keys::{Field, Keyring};
        use sqlx::Row;
        use uuid::Uuid;

        type Tx = sqlx::Transaction<'static, $db>;
        type DbRow = <$db as sqlx::Database>::Row;

        fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
            StoreError::Corrupt(format!("{column}: {e}"))
        }

        fn ts(row: &DbRow, col: &str) -> Result<Timestamp> {
            Ok(row.try_get::<Ts, _>(col)?.0)
        }

        fn ts_opt(row: &DbRow, col: &str) -> Result<Option<Timestamp>> {
            Ok(row.try_get::<Option<Ts>, _>(col)?.map(|t| t.0))
        }

        fn json_col<T: serde::de::DeserializeOwned>(row: &DbRow, col: &str) -> Result<T> {
            let text: String = row.try_get(col)?;
            serde_json::from_str(&text).map_err(|e| corrupt(col, e))
        }

        fn unique_to_conflict(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
            match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Conflict(message())
                }
                _ => e.into(),
            }
        }

        fn clinic_from(row: &DbRow) -> Result<Clinic> {
            Ok(Clinic {
                id: ClinicId(row.try_get("clinic_id")?),
                name: row.try_get("name")?,
                time_zone: row.try_get("time_zone")?,
                created_at: ts(row, "created_at")?,
                synthetic: row.try_get("synthetic")?,
            })
        }

        fn user_from(row: &DbRow) -> Result<User> {
            let role: String = row.try_get("role")?;
            Ok(User {
                id: UserId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                email: row.try_get("email")?,
                display_name: row.try_get("display_name")?,
                role: Role::parse(&role).map_err(|e| corrupt("role", e))?,
                active: row.try_get("active")?,
                created_at: ts(row, "created_at")?,
            })
        }

        fn patient_from(row: &DbRow, keys: &Keyring) -> Result<Patient> {
            let sex: String = row.try_get("sex")?;
            let clinic: Uuid = row.try_get("clinic_id")?;
            let open = |field: Field, column: &str| -> Result<Option<String>> {
                let stored: Option<String> = row.try_get(column)?;
                Ok(keys.open_opt(field, &clinic, stored.as_deref())?)
            };
            Ok(Patient {
                id: PatientId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                mrn: row.try_get("mrn")?,
                details: PatientDetails {
                    given_name: row.try_get("given_name")?,
                    family_name: row.try_get("family_name")?,
                    birth_date: row.try_get::<jiff_sqlx::Date, _>("birth_date")?.to_jiff(),
                    sex: Sex::parse(&sex).map_err(|e| corrupt("sex", e))?,
                    email: open(Field::PATIENT_EMAIL, "email")?,
                    phone: open(Field::PATIENT_PHONE, "phone")?,
                    postal_code: open(Field::PATIENT_POSTAL_CODE, "postal_code")?,
                },
                created_at: ts(row, "created_at")?,
                updated_at: ts(row, "updated_at")?,
            })
        }

        fn course_from(row: &DbRow) -> Result<Course> {
            let indication: String = row.try_get("indication")?;
            let route: Option<String> = row.try_get("planned_route")?;
            let status: String = row.try_get("status")?;
            Ok(Course {
                id: CourseId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                indication: Indication::parse(&indication).map_err(|e| corrupt("indication", e))?,
                planned_route: route
                    .map(|r| Route::parse(&r))
                    .transpose()
                    .map_err(|e| corrupt("planned_route", e))?,
                protocol: row.try_get("protocol")?,
                status: CourseStatus::parse(&status).map_err(|e| corrupt("status", e))?,
                status_reason: row.try_get("status_reason")?,
                opened_at: ts(row, "opened_at")?,
                closed_at: ts_opt(row, "closed_at")?,
            })
        }

        fn status_change_from(row: &DbRow) -> Result<StatusChange> {
            let from: Option<String> = row.try_get("from_status")?;
            let to: String = row.try_get("to_status")?;
            Ok(StatusChange {
                course_id: CourseId(row.try_get("course_id")?),
                from: from
                    .map(|f| CourseStatus::parse(&f))
                    .transpose()
                    .map_err(|e| corrupt("from_status", e))?,
                to: CourseStatus::parse(&to).map_err(|e| corrupt("to_status", e))?,
                reason: row.try_get("reason")?,
                changed_at: ts(row, "changed_at")?,
                changed_by: row.try_get::<Option<Uuid>, _>("changed_by")?.map(UserId),
            })
        }

        fn encounter_from(row: &DbRow) -> Result<Encounter> {
            let kind: String = row.try_get("kind")?;
            let status: String = row.try_get("status")?;
            Ok(Encounter {
                id: EncounterId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                course_id: CourseId(row.try_get("course_id")?),
                kind: EncounterKind::parse(&kind).map_err(|e| corrupt("kind", e))?,
                status: EncounterStatus::parse(&status).map_err(|e| corrupt("status", e))?,
                sequence: row.try_get("sequence")?,
                planned_for: ts_opt(row, "planned_for")?,
                occurred_at: ts_opt(row, "occurred_at")?,
            })
        }

        fn assessment_from(row: &DbRow) -> Result<Assessment> {
            let subscales: Option<String> = row.try_get("subscales")?;
            Ok(Assessment {
                id: AssessmentId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                course_id: row.try_get::<Option<Uuid>, _>("course_id")?.map(CourseId),
                encounter_id: row.try_get::<Option<Uuid>, _>("encounter_id")?.map(EncounterId),
                instrument: row.try_get("instrument")?,
                instrument_version: row.try_get("instrument_version")?,
                answers: json_col(row, "answers")?,
                complete: row.try_get("complete")?,
                total: row.try_get("total")?,
                severity: row.try_get("severity")?,
                subscales: subscales
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| corrupt("subscales", e))?,
                flags: json_col(row, "flags")?,
                interpretation: json_col(row, "interpretation")?,
                time_point: row.try_get("time_point")?,
                rater: row.try_get("rater")?,
                administered_at: ts(row, "administered_at")?,
                recorded_at: ts(row, "recorded_at")?,
            })
        }

        fn alert_from(row: &DbRow) -> Result<Alert> {
            Ok(Alert {
                id: AlertId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                course_id: row.try_get::<Option<Uuid>, _>("course_id")?.map(CourseId),
                assessment_id: row.try_get::<Option<Uuid>, _>("assessment_id")?.map(AssessmentId),
                kind: row.try_get("kind")?,
                message: row.try_get("message")?,
                raised_at: ts(row, "raised_at")?,
                acknowledged_at: ts_opt(row, "acknowledged_at")?,
                acknowledged_by: row.try_get::<Option<Uuid>, _>("acknowledged_by")?.map(UserId),
                action_note: row.try_get("action_note")?,
            })
        }

        fn audit_from(row: &DbRow) -> Result<AuditEvent> {
            Ok(AuditEvent {
                id: AuditEventId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                seq: row.try_get("seq")?,
                occurred_at: ts(row, "occurred_at")?,
                actor_kind: row.try_get("actor_kind")?,
                actor_id: row.try_get("actor_id")?,
                action: row.try_get("action")?,
                patient_id: row.try_get::<Option<Uuid>, _>("patient_id")?.map(PatientId),
                entity: row.try_get("entity")?,
                entity_id: row.try_get("entity_id")?,
                origin: row.try_get("origin")?,
                detail: row.try_get("detail")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        }

        use $crate::audit_append::Entry;

        /// Appends to the clinic's chain inside the caller's transaction.
        async fn append_audit(tx: &mut Tx, ctx: &AuditContext, entry: Entry<'_>) -> Result<()> {
            $crate::audit_append::append::<$db>(&mut **tx, ctx, entry).await
        }

        /// The audit event of a read that returned a list: what was read and how many records.
        async fn audit_read(
            tx: &mut Tx,
            ctx: &AuditContext,
            action: &str,
            patient: Option<PatientId>,
            entity: &str,
            entity_id: Option<Uuid>,
            results: usize,
        ) -> Result<()> {
            append_audit(tx, ctx, Entry { action, patient, entity, entity_id, detail: serde_json::json!({ "results": results }) }).await
        }

        fn check_details(d: &PatientDetails) -> Result<()> {
            d.cleaned(now().to_zoned(jiff::tz::TimeZone::UTC).date())?;
            Ok(())
        }

        fn need_user(ctx: &AuditContext, what: &'static str) -> Result<UserId> {
            match ctx.actor {
                Actor::User(u) => Ok(u),
                _ => Err(StoreError::invalid("actor", format!("{what} must be done by a named staff member"))),
            }
        }

        /// The clinic's next record number, `K000001`, `K000002`, … (the row lock serialises it).
        async fn next_mrn(tx: &mut Tx, clinic: ClinicId) -> Result<String> {
            let row = sqlx::query("UPDATE clinic SET mrn_counter = mrn_counter + 1 WHERE clinic_id = $1 RETURNING mrn_counter")
                .bind(clinic.0)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| StoreError::not_found("clinic", clinic))?;
            Ok(format!("K{:06}", row.try_get::<i64, _>("mrn_counter")?))
        }

        async fn insert_patient_row(tx: &mut Tx, keys: &Keyring, p: &Patient) -> Result<()> {
            let d = &p.details;
            let seal = |field: Field, plain: &Option<String>| keys.seal_opt(field, &p.clinic_id.0, plain.as_deref());
            sqlx::query(
                "INSERT INTO patient (clinic_id, id, mrn, given_name, family_name, birth_date, sex, \
                 email, phone, postal_code, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(p.clinic_id.0)
            .bind(p.id.0)
            .bind(&p.mrn)
            .bind(d.given_name.trim())
            .bind(d.family_name.trim())
            .bind(jiff_sqlx::ToSqlx::to_sqlx(d.birth_date))
            .bind(d.sex.as_str())
            .bind(seal(Field::PATIENT_EMAIL, &d.email)?)
            .bind(seal(Field::PATIENT_PHONE, &d.phone)?)
            .bind(seal(Field::PATIENT_POSTAL_CODE, &d.postal_code)?)
            .bind(Ts(p.created_at))
            .bind(Ts(p.updated_at))
            .execute(&mut **tx)
            .await
            .map_err(|e| unique_to_conflict(e, || format!("mrn: {} is already used in this clinic", p.mrn)))?;
            Ok(())
        }

        async fn insert_course_row(tx: &mut Tx, c: &Course) -> Result<()> {
            sqlx::query(
                "INSERT INTO treatment_course (clinic_id, id, patient_id, indication, planned_route, \
                 protocol, status, status_reason, opened_at, closed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(c.clinic_id.0)
            .bind(c.id.0)
            .bind(c.patient_id.0)
            .bind(c.indication.as_str())
            .bind(c.planned_route.map(Route::as_str))
            .bind(&c.protocol)
            .bind(c.status.as_str())
            .bind(&c.status_reason)
            .bind(Ts(c.opened_at))
            .bind(c.closed_at.map(Ts))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn insert_encounter_row(tx: &mut Tx, e: &Encounter) -> Result<()> {
            sqlx::query(
                "INSERT INTO encounter (clinic_id, id, patient_id, course_id, kind, status, sequence, \
                 planned_for, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(e.clinic_id.0)
            .bind(e.id.0)
            .bind(e.patient_id.0)
            .bind(e.course_id.0)
            .bind(e.kind.as_str())
            .bind(e.status.as_str())
            .bind(e.sequence)
            .bind(e.planned_for.map(Ts))
            .bind(e.occurred_at.map(Ts))
            .bind(Ts(now()))
            .execute(&mut **tx)
            .await
            .map_err(|err| unique_to_conflict(err, || "encounter: that encounter number is taken".into()))?;
            Ok(())
        }

        async fn insert_due_row(
            tx: &mut Tx,
            course: &Course,
            due: &kapstone_clinical::protocol::PlannedAssessment,
            assessment: Option<AssessmentId>,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO assessment_due (clinic_id, id, patient_id, course_id, instrument, time_point, \
                 due_on, window_days, assessment_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(course.clinic_id.0)
            .bind(Uuid::now_v7())
            .bind(course.patient_id.0)
            .bind(course.id.0)
            .bind(due.instrument)
            .bind(&due.time_point)
            .bind(jiff_sqlx::ToSqlx::to_sqlx(due.due_on))
            .bind(due.window_days)
            .bind(assessment.map(|a| a.0))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn clinic_tz(tx: &mut Tx, clinic: ClinicId) -> Result<jiff::tz::TimeZone> {
            let tz: String = sqlx::query_scalar("SELECT time_zone FROM clinic WHERE clinic_id = $1")
                .bind(clinic.0)
                .fetch_one(&mut **tx)
                .await?;
            jiff::tz::TimeZone::get(&tz).map_err(|e| corrupt("time_zone", e))
        }

        /// A planned day as a time: 09:00 clinic time, which the clinician moves when booking.
        fn clinic_morning(tz: &jiff::tz::TimeZone, date: jiff::civil::Date) -> Result<Timestamp> {
            Ok(date.at(9, 0, 0, 0).to_zoned(tz.clone()).map_err(|e| corrupt("planned_for", e))?.timestamp())
        }

        /// Decodes the aggregated points both backends produce: fields `id, course_id, instrument,
        /// time_point, complete, total, severity, flags (JSON array), administered_at` separated by
        /// U+001F, points by U+001E; the time is RFC 3339 text or microseconds since the epoch.
        /// The patient's latest `limit` assessments as points, oldest first.
        async fn recent_points(tx: &mut Tx, ctx: &AuditContext, patient: PatientId, limit: i64) -> Result<Vec<AssessmentPoint>> {
            let points: Option<String> = sqlx::query_scalar($points_sql)
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .bind(limit)
                .fetch_one(&mut **tx)
                .await?;
            parse_points(points.as_deref())
        }

        /// A time in the separated text: microseconds since the epoch (PostgreSQL) or RFC 3339 text
        /// (SQLite).
        fn parse_time(field: &str, at: &str) -> Result<Timestamp> {
            match at.parse::<i64>() {
                Ok(micros) => Timestamp::from_microsecond(micros).map_err(|e| corrupt(field, e)),
                Err(_) => at.parse().map_err(|e| corrupt(field, e)),
            }
        }

        async fn courses_in(tx: &mut Tx, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Course>> {
            let rows = sqlx::query(
                "SELECT * FROM treatment_course WHERE clinic_id = $1 AND patient_id = $2 ORDER BY opened_at, id",
            )
            .bind(ctx.clinic_id.0)
            .bind(patient.0)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter().map(course_from).collect()
        }

        async fn alerts_in(tx: &mut Tx, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Alert>> {
            let rows = sqlx::query("SELECT * FROM alert WHERE clinic_id = $1 AND patient_id = $2 ORDER BY raised_at, id")
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_all(&mut **tx)
                .await?;
            rows.iter().map(alert_from).collect()
        }

        /// One aggregated row: a long history is thousands of encounters.
        async fn patient_encounters_in(tx: &mut Tx, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Encounter>> {
            let text: Option<String> = sqlx::query_scalar($encounters_sql)
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_one(&mut **tx)
                .await?;
            parse_encounters(ctx, patient, text.as_deref())
        }

        async fn chart_assessments_in(tx: &mut Tx, ctx: &AuditContext, patient: PatientId, recent: usize) -> Result<ChartAssessments> {
            let rows = sqlx::query("SELECT instrument, points FROM score_series WHERE clinic_id = $1 AND patient_id = $2")
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_all(&mut **tx)
                .await?;
            let mut series = Vec::new();
            for row in &rows {
                parse_series(row.try_get("instrument")?, row.try_get("points")?, &mut series)?;
            }
            series.sort_by_key(|p| p.administered_at);
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assessment WHERE clinic_id = $1 AND patient_id = $2")
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_one(&mut **tx)
                .await?;
            let recent = recent_points(tx, ctx, patient, i64::try_from(recent).unwrap_or(i64::MAX)).await?;
            let count = usize::try_from(count).map_err(|e| corrupt("count", e))?;
            Ok(ChartAssessments { series, recent, count })
        }

        /// Decodes a patient's encounters as both backends aggregate them: fields `id, course_id,
        /// kind, status, sequence, planned_for, occurred_at` separated by U+001F (times empty when
        /// absent), encounters by U+001E.
        fn parse_encounters(ctx: &AuditContext, patient: PatientId, text: Option<&str>) -> Result<Vec<Encounter>> {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                return Ok(Vec::new());
            };
            text.split('\u{1e}')
                .map(|row| -> Result<Encounter> {
                    let f: Vec<&str> = row.split('\u{1f}').collect();
                    let [id, course, kind, status, sequence, planned, occurred] = f[..] else {
                        return Err(corrupt("encounters", format!("{} fields", f.len())));
                    };
                    let uuid = |v: &str| Uuid::parse_str(v).map_err(|e| corrupt("encounters.id", e));
                    let time = |field: &str, v: &str| -> Result<Option<Timestamp>> {
                        if v.is_empty() { Ok(None) } else { parse_time(field, v).map(Some) }
                    };
                    Ok(Encounter {
                        id: EncounterId(uuid(id)?),
                        clinic_id: ctx.clinic_id,
                        patient_id: patient,
                        course_id: CourseId(uuid(course)?),
                        kind: EncounterKind::parse(kind).map_err(|e| corrupt("encounters.kind", e))?,
                        status: EncounterStatus::parse(status).map_err(|e| corrupt("encounters.status", e))?,
                        sequence: sequence.parse().map_err(|e| corrupt("encounters.sequence", e))?,
                        planned_for: time("encounters.planned_for", planned)?,
                        occurred_at: time("encounters.occurred_at", occurred)?,
                    })
                })
                .collect()
        }

        fn parse_points(text: Option<&str>) -> Result<Vec<AssessmentPoint>> {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                return Ok(Vec::new());
            };
            let mut out = text
                .split('\u{1e}')
                .map(|row| -> Result<AssessmentPoint> {
                    let f: Vec<&str> = row.split('\u{1f}').collect();
                    let [id, course, instrument, time_point, complete, total, severity, flags, at] = f[..] else {
                        return Err(corrupt("points", format!("{} fields", f.len())));
                    };
                    let uuid = |v: &str| Uuid::parse_str(v).map_err(|e| corrupt("points.id", e));
                    let flags: Vec<String> = serde_json::from_str(flags).map_err(|e| corrupt("points.flags", e))?;
                    let administered_at = parse_time("points.administered_at", at)?;
                    Ok(AssessmentPoint {
                        id: AssessmentId(uuid(id)?),
                        course_id: if course.is_empty() { None } else { Some(CourseId(uuid(course)?)) },
                        instrument: instrument.to_string(),
                        time_point: time_point.to_string(),
                        complete: matches!(complete, "1" | "true" | "t"),
                        total: if total.is_empty() {
                            None
                        } else {
                            Some(total.parse().map_err(|e| corrupt("points.total", e))?)
                        },
                        severity: (!severity.is_empty()).then(|| severity.to_string()),
                        flags: flags.join(","),
                        administered_at,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.sort_by_key(|p| (p.administered_at, p.id));
            Ok(out)
        }

        /// The stored form of a scored response.
        fn assessment_record(
            clinic_id: ClinicId,
            patient_id: PatientId,
            course_id: Option<CourseId>,
            encounter_id: Option<EncounterId>,
            response: &kapstone_clinical::instrument::Response,
            time_point: &str,
            administered_at: Timestamp,
        ) -> Assessment {
            let score = response.score();
            let mut interpretation = serde_json::Map::new();
            if let Some(sp) = score.screen_positive {
                interpretation.insert("screen_positive".into(), serde_json::json!(sp));
            }
            if let Some((key, met)) = &score.provisional {
                interpretation.insert(key.clone(), serde_json::json!(met));
            }
            if let Some(risk) = &score.risk {
                interpretation.insert("risk".into(), serde_json::json!(risk));
            }
            Assessment {
                id: AssessmentId::new(),
                clinic_id,
                patient_id,
                course_id,
                encounter_id,
                instrument: score.instrument.clone(),
                instrument_version: score.version.clone(),
                answers: response.answers().values().to_vec(),
                complete: score.complete,
                total: score.total.map(|t| t.value()),
                severity: score.severity.as_ref().map(|b| b.id.clone()),
                subscales: score.subscales.clone(),
                flags: score.flags.iter().map(|f| f.id.clone()).collect(),
                interpretation: serde_json::Value::Object(interpretation),
                time_point: time_point.to_string(),
                rater: response.rater().as_str().to_string(),
                administered_at,
                recorded_at: now(),
            }
        }

        async fn insert_assessment_row(tx: &mut Tx, a: &Assessment) -> Result<()> {
            let subscales_json = a
                .subscales
                .as_ref()
                .map(|s| serde_json::to_string(s))
                .transpose()
                .map_err(|e| corrupt("subscales", e))?;
            sqlx::query(
                "INSERT INTO assessment (clinic_id, id, patient_id, course_id, encounter_id, instrument, \
                 instrument_version, rater, answers, complete, total, severity, subscales, flags, \
                 interpretation, time_point, administered_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            )
            .bind(a.clinic_id.0)
            .bind(a.id.0)
            .bind(a.patient_id.0)
            .bind(a.course_id.map(|c| c.0))
            .bind(a.encounter_id.map(|e| e.0))
            .bind(&a.instrument)
            .bind(&a.instrument_version)
            .bind(&a.rater)
            .bind(serde_json::to_string(&a.answers).map_err(|e| corrupt("answers", e))?)
            .bind(a.complete)
            .bind(a.total)
            .bind(&a.severity)
            .bind(subscales_json)
            .bind(serde_json::to_string(&a.flags).map_err(|e| corrupt("flags", e))?)
            .bind(a.interpretation.to_string())
            .bind(&a.time_point)
            .bind(Ts(a.administered_at))
            .bind(Ts(a.recorded_at))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// A scored assessment as a point of the patient's score series (see migration 0004);
        /// an incomplete form has no total and no point.
        fn series_point(a: &Assessment) -> Option<String> {
            let total = a.total?;
            let label: String = a.time_point.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            Some(format!("{}\u{1f}{total}\u{1f}{label}", a.administered_at.as_microsecond()))
        }

        /// Appends points (already joined by U+001E) to the patient's series for an instrument.
        async fn append_series(tx: &mut Tx, clinic: ClinicId, patient: PatientId, instrument: &str, points: &str) -> Result<()> {
            sqlx::query(
                "INSERT INTO score_series (clinic_id, patient_id, instrument, points) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (clinic_id, patient_id, instrument) DO UPDATE SET points = score_series.points || $5",
            )
            .bind(clinic.0)
            .bind(patient.0)
            .bind(instrument)
            .bind(points)
            .bind(format!("\u{1e}{points}"))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Appends points (each part already joined by U+001E, either may be empty) to a
        /// course's outcome series (see migration 0006).
        async fn append_course_series(tx: &mut Tx, clinic: ClinicId, course: CourseId, scores: &str, doses: &str) -> Result<()> {
            sqlx::query(
                "INSERT INTO course_series (clinic_id, course_id, scores, doses) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (clinic_id, course_id) DO UPDATE SET \
                 scores = CASE WHEN course_series.scores = '' THEN excluded.scores \
                               WHEN excluded.scores = '' THEN course_series.scores \
                               ELSE course_series.scores || $5 END, \
                 doses = CASE WHEN course_series.doses = '' THEN excluded.doses \
                              WHEN excluded.doses = '' THEN course_series.doses \
                              ELSE course_series.doses || $6 END",
            )
            .bind(clinic.0)
            .bind(course.0)
            .bind(scores)
            .bind(doses)
            .bind(format!("\u{1e}{scores}"))
            .bind(format!("\u{1e}{doses}"))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Decodes one instrument's series; the time is microseconds since the epoch, or RFC 3339
        /// text where SQLite's migration back-filled it.
        fn parse_series(instrument: &str, text: &str, out: &mut Vec<SeriesPoint>) -> Result<()> {
            for point in text.split('\u{1e}').filter(|p| !p.is_empty()) {
                let mut f = point.splitn(3, '\u{1f}');
                let (Some(at), Some(total), Some(label)) = (f.next(), f.next(), f.next()) else {
                    return Err(corrupt("score_series.points", "a point has fewer than three fields"));
                };
                let administered_at = match at.parse::<i64>() {
                    Ok(micros) => Timestamp::from_microsecond(micros).map_err(|e| corrupt("score_series.time", e))?,
                    Err(_) => at.parse().map_err(|e| corrupt("score_series.time", e))?,
                };
                out.push(SeriesPoint {
                    instrument: instrument.to_string(),
                    administered_at,
                    total: total.parse().map_err(|e| corrupt("score_series.total", e))?,
                    time_point: label.to_string(),
                });
            }
            Ok(())
        }

        /// The open alert a raised flag opens.
        fn alert_record(a: &Assessment, flag: &kapstone_clinical::instrument::RaisedFlag) -> Alert {
            Alert {
                id: AlertId::new(),
                clinic_id: a.clinic_id,
                patient_id: a.patient_id,
                course_id: a.course_id,
                assessment_id: Some(a.id),
                kind: flag.id.clone(),
                message: flag.label.clone(),
                raised_at: a.recorded_at,
                acknowledged_at: None,
                acknowledged_by: None,
                action_note: None,
            }
        }

        async fn insert_alert_row(tx: &mut Tx, alert: &Alert) -> Result<()> {
            sqlx::query(
                "INSERT INTO alert (clinic_id, id, patient_id, course_id, assessment_id, kind, message, \
                 raised_at, acknowledged_at, acknowledged_by, action_note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(alert.clinic_id.0)
            .bind(alert.id.0)
            .bind(alert.patient_id.0)
            .bind(alert.course_id.map(|c| c.0))
            .bind(alert.assessment_id.map(|x| x.0))
            .bind(&alert.kind)
            .bind(&alert.message)
            .bind(Ts(alert.raised_at))
            .bind(alert.acknowledged_at.map(Ts))
            .bind(alert.acknowledged_by.map(|u| u.0))
            .bind(&alert.action_note)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Stores a response, its alerts and their audit events inside the caller's transaction.
        async fn insert_assessment(tx: &mut Tx, ctx: &AuditContext, new: &NewAssessment) -> Result<RecordedAssessment> {
            let time_point = new.time_point.trim();
            if time_point.is_empty() || time_point.len() > 64 {
                return Err(StoreError::invalid("time_point", "must be a short label such as baseline, pre_dose_2 or month_3"));
            }
            $store::patient_in(tx, ctx, new.patient_id).await?;
            if let Some(course_id) = new.course_id {
                let course = $store::course_in(tx, ctx, course_id).await?;
                if course.patient_id != new.patient_id {
                    return Err(StoreError::invalid("course_id", "belongs to another patient"));
                }
            }
            if let Some(enc) = new.encounter_id {
                // An in-session questionnaire (CADSS-6) is part of the encounter: refused once signed.
                if unlocked(tx, ctx, enc).await?.patient_id != new.patient_id {
                    return Err(StoreError::invalid("encounter_id", "belongs to another patient"));
                }
            }
            let a = assessment_record(ctx.clinic_id, new.patient_id, new.course_id, new.encounter_id, &new.response, time_point, new.administered_at);
            insert_assessment_row(tx, &a).await?;
            if let Some(point) = series_point(&a) {
                append_series(tx, a.clinic_id, a.patient_id, &a.instrument, &point).await?;
            }
            if let (Some(course), Some(point)) = (a.course_id, $crate::course_series::score_point(&a)) {
                append_course_series(tx, a.clinic_id, course, &point, "").await?;
            }
            append_audit(tx, ctx, Entry {
                action: "assessment.record",
                patient: Some(a.patient_id),
                entity: "assessment",
                entity_id: Some(a.id.0),
                detail: serde_json::json!({ "instrument": a.instrument, "complete": a.complete, "flags": a.flags }),
            })
            .await?;
            let mut alerts = Vec::new();
            for flag in new.response.score().flags.iter().filter(|f| f.alert) {
                let alert = alert_record(&a, flag);
                insert_alert_row(tx, &alert).await?;
                append_audit(tx, ctx, Entry {
                    action: "alert.raise",
                    patient: Some(alert.patient_id),
                    entity: "alert",
                    entity_id: Some(alert.id.0),
                    detail: serde_json::json!({ "kind": alert.kind }),
                })
                .await?;
                alerts.push(alert);
            }
            Ok(RecordedAssessment { assessment: a, alerts })
        }

        impl $store {
            async fn tx(&self) -> Result<Tx> {
                Ok(self.writer().begin_with($begin).await?)
            }

            /// That the patient exists in the caller's clinic.
            async fn patient_in(tx: &mut Tx, ctx: &AuditContext, id: PatientId) -> Result<()> {
                sqlx::query("SELECT 1 FROM patient WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(id.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("patient", id))?;
                Ok(())
            }

            /// The patient, contact details opened.
            async fn patient_read(&self, tx: &mut Tx, ctx: &AuditContext, id: PatientId) -> Result<Patient> {
                let row = sqlx::query("SELECT * FROM patient WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(id.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("patient", id))?;
                patient_from(&row, &self.keys)
            }

            async fn course_in(tx: &mut Tx, ctx: &AuditContext, id: CourseId) -> Result<Course> {
                let row = sqlx::query("SELECT * FROM treatment_course WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(id.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("course", id))?;
                course_from(&row)
            }

            async fn alert_in(tx: &mut Tx, ctx: &AuditContext, id: AlertId) -> Result<Alert> {
                let row = sqlx::query("SELECT * FROM alert WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(id.0)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("alert", id))?;
                alert_from(&row)
            }
        }

        #[async_trait]
        impl ClinicStore for $store {
            async fn create_clinic(&self, new: &NewClinic, origin: &str) -> Result<Clinic> {
                if new.name.trim().is_empty() {
                    return Err(StoreError::invalid("name", "must not be empty"));
                }
                if jiff::tz::TimeZone::get(&new.time_zone).is_err() {
                    return Err(StoreError::invalid(
                        "time_zone",
                        format!("'{}' is not an IANA time zone (e.g. America/New_York)", new.time_zone),
                    ));
                }
                let clinic = Clinic {
                    id: ClinicId::new(),
                    name: new.name.trim().to_string(),
                    time_zone: new.time_zone.clone(),
                    created_at: now(),
                    synthetic: false,
                };
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO clinic (clinic_id, name, time_zone, mrn_counter, created_at) \
                     VALUES ($1, $2, $3, 0, $4)",
                )
                .bind(clinic.id.0)
                .bind(&clinic.name)
                .bind(&clinic.time_zone)
                .bind(Ts(clinic.created_at))
                .execute(&mut *tx)
                .await?;
                let ctx = AuditContext { clinic_id: clinic.id, actor: Actor::System, origin: origin.to_string() };
                append_audit(&mut tx, &ctx, Entry {
                    action: "clinic.create",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(clinic.id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(clinic)
            }

            async fn clinic(&self, id: ClinicId) -> Result<Clinic> {
                let row = sqlx::query("SELECT * FROM clinic WHERE clinic_id = $1")
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found("clinic", id))?;
                clinic_from(&row)
            }

            async fn update_clinic(&self, ctx: &AuditContext, name: &str, time_zone: &str) -> Result<Clinic> {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > 200 {
                    return Err(StoreError::invalid("name", "must be 1-200 characters"));
                }
                if jiff::tz::TimeZone::get(time_zone).is_err() {
                    return Err(StoreError::invalid(
                        "time_zone",
                        format!("'{time_zone}' is not an IANA time zone (e.g. America/New_York)"),
                    ));
                }
                let mut tx = self.tx().await?;
                sqlx::query("UPDATE clinic SET name = $2, time_zone = $3 WHERE clinic_id = $1")
                    .bind(ctx.clinic_id.0)
                    .bind(name)
                    .bind(time_zone)
                    .execute(&mut *tx)
                    .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "clinic.update",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(ctx.clinic_id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                let row = sqlx::query("SELECT * FROM clinic WHERE clinic_id = $1")
                    .bind(ctx.clinic_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                clinic_from(&row)
            }

            async fn clinics(&self) -> Result<Vec<Clinic>> {
                let rows = sqlx::query("SELECT * FROM clinic ORDER BY created_at, clinic_id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(clinic_from).collect()
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn add_user(&self, ctx: &AuditContext, new: &NewUser) -> Result<User> {
                let email = new.email.trim().to_lowercase();
                if !email.contains('@') || email.len() > 254 {
                    return Err(StoreError::invalid("email", "is not an e-mail address (name@example.org)"));
                }
                if new.display_name.trim().is_empty() {
                    return Err(StoreError::invalid("display_name", "must not be empty"));
                }
                let user = User {
                    id: UserId::new(),
                    clinic_id: ctx.clinic_id,
                    email,
                    display_name: new.display_name.trim().to_string(),
                    role: new.role,
                    active: true,
                    created_at: now(),
                };
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO app_user (clinic_id, id, email, display_name, role, active, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(user.clinic_id.0)
                .bind(user.id.0)
                .bind(&user.email)
                .bind(&user.display_name)
                .bind(user.role.as_str())
                .bind(user.active)
                .bind(Ts(user.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_to_conflict(e, || format!("email: {} already has an account in this clinic", user.email)))?;
                append_audit(&mut tx, ctx, Entry {
                    action: "user.add",
                    patient: None,
                    entity: "user",
                    entity_id: Some(user.id.0),
                    detail: serde_json::json!({ "role": user.role.as_str() }),
                })
                .await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn user(&self, clinic: ClinicId, id: UserId) -> Result<User> {
                let row = sqlx::query("SELECT * FROM app_user WHERE clinic_id = $1 AND id = $2")
                    .bind(clinic.0)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found("user", id))?;
                user_from(&row)
            }

            async fn users(&self, clinic: ClinicId) -> Result<Vec<User>> {
                let rows = sqlx::query("SELECT * FROM app_user WHERE clinic_id = $1 ORDER BY display_name, id")
                    .bind(clinic.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(user_from).collect()
            }

            async fn user_by_email(&self, clinic: ClinicId, email: &str) -> Result<Option<User>> {
                let row = sqlx::query("SELECT * FROM app_user WHERE clinic_id = $1 AND email = $2")
                    .bind(clinic.0)
                    .bind(email.trim().to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(user_from).transpose()
            }
        }

        #[async_trait]
        impl PatientStore for $store {
            async fn create_patient(&self, ctx: &AuditContext, new: &NewPatient) -> Result<Patient> {
                check_details(&new.details)?;
                let mut tx = self.tx().await?;
                let mrn = match &new.mrn {
                    Some(m) if m.trim().is_empty() => {
                        return Err(StoreError::invalid("mrn", "must not be empty (omit it to have one assigned)"));
                    }
                    Some(m) => m.trim().to_string(),
                    None => next_mrn(&mut tx, ctx.clinic_id).await?,
                };
                let at = now();
                let p = Patient {
                    id: PatientId::new(),
                    clinic_id: ctx.clinic_id,
                    mrn,
                    details: new.details.clone(),
                    created_at: at,
                    updated_at: at,
                };
                insert_patient_row(&mut tx, &self.keys, &p).await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "patient.create",
                    patient: Some(p.id),
                    entity: "patient",
                    entity_id: Some(p.id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                let stored = self.patient_read(&mut tx, ctx, p.id).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn patient(&self, ctx: &AuditContext, id: PatientId) -> Result<Patient> {
                let mut tx = self.tx().await?;
                let p = self.patient_read(&mut tx, ctx, id).await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "patient.read",
                    patient: Some(id),
                    entity: "patient",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(p)
            }

            async fn update_patient(
                &self,
                ctx: &AuditContext,
                id: PatientId,
                details: &PatientDetails,
            ) -> Result<Patient> {
                check_details(details)?;
                let mut tx = self.tx().await?;
                let before = self.patient_read(&mut tx, ctx, id).await?;
                sqlx::query(
                    "UPDATE patient SET given_name = $3, family_name = $4, birth_date = $5, sex = $6, \
                     email = $7, phone = $8, postal_code = $9, updated_at = $10 \
                     WHERE clinic_id = $1 AND id = $2",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(details.given_name.trim())
                .bind(details.family_name.trim())
                .bind(jiff_sqlx::ToSqlx::to_sqlx(details.birth_date))
                .bind(details.sex.as_str())
                .bind(self.keys.seal_opt(Field::PATIENT_EMAIL, &ctx.clinic_id.0, details.email.as_deref())?)
                .bind(self.keys.seal_opt(Field::PATIENT_PHONE, &ctx.clinic_id.0, details.phone.as_deref())?)
                .bind(self.keys.seal_opt(Field::PATIENT_POSTAL_CODE, &ctx.clinic_id.0, details.postal_code.as_deref())?)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                // Which fields changed, never their values: the audit log is not a copy of the chart.
                let b = &before.details;
                let changed: Vec<&str> = [
                    ("given_name", b.given_name != details.given_name.trim()),
                    ("family_name", b.family_name != details.family_name.trim()),
                    ("birth_date", b.birth_date != details.birth_date),
                    ("sex", b.sex != details.sex),
                    ("email", b.email != details.email),
                    ("phone", b.phone != details.phone),
                    ("postal_code", b.postal_code != details.postal_code),
                ]
                .into_iter()
                .filter_map(|(f, c)| c.then_some(f))
                .collect();
                append_audit(&mut tx, ctx, Entry {
                    action: "patient.update",
                    patient: Some(id),
                    entity: "patient",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({ "changed": changed }),
                })
                .await?;
                let p = self.patient_read(&mut tx, ctx, id).await?;
                tx.commit().await?;
                Ok(p)
            }

            async fn find_patients(
                &self,
                ctx: &AuditContext,
                scope: Scope,
                query: &str,
                limit: i64,
            ) -> Result<Vec<Patient>> {
                let escaped = query
                    .trim()
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let pattern = format!("%{escaped}%");
                let mut tx = self.tx().await?;
                let rows = sqlx::query(
                    "SELECT * FROM patient WHERE clinic_id = $1 AND \
                     (LOWER(given_name || ' ' || family_name) LIKE $2 ESCAPE '\\' \
                      OR LOWER(family_name || ', ' || given_name) LIKE $2 ESCAPE '\\' \
                      OR LOWER(mrn) LIKE $2 ESCAPE '\\') \
                     AND ($4 IS NULL OR id IN (SELECT ctp.patient_id FROM care_team_patient ctp \
                          JOIN care_team_member m ON m.clinic_id = ctp.clinic_id AND m.team_id = ctp.team_id \
                          WHERE ctp.clinic_id = $1 AND m.user_id = $4)) \
                     ORDER BY family_name, given_name, id LIMIT $3",
                )
                .bind(ctx.clinic_id.0)
                .bind(&pattern)
                .bind(limit.clamp(1, 500))
                .bind(scope.user())
                .fetch_all(&mut *tx)
                .await?;
                let found = rows
                    .iter()
                    .map(|r| patient_from(r, &self.keys))
                    .collect::<Result<Vec<_>>>()?;
                append_audit(&mut tx, ctx, Entry {
                    action: "patient.search",
                    patient: None,
                    entity: "patient",
                    entity_id: None,
                    detail: serde_json::json!({
                        "results": found.len(),
                        "patients": found.iter().map(|p| p.id).collect::<Vec<_>>(),
                    }),
                })
                .await?;
                tx.commit().await?;
                Ok(found)
            }
        }

        #[async_trait]
        impl CourseStore for $store {
            async fn open_course(&self, ctx: &AuditContext, new: &NewCourse) -> Result<Course> {
                if new.protocol.trim().is_empty() {
                    return Err(StoreError::invalid("protocol", "must name the protocol template"));
                }
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, new.patient_id).await?;
                let course = Course {
                    id: CourseId::new(),
                    clinic_id: ctx.clinic_id,
                    patient_id: new.patient_id,
                    indication: new.indication,
                    planned_route: new.planned_route,
                    protocol: new.protocol.trim().to_string(),
                    status: CourseStatus::Screening,
                    status_reason: None,
                    opened_at: now(),
                    closed_at: None,
                };
                insert_course_row(&mut tx, &course).await?;
                self.record_status_change(&mut tx, ctx, course.id, None, course.status, None, course.opened_at).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                let mut sequence: std::collections::HashMap<EncounterKind, i64> = Default::default();
                for planned in &new.plan.encounters {
                    let seq = sequence.entry(planned.kind).or_insert(0);
                    *seq += 1;
                    let e = Encounter {
                        id: EncounterId::new(),
                        clinic_id: ctx.clinic_id,
                        patient_id: course.patient_id,
                        course_id: course.id,
                        kind: planned.kind,
                        status: EncounterStatus::Planned,
                        sequence: *seq,
                        planned_for: Some(clinic_morning(&tz, planned.date)?),
                        occurred_at: None,
                    };
                    insert_encounter_row(&mut tx, &e).await?;
                }
                for due in &new.plan.assessments {
                    insert_due_row(&mut tx, &course, due, None).await?;
                }
                append_audit(&mut tx, ctx, Entry {
                    action: "course.open",
                    patient: Some(course.patient_id),
                    entity: "course",
                    entity_id: Some(course.id.0),
                    detail: serde_json::json!({
                        "indication": course.indication.as_str(),
                        "protocol": course.protocol,
                        "planned_encounters": new.plan.encounters.len(),
                        "scheduled_assessments": new.plan.assessments.len(),
                    }),
                })
                .await?;
                tx.commit().await?;
                Ok(course)
            }

            async fn course(&self, ctx: &AuditContext, id: CourseId) -> Result<Course> {
                let mut tx = self.tx().await?;
                let c = Self::course_in(&mut tx, ctx, id).await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "course.read",
                    patient: Some(c.patient_id),
                    entity: "course",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(c)
            }

            async fn courses_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Course>> {
                let mut tx = self.tx().await?;
                let courses = courses_in(&mut tx, ctx, patient).await?;
                audit_read(&mut tx, ctx, "course.list", Some(patient), "course", None, courses.len()).await?;
                tx.commit().await?;
                Ok(courses)
            }

            async fn change_course_status(
                &self,
                ctx: &AuditContext,
                id: CourseId,
                to: CourseStatus,
                reason: Option<&str>,
            ) -> Result<Course> {
                let mut tx = self.tx().await?;
                let current = Self::course_in(&mut tx, ctx, id).await?;
                current.status.transition(to, reason)?;
                if to == CourseStatus::Active {
                    ensure_ready_to_dose(&mut tx, ctx, &current).await?;
                }
                let at = now();
                let reason = reason.map(str::trim).filter(|r| !r.is_empty());
                let closed_at = to.is_closed().then_some(Ts(at));
                let done = sqlx::query(
                    "UPDATE treatment_course SET status = $3, status_reason = $4, closed_at = $5 \
                     WHERE clinic_id = $1 AND id = $2 AND status = $6",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(to.as_str())
                .bind(reason)
                .bind(closed_at)
                .bind(current.status.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "course status: the course changed while this was being saved; reload and try again".into(),
                    ));
                }
                self.record_status_change(&mut tx, ctx, id, Some(current.status), to, reason, at).await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "course.status",
                    patient: Some(current.patient_id),
                    entity: "course",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({ "from": current.status.as_str(), "to": to.as_str() }),
                })
                .await?;
                let updated = Self::course_in(&mut tx, ctx, id).await?;
                tx.commit().await?;
                Ok(updated)
            }

            async fn course_history(&self, ctx: &AuditContext, id: CourseId) -> Result<Vec<StatusChange>> {
                let mut tx = self.tx().await?;
                let course = Self::course_in(&mut tx, ctx, id).await?;
                let rows = sqlx::query(
                    "SELECT * FROM course_status_change WHERE clinic_id = $1 AND course_id = $2 ORDER BY changed_at, id",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
                let history = rows.iter().map(status_change_from).collect::<Result<Vec<_>>>()?;
                append_audit(&mut tx, ctx, Entry {
                    action: "course.history",
                    patient: Some(course.patient_id),
                    entity: "course",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(history)
            }

            async fn add_encounter(&self, ctx: &AuditContext, new: &NewEncounter) -> Result<Encounter> {
                let mut tx = self.tx().await?;
                let course = Self::course_in(&mut tx, ctx, new.course_id).await?;
                if course.status.is_closed() {
                    return Err(StoreError::invalid(
                        "course",
                        format!("is {}; a closed course takes no new encounters", course.status),
                    ));
                }
                let row = sqlx::query(
                    "SELECT COALESCE(MAX(sequence), 0) + 1 AS next FROM encounter \
                     WHERE clinic_id = $1 AND course_id = $2 AND kind = $3",
                )
                .bind(ctx.clinic_id.0)
                .bind(course.id.0)
                .bind(new.kind.as_str())
                .fetch_one(&mut *tx)
                .await?;
                let e = Encounter {
                    id: EncounterId::new(),
                    clinic_id: ctx.clinic_id,
                    patient_id: course.patient_id,
                    course_id: course.id,
                    kind: new.kind,
                    status: EncounterStatus::Planned,
                    sequence: row.try_get("next")?,
                    planned_for: new.planned_for,
                    occurred_at: None,
                };
                insert_encounter_row(&mut tx, &e)
                    .await
                    .map_err(|err| match err {
                        StoreError::Conflict(_) => StoreError::Conflict("encounter: another encounter was added at the same time; try again".into()),
                        other => other,
                    })?;
                append_audit(&mut tx, ctx, Entry {
                    action: "encounter.create",
                    patient: Some(e.patient_id),
                    entity: "encounter",
                    entity_id: Some(e.id.0),
                    detail: serde_json::json!({ "kind": e.kind.as_str(), "sequence": e.sequence }),
                })
                .await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn patient_encounters(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Encounter>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let list = patient_encounters_in(&mut tx, ctx, patient).await?;
                audit_read(&mut tx, ctx, "encounter.list", Some(patient), "patient", Some(patient.0), list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn encounters(&self, ctx: &AuditContext, course: CourseId) -> Result<Vec<Encounter>> {
                let mut tx = self.tx().await?;
                let c = Self::course_in(&mut tx, ctx, course).await?;
                let rows = sqlx::query(
                    "SELECT * FROM encounter WHERE clinic_id = $1 AND course_id = $2 \
                     ORDER BY COALESCE(occurred_at, planned_for, created_at), kind, sequence",
                )
                .bind(ctx.clinic_id.0)
                .bind(course.0)
                .fetch_all(&mut *tx)
                .await?;
                let list = rows.iter().map(encounter_from).collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "encounter.list", Some(c.patient_id), "course", Some(course.0), list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }
        }

        impl $store {
            #[allow(clippy::too_many_arguments)]
            async fn record_status_change(
                &self,
                tx: &mut Tx,
                ctx: &AuditContext,
                course: CourseId,
                from: Option<CourseStatus>,
                to: CourseStatus,
                reason: Option<&str>,
                at: Timestamp,
            ) -> Result<()> {
                let by = match ctx.actor {
                    Actor::User(u) => Some(u.0),
                    _ => None,
                };
                sqlx::query(
                    "INSERT INTO course_status_change (clinic_id, id, course_id, from_status, to_status, \
                     reason, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(ctx.clinic_id.0)
                .bind(Uuid::now_v7())
                .bind(course.0)
                .bind(from.map(CourseStatus::as_str))
                .bind(to.as_str())
                .bind(reason)
                .bind(Ts(at))
                .bind(by)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AssessmentStore for $store {
            async fn record_assessment(
                &self,
                ctx: &AuditContext,
                new: &NewAssessment,
            ) -> Result<RecordedAssessment> {
                let mut tx = self.tx().await?;
                let recorded = insert_assessment(&mut tx, ctx, new).await?;
                tx.commit().await?;
                Ok(recorded)
            }

            async fn assessment_points(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<AssessmentPoint>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let list = recent_points(&mut tx, ctx, patient, i64::MAX).await?;
                audit_read(&mut tx, ctx, "assessment.list", Some(patient), "assessment", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn chart_assessments(&self, ctx: &AuditContext, patient: PatientId, recent: usize) -> Result<ChartAssessments> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let chart = chart_assessments_in(&mut tx, ctx, patient, recent).await?;
                audit_read(&mut tx, ctx, "assessment.list", Some(patient), "assessment", None, chart.count).await?;
                tx.commit().await?;
                Ok(chart)
            }

            async fn patient_chart(&self, ctx: &AuditContext, patient: PatientId, recent: usize) -> Result<PatientChart> {
                let mut tx = self.tx().await?;
                let p = self.patient_read(&mut tx, ctx, patient).await?;
                let chart = PatientChart {
                    courses: courses_in(&mut tx, ctx, patient).await?,
                    encounters: patient_encounters_in(&mut tx, ctx, patient).await?,
                    assessments: chart_assessments_in(&mut tx, ctx, patient, recent).await?,
                    alerts: alerts_in(&mut tx, ctx, patient).await?,
                    dues: dues_in(&mut tx, ctx, patient).await?,
                    patient: p,
                };
                // One event for one look at the chart, saying what it showed.
                append_audit(&mut tx, ctx, Entry {
                    action: "chart.read",
                    patient: Some(patient),
                    entity: "patient",
                    entity_id: Some(patient.0),
                    detail: serde_json::json!({
                        "courses": chart.courses.len(),
                        "encounters": chart.encounters.len(),
                        "assessments": chart.assessments.count,
                        "alerts": chart.alerts.len(),
                        "dues": chart.dues.len(),
                    }),
                })
                .await?;
                tx.commit().await?;
                Ok(chart)
            }

            async fn assessments_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Assessment>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let rows = sqlx::query(
                    "SELECT * FROM assessment WHERE clinic_id = $1 AND patient_id = $2 ORDER BY administered_at, id",
                )
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_all(&mut *tx)
                .await?;
                let list = rows.iter().map(assessment_from).collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "assessment.list", Some(patient), "assessment", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }
        }

        #[async_trait]
        impl AlertStore for $store {
            async fn open_alerts(&self, ctx: &AuditContext, scope: Scope) -> Result<Vec<Alert>> {
                let mut tx = self.tx().await?;
                let rows = sqlx::query(
                    "SELECT * FROM alert WHERE clinic_id = $1 AND acknowledged_at IS NULL \
                     AND ($2 IS NULL OR patient_id IN (SELECT ctp.patient_id FROM care_team_patient ctp \
                          JOIN care_team_member m ON m.clinic_id = ctp.clinic_id AND m.team_id = ctp.team_id \
                          WHERE ctp.clinic_id = $1 AND m.user_id = $2)) \
                     ORDER BY raised_at, id",
                )
                .bind(ctx.clinic_id.0)
                .bind(scope.user())
                .fetch_all(&mut *tx)
                .await?;
                let list = rows.iter().map(alert_from).collect::<Result<Vec<_>>>()?;
                append_audit(&mut tx, ctx, Entry {
                    action: "alert.list",
                    patient: None,
                    entity: "alert",
                    entity_id: None,
                    detail: serde_json::json!({
                        "results": list.len(),
                        "patients": list.iter().map(|a| a.patient_id).collect::<Vec<_>>(),
                    }),
                })
                .await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn alerts_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Alert>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let list = alerts_in(&mut tx, ctx, patient).await?;
                audit_read(&mut tx, ctx, "alert.list", Some(patient), "alert", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn acknowledge_alert(&self, ctx: &AuditContext, id: AlertId, action_note: &str) -> Result<Alert> {
                let user = need_user(ctx, "acknowledging an alert")?;
                let note = action_note.trim();
                if note.is_empty() {
                    return Err(StoreError::invalid("action_note", "say what was done about the alert"));
                }
                if note.chars().count() > 4000 {
                    return Err(StoreError::invalid("action_note", "at most 4000 characters are allowed"));
                }
                let mut tx = self.tx().await?;
                let before = Self::alert_in(&mut tx, ctx, id).await?;
                if let Some(at) = before.acknowledged_at {
                    return Err(StoreError::Conflict(format!("alert: already acknowledged at {at}")));
                }
                let done = sqlx::query(
                    "UPDATE alert SET acknowledged_at = $3, acknowledged_by = $4, action_note = $5 \
                     WHERE clinic_id = $1 AND id = $2 AND acknowledged_at IS NULL",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(Ts(now()))
                .bind(user.0)
                .bind(note)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict("alert: acknowledged by someone else just now".into()));
                }
                append_audit(&mut tx, ctx, Entry {
                    action: "alert.acknowledge",
                    patient: Some(before.patient_id),
                    entity: "alert",
                    entity_id: Some(id.0),
                    detail: serde_json::json!({ "kind": before.kind }),
                })
                .await?;
                let after = Self::alert_in(&mut tx, ctx, id).await?;
                tx.commit().await?;
                Ok(after)
            }
        }

        #[async_trait]
        impl AuditLog for $store {
            async fn audit_events(&self, clinic: ClinicId, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
                let limit = if filter.limit <= 0 { 200 } else { filter.limit.min(10_000) };
                let rows = sqlx::query(
                    "SELECT * FROM audit_event WHERE clinic_id = $1 \
                     AND ($2 IS NULL OR patient_id = $2) AND ($3 IS NULL OR actor_id = $3) \
                     ORDER BY seq DESC LIMIT $4",
                )
                .bind(clinic.0)
                .bind(filter.patient_id.map(|p| p.0))
                .bind(filter.actor_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(audit_from).collect()
            }

            async fn verify_audit_chain(&self) -> Result<ChainReport> {
                const PAGE: i64 = 2_000;
                let clinics = sqlx::query(
                    "SELECT clinic_id FROM audit_head UNION SELECT clinic_id FROM audit_event ORDER BY clinic_id",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut report = ChainReport { clinics: clinics.len(), events: 0, broken: None };
                for row in &clinics {
                    let clinic = ClinicId(row.try_get("clinic_id")?);
                    let mut walker = ChainWalker::new(clinic);
                    let mut after = 0i64;
                    loop {
                        let page = sqlx::query(
                            "SELECT * FROM audit_event WHERE clinic_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                        )
                        .bind(clinic.0)
                        .bind(after)
                        .bind(PAGE)
                        .fetch_all(&self.pool)
                        .await?;
                        for r in &page {
                            let event = audit_from(r)?;
                            if let Err(b) = walker.check(&event) {
                                report.broken = Some(b);
                                return Ok(report);
                            }
                            report.events += 1;
                            after = event.seq;
                        }
                        if (page.len() as i64) < PAGE {
                            break;
                        }
                    }
                    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE clinic_id = $1")
                        .bind(clinic.0)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|r| -> Result<(i64, String)> { Ok((r.try_get("seq")?, r.try_get("hash")?)) })
                        .transpose()?;
                    if let Err(b) = walker.finish(head) {
                        report.broken = Some(b);
                        return Ok(report);
                    }
                }
                Ok(report)
            }
        }
    };
}

pub(crate) use impl_store;
