//! Crash safety, proved: a real `kapstone serve` takes concurrent portal submissions and is
//! killed with SIGKILL at a random moment; after a restart every submission the patient saw
//! acknowledged is stored exactly once, its link cannot be used again, nothing is half-written,
//! the audit chain verifies and the database's own integrity check passes.
//!
//! `KAPSTONE_CRASH_ROUNDS` (default 2) rounds per backend; `KAPSTONE_CRASH_SEED` replays a run
//! (the seed is printed). `scripts/crash-test.sh` runs the 20-round proof on both backends.

mod support;
use kapstone_clinical::instrument::Library;
use kapstone_demo::rng::SplitMix64;
use kapstone_store::model::*;
use kapstone_store::{PgStore, SqliteStore, Store, testing};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::portal::{Link, request, seed_links, start};

/// Links answered per round; enough that the kill lands among many requests in flight.
const LINKS_PER_ROUND: usize = 96;
/// Patients answering at once.
const CLIENTS: usize = 12;
/// What only the thank-you page for a stored submission says.
const SAVED: &str = "Your answers have been saved";
/// What a used link whose answers are stored says.
const RECEIVED: &str = "Your answers were received";

fn rounds() -> usize {
    std::env::var("KAPSTONE_CRASH_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("KAPSTONE_CRASH_ROUNDS is a whole number"))
        .unwrap_or(2)
}

fn seed() -> u64 {
    match std::env::var("KAPSTONE_CRASH_SEED") {
        Ok(s) => s.parse().expect("KAPSTONE_CRASH_SEED is a whole number"),
        Err(_) => jiff::Timestamp::now().as_nanosecond().unsigned_abs() as u64,
    }
}

/// The database under the server, reached directly for the checks a patient cannot see.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Db {
    async fn count(&self, sql: &'static str) -> i64 {
        let r = match self {
            Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            Db::Pg(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// SQLite's own check of every page, index and constraint; on PostgreSQL amcheck when this
    /// role may use it, otherwise each table read in full both through its heap and through
    /// its primary-key index, which must agree.
    async fn integrity(&self) -> Result<String, String> {
        match self {
            Db::Sqlite(p) => {
                let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(p)
                    .await
                    .map_err(|e| e.to_string())?;
                let fk: Vec<String> =
                    sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
                        .fetch_all(p)
                        .await
                        .map_err(|e| e.to_string())?;
                if rows != ["ok"] || !fk.is_empty() {
                    return Err(format!(
                        "integrity_check {rows:?}, foreign_key_check {fk:?}"
                    ));
                }
                Ok("PRAGMA integrity_check ok, foreign_key_check clean".into())
            }
            Db::Pg(p) => {
                if sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck")
                    .execute(p)
                    .await
                    .is_ok()
                {
                    let broken: Vec<String> = sqlx::query_scalar(
                        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = 'public' AND c.relkind = 'r' \
                         AND EXISTS (SELECT 1 FROM verify_heapam(c.oid::regclass))",
                    )
                    .fetch_all(p)
                    .await
                    .map_err(|e| e.to_string())?;
                    let indexes: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM (SELECT bt_index_check(c.oid::regclass, true) FROM pg_index i \
                         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
                         JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = 'public' AND a.amname = 'btree' AND i.indisvalid) checked",
                    )
                    .fetch_one(p)
                    .await
                    .map_err(|e| e.to_string())?;
                    if !broken.is_empty() {
                        return Err(format!("verify_heapam found damage in {broken:?}"));
                    }
                    return Ok(format!(
                        "amcheck: verify_heapam clean, {indexes} btree index(es) checked with heapallindexed"
                    ));
                }
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
                     WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
                )
                .fetch_all(p)
                .await
                .map_err(|e| e.to_string())?;
                let mut conn = p.acquire().await.map_err(|e| e.to_string())?;
                for t in &tables {
                    let mut counts = Vec::new();
                    for plan in [
                        "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; SET enable_seqscan = on",
                        "SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off; SET enable_seqscan = off",
                    ] {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(plan))
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| e.to_string())?;
                        // Reading every column detoasts and decodes every row.
                        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT count(*) FROM (SELECT t::text FROM \"{t}\" t) r"
                        )))
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(|e| format!("{t}: {e}"))?;
                        counts.push(n);
                    }
                    if counts[0] != counts[1] {
                        return Err(format!(
                            "{t}: heap has {} rows, index scan {}",
                            counts[0], counts[1]
                        ));
                    }
                }
                sqlx::raw_sql("RESET ALL")
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!(
                    "amcheck not available to this role; {} tables read in full, heap and primary-key scans agree",
                    tables.len()
                ))
            }
        }
    }
}

