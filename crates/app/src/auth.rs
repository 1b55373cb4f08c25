//! Staff sign-in: set-up links, Argon2id passwords, TOTP second factor (enrolled at first
//! sign-in; required for every role unless the clinic exempts one), recovery codes, and
//! server-side sessions that are cycled at sign-in and at MFA and expire when idle and absolutely.

use crate::crypto::{self, check_password, random_token, token_hash};
use crate::{App, AppError};
use jiff::{SignedDuration, Timestamp};
use kapstone_clinical::vocab::Role;
use kapstone_store::Attempt;
use kapstone_store::model::*;

/// Failed sign-ins before the account locks, and for how long.
const MAX_FAILURES: i64 = 5;
const LOCK_MINUTES: i64 = 15;
/// The one answer to a refused sign-in, whether the account is unknown, the password wrong or
/// the account locked.
const SIGN_IN_REFUSED: &str = "the e-mail address or password is not right, or the account is locked after too many failed sign-ins (try again in 15 minutes, or ask an admin for a new set-up link)";
const SETUP_LINK_HOURS: i64 = 72;
const RECOVERY_CODES: usize = 10;

/// A staff member with a live session.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user: User,
    pub session: StaffSession,
    pub origin: String,
}

impl Staff {
    pub fn ctx(&self) -> AuditContext {
        AuditContext {
            clinic_id: self.user.clinic_id,
            actor: Actor::User(self.user.id),
            origin: self.origin.clone(),
        }
    }

    pub fn role(&self) -> Role {
        self.user.role
    }
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Password checked; the second factor is still owed.
    NeedsMfa,
    /// Password checked; no authenticator enrolled yet, and this role must have one.
    NeedsEnrolment,
    Ready,
}

/// A new session: the cookie value (shown to the browser once, stored only hashed) and its state.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub state: SessionState,
}

fn now() -> Timestamp {
    kapstone_store::model::now()
}

