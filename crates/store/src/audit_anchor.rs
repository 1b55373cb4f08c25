//! Anchoring the audit chains outside the database. A chain proves that no event inside it was
//! changed, but its tip (`audit_head`) lives in the same database: whoever can delete the last
//! events can set the tip back to match, or put back an older copy of the whole database. An
//! anchor is a line written somewhere else — each clinic's event count and head hash at a
//! moment — and a chain that no longer reaches an anchored event, or holds a different event at
//! that number, was cut or rolled back since.
//!
//! The anchor file is JSON lines, appended to and never rewritten:
//! `{"anchored_at":"…","clinic":"…","seq":N,"hash":"…"}`.

use crate::dump::AuditTip;
use crate::error::Result;
use crate::model::ClinicId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One clinic's head at one moment, as a line of the anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub anchored_at: jiff::Timestamp,
    pub clinic: ClinicId,
    pub seq: i64,
    pub hash: String,
}

/// The database's side: the heads to anchor, and the hash an anchored event has now.
#[async_trait]
pub trait AuditAnchoring {
    /// Every clinic's recorded head (clinics with no event yet are left out).
    async fn audit_heads(&self) -> Result<BTreeMap<ClinicId, AuditTip>>;
    /// The hash of the clinic's event number `seq`, if the chain holds it.
    async fn audit_hash_at(&self, clinic: ClinicId, seq: i64) -> Result<Option<String>>;
}

/// What checking a database against its anchors found, per clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorFinding {
    /// The chain still holds the latest anchored event, unchanged.
    Holds { clinic: ClinicId, seq: i64 },
    /// The chain ends before the anchored event: cut off, or an older copy put back.
    Missing {
        clinic: ClinicId,
        anchored: Anchor,
        chain_ends_at: i64,
    },
    /// The chain holds a different event at the anchored number: rewritten from there back.
    Rewritten { clinic: ClinicId, anchored: Anchor },
}

impl AnchorFinding {
    pub fn is_problem(&self) -> bool {
        !matches!(self, AnchorFinding::Holds { .. })
    }
}

impl std::fmt::Display for AnchorFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnchorFinding::Holds { clinic, seq } => write!(
                f,
                "clinic {clinic}: the chain still holds anchored event {seq} unchanged"
            ),
            AnchorFinding::Missing {
                clinic,
                anchored,
                chain_ends_at,
            } => write!(
                f,
                "clinic {clinic}: events {} to {} are missing — event {} was anchored at {} but the chain now ends at {chain_ends_at} (events were cut from the end, or an older copy of the database was put back)",
                chain_ends_at + 1,
                anchored.seq,
                anchored.seq,
                anchored.anchored_at
            ),
            AnchorFinding::Rewritten { clinic, anchored } => write!(
                f,
                "clinic {clinic}: event {} is not the one anchored at {} (hash {} then): the chain was rewritten from there back",
                anchored.seq,
                anchored.anchored_at,
                &anchored.hash[..anchored.hash.len().min(12)]
            ),
        }
    }
}

/// Reads an anchor file's lines; a line that does not parse is an error naming its number (a
/// damaged anchor must not pass as "nothing to check").
pub fn parse_anchors(text: &str) -> std::result::Result<Vec<Anchor>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("anchor line {}: {e}", i + 1)))
        .collect()
}

/// The anchor lines for the heads now, to append.
pub fn anchor_lines(heads: &BTreeMap<ClinicId, AuditTip>, at: jiff::Timestamp) -> String {
    heads
        .iter()
        .map(|(clinic, tip)| {
            let line = Anchor {
                anchored_at: at,
                clinic: *clinic,
                seq: tip.seq,
                hash: tip.hash.clone(),
            };
            format!("{}\n", serde_json::json!(line))
        })
        .collect()
}

/// Checks each clinic's latest anchor against the database. The chain itself must have been
/// verified first: then an anchored event found unchanged vouches for every event before it.
pub async fn check_anchors(
    store: &(dyn AuditAnchoring + Sync),
    anchors: &[Anchor],
) -> Result<Vec<AnchorFinding>> {
    let mut latest: BTreeMap<ClinicId, &Anchor> = BTreeMap::new();
    for a in anchors {
        let e = latest.entry(a.clinic).or_insert(a);
        if a.seq > e.seq {
            *e = a;
        }
    }
    let heads = store.audit_heads().await?;
    let mut findings = Vec::new();
    for (clinic, anchored) in latest {
        let finding = match store.audit_hash_at(clinic, anchored.seq).await? {
            Some(h) if h == anchored.hash => AnchorFinding::Holds {
                clinic,
                seq: anchored.seq,
            },
            Some(_) => AnchorFinding::Rewritten {
                clinic,
                anchored: anchored.clone(),
            },
            None => AnchorFinding::Missing {
                clinic,
                anchored: anchored.clone(),
                chain_ends_at: heads.get(&clinic).map_or(0, |t| t.seq),
            },
        };
        findings.push(finding);
    }
    Ok(findings)
}

pub(crate) async fn audit_heads<DB>(pool: &sqlx::Pool<DB>) -> Result<BTreeMap<ClinicId, AuditTip>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    (Uuid, i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let rows: Vec<(Uuid, i64, String)> =
        sqlx::query_as("SELECT clinic_id, seq, hash FROM audit_head WHERE seq > 0")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(c, seq, hash)| (ClinicId(c), AuditTip { seq, hash }))
        .collect())
}

pub(crate) async fn audit_hash_at<DB>(
    pool: &sqlx::Pool<DB>,
    clinic: ClinicId,
    seq: i64,
) -> Result<Option<String>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<(String,)> =
        sqlx::query_as("SELECT hash FROM audit_event WHERE clinic_id = $1 AND seq = $2")
            .bind(clinic.0)
            .bind(seq)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(h,)| h))
}
