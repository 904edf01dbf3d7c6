//! The run lock: one sync per database and account at a time.
//!
//! An OS file lock (`flock`) on a file beside the database: the kernel releases it when the
//! holder exits, even by SIGKILL, so a lock left by a killed process is never an obstacle;
//! the file's text (pid, start time) only names the holder for the message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another sync of account {account:?} is running ({holder}); try again later")]
    Held {
        /// The account.
        account: String,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot use lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held run lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// Set when the previous holder died without releasing the lock file's text.
    pub stale_holder: Option<String>,
}

/// The lock file of `account` in the database at `db`.
pub fn lock_path(db: &Path, account: &str) -> PathBuf {
    // Account names may hold any printable character: name the file by a hex encoding.
    let hex = crate::domain::hex(account.as_bytes());
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".sync-{hex}.lock"));
    db.with_file_name(name)
}

impl RunLock {
    /// Takes the lock without waiting.
    pub fn acquire(db: &Path, account: &str) -> Result<RunLock, LockError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = lock_path(db, account);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        super::create_parent_dir(&path).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let mut previous = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut previous);
                let holder = previous.trim();
                return Err(LockError::Held {
                    account: account.to_owned(),
                    holder: if holder.is_empty() {
                        "process unknown".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let _ = file.read_to_string(&mut previous);
        let stale_holder = Some(previous.trim().to_owned()).filter(|p| !p.is_empty());
        let me = format!(
            "pid {}, started {}",
            std::process::id(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock {
            file,
            path,
            stale_holder,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the holder's name, then let the kernel release the lock with the file.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        tracing::debug!(path = %self.path.display(), "run lock released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.sqlite");
        let first = RunLock::acquire(&db, "main").unwrap();
        assert_eq!(first.stale_holder, None);
        let err = RunLock::acquire(&db, "main").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "another sync of account \"main\" is running (pid {}, started ",
                std::process::id()
            )),
            "{msg}"
        );
        // Another account of the same database is independent.
        let _other = RunLock::acquire(&db, "second").unwrap();
        drop(first);
        let again = RunLock::acquire(&db, "main").unwrap();
        assert_eq!(
            again.stale_holder, None,
            "a clean release leaves no stale text"
        );
    }

    #[test]
    fn the_lock_creates_the_database_directory_on_a_fresh_machine() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new/data/k.sqlite");
        let lock = RunLock::acquire(&db, "main").unwrap();
        assert_eq!(lock.stale_holder, None);
        let mode = std::fs::metadata(dir.path().join("new/data"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(lock_path(&db, "main").exists());
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.sqlite");
        std::fs::write(
            lock_path(&db, "main"),
            "pid 999999, started 2026-01-01 00:00:00 UTC",
        )
        .unwrap();
        let lock = RunLock::acquire(&db, "main").unwrap();
        assert_eq!(
            lock.stale_holder.as_deref(),
            Some("pid 999999, started 2026-01-01 00:00:00 UTC")
        );
    }
}
