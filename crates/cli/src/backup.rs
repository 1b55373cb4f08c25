//! `kapstone backup`, `kapstone backup verify`, `kapstone backup new-key` and `kapstone restore`.

use crate::{Failure, open};
use kapstone_backup::schedule::Schedule;
use kapstone_backup::{BackupError, Encryption, Identities, Restored, Written};
use std::path::Path;
use std::str::FromStr;

fn failure(e: BackupError) -> Failure {
    match e {
        BackupError::Key(_)
        | BackupError::NeedsIdentity
        | BackupError::WrongKey
        | BackupError::NotABackup(_)
        | BackupError::NewerFormat { .. }
        | BackupError::NewerSchema { .. }
        | BackupError::TargetNotEmpty(_)
        | BackupError::TargetAhead { .. } => Failure::input(e.to_string()),
        other => Failure::other(other.to_string()),
    }
}

/// The encryption the flags ask for: at least one recipient, or `--unencrypted` said outright.
pub fn encryption(recipients: &[String], unencrypted: bool) -> Result<Encryption, Failure> {
    match (recipients.is_empty(), unencrypted) {
        (true, false) => Err(Failure::input(
            "--recipient: a backup holds the whole clinical record and is encrypted; give at least one age public key (age1…, see `kapstone backup new-key`), or --unencrypted to write it in the clear",
        )),
        (false, true) => Err(Failure::input(
            "--unencrypted: cannot be combined with --recipient",
        )),
        (true, true) => Ok(Encryption::None),
        (false, false) => {
            let mut keys: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
            for r in recipients {
                let key = age::x25519::Recipient::from_str(r.trim()).map_err(|e| {
                    Failure::input(format!(
                        "--recipient: '{r}' is not an age X25519 public key (age1…): {e}"
                    ))
                })?;
                keys.push(Box::new(key));
            }
            Ok(Encryption::Age(keys))
        }
    }
}

pub fn identities(identity: Option<&Path>) -> Result<Identities, Failure> {
    match identity {
        None => Ok(Vec::new()),
        Some(path) => kapstone_backup::identities_from_file(path)
            .map_err(|e| Failure::input(format!("--identity: {e}"))),
    }
}

pub async fn backup(db: &str, out: &Path, encryption: Encryption) -> Result<(), Failure> {
    let store = open(db).await?;
    let written = kapstone_backup::backup(store.as_ref(), db, out, encryption)
        .await
        .map_err(failure)?;
    print_written(&written);
    Ok(())
}

fn print_written(w: &Written) {
    println!(
        "backup written: {} ({} bytes; {} tables, {} rows, {} clinic(s); schema {}; taken {})",
        w.path.display(),
        w.bytes,
        w.tables,
        w.rows,
        w.manifest.clinics.len(),
        w.manifest.migrations.last().map_or("none", String::as_str),
        w.manifest.taken_at,
    );
}

pub async fn restore(file: &Path, db: &str, identity: Option<&Path>) -> Result<(), Failure> {
    let identities = identities(identity)?;
    let store = open(db).await?;
    let restored = kapstone_backup::restore(file, identities, store.as_ref())
        .await
        .map_err(failure)?;
    println!("restored into {}:", kapstone_store::redact_url(db));
    print_restored(&restored);
    Ok(())
}

pub async fn verify(file: &Path, identity: Option<&Path>) -> Result<(), Failure> {
    let identities = identities(identity)?;
    let restored = kapstone_backup::verify(file, identities, &std::env::temp_dir())
        .await
        .map_err(failure)?;
    println!(
        "backup verified: {} restores completely into an empty database",
        file.display()
    );
    print_restored(&restored);
    Ok(())
}

