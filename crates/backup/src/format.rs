//! The backup file: gzip-compressed JSON lines, encrypted with age unless the operator said
//! otherwise. Line one is the manifest; then each table as a header line, one line per row (a
//! JSON array in column order) and a line with its row count and digest; then an end line.
//! Nothing in it depends on the backend it came from.

use jiff::Timestamp;
use kapstone_store::dump::{AuditTip, Table, TableDigest};
use kapstone_store::model::ClinicId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Names the file's kind in its manifest.
pub const FORMAT: &str = "kapstone-backup";
/// Raised when the layout changes in a way an older reader would misread.
pub const FORMAT_VERSION: u32 = 1;

/// What the backup holds, written before any row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub kapstone_version: String,
    pub taken_at: Timestamp,
    pub source: Source,
    /// The source database's applied migrations, in order: its schema level.
    pub migrations: Vec<String>,
    pub clinics: Vec<ClinicManifest>,
}

/// Where the backup was taken: the backend and the database URL without its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub backend: String,
    pub database: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicManifest {
    pub id: ClinicId,
    pub name: String,
    /// Rows per table belonging to the clinic (tables without any are left out).
    pub rows: BTreeMap<String, u64>,
    /// The audit chain's tip at the moment of the snapshot.
    pub audit_head: Option<AuditTip>,
}

impl Manifest {
    /// The schema version the rows fit, e.g. 6 for `0006_course_series`.
    pub fn migration_level(&self) -> Option<i64> {
        self.migrations.last().and_then(|m| migration_version(m))
    }
}

/// The number before the first `_` of a migration name.
pub fn migration_version(name: &str) -> Option<i64> {
    name.split('_').next()?.parse().ok()
}

/// Every line after the manifest that is not a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marker {
    Table(Table),
    TableEnd(TableDigest),
    End { tables: usize },
}

/// The first bytes of every age file, and of every gzip stream.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/";
pub const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
