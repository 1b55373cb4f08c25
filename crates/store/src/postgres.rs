//! The PostgreSQL store: the same SQL as SQLite, for clinic networks that outgrow one machine.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct PgStore {
    pool: sqlx::PgPool,
    /// Seals and opens the encrypted fields; without keys, touching one is an error.
    keys: std::sync::Arc<kapstone_keys::Keyring>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl PgStore {
    pub async fn connect(url: &str) -> crate::error::Result<PgStore> {
        Self::connect_with_lock_wait(url, crate::LOCK_WAIT).await
    }

    /// As `connect`, waiting at most `lock_wait` for a row or table lock (PostgreSQL's
    /// `lock_timeout`) before a statement fails as `StoreError::Busy` (tests shorten it).
    /// Without it a write behind a stuck lock would wait for ever and hold its connection.
    pub async fn connect_with_lock_wait(
        url: &str,
        lock_wait: Duration,
    ) -> crate::error::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)?
            .options([("lock_timeout", format!("{}ms", lock_wait.as_millis()))]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            keys: std::sync::Arc::new(kapstone_keys::Keyring::none()),
        })
    }

    /// The store sealing and opening the encrypted fields with `keys`.
    pub fn with_keys(mut self, keys: std::sync::Arc<kapstone_keys::Keyring>) -> Self {
        self.keys = keys;
        self
    }

    /// Where every write transaction runs: the one pool (PostgreSQL takes concurrent writers).
    pub(crate) fn writer(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// The pool, for tests that must reach under the store (tampering with the audit log).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Gathers statistics on the tables a running import refers back to, so that the
    /// connection's foreign-key checks are planned again from the rows the transaction holds
    /// (see `planner_statistics`). A refused import takes the column statistics back with it;
    /// the row estimates in `pg_class` are written in place and wait for autovacuum.
    pub(crate) async fn refresh_planner_statistics(
        conn: &mut sqlx::PgConnection,
    ) -> crate::error::Result<()> {
        let tables = crate::planner_statistics::REFERENCED;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE {tables}")))
            .execute(conn)
            .await?;
        Ok(())
    }
}

crate::backend::impl_store!(
    PgStore,
    sqlx::Postgres,
    "BEGIN",
    // The same separated text as SQLite's, with the time as microseconds since the epoch.
    points: "SELECT string_agg(concat_ws(chr(31), id, COALESCE(course_id::text, ''), instrument, time_point, \
             complete::int, COALESCE(total::text, ''), COALESCE(severity, ''), flags, \
             (extract(epoch FROM administered_at) * 1000000)::bigint), chr(30)) \
             FROM (SELECT * FROM assessment WHERE clinic_id = $1 AND patient_id = $2 \
             ORDER BY administered_at DESC, id DESC LIMIT $3) AS recent",
    encounters: "SELECT string_agg(concat_ws(chr(31), id, course_id, kind, status, sequence, \
                 COALESCE(((extract(epoch FROM planned_for) * 1000000)::bigint)::text, ''), \
                 COALESCE(((extract(epoch FROM occurred_at) * 1000000)::bigint)::text, '')), chr(30)) \
                 FROM encounter WHERE clinic_id = $1 AND patient_id = $2"
);
crate::backend_access::impl_access!(PgStore);
crate::backend_import::impl_import!(PgStore, sqlx::Postgres);
crate::backend_record::impl_record!(PgStore);
crate::backend_outcomes::impl_outcomes!(
    PgStore,
    // The same separated text as SQLite's.
    patients: "SELECT string_agg(concat_ws(chr(31), id, sex), chr(30)) FROM patient WHERE clinic_id = $1",
    courses: "SELECT string_agg(concat_ws(chr(31), id, patient_id, indication, COALESCE(planned_route, '')), chr(30)) \
              FROM treatment_course WHERE clinic_id = $1",
    series: "SELECT string_agg(course_id::text, chr(28) ORDER BY course_id), string_agg(scores, chr(28) ORDER BY course_id), \
             string_agg(doses, chr(28) ORDER BY course_id) \
             FROM (SELECT course_id, scores, doses FROM course_series WHERE clinic_id = $1 AND course_id > $2 \
             ORDER BY course_id LIMIT $3) AS chunk"
);

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn migration_names(&self) -> Vec<String> {
        crate::schema::migration_names(&MIGRATOR)
    }

    async fn applied_migrations(&self) -> Result<Vec<String>> {
        crate::dump::applied_migrations::<sqlx::Postgres>(&mut *self.pool.acquire().await?).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn schema_description(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let cols = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, is_nullable::text AS n, ordinal_position::bigint AS pos \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name <> '_sqlx_migrations' ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.pool)
        .await?;
        for c in &cols {
            let t: String = c.try_get("t")?;
            let name: String = c.try_get("c")?;
            let ty: String = c.try_get("ty")?;
            let nullable: String = c.try_get("n")?;
            let position: i64 = c.try_get("pos")?;
            out.push(crate::schema::column_line(
                &t,
                position,
                &name,
                &crate::schema::pg_type(&ty),
                nullable == "YES",
            ));
        }
        let indexes = sqlx::query(
            "SELECT t.relname::text AS t, i.relname::text AS name, ix.indisprimary AS pk, ix.indisunique AS uniq, \
             EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid) AS from_constraint, \
             ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord) AS cols \
             FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations'",
        )
        .fetch_all(&self.pool)
        .await?;
        for ix in &indexes {
            let t: String = ix.try_get("t")?;
            let name: String = ix.try_get("name")?;
            let cols: Vec<String> = ix.try_get("cols")?;
            if ix.try_get::<bool, _>("pk")? {
                out.push(format!("{t} primary key ({})", cols.join(", ")));
                continue;
            }
            let label = if ix.try_get::<bool, _>("from_constraint")? {
                None
            } else {
                Some(name.as_str())
            };
            out.push(crate::schema::index_line(
                &t,
                label,
                ix.try_get("uniq")?,
                &cols,
            ));
        }
        let fks = sqlx::query(
            "SELECT c.conrelid::regclass::text AS t, c.confrelid::regclass::text AS target, \
             ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, o) \
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS from_cols, \
             ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(n, o) \
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS to_cols \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()",
        )
        .fetch_all(&self.pool)
        .await?;
        for fk in &fks {
            let t: String = fk.try_get("t")?;
            let target: String = fk.try_get("target")?;
            let from: Vec<String> = fk.try_get("from_cols")?;
            let to: Vec<String> = fk.try_get("to_cols")?;
            out.push(crate::schema::fk_line(&t, &from, &target, &to));
        }
        let triggers: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text || ' trigger ' || tg.tgname::text FROM pg_trigger tg \
             JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT tg.tgisinternal AND n.nspname = current_schema()",
        )
        .fetch_all(&self.pool)
        .await?;
        out.extend(triggers);
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl crate::dump::Dump for PgStore {
    async fn snapshot(&self, out: tokio::sync::mpsc::Sender<crate::dump::DumpChunk>) -> Result<()> {
        let tables = crate::dump::ordered(&self.schema_description().await?)?;
        crate::dump::snapshot(
            &self.pool,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            tables,
            out,
        )
        .await
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
        crate::dump::load(&self.pool, "BEGIN", known, input).await
    }
}

