//! Backup files end to end, on SQLite and PostgreSQL: taken while another task writes, restored
//! both ways, opened by the real `age` tool; and every way a file can be wrong refused with
//! nothing written.

use flate2::read::GzDecoder;
use jiff::civil::date;
use kapstone_backup::{BackupError, Encryption, Identities};
use kapstone_clinical::vocab::{Role, Sex};
use kapstone_store::model::*;
use kapstone_store::{Dump, Store, testing};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Keys {
    identity: age::x25519::Identity,
    file: PathBuf,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kapstone-backup-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

fn new_keys() -> Keys {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let file = scratch("key.txt");
    std::fs::write(&file, format!("{}\n", identity.to_string().expose_secret())).expect("key");
    Keys { identity, file }
}

impl Keys {
    fn encryption(&self) -> Encryption {
        Encryption::Age(vec![Box::new(self.identity.to_public())])
    }
    fn identities(&self) -> Identities {
        kapstone_backup::identities_from_file(&self.file).expect("identities")
    }
}

fn details(n: u64) -> PatientDetails {
    PatientDetails {
        given_name: format!("Synthetic{n}"),
        family_name: "Patient".into(),
        birth_date: date(1980, 1, 1 + (n % 28) as i8),
        sex: Sex::Female,
        email: Some(format!("p{n}@example.org")),
        phone: None,
        postal_code: None,
    }
}

async fn clinic(store: &dyn Store) -> AuditContext {
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "Backup Clinic".into(),
                time_zone: "America/Denver".into(),
            },
            "test",
        )
        .await
        .expect("clinic");
    let system = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let user = store
        .add_user(
            &system,
            &NewUser {
                email: "admin@example.org".into(),
                display_name: "Admin".into(),
                role: Role::Admin,
            },
        )
        .await
        .expect("user");
    let ctx = AuditContext {
        actor: Actor::User(user.id),
        ..system
    };
    for n in 0..50 {
        let patient = NewPatient {
            mrn: None,
            details: details(n),
        };
        store.create_patient(&ctx, &patient).await.expect("patient");
    }
    ctx
}

/// Writes patients until told to stop, counting them.
fn writer(
    store: Arc<dyn Store>,
    ctx: AuditContext,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 1_000;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let patient = NewPatient {
                mrn: None,
                details: details(n),
            };
            store
                .create_patient(&ctx, &patient)
                .await
                .expect("write under load");
            written.fetch_add(1, Ordering::Relaxed);
        }
    })
}

