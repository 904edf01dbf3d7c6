//! The only code that touches SQLite: opening (pragmas, migrations), raw rows, sync state,
//! run records and per-key client state.

mod derived;
mod doctor;
mod dry_run;
mod gains_facts;
mod import;
mod keys;
mod lock;
mod migrate;
mod prices;
mod raw;
mod runs;
mod state;
mod verify;
mod warnings;

pub use derived::{DerivedLeg, DerivedLegRef, DerivedSink, DerivedStamp, OwnedFields, YearLeg};
pub use doctor::{KeyEvent, KeyRecord};
pub use gains_facts::{BasisRecord, EntryLabel};
pub use import::{ConflictRow, ImportTx, PendingExport};
pub use keys::KeyStateDb;
pub use lock::{LockError, RunLock, lock_path};
pub use prices::{PriceRow, minute_bucket};
pub use raw::{LedgerGrouping, PageOutcome, Source, StreamSummary};
pub use runs::{RunOutcome, RunRecord, RunTotals};
pub use state::PageRows;
pub use verify::{VerifyRecord, VerifyTrigger};
pub use warnings::TypeWarning;

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
    /// `PRAGMA quick_check` found damage: the file was damaged (disk, copy, editing).
    #[error(
        "the database file is damaged ({0}); restore it from a backup, or move it aside and sync again"
    )]
    Damaged(String),
    /// Any other SQLite error, said as the cause (never with SQL text).
    #[error("{}", describe_sqlite(.0))]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl StoreError {
    /// True when the file itself is damaged, unreadable or cannot be written (disk full, I/O
    /// error): no command may carry on as if it had succeeded.
    pub fn is_damage(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            StoreError::Damaged(_) | StoreError::Corrupt(_) => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    C::DatabaseCorrupt
                        | C::NotADatabase
                        | C::DiskFull
                        | C::SystemIoFailure
                        | C::ReadOnly
                        | C::CannotOpen
                        | C::PermissionDenied
                )
            ),
            StoreError::Open { .. } | StoreError::NewerSchema { .. } => false,
        }
    }

    /// True for an I/O failure or a full disk (the caller may know the free space).
    pub fn is_io(&self) -> bool {
        use rusqlite::ErrorCode as C;
        matches!(self, StoreError::Sqlite(e)
            if matches!(e.sqlite_error_code(), Some(C::DiskFull | C::SystemIoFailure)))
    }
}

/// One sentence for an SQLite error: its cause in words, never the SQL text of a statement.
pub(crate) fn describe_sqlite(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let said = match e.sqlite_error_code() {
        Some(C::DatabaseCorrupt) => {
            "the database file is damaged (SQLite: \"database disk image is malformed\"); restore it from a backup, or move it aside and sync again"
        }
        Some(C::NotADatabase) => {
            "the file is not a kraken-tax database (not SQLite, encrypted, or its header is damaged)"
        }
        Some(C::DiskFull) => "the disk is full",
        Some(C::SystemIoFailure) => "the disk could not be read or written (I/O error)",
        Some(C::ReadOnly) => "the database cannot be written (read-only file or file system)",
        Some(C::CannotOpen) => "the database file cannot be opened",
        Some(C::PermissionDenied) => "permission denied",
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            "the database is busy: another kraken-tax process is writing to it; try again later"
        }
        Some(C::OutOfMemory) => "out of memory",
        _ => "",
    };
    if !said.is_empty() {
        return said.to_owned();
    }
    match e {
        // Prepare errors carry the statement: keep only SQLite's message, which names the
        // problem (e.g. a missing table of an older or edited file).
        rusqlite::Error::SqlInputError { msg, .. } if !msg.contains("near \"") => {
            format!("database error: {msg}")
        }
        rusqlite::Error::SqlInputError { error, .. } => format!("database error: {error}"),
        rusqlite::Error::SqliteFailure(f, Some(msg)) if msg.contains("near \"") => {
            format!("database error: {}", f)
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => format!("database error: {msg}"),
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => {
            "a stored value has the wrong type (the database was edited or is damaged)".to_owned()
        }
        other => format!("database error: {other}"),
    }
}

