//! The SQLite store: one file, WAL journal, writes serialised on one connection by
//! `BEGIN IMMEDIATE`.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The one connection that writes. SQLite takes one writer at a time anyway; queueing
    /// writers here, in order, replaces its busy handler's sleep-and-retry, which under many
    /// concurrent writers wasted most of each wait (see docs/performance.md, "Load").
    writer: sqlx::SqlitePool,
    /// Seals and opens the encrypted fields; without keys, touching one is an error.
    keys: std::sync::Arc<kapstone_keys::Keyring>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`).
    pub async fn connect(url: &str) -> crate::error::Result<SqliteStore> {
        Self::connect_with_lock_wait(url, crate::LOCK_WAIT).await
    }

    /// As `connect`, waiting at most `lock_wait` for another writer's lock before a write
    /// fails as `StoreError::Busy` (tests shorten it).
    pub async fn connect_with_lock_wait(
        url: &str,
        lock_wait: Duration,
    ) -> crate::error::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(lock_wait);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        // Waiting for the writer is waiting for a lock: it gives up as `Busy` after as long.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(lock_wait)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            writer,
            keys: std::sync::Arc::new(kapstone_keys::Keyring::none()),
        })
    }

    /// Waits for every connection to close, so the database files can be removed.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// The store sealing and opening the encrypted fields with `keys`.
    pub fn with_keys(mut self, keys: std::sync::Arc<kapstone_keys::Keyring>) -> Self {
        self.keys = keys;
        self
    }

    /// Where every write transaction runs.
    pub(crate) fn writer(&self) -> &sqlx::SqlitePool {
        &self.writer
    }

    /// The pool, for tests that must reach under the store (tampering with the audit log).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// Nothing to do: SQLite checks a foreign key through the parent's primary key or unique
    /// index, never a plan chosen from statistics.
    pub(crate) async fn refresh_planner_statistics(
        _conn: &mut sqlx::SqliteConnection,
    ) -> crate::error::Result<()> {
        Ok(())
    }
}

crate::backend::impl_store!(
    SqliteStore,
    sqlx::Sqlite,
    "BEGIN IMMEDIATE",
    // Fields joined by the unit separator (31), points by the record separator (30): neither can
    // occur in ids, vocabulary or JSON flags, and the text parses far faster than JSON rows.
    points: "SELECT group_concat(lower(hex(id)) || char(31) || COALESCE(lower(hex(course_id)), '') || char(31) \
             || instrument || char(31) || time_point || char(31) || complete || char(31) || COALESCE(total, '') \
             || char(31) || COALESCE(severity, '') || char(31) || flags || char(31) || administered_at, char(30)) \
             FROM (SELECT * FROM assessment WHERE clinic_id = $1 AND patient_id = $2 \
             ORDER BY administered_at DESC, id DESC LIMIT $3)",
    encounters: "SELECT group_concat(lower(hex(id)) || char(31) || lower(hex(course_id)) || char(31) || kind \
                 || char(31) || status || char(31) || sequence || char(31) || COALESCE(planned_for, '') \
                 || char(31) || COALESCE(occurred_at, ''), char(30)) \
                 FROM encounter WHERE clinic_id = $1 AND patient_id = $2"
);
crate::backend_access::impl_access!(SqliteStore);
crate::backend_import::impl_import!(SqliteStore, sqlx::Sqlite);
crate::backend_record::impl_record!(SqliteStore);
crate::backend_outcomes::impl_outcomes!(
    SqliteStore,
    // Whole-table scans (NOT INDEXED): through the (clinic, id) index each row costs a second
    // search, and the report reads every row of the clinic. Fields joined by U+001F, records by
    // U+001E; a chunk of series, whose points already use those, as three lists (ids, scores,
    // doses) separated by U+001C: concatenating each course's long texts costs SQLite more.
    patients: "SELECT group_concat(hex(id) || char(31) || sex, char(30)) FROM patient NOT INDEXED WHERE clinic_id = $1",
    courses: "SELECT group_concat(hex(id) || char(31) || hex(patient_id) || char(31) || indication || char(31) \
              || COALESCE(planned_route, ''), char(30)) FROM treatment_course NOT INDEXED WHERE clinic_id = $1",
    series: "SELECT group_concat(hex(course_id), char(28)), group_concat(scores, char(28)), group_concat(doses, char(28)) \
             FROM (SELECT course_id, scores, doses FROM course_series WHERE clinic_id = $1 AND course_id > $2 \
             ORDER BY course_id LIMIT $3)"
);

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn migration_names(&self) -> Vec<String> {
        crate::schema::migration_names(&MIGRATOR)
    }

    async fn applied_migrations(&self) -> Result<Vec<String>> {
        crate::dump::applied_migrations::<sqlx::Sqlite>(&mut *self.pool.acquire().await?).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn schema_description(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        for t in &tables {
            let cols = sqlx::query(
                "SELECT cid, name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
            )
            .bind(t)
            .fetch_all(&self.pool)
            .await?;
            let mut pk: Vec<(i64, String)> = Vec::new();
            for c in &cols {
                let name: String = c.try_get("name")?;
                let ty: String = c.try_get("type")?;
                let notnull: bool = c.try_get::<i64, _>("notnull")? != 0;
                let p: i64 = c.try_get("pk")?;
                if p > 0 {
                    pk.push((p, name.clone()));
                }
                let position: i64 = c.try_get::<i64, _>("cid")? + 1;
                out.push(crate::schema::column_line(
                    t,
                    position,
                    &name,
                    &crate::schema::sqlite_type(&ty),
                    !notnull,
                ));
            }
            pk.sort();
            out.push(format!(
                "{t} primary key ({})",
                pk.into_iter()
                    .map(|(_, n)| n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let indexes = sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
                .bind(t)
                .fetch_all(&self.pool)
                .await?;
            for ix in &indexes {
                let name: String = ix.try_get("name")?;
                let origin: String = ix.try_get("origin")?;
                if origin == "pk" {
                    continue;
                }
                let unique = ix.try_get::<i64, _>("unique")? != 0;
                let cols: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                        .bind(&name)
                        .fetch_all(&self.pool)
                        .await?;
                // Constraint-backed indexes get generated names that differ between backends.
                let label = if origin == "c" {
                    Some(name.as_str())
                } else {
                    None
                };
                out.push(crate::schema::index_line(t, label, unique, &cols));
            }
            let fks = sqlx::query("SELECT id, seq, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list($1) ORDER BY id, seq")
                .bind(t)
                .fetch_all(&self.pool)
                .await?;
            let mut grouped: std::collections::BTreeMap<i64, (String, Vec<String>, Vec<String>)> =
                Default::default();
            for fk in &fks {
                let id: i64 = fk.try_get("id")?;
                let entry = grouped
                    .entry(id)
                    .or_insert_with(|| (String::new(), vec![], vec![]));
                entry.0 = fk.try_get("table")?;
                entry.1.push(fk.try_get("from")?);
                entry.2.push(fk.try_get("to")?);
            }
            for (_, (target, from, to)) in grouped {
                out.push(crate::schema::fk_line(t, &from, &target, &to));
            }
        }
        let triggers: Vec<String> = sqlx::query_scalar(
            "SELECT tbl_name || ' trigger ' || name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        out.extend(triggers);
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl crate::dump::Dump for SqliteStore {
    async fn snapshot(&self, out: tokio::sync::mpsc::Sender<crate::dump::DumpChunk>) -> Result<()> {
        let tables = crate::dump::ordered(&self.schema_description().await?)?;
        crate::dump::snapshot(&self.pool, "BEGIN", tables, out).await
    }

    async fn occupied_tables(&self) -> Result<Vec<(String, u64)>> {
        crate::dump::occupied(&self.pool, &self.schema_description().await?).await
    }

    async fn migrate_to(&self, version: i64) -> Result<()> {
        MIGRATOR.run_to(version, &self.pool).await?;
        Ok(())
    }

    async fn load(
        &self,
        input: tokio::sync::mpsc::Receiver<crate::dump::DumpChunk>,
    ) -> Result<std::collections::BTreeMap<String, crate::dump::TableDigest>> {
        let known = crate::dump::ordered(&self.schema_description().await?)?;
        crate::dump::load(&self.writer, "BEGIN IMMEDIATE", known, input).await
    }
}

#[async_trait]
impl crate::sealing::Sealing for SqliteStore {
    async fn key_census(&self) -> Result<crate::sealing::KeyCensus> {
        crate::sealing::key_census(&self.pool).await
    }

    async fn check_keys(&self) -> Result<crate::sealing::KeyCensus> {
        crate::sealing::check_keys(&self.pool, &self.keys).await
    }

    async fn reseal(&self) -> Result<crate::sealing::Resealed> {
        let description = self.schema_description().await?;
        crate::sealing::reseal(&self.writer, "BEGIN IMMEDIATE", &self.keys, &description).await
    }

    fn sealing_key(&self) -> Option<String> {
        self.keys.sealing_id()
    }
}

#[async_trait]
impl crate::sign_in_guard::SignInGuard for SqliteStore {
    async fn take_sign_in_attempt(
        &self,
        clinic: ClinicId,
        user: UserId,
        at: Timestamp,
        max_failures: i64,
        lock_until: Timestamp,
    ) -> Result<crate::sign_in_guard::Attempt> {
        crate::sign_in_guard::take_attempt(
            self.writer(),
            clinic,
            user,
            at,
            max_failures,
            lock_until,
        )
        .await
    }

    async fn clear_sign_in_failures(&self, clinic: ClinicId, user: UserId) -> Result<()> {
        crate::sign_in_guard::clear_failures(self.writer(), clinic, user).await
    }

    async fn return_sign_in_attempt(
        &self,
        clinic: ClinicId,
        user: UserId,
        max_failures: i64,
    ) -> Result<()> {
        crate::sign_in_guard::return_attempt(self.writer(), clinic, user, max_failures).await
    }

    async fn use_totp_step(&self, clinic: ClinicId, user: UserId, step: i64) -> Result<bool> {
        crate::sign_in_guard::use_step(self.writer(), clinic, user, step).await
    }
}

#[async_trait]
impl crate::ownership::Ownership for SqliteStore {
    async fn patient_of(
        &self,
        clinic: ClinicId,
        record: crate::ownership::Owned,
    ) -> Result<Option<PatientId>> {
        crate::ownership::patient_of(&self.pool, clinic, record).await
    }
}

#[async_trait]
impl crate::audit_anchor::AuditAnchoring for SqliteStore {
    async fn audit_heads(
        &self,
    ) -> Result<std::collections::BTreeMap<ClinicId, crate::dump::AuditTip>> {
        crate::audit_anchor::audit_heads(&self.pool).await
    }

    async fn audit_hash_at(&self, clinic: ClinicId, seq: i64) -> Result<Option<String>> {
        crate::audit_anchor::audit_hash_at(&self.pool, clinic, seq).await
    }
}

#[async_trait]
impl crate::staff_lifecycle::StaffLifecycle for SqliteStore {
    async fn change_staff(
        &self,
        ctx: &AuditContext,
        user: UserId,
        change: crate::staff_lifecycle::StaffChange,
        new_stamp: &str,
    ) -> Result<()> {
        crate::staff_lifecycle::change_staff(
            self.writer(),
            "BEGIN IMMEDIATE",
            ctx,
            user,
            change,
            new_stamp,
        )
        .await
    }
}

#[async_trait]
impl crate::staff_grants::StaffGrants for SqliteStore {
    async fn request_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()> {
        crate::staff_grants::request_grant(self.writer(), "BEGIN IMMEDIATE", ctx, user).await
    }

    async fn pending_grants(
        &self,
        clinic: ClinicId,
    ) -> Result<Vec<crate::staff_grants::PendingGrant>> {
        crate::staff_grants::pending_grants(&self.pool, clinic).await
    }

    async fn approve_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()> {
        crate::staff_grants::approve_grant(self.writer(), "BEGIN IMMEDIATE", ctx, user).await
    }
}
