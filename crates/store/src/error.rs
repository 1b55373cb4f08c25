//! Store errors: what went wrong in words a person can act on, with the cause kept for logs.

use kapstone_clinical::course::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist in this clinic (or the caller may not know it exists).
    #[error("{entity} {id} was not found")]
    NotFound { entity: &'static str, id: String },
    /// Input that breaks a rule; names the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The record changed under us, or a unique value is taken.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Input refused by a clinical rule (kapstone_clinical::dosing), naming the field.
    #[error(transparent)]
    Field(#[from] kapstone_clinical::dosing::FieldError),
    /// The encounter is signed: nothing in it changes; add an addendum instead.
    #[error("{0}")]
    Locked(String),
    #[error("database URL: '{0}' is not supported; use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database stayed busy (locked by another writer, or no connection free) longer than
    /// kapstone waits; nothing was written, and trying again shortly is expected to work.
    #[error("the database is busy: {0}")]
    Busy(sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// An encrypted field could not be sealed or opened (no key, an unknown or wrong key).
    #[error("{0}")]
    Sealing(#[from] kapstone_keys::KeyError),
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// Every `?` on a query passes through here, so a lock timeout anywhere becomes `Busy`.
    fn from(e: sqlx::Error) -> Self {
        if is_busy(&e) {
            StoreError::Busy(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// True when the error means "wait and retry", not "this request is wrong".
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // SQLite reports extended codes; the low byte is the primary one: SQLITE_BUSY (5)
            // and SQLITE_LOCKED (6).
            Some(code) if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            // PostgreSQL: lock_not_available (lock_timeout), query_canceled (statement_timeout),
            // serialization_failure and deadlock_detected. The transaction was rolled back.
            Some("55P03" | "57014" | "40001" | "40P01") => true,
            _ => false,
        },
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
