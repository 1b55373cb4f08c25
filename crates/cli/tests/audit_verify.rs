//! `kapstone migrate` and `kapstone audit verify` on both backends, and tampering: changing,
//! deleting or truncating audit rows makes verification fail and name the event.

use jiff::civil::date;
use kapstone_clinical::vocab::Sex;
use kapstone_store::model::*;
use kapstone_store::{Store, testing};
use std::process::{Command, Output};

fn kapstone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .args(args)
        .env_remove("KAPSTONE_DB")
        .output()
        .expect("run kapstone")
}

/// Migrates through the binary, then writes a small history through the store: 2 + 5 events.
async fn populated(store: &dyn Store, url: &str) -> Vec<AuditEvent> {
    let out = kapstone(&["migrate", "--db", url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0001_foundation"));
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "C".into(),
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
    let p = store
        .create_patient(
            &ctx,
            &NewPatient {
                mrn: None,
                details: PatientDetails {
                    given_name: "Ada".into(),
                    family_name: "Lovelace".into(),
                    birth_date: date(1980, 1, 1),
                    sex: Sex::Female,
                    email: None,
                    phone: None,
                    postal_code: None,
                },
            },
        )
        .await
        .expect("patient");
    for _ in 0..5 {
        store.patient(&ctx, p.id).await.expect("read");
    }
    let mut events = store
        .audit_events(
            clinic.id,
            &AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("events");
    events.reverse();
    assert_eq!(events.len(), 7);
    events
}

fn verify(url: &str) -> (bool, String, String) {
    let out = kapstone(&["audit", "verify", "--db", url]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tampering_is_detected_and_named() {
    let url = testing::sqlite_url();
    let store = kapstone_store::SqliteStore::connect(&url)
        .await
        .expect("open");
    let events = populated(&store, &url).await;
    let (ok, out, _) = verify(&url);
    assert!(
        ok && out.contains("audit log intact: 7 event(s) in 1 clinic chain(s)"),
        "{out}"
    );

    let pool = store.pool();
    let update = sqlx::query("UPDATE audit_event SET action = 'patient.create' WHERE seq = 4")
        .execute(pool)
        .await;
    assert!(update.is_err(), "the append-only trigger refuses updates");

    sqlx::query("DROP TRIGGER audit_event_append_only")
        .execute(pool)
        .await
        .expect("drop trigger");
    sqlx::query("UPDATE audit_event SET origin = '10.9.9.9' WHERE seq = 4")
        .execute(pool)
        .await
        .expect("tamper");
    let (ok, _, err) = verify(&url);
    assert!(!ok);
    let target = &events[3];
    assert!(
        err.contains(&format!(
            "broken at event {} (seq 4): its contents do not match its hash",
            target.id
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tampering_is_detected_and_named() {
    let url = testing::postgres_url().await;
    let store = kapstone_store::PgStore::connect(&url).await.expect("open");
    let events = populated(&store, &url).await;
    let (ok, out, _) = verify(&url);
    assert!(ok && out.contains("7 event(s)"), "{out}");

    let pool = store.pool();
    assert!(
        sqlx::query("DELETE FROM audit_event WHERE seq = 7")
            .execute(pool)
            .await
            .is_err()
    );
    sqlx::query("DROP TRIGGER audit_event_append_only_delete ON audit_event")
        .execute(pool)
        .await
        .expect("drop");
    // Removing an event from the middle breaks the sequence at the event after it.
    sqlx::query("DELETE FROM audit_event WHERE seq = 5")
        .execute(pool)
        .await
        .expect("tamper");
    let (ok, _, err) = verify(&url);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "broken at event {} (seq 6): expected seq 5 here",
            events[5].id
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_hash_or_a_truncated_tail_is_detected() {
    let url = testing::sqlite_url();
    let store = kapstone_store::SqliteStore::connect(&url)
        .await
        .expect("open");
    let events = populated(&store, &url).await;
    let pool = store.pool();
    sqlx::query("DROP TRIGGER audit_event_append_only_delete")
        .execute(pool)
        .await
        .expect("drop");
    sqlx::query("DELETE FROM audit_event WHERE seq = 7")
        .execute(pool)
        .await
        .expect("truncate");
    let (ok, _, err) = verify(&url);
    assert!(
        !ok && err.contains("the chain ends at seq 6 but the recorded tip seq 7 differs"),
        "{err}"
    );

    // Recomputing a changed event's own hash still breaks the link to the next one.
    sqlx::query("DROP TRIGGER audit_event_append_only")
        .execute(pool)
        .await
        .expect("drop");
    let mut forged = events[2].clone();
    forged.origin = "forged".into();
    forged.hash = kapstone_store::audit::event_hash(&forged);
    sqlx::query("UPDATE audit_event SET origin = $1, hash = $2 WHERE seq = 3")
        .bind(&forged.origin)
        .bind(&forged.hash)
        .execute(pool)
        .await
        .expect("forge");
    let (ok, _, err) = verify(&url);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "broken at event {} (seq 4): its prev_hash does not match",
            events[3].id
        )),
        "{err}"
    );
}

/// The database under the store, for tampering as an attacker with database access would.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Raw::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Cutting the last events and setting the chain's head back to match passes the chain's own
/// check (nothing inside the database remembers the head), so `audit verify` alone says
/// "intact"; against the anchor file it names the missing events. Events written after such a
/// cut reach the anchored number again, with different contents, and are named as a rewrite.
async fn anchors_find_a_cut_or_rewritten_tail(store: &dyn Store, url: &str, raw: Raw) {
    let events = populated(store, url).await;
    let dir =
        std::env::temp_dir().join(format!("kapstone-anchor-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("audit.anchor");
    let file_arg = file.to_str().expect("path");
    let anchor = || {
        let out = kapstone(&["audit", "anchor", "--db", url, "--file", file_arg]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    anchor();
    let clinic = events[0].clinic_id;
    let ctx = AuditContext {
        clinic_id: clinic,
        actor: Actor::System,
        origin: "test".into(),
    };
    let patient = events
        .iter()
        .find_map(|e| e.patient_id)
        .expect("a patient event");
    for _ in 0..2 {
        store.patient(&ctx, patient).await.expect("read");
    }
    anchor();
    let lines = std::fs::read_to_string(&file).expect("anchor file");
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"seq\":9")),
        "{lines}"
    );
    let with_anchor = || kapstone(&["audit", "verify", "--db", url, "--anchor", file_arg]);
    assert!(with_anchor().status.success());

    // The cut: events 8 and 9 deleted, the head set back to event 7.
    raw.exec(match raw {
        Raw::Sqlite(_) => "DROP TRIGGER audit_event_append_only_delete",
        Raw::Pg(_) => "DROP TRIGGER audit_event_append_only_delete ON audit_event",
    })
    .await;
    raw.exec("DELETE FROM audit_event WHERE seq > 7").await;
    raw.exec(&format!(
        "UPDATE audit_head SET seq = 7, hash = '{}'",
        events[6].hash
    ))
    .await;
    let (ok, out, err) = verify(url);
    assert!(
        ok && out.contains("intact: 7 event(s)"),
        "the chain alone cannot tell: {out}{err}"
    );
    let out = with_anchor();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("clinic {clinic}: events 8 to 9 are missing"))
            && err.contains("the chain now ends at 7"),
        "{err}"
    );

    // Writing on past the cut reaches event 9 again, but not the anchored one.
    for _ in 0..2 {
        store.patient(&ctx, patient).await.expect("read");
    }
    let out = with_anchor();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("clinic {clinic}: event 9 is not the one anchored")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_anchors_find_a_cut_or_rewritten_tail() {
    let url = testing::sqlite_url();
    let store = kapstone_store::SqliteStore::connect(&url)
        .await
        .expect("open");
    let raw = Raw::Sqlite(store.pool().clone());
    anchors_find_a_cut_or_rewritten_tail(&store, &url, raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_anchors_find_a_cut_or_rewritten_tail() {
    let url = testing::postgres_url().await;
    let store = kapstone_store::PgStore::connect(&url).await.expect("open");
    let raw = Raw::Pg(store.pool().clone());
    anchors_find_a_cut_or_rewritten_tail(&store, &url, raw).await;
}

/// `kapstone serve --audit-anchor FILE` anchors the heads as it starts and every interval after.
#[test]
fn the_server_anchors_the_heads_as_it_runs() {
    let url = testing::sqlite_url();
    let out = kapstone(&[
        "clinic",
        "create",
        "--db",
        &url,
        "--name",
        "C",
        "--time-zone",
        "UTC",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::env::temp_dir().join(format!(
        "kapstone-anchor-{}.jsonl",
        uuid::Uuid::now_v7().simple()
    ));
    let mut server = Command::new(env!("CARGO_BIN_EXE_kapstone"))
        .env("KAPSTONE_KEYS", testing::TEST_KEYS)
        .env_remove("KAPSTONE_DB")
        .args([
            "serve",
            "--db",
            &url,
            "--addr",
            "127.0.0.1:0",
            "--anchor-every",
            "1m",
        ])
        .arg("--audit-anchor")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.ends_with('\n') || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    server.kill().ok();
    server.wait().ok();
    let anchors = kapstone_store::audit_anchor::parse_anchors(&text).expect("anchor lines");
    assert_eq!(anchors.len(), 1, "{text}");
    assert_eq!(anchors[0].seq, 1, "the clinic's creation");
    let out = kapstone(&[
        "audit",
        "verify",
        "--db",
        &url,
        "--anchor",
        file.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("every anchored head"));
    std::fs::remove_file(&file).ok();
}
