//! Append-only migrations from `schemas/sqlite/`, applied in order through `PRAGMA user_version`.

use super::StoreError;
use rusqlite::Connection;

/// Every migration, in order; migration `i` brings the schema to version `i + 1`.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_raw_history",
        include_str!("../../schemas/sqlite/0001_raw_history.sql"),
    ),
    (
        "0002_run_details",
        include_str!("../../schemas/sqlite/0002_run_details.sql"),
    ),
    (
        "0003_verify_results",
        include_str!("../../schemas/sqlite/0003_verify_results.sql"),
    ),
    (
        "0004_prices",
        include_str!("../../schemas/sqlite/0004_prices.sql"),
    ),
    (
        "0005_derived_legs",
        include_str!("../../schemas/sqlite/0005_derived_legs.sql"),
    ),
    (
        "0006_export_jobs",
        include_str!("../../schemas/sqlite/0006_export_jobs.sql"),
    ),
    (
        "0007_key_events",
        include_str!("../../schemas/sqlite/0007_key_events.sql"),
    ),
    (
        "0008_ledger_scan_index",
        include_str!("../../schemas/sqlite/0008_ledger_scan_index.sql"),
    ),
    (
        "0009_drop_redundant_time_index",
        include_str!("../../schemas/sqlite/0009_drop_redundant_time_index.sql"),
    ),
    (
        "0010_ledger_rowid_table",
        include_str!("../../schemas/sqlite/0010_ledger_rowid_table.sql"),
    ),
    (
        "0011_derived_legs_by_time",
        include_str!("../../schemas/sqlite/0011_derived_legs_by_time.sql"),
    ),
    (
        "0012_gains_basis_labels",
        include_str!("../../schemas/sqlite/0012_gains_basis_labels.sql"),
    ),
    (
        "0013_type_warnings",
        include_str!("../../schemas/sqlite/0013_type_warnings.sql"),
    ),
];

/// Applies the migrations the database lacks, all in one `BEGIN IMMEDIATE` transaction that
/// re-reads `user_version` under the write lock: of two processes opening an old file at once,
/// the second waits for the first (busy timeout), then finds the file current and applies
/// nothing. A failed migration leaves the file as it was. Returns how many migrations this
/// call applied.
///
/// Foreign keys are off while they run (SQLite's way to rebuild a table: dropping a parent
/// table with them on would delete, or refuse to delete, the rows that refer to it) and on
/// again afterwards; the result is checked with `PRAGMA foreign_key_check` before it
/// commits, so no migration can leave a dangling reference behind.
pub(crate) fn migrate(conn: &Connection) -> Result<usize, StoreError> {
    // Without the lock first: most opens find the file current and never need it.
    if current(conn)? {
        return Ok(0);
    }
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let applied = apply_pending(conn);
    conn.pragma_update(None, "foreign_keys", fk)?;
    applied
}

/// True when the file's schema is the newest this build knows; an error when it is newer.
fn current(conn: &Connection) -> Result<bool, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerSchema {
            found: version,
            known,
        });
    }
    Ok(version == known)
}

