//! A staff account's life after it is made: deactivated when someone leaves (and reactivated),
//! its second factor reset when a phone is lost, and every session ended. Each change is one
//! transaction with its audit event; every change ends all of the person's sessions and gives
//! their credentials a new security stamp, so a session issued in the meantime dies too.
//! Their audit history and authorship stay: nothing is deleted but sessions.

use crate::audit_append::{Entry, append};
use crate::error::{Result, StoreError};
use crate::model::{AuditContext, UserId, now};
use crate::types::Ts;
use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChange {
    /// Signs them out everywhere and keeps them out; withdraws unused set-up links.
    Deactivate,
    Reactivate,
    /// Removes the authenticator and the unused recovery codes: enrolment starts again at the
    /// next sign-in.
    ResetSecondFactor,
    /// Signs them out everywhere ("sign out everywhere").
    EndSessions,
}

impl StaffChange {
    pub fn action(self) -> &'static str {
        match self {
            StaffChange::Deactivate => "user.deactivate",
            StaffChange::Reactivate => "user.reactivate",
            StaffChange::ResetSecondFactor => "user.reset_mfa",
            StaffChange::EndSessions => "user.sessions_ended",
        }
    }
}

#[async_trait]
pub trait StaffLifecycle {
    /// Applies the change to the user of the caller's clinic, with `new_stamp` as the
    /// credentials' new security stamp. `NotFound` for a user not in the clinic.
    async fn change_staff(
        &self,
        ctx: &AuditContext,
        user: UserId,
        change: StaffChange,
        new_stamp: &str,
    ) -> Result<()>;
}

pub(crate) async fn change_staff<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    ctx: &AuditContext,
    user: UserId,
    change: StaffChange,
    new_stamp: &str,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> Option<Uuid>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Ts: Encode<'t, DB> + Type<DB>,
    (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    (Uuid,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let at = now();
    let mut tx = pool.begin_with(begin).await?;
    let exists: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM app_user WHERE clinic_id = $1 AND id = $2")
            .bind(ctx.clinic_id.0)
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound {
            entity: "user",
            id: user.to_string(),
        });
    }
    match change {
        StaffChange::Deactivate | StaffChange::Reactivate => {
            set_active::<DB>(&mut tx, ctx, user, change == StaffChange::Reactivate).await?;
        }
        StaffChange::ResetSecondFactor => {
            sqlx::query(
                "UPDATE staff_credential SET totp_secret = NULL, totp_confirmed = $3, \
                 totp_last_step = NULL WHERE clinic_id = $1 AND user_id = $2",
            )
            .bind(ctx.clinic_id.0)
            .bind(user.0)
            .bind(false)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE recovery_code SET used_at = $3 \
                 WHERE clinic_id = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(ctx.clinic_id.0)
            .bind(user.0)
            .bind(Ts(at))
            .execute(&mut *tx)
            .await?;
        }
        StaffChange::EndSessions => {}
    }
    if change == StaffChange::Deactivate {
        sqlx::query(
            "UPDATE setup_token SET used_at = $3 \
             WHERE clinic_id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(ctx.clinic_id.0)
        .bind(user.0)
        .bind(Ts(at))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE staff_credential SET security_stamp = $3, updated_at = $4 \
         WHERE clinic_id = $1 AND user_id = $2",
    )
    .bind(ctx.clinic_id.0)
    .bind(user.0)
    .bind(new_stamp)
    .bind(Ts(at))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM staff_session WHERE clinic_id = $1 AND user_id = $2")
        .bind(ctx.clinic_id.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
    append::<DB>(&mut tx, ctx, Entry::about_user(change.action(), user)).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the account may sign in, set inside the caller's transaction.
pub(crate) async fn set_active<DB>(
    conn: &mut DB::Connection,
    ctx: &AuditContext,
    user: UserId,
    active: bool,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
{
    sqlx::query("UPDATE app_user SET active = $3 WHERE clinic_id = $1 AND id = $2")
        .bind(ctx.clinic_id.0)
        .bind(user.0)
        .bind(active)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
