//! The clinical record, written once for both backends like `backend.rs` (and expanded in the
//! same module, so it shares that file's helpers): screening, medications, consent, dosing
//! sessions, notes with sign/lock and addenda, and psychotherapy notes.
//!
//! Every write into an encounter goes through `unlocked`, which takes the encounter's row lock
//! and refuses a signed encounter, so a write racing a signature either lands before it or is
//! refused after it.

macro_rules! impl_record {
    ($store:ident) => {
        use kapstone_clinical::dosing::administration::{Drug, Formulation};
        use kapstone_clinical::dosing::policy::{check_not_future, check_session_time};

        fn staff_of(ctx: &AuditContext) -> Result<UserId> {
            match ctx.actor {
                Actor::User(u) => Ok(u),
                _ => Err(StoreError::invalid("actor", "only a staff member writes the clinical record")),
            }
        }

        fn json<T: serde::Serialize>(field: &str, v: &T) -> Result<String> {
            serde_json::to_string(v).map_err(|e| corrupt(field, e))
        }

        fn from_json<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> Result<T> {
            serde_json::from_str(text).map_err(|e| corrupt(field, e))
        }

        fn record_audit<'a>(action: &'a str, patient: PatientId, entity: &'a str, id: Uuid) -> Entry<'a> {
            Entry { action, patient: Some(patient), entity, entity_id: Some(id), detail: serde_json::json!({}) }
        }

        async fn policy_in(tx: &mut Tx, clinic: ClinicId) -> Result<DosingPolicy> {
            let text: Option<Option<String>> =
                sqlx::query_scalar("SELECT dosing_policy FROM clinic_settings WHERE clinic_id = $1")
                    .bind(clinic.0)
                    .fetch_optional(&mut **tx)
                    .await?;
            match text.flatten() {
                Some(t) => from_json("dosing_policy", &t),
                None => Ok(DosingPolicy::default()),
            }
        }

        /// The encounter, row-locked for this transaction, if it is not signed.
        async fn unlocked(tx: &mut Tx, ctx: &AuditContext, id: EncounterId) -> Result<Encounter> {
            let locked = sqlx::query(
                "UPDATE encounter SET signed_at = signed_at WHERE clinic_id = $1 AND id = $2 AND signed_at IS NULL",
            )
            .bind(ctx.clinic_id.0)
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
            let row = sqlx::query("SELECT * FROM encounter WHERE clinic_id = $1 AND id = $2")
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| StoreError::not_found("encounter", id))?;
            if locked.rows_affected() != 1 {
                let at = ts(&row, "signed_at")?;
                return Err(StoreError::Locked(format!(
                    "encounter: signed at {at} and locked; nothing in it can change — add an addendum instead"
                )));
            }
            encounter_from(&row)
        }

        async fn session_in(tx: &mut Tx, ctx: &AuditContext, e: &Encounter) -> Result<DosingSession> {
            let row = sqlx::query("SELECT * FROM dosing_session WHERE clinic_id = $1 AND encounter_id = $2")
                .bind(ctx.clinic_id.0)
                .bind(e.id.0)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| {
                    StoreError::invalid("dosing", "the session has not started: complete the pre-dose checklist first")
                })?;
            dosing_from(&row)
        }

        /// A session that has started and is not yet discharged, for in-session writes.
        async fn running(tx: &mut Tx, ctx: &AuditContext, e: &Encounter) -> Result<DosingSession> {
            let s = session_in(tx, ctx, e).await?;
            if let Some(at) = s.discharged_at {
                return Err(StoreError::Locked(format!(
                    "dosing: the patient was discharged at {at}; the session record is closed"
                )));
            }
            Ok(s)
        }

        fn dosing_from(row: &DbRow) -> Result<DosingSession> {
            let discharge: Option<String> = row.try_get("discharge")?;
            Ok(DosingSession {
                start: DosingStart {
                    started_at: ts(row, "started_at")?,
                    checklist: json_col(row, "checklist")?,
                    setting: json_col(row, "setting")?,
                    predose: json_col(row, "predose")?,
                },
                discharged_at: ts_opt(row, "discharged_at")?,
                discharge: discharge.map(|d| from_json("discharge", &d)).transpose()?,
            })
        }

        fn administration_from(row: &DbRow) -> Result<Administration> {
            Ok(Administration {
                id: RecordEntryId(row.try_get("id")?),
                dose: Dose {
                    drug: Drug::parse(&row.try_get::<String, _>("drug")?).map_err(|e| corrupt("drug", e))?,
                    route: Route::parse(&row.try_get::<String, _>("route")?).map_err(|e| corrupt("route", e))?,
                    formulation: Formulation::parse(&row.try_get::<String, _>("formulation")?)
                        .map_err(|e| corrupt("formulation", e))?,
                    dose_mg: row.try_get("dose_mg")?,
                    weight_kg: row.try_get("weight_kg")?,
                    lot: row.try_get("lot")?,
                },
                given_at: ts(row, "given_at")?,
                given_by: row.try_get::<Option<Uuid>, _>("given_by")?.map(UserId),
            })
        }

        fn vital_from(row: &DbRow) -> Result<VitalSign> {
            Ok(VitalSign {
                id: RecordEntryId(row.try_get("id")?),
                taken_at: ts(row, "taken_at")?,
                vitals: Vitals {
                    systolic: row.try_get("systolic")?,
                    diastolic: row.try_get("diastolic")?,
                    heart_rate: row.try_get("heart_rate")?,
                    spo2: row.try_get("spo2")?,
                    resp_rate: row.try_get("resp_rate")?,
                },
                recorded_by: UserId(row.try_get("recorded_by")?),
            })
        }

        fn consent_from(row: &DbRow) -> Result<Consent> {
            Ok(Consent {
                id: ConsentId(row.try_get("id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                document_id: ConsentDocumentId(row.try_get("document_id")?),
                version: row.try_get("version")?,
                signer_name: row.try_get("signer_name")?,
                witness_name: row.try_get("witness_name")?,
                signed_at: ts(row, "signed_at")?,
                revoked_at: ts_opt(row, "revoked_at")?,
                revocation_reason: row.try_get("revocation_reason")?,
            })
        }

        fn document_from(row: &DbRow) -> Result<ConsentDocument> {
            Ok(ConsentDocument {
                id: ConsentDocumentId(row.try_get("id")?),
                version: row.try_get("version")?,
                title: row.try_get("title")?,
                body: row.try_get("body")?,
                created_at: ts(row, "created_at")?,
            })
        }

        fn screening_from(row: &DbRow, keys: &Keyring) -> Result<Screening> {
            use kapstone_clinical::dosing::screening::{Decision, PregnancyStatus};
            let clinic: Uuid = row.try_get("clinic_id")?;
            let findings = keys.open(Field::SCREENING_FINDINGS, &clinic, &row.try_get::<String, _>("findings")?)?;
            let notes: Option<String> = row.try_get("notes")?;
            Ok(Screening {
                course_id: CourseId(row.try_get("course_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                input: ScreeningInput {
                    findings: serde_json::from_str(&findings).map_err(|e| corrupt("findings", e))?,
                    pregnancy_status: PregnancyStatus::parse(&row.try_get::<String, _>("pregnancy_status")?)
                        .map_err(|e| corrupt("pregnancy_status", e))?,
                    weight_kg: row.try_get("weight_kg")?,
                    vitals: json_col(row, "vitals")?,
                    decision: Decision::parse(&row.try_get::<String, _>("decision")?).map_err(|e| corrupt("decision", e))?,
                    notes: keys.open_opt(Field::SCREENING_NOTES, &clinic, notes.as_deref())?,
                },
                signed_by: UserId(row.try_get("signed_by")?),
                signed_at: ts(row, "signed_at")?,
            })
        }

        /// The one place an administration row is written: by a dosing session, and by imports
        /// (whose `given_by` is empty).
        async fn insert_administration_row(tx: &mut Tx, clinic: ClinicId, encounter: EncounterId, a: &Administration) -> Result<()> {
            let d = &a.dose;
            sqlx::query(
                "INSERT INTO administration (clinic_id, id, encounter_id, drug, route, formulation, dose_mg, weight_kg, \
                 lot, given_at, given_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(clinic.0)
            .bind(a.id.0)
            .bind(encounter.0)
            .bind(d.drug.as_str())
            .bind(d.route.as_str())
            .bind(d.formulation.as_str())
            .bind(d.dose_mg)
            .bind(d.weight_kg)
            .bind(d.lot.as_deref())
            .bind(Ts(a.given_at))
            .bind(a.given_by.map(|u| u.0))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        fn clean_text(field: &'static str, text: &str, max: usize) -> Result<String> {
            Ok(kapstone_clinical::dosing::required_text(field, text, max)?)
        }

        #[async_trait]
        impl RecordStore for $store {
            async fn dosing_policy(&self, ctx: &AuditContext) -> Result<DosingPolicy> {
                let mut tx = self.tx().await?;
                let p = policy_in(&mut tx, ctx.clinic_id).await?;
                tx.commit().await?;
                Ok(p)
            }

            async fn save_dosing_policy(&self, ctx: &AuditContext, policy: &DosingPolicy) -> Result<()> {
                policy.check()?;
                if self.settings(ctx.clinic_id).await? == ClinicSettings::default() {
                    // No settings row yet: write the defaults so there is a row to hold the policy.
                    self.save_settings(ctx, &ClinicSettings::default()).await?;
                }
                let mut tx = self.tx().await?;
                sqlx::query("UPDATE clinic_settings SET dosing_policy = $2, updated_at = $3 WHERE clinic_id = $1")
                    .bind(ctx.clinic_id.0)
                    .bind(json("dosing_policy", policy)?)
                    .bind(Ts(now()))
                    .execute(&mut *tx)
                    .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "dosing_policy.update",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(ctx.clinic_id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn sign_screening(&self, ctx: &AuditContext, course: CourseId, input: &ScreeningInput) -> Result<Screening> {
                let by = staff_of(ctx)?;
                input.vitals.check()?;
                let mut tx = self.tx().await?;
                let c = $store::course_in(&mut tx, ctx, course).await?;
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM screening WHERE clinic_id = $1 AND course_id = $2")
                        .bind(ctx.clinic_id.0)
                        .bind(course.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_some() {
                    return Err(StoreError::Conflict(
                        "screening: this course's eligibility decision is already signed and cannot change".into(),
                    ));
                }
                let at = now();
                sqlx::query(
                    "INSERT INTO screening (clinic_id, course_id, patient_id, findings, pregnancy_status, weight_kg, \
                     vitals, decision, notes, signed_by, signed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(ctx.clinic_id.0)
                .bind(course.0)
                .bind(c.patient_id.0)
                .bind(self.keys.seal(Field::SCREENING_FINDINGS, &ctx.clinic_id.0, &json("findings", &input.findings)?)?)
                .bind(input.pregnancy_status.as_str())
                .bind(input.weight_kg)
                .bind(json("vitals", &input.vitals)?)
                .bind(input.decision.as_str())
                .bind(self.keys.seal_opt(Field::SCREENING_NOTES, &ctx.clinic_id.0, input.notes.as_deref())?)
                .bind(by.0)
                .bind(Ts(at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("screening.sign", c.patient_id, "course", course.0)).await?;
                tx.commit().await?;
                Ok(Screening { course_id: course, patient_id: c.patient_id, input: input.clone(), signed_by: by, signed_at: at })
            }

            async fn screening(&self, ctx: &AuditContext, course: CourseId) -> Result<Option<Screening>> {
                let mut tx = self.tx().await?;
                let c = $store::course_in(&mut tx, ctx, course).await?;
                let row = sqlx::query("SELECT * FROM screening WHERE clinic_id = $1 AND course_id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(course.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let s = row.as_ref().map(|r| screening_from(r, &self.keys)).transpose()?;
                audit_read(&mut tx, ctx, "screening.read", Some(c.patient_id), "course", Some(course.0), usize::from(s.is_some())).await?;
                tx.commit().await?;
                Ok(s)
            }

            async fn add_medication(&self, ctx: &AuditContext, patient: PatientId, m: &Medication) -> Result<MedicationRecord> {
                let by = staff_of(ctx)?;
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let rec = MedicationRecord { id: MedicationId::new(), patient_id: patient, medication: m.clone(), added_at: now() };
                sqlx::query(
                    "INSERT INTO medication (clinic_id, id, patient_id, name, dose, classes, hold, added_by, added_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(ctx.clinic_id.0)
                .bind(rec.id.0)
                .bind(patient.0)
                .bind(&m.name)
                .bind(m.dose.as_deref())
                .bind(json("classes", &m.classes)?)
                .bind(m.hold.as_deref())
                .bind(by.0)
                .bind(Ts(rec.added_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("medication.add", patient, "medication", rec.id.0)).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn stop_medication(&self, ctx: &AuditContext, id: MedicationId) -> Result<()> {
                let mut tx = self.tx().await?;
                let patient: Uuid = sqlx::query_scalar(
                    "UPDATE medication SET stopped_at = $3 WHERE clinic_id = $1 AND id = $2 AND stopped_at IS NULL \
                     RETURNING patient_id",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(Ts(now()))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::not_found("medication", id))?;
                append_audit(&mut tx, ctx, record_audit("medication.stop", PatientId(patient), "medication", id.0)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn medications(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<MedicationRecord>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let rows = sqlx::query(
                    "SELECT * FROM medication WHERE clinic_id = $1 AND patient_id = $2 AND stopped_at IS NULL \
                     ORDER BY added_at, id",
                )
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_all(&mut *tx)
                .await?;
                let list = rows
                    .iter()
                    .map(|r| -> Result<MedicationRecord> {
                        Ok(MedicationRecord {
                            id: MedicationId(r.try_get("id")?),
                            patient_id: patient,
                            medication: Medication {
                                name: r.try_get("name")?,
                                dose: r.try_get("dose")?,
                                classes: json_col(r, "classes")?,
                                hold: r.try_get("hold")?,
                            },
                            added_at: ts(r, "added_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "medication.list", Some(patient), "medication", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn add_consent_document(&self, ctx: &AuditContext, version: &str, title: &str, body: &str) -> Result<ConsentDocument> {
                let doc = ConsentDocument {
                    id: ConsentDocumentId::new(),
                    version: clean_text("version", version, 40)?,
                    title: clean_text("title", title, 200)?,
                    body: clean_text("body", body, 100_000)?,
                    created_at: now(),
                };
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO consent_document (clinic_id, id, version, title, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ctx.clinic_id.0)
                .bind(doc.id.0)
                .bind(&doc.version)
                .bind(&doc.title)
                .bind(&doc.body)
                .bind(Ts(doc.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_to_conflict(e, || format!("version: '{}' already exists; versions are never reused", doc.version)))?;
                append_audit(&mut tx, ctx, Entry {
                    action: "consent_document.add",
                    patient: None,
                    entity: "consent_document",
                    entity_id: Some(doc.id.0),
                    detail: serde_json::json!({ "version": doc.version }),
                })
                .await?;
                tx.commit().await?;
                Ok(doc)
            }

            async fn consent_documents(&self, ctx: &AuditContext) -> Result<Vec<ConsentDocument>> {
                let rows = sqlx::query("SELECT * FROM consent_document WHERE clinic_id = $1 ORDER BY created_at DESC, id")
                    .bind(ctx.clinic_id.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(document_from).collect()
            }

            async fn sign_consent(&self, ctx: &AuditContext, new: &NewConsent) -> Result<Consent> {
                let by = staff_of(ctx)?;
                let signer = clean_text("signer_name", &new.signer_name, 200)?;
                let witness = clean_text("witness_name", &new.witness_name, 200)?;
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, new.patient_id).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_not_future("signed_at", new.signed_at, now(), &tz)?;
                let version: String =
                    sqlx::query_scalar("SELECT version FROM consent_document WHERE clinic_id = $1 AND id = $2")
                        .bind(ctx.clinic_id.0)
                        .bind(new.document_id.0)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| StoreError::not_found("consent document", new.document_id))?;
                let c = Consent {
                    id: ConsentId::new(),
                    patient_id: new.patient_id,
                    document_id: new.document_id,
                    version,
                    signer_name: signer,
                    witness_name: witness,
                    signed_at: new.signed_at,
                    revoked_at: None,
                    revocation_reason: None,
                };
                sqlx::query(
                    "INSERT INTO consent (clinic_id, id, patient_id, document_id, signer_name, witness_name, signed_at, \
                     recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(ctx.clinic_id.0)
                .bind(c.id.0)
                .bind(c.patient_id.0)
                .bind(c.document_id.0)
                .bind(&c.signer_name)
                .bind(&c.witness_name)
                .bind(Ts(c.signed_at))
                .bind(by.0)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("consent.sign", c.patient_id, "consent", c.id.0)).await?;
                tx.commit().await?;
                Ok(c)
            }

            async fn revoke_consent(&self, ctx: &AuditContext, id: ConsentId, reason: &str) -> Result<Consent> {
                let by = staff_of(ctx)?;
                let reason = clean_text("revocation_reason", reason, 1000)?;
                let mut tx = self.tx().await?;
                let done = sqlx::query(
                    "UPDATE consent SET revoked_at = $3, revoked_by = $4, revocation_reason = $5 \
                     WHERE clinic_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(Ts(now()))
                .bind(by.0)
                .bind(&reason)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(
                    "SELECT c.*, d.version FROM consent c JOIN consent_document d \
                     ON d.clinic_id = c.clinic_id AND d.id = c.document_id WHERE c.clinic_id = $1 AND c.id = $2",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::not_found("consent", id))?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict("consent: already revoked".into()));
                }
                let c = consent_from(&row)?;
                append_audit(&mut tx, ctx, record_audit("consent.revoke", c.patient_id, "consent", id.0)).await?;
                tx.commit().await?;
                Ok(c)
            }

            async fn consents(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Consent>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let rows = sqlx::query(
                    "SELECT c.*, d.version FROM consent c JOIN consent_document d \
                     ON d.clinic_id = c.clinic_id AND d.id = c.document_id \
                     WHERE c.clinic_id = $1 AND c.patient_id = $2 ORDER BY c.signed_at, c.id",
                )
                .bind(ctx.clinic_id.0)
                .bind(patient.0)
                .fetch_all(&mut *tx)
                .await?;
                let list = rows.iter().map(consent_from).collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "consent.list", Some(patient), "consent", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn save_note(&self, ctx: &AuditContext, encounter: EncounterId, body: &str, preparation: Option<&Preparation>) -> Result<()> {
                let by = staff_of(ctx)?;
                let len = body.chars().count();
                if len > 100_000 {
                    return Err(StoreError::invalid("note", format!("is {len} characters long; at most 100000 are allowed")));
                }
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                if preparation.is_some() && e.kind != EncounterKind::Preparation {
                    return Err(StoreError::invalid("preparation", "only a preparation encounter has preparation fields"));
                }
                sqlx::query(
                    "INSERT INTO encounter_note (clinic_id, encounter_id, body, fields, updated_by, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (clinic_id, encounter_id) DO UPDATE SET \
                     body = excluded.body, fields = excluded.fields, updated_by = excluded.updated_by, \
                     updated_at = excluded.updated_at",
                )
                .bind(ctx.clinic_id.0)
                .bind(encounter.0)
                .bind(self.keys.seal(Field::NOTE_BODY, &ctx.clinic_id.0, body.trim())?)
                .bind(self.keys.seal(Field::NOTE_FIELDS, &ctx.clinic_id.0, &json("fields", &preparation)?)?)
                .bind(by.0)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("note.save", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn sign_encounter(&self, ctx: &AuditContext, encounter: EncounterId) -> Result<()> {
                let by = staff_of(ctx)?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                if e.status == EncounterStatus::Cancelled {
                    return Err(StoreError::invalid("encounter", "a cancelled encounter is not signed"));
                }
                let has_note: Option<i64> =
                    sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM encounter_note WHERE clinic_id = $1 AND encounter_id = $2")
                        .bind(ctx.clinic_id.0)
                        .bind(encounter.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                if has_note.is_none() {
                    return Err(StoreError::invalid("note", "write the encounter note before signing"));
                }
                if e.kind == EncounterKind::Dosing {
                    let started: Option<Option<Ts>> = sqlx::query_scalar(
                        "SELECT discharged_at FROM dosing_session WHERE clinic_id = $1 AND encounter_id = $2",
                    )
                    .bind(ctx.clinic_id.0)
                    .bind(encounter.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if matches!(started, Some(None)) {
                        return Err(StoreError::invalid("discharge", "sign the discharge before signing the session"));
                    }
                }
                let at = now();
                sqlx::query(
                    "UPDATE encounter SET signed_at = $3, signed_by = $4, status = 'completed', \
                     occurred_at = COALESCE(occurred_at, $3) WHERE clinic_id = $1 AND id = $2",
                )
                .bind(ctx.clinic_id.0)
                .bind(encounter.0)
                .bind(Ts(at))
                .bind(by.0)
                .execute(&mut *tx)
                .await?;
                // The session now counts as a dose in the course's outcome series, unless it
                // already did (an imported completed session, signed later).
                let counted = e.status == EncounterStatus::Completed && e.occurred_at.is_some();
                if e.kind == EncounterKind::Dosing && !counted {
                    let dose = $crate::course_series::dose_point(e.occurred_at.unwrap_or(at));
                    append_course_series(&mut tx, ctx.clinic_id, e.course_id, "", &dose).await?;
                }
                append_audit(&mut tx, ctx, record_audit("encounter.sign", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_addendum(&self, ctx: &AuditContext, encounter: EncounterId, body: &str) -> Result<Addendum> {
                let by = staff_of(ctx)?;
                let body = clean_text("addendum", body, 20_000)?;
                let mut tx = self.tx().await?;
                let row = sqlx::query("SELECT * FROM encounter WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(encounter.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("encounter", encounter))?;
                if ts_opt(&row, "signed_at")?.is_none() {
                    return Err(StoreError::invalid("addendum", "the encounter is not signed yet: edit its note instead"));
                }
                let e = encounter_from(&row)?;
                let a = Addendum { id: AddendumId::new(), author_id: by, body, created_at: now() };
                sqlx::query(
                    "INSERT INTO addendum (clinic_id, id, encounter_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ctx.clinic_id.0)
                .bind(a.id.0)
                .bind(encounter.0)
                .bind(by.0)
                .bind(self.keys.seal(Field::ADDENDUM_BODY, &ctx.clinic_id.0, &a.body)?)
                .bind(Ts(a.created_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("addendum.add", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(a)
            }

            async fn start_dosing(&self, ctx: &AuditContext, encounter: EncounterId, start: &DosingStart) -> Result<()> {
                staff_of(ctx)?;
                start.predose.check()?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                if e.kind != EncounterKind::Dosing {
                    return Err(StoreError::invalid("encounter", format!("is a {} encounter, not a dosing session", e.kind)));
                }
                let course = $store::course_in(&mut tx, ctx, e.course_id).await?;
                if course.status != CourseStatus::Active {
                    return Err(StoreError::invalid(
                        "course",
                        format!("is {}, not active: dosing sessions run only in an active course", course.status),
                    ));
                }
                ensure_consented(&mut tx, ctx, e.patient_id).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_not_future("started_at", start.started_at, now(), &tz)?;
                let policy = policy_in(&mut tx, ctx.clinic_id).await?;
                if let Some(why) = policy.predose_gate(&start.predose) {
                    if start.checklist.bp_override.as_deref().is_none_or(|r| r.trim().is_empty()) {
                        return Err(StoreError::invalid(
                            "bp_override",
                            format!("{why}: dosing needs a prescriber's written reason to proceed"),
                        ));
                    }
                }
                sqlx::query(
                    "INSERT INTO dosing_session (clinic_id, encounter_id, started_at, checklist, setting, predose) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ctx.clinic_id.0)
                .bind(encounter.0)
                .bind(Ts(start.started_at))
                .bind(json("checklist", &start.checklist)?)
                .bind(json("setting", &start.setting)?)
                .bind(json("predose", &start.predose)?)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_to_conflict(e, || "dosing: this session has already started".to_string()))?;
                append_audit(&mut tx, ctx, record_audit("dosing.start", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_administration(&self, ctx: &AuditContext, encounter: EncounterId, dose: &Dose, given_at: Timestamp) -> Result<Administration> {
                let by = staff_of(ctx)?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                let s = running(&mut tx, ctx, &e).await?;
                ensure_consented(&mut tx, ctx, e.patient_id).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_session_time("given_at", given_at, s.start.started_at, now(), &tz)?;
                let a = Administration { id: RecordEntryId::new(), dose: dose.clone(), given_at, given_by: Some(by) };
                insert_administration_row(&mut tx, ctx.clinic_id, encounter, &a).await?;
                append_audit(&mut tx, ctx, record_audit("administration.record", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(a)
            }

            async fn add_vitals(&self, ctx: &AuditContext, encounter: EncounterId, taken_at: Timestamp, vitals: &Vitals) -> Result<(VitalSign, Vec<Alert>)> {
                let by = staff_of(ctx)?;
                vitals.check()?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                let s = running(&mut tx, ctx, &e).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_session_time("taken_at", taken_at, s.start.started_at, now(), &tz)?;
                let v = VitalSign { id: RecordEntryId::new(), taken_at, vitals: *vitals, recorded_by: by };
                sqlx::query(
                    "INSERT INTO vital_sign (clinic_id, id, encounter_id, taken_at, systolic, diastolic, heart_rate, spo2, \
                     resp_rate, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(ctx.clinic_id.0)
                .bind(v.id.0)
                .bind(encounter.0)
                .bind(Ts(taken_at))
                .bind(vitals.systolic)
                .bind(vitals.diastolic)
                .bind(vitals.heart_rate)
                .bind(vitals.spo2)
                .bind(vitals.resp_rate)
                .bind(by.0)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("vitals.record", e.patient_id, "encounter", encounter.0)).await?;
                let policy = policy_in(&mut tx, ctx.clinic_id).await?;
                let mut alerts = Vec::new();
                for breach in policy.limits.breaches(vitals) {
                    let alert = Alert {
                        id: AlertId::new(),
                        clinic_id: ctx.clinic_id,
                        patient_id: e.patient_id,
                        course_id: Some(e.course_id),
                        assessment_id: None,
                        kind: breach.kind.to_string(),
                        message: breach.message,
                        raised_at: now(),
                        acknowledged_at: None,
                        acknowledged_by: None,
                        action_note: None,
                    };
                    insert_alert_row(&mut tx, &alert).await?;
                    append_audit(&mut tx, ctx, Entry {
                        action: "alert.raise",
                        patient: Some(alert.patient_id),
                        entity: "alert",
                        entity_id: Some(alert.id.0),
                        detail: serde_json::json!({ "kind": alert.kind }),
                    })
                    .await?;
                    alerts.push(alert);
                }
                tx.commit().await?;
                Ok((v, alerts))
            }

            async fn add_observation(&self, ctx: &AuditContext, encounter: EncounterId, observed_at: Timestamp, measure: Measure, value: i64) -> Result<Observation> {
                let by = staff_of(ctx)?;
                let (lo, hi) = measure.range();
                if !(lo..=hi).contains(&value) {
                    return Err(StoreError::invalid("value", format!("{value} is outside {lo}–{hi} for {measure}")));
                }
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                let s = running(&mut tx, ctx, &e).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_session_time("observed_at", observed_at, s.start.started_at, now(), &tz)?;
                let o = Observation { id: RecordEntryId::new(), observed_at, measure, value };
                sqlx::query(
                    "INSERT INTO observation (clinic_id, id, encounter_id, observed_at, measure, value, recorded_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(ctx.clinic_id.0)
                .bind(o.id.0)
                .bind(encounter.0)
                .bind(Ts(observed_at))
                .bind(measure.as_str())
                .bind(value)
                .bind(by.0)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("observation.record", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(o)
            }

            async fn add_adverse_event(&self, ctx: &AuditContext, encounter: EncounterId, event: &AdverseEvent) -> Result<AdverseEventRecord> {
                let by = staff_of(ctx)?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                session_in(&mut tx, ctx, &e).await?;
                let r = AdverseEventRecord { id: RecordEntryId::new(), event: event.clone(), recorded_by: by, recorded_at: now() };
                sqlx::query(
                    "INSERT INTO adverse_event (clinic_id, id, encounter_id, term, description, severity, onset_minutes, \
                     action, outcome, session_stopped, serious, recorded_by, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(ctx.clinic_id.0)
                .bind(r.id.0)
                .bind(encounter.0)
                .bind(&event.term)
                .bind(self.keys.seal_opt(Field::ADVERSE_EVENT_DESCRIPTION, &ctx.clinic_id.0, event.description.as_deref())?)
                .bind(&event.severity)
                .bind(event.onset_minutes)
                .bind(&event.action)
                .bind(&event.outcome)
                .bind(event.session_stopped)
                .bind(event.serious)
                .bind(by.0)
                .bind(Ts(r.recorded_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("adverse_event.record", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(r)
            }

            async fn discharge(&self, ctx: &AuditContext, encounter: EncounterId, at: Timestamp, attestation: &Discharge) -> Result<()> {
                staff_of(ctx)?;
                let mut tx = self.tx().await?;
                let e = unlocked(&mut tx, ctx, encounter).await?;
                let s = running(&mut tx, ctx, &e).await?;
                let tz = clinic_tz(&mut tx, ctx.clinic_id).await?;
                check_session_time("discharged_at", at, s.start.started_at, now(), &tz)?;
                let given: Vec<(Ts, String)> = sqlx::query_as(
                    "SELECT given_at, route FROM administration WHERE clinic_id = $1 AND encounter_id = $2",
                )
                .bind(ctx.clinic_id.0)
                .bind(encounter.0)
                .fetch_all(&mut *tx)
                .await?;
                let given = given
                    .into_iter()
                    .map(|(t, r)| Ok((t.0, Route::parse(&r).map_err(|e| corrupt("route", e))?)))
                    .collect::<Result<Vec<_>>>()?;
                let policy = policy_in(&mut tx, ctx.clinic_id).await?;
                if let Some(earliest) = policy.earliest_discharge(&given).filter(|t| at < *t) {
                    let show = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%H:%M").to_string();
                    let wait = (earliest.duration_since(at).as_secs() + 59) / 60;
                    return Err(StoreError::invalid(
                        "discharged_at",
                        format!(
                            "the observation minimum runs until {} (counted from the last dose); discharge at {} is {wait} min early",
                            show(earliest),
                            show(at)
                        ),
                    ));
                }
                sqlx::query(
                    "UPDATE dosing_session SET discharged_at = $3, discharge = $4 WHERE clinic_id = $1 AND encounter_id = $2",
                )
                .bind(ctx.clinic_id.0)
                .bind(encounter.0)
                .bind(Ts(at))
                .bind(json("discharge", attestation)?)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("dosing.discharge", e.patient_id, "encounter", encounter.0)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn encounter(&self, ctx: &AuditContext, encounter: EncounterId) -> Result<Encounter> {
                let mut tx = self.tx().await?;
                let row = sqlx::query("SELECT * FROM encounter WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(encounter.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("encounter", encounter))?;
                let e = encounter_from(&row)?;
                audit_read(&mut tx, ctx, "encounter.read", Some(e.patient_id), "encounter", Some(encounter.0), 1).await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn encounter_record(&self, ctx: &AuditContext, encounter: EncounterId) -> Result<EncounterRecord> {
                let mut tx = self.tx().await?;
                let row = sqlx::query("SELECT * FROM encounter WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(encounter.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("encounter", encounter))?;
                let e = encounter_from(&row)?;
                let signed = match (row.try_get::<Option<Uuid>, _>("signed_by")?, ts_opt(&row, "signed_at")?) {
                    (Some(u), Some(t)) => Some((UserId(u), t)),
                    _ => None,
                };
                let by_encounter = |sql: &'static str| {
                    sqlx::query(sql).bind(ctx.clinic_id.0).bind(encounter.0)
                };
                let note = by_encounter("SELECT * FROM encounter_note WHERE clinic_id = $1 AND encounter_id = $2")
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| -> Result<EncounterNote> {
                        let open = |field: Field, column: &str| -> Result<String> {
                            Ok(self.keys.open(field, &ctx.clinic_id.0, &r.try_get::<String, _>(column)?)?)
                        };
                        Ok(EncounterNote {
                            body: open(Field::NOTE_BODY, "body")?,
                            preparation: serde_json::from_str(&open(Field::NOTE_FIELDS, "fields")?)
                                .map_err(|e| corrupt("fields", e))?,
                            updated_by: UserId(r.try_get("updated_by")?),
                            updated_at: ts(&r, "updated_at")?,
                        })
                    })
                    .transpose()?;
                let addenda = by_encounter("SELECT * FROM addendum WHERE clinic_id = $1 AND encounter_id = $2 ORDER BY created_at, id")
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| -> Result<Addendum> {
                        Ok(Addendum {
                            id: AddendumId(r.try_get("id")?),
                            author_id: UserId(r.try_get("author_id")?),
                            body: self.keys.open(Field::ADDENDUM_BODY, &ctx.clinic_id.0, &r.try_get::<String, _>("body")?)?,
                            created_at: ts(r, "created_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let dosing = by_encounter("SELECT * FROM dosing_session WHERE clinic_id = $1 AND encounter_id = $2")
                    .fetch_optional(&mut *tx)
                    .await?
                    .as_ref()
                    .map(dosing_from)
                    .transpose()?;
                let administrations = by_encounter(
                    "SELECT * FROM administration WHERE clinic_id = $1 AND encounter_id = $2 ORDER BY given_at, id",
                )
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(administration_from)
                .collect::<Result<Vec<_>>>()?;
                let vitals = by_encounter("SELECT * FROM vital_sign WHERE clinic_id = $1 AND encounter_id = $2 ORDER BY taken_at, id")
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(vital_from)
                    .collect::<Result<Vec<_>>>()?;
                let observations = by_encounter(
                    "SELECT * FROM observation WHERE clinic_id = $1 AND encounter_id = $2 ORDER BY observed_at, id",
                )
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| -> Result<Observation> {
                    Ok(Observation {
                        id: RecordEntryId(r.try_get("id")?),
                        observed_at: ts(r, "observed_at")?,
                        measure: Measure::parse(&r.try_get::<String, _>("measure")?).map_err(|e| corrupt("measure", e))?,
                        value: r.try_get("value")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                let adverse_events = by_encounter(
                    "SELECT * FROM adverse_event WHERE clinic_id = $1 AND encounter_id = $2 ORDER BY recorded_at, id",
                )
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| -> Result<AdverseEventRecord> {
                    Ok(AdverseEventRecord {
                        id: RecordEntryId(r.try_get("id")?),
                        event: AdverseEvent {
                            term: r.try_get("term")?,
                            description: self.keys.open_opt(
                                Field::ADVERSE_EVENT_DESCRIPTION,
                                &ctx.clinic_id.0,
                                r.try_get::<Option<String>, _>("description")?.as_deref(),
                            )?,
                            severity: r.try_get("severity")?,
                            onset_minutes: r.try_get("onset_minutes")?,
                            action: r.try_get("action")?,
                            outcome: r.try_get("outcome")?,
                            session_stopped: r.try_get("session_stopped")?,
                            serious: r.try_get("serious")?,
                        },
                        recorded_by: UserId(r.try_get("recorded_by")?),
                        recorded_at: ts(r, "recorded_at")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                let questionnaires = by_encounter(
                    "SELECT instrument, total, administered_at FROM assessment WHERE clinic_id = $1 AND encounter_id = $2 \
                     ORDER BY administered_at, id",
                )
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| -> Result<SessionScore> {
                    Ok(SessionScore {
                        instrument: r.try_get("instrument")?,
                        total: r.try_get("total")?,
                        administered_at: ts(r, "administered_at")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "encounter.read", Some(e.patient_id), "encounter", Some(encounter.0), 1).await?;
                tx.commit().await?;
                Ok(EncounterRecord {
                    encounter: e,
                    signed,
                    note,
                    addenda,
                    dosing,
                    administrations,
                    vitals,
                    observations,
                    adverse_events,
                    questionnaires,
                })
            }
        }

        /// Dosing needs a signed, unrevoked consent; revocation stops future doses.
        async fn ensure_consented(tx: &mut Tx, ctx: &AuditContext, patient: PatientId) -> Result<()> {
            let current: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM consent WHERE clinic_id = $1 AND patient_id = $2 AND revoked_at IS NULL LIMIT 1",
            )
            .bind(ctx.clinic_id.0)
            .bind(patient.0)
            .fetch_optional(&mut **tx)
            .await?;
            if current.is_none() {
                return Err(StoreError::invalid("consent", "the patient has no signed, unrevoked consent: no dose can be given"));
            }
            Ok(())
        }

        /// A course becomes active only with a signed "eligible" decision and a current consent.
        async fn ensure_ready_to_dose(tx: &mut Tx, ctx: &AuditContext, course: &Course) -> Result<()> {
            let decision: Option<String> =
                sqlx::query_scalar("SELECT decision FROM screening WHERE clinic_id = $1 AND course_id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(course.id.0)
                    .fetch_optional(&mut **tx)
                    .await?;
            match decision.as_deref() {
                Some("eligible") => {}
                Some(_) => {
                    return Err(StoreError::invalid("screening", "the signed eligibility decision is not_eligible"));
                }
                None => {
                    return Err(StoreError::invalid("screening", "a prescriber must sign the eligibility decision first"));
                }
            }
            ensure_consented(tx, ctx, course.patient_id).await
        }

        #[async_trait]
        impl PsychotherapyNoteStore for $store {
            async fn write_psychotherapy_note(&self, ctx: &AuditContext, patient: PatientId, body: &SealedText) -> Result<PsychotherapyNoteId> {
                let by = staff_of(ctx)?;
                let text = clean_text("psychotherapy_note", body.reveal(), 100_000)?;
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let id = PsychotherapyNoteId::new();
                sqlx::query(
                    "INSERT INTO psychotherapy_note (clinic_id, id, patient_id, author_id, body, written_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ctx.clinic_id.0)
                .bind(id.0)
                .bind(patient.0)
                .bind(by.0)
                .bind(self.keys.seal(Field::PSYCHOTHERAPY_NOTE_BODY, &ctx.clinic_id.0, &text)?)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, record_audit("psychotherapy_note.write", patient, "psychotherapy_note", id.0)).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn my_psychotherapy_notes(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<PsychotherapyNote>> {
                let me = staff_of(ctx)?;
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let rows = sqlx::query(
                    "SELECT * FROM psychotherapy_note WHERE clinic_id = $1 AND author_id = $2 AND patient_id = $3 \
                     ORDER BY written_at, id",
                )
                .bind(ctx.clinic_id.0)
                .bind(me.0)
                .bind(patient.0)
                .fetch_all(&mut *tx)
                .await?;
                let list = rows
                    .iter()
                    .map(|r| -> Result<PsychotherapyNote> {
                        Ok(PsychotherapyNote {
                            id: PsychotherapyNoteId(r.try_get("id")?),
                            patient_id: patient,
                            author_id: me,
                            body: SealedText::new(self.keys.open(
                                Field::PSYCHOTHERAPY_NOTE_BODY,
                                &ctx.clinic_id.0,
                                &r.try_get::<String, _>("body")?,
                            )?),
                            written_at: ts(r, "written_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                audit_read(&mut tx, ctx, "psychotherapy_note.list", Some(patient), "psychotherapy_note", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }
        }
    };
}

pub(crate) use impl_record;
