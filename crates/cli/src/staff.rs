//! `kapstone user list|deactivate|reactivate|reset-mfa|sign-out`: a clinic's staff accounts from
//! the command line, for an operator (audited as the system, from `cli`).

use crate::Failure;
use kapstone_app::StaffChange;
use kapstone_store::model::{Actor, AuditContext};

#[derive(clap::Args)]
pub struct Which {
    #[arg(long, env = "KAPSTONE_DB", default_value = "sqlite://kapstone.db")]
    db: String,
    /// The clinic's id, when the database holds more than one.
    #[arg(long)]
    clinic: Option<String>,
}

/// `kapstone user list`: every account with its role and whether it is active.
pub async fn list(which: Which) -> Result<(), Failure> {
    let store = crate::open(&which.db).await?;
    let clinic = crate::pick_clinic(store.as_ref(), which.clinic).await?;
    let users = store
        .users(clinic.id)
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    for u in users {
        let status = if u.active { "active" } else { "deactivated" };
        println!("{}\t{}\t{status}\t{}", u.email, u.role, u.display_name);
    }
    Ok(())
}

/// The other commands: one change to the account with the e-mail address.
pub async fn change(which: Which, email: &str, change: StaffChange) -> Result<(), Failure> {
    let app = crate::app(
        &which.db,
        kapstone_clinical::instrument::Library::builtin()
            .map_err(|e| Failure::other(e.to_string()))?,
        "http://127.0.0.1:8080".into(),
        None,
    )
    .await?;
    let clinic = crate::pick_clinic(app.store().as_ref(), which.clinic).await?;
    let user = app
        .store()
        .user_by_email(clinic.id, email)
        .await
        .map_err(|e| Failure::other(e.to_string()))?
        .ok_or_else(|| {
            Failure::input(format!(
                "--email: no staff account {email} in {}; `kapstone user list` shows them",
                clinic.name
            ))
        })?;
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "cli".into(),
    };
    let after = app
        .apply_staff_change(&ctx, user.id, change)
        .await
        .map_err(|e| match e {
            kapstone_app::AppError::Invalid { .. } => Failure::input(e.to_string()),
            other => Failure::other(other.to_string()),
        })?;
    let done = match change {
        StaffChange::Deactivate => {
            "deactivated; every session ended and unused set-up links withdrawn"
        }
        StaffChange::Reactivate => "reactivated; they sign in with their password again",
        StaffChange::ResetSecondFactor => {
            "second factor reset; they enrol a new authenticator at their next sign-in"
        }
        StaffChange::EndSessions => "signed out everywhere",
    };
    println!("{} ({}): {done}", after.email, after.role);
    Ok(())
}