/// Things that must never be found, each counted over the whole database.
const HALF_WRITTEN: [(&str, &str); 6] = [
    (
        "a consumed link without its assessment",
        "SELECT count(*) FROM portal_link l JOIN assessment_due d ON d.clinic_id = l.clinic_id AND d.id = l.due_id \
         WHERE l.used_at IS NOT NULL AND (d.assessment_id IS NULL OR NOT EXISTS \
         (SELECT 1 FROM assessment a WHERE a.clinic_id = d.clinic_id AND a.id = d.assessment_id))",
    ),
    (
        "an assessment without its consumed link (every one here came through the portal)",
        "SELECT count(*) FROM assessment a WHERE NOT EXISTS (SELECT 1 FROM assessment_due d \
         JOIN portal_link l ON l.clinic_id = d.clinic_id AND l.due_id = d.id AND l.used_at IS NOT NULL \
         WHERE d.clinic_id = a.clinic_id AND d.assessment_id = a.id)",
    ),
    (
        "an assessment without its audit event",
        "SELECT count(*) FROM assessment a WHERE NOT EXISTS (SELECT 1 FROM audit_event e \
         WHERE e.clinic_id = a.clinic_id AND e.action = 'assessment.record' AND e.entity_id = a.id)",
    ),
    (
        "an audit event for an assessment that is not there",
        "SELECT count(*) FROM audit_event e WHERE e.action = 'assessment.record' AND NOT EXISTS \
         (SELECT 1 FROM assessment a WHERE a.clinic_id = e.clinic_id AND a.id = e.entity_id)",
    ),
    (
        "an item-9 answer without its alert",
        "SELECT count(*) FROM assessment a WHERE a.flags LIKE '%phq9_item9%' AND NOT EXISTS \
         (SELECT 1 FROM alert x WHERE x.clinic_id = a.clinic_id AND x.assessment_id = a.id)",
    ),
    (
        "an alert without its audit event",
        "SELECT count(*) FROM alert x WHERE NOT EXISTS (SELECT 1 FROM audit_event e \
         WHERE e.clinic_id = x.clinic_id AND e.action = 'alert.raise' AND e.entity_id = x.id)",
    ),
];

/// Scheduled questionnaires answered more than once.
const DUPLICATED: &str = "SELECT count(*) FROM (SELECT clinic_id, course_id, instrument, time_point FROM assessment \
     GROUP BY clinic_id, course_id, instrument, time_point HAVING count(*) > 1) dup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Not reached before the kill (or the server was gone before the answers were sent).
    Untried,
    /// The thank-you page came back: the patient was told the answers were saved.
    Acknowledged,
    /// The answers were sent and no thank-you page came back.
    InFlight,
}