/// The local database of one or more accounts.
pub struct Store {
    conn: Connection,
    /// Opened through [`Store::open_checked`]: the file was checked (or found unchanged since
    /// a check) and is sealed again when this store is dropped.
    seal: Option<seal::Seal>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(seal) = self.seal.take() {
            seal.reseal(&self.conn);
        }
    }
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
        Ok(Self { conn, seal: None })
    }

    /// [`Store::open`], then `PRAGMA quick_check` (every page read once) unless the file is
    /// provably unchanged since the last successful check: a damaged file is refused before a
    /// command reads or writes it, whatever part of it is damaged.
    ///
    /// "Unchanged" is the seal beside the file (`<db>-checked`, see `seal`): the file's size,
    /// modification and status-change times (nanoseconds), inode and device, written after a
    /// successful check and again when a checked store is dropped (its own writes are
    /// SQLite's, and the WAL is checkpointed into the file first). Any change made to the
    /// file otherwise (a copy or restore, an editor, another program, a truncation) changes
    /// the status-change time, which no program can set back, so the next command checks the
    /// whole file again; a WAL file left with content, or a seal older than a day, does too.
    /// What the seal cannot see is decay of the medium under an unchanged file: SQLite still
    /// refuses a damaged page when a command reads it (`DatabaseCorrupt`, a damage failure),
    /// and the daily full check finds it up front at the latest a day later.
    pub fn open_checked(path: &Path) -> Result<Self, StoreError> {
        let sealed = seal::Seal::still_valid(path);
        let mut store = Self::open(path)?;
        let full_check_at = match sealed {
            Some(at) => at,
            None => {
                store.quick_check()?;
                seal::now_secs()
            }
        };
        let seal = seal::Seal::new(path, full_check_at);
        seal.write();
        store.seal = Some(seal);
        Ok(store)
    }

    /// `PRAGMA quick_check`: `Err(Damaged)` with SQLite's first finding when the file is damaged.
    pub fn quick_check(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        FULL_CHECKS.with(|n| n.set(n.get() + 1));
        let first: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if first == "ok" {
            return Ok(());
        }
        // One line: SQLite's finding without its "*** in database main ***" heading.
        let finding: Vec<&str> = first
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("***"))
            .collect();
        Err(StoreError::Damaged(format!(
            "SQLite's check: {}",
            finding.join("; ")
        )))
    }

    /// A migrated database in memory (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate::migrate(&conn)?;
        Ok(Self { conn, seal: None })
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

#[cfg(test)]
thread_local! {
    /// `quick_check`s run by this thread (tests).
    static FULL_CHECKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The seal of a checked database file: what it looked like when it was last known good.
mod seal {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::{Path, PathBuf};

    /// A full `quick_check` at least this often, whatever the seal says.
    const FULL_CHECK_EVERY_SECS: i64 = 24 * 3600;

    pub(super) fn now_secs() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn seal_path(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push("-checked");
        PathBuf::from(p)
    }

    /// Size, mtime, ctime (ns), inode, device of the file; `None` when it cannot be read or a
    /// WAL with content lies beside it (its pages are not in the file yet).
    fn fingerprint(db: &Path) -> Option<String> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        if std::fs::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() > 0) {
            return None;
        }
        let m = std::fs::metadata(db).ok()?;
        Some(format!(
            "{} {}.{:09} {}.{:09} {} {}",
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino(),
            m.dev()
        ))
    }

    const HEADER: &str = "kraken-tax quick_check seal v1";

    #[derive(Debug)]
    pub(super) struct Seal {
        db: PathBuf,
        full_check_at: i64,
    }

    impl Seal {
        /// The time of the last full check, when the file is unchanged since it was sealed
        /// and that check is recent enough.
        pub(super) fn still_valid(db: &Path) -> Option<i64> {
            let now = fingerprint(db)?;
            let text = std::fs::read_to_string(seal_path(db)).ok()?;
            let mut lines = text.lines();
            if lines.next()? != HEADER {
                return None;
            }
            let at: i64 = lines.next()?.parse().ok()?;
            let sealed = lines.next()?;
            let age = now_secs() - at;
            (sealed == now && (0..FULL_CHECK_EVERY_SECS).contains(&age)).then_some(at)
        }

        pub(super) fn new(db: &Path, full_check_at: i64) -> Self {
            Seal {
                db: db.to_owned(),
                full_check_at,
            }
        }

        /// Records the file as it is now (best effort: without a seal the next command checks
        /// the file in full).
        pub(super) fn write(&self) {
            let path = seal_path(&self.db);
            let Some(print) = fingerprint(&self.db) else {
                let _ = std::fs::remove_file(&path);
                return;
            };
            let text = format!("{HEADER}\n{}\n{print}\n", self.full_check_at);
            let tmp = {
                let mut p = path.as_os_str().to_owned();
                p.push(".tmp");
                PathBuf::from(p)
            };
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .and_then(|()| std::fs::rename(&tmp, &path));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&path);
            }
        }

        /// At the end of a checked store's life: moves the WAL into the file (this store's
        /// own writes) and seals the result; when that cannot be done completely (another
        /// connection is busy), the stale seal stays and the next command checks in full.
        pub(super) fn reseal(self, conn: &rusqlite::Connection) {
            let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
            if done == Ok(0) {
                self.write();
            }
        }
    }
}

