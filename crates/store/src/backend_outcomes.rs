//! What cohort reports read, written once for both backends like `backend.rs` (and expanded in
//! the same module): the synthetic marker and the outcome snapshot.

macro_rules! impl_outcomes {
    ($store:ident) => {
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
                let day = |t: Ts| t.0.to_zoned(tz.clone()).date();
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
                let doses: Vec<(Uuid, Ts, Option<String>)> = sqlx::query_as(
                    "SELECT e.course_id, e.occurred_at, \
                     (SELECT a.route FROM administration a WHERE a.clinic_id = e.clinic_id AND a.encounter_id = e.id \
                      ORDER BY a.given_at LIMIT 1) \
                     FROM encounter e WHERE e.clinic_id = $1 AND e.kind = 'dosing' AND e.status = 'completed' \
                     AND e.occurred_at IS NOT NULL ORDER BY e.occurred_at",
                )
                .bind(ctx.clinic_id.0)
                .fetch_all(&mut *tx)
                .await?;
                for (course, at, route) in doses {
                    if let Some(&i) = index.get(&course) {
                        let c = &mut courses[i];
                        c.doses.push(day(at));
                        if c.route.is_empty() {
                            c.route = route.unwrap_or_default();
                        }
                    }
                }
                let scored: Vec<(Option<Uuid>, Uuid, String, Ts, f64)> = sqlx::query_as(
                    "SELECT course_id, patient_id, instrument, administered_at, total FROM assessment \
                     WHERE clinic_id = $1 AND total IS NOT NULL ORDER BY administered_at",
                )
                .bind(ctx.clinic_id.0)
                .fetch_all(&mut *tx)
                .await?;
                let mut ace = std::collections::HashMap::new();
                for (course, patient, instrument, at, total) in scored {
                    if instrument == "ace" {
                        // In time order, so the last one kept is the latest.
                        ace.insert(PatientId(patient), total);
                    }
                    if let Some(&i) = course.and_then(|c| index.get(&c)) {
                        courses[i].assessments.push((instrument, day(at), total));
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