fn sigkill(child: &mut Child) {
    // Child::kill is SIGKILL on Unix: no shutdown code in kapstone runs.
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

fn audit_verify(bin: &Path, url: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .env("KAPSTONE_KEYS", kapstone_store::testing::TEST_KEYS)
        .args(["audit", "verify", "--db", url])
        .env_remove("KAPSTONE_DB")
        .output()
        .expect("run kapstone audit verify");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// What one round saw, as printed.
#[derive(Debug, Default)]
struct Figures {
    acknowledged: usize,
    in_flight: usize,
    in_flight_stored: usize,
    untried: usize,
    lost: usize,
    duplicated: i64,
    half_written: i64,
    reused: usize,
}

/// Patients answer until the server is killed; returns each link's outcome.
async fn traffic(
    links: &Arc<Vec<Link>>,
    port: u16,
    server: &mut Child,
    kill_after: usize,
    jitter: Duration,
) -> Vec<Outcome> {
    let outcomes = Arc::new(Mutex::new(vec![Outcome::Untried; links.len()]));
    let queue = Arc::new(Mutex::new((0..links.len()).collect::<VecDeque<_>>()));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (links, outcomes, queue, acknowledged, stopped, unexpected) = (
            links.clone(),
            outcomes.clone(),
            queue.clone(),
            acknowledged.clone(),
            stopped.clone(),
            unexpected.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let Some(i) = queue.lock().expect("queue").pop_front() else {
                    return;
                };
                let link = &links[i];
                let path = format!("/p/{}", link.token);
                match request(port, link.source, "GET", &path, None).await {
                    Ok(Some(r)) if r.status == 200 && r.body.contains("<form") => {}
                    Ok(Some(r)) if !stopped.load(Ordering::SeqCst) => {
                        unexpected
                            .lock()
                            .expect("unexpected")
                            .push(format!("GET form answered {}", r.status));
                        return;
                    }
                    // The server is gone: this patient and the rest wait for it.
                    _ => return,
                }
                let sent = request(port, link.source, "POST", &path, Some(&link.form)).await;
                let outcome = match sent {
                    Err(_) => Outcome::Untried,
                    Ok(Some(r)) if r.status == 200 && r.body.contains(SAVED) => {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        Outcome::Acknowledged
                    }
                    Ok(Some(r)) if !stopped.load(Ordering::SeqCst) && !r.body.is_empty() => {
                        unexpected
                            .lock()
                            .expect("unexpected")
                            .push(format!("POST answered {}", r.status));
                        Outcome::InFlight
                    }
                    Ok(_) => Outcome::InFlight,
                };
                outcomes.lock().expect("outcomes")[i] = outcome;
                if outcome != Outcome::Acknowledged {
                    return;
                }
            }
        }));
    }
    while acknowledged.load(Ordering::SeqCst) < kill_after
        && !clients.iter().all(|c| c.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(jitter).await;
    stopped.store(true, Ordering::SeqCst);
    sigkill(server);
    for c in clients {
        c.await.expect("client");
    }
    let unexpected = unexpected.lock().expect("unexpected").clone();
    assert!(
        unexpected.is_empty(),
        "replies other than the form or the thank-you page while the server ran: {unexpected:?}"
    );
    outcomes.lock().expect("outcomes").clone()
}

