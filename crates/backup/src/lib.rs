//! kapstone's backups: one backend-neutral file, compressed and encrypted to age recipients,
//! taken from a read snapshot while the clinic keeps working; restored into an empty SQLite or
//! PostgreSQL database and checked row for row, chain for chain, against its manifest.
#![forbid(unsafe_code)]

pub mod error;
pub mod format;
pub mod read;
pub mod restore;
pub mod schedule;
pub mod verify;
pub mod write;

pub use error::{BackupError, Result};
pub use format::Manifest;
pub use read::{Identities, identities_from_file};
pub use restore::{Restored, restore};
pub use verify::verify;
pub use write::{Encryption, Written, backup};