fn print_restored(r: &Restored) {
    let m = &r.manifest;
    println!(
        "  taken {} from {} ({}) by kapstone {}, schema {}",
        m.taken_at,
        m.source.database,
        m.source.backend,
        m.kapstone_version,
        m.migrations.last().map_or("none", String::as_str)
    );
    println!(
        "  {} tables, {} rows, each table equal to the backup's digest",
        r.tables, r.rows
    );
    for c in &m.clinics {
        let rows: u64 = c.rows.values().sum();
        let head = c
            .audit_head
            .as_ref()
            .map_or("no audit events".to_string(), |h| {
                format!(
                    "audit chain intact to event {} ({})",
                    h.seq,
                    &h.hash[..12.min(h.hash.len())]
                )
            });
        println!("  clinic {} ({}): {rows} rows, {head}", c.name, c.id);
    }
    println!("  {} audit event(s) verified", r.audit_events);
    if !r.upgraded.is_empty() {
        println!("  then upgraded the schema: {}", r.upgraded.join(", "));
    }
}

/// Writes a new age identity to `out` (readable by its owner only) and prints its public key.
pub fn new_key(out: &Path) -> Result<(), Failure> {
    let recipient = new_key_file(out)?;
    println!("{recipient}");
    eprintln!(
        "wrote the private key to {}; keep it off this server (whoever holds it can read every backup made to {recipient})",
        out.display()
    );
    Ok(())
}

/// Writes a new age identity to `out`, with its public key in a comment, and returns the
/// public key.
fn new_key_file(out: &Path) -> Result<age::x25519::Recipient, Failure> {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let text = format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        jiff::Timestamp::now(),
        identity.to_string().expose_secret()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(out)
        .map_err(|e| Failure::input(format!("--out: {}: {e}", out.display())))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::other(format!("{}: {e}", out.display())))?;
    Ok(recipient)
}

/// `kapstone serve`'s scheduled-backup flags.
#[derive(clap::Args)]
pub struct ScheduleArgs {
    /// Take scheduled backups into this directory (one file each, named by the time).
    #[arg(long, env = "KAPSTONE_BACKUP_DIR", value_name = "DIR")]
    backup_dir: Option<std::path::PathBuf>,
    /// How often: 30m, 6h, 1d…
    #[arg(
        long,
        env = "KAPSTONE_BACKUP_EVERY",
        default_value = "1d",
        value_name = "DURATION"
    )]
    backup_every: String,
    /// How many good backups to keep; older ones are deleted.
    #[arg(
        long,
        env = "KAPSTONE_BACKUP_KEEP",
        default_value_t = 14,
        value_name = "N"
    )]
    backup_keep: usize,
    /// An age public key (age1…) the backups are encrypted to; repeat for more than one.
    #[arg(
        long = "backup-recipient",
        env = "KAPSTONE_BACKUP_RECIPIENTS",
        value_delimiter = ',',
        value_name = "AGE_PUBLIC_KEY"
    )]
    backup_recipients: Vec<String>,
    /// Write scheduled backups compressed but not encrypted.
    #[arg(long)]
    backup_unencrypted: bool,
}

impl ScheduleArgs {
    /// The schedule the flags describe, or none without `--backup-dir`.
    pub fn schedule(self) -> Result<Option<Schedule>, Failure> {
        let Some(dir) = self.backup_dir else {
            return Ok(None);
        };
        Schedule::new(
            dir,
            &self.backup_every,
            self.backup_keep,
            &self.backup_recipients,
            self.backup_unencrypted,
        )
        .map(Some)
        .map_err(|e| Failure::input(format!("--{e}")))
    }
}

/// The demo's own schedule: daily backups beside its database, encrypted to a key it keeps
/// there too (synthetic data; a real clinic keeps the private key off the server).
pub fn demo_schedule(db: &str) -> Result<Schedule, Failure> {
    let base = db
        .strip_prefix("sqlite://")
        .map_or_else(|| "kapstone-demo".to_string(), str::to_string);
    let dir = std::path::PathBuf::from(format!("{base}-backups"));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::other(format!("{}: {e}", dir.display())))?;
    let key = dir.join("demo-backup-key.txt");
    if !key.exists() {
        new_key_file(&key)?;
    }
    let recipient = key_recipient(&key)?;
    Schedule::new(dir, "1d", 3, &[recipient], false).map_err(Failure::other)
}

fn key_recipient(key: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| Failure::other(format!("{}: {e}", key.display())))?;
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .map(str::to_string)
        .ok_or_else(|| Failure::other(format!("{}: no public key line", key.display())))
}
