//! Checking a backup without touching any clinic database: it is restored into a scratch
//! SQLite database that is deleted afterwards, so "verified" means "it restores".

use crate::error::{BackupError, Result};
use crate::read::Identities;
use crate::restore::{Restored, restore};
use kapstone_store::SqliteStore;
use std::path::Path;

/// Restores `path` into a scratch database under `scratch_dir` and reports what it held.
pub async fn verify(path: &Path, identities: Identities, scratch_dir: &Path) -> Result<Restored> {
    let nonce = jiff::Timestamp::now().as_nanosecond();
    let dir = scratch_dir.join(format!("kapstone-verify-{}-{nonce}", std::process::id()));
    create_private_dir(&dir)?;
    let url = format!("sqlite://{}", dir.join("verify.db").display());
    let result = async {
        let store = SqliteStore::connect(&url)
            .await
            .map_err(BackupError::Store)?;
        let restored = restore(path, identities, &store).await;
        store.close().await;
        restored
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        // The scratch copy holds the whole record while it exists.
        builder.mode(0o700);
    }
    builder.create(dir)?;
    Ok(())
}
