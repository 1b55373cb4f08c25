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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
