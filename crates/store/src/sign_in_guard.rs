//! The database's side of the sign-in defences: counting failed attempts, locking an account,
//! and using each TOTP time step once. Each is one conditional `UPDATE`, so requests sent at
//! the same moment are ordered by the database's row lock and none of them acts on a count or
//! a step it read before another request changed it.

use crate::error::Result;
use crate::model::{ClinicId, UserId};
use crate::types::Ts;
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

/// An attempt taken, or refused because the account is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt is counted as failed until it succeeds; this is its number since the
    /// last success (or since the last lock ran out). The account is locked when it reached
    /// the limit.
    Counted(i64),
    /// Locked (or no credentials): the password or code must not be checked at all.
    Refused,
}

#[async_trait]
pub trait SignInGuard {
    /// Takes an attempt at a password, second-factor or recovery code for the user before it
    /// is checked: counted as a failure at once, and locking the account until `lock_until`
    /// when it is the `max_failures`th. Once a lock has run out the count starts again.
    /// `Refused` while locked: so however many requests arrive together, at most
    /// `max_failures` are checked per lock period.
    async fn take_sign_in_attempt(
        &self,
        clinic: ClinicId,
        user: UserId,
        at: Timestamp,
        max_failures: i64,
        lock_until: Timestamp,
    ) -> Result<Attempt>;
    /// A correct password or code: the count goes back to zero and any lock ends.
    async fn clear_sign_in_failures(&self, clinic: ClinicId, user: UserId) -> Result<()>;
    /// Gives back an attempt taken for an account the sign-in turned out not to be for (the
    /// same address has an account in another clinic, and the password opened that one): the
    /// count goes down by one, and a lock this attempt set is lifted.
    async fn return_sign_in_attempt(
        &self,
        clinic: ClinicId,
        user: UserId,
        max_failures: i64,
    ) -> Result<()>;
    /// Marks a TOTP time step used; false when it (or a later step) already was, so one code
    /// signs in once even when sent from several sessions at the same moment.
    async fn use_totp_step(&self, clinic: ClinicId, user: UserId, step: i64) -> Result<bool>;
}

pub(crate) async fn take_attempt<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    user: UserId,
    at: Timestamp,
    max_failures: i64,
    lock_until: Timestamp,
) -> Result<Attempt>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> Ts: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    // Every SET expression reads the row as it was before this statement; the WHERE is
    // checked again on the current row after waiting for another request's lock.
    let counted: Option<(i64,)> = sqlx::query_as(
        "UPDATE staff_credential SET \
         failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN 1 \
                                ELSE failed_attempts + 1 END, \
         locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 THEN 1 \
                                        ELSE failed_attempts + 1 END) >= $4 THEN $5 ELSE NULL END \
         WHERE clinic_id = $1 AND user_id = $2 AND (locked_until IS NULL OR locked_until <= $3) \
         RETURNING failed_attempts",
    )
    .bind(clinic.0)
    .bind(user.0)
    .bind(Ts(at))
    .bind(max_failures)
    .bind(Ts(lock_until))
    .fetch_optional(pool)
    .await?;
    Ok(counted.map_or(Attempt::Refused, |(n,)| Attempt::Counted(n)))
}

pub(crate) async fn clear_failures<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    user: UserId,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(
        "UPDATE staff_credential SET failed_attempts = 0, locked_until = NULL \
         WHERE clinic_id = $1 AND user_id = $2",
    )
    .bind(clinic.0)
    .bind(user.0)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn use_step<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    user: UserId,
    step: i64,
) -> Result<bool>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let used: Option<(i64,)> = sqlx::query_as(
        "UPDATE staff_credential SET totp_last_step = $3 WHERE clinic_id = $1 AND user_id = $2 \
         AND (totp_last_step IS NULL OR totp_last_step < $3) RETURNING totp_last_step",
    )
    .bind(clinic.0)
    .bind(user.0)
    .bind(step)
    .fetch_optional(pool)
    .await?;
    Ok(used.is_some())
}

pub(crate) async fn return_attempt<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    user: UserId,
    max_failures: i64,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(
        "UPDATE staff_credential SET failed_attempts = failed_attempts - 1, \
         locked_until = CASE WHEN failed_attempts - 1 < $3 THEN NULL ELSE locked_until END \
         WHERE clinic_id = $1 AND user_id = $2 AND failed_attempts > 0",
    )
    .bind(clinic.0)
    .bind(user.0)
    .bind(max_failures)
    .execute(pool)
    .await?;
    Ok(())
}