fn minutes(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

impl App {
    /// Adds a staff member and returns their one-time set-up link.
    pub async fn add_staff(
        &self,
        ctx: &AuditContext,
        email: &str,
        display_name: &str,
        role: Role,
    ) -> Result<(User, String), AppError> {
        let user = self
            .store
            .add_user(
                ctx,
                &NewUser {
                    email: email.into(),
                    display_name: display_name.into(),
                    role,
                },
            )
            .await?;
        let cred = Credential {
            clinic_id: user.clinic_id,
            user_id: user.id,
            password_hash: None,
            totp_secret: None,
            totp_confirmed: false,
            totp_last_step: None,
            failed_attempts: 0,
            locked_until: None,
            security_stamp: random_token(),
        };
        self.store.save_credential(ctx, &cred).await?;
        let link = self.setup_link(ctx, user.id).await?;
        Ok((user, link))
    }

    /// A fresh one-time set-up link for an existing account (e.g. a forgotten password).
    pub async fn setup_link(&self, ctx: &AuditContext, user: UserId) -> Result<String, AppError> {
        let token = random_token();
        let expires = now() + SignedDuration::from_hours(SETUP_LINK_HOURS);
        self.store
            .create_setup_token(ctx, user, &token_hash(&token), expires)
            .await?;
        Ok(format!(
            "{}/setup/{token}",
            self.config.public_url.trim_end_matches('/')
        ))
    }

    /// Whether a set-up link is live, and for whom.
    pub async fn setup_account(&self, token: &str) -> Result<User, AppError> {
        let (clinic, user) = self
            .store
            .peek_setup_token(&token_hash(token))
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(self.store.user(clinic, user).await?)
    }

    /// Sets the password from a set-up link; the link is used up, every existing session ends
    /// (new security stamp), and the second factor is enrolled at the next sign-in.
    pub async fn complete_setup(
        &self,
        token: &str,
        password: &str,
        origin: &str,
    ) -> Result<User, AppError> {
        check_password(password)
            .map_err(|m| AppError::invalid("password", m.trim_start_matches("password: ")))?;
        let hash = self
            .passwords
            .hash(password.to_string())
            .await
            .map_err(AppError::Internal)?;
        let (clinic, user_id) = self
            .store
            .consume_setup_token(&token_hash(token))
            .await?
            .ok_or(AppError::NotFound)?;
        let user = self.store.user(clinic, user_id).await?;
        let ctx = AuditContext {
            clinic_id: clinic,
            actor: Actor::User(user_id),
            origin: origin.into(),
        };
        let mut cred = self
            .store
            .credential(clinic, user_id)
            .await?
            .unwrap_or(Credential {
                clinic_id: clinic,
                user_id,
                password_hash: None,
                totp_secret: None,
                totp_confirmed: false,
                totp_last_step: None,
                failed_attempts: 0,
                locked_until: None,
                security_stamp: String::new(),
            });
        cred.password_hash = Some(hash);
        cred.failed_attempts = 0;
        cred.locked_until = None;
        cred.security_stamp = random_token();
        self.store.save_credential(&ctx, &cred).await?;
        Ok(user)
    }

    /// Checks e-mail and password. Unknown, wrongly answered and locked accounts get the same
    /// answer, after the same password-hash work, so the reply does not say which it was.
    /// The attempt is counted before the password is checked, so a burst of guesses sent
    /// together gets no more checks than one guess after another.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        origin: &str,
    ) -> Result<Issued, AppError> {
        let bad = || AppError::invalid("email", SIGN_IN_REFUSED);
        // Only active accounts; the same address may have one in more than one clinic (a
        // person working at two, or another clinic's admin adding it). Each is tried, and only
        // the one the password opens signs in, so no clinic can block another's user.
        let users = self.store.users_by_email(email).await?;
        if users.is_empty() {
            self.passwords.verify(password.to_string(), None).await;
            return Err(bad());
        }
        let mut tried = Vec::with_capacity(users.len());
        for user in users {
            let attempt = self.take_attempt(&user).await?;
            let cred = self.store.credential(user.clinic_id, user.id).await?;
            let hash = match attempt {
                Attempt::Counted(_) => cred.as_ref().and_then(|c| c.password_hash.clone()),
                Attempt::Refused => None,
            };
            let right = self.passwords.verify(password.to_string(), hash).await;
            let has_credentials = cred.is_some();
            tried.push((user, attempt, has_credentials, cred.filter(|_| right)));
        }
        let winner = tried
            .iter()
            .position(|(_, a, _, opened)| opened.is_some() && matches!(a, Attempt::Counted(_)));
        for (i, (user, attempt, has_credentials, _)) in tried.iter().enumerate() {
            let ctx = AuditContext {
                clinic_id: user.clinic_id,
                actor: Actor::User(user.id),
                origin: origin.into(),
            };
            match (winner, attempt) {
                (Some(w), _) if w == i => {}
                // Not a guess at this account: the password opened another.
                (Some(_), Attempt::Counted(_)) => {
                    self.store
                        .return_sign_in_attempt(user.clinic_id, user.id, MAX_FAILURES)
                        .await?;
                }
                (Some(_), Attempt::Refused) => {}
                (None, Attempt::Counted(n)) => {
                    self.audit_user(
                        &ctx,
                        "auth.sign_in_failed",
                        serde_json::json!({ "failures": n, "locked": *n >= MAX_FAILURES }),
                    )
                    .await?;
                }
                (None, Attempt::Refused) => {
                    // No credentials yet (set-up link not used) is not a lock.
                    let action = if *has_credentials {
                        "auth.sign_in_locked"
                    } else {
                        "auth.sign_in_failed"
                    };
                    self.audit_user(&ctx, action, serde_json::json!({})).await?;
                }
            }
        }
        let Some((user, _, _, Some(cred))) = winner.map(|w| tried.swap_remove(w)) else {
            return Err(bad());
        };
        let ctx = AuditContext {
            clinic_id: user.clinic_id,
            actor: Actor::User(user.id),
            origin: origin.into(),
        };
        self.store
            .clear_sign_in_failures(user.clinic_id, user.id)
            .await?;
        let settings = self.store.settings(user.clinic_id).await?;
        let exempt = settings.mfa_exempt_roles.contains(&user.role);
        let state = match (exempt, cred.totp_confirmed) {
            (true, _) => SessionState::Ready,
            (false, true) => SessionState::NeedsMfa,
            (false, false) => SessionState::NeedsEnrolment,
        };
        let issued = self
            .issue_session(&user, &cred, state == SessionState::Ready, origin)
            .await?;
        self.store
            .record(
                &ctx,
                "auth.sign_in",
                None,
                "user",
                Some(user.id.0),
                serde_json::json!({ "mfa_pending": state != SessionState::Ready }),
            )
            .await?;
        Ok(Issued {
            token: issued,
            state,
        })
    }

    async fn issue_session(
        &self,
        user: &User,
        cred: &Credential,
        mfa_verified: bool,
        origin: &str,
    ) -> Result<String, AppError> {
        let settings = self.store.settings(user.clinic_id).await?;
        let token = random_token();
        let at = now();
        let session = StaffSession {
            id: SessionId::new(),
            clinic_id: user.clinic_id,
            user_id: user.id,
            mfa_verified,
            csrf_token: random_token(),
            security_stamp: cred.security_stamp.clone(),
            origin: origin.into(),
            created_at: at,
            last_seen_at: at,
            expires_at: at + SignedDuration::from_hours(settings.absolute_timeout_hours),
        };
        self.store
            .create_session(&session, &token_hash(&token))
            .await?;
        Ok(token)
    }

    /// The session behind a cookie, if it is live: not past its absolute or idle timeout, and
    /// issued under the user's current credentials. Touches it.
    pub async fn session(
        &self,
        token: &str,
        origin: &str,
    ) -> Result<(Staff, SessionState), AppError> {
        let session = self
            .store
            .session_by_token(&token_hash(token))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let at = now();
        let settings = self.store.settings(session.clinic_id).await?;
        let idle_deadline = session.last_seen_at + minutes(settings.idle_timeout_minutes);
        let cred = self
            .store
            .credential(session.clinic_id, session.user_id)
            .await?;
        let stamp_ok = cred
            .as_ref()
            .is_some_and(|c| crypto::same(&c.security_stamp, &session.security_stamp));
        let user = self.store.user(session.clinic_id, session.user_id).await?;
        if at >= session.expires_at || at >= idle_deadline || !stamp_ok || !user.active {
            self.store
                .delete_session(session.clinic_id, session.id)
                .await?;
            return Err(AppError::Unauthenticated);
        }
        self.store
            .touch_session(session.clinic_id, session.id, at)
            .await?;
        let state = if session.mfa_verified {
            SessionState::Ready
        } else if cred.as_ref().is_some_and(|c| c.totp_confirmed) {
            SessionState::NeedsMfa
        } else {
            SessionState::NeedsEnrolment
        };
        Ok((
            Staff {
                user,
                session,
                origin: origin.into(),
            },
            state,
        ))
    }

    /// Ends the old session and issues a fully signed-in one (after the second factor).
    async fn cycle_verified(&self, staff: &Staff, cred: &Credential) -> Result<String, AppError> {
        self.store
            .delete_session(staff.session.clinic_id, staff.session.id)
            .await?;
        self.issue_session(&staff.user, cred, true, &staff.origin)
            .await
    }

    fn credential_or_err(cred: Option<Credential>) -> Result<Credential, AppError> {
        cred.ok_or(AppError::Unauthenticated)
    }

    /// Checks a TOTP code for a half-signed-in session; returns the new session's cookie value.
    /// Wrong codes count toward the lockout as wrong passwords do, and a code's time step is
    /// used once, however many sessions send it at the same moment.
    pub async fn verify_mfa(&self, staff: &Staff, code: &str) -> Result<String, AppError> {
        let attempt = self.take_attempt(&staff.user).await?;
        let cred = Self::credential_or_err(
            self.store
                .credential(staff.user.clinic_id, staff.user.id)
                .await?,
        )?;
        let secret = cred
            .totp_secret
            .clone()
            .filter(|_| cred.totp_confirmed)
            .ok_or(AppError::Unauthenticated)?;
        if attempt == Attempt::Refused {
            return self.second_factor_locked(staff).await;
        }
        let step = crypto::verify_totp(&secret, code, now().as_second(), cred.totp_last_step);
        let used = match step {
            Some(step) => {
                self.store
                    .use_totp_step(staff.user.clinic_id, staff.user.id, step)
                    .await?
            }
            None => false,
        };
        if !used {
            self.audit_user(&staff.ctx(), "auth.mfa_failed", serde_json::json!({}))
                .await?;
            return Err(AppError::invalid(
                "code",
                "that code is not right; enter the 6-digit code your authenticator shows now",
            ));
        }
        self.store
            .clear_sign_in_failures(staff.user.clinic_id, staff.user.id)
            .await?;
        self.cycle_verified(staff, &cred).await
    }

    /// Takes a sign-in attempt for the user (see `SignInGuard::take_sign_in_attempt`).
    async fn take_attempt(&self, user: &User) -> Result<Attempt, AppError> {
        let at = now();
        Ok(self
            .store
            .take_sign_in_attempt(
                user.clinic_id,
                user.id,
                at,
                MAX_FAILURES,
                at + minutes(LOCK_MINUTES),
            )
            .await?)
    }

    /// The answer to a second factor sent while the account is locked: the person has shown
    /// the password already, so they are told.
    async fn second_factor_locked(&self, staff: &Staff) -> Result<String, AppError> {
        self.audit_user(&staff.ctx(), "auth.sign_in_locked", serde_json::json!({}))
            .await?;
        Err(AppError::Locked(format!(
            "too many wrong codes; try again in {LOCK_MINUTES} minutes or ask an admin for a new set-up link"
        )))
    }

    async fn audit_user(
        &self,
        ctx: &AuditContext,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        let AuditContext {
            actor: Actor::User(user),
            ..
        } = ctx
        else {
            return Ok(());
        };
        self.store
            .record(ctx, action, None, "user", Some(user.0), detail)
            .await?;
        Ok(())
    }

    /// Uses a one-time recovery code instead of the authenticator.
    pub async fn verify_recovery_code(
        &self,
        staff: &Staff,
        code: &str,
    ) -> Result<String, AppError> {
        let attempt = self.take_attempt(&staff.user).await?;
        let cred = Self::credential_or_err(
            self.store
                .credential(staff.user.clinic_id, staff.user.id)
                .await?,
        )?;
        if attempt == Attempt::Refused {
            return self.second_factor_locked(staff).await;
        }
        let normalised: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        if !self
            .store
            .use_recovery_code(&staff.ctx(), staff.user.id, &token_hash(&normalised))
            .await?
        {
            return Err(AppError::invalid(
                "recovery_code",
                "that recovery code is not right or was already used",
            ));
        }
        self.store
            .clear_sign_in_failures(staff.user.clinic_id, staff.user.id)
            .await?;
        self.cycle_verified(staff, &cred).await
    }

    /// Starts (or restarts) authenticator enrolment; returns the secret and its otpauth URI.
    pub async fn begin_enrolment(&self, staff: &Staff) -> Result<(String, String), AppError> {
        let mut cred = Self::credential_or_err(
            self.store
                .credential(staff.user.clinic_id, staff.user.id)
                .await?,
        )?;
        if cred.totp_confirmed {
            return Err(AppError::Conflict(
                "an authenticator is already enrolled".into(),
            ));
        }
        let secret = match &cred.totp_secret {
            Some(s) => s.clone(),
            None => {
                let s = crypto::new_totp_secret();
                cred.totp_secret = Some(s.clone());
                self.store.save_credential(&staff.ctx(), &cred).await?;
                s
            }
        };
        let clinic = self.store.clinic(staff.user.clinic_id).await?;
        let uri = crypto::otpauth_uri(
            &format!("kapstone {}", clinic.name),
            &staff.user.email,
            &secret,
        );
        Ok((secret, uri))
    }

    /// Confirms enrolment with a first code; returns the new session and ten recovery codes
    /// (shown once, stored hashed).
    pub async fn confirm_enrolment(
        &self,
        staff: &Staff,
        code: &str,
    ) -> Result<(String, Vec<String>), AppError> {
        let mut cred = Self::credential_or_err(
            self.store
                .credential(staff.user.clinic_id, staff.user.id)
                .await?,
        )?;
        let secret = cred
            .totp_secret
            .clone()
            .ok_or_else(|| AppError::invalid("code", "start enrolment first"))?;
        let step = crypto::verify_totp(&secret, code, now().as_second(), cred.totp_last_step)
            .ok_or_else(|| {
                AppError::invalid(
                    "code",
                    "that code is not right; enter the 6-digit code your authenticator shows now",
                )
            })?;
        cred.totp_confirmed = true;
        cred.totp_last_step = Some(step);
        self.store.save_credential(&staff.ctx(), &cred).await?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| random_token()[..16].to_string())
            .collect();
        let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
        self.store
            .replace_recovery_codes(&staff.ctx(), staff.user.id, &hashes)
            .await?;
        let token = self.cycle_verified(staff, &cred).await?;
        Ok((token, codes))
    }

    pub async fn sign_out(&self, staff: &Staff) -> Result<(), AppError> {
        self.store
            .delete_session(staff.session.clinic_id, staff.session.id)
            .await?;
        self.store
            .record(
                &staff.ctx(),
                "auth.sign_out",
                None,
                "user",
                Some(staff.user.id.0),
                serde_json::json!({}),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_states_the_lock_period_in_force() {
        assert!(SIGN_IN_REFUSED.contains(&format!("try again in {LOCK_MINUTES} minutes")));
    }
}
