//! `kapstone import DIR`: historical records from four CSV files, checked row by row, written in
//! one transaction or not at all.

use crate::progress::Bar;
use crate::{Failure, app, pick_clinic};
use kapstone_app::import::{ImportFiles, parse};
use kapstone_clinical::instrument::Library;
use kapstone_store::model::*;
use std::path::Path;

fn read(dir: &Path, name: &str) -> Result<String, Failure> {
    std::fs::read_to_string(dir.join(name))
        .map_err(|e| Failure::input(format!("{}: cannot read: {e}", dir.join(name).display())))
}

pub async fn import(
    dir: &Path,
    db: &str,
    lib: Library,
    by: &str,
    clinic: Option<String>,
    team: Option<String>,
    keys: std::sync::Arc<kapstone_keys::Keyring>,
) -> Result<(), Failure> {
    let files = ImportFiles {
        patients: read(dir, "patients.csv")?,
        courses: read(dir, "courses.csv")?,
        doses: read(dir, "doses.csv")?,
        assessments: read(dir, "assessments.csv")?,
    };
    let app = app(db, lib, "http://127.0.0.1:8080".into(), Some(keys)).await?;
    let store = app.store();
    let clinic = pick_clinic(store.as_ref(), clinic).await?;
    let user = store
        .user_by_email(clinic.id, by)
        .await
        .map_err(|e| Failure::other(e.to_string()))?
        .ok_or_else(|| Failure::input(format!("--as: no staff member {by} in {}", clinic.name)))?;
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::User(user.id),
        origin: "cli import".into(),
    };
    let team = match team {
        None => None,
        Some(name) => {
            let teams = store
                .teams(clinic.id)
                .await
                .map_err(|e| Failure::other(e.to_string()))?;
            Some(match teams.into_iter().find(|t| t.name == name.trim()) {
                Some(t) => t.id,
                None => {
                    store
                        .create_team(&ctx, &name)
                        .await
                        .map_err(|e| Failure::input(format!("--team: {e}")))?
                        .id
                }
            })
        }
    };
    let tz = jiff::tz::TimeZone::get(&clinic.time_zone)
        .map_err(|e| Failure::other(format!("the clinic's time zone: {e}")))?;
    let bar = Bar::new("[1/2] checking", files.rows_estimate(), "rows");
    let parsed = parse(&files, app.library(), &tz, team, &|n| bar.set(n))
        .map_err(|e| Failure::input(format!("import refused, nothing was written: {e}")))?;
    bar.finish();
    eprintln!(
        "[1/2] checked {} patients, {} courses, {} doses, {} assessments",
        parsed.patients.len(),
        parsed.courses,
        parsed.doses,
        parsed.assessments
    );
    let bar = Bar::new(
        "[2/2] writing (one transaction)",
        parsed.patients.len(),
        "patients",
    );
    let counts = store
        .import(
            &ctx,
            &parsed.patients,
            &ImportAlerts {
                acknowledged_before: now(),
                acknowledged_by: user.id,
                note: "Imported historical record: the flag was dealt with at the time, per the source records.".into(),
            },
            &|n| bar.set(n),
        )
        .await
        .map_err(|e| Failure::input(format!("import refused, nothing was written: {e}")))?;
    bar.finish();
    println!(
        "imported {} patients, {} courses, {} dosing sessions, {} assessments ({} historical safety flags, recorded as acknowledged) into {}",
        counts.patients,
        counts.courses,
        counts.encounters,
        counts.assessments,
        counts.alerts,
        clinic.name
    );
    Ok(())
}