/// Opens a connection with the house pragmas, creating the file 0600 (and its directory 0700).
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |detail: String| StoreError::Open {
        path: path.to_owned(),
        detail,
    };
    create_parent_dir(path).map_err(|e| err(e.to_string()))?;
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
    let conn = Connection::open(path).map_err(|e| err(describe_sqlite(&e)))?;
    configure(&conn)?;
    Ok(conn)
}

/// Creates the directory that will hold `path` (mode 0700, with its missing parents), so that a
/// first run on a fresh machine can take the run lock and create the database.
pub(crate) fn create_parent_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        _ => Ok(()),
    }
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
    fn an_unchanged_file_is_not_checked_again_and_any_other_change_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        let checks = || FULL_CHECKS.with(std::cell::Cell::get);
        let store = Store::open_checked(&path).unwrap();
        assert_eq!(checks(), 1);
        // Its own writes are sealed when it is dropped.
        store.ensure_account("a").unwrap();
        drop(store);
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 1, "unchanged since the seal");
        // A plain open (no seal kept) that writes: the next checked open checks again.
        Store::open(&path).unwrap().ensure_account("b").unwrap();
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 2);
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 2);
        // The same bytes written again by another program: checked again.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 3);
        // A seal from more than a day ago, or a damaged seal: checked again.
        let seal = dir.path().join("k.sqlite-checked");
        let text = std::fs::read_to_string(&seal).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[1] = (seal::now_secs() - 25 * 3600).to_string();
        std::fs::write(&seal, lines.join("\n")).unwrap();
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 4);
        std::fs::write(&seal, "garbage").unwrap();
        drop(Store::open_checked(&path).unwrap());
        assert_eq!(checks(), 5);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&seal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

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

    fn sqlite(code: i32, msg: Option<&str>) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), msg.map(str::to_owned))
    }

    #[test]
    fn sqlite_errors_are_said_by_their_cause_without_sql() {
        use rusqlite::ffi;
        let said = |e| StoreError::Sqlite(e).to_string();
        assert_eq!(said(sqlite(ffi::SQLITE_FULL, None)), "the disk is full");
        assert_eq!(
            said(sqlite(
                ffi::SQLITE_CORRUPT,
                Some("malformed database schema (prices) - near \"CREAT\": syntax error")
            )),
            "the database file is damaged (SQLite: \"database disk image is malformed\"); restore it from a backup, or move it aside and sync again"
        );
        assert_eq!(
            said(sqlite(ffi::SQLITE_NOTADB, None)),
            "the file is not a kraken-tax database (not SQLite, encrypted, or its header is damaged)"
        );
        let near = said(sqlite(
            ffi::SQLITE_ERROR,
            Some("near \"SELEC\": syntax error"),
        ));
        assert!(!near.contains("SELEC"), "{near}");
        assert_eq!(
            said(sqlite(ffi::SQLITE_ERROR, Some("no such table: prices"))),
            "database error: no such table: prices"
        );
        assert!(StoreError::Sqlite(sqlite(ffi::SQLITE_IOERR_WRITE, None)).is_io());
        assert!(StoreError::Sqlite(sqlite(ffi::SQLITE_CORRUPT, None)).is_damage());
        assert!(!StoreError::Sqlite(sqlite(ffi::SQLITE_BUSY, None)).is_damage());
    }

    #[test]
    fn a_damaged_page_anywhere_is_found_when_the_file_is_opened_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        let store = Store::open(&path).unwrap();
        store.ensure_account("a").unwrap();
        store
            .conn
            .pragma_update(None, "journal_mode", "DELETE")
            .unwrap();
        // The root page of the prices table, which a sync never reads.
        let root: i64 = store
            .conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'prices'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        let start = (root as usize - 1) * NEW_PAGE_SIZE as usize;
        bytes[start..start + 64].fill(0x5a);
        std::fs::write(&path, &bytes).unwrap();
        // Opening alone does not notice; the checked open does.
        Store::open(&path).unwrap();
        let err = Store::open_checked(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("the database file is damaged (SQLite's check: "),
            "{msg}"
        );
        assert!(!msg.contains('\n') && !msg.contains("***"), "{msg}");
    }
}
