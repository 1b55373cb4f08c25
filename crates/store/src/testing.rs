//! Fresh, empty databases for tests: a temporary SQLite file, or a new uniquely named database
//! on the PostgreSQL server named by `KAPSTONE_TEST_PG_URL`. Each test owns its own.

use crate::{PgStore, SqliteStore, Store};
use sqlx::Connection;

/// The environment variable naming a PostgreSQL server (any database on it) for tests.
pub const PG_ENV: &str = "KAPSTONE_TEST_PG_URL";

/// A URL for a new, empty SQLite database file in the temp directory.
pub fn sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!(
        "kapstone-test-{}.db",
        uuid::Uuid::now_v7().simple()
    ));
    format!("sqlite://{}", path.display())
}

/// Creates a new, empty PostgreSQL database and returns its URL. Panics with instructions when
/// no server is configured: a PostgreSQL test must never pass by not running.
pub async fn postgres_url() -> String {
    let admin = std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!(
            "{PG_ENV} is not set. The PostgreSQL tests need a server: run ./scripts/test.sh, \
             or set {PG_ENV}=postgres://USER:PASS@127.0.0.1:5432/postgres"
        )
    });
    let name = format!("kapstone_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL server in {PG_ENV}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin.as_str(), String::new()),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    format!("{prefix}/{name}{query}")
}

/// The tests' field encryption key (never a clinic's: it is public, in the source).
pub const TEST_KEYS: &str =
    "test0001 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub fn test_keys() -> std::sync::Arc<kapstone_keys::Keyring> {
    std::sync::Arc::new(kapstone_keys::Keyring::from_text(TEST_KEYS).expect("test keys"))
}

pub async fn sqlite_store() -> SqliteStore {
    let store = SqliteStore::connect(&sqlite_url())
        .await
        .expect("open sqlite")
        .with_keys(test_keys());
    store.migrate().await.expect("migrate sqlite");
    store
}

pub async fn postgres_store() -> PgStore {
    let store = PgStore::connect(&postgres_url().await)
        .await
        .expect("open postgres")
        .with_keys(test_keys());
    store.migrate().await.expect("migrate postgres");
    store
}
