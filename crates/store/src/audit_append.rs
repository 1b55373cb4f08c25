//! Appending one event to a clinic's audit chain inside the caller's transaction, in plain Rust
//! for either backend: the store's macro and the capability modules beside it (staff
//! lifecycle, …) all append through here.

use crate::audit::{GENESIS, event_hash};
use crate::error::Result;
use crate::model::{AuditContext, AuditEvent, AuditEventId, PatientId, UserId};
use crate::types::Ts;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

/// One audit entry.
pub(crate) struct Entry<'a> {
    pub action: &'a str,
    pub patient: Option<PatientId>,
    pub entity: &'a str,
    pub entity_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// An event about a staff account, which concerns no patient.
    pub(crate) fn about_user(action: &'a str, user: UserId) -> Entry<'a> {
        Entry {
            action,
            patient: None,
            entity: "user",
            entity_id: Some(user.0),
            detail: serde_json::json!({}),
        }
    }
}

/// Appends the entry. The upsert on the chain's tip row takes the write lock first, so
/// concurrent appends queue rather than fork the chain.
pub(crate) async fn append<DB>(
    conn: &mut DB::Connection,
    ctx: &AuditContext,
    entry: Entry<'_>,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'t> Uuid: Encode<'t, DB> + Type<DB>,
    for<'t> Option<Uuid>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Ts: Encode<'t, DB> + Type<DB>,
    (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    // The clinic's first event starts the chain at the genesis hash; every later one takes the
    // next number. One statement either way: each is a round trip.
    let (seq, prev_hash): (i64, String) = sqlx::query_as(
        "INSERT INTO audit_head (clinic_id, seq, hash) VALUES ($1, 1, $2) \
         ON CONFLICT (clinic_id) DO UPDATE SET seq = audit_head.seq + 1 RETURNING seq, hash",
    )
    .bind(ctx.clinic_id.0)
    .bind(GENESIS)
    .fetch_one(&mut *conn)
    .await?;
    let mut event = AuditEvent {
        id: AuditEventId::new(),
        clinic_id: ctx.clinic_id,
        seq,
        occurred_at: crate::model::now(),
        actor_kind: ctx.actor.kind().to_string(),
        actor_id: ctx.actor.id(),
        action: entry.action.to_string(),
        patient_id: entry.patient,
        entity: entry.entity.to_string(),
        entity_id: entry.entity_id,
        origin: ctx.origin.clone(),
        detail: entry.detail.to_string(),
        prev_hash,
        hash: String::new(),
    };
    event.hash = event_hash(&event);
    sqlx::query(
        "INSERT INTO audit_event (clinic_id, id, seq, occurred_at, actor_kind, actor_id, \
         action, patient_id, entity, entity_id, origin, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(event.clinic_id.0)
    .bind(event.id.0)
    .bind(event.seq)
    .bind(Ts(event.occurred_at))
    .bind(event.actor_kind.as_str())
    .bind(event.actor_id)
    .bind(event.action.as_str())
    .bind(event.patient_id.map(|p| p.0))
    .bind(event.entity.as_str())
    .bind(event.entity_id)
    .bind(event.origin.as_str())
    .bind(event.detail.as_str())
    .bind(event.prev_hash.as_str())
    .bind(event.hash.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $2 WHERE clinic_id = $1")
        .bind(ctx.clinic_id.0)
        .bind(event.hash.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
