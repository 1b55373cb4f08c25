//! `kapstone report`: the clinic's cohort outcomes, every number with its definition and its
//! denominator, as JSON or CSV.

use crate::{Failure, app, pick_clinic};
use kapstone_clinical::instrument::Library;
use kapstone_outcomes::cohort::{Definitions, PRESETS, report, to_csv, to_json};
use kapstone_store::model::*;
use std::path::Path;

pub async fn run(
    db: &str,
    lib: Library,
    clinic: Option<String>,
    preset: Option<&str>,
    format: &str,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let defs = match preset {
        None => Definitions::default(),
        Some(name) => Definitions::preset(name).ok_or_else(|| {
            Failure::input(format!(
                "--preset: '{name}' is not a preset; allowed values: {}",
                PRESETS.join(", ")
            ))
        })?,
    };
    if !["json", "csv"].contains(&format) {
        return Err(Failure::input(format!(
            "--format: '{format}' is not available; allowed values: json, csv (html and pdf are not built yet)"
        )));
    }
    let app = app(db, lib, "http://127.0.0.1:8080".into()).await?;
    let store = app.store();
    let clinic = pick_clinic(store.as_ref(), clinic).await?;
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "cli report".into(),
    };
    let snapshot = store
        .outcome_snapshot(&ctx)
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    let courses = kapstone_app::cohort::cohort_courses(&snapshot);
    let rep = report(&courses, &defs);
    let text = match format {
        "csv" => to_csv(&rep),
        _ => {
            let mut t = serde_json::to_string_pretty(&to_json(&rep, &defs, snapshot.synthetic))
                .map_err(|e| Failure::other(e.to_string()))?;
            t.push('\n');
            t
        }
    };
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::other(format!("--out {}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(())
}
