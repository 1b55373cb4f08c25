//! `kapstone report`: the clinic's cohort outcomes, every number with its definition and its
//! denominator, as JSON, CSV, HTML or PDF (the last two with charts).

use crate::{Failure, app, pick_clinic};
use kapstone_clinical::instrument::Library;
use kapstone_outcomes::cohort::{Definitions, PRESETS, report, report_pdf, to_csv, to_json};
use kapstone_store::model::*;
use std::io::{IsTerminal, Write};
use std::path::Path;

const FORMATS: [&str; 4] = ["json", "csv", "html", "pdf"];

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
    if !FORMATS.contains(&format) {
        return Err(Failure::input(format!(
            "--format: '{format}' is not a format; allowed values: {}",
            FORMATS.join(", ")
        )));
    }
    if format == "pdf" && out.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::input(
            "--out: a PDF is binary; give --out FILE or redirect standard output",
        ));
    }
    let app = app(db, lib, "http://127.0.0.1:8080".into(), None).await?;
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
    let synthetic = snapshot.synthetic;
    let courses = kapstone_app::cohort::cohort_courses(snapshot);
    let rep = report(&courses, &defs);
    let library = app.library();
    let bytes = match format {
        "csv" => to_csv(&rep).into_bytes(),
        "html" => kapstone_web::report_html(library, &rep, &defs, synthetic)
            .map_err(|e| Failure::other(e.to_string()))?
            .into_bytes(),
        "pdf" => report_pdf(&rep, &defs, synthetic, &|id| library.short_name(id)),
        _ => {
            let mut t = serde_json::to_string_pretty(&to_json(&rep, &defs, synthetic))
                .map_err(|e| Failure::other(e.to_string()))?;
            t.push('\n');
            t.into_bytes()
        }
    };
    match out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| Failure::other(format!("--out {}: {e}", path.display())))?,
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| Failure::other(format!("standard output: {e}")))?,
    }
    Ok(())
}
