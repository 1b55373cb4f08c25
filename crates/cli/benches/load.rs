//! Load, measured: a real `kapstone serve` on loopback takes portal submissions and chart reads
//! from many patients and staff at once, on SQLite and on PostgreSQL; in the same run the same
//! kind of database takes raw durable inserts of comparable rows, and the two rates are compared.
//!
//! Run by `bench/load/run.sh` (which also starts PostgreSQL); the figures and the machine are in
//! docs/performance.md. Every phase is bounded in count and in time. Not part of CI.
//!
//! ```text
//! cargo bench -p kapstone --bench load -- [--backend sqlite|postgres|both]
//!     [--clients 1,8,32] [--submissions N] [--reads N] [--seconds S]
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use jiff::SignedDuration;
use kapstone_app::crypto::{random_token, token_hash};
use kapstone_clinical::instrument::Library;
use kapstone_clinical::vocab::Role;
use kapstone_demo::rng::SplitMix64;
use kapstone_store::model::*;
use kapstone_store::{PgStore, SqliteStore, Store, testing};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::portal::{Link, request, request_as, seed_links, start};

/// What only the thank-you page for a stored submission says.
const SAVED: &str = "Your answers have been saved";
/// The target: portal submissions at no less than this share of the raw durable insert rate.
const TARGET_RATIO: f64 = 0.5;

struct Args {
    backends: Vec<&'static str>,
    clients: Vec<usize>,
    submissions: usize,
    reads: usize,
    limit: Duration,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: load [--backend sqlite|postgres|both] [--clients 1,8,32] \
         [--submissions N] [--reads N] [--seconds S]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        backends: vec!["sqlite", "postgres"],
        clients: vec![1, 8, 32],
        submissions: 2000,
        reads: 4000,
        limit: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes --bench to every bench binary.
        if flag == "--bench" {
            continue;
        }
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: &str| -> usize {
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage(&format!("{flag}: a whole number above 0, not {v:?}")))
        };
        match flag.as_str() {
            "--backend" => {
                a.backends = match value.as_str() {
                    "sqlite" => vec!["sqlite"],
                    "postgres" => vec!["postgres"],
                    "both" => vec!["sqlite", "postgres"],
                    other => usage(&format!(
                        "--backend: sqlite, postgres or both, not {other:?}"
                    )),
                }
            }
            "--clients" => a.clients = value.split(',').map(number).collect(),
            "--submissions" => a.submissions = number(&value),
            "--reads" => a.reads = number(&value),
            "--seconds" => a.limit = Duration::from_secs(number(&value) as u64),
            other => usage(&format!("unknown option {other:?}")),
        }
    }
    a
}

/// One phase's figures.
struct Phase {
    done: usize,
    errors: Vec<String>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: usize) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return f64::NAN;
        }
        let i = (l.len() * p / 100).min(l.len() - 1);
        l[i].as_secs_f64() * 1000.0
    }

    fn print(&self, backend: &str, what: &str, clients: usize) {
        println!(
            "{backend:<8} {what:<12} {clients:>7} {:>6} {:>6} {:>8.2} {:>9.1} {:>8.2} {:>8.2}",
            self.done,
            self.errors.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile(50),
            self.percentile(99),
        );
        let mut shown: Vec<&String> = self.errors.iter().take(3).collect();
        shown.dedup();
        for e in shown {
            println!("{backend:<8}   error: {e}");
        }
    }
}

