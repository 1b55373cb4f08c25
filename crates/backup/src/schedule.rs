//! Scheduled backups inside `kapstone serve`. The backup directory is the schedule's memory:
//! the newest complete backup file says when the next one is due, so a restart neither skips
//! an overdue backup nor takes an extra one, and `last-attempt.json` records the last try
//! (good or failed) for the admin page.

use crate::error::{BackupError, Result};
use crate::write::{Encryption, backup};
use jiff::{SignedDuration, Timestamp};
use kapstone_store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

const PREFIX: &str = "kapstone-";
const SUFFIX: &str = ".kbk";
const ATTEMPT_FILE: &str = "last-attempt.json";
/// After a failed backup, the next try comes this soon (or at the interval, if shorter).
const RETRY: SignedDuration = SignedDuration::from_mins(5);

/// What the operator configured.
#[derive(Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: SignedDuration,
    /// How many good backups to keep; older ones are deleted after each good backup.
    pub keep: usize,
    recipients: Vec<age::x25519::Recipient>,
}

impl Schedule {
    /// Checks the configuration: an interval of at least a minute, `keep` of at least one, and
    /// age recipients (none only when `unencrypted` is said outright). Errors name the flag.
    pub fn new(
        dir: PathBuf,
        every: &str,
        keep: usize,
        recipients: &[String],
        unencrypted: bool,
    ) -> std::result::Result<Schedule, String> {
        let every = parse_interval(every)?;
        if keep == 0 {
            return Err("backup-keep: keep at least 1 backup".into());
        }
        if recipients.is_empty() && !unencrypted {
            return Err("backup-recipient: scheduled backups are encrypted; give at least one age public key (age1…), or --backup-unencrypted".into());
        }
        if !recipients.is_empty() && unencrypted {
            return Err("backup-unencrypted: cannot be combined with --backup-recipient".into());
        }
        let recipients = recipients
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r.trim()).map_err(|e| {
                    format!("backup-recipient: '{r}' is not an age X25519 public key (age1…): {e}")
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("backup-dir: cannot create {}: {e}", dir.display()))?;
        Ok(Schedule {
            dir,
            every,
            keep,
            recipients,
        })
    }

    fn encryption(&self) -> Encryption {
        if self.recipients.is_empty() {
            Encryption::None
        } else {
            Encryption::Age(
                self.recipients
                    .iter()
                    .map(|r| Box::new(r.clone()) as Box<dyn age::Recipient + Send>)
                    .collect(),
            )
        }
    }

    /// When the next backup is due: at once without a good backup, else one interval after
    /// the newest good one (sooner after a failure, so a broken night is retried).
    pub fn next_due(&self, status: &Status) -> Timestamp {
        let after_good = status
            .last_good
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |g| g.taken_at + self.every);
        match &status.last_attempt {
            Some(a) if !a.ok => after_good.max(a.at + RETRY.min(self.every)),
            _ => after_good,
        }
    }

    /// Takes one backup now, records the attempt, and prunes old backups after a good one.
    pub async fn take(&self, store: &dyn Store, database_url: &str) -> Attempt {
        let at = Timestamp::now();
        let name = format!("{PREFIX}{}{SUFFIX}", at.strftime("%Y%m%dT%H%M%SZ"));
        let result = backup(
            store,
            database_url,
            &self.dir.join(&name),
            self.encryption(),
        )
        .await;
        let attempt = match result {
            Ok(w) => Attempt {
                at,
                ok: true,
                file: Some(name),
                bytes: Some(w.bytes),
                error: None,
                took_ms: Timestamp::now().duration_since(at).as_millis() as i64,
            },
            Err(e) => Attempt {
                at,
                ok: false,
                file: None,
                bytes: None,
                error: Some(e.to_string()),
                took_ms: Timestamp::now().duration_since(at).as_millis() as i64,
            },
        };
        if let Err(e) = write_attempt(&self.dir, &attempt) {
            warn(&format!("cannot record the backup attempt: {e}"));
        }
        if attempt.ok
            && let Err(e) = self.prune()
        {
            warn(&format!("cannot remove old backups: {e}"));
        }
        attempt
    }

    /// Deletes all but the newest `keep` good backups, and what a stopped server left half
    /// written (this runs between backups, so no `.partial` file is still being written).
    fn prune(&self) -> Result<()> {
        let good = good_backups(&self.dir)?;
        for old in good.iter().skip(self.keep) {
            std::fs::remove_file(self.dir.join(&old.file))?;
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX) && name.ends_with(".partial") {
                std::fs::remove_file(self.dir.join(name))?;
            }
        }
        Ok(())
    }

    pub fn status(&self) -> Status {
        let good = good_backups(&self.dir).unwrap_or_default();
        Status {
            last_good: good.into_iter().next(),
            last_attempt: read_attempt(&self.dir),
            every: self.every,
        }
    }

    /// Runs until the process ends: sleeps until the next backup is due, takes it, repeats.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>, database_url: String) {
        loop {
            let due = self.next_due(&self.status());
            let wait = due.duration_since(Timestamp::now());
            if wait.is_positive() {
                tokio::time::sleep(wait.unsigned_abs()).await;
            }
            let attempt = self.take(store.as_ref(), &database_url).await;
            if attempt.ok {
                tracing::info!(
                    target: "kapstone::backup",
                    file = attempt.file.as_deref().unwrap_or_default(),
                    bytes = attempt.bytes.unwrap_or_default(),
                    took_ms = attempt.took_ms,
                    "scheduled backup written"
                );
            } else {
                warn(&format!(
                    "scheduled backup failed: {}",
                    attempt.error.unwrap_or_default()
                ));
            }
        }
    }
}

