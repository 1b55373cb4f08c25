//! kapstone's course-of-care store: traits in domain words, one implementation written once and
//! expanded for SQLite and PostgreSQL, migrations per backend, and the audit hash chain.
#![forbid(unsafe_code)]

pub mod audit;
mod backend;
mod backend_access;
mod backend_import;
mod backend_outcomes;
mod backend_record;
mod course_series;
pub mod error;
mod import_batch;
mod local_date;
pub mod model;
mod planner_statistics;
pub mod postgres;
mod schema;
pub mod sqlite;
pub mod testing;
pub mod traits;
mod types;

pub use audit::{BrokenLink, ChainReport};
pub use error::{Result, StoreError};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use traits::*;

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
