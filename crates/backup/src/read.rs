//! Reading a backup back: decrypt, decompress, and turn its lines into the chunks a store
//! loads, checking each clinic's row counts and audit tip against the manifest on the way.
//! Any failure stops the stream before its end, so a load never commits a partial backup.

use crate::error::{BackupError, Result};
use crate::format::{AGE_MAGIC, FORMAT, FORMAT_VERSION, GZIP_MAGIC, Manifest, Marker};
use flate2::read::GzDecoder;
use kapstone_store::dump::{AuditTip, DumpChunk, Table, TableDigest, Value};
use kapstone_store::model::ClinicId;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use tokio::sync::mpsc;

/// Keys that may open a backup (from an age identity file).
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Reads the identities in an age key file (as `age-keygen` or `kapstone keys new` write).
pub fn identities_from_file(path: &Path) -> Result<Identities> {
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(|e| BackupError::Key(format!("{}: {e}", path.display())))?;
    file.into_identities()
        .map_err(|e| BackupError::Key(format!("{}: {e}", path.display())))
}

/// An opened backup whose manifest has been read and checked.
pub struct BackupReader {
    pub manifest: Manifest,
    pub encrypted: bool,
    lines: Box<dyn BufRead + Send>,
}

/// Opens `path`, decrypting with `identities` when it is encrypted, and reads its manifest.
pub fn open(path: &Path, identities: &Identities) -> Result<BackupReader> {
    let mut file = BufReader::new(File::open(path)?);
    let head = file.fill_buf()?;
    let (compressed, encrypted): (Box<dyn Read + Send>, bool) = if head.starts_with(AGE_MAGIC) {
        if identities.is_empty() {
            return Err(BackupError::NeedsIdentity);
        }
        let decryptor = age::Decryptor::new_buffered(file).map_err(age_error)?;
        let plain = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(age_error)?;
        (Box::new(plain), true)
    } else if head.starts_with(GZIP_MAGIC) {
        (Box::new(file), false)
    } else if head.is_empty() {
        return Err(BackupError::NotABackup("the file is empty".into()));
    } else {
        return Err(BackupError::NotABackup(
            "it is neither an age-encrypted nor a gzip-compressed kapstone backup".into(),
        ));
    };
    let mut lines: Box<dyn BufRead + Send> = Box::new(BufReader::new(GzDecoder::new(compressed)));
    let first = next_line(&mut lines)?
        .ok_or_else(|| BackupError::Damaged("the file holds no manifest".into()))?;
    let manifest = parse_manifest(&first)?;
    Ok(BackupReader {
        manifest,
        encrypted,
        lines,
    })
}

fn age_error(e: age::DecryptError) -> BackupError {
    match e {
        age::DecryptError::NoMatchingKeys => BackupError::WrongKey,
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            BackupError::Damaged(format!("its encryption header cannot be read ({e})"))
        }
        other => BackupError::Damaged(other.to_string()),
    }
}

fn parse_manifest(line: &str) -> Result<Manifest> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| BackupError::Damaged(format!("manifest: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(BackupError::NotABackup(
            "its first line is not a kapstone backup manifest".into(),
        ));
    }
    // The version is checked before the rest, so that a newer layout is named as such rather
    // than reported as damage.
    let found = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| BackupError::Damaged("manifest: format_version is missing".into()))?;
    if found > u64::from(FORMAT_VERSION) {
        return Err(BackupError::NewerFormat {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: FORMAT_VERSION,
            writer: value
                .get("kapstone_version")
                .and_then(|v| v.as_str())
                .unwrap_or("newer")
                .to_string(),
        });
    }
    serde_json::from_value(value).map_err(|e| BackupError::Damaged(format!("manifest: {e}")))
}

fn next_line(lines: &mut Box<dyn BufRead + Send>) -> Result<Option<String>> {
    let mut line = String::new();
    match lines.read_line(&mut line) {
        Ok(0) => Ok(None),
        Ok(_) if !line.ends_with('\n') => Err(BackupError::Damaged(
            "the file ends in the middle of a line (it was cut short)".into(),
        )),
        Ok(_) => {
            line.pop();
            Ok(Some(line))
        }
        Err(e) => Err(BackupError::Damaged(format!(
            "it cannot be read to the end (cut short, altered, or a wrong key): {e}"
        ))),
    }
}

/// Per-clinic tallies, compared with the manifest at the end.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<ClinicId, BTreeMap<String, u64>>,
    heads: BTreeMap<ClinicId, AuditTip>,
}

impl BackupReader {
    /// Sends every table and row to `out`, then `End` only if the whole file was read and
    /// agreed with its manifest. Runs on a blocking thread.
    pub fn stream(self, out: mpsc::Sender<DumpChunk>) -> Result<Summary> {
        self.read_all(|chunk| {
            out.blocking_send(chunk)
                .map_err(|_| BackupError::Damaged("the restore stopped reading the backup".into()))
        })
    }

