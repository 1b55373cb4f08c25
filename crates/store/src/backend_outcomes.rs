//! What cohort reports read, written once for both backends like `backend.rs` (and expanded in
//! the same module): the synthetic marker and the outcome snapshot.

macro_rules! impl_outcomes {
    ($store:ident, patients: $patients_sql:literal, courses: $courses_sql:literal, series: $series_sql:literal) => {
        /// Courses per read of the course series.
        const SERIES_CHUNK: i64 = 10_000;

        #[async_trait]
        impl OutcomeStore for $store {
            async fn mark_synthetic(&self, ctx: &AuditContext) -> Result<()> {
                let mut tx = self.tx().await?;
                sqlx::query("UPDATE clinic SET synthetic = TRUE WHERE clinic_id = $1")
                    .bind(ctx.clinic_id.0)
                    .execute(&mut *tx)
                    .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "clinic.mark_synthetic",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(ctx.clinic_id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn outcome_snapshot(&self, ctx: &AuditContext) -> Result<OutcomeSnapshot> {
                let mut tx = self.tx().await?;
                let synthetic: bool = sqlx::query_scalar("SELECT synthetic FROM clinic WHERE clinic_id = $1")
                    .bind(ctx.clinic_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                // The scores and doses from each course's series (migration 0006), never from
                // the assessment and encounter rows, in chunks of courses so no one text grows
                // without bound. Read first, so that the courses are read while they decode.
                let mut after = Uuid::nil();
                let mut decoding = Vec::new();
                loop {
                    let (ids, scores, doses): (Option<String>, Option<String>, Option<String>) = sqlx::query_as($series_sql)
                        .bind(ctx.clinic_id.0)
                        .bind(after)
                        .bind(SERIES_CHUNK)
                        .fetch_one(&mut *tx)
                        .await?;
                    let (Some(ids), Some(scores), Some(doses)) = (ids, scores, doses) else { break };
                    after = crate::course_series::last_id(&ids)?;
                    // Decoding millions of points costs more than reading them: each chunk is
                    // decoded on another thread while the next is read.
                    let mut dates = crate::local_date::LocalDates::new(tz.clone());
                    decoding.push(tokio::task::spawn_blocking(move || {
                        crate::course_series::decode_chunk(&ids, &scores, &doses, &mut dates)
                    }));
                }
                // Everything is read as a few aggregated text values rather than a row per course:
                // through the SQLite driver each row costs microseconds, and a large clinic has
                // 100,000 courses.
                let sexes: Option<String> = sqlx::query_scalar($patients_sql)
                    .bind(ctx.clinic_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let sexes = crate::course_series::parse_patients(sexes.as_deref().unwrap_or(""))?;
                let text: Option<String> = sqlx::query_scalar($courses_sql)
                    .bind(ctx.clinic_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut courses = crate::course_series::parse_courses(text.as_deref().unwrap_or(""), &sexes)?;
                drop(sexes);
                courses.sort_unstable_by_key(|c| c.course_id);
                let index: std::collections::HashMap<Uuid, usize> =
                    courses.iter().enumerate().map(|(i, c)| (c.course_id.0, i)).collect();
                for task in decoding {
                    let chunk = task.await.map_err(|e| corrupt("course_series", e))??;
                    for (course, doses, assessments) in chunk {
                        let &i = index
                            .get(&course)
                            .ok_or_else(|| corrupt("course_series", format!("course {course} is not in the clinic")))?;
                        courses[i].doses = doses;
                        courses[i].assessments = assessments;
                    }
                }
                let aces: Vec<(Uuid, f64)> = sqlx::query_as(
                    "SELECT patient_id, total FROM assessment WHERE clinic_id = $1 AND instrument = 'ace' \
                     AND total IS NOT NULL ORDER BY administered_at, id",
                )
                .bind(ctx.clinic_id.0)
                .fetch_all(&mut *tx)
                .await?;
                // In time order, so the last one kept is the latest.
                let ace = aces.into_iter().map(|(p, t)| (PatientId(p), t)).collect();
                // Courses without a planned route take their first dose's route. Read from those
                // courses outwards (CROSS JOIN fixes SQLite's join order): read from the
                // administrations inwards, it visits every dose of the clinic even when every
                // course has a planned route.
                if courses.iter().any(|c| c.route.is_empty()) {
                    let routes: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT e.course_id, a.route FROM treatment_course c CROSS JOIN encounter e CROSS JOIN administration a \
                         WHERE c.clinic_id = $1 AND c.planned_route IS NULL \
                         AND e.clinic_id = c.clinic_id AND e.course_id = c.id \
                         AND a.clinic_id = e.clinic_id AND a.encounter_id = e.id \
                         ORDER BY a.given_at DESC, a.id DESC",
                    )
                    .bind(ctx.clinic_id.0)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (course, route) in routes {
                        if let Some(&i) = index.get(&course) {
                            // Latest first, so the last written is the first dose's.
                            courses[i].route = route;
                        }
                    }
                }
                for c in &mut courses {
                    if c.route.is_empty() {
                        c.route = "unknown".into();
                    }
                }
                append_audit(&mut tx, ctx, Entry {
                    action: "outcomes.snapshot",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(ctx.clinic_id.0),
                    detail: serde_json::json!({ "courses": courses.len() }),
                })
                .await?;
                tx.commit().await?;
                Ok(OutcomeSnapshot { synthetic, courses, ace })
            }
        }
    };
}

pub(crate) use impl_outcomes;
