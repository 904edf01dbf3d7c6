//! Opening a database for a dry run: what a command would do, with nothing changed.

use super::{Store, StoreError, migrate};
use std::path::Path;

impl Store {
    /// Opens `path` so that a dry run changes nothing: no migration, no seal file; the
    /// caller only writes in transactions it rolls back. A missing file is an empty database
    /// in memory (nothing is created on disk); a file whose schema is older than this build's
    /// is refused, since bringing it up to date would change it.
    pub fn open_unchanged(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Self::open_in_memory();
        }
        // `PRAGMA user_version` straight from the file header (big-endian at byte 60): no
        // SQLite connection, so not even a -shm file appears.
        let version = header_version(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        if version != migrate::MIGRATIONS.len() as i64 {
            return Err(StoreError::Open {
                path: path.to_owned(),
                detail: format!(
                    "its schema (version {version}) is not this version's ({}); a dry run changes nothing, so run a command that opens it normally first (e.g. `kraken-tax status`)",
                    migrate::MIGRATIONS.len()
                ),
            });
        }
        // Current: `open` applies no migration, and without `open_checked` no seal is written.
        Self::open(path)
    }
}

/// The `user_version` field of an SQLite file's header (0 for a file too short to have one:
/// an empty file is a new database).
fn header_version(path: &Path) -> std::io::Result<i64> {
    use std::io::Read;
    let mut header = [0u8; 64];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..])? {
            0 => return Ok(0),
            n => read += n,
        }
    }
    Ok(i64::from(i32::from_be_bytes([
        header[60], header[61], header[62], header[63],
    ])))
}
