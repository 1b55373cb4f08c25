//! What admins see of the server's scheduled backups.

use crate::auth::Staff;
use crate::policy::Action;
use crate::{App, AppError};
use kapstone_backup::schedule::Status;

/// The backup state as the admin pages show it.
#[derive(Debug, Clone)]
pub enum BackupState {
    /// The server was started without `--backup-dir`: nothing is being backed up.
    NotScheduled,
    Scheduled {
        dir: String,
        keep: usize,
        status: Status,
    },
}

impl BackupState {
    /// Whether admins should be warned on every page: no schedule, or no good backup younger
    /// than twice the interval.
    pub fn needs_attention(&self, now: jiff::Timestamp) -> bool {
        match self {
            BackupState::NotScheduled => true,
            BackupState::Scheduled { status, .. } => status.overdue(now),
        }
    }
}

impl App {
    pub async fn backup_state(&self, staff: &Staff) -> Result<BackupState, AppError> {
        self.allow(staff, Action::ViewBackups, None).await?;
        let Some(schedule) = self.backups.clone() else {
            return Ok(BackupState::NotScheduled);
        };
        let status = tokio::task::spawn_blocking({
            let schedule = schedule.clone();
            move || schedule.status()
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(BackupState::Scheduled {
            dir: schedule.dir.display().to_string(),
            keep: schedule.keep,
            status,
        })
    }
}
