//! Reading a snapshot's rows and loading them back, written once for both sqlx drivers.

use super::{AuditTip, Census, ClinicCensus, ColumnType, DumpChunk, Table, TableDigest, Value};
use crate::error::{Result, StoreError};
use crate::model::ClinicId;
use crate::types::Ts;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::collections::BTreeMap;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Rows per batch sent from a snapshot, and the most bound values in one INSERT (under
/// SQLite's 32,766 and PostgreSQL's 65,535).
const BATCH_ROWS: usize = 500;
const MAX_BINDS: usize = 20_000;

/// What differs between the drivers: how a value is read and bound, and how text sorts.
pub trait DumpDb: Database {
    /// Appended to a text column in ORDER BY so both backends sort bytes the same way.
    const BYTE_ORDER: &'static str;
    /// Whether to refresh planner statistics after loading a table, so that foreign-key checks
    /// of the tables loaded after it use its index rather than a scan planned for an empty
    /// table.
    const ANALYZE_AFTER_LOAD: bool;
    /// Counts the migrations table (0 or 1) in the current schema.
    const HAS_MIGRATIONS: &'static str;
    fn decode(row: &Self::Row, index: usize, ty: ColumnType) -> Result<Value>;
    fn bind<'q>(
        query: sqlx::query::Query<'q, Self, <Self as Database>::Arguments>,
        value: Value,
        ty: ColumnType,
    ) -> sqlx::query::Query<'q, Self, <Self as Database>::Arguments>;
}

fn decode_value<DB: Database>(row: &DB::Row, i: usize, ty: ColumnType) -> Result<Value>
where
    usize: ColumnIndex<DB::Row>,
    for<'r> Uuid: Decode<'r, DB> + Type<DB>,
    for<'r> Ts: Decode<'r, DB> + Type<DB>,
    for<'r> jiff_sqlx::Date: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
{
    fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    Ok(match ty {
        ColumnType::Uuid => or_null(row.try_get::<Option<Uuid>, _>(i)?, Value::Uuid),
        ColumnType::Timestamp => {
            or_null(row.try_get::<Option<Ts>, _>(i)?, |t| Value::Timestamp(t.0))
        }
        ColumnType::Date => or_null(row.try_get::<Option<jiff_sqlx::Date>, _>(i)?, |d| {
            Value::Date(d.to_jiff())
        }),
        ColumnType::Text => or_null(row.try_get::<Option<String>, _>(i)?, Value::Text),
        ColumnType::Integer => or_null(row.try_get::<Option<i64>, _>(i)?, Value::Integer),
        ColumnType::Boolean => or_null(row.try_get::<Option<bool>, _>(i)?, Value::Boolean),
        ColumnType::Real => or_null(row.try_get::<Option<f64>, _>(i)?, Value::Real),
    })
}

fn bind_value<'q, DB: Database>(
    query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments>,
    value: Value,
    ty: ColumnType,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments>
where
    Option<Uuid>: Encode<'q, DB> + Type<DB>,
    Option<Ts>: Encode<'q, DB> + Type<DB>,
    Option<jiff_sqlx::Date>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<f64>: Encode<'q, DB> + Type<DB>,
{
    use jiff_sqlx::ToSqlx;
    // Every value is bound as an Option of its column's type, so that a NULL still carries the
    // type PostgreSQL needs.
    match (value, ty) {
        (Value::Uuid(v), _) => query.bind(Some(v)),
        (Value::Timestamp(v), _) => query.bind(Some(Ts(v))),
        (Value::Date(v), _) => query.bind(Some(v.to_sqlx())),
        (Value::Text(v), _) => query.bind(Some(v)),
        (Value::Integer(v), _) => query.bind(Some(v)),
        (Value::Boolean(v), _) => query.bind(Some(v)),
        (Value::Real(v), _) => query.bind(Some(v)),
        (Value::Null, ColumnType::Uuid) => query.bind(None::<Uuid>),
        (Value::Null, ColumnType::Timestamp) => query.bind(None::<Ts>),
        (Value::Null, ColumnType::Date) => query.bind(None::<jiff_sqlx::Date>),
        (Value::Null, ColumnType::Text) => query.bind(None::<String>),
        (Value::Null, ColumnType::Integer) => query.bind(None::<i64>),
        (Value::Null, ColumnType::Boolean) => query.bind(None::<bool>),
        (Value::Null, ColumnType::Real) => query.bind(None::<f64>),
    }
}

impl DumpDb for sqlx::Sqlite {
    const BYTE_ORDER: &'static str = "";
    const ANALYZE_AFTER_LOAD: bool = false;
    const HAS_MIGRATIONS: &'static str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
    fn decode(row: &Self::Row, index: usize, ty: ColumnType) -> Result<Value> {
        decode_value::<Self>(row, index, ty)
    }
    fn bind<'q>(
        query: sqlx::query::Query<'q, Self, <Self as Database>::Arguments>,
        value: Value,
        ty: ColumnType,
    ) -> sqlx::query::Query<'q, Self, <Self as Database>::Arguments> {
        bind_value::<Self>(query, value, ty)
    }
}

