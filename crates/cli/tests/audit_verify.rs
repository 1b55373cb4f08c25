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
