//! What can go wrong with a backup, in words an operator can act on.

use kapstone_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A recipient or identity could not be used.
    #[error("key: {0}")]
    Key(String),
    #[error("this backup is encrypted: give --identity with an age key file that can open it")]
    NeedsIdentity,
    #[error("wrong key: no identity in the key file can open this backup")]
    WrongKey,
    #[error("not a kapstone backup: {0}")]
    NotABackup(String),
    /// The file was damaged, cut short or tampered with; nothing was written.
    #[error("the backup is damaged or incomplete: {0}")]
    Damaged(String),
    #[error(
        "the backup's format version is {found}, newer than this kapstone reads ({supported}); restore it with kapstone {writer} or later"
    )]
    NewerFormat {
        found: u32,
        supported: u32,
        writer: String,
    },
    #[error(
        "the backup's schema includes migration {migration}, which this kapstone does not know; restore it with kapstone {writer} or later"
    )]
    NewerSchema { migration: String, writer: String },
    #[error("the target database is not empty: {0}; restore only into an empty database")]
    TargetNotEmpty(String),
    #[error(
        "the target database is already migrated to {found}, past the backup's level ({backup}); restore into a new, empty database"
    )]
    TargetAhead { found: String, backup: String },
    #[error("restored, but the check against the manifest failed: {0}")]
    Check(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
