//! Every row of the database in a backend-neutral form, read from one consistent snapshot and
//! loaded back into an empty database of either backend: what backups and restores are made of.
//!
//! The tables and their column types are read from the migrated schema itself, so a new
//! migration is backed up without anyone remembering to list it here. Each table's rows are
//! read in primary-key order and hashed in a canonical encoding, so two databases (of either
//! backend) that hold the same rows have the same digests.

mod rows;
pub(crate) mod schema;

use crate::error::{Result, StoreError};
use crate::model::ClinicId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

pub(crate) use rows::{DumpDb, applied_migrations, load, occupied, snapshot};
pub(crate) use schema::ordered;

/// The logical type of a column, as the schema parity test names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Uuid,
    Timestamp,
    Date,
    Text,
    Integer,
    Boolean,
    Real,
}

impl ColumnType {
    pub(crate) fn from_logical(name: &str) -> Result<ColumnType> {
        Ok(match name {
            "uuid" => ColumnType::Uuid,
            "timestamp" => ColumnType::Timestamp,
            "date" => ColumnType::Date,
            "text" => ColumnType::Text,
            "integer" => ColumnType::Integer,
            "boolean" => ColumnType::Boolean,
            "real" => ColumnType::Real,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "column type {other} has no backup encoding"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub nullable: bool,
}

/// One table as the migrated schema describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// Tables this one's foreign keys point at: they are loaded first.
    pub references: Vec<String>,
}

/// One stored value. The column's type says how to read it back, so the JSON form is plain.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Uuid(uuid::Uuid),
    Timestamp(jiff::Timestamp),
    Date(jiff::civil::Date),
    Text(String),
    Integer(i64),
    Boolean(bool),
    Real(f64),
}

impl Value {
    /// The canonical JSON form: timestamps with exactly six fractional digits, reals in Rust's
    /// shortest round-trip notation as a string (a JSON number may be re-rounded by a reader).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Uuid(u) => J::String(u.to_string()),
            Value::Timestamp(t) => J::String(format!(
                "{}.{:06}Z",
                t.strftime("%Y-%m-%dT%H:%M:%S"),
                t.subsec_microsecond()
            )),
            Value::Date(d) => J::String(d.to_string()),
            Value::Text(s) => J::String(s.clone()),
            Value::Integer(i) => J::from(*i),
            Value::Boolean(b) => J::Bool(*b),
            Value::Real(r) => J::String(format!("{r:?}")),
        }
    }

    /// Reads a value of `column`'s type from its canonical JSON form, naming the column on error.
    pub fn from_json(column: &Column, json: &serde_json::Value) -> Result<Value> {
        use serde_json::Value as J;
        let bad = |why: &str| {
            StoreError::Corrupt(format!(
                "column {} ({:?}): {why}: {json}",
                column.name, column.ty
            ))
        };
        if json.is_null() {
            return if column.nullable {
                Ok(Value::Null)
            } else {
                Err(bad("null in a NOT NULL column"))
            };
        }
        let text = || json.as_str().ok_or_else(|| bad("expected a string"));
        Ok(match column.ty {
            ColumnType::Uuid => Value::Uuid(text()?.parse().map_err(|_| bad("not a UUID"))?),
            ColumnType::Timestamp => {
                Value::Timestamp(text()?.parse().map_err(|_| bad("not an RFC 3339 time"))?)
            }
            ColumnType::Date => Value::Date(text()?.parse().map_err(|_| bad("not a date"))?),
            ColumnType::Text => Value::Text(text()?.to_string()),
            ColumnType::Integer => {
                Value::Integer(json.as_i64().ok_or_else(|| bad("not an integer"))?)
            }
            ColumnType::Boolean => match json {
                J::Bool(b) => Value::Boolean(*b),
                _ => return Err(bad("not a boolean")),
            },
            ColumnType::Real => Value::Real(text()?.parse().map_err(|_| bad("not a number"))?),
        })
    }
}

/// The canonical line of a row: a JSON array of its values in column order.
pub fn canonical_row(values: &[Value]) -> String {
    serde_json::Value::Array(values.iter().map(Value::to_json).collect()).to_string()
}

/// Row count and content digest of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    pub rows: u64,
    /// SHA-256 over the canonical lines of its rows in primary-key order, each ended by `\n`.
    pub sha256: String,
}

/// What a snapshot holds, counted in the same snapshot before the rows are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// The migrations applied to the database, named as `Store::migration_names` names them.
    pub migrations: Vec<String>,
    /// Each clinic's row count per table (tables with no row for the clinic are left out).
    pub clinics: BTreeMap<ClinicId, ClinicCensus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicCensus {
    pub name: String,
    pub rows: BTreeMap<String, u64>,
    /// The audit chain's recorded tip: event count and hash (absent before the first event).
    pub audit_head: Option<AuditTip>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTip {
    pub seq: i64,
    pub hash: String,
}

/// What a snapshot sends, in this order: the census, then each table (in load order) followed
/// by its rows in batches and its digest, then `End`. A stream that stops without `End` was cut
/// short, and a load refuses it.
#[derive(Debug)]
pub enum DumpChunk {
    Census(Census),
    Table(Table),
    Rows(Vec<Vec<Value>>),
    TableEnd(TableDigest),
    End,
}

/// Backing up and restoring, on either backend.
#[async_trait]
pub trait Dump {
    /// Reads every kapstone table from one read-only snapshot and sends it to `out`, table by
    /// table in load order. Writers carry on meanwhile; the snapshot sees none of their work.
    async fn snapshot(&self, out: mpsc::Sender<DumpChunk>) -> Result<()>;
    /// Tables holding rows, with their counts: what makes a database not empty.
    async fn occupied_tables(&self) -> Result<Vec<(String, u64)>>;
    /// Applies the embedded migrations up to and including `version` only.
    async fn migrate_to(&self, version: i64) -> Result<()>;
    /// Loads the tables and rows `input` sends (the chunks a snapshot sends, census excepted) in
    /// one transaction, then reads every loaded table back and commits only if each table's
    /// count and digest equal what was sent. Returns the digests read back.
    async fn load(&self, input: mpsc::Receiver<DumpChunk>)
    -> Result<BTreeMap<String, TableDigest>>;
}
