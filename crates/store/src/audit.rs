//! The audit hash chain. Each event's hash covers every stored field and the previous event's
//! hash, so changing, removing or reordering any event breaks the chain from that point.

use crate::model::{AuditEvent, AuditEventId, ClinicId};
use sha2::{Digest, Sha256};
use std::fmt;

/// The `prev_hash` of a clinic's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over a canonical JSON array of the event's fields (everything but `hash`).
pub fn event_hash(e: &AuditEvent) -> String {
    let canonical = serde_json::json!([
        "kapstone-audit-v1",
        e.clinic_id,
        e.seq,
        e.id,
        e.occurred_at.to_string(),
        e.actor_kind,
        e.actor_id,
        e.action,
        e.patient_id,
        e.entity,
        e.entity_id,
        e.origin,
        e.detail,
        e.prev_hash,
    ]);
    let mut h = Sha256::new();
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub clinic_id: ClinicId,
    /// The first event that fails, or `None` when the chain's recorded tip is missing or wrong.
    pub event_id: Option<AuditEventId>,
    pub seq: i64,
    pub reason: String,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event_id {
            Some(id) => write!(
                f,
                "audit chain of clinic {} is broken at event {} (seq {}): {}",
                self.clinic_id, id, self.seq, self.reason
            ),
            None => write!(
                f,
                "audit chain of clinic {} is broken after seq {}: {}",
                self.clinic_id, self.seq, self.reason
            ),
        }
    }
}

/// Walks one clinic's chain in sequence order, event by event, so it never holds the whole log.
pub struct ChainWalker {
    clinic_id: ClinicId,
    expected_seq: i64,
    prev_hash: String,
}

impl ChainWalker {
    pub fn new(clinic_id: ClinicId) -> Self {
        ChainWalker {
            clinic_id,
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
        }
    }

    fn broken(&self, e: &AuditEvent, reason: String) -> BrokenLink {
        BrokenLink {
            clinic_id: self.clinic_id,
            event_id: Some(e.id),
            seq: e.seq,
            reason,
        }
    }

    pub fn check(&mut self, e: &AuditEvent) -> Result<(), BrokenLink> {
        if e.seq != self.expected_seq {
            return Err(self.broken(
                e,
                format!(
                    "expected seq {} here; events between are missing or reordered",
                    self.expected_seq
                ),
            ));
        }
        if e.prev_hash != self.prev_hash {
            return Err(self.broken(
                e,
                format!(
                    "its prev_hash does not match the hash of seq {} (that event was changed, or this one was)",
                    e.seq - 1
                ),
            ));
        }
        if event_hash(e) != e.hash {
            return Err(self.broken(
                e,
                "its contents do not match its hash (the event was changed)".into(),
            ));
        }
        self.expected_seq += 1;
        self.prev_hash = e.hash.clone();
        Ok(())
    }

    /// Compare the end of the walk with the chain's recorded tip (`audit_head`).
    pub fn finish(&self, head: Option<(i64, String)>) -> Result<i64, BrokenLink> {
        let last = self.expected_seq - 1;
        let tip_ok = match &head {
            Some((seq, hash)) => *seq == last && *hash == self.prev_hash,
            None => last == 0,
        };
        if tip_ok {
            Ok(last)
        } else {
            let recorded = head.map_or("no tip".to_string(), |(s, _)| format!("tip seq {s}"));
            Err(BrokenLink {
                clinic_id: self.clinic_id,
                event_id: None,
                seq: last,
                reason: format!(
                    "the chain ends at seq {last} but the recorded {recorded} differs (events were removed from the end, or the tip was altered)"
                ),
            })
        }
    }
}

/// The outcome of verifying every clinic's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub clinics: usize,
    pub events: i64,
    pub broken: Option<BrokenLink>,
}
