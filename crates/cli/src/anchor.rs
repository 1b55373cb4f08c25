//! The audit chains' heads written outside the database: `kapstone audit anchor` appends them
//! once, `kapstone serve --audit-anchor FILE` every `--anchor-every`, and
//! `kapstone audit verify --anchor FILE` checks the database against the file
//! (`kapstone_store::audit_anchor`). Every backup's manifest carries the heads too.

use crate::Failure;
use kapstone_store::Store;
use kapstone_store::audit_anchor::{anchor_lines, check_anchors, parse_anchors};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct AnchorArgs {
    /// Append each clinic's audit-chain head to this file (keep it off the database's disk:
    /// another machine's mount, or a file shipped away), so a cut or rolled-back log is found.
    #[arg(long, env = "KAPSTONE_AUDIT_ANCHOR", value_name = "FILE")]
    audit_anchor: Option<PathBuf>,
    /// How often: 5m, 1h…
    #[arg(
        long,
        env = "KAPSTONE_ANCHOR_EVERY",
        default_value = "15m",
        value_name = "DURATION"
    )]
    anchor_every: String,
}

impl AnchorArgs {
    /// The file and interval, or none without `--audit-anchor`.
    pub fn schedule(self) -> Result<Option<(PathBuf, std::time::Duration)>, Failure> {
        let Some(file) = self.audit_anchor else {
            return Ok(None);
        };
        let every = kapstone_backup::schedule::parse_interval(&self.anchor_every).map_err(|e| {
            Failure::input(format!(
                "--{}",
                e.replacen("backup-every", "anchor-every", 1)
            ))
        })?;
        let every = std::time::Duration::try_from(every)
            .map_err(|e| Failure::input(format!("--anchor-every: {e}")))?;
        Ok(Some((file, every)))
    }
}

/// Appends the heads that moved since `last` to the file, synced before it returns; returns the
/// heads now written.
pub async fn append(
    store: &dyn Store,
    file: &Path,
    last: &std::collections::BTreeMap<
        kapstone_store::model::ClinicId,
        kapstone_store::dump::AuditTip,
    >,
) -> Result<
    std::collections::BTreeMap<kapstone_store::model::ClinicId, kapstone_store::dump::AuditTip>,
    Failure,
> {
    let heads = store
        .audit_heads()
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    let moved: std::collections::BTreeMap<_, _> = heads
        .iter()
        .filter(|(c, tip)| last.get(c) != Some(tip))
        .map(|(c, tip)| (*c, tip.clone()))
        .collect();
    if moved.is_empty() {
        return Ok(heads);
    }
    let text = anchor_lines(&moved, jiff::Timestamp::now());
    let fail = |e: std::io::Error| Failure::other(format!("{}: {e}", file.display()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_data().map_err(fail)?;
    Ok(heads)
}

/// `kapstone audit anchor --db URL --file FILE`.
pub async fn anchor_once(store: &dyn Store, file: &Path) -> Result<(), Failure> {
    let heads = append(store, file, &Default::default()).await?;
    println!(
        "anchored {} clinic chain(s) to {}",
        heads.len(),
        file.display()
    );
    Ok(())
}

/// The server's anchoring: every `every`, the heads that moved. A failure is logged and tried
/// again at the next turn; it never stops the server.
pub async fn run(store: Arc<dyn Store>, file: PathBuf, every: std::time::Duration) {
    let mut last = Default::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match append(store.as_ref(), &file, &last).await {
            Ok(heads) => last = heads,
            Err(e) => tracing::error!(error = %e.message, "audit anchor not written"),
        }
    }
}

/// The part of `audit verify` that reads the anchor file: each clinic's latest anchored event
/// must still be in its chain, unchanged.
pub async fn verify(store: &dyn Store, file: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::input(format!("--anchor: {}: {e}", file.display())))?;
    let anchors = parse_anchors(&text).map_err(|e| Failure::input(format!("--anchor: {e}")))?;
    let findings = check_anchors(store, &anchors)
        .await
        .map_err(|e| Failure::other(e.to_string()))?;
    let problems: Vec<String> = findings
        .iter()
        .filter(|f| f.is_problem())
        .map(ToString::to_string)
        .collect();
    if problems.is_empty() {
        Ok(format!(
            "every anchored head in {} is still in its chain ({} clinic(s))",
            file.display(),
            findings.len()
        ))
    } else {
        Err(Failure::other(problems.join("\n")))
    }
}
