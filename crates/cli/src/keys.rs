//! The field encryption key on the command line: where it comes from, the start-up check,
//! `kapstone keys new` and `kapstone keys rotate`.

use crate::Failure;
use kapstone_keys::{KeyError, Keyring};
use kapstone_store::sealing::KeyCensus;
use kapstone_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable that may hold the keys themselves (the key file's lines, `;` for a
/// line break), for deployments that inject secrets through the environment.
pub const KEYS_ENV: &str = "KAPSTONE_KEYS";

#[derive(clap::Args, Clone, Default)]
pub struct KeyArgs {
    /// The field encryption key file (`kapstone keys new`); or give the keys in KAPSTONE_KEYS.
    #[arg(long, env = "KAPSTONE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The keys given, if any: the file first, else the environment.
    pub fn keyring(&self) -> Result<Option<Arc<Keyring>>, Failure> {
        if let Some(path) = &self.key_file {
            return Keyring::from_file(path)
                .map(|k| Some(Arc::new(k)))
                .map_err(|e| Failure::input(format!("--key-file: {e}")));
        }
        match std::env::var(KEYS_ENV) {
            Ok(text) if !text.trim().is_empty() => Keyring::from_text(&text)
                .map(|k| Some(Arc::new(k)))
                .map_err(|e| Failure::input(format!("{KEYS_ENV}: {e}"))),
            _ => Ok(None),
        }
    }

    /// The keys, required: for commands that write encrypted fields.
    pub fn required(&self, command: &str) -> Result<Arc<Keyring>, Failure> {
        self.keyring()?.ok_or_else(|| {
            Failure::input(format!(
                "--key-file: kapstone {command} encrypts clinical notes, contact details and sign-in secrets, and needs the key: create one with `kapstone keys new --out FILE` and pass --key-file FILE (or KAPSTONE_KEY_FILE, or the keys in {KEYS_ENV})"
            ))
        })
    }
}

fn key_failure(e: StoreError) -> Failure {
    match e {
        StoreError::Sealing(k) => Failure::input(match k {
            KeyError::NoKey => "the database holds encrypted values and no key was given: pass --key-file FILE (or KAPSTONE_KEY_FILE, or KAPSTONE_KEYS)".to_string(),
            KeyError::UnknownKey(id) => format!("the database holds values encrypted with key {id}, which the key given does not hold: give the key file that has it"),
            KeyError::WrongKey(id) => format!("the key given as {id} does not open the values encrypted with key {id}: it is the wrong key file"),
            other => other.to_string(),
        }),
        other => Failure::other(other.to_string()),
    }
}

/// Refuses to go on when the database holds encrypted values the keys cannot open, naming the
/// key; then seals any values stored before encryption at rest, so none stays in the clear.
pub async fn start_up(store: &dyn Store) -> Result<KeyCensus, Failure> {
    let census = store.check_keys().await.map_err(key_failure)?;
    let plaintext: u64 = census.plaintext.values().sum();
    if plaintext > 0 {
        let done = store.reseal().await.map_err(key_failure)?;
        tracing::info!(
            values = done.values,
            were_plaintext = done.were_plaintext,
            "sealed values stored before encryption at rest"
        );
    }
    Ok(census)
}

/// `kapstone keys new --out FILE`.
pub fn new(out: &Path) -> Result<(), Failure> {
    let id = Keyring::create_file(out).map_err(|e| Failure::input(format!("--out: {e}")))?;
    println!("{}", out.display());
    eprintln!(
        "wrote field encryption key {id} to {}; readable by its owner only. Keep a copy somewhere safe and apart from the backups: without it the encrypted fields cannot be read.",
        out.display()
    );
    Ok(())
}

/// `kapstone keys rotate --db URL --key-file FILE [--retire]`: a new sealing key at the head of
/// the file (a running server picks it up), every value re-sealed under it, and with
/// `--retire` the old keys removed from the file once nothing needs them.
pub async fn rotate(db: &str, file: &Path, retire: bool) -> Result<(), Failure> {
    let current =
        Keyring::from_file(file).map_err(|e| Failure::input(format!("--key-file: {e}")))?;
    // The file must open everything before it changes.
    crate::open_with_keys(db, Arc::new(current))
        .await?
        .check_keys()
        .await
        .map_err(key_failure)?;
    let new_id = Keyring::add_to_file(file).map_err(|e| Failure::other(e.to_string()))?;
    let keys = Keyring::from_file(file).map_err(|e| Failure::other(e.to_string()))?;
    let store = crate::open_with_keys(db, Arc::new(keys)).await?;
    let done = store.reseal().await.map_err(key_failure)?;
    let census = store.key_census().await.map_err(key_failure)?;
    let others: Vec<&String> = census.sealed.keys().filter(|k| **k != new_id).collect();
    println!(
        "new sealing key {new_id}; re-sealed {} value(s) ({} had been stored unencrypted)",
        done.values, done.were_plaintext
    );
    if !others.is_empty() || !census.plaintext.is_empty() {
        return Err(Failure::other(format!(
            "values sealed with {others:?} or unencrypted remain (written while rotating?): run kapstone keys rotate again"
        )));
    }
    if retire {
        let removed = Keyring::retire_in_file(file).map_err(|e| Failure::other(e.to_string()))?;
        println!(
            "retired {removed:?} from {}: backups made before this rotation need a copy of the old key file to be read",
            file.display()
        );
    }
    Ok(())
}

/// The demo's key: a file beside its database, created on first use (synthetic data; a real
/// clinic keeps its key file apart from the database and the backups).
pub fn demo_keys(db: &str) -> Result<Arc<Keyring>, Failure> {
    let file = PathBuf::from(format!(
        "{}.keys",
        db.strip_prefix("sqlite://").unwrap_or("kapstone-demo")
    ));
    if !file.exists() {
        Keyring::create_file(&file).map_err(|e| Failure::other(e.to_string()))?;
    }
    KeyArgs {
        key_file: Some(file),
    }
    .required("demo")
}
