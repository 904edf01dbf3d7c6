//! The only code that touches SQLite: opening (pragmas, migrations), raw rows, sync state,
//! run records and per-key client state.

mod derived;
mod doctor;
mod import;
mod keys;
mod lock;
mod migrate;
mod prices;
mod raw;
mod runs;
mod state;
mod verify;

pub use derived::{BULK_LEGS, DerivedLeg, DerivedLegRef, DerivedSink, DerivedStamp};
pub use doctor::{KeyEvent, KeyRecord};
pub use import::{ConflictRow, ImportTx, PendingExport};
pub use keys::KeyStateDb;
pub use lock::{LockError, RunLock, lock_path};
pub use prices::{PriceRow, minute_bucket};
pub use raw::{LedgerGrouping, PageOutcome, Source, StreamSummary};
pub use runs::{RunOutcome, RunRecord, RunTotals};
pub use state::PageRows;
pub use verify::{VerifyRecord, VerifyTrigger};

use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// A failure of the local database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory could not be created or opened.
    #[error("cannot open database {path}: {detail}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The database was written by a newer version of kraken-tax.
    #[error(
        "database schema version {found} is newer than this kraken-tax knows ({known}); upgrade kraken-tax"
    )]
    NewerSchema {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A stored value could not be read back (the file was edited or damaged).
    #[error("damaged row in the database: {0}")]
    Corrupt(String),
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The local database of one or more accounts.
pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store {
    /// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        migrate::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// A migrated database in memory (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Creates the account row if it does not exist.
    pub fn ensure_account(&self, account: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO accounts (name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            (account, now_text()),
        )?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `ok`, or SQLite's list of problems.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
    }

    /// Every account in the database.
    pub fn accounts(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM accounts ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Opens a connection with the house pragmas, creating the file 0600 (and its directory 0700).
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let err = |detail: String| StoreError::Open {
        path: path.to_owned(),
        detail,
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err(e.to_string()))?;
    }
    // Create the file ourselves so that it is never, even briefly, readable by others.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| err(e.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "database {} has mode {:04o}; run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
    configure(&conn)?;
    Ok(conn)
}

/// Page size of new database files (existing files keep theirs: SQLite cannot change it in
/// WAL mode). With SQLite's default of 4 KiB, a large import spends a third more CPU on page
/// handling (B-tree descents and splits, page cache, WAL frames); measured on 1,000,000 ledger
/// rows inserted by SQLite alone, about 9 CPU s with 4 KiB pages, 7 with 16 KiB.
const NEW_PAGE_SIZE: i64 = 16 * 1024;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Must come before the file gets its first page (journal_mode=WAL writes it); a no-op on
    // an existing file.
    conn.pragma_update(None, "page_size", NEW_PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The current time as stored: RFC 3339 UTC with microseconds.
fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn every_migration_applies_to_an_empty_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/k.sqlite");
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            migrate::MIGRATIONS.len() as i64
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let journal: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let page: i64 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page, NEW_PAGE_SIZE);
        drop(store);
        // Reopening is a no-op for migrations.
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            migrate::MIGRATIONS.len() as i64
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        let store = Store::open(&path).unwrap();
        store.conn.pragma_update(None, "user_version", 999).unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 999, .. }),
            "{err}"
        );
    }
}
