//! What operators and load balancers see: `/healthz`, `/readyz` (including an unmigrated and
//! an unreachable database), and a database that stays locked past kapstone's wait answering
//! 503 with Retry-After, with nothing half-written. Each on SQLite and PostgreSQL.

mod support;

use axum::http::{Method, StatusCode};
use kapstone_app::clinical::vocab::Role;
use kapstone_store::testing::{postgres_url, sqlite_url};
use kapstone_store::{PgStore, SqliteStore, Store};
use sqlx::{Connection, Executor};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Short, so the locked-database tests do not wait the production ten seconds.
const LOCK_WAIT: Duration = Duration::from_millis(300);

fn router_for(store: Arc<dyn Store>) -> Client {
    let app = app_with(store, PUBLIC_URL, None);
    let router = kapstone_web::router(kapstone_web::Web::new(app, false));
    Client::for_router(router)
}

/// `close` shuts the store's pool, as a database that went away would look.
async fn health_and_readiness(unmigrated: Arc<dyn Store>, close: impl AsyncFnOnce()) {
    let mut c = router_for(unmigrated.clone());
    let r = c.get("/healthz").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the process is up, database or not"
    );
    assert_eq!(r.body, "ok\n");

    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.body, "not ready: migrations\n",
        "names the check, nothing more"
    );

    unmigrated.migrate().await.expect("migrate");
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "ready\n");
    assert!(r.headers.contains_key("x-request-id"));

    close().await;
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "not ready: database\n");
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sqlite_health_and_readiness() {
    let store = SqliteStore::connect(&sqlite_url())
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    let pool = store.pool().clone();
    health_and_readiness(Arc::new(store), async move || pool.close().await).await;
}

#[tokio::test]
async fn postgres_health_and_readiness() {
    let store = PgStore::connect(&postgres_url().await)
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    let pool = store.pool().clone();
    health_and_readiness(Arc::new(store), async move || pool.close().await).await;
}

/// Another connection holding the write lock kapstone needs, as a long import or a stuck
/// transaction would.
enum Lock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Lock {
    async fn take(url: &str) -> Lock {
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
            c.execute("BEGIN IMMEDIATE").await.expect("write lock");
            Lock::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
            c.execute("BEGIN").await.expect("begin");
            // Reads go on; any write to the table waits.
            c.execute("LOCK TABLE patient IN EXCLUSIVE MODE")
                .await
                .expect("table lock");
            Lock::Postgres(c)
        }
    }

    /// Ends the other transaction; returns (patients, audit events) as then committed.
    async fn release(self) -> (i64, i64) {
        const COUNTS: &str =
            "SELECT (SELECT COUNT(*) FROM patient), (SELECT COUNT(*) FROM audit_event)";
        match self {
            Lock::Sqlite(mut c) => {
                c.execute("ROLLBACK").await.expect("rollback");
                sqlx::query_as(COUNTS)
                    .fetch_one(&mut c)
                    .await
                    .expect("counts")
            }
            Lock::Postgres(mut c) => {
                c.execute("ROLLBACK").await.expect("rollback");
                sqlx::query_as(COUNTS)
                    .fetch_one(&mut c)
                    .await
                    .expect("counts")
            }
        }
    }
}