// Backups log only operational facts: file names, sizes and errors, never rows.
fn warn(message: &str) {
    tracing::warn!(target: "kapstone::backup", "{message}");
}

/// `30m`, `6h`, `1d` or any span jiff reads (`PT6H`, `1 day`).
pub fn parse_interval(text: &str) -> std::result::Result<SignedDuration, String> {
    let bad = || {
        format!("backup-every: '{text}' is not an interval; write e.g. 30m, 6h or 1d (at least 1m)")
    };
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let span = match (number.parse::<i64>(), unit) {
        (Ok(n), "m") => SignedDuration::from_mins(n),
        (Ok(n), "h") => SignedDuration::from_hours(n),
        (Ok(n), "d") => SignedDuration::from_hours(n.saturating_mul(24)),
        _ => t.parse::<SignedDuration>().map_err(|_| bad())?,
    };
    if span < SignedDuration::from_mins(1) {
        return Err(bad());
    }
    Ok(span)
}

/// The last attempt, good or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: Timestamp,
    pub ok: bool,
    pub file: Option<String>,
    pub bytes: Option<u64>,
    pub error: Option<String>,
    pub took_ms: i64,
}

/// A complete backup file in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodBackup {
    pub file: String,
    pub taken_at: Timestamp,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub last_good: Option<GoodBackup>,
    pub last_attempt: Option<Attempt>,
    pub every: SignedDuration,
}

impl Status {
    /// True when no good backup is younger than twice the interval: someone should look.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.last_good
            .as_ref()
            .is_none_or(|g| now.duration_since(g.taken_at) > self.every * 2)
    }
}

/// The directory's complete backups, newest first (a `.partial` file is still being written or
/// was abandoned, and is not a backup).
fn good_backups(dir: &Path) -> Result<Vec<GoodBackup>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stamp) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
        else {
            continue;
        };
        let Ok(taken) = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp) else {
            continue;
        };
        let Ok(taken_at) = taken
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
        else {
            continue;
        };
        found.push(GoodBackup {
            file: name,
            taken_at,
            bytes: entry.metadata()?.len(),
        });
    }
    found.sort_by_key(|b| std::cmp::Reverse(b.taken_at));
    Ok(found)
}

fn write_attempt(dir: &Path, attempt: &Attempt) -> Result<()> {
    let text = serde_json::to_string_pretty(attempt)
        .map_err(|e| BackupError::Io(std::io::Error::other(e)))?;
    let tmp = dir.join(format!("{ATTEMPT_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(ATTEMPT_FILE))?;
    Ok(())
}

fn read_attempt(dir: &Path) -> Option<Attempt> {
    let text = std::fs::read_to_string(dir.join(ATTEMPT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(dir: &Path) -> Schedule {
        Schedule::new(dir.to_path_buf(), "6h", 2, &[], true).expect("schedule")
    }

    #[test]
    fn intervals_are_read_with_their_unit_and_refused_below_a_minute() {
        assert_eq!(parse_interval("30m"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse_interval("6h"), Ok(SignedDuration::from_hours(6)));
        assert_eq!(parse_interval("1d"), Ok(SignedDuration::from_hours(24)));
        assert_eq!(parse_interval("PT2H"), Ok(SignedDuration::from_hours(2)));
        for bad in ["", "0m", "30s", "soon", "-1h"] {
            let e = parse_interval(bad).expect_err(bad);
            assert!(e.starts_with("backup-every:"), "{e}");
        }
    }

    #[test]
    fn the_directory_says_when_the_next_backup_is_due_and_what_is_overdue() {
        let dir = std::env::temp_dir().join(format!(
            "kapstone-schedule-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        let s = schedule(&dir);
        let now = Timestamp::now();
        let empty = s.status();
        assert!(empty.overdue(now), "no backup at all is overdue");
        assert!(s.next_due(&empty) <= now, "due at once");

        let taken: Timestamp = "2026-12-01T02:00:00Z".parse().expect("time");
        for (hours, bytes) in [(0, 10), (-6, 20), (-12, 30)] {
            let at = taken + SignedDuration::from_hours(hours);
            let name = format!("kapstone-{}.kbk", at.strftime("%Y%m%dT%H%M%SZ"));
            std::fs::write(dir.join(name), vec![0u8; bytes]).expect("file");
        }
        std::fs::write(dir.join("kapstone-20261201T080000Z.kbk.partial"), "x").expect("partial");
        let status = s.status();
        let good = status.last_good.clone().expect("good");
        assert_eq!((good.taken_at, good.bytes), (taken, 10));
        assert_eq!(s.next_due(&status), taken + SignedDuration::from_hours(6));
        assert!(!status.overdue(taken + SignedDuration::from_hours(12)));
        assert!(status.overdue(taken + SignedDuration::from_hours(13)));

        // A failure is retried within minutes, not at the next interval.
        let failed = Attempt {
            at: taken + SignedDuration::from_hours(6),
            ok: false,
            file: None,
            bytes: None,
            error: Some("disk full".into()),
            took_ms: 3,
        };
        write_attempt(&dir, &failed).expect("attempt");
        let status = s.status();
        assert_eq!(status.last_attempt, Some(failed.clone()));
        assert_eq!(s.next_due(&status), failed.at + RETRY);

        s.prune().expect("prune");
        let left: Vec<String> = good_backups(&dir)
            .expect("list")
            .into_iter()
            .map(|g| g.file)
            .collect();
        assert_eq!(
            left,
            [
                "kapstone-20261201T020000Z.kbk",
                "kapstone-20261130T200000Z.kbk"
            ]
        );
        assert!(!dir.join("kapstone-20261201T080000Z.kbk.partial").exists());
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
