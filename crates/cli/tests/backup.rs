//! The backup commands as an operator types them: a key, a backup that must be encrypted unless
//! said otherwise, verify, restore (refused into a non-empty database), and `kapstone serve`
//! taking scheduled backups on its own.

mod support;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};
use support::{kapstone, ok};

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kapstone-cli-backup-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn clinic(db: &str) {
    ok(&kapstone(&[
        "clinic",
        "create",
        "--db",
        db,
        "--name",
        "Backup Clinic",
        "--time-zone",
        "UTC",
    ]));
    ok(&kapstone(&[
        "user",
        "add",
        "--db",
        db,
        "--email",
        "admin@backup.test",
        "--role",
        "admin",
    ]));
}

#[test]
fn back_up_verify_and_restore_from_the_command_line() {
    let dir = scratch();
    let db = url(&dir, "clinic.db");
    clinic(&db);
    let key = dir.join("key.txt");
    let key_arg = key.to_str().expect("path");
    let recipient = ok(&kapstone(&["backup", "new-key", "--out", key_arg]));
    let recipient = recipient.trim();
    assert!(recipient.starts_with("age1"), "{recipient}");
    // The private key is its owner's alone, and never overwritten.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    refused(&kapstone(&["backup", "new-key", "--out", key_arg]));

    let file = dir.join("clinic.kbk");
    let file_arg = file.to_str().expect("path");
    let e = refused(&kapstone(&["backup", "--db", &db, "--out", file_arg]));
    assert!(
        e.contains("--recipient") && e.contains("--unencrypted"),
        "{e}"
    );
    assert!(!file.exists(), "nothing written");
    let e = refused(&kapstone(&[
        "backup",
        "--db",
        &db,
        "--out",
        file_arg,
        "--recipient",
        "age1notakey",
    ]));
    assert!(e.contains("--recipient: 'age1notakey'"), "{e}");

    let said = ok(&kapstone(&[
        "backup",
        "--db",
        &db,
        "--out",
        file_arg,
        "--recipient",
        recipient,
    ]));
    assert!(said.contains("backup written"), "{said}");
    let verified = ok(&kapstone(&[
        "backup",
        "verify",
        file_arg,
        "--identity",
        key_arg,
    ]));
    assert!(verified.contains("backup verified"), "{verified}");
    assert!(verified.contains("audit chain intact"), "{verified}");
    let e = refused(&kapstone(&["backup", "verify", file_arg]));
    assert!(e.contains("--identity"), "{e}");

    let copy = url(&dir, "copy.db");
    let restored = ok(&kapstone(&[
        "restore",
        file_arg,
        "--db",
        &copy,
        "--identity",
        key_arg,
    ]));
    assert!(restored.contains("Backup Clinic"), "{restored}");
    ok(&kapstone(&["audit", "verify", "--db", &copy]));
    let e = refused(&kapstone(&[
        "restore",
        file_arg,
        "--db",
        &copy,
        "--identity",
        key_arg,
    ]));
    assert!(e.contains("not empty") && e.contains("table"), "{e}");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_takes_scheduled_backups_that_verify() {
    let dir = scratch();
    let db = url(&dir, "clinic.db");
    clinic(&db);
    let key = dir.join("key.txt");
    let key_arg = key.to_str().expect("path");
    let recipient = ok(&kapstone(&["backup", "new-key", "--out", key_arg]));
    let backups = dir.join("backups");

    let e = refused(&kapstone(&[
        "serve",
        "--db",
        &db,
        "--addr",
        "127.0.0.1:0",
        "--backup-dir",
        backups.to_str().expect("path"),
    ]));
    assert!(e.contains("--backup-recipient"), "{e}");
    let e = refused(&kapstone(&[
        "serve",
        "--db",
        &db,
        "--addr",
        "127.0.0.1:0",
        "--backup-dir",
        backups.to_str().expect("path"),
        "--backup-every",
        "10s",
        "--backup-unencrypted",
    ]));
    assert!(e.contains("--backup-every: '10s'"), "{e}");

    let server = Server(
        support::command()
            .args([
                "serve",
                "--db",
                &db,
                "--addr",
                "127.0.0.1:0",
                "--backup-dir",
                backups.to_str().expect("path"),
                "--backup-every",
                "1h",
                "--backup-recipient",
                recipient.trim(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    // With no backup yet, the first is due at once.
    let started = Instant::now();
    let written = loop {
        let found: Vec<PathBuf> = std::fs::read_dir(&backups)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "kbk"))
                    .collect()
            })
            .unwrap_or_default();
        // The attempt is recorded just after the file is in place.
        if let (Some(f), true) = (found.first(), backups.join("last-attempt.json").exists()) {
            break f.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no scheduled backup appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(server);
    let verified = ok(&kapstone(&[
        "backup",
        "verify",
        written.to_str().expect("path"),
        "--identity",
        key_arg,
    ]));
    assert!(verified.contains("Backup Clinic"), "{verified}");
    let attempt = std::fs::read_to_string(backups.join("last-attempt.json")).expect("attempt");
    assert!(attempt.contains("\"ok\": true"), "{attempt}");
}