async fn crash_rounds(backend: &str, url: String, store: Arc<dyn Store>, db: Db) {
    let seed = seed();
    let rounds = rounds();
    println!(
        "crash test on {backend}: {rounds} round(s), seed {seed} (KAPSTONE_CRASH_SEED={seed} replays it)"
    );
    let mut rng = SplitMix64::new(seed);
    let dir =
        std::env::temp_dir().join(format!("kapstone-crash-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log: PathBuf = dir.join("server.log");
    // A copy, so that the binary cannot change under a long run (a target directory shared
    // between checkouts is rebuilt by whoever builds last).
    let bin = dir.join("kapstone");
    std::fs::copy(env!("CARGO_BIN_EXE_kapstone"), &bin).expect("copy the kapstone binary");
    let lib = Library::builtin().expect("instruments");
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "Crash Test KAP".into(),
                time_zone: "UTC".into(),
            },
            "test",
        )
        .await
        .expect("clinic");
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let mut next_address = 0u32;
    let mut failures = Vec::new();
    for round in 1..=rounds {
        let links = Arc::new(
            seed_links(
                store.as_ref(),
                &ctx,
                &lib,
                &mut rng,
                &mut next_address,
                LINKS_PER_ROUND,
                None,
            )
            .await,
        );
        let kill_after =
            usize::try_from(rng.range(1, (LINKS_PER_ROUND * 3 / 4) as i64)).unwrap_or(1);
        let jitter = Duration::from_micros(rng.below(20_000));
        let (mut server, port) = start(&bin, &url, &log).await;
        let outcomes = traffic(&links, port, &mut server, kill_after, jitter).await;

        let (mut server, port) = start(&bin, &url, &log).await;
        let mut f = Figures::default();
        let mut problems = Vec::new();
        for (link, outcome) in links.iter().zip(&outcomes) {
            let stored = store
                .due(&ctx, link.due)
                .await
                .expect("due")
                .assessment_id
                .is_some();
            match outcome {
                Outcome::Acknowledged => {
                    f.acknowledged += 1;
                    if !stored {
                        f.lost += 1;
                    }
                }
                Outcome::InFlight => {
                    f.in_flight += 1;
                    f.in_flight_stored += usize::from(stored);
                }
                Outcome::Untried => f.untried += 1,
            }
            // The patient comes back: a stored submission is received, anything else is
            // answered again now.
            let path = format!("/p/{}", link.token);
            let r = request(port, link.source, "GET", &path, None)
                .await
                .expect("restarted server")
                .expect("a reply");
            let expected = if stored { RECEIVED } else { "<form" };
            if r.status != 200 || !r.body.contains(expected) {
                problems.push(format!(
                    "{outcome:?} link (stored: {stored}) opened to {}, not {expected:?}",
                    r.status
                ));
                continue;
            }
            if !stored {
                let r = request(port, link.source, "POST", &path, Some(&link.form))
                    .await
                    .expect("restarted server")
                    .expect("a reply");
                if r.status != 200 || !r.body.contains(SAVED) {
                    problems.push(format!(
                        "answering a {outcome:?} link again got {}",
                        r.status
                    ));
                }
            }
        }
        // Every link is answered now; none takes answers twice.
        for link in links.iter() {
            let path = format!("/p/{}", link.token);
            let r = request(port, link.source, "POST", &path, Some(&link.form))
                .await
                .expect("restarted server")
                .expect("a reply");
            if r.status != 200 || !r.body.contains(RECEIVED) {
                f.reused += 1;
                problems.push(format!("a used link took answers again ({})", r.status));
            }
        }
        f.duplicated = db.count(DUPLICATED).await;
        for (what, sql) in HALF_WRITTEN {
            let n = db.count(sql).await;
            if n != 0 {
                problems.push(format!("{n} × {what}"));
            }
            f.half_written += n;
        }
        let used = db
            .count("SELECT count(*) FROM portal_link WHERE used_at IS NOT NULL")
            .await;
        let assessments = db.count("SELECT count(*) FROM assessment").await;
        let answered = i64::try_from(round * LINKS_PER_ROUND).unwrap_or(i64::MAX);
        if used != answered || assessments != answered {
            problems.push(format!(
                "{answered} links answered so far, but {used} used and {assessments} assessments stored"
            ));
        }
        let verify = audit_verify(&bin, &url);
        let integrity = db.integrity().await;
        sigkill(&mut server);
        println!(
            "{backend} round {round:>2}: kill after {kill_after:>2} acks (+{:>5.1} ms): acknowledged {:>2}, \
             in flight at the kill {:>2} (stored {}), not reached {:>2}, lost {}, duplicated {}, \
             half-written {}, reused links {}",
            jitter.as_secs_f64() * 1000.0,
            f.acknowledged,
            f.in_flight,
            f.in_flight_stored,
            f.untried,
            f.lost,
            f.duplicated,
            f.half_written,
            f.reused,
        );
        match &verify {
            Ok(v) => println!("{backend} round {round:>2}: {v}"),
            Err(e) => problems.push(format!("kapstone audit verify failed: {e}")),
        }
        match &integrity {
            Ok(v) => println!("{backend} round {round:>2}: {v}"),
            Err(e) => problems.push(format!("integrity check failed: {e}")),
        }
        if f.lost > 0 {
            problems.push(format!("{} acknowledged submission(s) lost", f.lost));
        }
        if f.duplicated > 0 {
            problems.push(format!("{} questionnaire(s) stored twice", f.duplicated));
        }
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(5);
            failures.push(format!(
                "round {round}: {n} problem(s): {}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{backend} (seed {seed}, server log {}):\n{}",
        log.display(),
        failures.join("\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_mid_submission() {
    let url = testing::sqlite_url();
    let store = SqliteStore::connect(&url)
        .await
        .expect("open sqlite")
        .with_keys(kapstone_store::testing::test_keys());
    store.migrate().await.expect("migrate");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .expect("synchronous");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .expect("journal_mode");
    println!(
        "sqlite as kapstone opens it: journal_mode={journal}, synchronous={synchronous} (2 = FULL)"
    );
    let db = Db::Sqlite(store.pool().clone());
    crash_rounds("sqlite", url, Arc::new(store), db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill_mid_submission() {
    let url = testing::postgres_url().await;
    let store = PgStore::connect(&url)
        .await
        .expect("open postgres")
        .with_keys(kapstone_store::testing::test_keys());
    store.migrate().await.expect("migrate");
    let mut settings = Vec::new();
    for s in [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_sync_method",
    ] {
        let v: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {s}")))
            .fetch_one(store.pool())
            .await
            .expect("setting");
        settings.push(format!("{s}={v}"));
    }
    let name = url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or_default();
    // scripts/crash-test.sh runs pg_amcheck on this database afterwards, as a superuser.
    println!("postgres database: {name}");
    println!("postgres server: {}", settings.join(", "));
    let db = Db::Pg(store.pool().clone());
    crash_rounds("postgres", url, Arc::new(store), db).await;
}
