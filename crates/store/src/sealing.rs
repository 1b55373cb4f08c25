//! The database's side of encryption at rest: which keys its sealed values need (checked at
//! start-up, so a missing or wrong key stops kapstone before it serves), and re-sealing every
//! value under the current key (rotation, and values stored before encryption existed). The
//! sealing itself is `kapstone_keys`; the store's write and read paths call it per field.

use crate::dump::DumpDb;
use crate::error::{Result, StoreError};
use kapstone_keys::{Field, KeyError, Keyring, PREFIX, SEALED, key_id};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What the sealed columns hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCensus {
    /// Values per key id.
    pub sealed: BTreeMap<String, u64>,
    /// Values stored unencrypted (written before encryption at rest), per `table.column`.
    pub plaintext: BTreeMap<String, u64>,
}

/// What a re-seal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resealed {
    pub values: u64,
    /// Of those, values that were stored unencrypted.
    pub were_plaintext: u64,
}

/// Backing up, restoring, and the keys the database needs.
#[async_trait::async_trait]
pub trait Sealing {
    /// Counts the sealed values per key and the unencrypted ones.
    async fn key_census(&self) -> Result<KeyCensus>;
    /// Fails, naming the key, when a sealed value needs a key the keyring lacks, or one that
    /// does not open it (a wrong key with the right id).
    async fn check_keys(&self) -> Result<KeyCensus>;
    /// Re-seals every value not sealed by the keyring's sealing key (and seals unencrypted
    /// ones), a batch per transaction, while the server keeps working.
    async fn reseal(&self) -> Result<Resealed>;
    /// The id of the key new values are sealed with, if a key is loaded.
    fn sealing_key(&self) -> Option<String>;
}

fn name(f: Field) -> String {
    format!("{}.{}", f.table, f.column)
}

pub(crate) async fn key_census<DB>(pool: &sqlx::Pool<DB>) -> Result<KeyCensus>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    let mut census = KeyCensus::default();
    let mut conn = pool.acquire().await?;
    for &f in SEALED {
        // The head of each value names its key; 45 characters hold the prefix and any id.
        let sql = format!(
            "SELECT substr({c}, 1, 45), COUNT(*) FROM {t} WHERE {c} IS NOT NULL GROUP BY substr({c}, 1, 45)",
            t = f.table,
            c = f.column
        );
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?
        {
            let head: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            match key_id(&head) {
                Some(id) => *census.sealed.entry(id.to_string()).or_default() += n as u64,
                None => *census.plaintext.entry(name(f)).or_default() += n as u64,
            }
        }
    }
    Ok(census)
}

pub(crate) async fn check_keys<DB>(pool: &sqlx::Pool<DB>, keys: &Keyring) -> Result<KeyCensus>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Uuid: Decode<'r, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB>,
{
    let census = key_census(pool).await?;
    if census.sealed.is_empty() {
        return Ok(census);
    }
    if !keys.is_loaded() {
        return Err(KeyError::NoKey.into());
    }
    let held = keys.ids();
    for id in census.sealed.keys() {
        if !held.contains(id) {
            return Err(KeyError::UnknownKey(id.clone()).into());
        }
        // One value per key proves the key is the one that sealed it.
        let pattern = format!("{PREFIX}{id}:%");
        for &f in SEALED {
            let sql = format!(
                "SELECT clinic_id, {c} FROM {t} WHERE {c} LIKE $1 LIMIT 1",
                t = f.table,
                c = f.column
            );
            if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(pattern.clone())
                .fetch_optional(pool)
                .await?
            {
                let clinic: Uuid = r.try_get(0)?;
                let value: String = r.try_get(1)?;
                keys.open(f, &clinic, &value)?;
                break;
            }
        }
    }
    Ok(census)
}

pub(crate) async fn reseal<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    keys: &Keyring,
    description: &[String],
) -> Result<Resealed>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Uuid: Decode<'r, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB>,
    for<'q> Uuid: Encode<'q, DB>,
{
    const BATCH: i64 = 500;
    let sealing = keys.sealing_id().ok_or(KeyError::NoKey)?;
    let tables = crate::dump::schema::tables(description)?;
    let mut done = Resealed::default();
    for &f in SEALED {
        let table = tables
            .iter()
            .find(|t| t.name == f.table)
            .ok_or_else(|| StoreError::Corrupt(format!("no table {}", f.table)))?;
        // Every sealed table keys on UUIDs: (clinic_id, id) or (clinic_id, <owner>_id).
        let key: Vec<&str> = table.primary_key.iter().map(String::as_str).collect();
        if key.first() != Some(&"clinic_id") {
            return Err(StoreError::Corrupt(format!(
                "table {}: its key does not start with clinic_id",
                f.table
            )));
        }
        let current = format!("{PREFIX}{sealing}:%");
        let select = format!(
            "SELECT {k}, {c} FROM {t} WHERE {c} IS NOT NULL AND {c} NOT LIKE $1 ORDER BY {k} LIMIT {BATCH}",
            k = key.join(", "),
            c = f.column,
            t = f.table
        );
        let matches: Vec<String> = key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = ${}", i + 3))
            .collect();
        // Compare-and-set: a value changed since it was read is left for the next pass.
        let update = format!(
            "UPDATE {t} SET {c} = $1 WHERE {c} = $2 AND {m}",
            t = f.table,
            c = f.column,
            m = matches.join(" AND ")
        );
        loop {
            let mut tx = pool.begin_with(begin).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(current.clone())
                .fetch_all(&mut *tx)
                .await?;
            if rows.is_empty() {
                tx.commit().await?;
                break;
            }
            for r in &rows {
                let ids: Vec<Uuid> = (0..key.len())
                    .map(|i| r.try_get::<Uuid, _>(i))
                    .collect::<std::result::Result<_, _>>()?;
                let clinic = ids[0];
                let stored: String = r.try_get(key.len())?;
                let plain = if key_id(&stored).is_some() {
                    keys.open(f, &clinic, &stored)?
                } else {
                    done.were_plaintext += 1;
                    stored.clone()
                };
                let mut q = sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(keys.seal(f, &clinic, &plain)?)
                    .bind(stored);
                for id in ids {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
                done.values += 1;
            }
            tx.commit().await?;
        }
    }
    Ok(done)
}