/// Runs `work(i)` for i in `0..n` on `clients` concurrent tasks until done or `limit` passes;
/// each call returns its latency or an error.
async fn drive<F, Fut>(n: usize, clients: usize, limit: Duration, work: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Duration, String>> + Send,
{
    let queue = Arc::new(Mutex::new((0..n).collect::<VecDeque<_>>()));
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let work = Arc::new(work);
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (queue, results, work) = (queue.clone(), results.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Some(i) = queue.lock().expect("queue").pop_front() else {
                    return;
                };
                let r = work(client, i).await;
                let mut res = results.lock().expect("results");
                match r {
                    Ok(latency) => res.0.push(latency),
                    Err(e) => res.1.push(e),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let elapsed = started.elapsed();
    let (latencies, errors) = std::mem::take(&mut *results.lock().expect("results"));
    Phase {
        done: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

/// A patient opens the form and sends the answers; the latency is the submission's alone.
async fn submit(port: u16, link: &Link) -> Result<Duration, String> {
    let path = format!("/p/{}", link.token);
    match request(port, link.source, "GET", &path, None).await {
        Ok(Some(r)) if r.status == 200 && r.body.contains("<form") => {}
        Ok(Some(r)) => return Err(format!("opening the form answered {}", r.status)),
        Ok(None) => return Err("opening the form: no reply".into()),
        Err(e) => return Err(format!("opening the form: {e}")),
    }
    let t = Instant::now();
    match request(port, link.source, "POST", &path, Some(&link.form)).await {
        Ok(Some(r)) if r.status == 200 && r.body.contains(SAVED) => Ok(t.elapsed()),
        Ok(Some(r)) => Err(format!("submitting answered {}", r.status)),
        Ok(None) => Err("submitting: no reply".into()),
        Err(e) => Err(format!("submitting: {e}")),
    }
}

/// A clinician opens a chart.
async fn read_chart(
    port: u16,
    source: Ipv4Addr,
    session: &str,
    patient: PatientId,
) -> Result<Duration, String> {
    let t = Instant::now();
    let path = format!("/patients/{patient}");
    match request_as(port, source, "GET", &path, None, Some(session)).await {
        Ok(Some(r)) if r.status == 200 => Ok(t.elapsed()),
        Ok(Some(r)) => Err(format!("chart answered {}", r.status)),
        Ok(None) => Err("chart: no reply".into()),
        Err(e) => Err(format!("chart: {e}")),
    }
}

/// The raw rate: one durable insert per transaction of a row shaped like a stored submission
/// (ids, the answers as JSON, score, flags, time), from `clients` tasks, into a database of the
/// same kind opened as kapstone opens it.
async fn raw_inserts(backend: &str, n: usize, clients: usize, limit: Duration) -> Phase {
    const TABLE: &str = "CREATE TABLE IF NOT EXISTS raw_submission (id TEXT PRIMARY KEY, clinic_id TEXT NOT NULL, \
         due_id TEXT NOT NULL, answers TEXT NOT NULL, total INTEGER NOT NULL, flags TEXT NOT NULL, \
         created_at TEXT NOT NULL)";
    const INSERT: &str = "INSERT INTO raw_submission (id, clinic_id, due_id, answers, total, flags, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let answers = r#"{"1":2,"2":1,"3":3,"4":0,"5":2,"6":1,"7":0,"8":1,"9":0}"#;
    let row = || {
        (
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
            now().to_string(),
        )
    };
    match backend {
        "sqlite" => {
            // kapstone's connection settings (WAL, synchronous FULL) and, as its writes do, one
            // connection: SQLite takes one writer at a time, and more connections only add
            // its busy handler's sleeps.
            let options = SqliteConnectOptions::from_str(&testing::sqlite_url())
                .expect("raw sqlite url")
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("raw sqlite");
            sqlx::query(TABLE).execute(&pool).await.expect("raw table");
            let clinic = uuid::Uuid::now_v7().to_string();
            drive(n, clients, limit, move |_, _| {
                let (pool, clinic) = (pool.clone(), clinic.clone());
                async move {
                    let (id, due, at) = row();
                    let t = Instant::now();
                    sqlx::query(INSERT)
                        .bind(id)
                        .bind(clinic)
                        .bind(due)
                        .bind(answers)
                        .bind(12_i64)
                        .bind("[]")
                        .bind(at)
                        .execute(&pool)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(t.elapsed())
                }
            })
            .await
        }
        _ => {
            let store = PgStore::connect(&testing::postgres_url().await)
                .await
                .expect("raw postgres");
            let pool = store.pool().clone();
            sqlx::query(TABLE).execute(&pool).await.expect("raw table");
            let clinic = uuid::Uuid::now_v7().to_string();
            drive(n, clients, limit, move |_, _| {
                let (pool, clinic) = (pool.clone(), clinic.clone());
                async move {
                    let (id, due, at) = row();
                    let t = Instant::now();
                    sqlx::query(INSERT)
                        .bind(id)
                        .bind(clinic)
                        .bind(due)
                        .bind(answers)
                        .bind(12_i64)
                        .bind("[]")
                        .bind(at)
                        .execute(&pool)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(t.elapsed())
                }
            })
            .await
        }
    }
}

/// The server's peak resident memory (VmHWM), in MiB.
fn peak_memory_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// A prescriber on one care team, signed in with a verified second factor; the session token.
async fn signed_in_clinician(store: &dyn Store, ctx: &AuditContext) -> (CareTeamId, String) {
    let user = store
        .add_user(
            ctx,
            &NewUser {
                email: "prescriber@synthetic.test".into(),
                display_name: "Synthetic Prescriber".into(),
                role: Role::Prescriber,
            },
        )
        .await
        .expect("user");
    let stamp = random_token();
    store
        .save_credential(
            ctx,
            &Credential {
                clinic_id: ctx.clinic_id,
                user_id: user.id,
                password_hash: None,
                totp_secret: None,
                totp_confirmed: true,
                totp_last_step: None,
                failed_attempts: 0,
                locked_until: None,
                security_stamp: stamp.clone(),
            },
        )
        .await
        .expect("credential");
    let team = store.create_team(ctx, "Load team").await.expect("team");
    store
        .add_team_member(ctx, team.id, user.id)
        .await
        .expect("member");
    let token = random_token();
    let at = now();
    store
        .create_session(
            &StaffSession {
                id: SessionId::new(),
                clinic_id: ctx.clinic_id,
                user_id: user.id,
                mfa_verified: true,
                csrf_token: random_token(),
                security_stamp: stamp,
                origin: "bench".into(),
                created_at: at,
                last_seen_at: at,
                expires_at: at + SignedDuration::from_hours(12),
            },
            &token_hash(&token),
        )
        .await
        .expect("session");
    (team.id, token)
}

async fn bench(backend: &'static str, args: &Args, bin: &Path, dir: &Path) {
    let (url, store): (String, Arc<dyn Store>) = match backend {
        "sqlite" => {
            let url = testing::sqlite_url();
            let s = SqliteStore::connect(&url)
                .await
                .expect("sqlite")
                .with_keys(testing::test_keys());
            s.migrate().await.expect("migrate");
            (url, Arc::new(s))
        }
        _ => {
            let url = testing::postgres_url().await;
            let s = PgStore::connect(&url)
                .await
                .expect("postgres")
                .with_keys(testing::test_keys());
            s.migrate().await.expect("migrate");
            (url, Arc::new(s))
        }
    };
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "Synthetic load clinic".into(),
                time_zone: "UTC".into(),
            },
            "bench",
        )
        .await
        .expect("clinic");
    let ctx = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "bench".into(),
    };
    let (team, session) = signed_in_clinician(store.as_ref(), &ctx).await;
    let lib = Library::builtin().expect("instruments");
    let mut rng = SplitMix64::new(20261203);
    let mut next_address = 0;
    let seeding = Instant::now();
    let links = Arc::new(
        seed_links(
            store.as_ref(),
            &ctx,
            &lib,
            &mut rng,
            &mut next_address,
            args.submissions * args.clients.len(),
            Some(team),
        )
        .await,
    );
    let mut patients: Vec<PatientId> = links.iter().map(|l| l.patient).collect();
    patients.dedup();
    let patients = Arc::new(patients);
    println!(
        "{backend:<8} seeded {} synthetic patients with {} portal links in {:.1} s (not timed)",
        patients.len(),
        links.len(),
        seeding.elapsed().as_secs_f64()
    );
    let (mut server, port) = start(bin, &url, &dir.join(format!("{backend}-server.log"))).await;
    println!(
        "{backend:<8} {:<12} {:>7} {:>6} {:>6} {:>8} {:>9} {:>8} {:>8}",
        "phase", "clients", "done", "errors", "seconds", "per s", "p50 ms", "p99 ms"
    );
    let mut ratios = Vec::new();
    for (level, &clients) in args.clients.iter().enumerate() {
        let first = level * args.submissions;
        let links = links.clone();
        let submissions = drive(args.submissions, clients, args.limit, move |_, i| {
            let links = links.clone();
            async move { submit(port, &links[first + i]).await }
        })
        .await;
        submissions.print(backend, "submissions", clients);
        let raw = raw_inserts(backend, args.submissions, clients, args.limit).await;
        raw.print(backend, "raw inserts", clients);
        let (patients, session) = (patients.clone(), session.clone());
        let reads = drive(args.reads, clients, args.limit, move |client, i| {
            let (patients, session) = (patients.clone(), session.clone());
            let [_, _, c, d] = u32::try_from(client).unwrap_or(0).to_be_bytes();
            async move {
                let source = Ipv4Addr::new(127, 200, c, d.wrapping_add(1));
                read_chart(port, source, &session, patients[i % patients.len()]).await
            }
        })
        .await;
        reads.print(backend, "chart reads", clients);
        ratios.push((
            clients,
            submissions.rate() / raw.rate(),
            submissions.errors.len() + reads.errors.len(),
        ));
    }
    let peak = peak_memory_mib(server.id());
    server.kill().ok();
    server.wait().ok();
    for (clients, ratio, errors) in ratios {
        let verdict = if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "{backend:<8} {clients:>2} clients: submissions / raw durable inserts = {ratio:.2}x \
             (target >= {TARGET_RATIO}x: {verdict}); errors {errors}"
        );
    }
    match peak {
        Some(mib) => println!("{backend:<8} server peak memory (VmHWM): {mib:.0} MiB"),
        None => println!("{backend:<8} server peak memory: not readable"),
    }
}

fn main() {
    let args = args();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("kapstone-load-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A copy, so that the binary cannot change under the run.
    let bin = dir.join("kapstone");
    std::fs::copy(env!("CARGO_BIN_EXE_kapstone"), &bin).expect("copy the kapstone binary");
    println!(
        "load: clients {:?}, {} submissions and {} chart reads per level, at most {} s per phase",
        args.clients,
        args.submissions,
        args.reads,
        args.limit.as_secs()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for backend in &args.backends {
            bench(backend, &args, &bin, &dir).await;
        }
    });
    println!("server logs: {}", dir.display());
}
