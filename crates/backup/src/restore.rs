//! Restoring: into an empty database only, at the backup's schema level, in one transaction
//! that commits only when every table reads back equal to the backup; then the audit chains
//! are verified and the schema is brought up to this kapstone's level.

use crate::error::{BackupError, Result};
use crate::format::Manifest;
use crate::read::{self, Identities};
use kapstone_store::Store;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    pub tables: usize,
    pub rows: u64,
    pub audit_events: i64,
    /// The migrations applied after the rows, when this kapstone is newer than the backup.
    pub upgraded: Vec<String>,
}

/// Restores the backup at `path` into `target`, which must be empty. The whole file is read and
/// checked once before anything is written, so a damaged or cut-short file leaves the target
/// as it was (not even migrated).
pub async fn restore(path: &Path, identities: Identities, target: &dyn Store) -> Result<Restored> {
    let identities = std::sync::Arc::new(identities);
    let opener = |identities: std::sync::Arc<Identities>| {
        let file: PathBuf = path.to_path_buf();
        tokio::task::spawn_blocking(move || read::open(&file, &identities))
    };
    let first = opener(identities.clone()).await.map_err(joined)??;
    let manifest = first.manifest.clone();
    let level = check_schema(&manifest, &target.migration_names())?;
    check_empty(target, &manifest).await?;
    tokio::task::spawn_blocking(move || first.check())
        .await
        .map_err(joined)??;

    let reader = opener(identities).await.map_err(joined)??;
    if reader.manifest != manifest {
        return Err(BackupError::Damaged(
            "the file changed while it was being restored".into(),
        ));
    }
    target.migrate_to(level).await?;

    let (tx, rx) = mpsc::channel(16);
    let streaming = tokio::task::spawn_blocking(move || reader.stream(tx));
    let loaded = target.load(rx).await;
    let streamed = streaming.await.map_err(joined)?;
    // A reading failure explains the load's (the stream stopped before its end).
    let summary = streamed?;
    let loaded = loaded?;
    if loaded != summary.tables {
        return Err(BackupError::Check(
            "the tables read back differ from the backup's".into(),
        ));
    }

    let chains = target.verify_audit_chain().await?;
    if let Some(broken) = chains.broken {
        return Err(BackupError::Check(broken.to_string()));
    }
    let before = target.applied_migrations().await?;
    target.migrate().await?;
    let after = target.applied_migrations().await?;
    Ok(Restored {
        tables: summary.tables.len(),
        rows: summary.rows(),
        audit_events: chains.events,
        upgraded: after[before.len().min(after.len())..].to_vec(),
        manifest,
    })
}

fn joined(e: tokio::task::JoinError) -> BackupError {
    BackupError::Io(std::io::Error::other(e))
}

/// The backup's schema level, if this kapstone knows every migration in it.
fn check_schema(manifest: &Manifest, known: &[String]) -> Result<i64> {
    for (i, name) in manifest.migrations.iter().enumerate() {
        if known.get(i) != Some(name) {
            return Err(BackupError::NewerSchema {
                migration: name.clone(),
                writer: manifest.kapstone_version.clone(),
            });
        }
    }
    manifest
        .migration_level()
        .ok_or_else(|| BackupError::Damaged("its manifest names no schema migrations".into()))
}

async fn check_empty(target: &dyn Store, manifest: &Manifest) -> Result<()> {
    let occupied = target.occupied_tables().await?;
    if !occupied.is_empty() {
        let mut named: Vec<String> = occupied
            .iter()
            .take(3)
            .map(|(t, n)| format!("table {t} has {n} row{}", if *n == 1 { "" } else { "s" }))
            .collect();
        if occupied.len() > 3 {
            named.push(format!("and {} more tables hold rows", occupied.len() - 3));
        }
        return Err(BackupError::TargetNotEmpty(named.join(", ")));
    }
    let applied = target.applied_migrations().await?;
    if applied.len() > manifest.migrations.len()
        || manifest.migrations[..applied.len()] != applied[..]
    {
        return Err(BackupError::TargetAhead {
            found: applied.last().cloned().unwrap_or_default(),
            backup: manifest.migrations.last().cloned().unwrap_or_default(),
        });
    }
    Ok(())
}
