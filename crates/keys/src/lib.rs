//! Field encryption at rest. The clinical free text, patients' contact details and TOTP secrets
//! are stored as `ks1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, sealed with
//! XChaCha20-Poly1305 (RustCrypto) under a 256-bit key. The associated data names the table,
//! column and clinic, so a value copied into another column or clinic does not open.
//!
//! Keys come from a key file (`kapstone keys new`) or the `KAPSTONE_KEYS` environment variable:
//! one key a line, `<id> <64 hex digits>`, the newest (the one that seals) first; older keys
//! stay to open what they sealed until `kapstone keys rotate` has re-sealed it. A keyring read
//! from a file notices when the file changes, so a running server picks up a rotation.
#![forbid(unsafe_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The prefix of every sealed value; a new format gets a new prefix.
pub const PREFIX: &str = "ks1:";
const NONCE: usize = 24;

/// A stored column that holds sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub table: &'static str,
    pub column: &'static str,
}

impl Field {
    const fn new(table: &'static str, column: &'static str) -> Field {
        Field { table, column }
    }
    pub const PATIENT_EMAIL: Field = Field::new("patient", "email");
    pub const PATIENT_PHONE: Field = Field::new("patient", "phone");
    pub const PATIENT_POSTAL_CODE: Field = Field::new("patient", "postal_code");
    pub const TOTP_SECRET: Field = Field::new("staff_credential", "totp_secret");
    pub const SCREENING_FINDINGS: Field = Field::new("screening", "findings");
    pub const SCREENING_NOTES: Field = Field::new("screening", "notes");
    pub const NOTE_BODY: Field = Field::new("encounter_note", "body");
    pub const NOTE_FIELDS: Field = Field::new("encounter_note", "fields");
    pub const ADDENDUM_BODY: Field = Field::new("addendum", "body");
    pub const ADVERSE_EVENT_DESCRIPTION: Field = Field::new("adverse_event", "description");
    pub const PSYCHOTHERAPY_NOTE_BODY: Field = Field::new("psychotherapy_note", "body");
}

/// Every sealed column: what rotation re-seals and the start-up check reads.
pub const SEALED: &[Field] = &[
    Field::PATIENT_EMAIL,
    Field::PATIENT_PHONE,
    Field::PATIENT_POSTAL_CODE,
    Field::TOTP_SECRET,
    Field::SCREENING_FINDINGS,
    Field::SCREENING_NOTES,
    Field::NOTE_BODY,
    Field::NOTE_FIELDS,
    Field::ADDENDUM_BODY,
    Field::ADVERSE_EVENT_DESCRIPTION,
    Field::PSYCHOTHERAPY_NOTE_BODY,
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "no encryption key is loaded: give --key-file FILE or KAPSTONE_KEY_FILE (create one with `kapstone keys new`)"
    )]
    NoKey,
    #[error("a value is sealed with key {0}, which the key file does not hold")]
    UnknownKey(String),
    #[error(
        "a value sealed with key {0} does not open: the key file's key {0} is not the key it was sealed with, or the value was altered"
    )]
    WrongKey(String),
    #[error("a {0} value is stored unencrypted")]
    Plaintext(String),
    #[error("a sealed value is malformed: {0}")]
    Malformed(String),
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
}

struct Key {
    id: String,
    secret: Zeroizing<[u8; 32]>,
}

enum Source {
    None,
    File(PathBuf),
    Environment,
}

struct Loaded {
    /// The sealing key first.
    keys: Vec<Key>,
    modified: Option<SystemTime>,
}

/// The keys a process holds. Cheap to share behind an `Arc`.
pub struct Keyring {
    source: Source,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        write!(f, "Keyring({:?})", self.ids())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is not something a clinic can recover from at runtime.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    bytes
}