/// The transaction of [`migrate`]; the version read before the lock is not trusted.
pub(crate) fn apply_pending(conn: &Connection) -> Result<usize, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = apply_locked(conn);
    match result {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn apply_locked(conn: &Connection) -> Result<usize, StoreError> {
    if current(conn)? {
        return Ok(0);
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (name, sql) in MIGRATIONS.iter().skip(version as usize) {
        tracing::debug!(migration = name, "applying");
        conn.execute_batch(sql)?;
        let dangling: i64 =
            conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if dangling > 0 {
            return Err(StoreError::Corrupt(format!(
                "migration {name} would leave {dangling} rows referring to missing rows"
            )));
        }
    }
    conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    Ok(MIGRATIONS.len() - version as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &str = "SELECT account, ledger_id, refid, time_text, time_us, time_utc, type,
        subtype, aclass, subclass, asset, wallet, amount, fee, balance, raw, source, first_seen
        FROM ledger_entries ORDER BY ledger_id";

    fn all(conn: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_rowid_ledger_table_keeps_every_row_its_legs_and_its_constraints() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for (_, sql) in &MIGRATIONS[..9] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 9).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('a', 't0');
             INSERT INTO ledger_entries VALUES
                 ('a', 'L2', 'R2', '2.5', 2500000, 'u2', 'trade', NULL, 'currency', NULL,
                  'XXBT', NULL, '-0.5', '0', NULL, '{\"x\":2}', 'api', 's2'),
                 ('a', 'L1', 'R1', '1', 1000000, 'u1', 'deposit', '', 'currency', 'fiat',
                  'ZEUR', 'spot / main', '10.00', '0.01', '9.99', 'L1,R1', 'csv', 's1');
             INSERT INTO legs VALUES ('a', 'L1', 'E1', 1000000, 'EUR', 1, 1, 'deposit', NULL,
                 0, '', NULL, NULL);",
        )
        .unwrap();
        let before = all(&conn, ROWS);
        let legs_before = all(&conn, "SELECT * FROM legs");
        assert_eq!(legs_before.len(), 1);

        migrate(&conn).unwrap();

        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_eq!(all(&conn, ROWS), before);
        // 0010 kept the legs (foreign keys off); 0011 then drops the derived legs, which are
        // rebuilt from the raw rows at the next refresh.
        assert!(all(&conn, "SELECT * FROM legs").is_empty());
        assert!(all(&conn, "SELECT * FROM derived_state").is_empty());
        // Stored in time order.
        assert_eq!(
            all(&conn, "SELECT ledger_id FROM ledger_entries ORDER BY rowid"),
            vec![
                vec![rusqlite::types::Value::Text("L1".into())],
                vec![rusqlite::types::Value::Text("L2".into())]
            ]
        );
        // Foreign keys are on again and still hold; an id is still stored once.
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        assert!(all(&conn, "PRAGMA foreign_key_check").is_empty());
        let err = conn
            .execute(
                "INSERT INTO legs (account, time_us, ledger_id, event_id, asset, asset_known,
                     is_fiat, element, transfer_wallet, note)
                 VALUES ('nobody', 1, 'L1', 'E1', 'EUR', 1, 1, 'NotReportable', 0, '')",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        let err = conn
            .execute(
                "INSERT INTO ledger_entries SELECT * FROM ledger_entries WHERE ledger_id = 'L2'",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        let err = conn
            .execute("UPDATE ledger_entries SET source = 'web'", [])
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }

    /// A version-9 file holding one ledger row (and its leg).
    fn version_9_file(path: &std::path::Path) {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        for (_, sql) in &MIGRATIONS[..9] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 9).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('a', 't0');
             INSERT INTO ledger_entries VALUES
                 ('a', 'L1', 'R1', '1', 1000000, 'u1', 'deposit', '', 'currency', 'fiat',
                  'ZEUR', 'spot / main', '10.00', '0.01', '9.99', 'L1,R1', 'csv', 's1');",
        )
        .unwrap();
    }

    #[test]
    fn a_migration_that_another_process_already_applied_is_not_applied_again() {
        // This process read version 9 before taking the lock; meanwhile another one migrated
        // the file. The transaction re-reads the version and finds nothing to do (applying
        // 0010 again would fail: its table exists).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        version_9_file(&path);
        let late = Connection::open(&path).unwrap();
        let seen: i64 = late
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 9);
        let first = Connection::open(&path).unwrap();
        assert_eq!(migrate(&first).unwrap(), MIGRATIONS.len() - 9);
        assert_eq!(apply_pending(&late).unwrap(), 0, "applied twice");
        let version: i64 = late
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let rows: i64 = late
            .query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn processes_opening_an_old_file_at_once_all_succeed_and_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        version_9_file(&path);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let conn = Connection::open(&path).unwrap();
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .unwrap();
                    barrier.wait();
                    migrate(&conn)
                })
            })
            .collect();
        let applied: usize = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .sum();
        assert_eq!(
            applied,
            MIGRATIONS.len() - 9,
            "migrations 0010 and later applied once in all"
        );
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_failed_migration_leaves_the_file_at_its_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        version_9_file(&path);
        let conn = Connection::open(&path).unwrap();
        // Migration 0010 builds a table of this name: it fails, and nothing is kept.
        conn.execute_batch("CREATE TABLE ledger_entries_0010 (x)")
            .unwrap();
        assert!(migrate(&conn).is_err());
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 9);
    }
}
