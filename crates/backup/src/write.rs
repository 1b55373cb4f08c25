//! Taking a backup: one read snapshot of the running database, streamed through gzip and age
//! into a file that appears under its name only once it is complete and on disk.

use crate::error::{BackupError, Result};
use crate::format::{ClinicManifest, FORMAT, FORMAT_VERSION, Manifest, Marker, Source};
use flate2::Compression;
use flate2::write::GzEncoder;
use kapstone_store::Store;
use kapstone_store::dump::{DumpChunk, canonical_row};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Whom the backup is readable by.
pub enum Encryption {
    /// age recipients (X25519 public keys, `age1…`); any one of their identities decrypts it.
    Age(Vec<Box<dyn age::Recipient + Send>>),
    /// Compressed only: the operator asked for it by name (`--unencrypted`).
    None,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
    pub manifest: Manifest,
}

/// Backs up every clinic in `store` to `out`, consistently, while the server goes on serving.
/// `database_url` is recorded in the manifest without its password.
pub async fn backup(
    store: &dyn Store,
    database_url: &str,
    out: &Path,
    encryption: Encryption,
) -> Result<Written> {
    let partial = partial_path(out);
    let source = Source {
        backend: store.backend().to_string(),
        database: kapstone_store::redact_url(database_url),
    };
    let (tx, rx) = mpsc::channel(16);
    let file = partial.clone();
    let writer = tokio::task::spawn_blocking(move || write_file(rx, &file, encryption, source));
    let read = store.snapshot(tx).await;
    let written = writer
        .await
        .map_err(|e| BackupError::Io(std::io::Error::other(e)))?;
    // The writer's failure explains the snapshot's (its reader went away), so it comes first.
    let result = written.and_then(|w| read.map(|()| w).map_err(BackupError::Store));
    let mut written = match result {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename itself durable.
        File::open(dir)?.sync_all()?;
    }
    written.path = out.to_path_buf();
    Ok(written)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn create_private(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A backup holds the whole clinical record: only its owner may read it.
        options.mode(0o600);
    }
    Ok(options.open(path)?)
}

fn write_file(
    rx: mpsc::Receiver<DumpChunk>,
    path: &Path,
    encryption: Encryption,
    source: Source,
) -> Result<Written> {
    let file = BufWriter::new(create_private(path)?);
    let (file, written) = match encryption {
        Encryption::Age(recipients) => {
            let encryptor = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| BackupError::Key(e.to_string()))?;
            let sealed = encryptor.wrap_output(file)?;
            let (sealed, written) = write_lines(rx, sealed, source)?;
            (sealed.finish()?, written)
        }
        Encryption::None => write_lines(rx, file, source)?,
    };
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    Ok(Written { bytes, ..written })
}

fn write_lines<W: Write>(
    mut rx: mpsc::Receiver<DumpChunk>,
    out: W,
    source: Source,
) -> Result<(W, Written)> {
    let mut gz = GzEncoder::new(out, Compression::default());
    let line = |gz: &mut GzEncoder<W>, text: String| -> Result<()> {
        gz.write_all(text.as_bytes())?;
        gz.write_all(b"\n")?;
        Ok(())
    };
    let mut written = Written {
        path: PathBuf::new(),
        bytes: 0,
        tables: 0,
        rows: 0,
        manifest: Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            kapstone_version: env!("CARGO_PKG_VERSION").into(),
            taken_at: jiff::Timestamp::now(),
            source,
            migrations: vec![],
            clinics: vec![],
        },
    };
    let mut ended = false;
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            DumpChunk::Census(census) => {
                written.manifest.migrations = census.migrations;
                written.manifest.clinics = census
                    .clinics
                    .into_iter()
                    .map(|(id, c)| ClinicManifest {
                        id,
                        name: c.name,
                        rows: c.rows,
                        audit_head: c.audit_head,
                    })
                    .collect();
                line(&mut gz, json(&written.manifest)?)?;
            }
            DumpChunk::Table(t) => {
                written.tables += 1;
                line(&mut gz, json(&Marker::Table(t))?)?;
            }
            DumpChunk::Rows(rows) => {
                written.rows += rows.len() as u64;
                for r in rows {
                    line(&mut gz, canonical_row(&r))?;
                }
            }
            DumpChunk::TableEnd(d) => line(&mut gz, json(&Marker::TableEnd(d))?)?,
            DumpChunk::End => {
                line(
                    &mut gz,
                    json(&Marker::End {
                        tables: written.tables,
                    })?,
                )?;
                ended = true;
            }
        }
    }
    if !ended {
        return Err(BackupError::Damaged(
            "the snapshot stopped before its end; no backup was written".into(),
        ));
    }
    Ok((gz.finish()?, written))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| BackupError::Damaged(e.to_string()))
}