fn parse(text: &str, origin: &str) -> Result<Vec<Key>, KeyError> {
    let bad = |n: usize, m: &str| KeyError::File {
        path: origin.to_string(),
        message: format!("line {n}: {m}"),
    };
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, hex_key) = line
            .split_once(' ')
            .ok_or_else(|| bad(i + 1, "expected '<key id> <64 hex digits>'"))?;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) || id.len() > 32 {
            return Err(bad(i + 1, "a key id is 1 to 32 letters and digits"));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key.trim(), secret.as_mut())
            .map_err(|_| bad(i + 1, "the key is not 64 hex digits"))?;
        if keys.iter().any(|k: &Key| k.id == id) {
            return Err(bad(i + 1, "the key id appears twice"));
        }
        keys.push(Key {
            id: id.to_string(),
            secret,
        });
    }
    if keys.is_empty() {
        return Err(KeyError::File {
            path: origin.to_string(),
            message: "it holds no key".into(),
        });
    }
    Ok(keys)
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn new_key() -> Key {
    Key {
        id: hex::encode(random::<4>()),
        secret: Zeroizing::new(random::<32>()),
    }
}

fn key_line(k: &Key) -> String {
    format!("{} {}\n", k.id, hex::encode(k.secret.as_ref()))
}

/// Writes `text` to `path` readable by its owner only, replacing it atomically.
fn write_private(path: &Path, text: &str, create_new: bool) -> Result<(), KeyError> {
    let tmp = if create_new {
        path.to_path_buf()
    } else {
        path.with_extension("tmp")
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| file_error(path, e))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, e))?;
    if !create_new {
        keep_owner_and_mode(path, &tmp);
        std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))?;
    }
    Ok(())
}

/// The replacement keeps the old file's owner, group and mode, so a service that could read the
/// key file still can after `kapstone keys rotate` run by root.
fn keep_owner_and_mode(old: &Path, new: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(old) {
        use std::os::unix::fs::MetadataExt;
        // Only root may give a file away; for anyone else the file stays theirs, as before.
        let _ = std::os::unix::fs::chown(new, Some(meta.uid()), Some(meta.gid()));
        let _ = std::fs::set_permissions(new, meta.permissions());
    }
}

const FILE_HEADER: &str = "# kapstone field encryption keys: '<id> <key>', the sealing key first.\n\
# Keep this file off backups' media and readable by kapstone only; without it the\n\
# encrypted fields cannot be read.\n";

impl Keyring {
    /// No keys: every seal and open fails with `KeyError::NoKey`. For commands that never
    /// touch sealed fields (migrate, backup, restore, report).
    pub fn none() -> Keyring {
        Keyring {
            source: Source::None,
            loaded: RwLock::new(Loaded {
                keys: vec![],
                modified: None,
            }),
        }
    }

