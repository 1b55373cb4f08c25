//! What a use case can answer instead of a result. Messages are safe to show; they name the
//! field and the allowed values where there are any, and never carry health data.

use kapstone_clinical::course::TransitionError;
use kapstone_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session, or the session needs its second factor.
    #[error("sign-in required")]
    Unauthenticated,
    /// The role may not do this.
    #[error("you do not have permission to do this")]
    Forbidden,
    /// Unknown, or not visible to this user (the two are deliberately indistinguishable).
    #[error("not found")]
    NotFound,
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again later.
    #[error("{0}")]
    Locked(String),
    /// The database stayed busy past its wait; nothing was saved. The cause is for the log.
    #[error("kapstone is busy; please try again in a moment")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stable machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::Locked(_) => "locked",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => AppError::NotFound,
            StoreError::Invalid { field, message } => AppError::invalid(field, message),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::Transition(TransitionError::Illegal { from, to, allowed }) => {
                let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                let allowed = if allowed.is_empty() {
                    "nothing (the course is closed)".to_string()
                } else {
                    allowed.join(", ")
                };
                AppError::invalid(
                    "course status",
                    format!("cannot move from {from} to {to}; allowed from {from}: {allowed}"),
                )
            }
            StoreError::Transition(TransitionError::ReasonRequired) => {
                AppError::invalid("reason", "discontinuing a course needs a reason")
            }
            StoreError::Field(f) => f.into(),
            // A signed encounter refuses writes: a conflict with the record's state, not a
            // rate limit (which is what AppError::Locked means).
            StoreError::Locked(m) => AppError::Conflict(m),
            e @ StoreError::Busy(_) => AppError::Unavailable(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<kapstone_clinical::dosing::FieldError> for AppError {
    fn from(e: kapstone_clinical::dosing::FieldError) -> Self {
        AppError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}
