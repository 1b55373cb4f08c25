//! Whole patient histories in one transaction (historical imports, the synthetic demo clinic),
//! written once for both backends and expanded beside `backend.rs`, whose checks it uses. The
//! rows are written a few hundred patients at a time by `import_batch`.

macro_rules! impl_import {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl ImportStore for $store {
            async fn import(
                &self,
                ctx: &AuditContext,
                patients: &[ImportPatient],
                alerts: &ImportAlerts,
                progress: &(dyn Fn(usize) + Send + Sync),
            ) -> Result<ImportCounts> {
                use $crate::import_batch::{DueRow, ImportAudit, ImportBatch, StatusRow};
                let mut tx = self.tx().await?;
                let mut counts = ImportCounts::default();
                let mut batch = ImportBatch::default();
                let mut written = 0usize;
                for (i, ip) in patients.iter().enumerate() {
                    let which = || format!("patient {} of the import", i + 1);
                    check_details(&ip.details).map_err(|e| match e {
                        StoreError::Invalid { field, message } => {
                            StoreError::Invalid { field, message: format!("{message} ({})", which()) }
                        }
                        StoreError::Field(mut f) => {
                            f.message = format!("{} ({})", f.message, which());
                            StoreError::Field(f)
                        }
                        other => other,
                    })?;
                    let mrn = match &ip.mrn {
                        Some(m) if !m.trim().is_empty() => m.trim().to_string(),
                        _ => next_mrn(&mut tx, ctx.clinic_id).await?,
                    };
                    let at = now();
                    let p = Patient {
                        id: PatientId::new(),
                        clinic_id: ctx.clinic_id,
                        mrn,
                        details: ip.details.clone(),
                        created_at: at,
                        updated_at: at,
                    };
                    let patient_id = p.id;
                    batch.patients.push(p);
                    batch.teams.extend(ip.teams.iter().map(|team| (*team, patient_id)));
                    let mut assessments_here = 0usize;
                    // One series per instrument across the patient's courses, in course order.
                    let mut series: std::collections::BTreeMap<String, Vec<String>> = Default::default();
                    for ic in &ip.courses {
                        let Some((status, last_at, reason)) = ic.history.last().cloned() else {
                            return Err(StoreError::invalid("history", format!("a course needs at least its first status ({})", which())));
                        };
                        // The recorded path must be one the status machine allows.
                        let mut from: Option<CourseStatus> = None;
                        for (to, _, r) in &ic.history {
                            match from {
                                None if *to != CourseStatus::Screening => {
                                    return Err(StoreError::invalid("history", format!("a course starts in screening ({})", which())));
                                }
                                None => {}
                                Some(f) => {
                                    f.transition(*to, r.as_deref())?;
                                }
                            }
                            from = Some(*to);
                        }
                        let course = Course {
                            id: CourseId::new(),
                            clinic_id: ctx.clinic_id,
                            patient_id,
                            indication: ic.indication,
                            planned_route: ic.planned_route,
                            protocol: ic.protocol.clone(),
                            status,
                            status_reason: reason,
                            opened_at: ic.opened_at,
                            closed_at: status.is_closed().then_some(last_at),
                        };
                        let mut prev = None;
                        for (to, when, r) in &ic.history {
                            batch.status_changes.push(StatusRow { course: course.id, from: prev, to: *to, reason: r.clone(), at: *when });
                            prev = Some(*to);
                        }
                        let mut sequence: std::collections::HashMap<EncounterKind, i64> = Default::default();
                        // The course's outcome series, written once below (see migration 0006).
                        let mut doses: Vec<String> = Vec::new();
                        let mut scores: Vec<String> = Vec::new();
                        for ie in &ic.encounters {
                            let seq = sequence.entry(ie.kind).or_insert(0);
                            *seq += 1;
                            let e = Encounter {
                                id: EncounterId::new(),
                                clinic_id: ctx.clinic_id,
                                patient_id,
                                course_id: course.id,
                                kind: ie.kind,
                                status: ie.status,
                                sequence: *seq,
                                planned_for: Some(ie.planned_for),
                                occurred_at: ie.occurred_at,
                            };
                            if let (EncounterKind::Dosing, EncounterStatus::Completed, Some(at)) = (e.kind, e.status, e.occurred_at) {
                                doses.push($crate::course_series::dose_point(at));
                            }
                            if let (Some(dose), Some(at)) = (&ie.dose, ie.occurred_at) {
                                // Who gave an imported dose is not in the records; the importer did not.
                                let a = Administration { id: RecordEntryId::new(), dose: dose.clone(), given_at: at, given_by: None };
                                batch.administrations.push((e.id, a));
                            }
                            batch.encounters.push(e);
                        }
                        counts.encounters += ic.encounters.len();
                        let mut done: std::collections::HashMap<(String, String), AssessmentId> = Default::default();
                        for ia in &ic.assessments {
                            let mut a = match &ia.result {
                                ImportResult::Scored(response) => assessment_record(
                                    ctx.clinic_id,
                                    patient_id,
                                    Some(course.id),
                                    None,
                                    response,
                                    &ia.time_point,
                                    ia.administered_at,
                                ),
                                ImportResult::TotalOnly { instrument, version, rater, total, severity } => Assessment {
                                    id: AssessmentId::new(),
                                    clinic_id: ctx.clinic_id,
                                    patient_id,
                                    course_id: Some(course.id),
                                    encounter_id: None,
                                    instrument: instrument.clone(),
                                    instrument_version: version.clone(),
                                    answers: Vec::new(),
                                    complete: true,
                                    total: Some(*total),
                                    severity: severity.clone(),
                                    subscales: None,
                                    flags: Vec::new(),
                                    interpretation: serde_json::json!({ "total_only": true }),
                                    time_point: ia.time_point.clone(),
                                    rater: rater.clone(),
                                    administered_at: ia.administered_at,
                                    recorded_at: ia.administered_at,
                                },
                            };
                            // Imported records were recorded when they were given.
                            a.recorded_at = ia.administered_at;
                            if let Some(point) = series_point(&a) {
                                series.entry(a.instrument.clone()).or_default().push(point);
                            }
                            scores.extend($crate::course_series::score_point(&a));
                            done.insert((a.instrument.clone(), a.time_point.clone()), a.id);
                            let raised = match &ia.result {
                                ImportResult::Scored(response) => response.score().flags.clone(),
                                ImportResult::TotalOnly { .. } => Vec::new(),
                            };
                            for flag in raised.iter().filter(|f| f.alert) {
                                let mut alert = alert_record(&a, flag);
                                if a.administered_at < alerts.acknowledged_before {
                                    alert.acknowledged_at = Some(a.administered_at + jiff::SignedDuration::from_hours(2));
                                    alert.acknowledged_by = Some(alerts.acknowledged_by);
                                    alert.action_note = Some(alerts.note.clone());
                                }
                                batch.alerts.push(alert);
                                counts.alerts += 1;
                            }
                            batch.assessments.push(a);
                        }
                        if !scores.is_empty() || !doses.is_empty() {
                            batch.course_series.push((course.id, scores.join("\u{1e}"), doses.join("\u{1e}")));
                        }
                        assessments_here += ic.assessments.len();
                        for d in &ic.dues {
                            let completed = done.get(&(d.instrument.to_string(), d.time_point.clone())).copied();
                            batch.dues.push(DueRow { patient: patient_id, course: course.id, due: d.clone(), assessment: completed });
                        }
                        batch.courses.push(course);
                        counts.courses += 1;
                    }
                    for (instrument, points) in series {
                        batch.score_series.push((patient_id, instrument, points.join("\u{1e}")));
                    }
                    counts.assessments += assessments_here;
                    batch.audit.push(ImportAudit {
                        patient: patient_id,
                        detail: serde_json::json!({ "courses": ip.courses.len(), "assessments": assessments_here }),
                    });
                    counts.patients += 1;
                    if counts.patients - written >= $crate::import_batch::patients_per_write(written) {
                        batch.write::<$db>(&mut tx, ctx, &self.keys).await?;
                        if $crate::planner_statistics::refresh_after(written, counts.patients) {
                            $store::refresh_planner_statistics(&mut tx).await?;
                        }
                        (written + 1..=counts.patients).for_each(progress);
                        written = counts.patients;
                    }
                }
                if !batch.is_empty() {
                    batch.write::<$db>(&mut tx, ctx, &self.keys).await?;
                    (written + 1..=counts.patients).for_each(progress);
                }
                tx.commit().await?;
                Ok(counts)
            }
        }
    };
}

pub(crate) use impl_import;