    pub fn from_file(path: &Path) -> Result<Keyring, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        Ok(Keyring {
            loaded: RwLock::new(Loaded {
                keys: parse(&text, &path.display().to_string())?,
                modified: modified(path),
            }),
            source: Source::File(path.to_path_buf()),
        })
    }

    /// Keys given in the environment (`KAPSTONE_KEYS`), in the key file's format; `;` may stand
    /// for a line break.
    pub fn from_text(text: &str) -> Result<Keyring, KeyError> {
        Ok(Keyring {
            loaded: RwLock::new(Loaded {
                keys: parse(&text.replace(';', "\n"), "KAPSTONE_KEYS")?,
                modified: None,
            }),
            source: Source::Environment,
        })
    }

    /// Creates a new key file holding one new key; refuses to overwrite. Returns the key id.
    pub fn create_file(path: &Path) -> Result<String, KeyError> {
        let key = new_key();
        write_private(path, &format!("{FILE_HEADER}{}", key_line(&key)), true)?;
        Ok(key.id)
    }

    /// Puts a new sealing key at the head of the key file, keeping the older ones for opening
    /// what they sealed. Returns the new key's id.
    pub fn add_to_file(path: &Path) -> Result<String, KeyError> {
        let old = parse(
            &std::fs::read_to_string(path).map_err(|e| file_error(path, e))?,
            &path.display().to_string(),
        )?;
        let key = new_key();
        let mut text = format!("{FILE_HEADER}{}", key_line(&key));
        for k in &old {
            text.push_str(&key_line(k));
        }
        write_private(path, &text, false)?;
        Ok(key.id)
    }

    /// Removes keys other than the sealing key from the key file (after rotation has re-sealed
    /// everything they sealed). Returns the removed ids.
    pub fn retire_in_file(path: &Path) -> Result<Vec<String>, KeyError> {
        let keys = parse(
            &std::fs::read_to_string(path).map_err(|e| file_error(path, e))?,
            &path.display().to_string(),
        )?;
        let removed = keys.iter().skip(1).map(|k| k.id.clone()).collect();
        write_private(path, &format!("{FILE_HEADER}{}", key_line(&keys[0])), false)?;
        Ok(removed)
    }

    /// Re-reads the key file if it changed since it was read.
    fn refresh(&self) {
        let Source::File(path) = &self.source else {
            return;
        };
        let now = modified(path);
        let stale = self
            .loaded
            .read()
            .map(|l| l.modified != now)
            .unwrap_or(false);
        if !stale {
            return;
        }
        // A file caught half-written, or removed, keeps the keys already held.
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(keys) = parse(&text, &path.display().to_string())
            && let Ok(mut loaded) = self.loaded.write()
        {
            *loaded = Loaded {
                keys,
                modified: now,
            };
        }
    }

    /// The ids of the keys held, the sealing key first.
    pub fn ids(&self) -> Vec<String> {
        self.loaded
            .read()
            .map(|l| l.keys.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The id of the key that seals, after picking up any change to the key file.
    pub fn sealing_id(&self) -> Option<String> {
        self.refresh();
        self.ids().into_iter().next()
    }

    pub fn is_loaded(&self) -> bool {
        !self.ids().is_empty()
    }

    fn aad(field: Field, clinic: &dyn std::fmt::Display) -> String {
        format!("kapstone {}.{} {clinic}", field.table, field.column)
    }

    /// Seals `plain` for `field` of `clinic` under the sealing key.
    pub fn seal(
        &self,
        field: Field,
        clinic: &dyn std::fmt::Display,
        plain: &str,
    ) -> Result<String, KeyError> {
        self.refresh();
        let loaded = self.loaded.read().map_err(|_| KeyError::NoKey)?;
        let key = loaded.keys.first().ok_or(KeyError::NoKey)?;
        let cipher = XChaCha20Poly1305::new(key.secret.as_ref().into());
        let nonce = random::<NONCE>();
        let aad = Self::aad(field, clinic);
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Malformed("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Opens a value `seal` made for the same field and clinic.
    pub fn open(
        &self,
        field: Field,
        clinic: &dyn std::fmt::Display,
        stored: &str,
    ) -> Result<String, KeyError> {
        let Some(id) = key_id(stored) else {
            return Err(KeyError::Plaintext(format!(
                "{}.{}",
                field.table, field.column
            )));
        };
        if !self.ids().iter().any(|k| k == id) {
            self.refresh();
        }
        let loaded = self.loaded.read().map_err(|_| KeyError::NoKey)?;
        if loaded.keys.is_empty() {
            return Err(KeyError::NoKey);
        }
        let key = loaded
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyError::UnknownKey(id.to_string()))?;
        let body = &stored[PREFIX.len() + id.len() + 1..];
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        if bytes.len() < NONCE {
            return Err(KeyError::Malformed("too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce
            .try_into()
            .map_err(|_| KeyError::Malformed("nonce".into()))?;
        let aad = Self::aad(field, clinic);
        let plain = XChaCha20Poly1305::new(key.secret.as_ref().into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::WrongKey(id.to_string()))?;
        String::from_utf8(plain).map_err(|e| KeyError::Malformed(e.to_string()))
    }

    /// Seals an optional value (absent stays absent).
    pub fn seal_opt(
        &self,
        field: Field,
        clinic: &dyn std::fmt::Display,
        plain: Option<&str>,
    ) -> Result<Option<String>, KeyError> {
        plain.map(|p| self.seal(field, clinic, p)).transpose()
    }

    pub fn open_opt(
        &self,
        field: Field,
        clinic: &dyn std::fmt::Display,
        stored: Option<&str>,
    ) -> Result<Option<String>, KeyError> {
        stored.map(|s| self.open(field, clinic, s)).transpose()
    }
}

/// The key id a sealed value names, or `None` for a value that is not sealed.
pub fn key_id(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(PREFIX)?;
    let (id, _) = rest.split_once(':')?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("kapstone-keys-{}", hex::encode(random::<8>())))
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_field_clinic_and_key() {
        let path = scratch();
        let id = Keyring::create_file(&path).expect("create");
        let ring = Keyring::from_file(&path).expect("read");
        let sealed = ring
            .seal(
                Field::NOTE_BODY,
                &"clinic-a",
                "Patient tolerated the session well",
            )
            .expect("seal");
        assert!(sealed.starts_with(&format!("ks1:{id}:")), "{sealed}");
        assert!(!sealed.contains("tolerated"));
        assert_ne!(
            sealed,
            ring.seal(
                Field::NOTE_BODY,
                &"clinic-a",
                "Patient tolerated the session well"
            )
            .expect("seal"),
            "a fresh nonce each time"
        );
        assert_eq!(
            ring.open(Field::NOTE_BODY, &"clinic-a", &sealed).as_deref(),
            Ok("Patient tolerated the session well")
        );
        assert_eq!(
            ring.open(Field::ADDENDUM_BODY, &"clinic-a", &sealed),
            Err(KeyError::WrongKey(id.clone())),
            "moved to another column"
        );
        assert_eq!(
            ring.open(Field::NOTE_BODY, &"clinic-b", &sealed),
            Err(KeyError::WrongKey(id.clone())),
            "moved to another clinic"
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open(Field::NOTE_BODY, &"clinic-a", &altered).is_err());
        assert_eq!(
            ring.open(Field::NOTE_BODY, &"clinic-a", "plain text"),
            Err(KeyError::Plaintext("encounter_note.body".into()))
        );
        assert_eq!(
            Keyring::none().seal(Field::NOTE_BODY, &"clinic-a", "x"),
            Err(KeyError::NoKey)
        );
        let other = Keyring::from_text(&format!("{id} {}", "00".repeat(32))).expect("env");
        assert_eq!(
            other.open(Field::NOTE_BODY, &"clinic-a", &sealed),
            Err(KeyError::WrongKey(id.clone()))
        );
        assert_eq!(
            format!("{ring:?}"),
            format!("Keyring([\"{id}\"])"),
            "no secret in Debug"
        );
        std::fs::remove_file(&path).expect("clean");
    }

    #[test]
    fn a_running_keyring_picks_up_a_new_key_and_keeps_opening_the_old() {
        let path = scratch();
        let first = Keyring::create_file(&path).expect("create");
        let ring = Keyring::from_file(&path).expect("read");
        let old = ring
            .seal(Field::TOTP_SECRET, &"c", "JBSWY3DPEHPK3PXP")
            .expect("seal");
        // File timestamps can be coarse: make sure the change is seen as one.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = Keyring::add_to_file(&path).expect("add");
        let touched = std::fs::File::options()
            .append(true)
            .open(&path)
            .expect("open");
        touched
            .set_modified(SystemTime::now() + std::time::Duration::from_secs(1))
            .expect("touch");
        assert_eq!(ring.sealing_id(), Some(second.clone()));
        let new = ring
            .seal(Field::TOTP_SECRET, &"c", "JBSWY3DPEHPK3PXP")
            .expect("seal");
        assert_eq!(key_id(&new), Some(second.as_str()));
        assert_eq!(
            ring.open(Field::TOTP_SECRET, &"c", &old).as_deref(),
            Ok("JBSWY3DPEHPK3PXP")
        );
        assert_eq!(Keyring::retire_in_file(&path).expect("retire"), vec![first]);
        let fresh = Keyring::from_file(&path).expect("read");
        assert_eq!(fresh.ids(), vec![second]);
        assert!(matches!(
            fresh.open(Field::TOTP_SECRET, &"c", &old),
            Err(KeyError::UnknownKey(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Keyring::create_file(&path).is_err(), "never overwritten");
        std::fs::remove_file(&path).expect("clean");
    }

    #[test]
    fn bad_key_files_are_named() {
        for (text, expect) in [
            ("", "holds no key"),
            ("abc", "expected"),
            ("abc 1234", "64 hex digits"),
            ("a-b 00", "letters and digits"),
        ] {
            let e = Keyring::from_text(text).expect_err(text);
            assert!(e.to_string().contains(expect), "{text}: {e}");
        }
    }
}
