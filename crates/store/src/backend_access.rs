//! The web app's part of the store, written once for both backends like `backend.rs` (and
//! expanded in the same module, so it shares that file's helpers): settings, care teams,
//! staff credentials and sessions, the assessment schedule and patient-portal links.

macro_rules! impl_access {
    ($store:ident) => {
        fn settings_from(row: &DbRow) -> Result<ClinicSettings> {
            let roles: String = row.try_get("mfa_exempt_roles")?;
            Ok(ClinicSettings {
                address: row.try_get("address")?,
                phone: row.try_get("phone")?,
                crisis_line: row.try_get("crisis_line")?,
                crisis_text: row.try_get("crisis_text")?,
                answers_monitored_live: row.try_get("answers_monitored_live")?,
                alert_overdue_minutes: row.try_get("alert_overdue_minutes")?,
                portal_link_days: row.try_get("portal_link_days")?,
                idle_timeout_minutes: row.try_get("idle_timeout_minutes")?,
                absolute_timeout_hours: row.try_get("absolute_timeout_hours")?,
                mfa_exempt_roles: roles
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(Role::parse)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| corrupt("mfa_exempt_roles", e))?,
            })
        }

        async fn dues_in(tx: &mut Tx, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Due>> {
            let rows = sqlx::query(
                "SELECT * FROM assessment_due WHERE clinic_id = $1 AND patient_id = $2 ORDER BY due_on, time_point, instrument",
            )
            .bind(ctx.clinic_id.0)
            .bind(patient.0)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter().map(due_from).collect()
        }

        fn team_from(row: &DbRow) -> Result<CareTeam> {
            Ok(CareTeam {
                id: CareTeamId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                name: row.try_get("name")?,
            })
        }

        fn credential_from(row: &DbRow, keys: &Keyring) -> Result<Credential> {
            let clinic: Uuid = row.try_get("clinic_id")?;
            let secret: Option<String> = row.try_get("totp_secret")?;
            Ok(Credential {
                clinic_id: ClinicId(clinic),
                user_id: UserId(row.try_get("user_id")?),
                password_hash: row.try_get("password_hash")?,
                totp_secret: keys.open_opt(Field::TOTP_SECRET, &clinic, secret.as_deref())?,
                totp_confirmed: row.try_get("totp_confirmed")?,
                totp_last_step: row.try_get("totp_last_step")?,
                failed_attempts: row.try_get("failed_attempts")?,
                locked_until: ts_opt(row, "locked_until")?,
                security_stamp: row.try_get("security_stamp")?,
            })
        }

        fn session_from(row: &DbRow) -> Result<StaffSession> {
            Ok(StaffSession {
                id: SessionId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                user_id: UserId(row.try_get("user_id")?),
                mfa_verified: row.try_get("mfa_verified")?,
                csrf_token: row.try_get("csrf_token")?,
                security_stamp: row.try_get("security_stamp")?,
                origin: row.try_get("origin")?,
                created_at: ts(row, "created_at")?,
                last_seen_at: ts(row, "last_seen_at")?,
                expires_at: ts(row, "expires_at")?,
            })
        }

        fn due_from(row: &DbRow) -> Result<Due> {
            Ok(Due {
                id: DueId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                course_id: CourseId(row.try_get("course_id")?),
                instrument: row.try_get("instrument")?,
                time_point: row.try_get("time_point")?,
                due_on: row.try_get::<jiff_sqlx::Date, _>("due_on")?.to_jiff(),
                window_days: row.try_get("window_days")?,
                assessment_id: row.try_get::<Option<Uuid>, _>("assessment_id")?.map(AssessmentId),
            })
        }

        fn link_from(row: &DbRow) -> Result<PortalLink> {
            Ok(PortalLink {
                id: PortalLinkId(row.try_get("id")?),
                clinic_id: ClinicId(row.try_get("clinic_id")?),
                patient_id: PatientId(row.try_get("patient_id")?),
                due_id: DueId(row.try_get("due_id")?),
                created_by: row.try_get::<Option<Uuid>, _>("created_by")?.map(UserId),
                created_at: ts(row, "created_at")?,
                expires_at: ts(row, "expires_at")?,
                used_at: ts_opt(row, "used_at")?,
            })
        }

        fn check_settings(s: &ClinicSettings) -> Result<()> {
            if s.crisis_line.trim().is_empty() {
                return Err(StoreError::invalid("crisis_line", "must not be empty (e.g. 988)"));
            }
            if s.crisis_text.trim().is_empty() {
                return Err(StoreError::invalid("crisis_text", "must not be empty"));
            }
            let ranges: [(&'static str, i64, i64, i64); 4] = [
                ("alert_overdue_minutes", s.alert_overdue_minutes, 1, 10_080),
                ("portal_link_days", s.portal_link_days, 1, 60),
                ("idle_timeout_minutes", s.idle_timeout_minutes, 1, 240),
                ("absolute_timeout_hours", s.absolute_timeout_hours, 1, 24),
            ];
            for (field, v, lo, hi) in ranges {
                if !(lo..=hi).contains(&v) {
                    return Err(StoreError::invalid(field, format!("{v} is outside the allowed range {lo}-{hi}")));
                }
            }
            Ok(())
        }

        #[async_trait]
        impl SettingsStore for $store {
            async fn settings(&self, clinic: ClinicId) -> Result<ClinicSettings> {
                let row = sqlx::query("SELECT * FROM clinic_settings WHERE clinic_id = $1")
                    .bind(clinic.0)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map_or_else(|| Ok(ClinicSettings::default()), settings_from)
            }

            async fn save_settings(&self, ctx: &AuditContext, s: &ClinicSettings) -> Result<()> {
                check_settings(s)?;
                let roles = s.mfa_exempt_roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO clinic_settings (clinic_id, address, phone, crisis_line, crisis_text, \
                     answers_monitored_live, alert_overdue_minutes, portal_link_days, idle_timeout_minutes, \
                     absolute_timeout_hours, mfa_exempt_roles, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (clinic_id) DO UPDATE SET address = excluded.address, phone = excluded.phone, \
                     crisis_line = excluded.crisis_line, crisis_text = excluded.crisis_text, \
                     answers_monitored_live = excluded.answers_monitored_live, \
                     alert_overdue_minutes = excluded.alert_overdue_minutes, \
                     portal_link_days = excluded.portal_link_days, \
                     idle_timeout_minutes = excluded.idle_timeout_minutes, \
                     absolute_timeout_hours = excluded.absolute_timeout_hours, \
                     mfa_exempt_roles = excluded.mfa_exempt_roles, updated_at = excluded.updated_at",
                )
                .bind(ctx.clinic_id.0)
                .bind(s.address.trim())
                .bind(s.phone.trim())
                .bind(s.crisis_line.trim())
                .bind(s.crisis_text.trim())
                .bind(s.answers_monitored_live)
                .bind(s.alert_overdue_minutes)
                .bind(s.portal_link_days)
                .bind(s.idle_timeout_minutes)
                .bind(s.absolute_timeout_hours)
                .bind(roles)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "settings.update",
                    patient: None,
                    entity: "clinic",
                    entity_id: Some(ctx.clinic_id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl CareTeamStore for $store {
            async fn create_team(&self, ctx: &AuditContext, name: &str) -> Result<CareTeam> {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > 120 {
                    return Err(StoreError::invalid("name", "must be 1-120 characters"));
                }
                let team = CareTeam { id: CareTeamId::new(), clinic_id: ctx.clinic_id, name: name.to_string() };
                let mut tx = self.tx().await?;
                sqlx::query("INSERT INTO care_team (clinic_id, id, name, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(team.clinic_id.0)
                    .bind(team.id.0)
                    .bind(&team.name)
                    .bind(Ts(now()))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_to_conflict(e, || format!("name: a care team called {name} exists")))?;
                append_audit(&mut tx, ctx, Entry {
                    action: "team.create",
                    patient: None,
                    entity: "care_team",
                    entity_id: Some(team.id.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(team)
            }

            async fn teams(&self, clinic: ClinicId) -> Result<Vec<CareTeam>> {
                let rows = sqlx::query("SELECT * FROM care_team WHERE clinic_id = $1 ORDER BY name")
                    .bind(clinic.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(team_from).collect()
            }

            async fn teams_of_user(&self, clinic: ClinicId, user: UserId) -> Result<Vec<CareTeam>> {
                let rows = sqlx::query(
                    "SELECT t.* FROM care_team t JOIN care_team_member m ON m.clinic_id = t.clinic_id AND m.team_id = t.id \
                     WHERE t.clinic_id = $1 AND m.user_id = $2 ORDER BY t.name",
                )
                .bind(clinic.0)
                .bind(user.0)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(team_from).collect()
            }

            async fn teams_of_patient(&self, clinic: ClinicId, patient: PatientId) -> Result<Vec<CareTeam>> {
                let rows = sqlx::query(
                    "SELECT t.* FROM care_team t JOIN care_team_patient p ON p.clinic_id = t.clinic_id AND p.team_id = t.id \
                     WHERE t.clinic_id = $1 AND p.patient_id = $2 ORDER BY t.name",
                )
                .bind(clinic.0)
                .bind(patient.0)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(team_from).collect()
            }

            async fn add_team_member(&self, ctx: &AuditContext, team: CareTeamId, user: UserId) -> Result<()> {
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO care_team_member (clinic_id, team_id, user_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (clinic_id, team_id, user_id) DO NOTHING",
                )
                .bind(ctx.clinic_id.0)
                .bind(team.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "team.add_member",
                    patient: None,
                    entity: "care_team",
                    entity_id: Some(team.0),
                    detail: serde_json::json!({ "user": user }),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn assign_patient(&self, ctx: &AuditContext, team: CareTeamId, patient: PatientId) -> Result<()> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                sqlx::query(
                    "INSERT INTO care_team_patient (clinic_id, team_id, patient_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (clinic_id, team_id, patient_id) DO NOTHING",
                )
                .bind(ctx.clinic_id.0)
                .bind(team.0)
                .bind(patient.0)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "team.assign_patient",
                    patient: Some(patient),
                    entity: "care_team",
                    entity_id: Some(team.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn grant_break_glass(
                &self,
                ctx: &AuditContext,
                patient: PatientId,
                reason: &str,
                expires_at: Timestamp,
            ) -> Result<BreakGlass> {
                let user = need_user(ctx, "emergency access")?;
                let reason = reason.trim();
                if reason.chars().count() < 10 || reason.chars().count() > 1000 {
                    return Err(StoreError::invalid("reason", "say why you need this record now (10-1000 characters)"));
                }
                let at = now();
                if expires_at <= at {
                    return Err(StoreError::invalid("expires_at", "must be in the future"));
                }
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let grant = BreakGlass {
                    id: BreakGlassId::new(),
                    clinic_id: ctx.clinic_id,
                    user_id: user,
                    patient_id: patient,
                    reason: reason.to_string(),
                    created_at: at,
                    expires_at,
                };
                sqlx::query(
                    "INSERT INTO break_glass (clinic_id, id, user_id, patient_id, reason, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(grant.clinic_id.0)
                .bind(grant.id.0)
                .bind(grant.user_id.0)
                .bind(grant.patient_id.0)
                .bind(&grant.reason)
                .bind(Ts(grant.created_at))
                .bind(Ts(grant.expires_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "access.break_glass",
                    patient: Some(patient),
                    entity: "break_glass",
                    entity_id: Some(grant.id.0),
                    detail: serde_json::json!({ "expires_at": grant.expires_at.to_string() }),
                })
                .await?;
                tx.commit().await?;
                Ok(grant)
            }

            async fn has_break_glass(&self, clinic: ClinicId, user: UserId, patient: PatientId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM break_glass WHERE clinic_id = $1 AND user_id = $2 AND patient_id = $3 \
                     AND expires_at > $4",
                )
                .bind(clinic.0)
                .bind(user.0)
                .bind(patient.0)
                .bind(Ts(now()))
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn break_glass_log(&self, clinic: ClinicId, limit: i64) -> Result<Vec<BreakGlass>> {
                let rows = sqlx::query("SELECT * FROM break_glass WHERE clinic_id = $1 ORDER BY created_at DESC, id LIMIT $2")
                    .bind(clinic.0)
                    .bind(limit.clamp(1, 1000))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| -> Result<BreakGlass> {
                        Ok(BreakGlass {
                            id: BreakGlassId(r.try_get("id")?),
                            clinic_id: ClinicId(r.try_get("clinic_id")?),
                            user_id: UserId(r.try_get("user_id")?),
                            patient_id: PatientId(r.try_get("patient_id")?),
                            reason: r.try_get("reason")?,
                            created_at: ts(r, "created_at")?,
                            expires_at: ts(r, "expires_at")?,
                        })
                    })
                    .collect()
            }

            async fn in_care_team(&self, clinic: ClinicId, user: UserId, patient: PatientId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM care_team_patient ctp JOIN care_team_member m \
                     ON m.clinic_id = ctp.clinic_id AND m.team_id = ctp.team_id \
                     WHERE ctp.clinic_id = $1 AND ctp.patient_id = $2 AND m.user_id = $3",
                )
                .bind(clinic.0)
                .bind(patient.0)
                .bind(user.0)
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }
        }

        #[async_trait]
        impl AccessStore for $store {
            async fn users_by_email(&self, email: &str) -> Result<Vec<User>> {
                let rows = sqlx::query("SELECT * FROM app_user WHERE email = $1 AND active = TRUE ORDER BY clinic_id")
                    .bind(email.trim().to_lowercase())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(user_from).collect()
            }

            async fn credential(&self, clinic: ClinicId, user: UserId) -> Result<Option<Credential>> {
                let row = sqlx::query("SELECT * FROM staff_credential WHERE clinic_id = $1 AND user_id = $2")
                    .bind(clinic.0)
                    .bind(user.0)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(|r| credential_from(r, &self.keys)).transpose()
            }

            async fn save_credential(&self, ctx: &AuditContext, c: &Credential) -> Result<()> {
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO staff_credential (clinic_id, user_id, password_hash, totp_secret, totp_confirmed, \
                     totp_last_step, failed_attempts, locked_until, security_stamp, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (clinic_id, user_id) DO UPDATE SET password_hash = excluded.password_hash, \
                     totp_secret = excluded.totp_secret, totp_confirmed = excluded.totp_confirmed, \
                     totp_last_step = excluded.totp_last_step, failed_attempts = excluded.failed_attempts, \
                     locked_until = excluded.locked_until, security_stamp = excluded.security_stamp, \
                     updated_at = excluded.updated_at",
                )
                .bind(c.clinic_id.0)
                .bind(c.user_id.0)
                .bind(&c.password_hash)
                .bind(self.keys.seal_opt(Field::TOTP_SECRET, &c.clinic_id.0, c.totp_secret.as_deref())?)
                .bind(c.totp_confirmed)
                .bind(c.totp_last_step)
                .bind(c.failed_attempts)
                .bind(c.locked_until.map(Ts))
                .bind(&c.security_stamp)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "user.credential",
                    patient: None,
                    entity: "user",
                    entity_id: Some(c.user_id.0),
                    detail: serde_json::json!({ "totp_confirmed": c.totp_confirmed }),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_setup_token(
                &self,
                ctx: &AuditContext,
                user: UserId,
                token_hash: &str,
                expires_at: Timestamp,
            ) -> Result<()> {
                let mut tx = self.tx().await?;
                sqlx::query(
                    "INSERT INTO setup_token (clinic_id, id, user_id, token_hash, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, NULL)",
                )
                .bind(ctx.clinic_id.0)
                .bind(Uuid::now_v7())
                .bind(user.0)
                .bind(token_hash)
                .bind(Ts(now()))
                .bind(Ts(expires_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "user.setup_link",
                    patient: None,
                    entity: "user",
                    entity_id: Some(user.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn consume_setup_token(&self, token_hash: &str) -> Result<Option<(ClinicId, UserId)>> {
                let at = now();
                let row = sqlx::query(
                    "UPDATE setup_token SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                     AND expires_at > $2 RETURNING clinic_id, user_id",
                )
                .bind(token_hash)
                .bind(Ts(at))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| -> Result<_> { Ok((ClinicId(r.try_get("clinic_id")?), UserId(r.try_get("user_id")?))) })
                    .transpose()
            }

            async fn peek_setup_token(&self, token_hash: &str) -> Result<Option<(ClinicId, UserId)>> {
                let row = sqlx::query(
                    "SELECT clinic_id, user_id FROM setup_token WHERE token_hash = $1 AND used_at IS NULL \
                     AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(Ts(now()))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| -> Result<_> { Ok((ClinicId(r.try_get("clinic_id")?), UserId(r.try_get("user_id")?))) })
                    .transpose()
            }

            async fn replace_recovery_codes(&self, ctx: &AuditContext, user: UserId, hashes: &[String]) -> Result<()> {
                let mut tx = self.tx().await?;
                sqlx::query("DELETE FROM recovery_code WHERE clinic_id = $1 AND user_id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await?;
                for h in hashes {
                    sqlx::query(
                        "INSERT INTO recovery_code (clinic_id, id, user_id, code_hash, used_at) VALUES ($1, $2, $3, $4, NULL)",
                    )
                    .bind(ctx.clinic_id.0)
                    .bind(Uuid::now_v7())
                    .bind(user.0)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
                }
                append_audit(&mut tx, ctx, Entry {
                    action: "user.recovery_codes",
                    patient: None,
                    entity: "user",
                    entity_id: Some(user.0),
                    detail: serde_json::json!({ "count": hashes.len() }),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn use_recovery_code(&self, ctx: &AuditContext, user: UserId, hash: &str) -> Result<bool> {
                let mut tx = self.tx().await?;
                let done = sqlx::query(
                    "UPDATE recovery_code SET used_at = $4 WHERE clinic_id = $1 AND user_id = $2 \
                     AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(ctx.clinic_id.0)
                .bind(user.0)
                .bind(hash)
                .bind(Ts(now()))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                append_audit(&mut tx, ctx, Entry {
                    action: "user.recovery_code_used",
                    patient: None,
                    entity: "user",
                    entity_id: Some(user.0),
                    detail: serde_json::json!({}),
                })
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_session(&self, s: &StaffSession, token_hash: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO staff_session (clinic_id, id, token_hash, user_id, mfa_verified, csrf_token, \
                     security_stamp, origin, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(s.clinic_id.0)
                .bind(s.id.0)
                .bind(token_hash)
                .bind(s.user_id.0)
                .bind(s.mfa_verified)
                .bind(&s.csrf_token)
                .bind(&s.security_stamp)
                .bind(&s.origin)
                .bind(Ts(s.created_at))
                .bind(Ts(s.last_seen_at))
                .bind(Ts(s.expires_at))
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn session_by_token(&self, token_hash: &str) -> Result<Option<StaffSession>> {
                let row = sqlx::query("SELECT * FROM staff_session WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(session_from).transpose()
            }

            async fn touch_session(&self, clinic: ClinicId, id: SessionId, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE staff_session SET last_seen_at = $3 WHERE clinic_id = $1 AND id = $2")
                    .bind(clinic.0)
                    .bind(id.0)
                    .bind(Ts(at))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, clinic: ClinicId, id: SessionId) -> Result<()> {
                sqlx::query("DELETE FROM staff_session WHERE clinic_id = $1 AND id = $2")
                    .bind(clinic.0)
                    .bind(id.0)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl ScheduleStore for $store {
            async fn dues_of(&self, ctx: &AuditContext, patient: PatientId) -> Result<Vec<Due>> {
                let mut tx = self.tx().await?;
                $store::patient_in(&mut tx, ctx, patient).await?;
                let list = dues_in(&mut tx, ctx, patient).await?;
                audit_read(&mut tx, ctx, "schedule.list", Some(patient), "assessment_due", None, list.len()).await?;
                tx.commit().await?;
                Ok(list)
            }

            async fn due(&self, ctx: &AuditContext, id: DueId) -> Result<Due> {
                let row = sqlx::query("SELECT * FROM assessment_due WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found("scheduled assessment", id))?;
                due_from(&row)
            }

            async fn create_portal_link(
                &self,
                ctx: &AuditContext,
                due: DueId,
                token_hash: &str,
                expires_at: Timestamp,
            ) -> Result<PortalLink> {
                let mut tx = self.tx().await?;
                let row = sqlx::query("SELECT * FROM assessment_due WHERE clinic_id = $1 AND id = $2")
                    .bind(ctx.clinic_id.0)
                    .bind(due.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("scheduled assessment", due))?;
                let d = due_from(&row)?;
                if d.assessment_id.is_some() {
                    return Err(StoreError::invalid("due", "this assessment has already been completed"));
                }
                let link = PortalLink {
                    id: PortalLinkId::new(),
                    clinic_id: ctx.clinic_id,
                    patient_id: d.patient_id,
                    due_id: d.id,
                    created_by: match ctx.actor {
                        Actor::User(u) => Some(u),
                        _ => None,
                    },
                    created_at: now(),
                    expires_at,
                    used_at: None,
                };
                sqlx::query(
                    "INSERT INTO portal_link (clinic_id, id, token_hash, patient_id, due_id, created_by, created_at, \
                     expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
                )
                .bind(link.clinic_id.0)
                .bind(link.id.0)
                .bind(token_hash)
                .bind(link.patient_id.0)
                .bind(link.due_id.0)
                .bind(link.created_by.map(|u| u.0))
                .bind(Ts(link.created_at))
                .bind(Ts(link.expires_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, ctx, Entry {
                    action: "portal_link.create",
                    patient: Some(link.patient_id),
                    entity: "portal_link",
                    entity_id: Some(link.id.0),
                    detail: serde_json::json!({ "instrument": d.instrument }),
                })
                .await?;
                tx.commit().await?;
                Ok(link)
            }

            async fn open_portal_link(&self, token_hash: &str, origin: &str) -> Result<Option<(PortalLink, Due)>> {
                let mut tx = self.tx().await?;
                let row = sqlx::query(
                    "SELECT * FROM portal_link WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(Ts(now()))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let link = link_from(&row)?;
                let due_row = sqlx::query("SELECT * FROM assessment_due WHERE clinic_id = $1 AND id = $2")
                    .bind(link.clinic_id.0)
                    .bind(link.due_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let due = due_from(&due_row)?;
                let ctx = AuditContext { clinic_id: link.clinic_id, actor: Actor::Patient(link.patient_id), origin: origin.to_string() };
                append_audit(&mut tx, &ctx, Entry {
                    action: "portal.open",
                    patient: Some(link.patient_id),
                    entity: "portal_link",
                    entity_id: Some(link.id.0),
                    detail: serde_json::json!({ "instrument": due.instrument }),
                })
                .await?;
                tx.commit().await?;
                Ok(Some((link, due)))
            }

            async fn submit_portal_response(
                &self,
                token_hash: &str,
                origin: &str,
                respond: &(dyn for<'d> Fn(&'d Due) -> Result<kapstone_clinical::instrument::Response> + Send + Sync),
            ) -> Result<Option<RecordedAssessment>> {
                let at = now();
                let mut tx = self.tx().await?;
                let row = sqlx::query(
                    "UPDATE portal_link SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                     AND expires_at > $2 RETURNING *",
                )
                .bind(token_hash)
                .bind(Ts(at))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let link = link_from(&row)?;
                let due_row = sqlx::query("SELECT * FROM assessment_due WHERE clinic_id = $1 AND id = $2")
                    .bind(link.clinic_id.0)
                    .bind(link.due_id.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let due = due_from(&due_row)?;
                let response = respond(&due)?;
                if response.score().instrument != due.instrument {
                    return Err(StoreError::invalid("instrument", format!("this link is for {}", due.instrument)));
                }
                if due.assessment_id.is_some() {
                    return Err(StoreError::Conflict("this questionnaire has already been completed".into()));
                }
                let ctx = AuditContext { clinic_id: link.clinic_id, actor: Actor::Patient(link.patient_id), origin: origin.to_string() };
                let recorded = insert_assessment(
                    &mut tx,
                    &ctx,
                    &NewAssessment {
                        patient_id: link.patient_id,
                        course_id: Some(due.course_id),
                        encounter_id: None,
                        response,
                        time_point: due.time_point.clone(),
                        administered_at: at,
                    },
                )
                .await?;
                sqlx::query("UPDATE assessment_due SET assessment_id = $3 WHERE clinic_id = $1 AND id = $2")
                    .bind(due.clinic_id.0)
                    .bind(due.id.0)
                    .bind(recorded.assessment.id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(recorded))
            }

            async fn answered_portal_link(&self, token_hash: &str) -> Result<Option<ClinicId>> {
                // The link is used up in the same transaction that stores the answers and
                // completes the due; the join states the claim rather than relying on that.
                let row = sqlx::query(
                    "SELECT l.clinic_id FROM portal_link l JOIN assessment_due d \
                     ON d.clinic_id = l.clinic_id AND d.id = l.due_id \
                     WHERE l.token_hash = $1 AND l.used_at IS NOT NULL AND d.assessment_id IS NOT NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(r) => Ok(Some(ClinicId(r.try_get("clinic_id")?))),
                    None => Ok(None),
                }
            }
        }

        #[async_trait]
        impl AuditRecord for $store {
            async fn record(
                &self,
                ctx: &AuditContext,
                action: &str,
                patient: Option<PatientId>,
                entity: &str,
                entity_id: Option<Uuid>,
                detail: serde_json::Value,
            ) -> Result<()> {
                let mut tx = self.tx().await?;
                append_audit(&mut tx, ctx, Entry { action, patient, entity, entity_id, detail }).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_access;
