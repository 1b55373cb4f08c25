//! kapstone's course-of-care store: traits in domain words, one implementation written once and
//! expanded for SQLite and PostgreSQL, migrations per backend, and the audit hash chain.
#![forbid(unsafe_code)]

pub mod audit;
pub mod audit_anchor;
mod audit_append;
mod backend;
mod backend_access;
mod backend_import;
mod backend_outcomes;
mod backend_record;
mod course_series;
pub mod dump;
pub mod error;
mod import_batch;
mod local_date;
pub mod model;
pub mod ownership;
mod planner_statistics;
pub mod postgres;
mod schema;
pub mod sealing;
pub mod sign_in_guard;
pub mod sqlite;
pub mod staff_grants;
pub mod staff_lifecycle;
pub mod testing;
pub mod traits;
mod types;

pub use audit::{BrokenLink, ChainReport};
pub use audit_anchor::AuditAnchoring;
pub use dump::Dump;
pub use error::{Result, StoreError};
pub use ownership::{Owned, Ownership};
pub use postgres::PgStore;
pub use sealing::Sealing;
pub use sign_in_guard::{Attempt, SignInGuard};
pub use sqlite::SqliteStore;
pub use staff_grants::{PendingGrant, StaffGrants};
pub use staff_lifecycle::{StaffChange, StaffLifecycle};
pub use traits::*;

/// How long a write waits for another's lock before it fails as `StoreError::Busy`: long
/// enough for any ordinary transaction to finish, short enough that a person is told to retry
/// rather than left waiting.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the store a URL names: `sqlite://PATH` or `postgres://…`. Anything else is refused
/// rather than guessed at.
pub async fn connect(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// As `connect`, sealing and opening the encrypted fields with `keys`.
pub async fn connect_with_keys(
    url: &str,
    keys: std::sync::Arc<kapstone_keys::Keyring>,
) -> Result<Box<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::connect(url).await?.with_keys(keys)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::connect(url).await?.with_keys(keys)))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// A database URL with any password removed, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_string(),
    }
}