#[async_trait]
impl crate::sealing::Sealing for PgStore {
    async fn key_census(&self) -> Result<crate::sealing::KeyCensus> {
        crate::sealing::key_census(&self.pool).await
    }

    async fn check_keys(&self) -> Result<crate::sealing::KeyCensus> {
        crate::sealing::check_keys(&self.pool, &self.keys).await
    }

    async fn reseal(&self) -> Result<crate::sealing::Resealed> {
        let description = self.schema_description().await?;
        crate::sealing::reseal(&self.pool, "BEGIN", &self.keys, &description).await
    }

    fn sealing_key(&self) -> Option<String> {
        self.keys.sealing_id()
    }
}

#[async_trait]
impl crate::sign_in_guard::SignInGuard for PgStore {
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
impl crate::ownership::Ownership for PgStore {
    async fn patient_of(
        &self,
        clinic: ClinicId,
        record: crate::ownership::Owned,
    ) -> Result<Option<PatientId>> {
        crate::ownership::patient_of(&self.pool, clinic, record).await
    }
}

#[async_trait]
impl crate::audit_anchor::AuditAnchoring for PgStore {
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
impl crate::staff_lifecycle::StaffLifecycle for PgStore {
    async fn change_staff(
        &self,
        ctx: &AuditContext,
        user: UserId,
        change: crate::staff_lifecycle::StaffChange,
        new_stamp: &str,
    ) -> Result<()> {
        crate::staff_lifecycle::change_staff(self.writer(), "BEGIN", ctx, user, change, new_stamp)
            .await
    }
}

#[async_trait]
impl crate::staff_grants::StaffGrants for PgStore {
    async fn request_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()> {
        crate::staff_grants::request_grant(self.writer(), "BEGIN", ctx, user).await
    }

    async fn pending_grants(
        &self,
        clinic: ClinicId,
    ) -> Result<Vec<crate::staff_grants::PendingGrant>> {
        crate::staff_grants::pending_grants(&self.pool, clinic).await
    }

    async fn approve_grant(&self, ctx: &AuditContext, user: UserId) -> Result<()> {
        crate::staff_grants::approve_grant(self.writer(), "BEGIN", ctx, user).await
    }
}