impl DumpDb for sqlx::Postgres {
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    const ANALYZE_AFTER_LOAD: bool = true;
    const HAS_MIGRATIONS: &'static str = "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'";
    fn decode(row: &Self::Row, index: usize, ty: ColumnType) -> Result<Value> {
        decode_value::<Self>(row, index, ty)
    }
    fn bind<'q>(
        query: sqlx::query::Query<'q, Self, <Self as Database>::Arguments>,
        value: Value,
        ty: ColumnType,
    ) -> sqlx::query::Query<'q, Self, <Self as Database>::Arguments> {
        bind_value::<Self>(query, value, ty)
    }
}

fn select_sql<DB: DumpDb>(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let order: Vec<String> = table
        .primary_key
        .iter()
        .map(|k| {
            let text = table
                .columns
                .iter()
                .any(|c| &c.name == k && c.ty == ColumnType::Text);
            format!("{k}{}", if text { DB::BYTE_ORDER } else { "" })
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        order.join(", ")
    )
}

/// Hashes a table's canonical rows as they stream past.
struct Digester {
    rows: u64,
    hash: Sha256,
}

impl Digester {
    fn new() -> Self {
        Digester {
            rows: 0,
            hash: Sha256::new(),
        }
    }
    fn add(&mut self, values: &[Value]) {
        self.rows += 1;
        self.hash.update(super::canonical_row(values).as_bytes());
        self.hash.update(b"\n");
    }
    fn finish(self) -> TableDigest {
        TableDigest {
            rows: self.rows,
            sha256: hex::encode(self.hash.finalize()),
        }
    }
}

/// Reads `table`'s rows in primary-key order, sends them to `out` (if any) batch by batch, and
/// returns its digest.
async fn read_table<'c, DB, E>(
    conn: E,
    table: &Table,
    out: Option<&mpsc::Sender<DumpChunk>>,
) -> Result<TableDigest>
where
    DB: DumpDb,
    E: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let sql = select_sql::<DB>(table);
    let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(conn);
    let mut digest = Digester::new();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = stream.try_next().await? {
        let values = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| DB::decode(&row, i, c.ty))
            .collect::<Result<Vec<_>>>()?;
        digest.add(&values);
        let Some(out) = out else { continue };
        batch.push(values);
        if batch.len() == BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            out.send(DumpChunk::Rows(full))
                .await
                .map_err(|_| closed())?;
        }
    }
    if let (Some(out), false) = (out, batch.is_empty()) {
        out.send(DumpChunk::Rows(batch))
            .await
            .map_err(|_| closed())?;
    }
    Ok(digest.finish())
}

fn closed() -> StoreError {
    StoreError::Corrupt("the backup's reader stopped before the snapshot was complete".into())
}

/// Reads `tables` (in load order) from one transaction opened by `begin`, which must give a
/// snapshot that stays fixed for the whole transaction.
pub(crate) async fn snapshot<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    tables: Vec<Table>,
    out: mpsc::Sender<DumpChunk>,
) -> Result<()>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> Uuid: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    let mut tx = pool.begin_with(begin).await?;
    let mut census = Census {
        migrations: applied_migrations::<DB>(&mut tx).await?,
        ..Census::default()
    };
    let clinics = sqlx::query("SELECT clinic_id, name FROM clinic")
        .fetch_all(&mut *tx)
        .await?;
    for c in &clinics {
        census.clinics.insert(
            ClinicId(c.try_get(0)?),
            ClinicCensus {
                name: c.try_get(1)?,
                ..ClinicCensus::default()
            },
        );
    }
    for table in &tables {
        if !table.columns.iter().any(|c| c.name == "clinic_id") {
            return Err(StoreError::Corrupt(format!(
                "table {} has no clinic_id, so its rows cannot be counted per clinic",
                table.name
            )));
        }
        let sql = format!(
            "SELECT clinic_id, COUNT(*) FROM {} GROUP BY clinic_id",
            table.name
        );
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await?
        {
            let clinic = ClinicId(r.try_get(0)?);
            let count: i64 = r.try_get(1)?;
            census
                .clinics
                .entry(clinic)
                .or_default()
                .rows
                .insert(table.name.clone(), count as u64);
        }
    }
    for h in sqlx::query("SELECT clinic_id, seq, hash FROM audit_head")
        .fetch_all(&mut *tx)
        .await?
    {
        census
            .clinics
            .entry(ClinicId(h.try_get(0)?))
            .or_default()
            .audit_head = Some(AuditTip {
            seq: h.try_get(1)?,
            hash: h.try_get(2)?,
        });
    }
    out.send(DumpChunk::Census(census))
        .await
        .map_err(|_| closed())?;
    for table in tables {
        out.send(DumpChunk::Table(table.clone()))
            .await
            .map_err(|_| closed())?;
        let digest = read_table(&mut *tx, &table, Some(&out)).await?;
        out.send(DumpChunk::TableEnd(digest))
            .await
            .map_err(|_| closed())?;
    }
    tx.commit().await?;
    out.send(DumpChunk::End).await.map_err(|_| closed())?;
    Ok(())
}

