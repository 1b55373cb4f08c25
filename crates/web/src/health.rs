//! `/healthz` (the process answers) and `/readyz` (it can do clinic work now), for load
//! balancers and service monitors. Neither needs sign-in; neither says more than which check
//! failed: the reason goes to the log.

use crate::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kapstone_app::App;
use std::time::Duration;

/// A probe must get an answer before its own timeout, even when the database hangs.
const CHECK_WAIT: Duration = Duration::from_secs(5);

/// What must hold before kapstone takes requests. Checks run in order and the first failure is
/// the answer; a new one (e.g. "encryption key loaded") is a variant here and an entry in
/// `Web::readiness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The database answers a trivial query.
    Database,
    /// Every migration this binary knows is applied, and no other.
    Migrations,
    /// A field encryption key is loaded (the start-up check proved it opens the database's
    /// sealed values; this confirms the server still holds it).
    Keys,
}

impl Check {
    /// The checks a server runs unless told otherwise.
    pub const DEFAULT: &[Check] = &[Check::Database, Check::Migrations, Check::Keys];

    pub fn name(self) -> &'static str {
        match self {
            Check::Database => "database",
            Check::Migrations => "migrations",
            Check::Keys => "keys",
        }
    }

    /// `Err` carries the reason, for the log only.
    async fn run(self, app: &App) -> Result<(), String> {
        let store = app.store();
        match self {
            Check::Database => store.ping().await.map_err(|e| e.to_string()),
            Check::Keys => match store.sealing_key() {
                Some(_) => Ok(()),
                None => Err("no field encryption key is loaded".into()),
            },
            Check::Migrations => {
                let expected = store.migration_names();
                let applied = store
                    .applied_migrations()
                    .await
                    .map_err(|e| e.to_string())?;
                if applied == expected {
                    Ok(())
                } else {
                    let current = applied.iter().filter(|m| expected.contains(m)).count();
                    let unknown = applied.len() - current;
                    Err(format!(
                        "{current} of {} migrations applied, {unknown} unknown to this binary; run `kapstone migrate`",
                        expected.len()
                    ))
                }
            }
        }
    }
}

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

pub(crate) async fn readyz(State(web): State<Shared>) -> Response {
    for &check in &web.readiness {
        let outcome = tokio::time::timeout(CHECK_WAIT, check.run(&web.app))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_WAIT.as_secs())));
        if let Err(reason) = outcome {
            tracing::warn!(check = check.name(), %reason, "not ready");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", check.name()),
            )
                .into_response();
        }
    }
    "ready\n".into_response()
}