async fn a_locked_database_answers_try_again(store: Arc<dyn Store>, url: &str) {
    store.migrate().await.expect("migrate");
    let w = World::new(store).await;
    let team = w.team("Team A").await;
    let mut doc = w
        .member(
            "dr.ames@clinic.test",
            "Dr Ames",
            Role::Prescriber,
            Some(team),
        )
        .await;
    let csrf = doc.csrf().await;
    let before = Lock::take(url).await.release().await;

    let form = [
        ("csrf", csrf.as_str()),
        ("given_name", "Ada"),
        ("family_name", "Lockwood"),
        ("birth_date", "1980-04-05"),
        ("sex", "female"),
    ];
    let lock = Lock::take(url).await;
    let r = doc.client.post("/patients/new", &form).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(
        r.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    assert!(r.is_html());
    assert!(
        r.body.contains("Please try again in a moment"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Nothing was changed"), "{}", r.body);

    let json = serde_json::json!({"given_name": "Ada", "family_name": "Lockwood", "birth_date": "1980-04-05", "sex": "female"});
    let r = doc
        .client
        .send(
            Method::POST,
            "/api/patients",
            Some(json.to_string()),
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("try again in a moment")),
        "{body}"
    );

    let after = lock.release().await;
    assert_eq!(after, before, "no patient and no audit event half-written");

    // Once the lock is gone the same form goes through.
    let r = doc.client.post("/patients/new", &form).await;
    assert!(r.status.is_redirection(), "{}: {}", r.status, r.body);
    let (patients, _) = Lock::take(url).await.release().await;
    assert_eq!(patients, before.0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_locked_database_answers_try_again() {
    let url = sqlite_url();
    let store = SqliteStore::connect_with_lock_wait(&url, LOCK_WAIT)
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    a_locked_database_answers_try_again(Arc::new(store), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_locked_database_answers_try_again() {
    let url = postgres_url().await;
    let store = PgStore::connect_with_lock_wait(&url, LOCK_WAIT)
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    a_locked_database_answers_try_again(Arc::new(store), &url).await;
}

#[tokio::test]
async fn readiness_names_a_missing_key() {
    let store = SqliteStore::connect(&sqlite_url()).await.expect("open");
    store.migrate().await.expect("migrate");
    let mut c = router_for(Arc::new(store));
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "not ready: keys\n");
}

/// Sends a sign-in post as if from `peer`, carrying `forwarded` in X-Forwarded-For.
async fn sign_in_from(
    router: &axum::Router,
    peer: &str,
    forwarded: &str,
) -> axum::http::StatusCode {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/signin")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", forwarded)
        .body(axum::body::Body::from(
            "email=nobody%40x.test&password=wrong",
        ))
        .expect("request");
    let peer: std::net::SocketAddr = format!("{peer}:40000").parse().expect("peer");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    router.clone().oneshot(req).await.expect("answer").status()
}

/// Behind a reverse proxy every request came from the proxy, so the per-address limit (30 a
/// minute) turned into one limit for the whole clinic. From a proxy named with
/// `--trusted-proxy`, the client it forwards for counts; from anyone else the header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_limits_stay_per_client() {
    let store = SqliteStore::connect(&sqlite_url())
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    store.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(store);
    let app = app_with(store.clone(), PUBLIC_URL, None);
    let trusted =
        kapstone_web::client_address::TrustedProxies(vec!["10.0.0.0/8".parse().expect("net")]);
    let behind = kapstone_web::router(kapstone_web::Web::behind(app.clone(), false, trusted));
    for i in 0..40 {
        let status = sign_in_from(&behind, "10.0.0.2", &format!("203.0.113.{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "client {i}");
    }
    // One client through the proxy is still limited.
    let mut last = StatusCode::OK;
    for _ in 0..31 {
        last = sign_in_from(&behind, "10.0.0.2", "198.51.100.7").await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Nobody trusted: the header is the sender's claim and is ignored.
    let direct = kapstone_web::router(kapstone_web::Web::new(app, false));
    let mut last = StatusCode::OK;
    for i in 0..31 {
        last = sign_in_from(&direct, "10.0.0.2", &format!("203.0.113.{i}")).await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// The portal was limited per address only, so one clinic's patients behind one network (a
/// clinic's Wi-Fi) were turned away together after 30 requests a minute. Now each link is
/// limited first (20 a minute) and the address only by a coarse ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_is_limited_per_link_first() {
    let store = SqliteStore::connect(&sqlite_url())
        .await
        .expect("open")
        .with_keys(kapstone_store::testing::test_keys());
    store.migrate().await.expect("migrate");
    let mut c = router_for(Arc::new(store));
    // Sixty patients on one network, each with a link of their own (unknown links here: the
    // limit is checked before the link is looked up).
    for i in 0..60 {
        let r = c.get(&format!("/p/{:064x}", i + 1)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "patient {i}");
    }
    let one = format!("/p/{:064x}", 7_777);
    let statuses: Vec<StatusCode> = {
        let mut v = Vec::new();
        for _ in 0..21 {
            v.push(c.get(&one).await.status);
        }
        v
    };
    assert!(
        statuses[..20].iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
}