/// The migrations applied, named as `Store::migration_names` names them; none when the database was never migrated.
pub(crate) async fn applied_migrations<DB>(conn: &mut DB::Connection) -> Result<Vec<String>>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    let present: i64 = sqlx::query(DB::HAS_MIGRATIONS)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if present == 0 {
        return Ok(vec![]);
    }
    let rows = sqlx::query(
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let version: i64 = r.try_get(0)?;
            let description: String = r.try_get(1)?;
            Ok(crate::schema::migration_name(version, &description))
        })
        .collect()
}

/// Every table of the description that holds rows, with its count.
pub(crate) async fn occupied<DB>(
    pool: &sqlx::Pool<DB>,
    description: &[String],
) -> Result<Vec<(String, u64)>>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    let mut names: Vec<&str> = description
        .iter()
        .filter_map(|l| l.split(' ').next())
        .collect();
    names.dedup();
    let mut conn = pool.acquire().await?;
    let mut found = Vec::new();
    for name in names {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let count: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if count > 0 {
            found.push((name.to_string(), count as u64));
        }
    }
    Ok(found)
}

fn out_of_order(what: &str) -> StoreError {
    StoreError::Corrupt(format!("backup stream out of order: {what}"))
}

/// Loads what `input` sends in one transaction opened by `begin`, checks every table read back
/// against the digest sent after its rows, and commits only if all agree. `known` are the
/// target's own tables: a table the target does not have, or one whose columns differ, is
/// refused before anything is written.
pub(crate) async fn load<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    known: Vec<Table>,
    mut input: mpsc::Receiver<DumpChunk>,
) -> Result<BTreeMap<String, TableDigest>>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let mut tx = pool.begin_with(begin).await?;
    let mut loaded: BTreeMap<String, TableDigest> = BTreeMap::new();
    let mut current: Option<(Table, u64)> = None;
    let mut ended = false;
    while let Some(chunk) = input.recv().await {
        if ended {
            return Err(out_of_order("more after the end"));
        }
        match chunk {
            DumpChunk::Census(_) => {}
            DumpChunk::End => ended = true,
            DumpChunk::Table(table) => {
                if current.is_some() {
                    return Err(out_of_order("a table began before the last one ended"));
                }
                let Some(mine) = known.iter().find(|k| k.name == table.name) else {
                    return Err(StoreError::Corrupt(format!(
                        "the backup holds table {}, which this database does not have",
                        table.name
                    )));
                };
                if mine.columns != table.columns {
                    return Err(StoreError::Corrupt(format!(
                        "table {}: the backup's columns differ from this database's",
                        table.name
                    )));
                }
                if let Some(missing) = table.references.iter().find(|r| !loaded.contains_key(*r)) {
                    return Err(out_of_order(&format!(
                        "{} came before {missing}, which it references",
                        table.name
                    )));
                }
                current = Some((table, 0));
            }
            DumpChunk::Rows(rows) => {
                let Some((table, count)) = current.as_mut() else {
                    return Err(out_of_order("rows outside a table"));
                };
                *count += rows.len() as u64;
                insert_rows(&mut tx, table, rows).await?;
            }
            DumpChunk::TableEnd(expected) => {
                let Some((table, count)) = current.take() else {
                    return Err(out_of_order("a table ended that had not begun"));
                };
                if DB::ANALYZE_AFTER_LOAD {
                    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", table.name)))
                        .execute(&mut *tx)
                        .await?;
                }
                let found = read_table(&mut *tx, &table, None).await?;
                if found != expected || count != expected.rows {
                    return Err(StoreError::Corrupt(format!(
                        "table {}: {} rows sent and {} read back (digest {}), but the backup says {} rows (digest {})",
                        table.name, count, found.rows, found.sha256, expected.rows, expected.sha256
                    )));
                }
                loaded.insert(table.name.clone(), found);
            }
        }
    }
    if let Some((table, _)) = current {
        return Err(StoreError::Corrupt(format!(
            "the backup ends inside table {}",
            table.name
        )));
    }
    if !ended {
        return Err(StoreError::Corrupt(
            "the backup stops before its end (it was cut short or could not be read)".into(),
        ));
    }
    tx.commit().await?;
    Ok(loaded)
}

async fn insert_rows<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    table: &Table,
    rows: Vec<Vec<Value>>,
) -> Result<()>
where
    DB: DumpDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
{
    let width = table.columns.len();
    let per_statement = (MAX_BINDS / width).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            table.name,
            table
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for r in 0..chunk.len() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", r * width + c + 1));
            }
            sql.push(')');
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            if row.len() != width {
                return Err(StoreError::Corrupt(format!(
                    "table {}: a row has {} values for {width} columns",
                    table.name,
                    row.len()
                )));
            }
            for (value, column) in row.into_iter().zip(&table.columns) {
                query = DB::bind(query, value, column.ty);
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
