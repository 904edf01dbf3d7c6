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
];

/// Applies the migrations the database lacks, each in its own transaction.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerSchema {
            found: version,
            known,
        });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tracing::debug!(migration = name, "applying");
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
