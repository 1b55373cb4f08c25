//! What cohort reports read, written once for both backends like `backend.rs` (and expanded in
//! the same module): the synthetic marker and the outcome snapshot.

macro_rules! impl_outcomes {
    ($store:ident, scores: $scores_sql:literal, doses: $doses_sql:literal) => {
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
                let rows: Vec<(Uuid, Uuid, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT c.id, c.patient_id, c.indication, c.planned_route, p.sex FROM treatment_course c \
                     JOIN patient p ON p.clinic_id = c.clinic_id AND p.id = c.patient_id \
                     WHERE c.clinic_id = $1 ORDER BY c.id",
                )
                .bind(ctx.clinic_id.0)
                .fetch_all(&mut *tx)
                .await?;
                let mut index = std::collections::HashMap::new();
                let mut courses: Vec<OutcomeCourse> = Vec::with_capacity(rows.len());
                for (id, patient, indication, route, sex) in rows {
                    index.insert(id, courses.len());
                    courses.push(OutcomeCourse {
                        course_id: CourseId(id),
                        patient_id: PatientId(patient),
                        indication,
                        route: route.unwrap_or_default(),
                        sex,
                        doses: Vec::new(),
                        assessments: Vec::new(),
                    });
                }
                // Per course, one row of separated text: a large clinic has millions of
                // assessments, and reading them row by row is what costs (see performance.md).
                let per_course = |rows: Vec<(String, String)>| -> Result<Vec<(usize, String)>> {
                    rows.into_iter()
                        .filter_map(|(course, text)| {
                            let id = Uuid::parse_str(&course).map_err(|e| corrupt("course_id", e));
                            match id {
                                Ok(id) => index.get(&id).map(|&i| Ok((i, text))),
                                Err(e) => Some(Err(e)),
                            }
                        })
                        .collect()
                };
                let doses: Vec<(String, String)> = sqlx::query_as($doses_sql)
                    .bind(ctx.clinic_id.0)
                    .fetch_all(&mut *tx)
                    .await?;
                for (i, text) in per_course(doses)? {
                    let c = &mut courses[i];
                    for at in text.split('\u{1e}').filter(|t| !t.is_empty()) {
                        c.doses.push(parse_time("doses", at)?.to_zoned(tz.clone()).date());
                    }
                    c.doses.sort();
                }
                let scores: Vec<(String, String)> = sqlx::query_as($scores_sql)
                    .bind(ctx.clinic_id.0)
                    .fetch_all(&mut *tx)
                    .await?;
                for (i, text) in per_course(scores)? {
                    let c = &mut courses[i];
                    for point in text.split('\u{1e}').filter(|t| !t.is_empty()) {
                        let mut f = point.splitn(3, '\u{1f}');
                        let (Some(instrument), Some(at), Some(total)) = (f.next(), f.next(), f.next()) else {
                            return Err(corrupt("scores", "a point has fewer than three fields"));
                        };
                        let total: f64 = total.parse().map_err(|e| corrupt("scores.total", e))?;
                        let date = parse_time("scores", at)?.to_zoned(tz.clone()).date();
                        c.assessments.push((instrument.to_string(), date, total));
                    }
                    c.assessments.sort_by(|a, b| a.1.cmp(&b.1));
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
                // Courses without a planned route take their first dose's route.
                let routes: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT e.course_id, a.route FROM administration a \
                     JOIN encounter e ON e.clinic_id = a.clinic_id AND e.id = a.encounter_id \
                     JOIN treatment_course c ON c.clinic_id = e.clinic_id AND c.id = e.course_id \
                     WHERE a.clinic_id = $1 AND c.planned_route IS NULL ORDER BY a.given_at DESC",
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