    /// Reads the whole file and checks it against its manifest, keeping nothing.
    pub fn check(self) -> Result<Summary> {
        self.read_all(|_| Ok(()))
    }

    fn read_all(mut self, mut send: impl FnMut(DumpChunk) -> Result<()>) -> Result<Summary> {
        const BATCH: usize = 500;
        let mut tally = Tally::default();
        let mut summary = Summary::default();
        let mut current: Option<Table> = None;
        let mut batch: Vec<Vec<Value>> = Vec::new();
        let mut line_no = 1u64;
        loop {
            line_no += 1;
            let Some(line) = next_line(&mut self.lines)? else {
                return Err(BackupError::Damaged(
                    "the file stops before its end line (it was cut short)".into(),
                ));
            };
            let at = |e: String| BackupError::Damaged(format!("line {line_no}: {e}"));
            if line.starts_with('[') {
                let Some(table) = &current else {
                    return Err(at("a row outside any table".into()));
                };
                let row = parse_row(table, &line).map_err(at)?;
                tally_row(&mut tally, table, &row);
                batch.push(row);
                if batch.len() == BATCH {
                    send(DumpChunk::Rows(std::mem::take(&mut batch)))?;
                }
                continue;
            }
            let marker: Marker =
                serde_json::from_str(&line).map_err(|e| at(format!("not understood: {e}")))?;
            match marker {
                Marker::Table(t) => {
                    if current.is_some() {
                        return Err(at("a table begins inside another".into()));
                    }
                    current = Some(t.clone());
                    send(DumpChunk::Table(t))?;
                }
                Marker::TableEnd(digest) => {
                    let Some(table) = current.take() else {
                        return Err(at("a table ends that did not begin".into()));
                    };
                    if !batch.is_empty() {
                        send(DumpChunk::Rows(std::mem::take(&mut batch)))?;
                    }
                    summary.tables.insert(table.name, digest.clone());
                    send(DumpChunk::TableEnd(digest))?;
                }
                Marker::End { tables } => {
                    if current.is_some() || tables != summary.tables.len() {
                        return Err(at(format!(
                            "the end line counts {tables} tables, {} were read",
                            summary.tables.len()
                        )));
                    }
                    break;
                }
            }
        }
        if next_line(&mut self.lines)?.is_some() {
            return Err(BackupError::Damaged(
                "there is more after the end line".into(),
            ));
        }
        check_against_manifest(&self.manifest, &tally)?;
        send(DumpChunk::End)?;
        Ok(summary)
    }
}

/// What the stream held, table by table.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub tables: BTreeMap<String, TableDigest>,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|d| d.rows).sum()
    }
}

fn parse_row(table: &Table, line: &str) -> std::result::Result<Vec<Value>, String> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(line).map_err(|e| format!("table {}: {e}", table.name))?;
    if values.len() != table.columns.len() {
        return Err(format!(
            "table {}: a row has {} values for {} columns",
            table.name,
            values.len(),
            table.columns.len()
        ));
    }
    values
        .iter()
        .zip(&table.columns)
        .map(|(v, c)| Value::from_json(c, v).map_err(|e| format!("table {}: {e}", table.name)))
        .collect()
}

fn tally_row(tally: &mut Tally, table: &Table, row: &[Value]) {
    let column = |name: &str| {
        table
            .columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| row.get(i))
    };
    let Some(Value::Uuid(clinic)) = column("clinic_id") else {
        return;
    };
    let clinic = ClinicId(*clinic);
    *tally
        .rows
        .entry(clinic)
        .or_default()
        .entry(table.name.clone())
        .or_default() += 1;
    if table.name == "audit_head"
        && let (Some(Value::Integer(seq)), Some(Value::Text(hash))) =
            (column("seq"), column("hash"))
    {
        tally.heads.insert(
            clinic,
            AuditTip {
                seq: *seq,
                hash: hash.clone(),
            },
        );
    }
}

fn check_against_manifest(manifest: &Manifest, tally: &Tally) -> Result<()> {
    let mismatch =
        |what: String| BackupError::Damaged(format!("it disagrees with its manifest: {what}"));
    let listed: BTreeMap<ClinicId, _> = manifest.clinics.iter().map(|c| (c.id, c)).collect();
    for id in tally.rows.keys() {
        if !listed.contains_key(id) {
            return Err(mismatch(format!(
                "rows of clinic {id}, which it does not list"
            )));
        }
    }
    for (id, clinic) in listed {
        let empty = BTreeMap::new();
        let found = tally.rows.get(&id).unwrap_or(&empty);
        if found != &clinic.rows {
            return Err(mismatch(format!(
                "clinic {id}: row counts {found:?}, manifest {:?}",
                clinic.rows
            )));
        }
        if tally.heads.get(&id) != clinic.audit_head.as_ref() {
            return Err(mismatch(format!("clinic {id}: the audit tip differs")));
        }
    }
    Ok(())
}
