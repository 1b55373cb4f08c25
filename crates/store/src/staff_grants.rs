//! Two admins for a new account. An account an admin creates on the staff page waits, inactive,
//! until a different admin approves it: otherwise one admin could create a prescriber account,
//! open its set-up link themselves and read charts through it, and the line between running the
//! clinic and treating its patients would be one click deep. Operators at the server's command
//! line (`kapstone user add`) are not asked: they hold the database already.

use crate::audit_append::{Entry, append};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuditContext, ClinicId, UserId, now};
use crate::staff_lifecycle::set_active;
use crate::types::Ts;
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

/// An account waiting for a second admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGrant {
    pub user: UserId,
    pub requested_by: UserId,
    pub requested_at: Timestamp,
}

#[async_trait]
pub trait StaffGrants {
    /// The admin in `ctx` asks for the new account `user`: it is inactive until approved.
    async fn request_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()>;
    /// The clinic's accounts waiting for approval.
    async fn pending_grants(&self, clinic: ClinicId) -> Result<Vec<PendingGrant>>;
    /// The admin in `ctx` approves the account, which becomes active; refused (naming `user`)
    /// when they are the admin who asked for it, `NotFound` when nothing waits.
    async fn approve_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()>;
}

fn admin_of(ctx: &AuditContext) -> Result<UserId> {
    match ctx.actor {
        Actor::User(u) => Ok(u),
        _ => Err(StoreError::Invalid {
            field: "actor",
            message: "an admin's account grant is made by a named admin".into(),
        }),
    }
}

pub(crate) async fn request_grant<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    ctx: &AuditContext,
    user: UserId,
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
{
    let admin = admin_of(ctx)?;
    let mut tx = pool.begin_with(begin).await?;
    sqlx::query(
        "INSERT INTO staff_grant (clinic_id, user_id, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(ctx.clinic_id.0)
    .bind(user.0)
    .bind(admin.0)
    .bind(Ts(now()))
    .execute(&mut *tx)
    .await?;
    set_active::<DB>(&mut tx, ctx, user, false).await?;
    append::<DB>(
        &mut tx,
        ctx,
        Entry::about_user("user.grant_requested", user),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn pending_grants<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
) -> Result<Vec<PendingGrant>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'r> Ts: Decode<'r, DB> + Type<DB>,
    (Uuid, Uuid, Ts): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let rows: Vec<(Uuid, Uuid, Ts)> = sqlx::query_as(
        "SELECT user_id, requested_by, requested_at FROM staff_grant \
         WHERE clinic_id = $1 AND approved_by IS NULL ORDER BY requested_at",
    )
    .bind(clinic.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(u, by, at)| PendingGrant {
            user: UserId(u),
            requested_by: UserId(by),
            requested_at: at.0,
        })
        .collect())
}

pub(crate) async fn approve_grant<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    ctx: &AuditContext,
    user: UserId,
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
    let admin = admin_of(ctx)?;
    let mut tx = pool.begin_with(begin).await?;
    let waiting: Option<(Uuid,)> = sqlx::query_as(
        "SELECT requested_by FROM staff_grant \
         WHERE clinic_id = $1 AND user_id = $2 AND approved_by IS NULL",
    )
    .bind(ctx.clinic_id.0)
    .bind(user.0)
    .fetch_optional(&mut *tx)
    .await?;
    match waiting {
        None => {
            return Err(StoreError::NotFound {
                entity: "account waiting for approval",
                id: user.to_string(),
            });
        }
        Some((by,)) if by == admin.0 => {
            return Err(StoreError::Invalid {
                field: "user",
                message: "you asked for this account, so another admin must approve it".into(),
            });
        }
        Some(_) => {}
    }
    sqlx::query(
        "UPDATE staff_grant SET approved_by = $3, approved_at = $4 \
         WHERE clinic_id = $1 AND user_id = $2 AND approved_by IS NULL",
    )
    .bind(ctx.clinic_id.0)
    .bind(user.0)
    .bind(admin.0)
    .bind(Ts(now()))
    .execute(&mut *tx)
    .await?;
    set_active::<DB>(&mut tx, ctx, user, true).await?;
    append::<DB>(&mut tx, ctx, Entry::about_user("user.grant_approved", user)).await?;
    tx.commit().await?;
    Ok(())
}