fn run_age_decrypt(keys: &Keys, file: &Path) -> String {
    let plain = file.with_extension("plain.gz");
    let out = Command::new("age")
        .arg("--decrypt")
        .arg("--identity")
        .arg(&keys.file)
        .arg("--output")
        .arg(&plain)
        .arg(file)
        .output()
        .expect("the age tool must be installed (Debian: age); scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "age: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut first = String::new();
    BufReader::new(GzDecoder::new(std::fs::File::open(&plain).expect("plain")))
        .read_line(&mut first)
        .expect("manifest line");
    first
}

async fn backup_under_load_restores_into_both_backends(source: Arc<dyn Store>, url: &str) {
    let ctx = clinic(source.as_ref()).await;
    let keys = new_keys();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let load = writer(source.clone(), ctx.clone(), stop.clone(), written.clone());
    // Let the writer get going, so the snapshot is taken between its commits.
    while written.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let file = scratch("clinic.kbk");
    let taken = kapstone_backup::backup(source.as_ref(), url, &file, keys.encryption())
        .await
        .expect("backup");
    let during = written.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    load.await.expect("writer");
    assert!(during > 20, "the writer wrote while the backup ran");
    assert!(
        !taken
            .manifest
            .source
            .database
            .contains("kapstone:kapstone@"),
        "no password"
    );

    // The manifest names the clinic, its rows and its audit tip.
    let clinic = &taken.manifest.clinics[0];
    let patients = clinic.rows["patient"];
    assert!((50..=50 + during).contains(&patients), "{patients}");
    let tip = clinic.audit_head.clone().expect("audit tip");
    assert_eq!(clinic.rows["audit_event"], tip.seq as u64);

    for target in [
        Box::new(testing::sqlite_store().await) as Box<dyn Store>,
        Box::new(testing::postgres_store().await) as Box<dyn Store>,
    ] {
        let restored = kapstone_backup::restore(&file, keys.identities(), target.as_ref())
            .await
            .unwrap_or_else(|e| panic!("restore into {}: {e}", target.backend()));
        assert_eq!(restored.rows, taken.rows);
        assert_eq!(restored.audit_events, tip.seq);
        // The snapshot is one moment: every patient in it has its creation in the audit log.
        let found = target
            .find_patients(
                &AuditContext {
                    clinic_id: ctx.clinic_id,
                    actor: Actor::System,
                    origin: "test".into(),
                },
                Scope::Clinic,
                "Synthetic",
                1_000_000,
            )
            .await
            .expect("patients");
        assert_eq!(found.len() as u64, patients);
        let created = target
            .audit_events(
                ctx.clinic_id,
                &AuditFilter {
                    limit: 1_000_000,
                    ..Default::default()
                },
            )
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "patient.create")
            .count();
        assert_eq!(created as u64, patients);
    }

    let manifest = run_age_decrypt(&keys, &file);
    assert!(
        manifest.contains("\"format\":\"kapstone-backup\""),
        "{manifest}"
    );
    assert!(manifest.contains("\"format_version\":1"), "{manifest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_under_load_restores_into_both_backends() {
    let url = testing::sqlite_url();
    let store = kapstone_store::SqliteStore::connect(&url)
        .await
        .expect("open")
        .with_keys(testing::test_keys());
    store.migrate().await.expect("migrate");
    backup_under_load_restores_into_both_backends(Arc::new(store), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_under_load_restores_into_both_backends() {
    let url = testing::postgres_url().await;
    let store = kapstone_store::PgStore::connect(&url)
        .await
        .expect("open")
        .with_keys(testing::test_keys());
    store.migrate().await.expect("migrate");
    backup_under_load_restores_into_both_backends(Arc::new(store), &url).await;
}

/// Restores `file` into a fresh database and checks it was refused with nothing written.
async fn refused(file: &Path, identities: Identities) -> BackupError {
    let target = testing::sqlite_url();
    let store = kapstone_store::SqliteStore::connect(&target)
        .await
        .expect("open");
    let e = kapstone_backup::restore(file, identities, &store)
        .await
        .expect_err("refused");
    assert!(store.occupied_tables().await.expect("occupied").is_empty());
    assert!(
        store
            .applied_migrations()
            .await
            .expect("migrations")
            .is_empty(),
        "not even migrated"
    );
    e
}

fn rewrite(file: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(file).expect("read");
    change(&mut bytes);
    let out = file.with_file_name(name);
    std::fs::write(&out, bytes).expect("write");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_and_keys_are_refused_and_nothing_is_written() {
    let store = testing::sqlite_store().await;
    clinic(&store).await;
    let keys = new_keys();
    let file = scratch("good.kbk");
    kapstone_backup::backup(&store, "sqlite://source.db", &file, keys.encryption())
        .await
        .expect("backup");
    let size = std::fs::metadata(&file).expect("size").len() as usize;

    let cut = rewrite(&file, "cut.kbk", |b| b.truncate(size / 2));
    let e = refused(&cut, keys.identities()).await;
    assert!(matches!(e, BackupError::Damaged(_)), "{e}");

    let flipped = rewrite(&file, "flipped.kbk", |b| b[size - 40] ^= 0x01);
    let e = refused(&flipped, keys.identities()).await;
    assert!(matches!(e, BackupError::Damaged(_)), "{e}");

    let e = refused(&file, new_keys().identities()).await;
    assert!(matches!(e, BackupError::WrongKey), "{e}");
    assert!(e.to_string().contains("wrong key"), "{e}");

    let e = refused(&file, Vec::new()).await;
    assert!(matches!(e, BackupError::NeedsIdentity), "{e}");
    assert!(e.to_string().contains("--identity"), "{e}");

    let e = refused(&keys.file, keys.identities()).await;
    assert!(matches!(e, BackupError::NotABackup(_)), "{e}");

    // A newer format, written as a future kapstone would (unencrypted, so it can be edited).
    let plain = scratch("plain.kbk");
    kapstone_backup::backup(&store, "sqlite://source.db", &plain, Encryption::None)
        .await
        .expect("unencrypted backup");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut GzDecoder::new(std::fs::File::open(&plain).expect("open")),
        &mut text,
    )
    .expect("gunzip");
    let newer = text.replacen("\"format_version\":1", "\"format_version\":2", 1);
    let future = scratch("future.kbk");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&future).expect("create"),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, newer.as_bytes()).expect("write");
    gz.finish().expect("finish");
    let e = refused(&future, Vec::new()).await;
    assert!(
        matches!(e, BackupError::NewerFormat { found: 2, .. }),
        "{e}"
    );

    // The unencrypted backup itself restores without a key.
    let target = testing::sqlite_store().await;
    kapstone_backup::restore(&plain, Vec::new(), &target)
        .await
        .expect("unencrypted restore");

    // A database that holds anything is refused, named, and left alone.
    let e = kapstone_backup::restore(&file, keys.identities(), &target)
        .await
        .expect_err("not empty");
    assert!(matches!(e, BackupError::TargetNotEmpty(_)), "{e}");
    assert!(e.to_string().contains("has 1 row"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_restores_into_a_scratch_database_and_leaves_nothing_behind() {
    let store = testing::sqlite_store().await;
    clinic(&store).await;
    let keys = new_keys();
    let file = scratch("verify.kbk");
    kapstone_backup::backup(&store, "sqlite://source.db", &file, keys.encryption())
        .await
        .expect("backup");
    let scratch_dir = file.with_file_name("scratch");
    std::fs::create_dir_all(&scratch_dir).expect("dir");
    let verified = kapstone_backup::verify(&file, keys.identities(), &scratch_dir)
        .await
        .expect("verify");
    assert_eq!(verified.manifest.clinics.len(), 1);
    assert!(verified.audit_events > 50);
    assert_eq!(
        std::fs::read_dir(&scratch_dir).expect("dir").count(),
        0,
        "the scratch copy is removed"
    );
    let e = kapstone_backup::verify(&file, new_keys().identities(), &scratch_dir)
        .await
        .expect_err("wrong key");
    assert!(matches!(e, BackupError::WrongKey), "{e}");
}
