//! Bulk imports (website CSV files, the export API): many rows in one transaction, the
//! conflicts they caused, and the pending exports of the backfill.

use super::raw::{PageOutcome, Source, insert_ledger_rows, insert_trade_rows};
use super::state::save_state;
use super::{Store, StoreError, now_text};
use crate::domain::{LedgerEntry, RawRecord, Stream, StreamState, Trade};
use rusqlite::{OptionalExtension, Transaction, params};

/// An open import: rows are inserted as they come; nothing is visible until [`ImportTx::commit`],
/// and dropping it uncommitted leaves the database as it was.
pub struct ImportTx<'a> {
    tx: Transaction<'a>,
    account: String,
}

impl std::fmt::Debug for ImportTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportTx")
            .field("account", &self.account)
            .finish()
    }
}

/// A conflicting version kept aside in `raw_conflicts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRow {
    /// Its stream.
    pub stream: Stream,
    /// The ledger or trade id.
    pub entry_id: String,
    /// The kept-aside raw text.
    pub raw: String,
}

/// An export requested from Kraken and not imported yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExport {
    /// Kraken's report id.
    pub export_id: String,
    /// Unix seconds the export runs up to.
    pub endtm: i64,
}

impl ImportTx<'_> {
    /// Inserts ledger rows (insert-or-ignore, conflicts kept aside).
    pub fn ledgers(
        &mut self,
        rows: &[RawRecord<LedgerEntry>],
        source: Source,
    ) -> Result<PageOutcome, StoreError> {
        insert_ledger_rows(&self.tx, &self.account, rows, source)
    }

    /// Inserts trades (insert-or-ignore, conflicts kept aside).
    pub fn trades(
        &mut self,
        rows: &[RawRecord<Trade>],
        source: Source,
    ) -> Result<PageOutcome, StoreError> {
        insert_trade_rows(&self.tx, &self.account, rows, source)
    }

    /// The stored time (microseconds) of an entry, which may be more precise than the
    /// imported one when the API stored it first.
    pub fn stored_micros(&self, stream: Stream, id: &str) -> Result<Option<i64>, StoreError> {
        let sql = match stream {
            Stream::Ledgers => {
                "SELECT time_us FROM ledger_entries WHERE account = ?1 AND ledger_id = ?2"
            }
            Stream::Trades => "SELECT time_us FROM trades WHERE account = ?1 AND trade_id = ?2",
        };
        Ok(self
            .tx
            .query_row(sql, (&self.account, id), |r| r.get(0))
            .optional()?)
    }

    /// [`Store::note_unknown_type`] in this transaction: the warning is committed with the
    /// rows it is about, or not at all.
    pub fn note_unknown_type(
        &mut self,
        kind: &str,
        entries: u64,
        example: &str,
    ) -> Result<(), StoreError> {
        super::warnings::note_unknown_type(&self.tx, &self.account, kind, entries, example)
    }

    /// Writes a stream's sync state in this transaction.
    pub fn set_stream_state(
        &mut self,
        stream: Stream,
        state: &StreamState,
    ) -> Result<(), StoreError> {
        save_state(&self.tx, &self.account, stream, state)
    }

    /// Forgets the pending export of `stream` in this transaction (it is being imported).
    pub fn clear_pending_export(&mut self, stream: Stream) -> Result<(), StoreError> {
        self.tx.execute(
            "DELETE FROM export_jobs WHERE account = ?1 AND report = ?2",
            (&self.account, stream.as_str()),
        )?;
        Ok(())
    }

    /// Makes everything inserted visible.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        Ok(())
    }
}

impl Store {
    /// Starts an import into `account` (created if needed).
    pub fn begin_import(&mut self, account: &str) -> Result<ImportTx<'_>, StoreError> {
        self.ensure_account(account)?;
        // Ids are random, so a large file touches the whole table: a cache that holds it
        // (512 MiB at most, per connection) keeps the import from thrashing the disk.
        self.conn.pragma_update(None, "cache_size", -524_288)?;
        Ok(ImportTx {
            tx: self.conn.transaction()?,
            account: account.to_owned(),
        })
    }

    /// The newest `raw_conflicts` row id (0 when none): conflicts added later are newer.
    pub fn last_conflict_id(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(conflict_id), 0) FROM raw_conflicts",
            [],
            |r| r.get(0),
        )?)
    }

    /// The first `limit` conflicts of `account` recorded after row id `after`, oldest first.
    pub fn conflicts_after(
        &self,
        account: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ConflictRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT stream, entry_id, raw FROM raw_conflicts
             WHERE account = ?1 AND conflict_id > ?2 ORDER BY conflict_id LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![account, after, limit], |r| {
            let stream: String = r.get(0)?;
            Ok((stream, r.get(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (stream, entry_id, raw) = row?;
            let stream = match stream.as_str() {
                "ledgers" => Stream::Ledgers,
                "trades" => Stream::Trades,
                other => return Err(StoreError::Corrupt(format!("conflict stream {other:?}"))),
            };
            out.push(ConflictRow {
                stream,
                entry_id,
                raw,
            });
        }
        Ok(out)
    }

    /// The export requested for `stream` and not imported yet.
    pub fn pending_export(
        &self,
        account: &str,
        stream: Stream,
    ) -> Result<Option<PendingExport>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT export_id, endtm FROM export_jobs WHERE account = ?1 AND report = ?2",
                (account, stream.as_str()),
                |r| {
                    Ok(PendingExport {
                        export_id: r.get(0)?,
                        endtm: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Remembers an export right after Kraken accepted it, so that a later run resumes it.
    pub fn save_pending_export(
        &mut self,
        account: &str,
        stream: Stream,
        job: &PendingExport,
    ) -> Result<(), StoreError> {
        self.ensure_account(account)?;
        self.conn.execute(
            "INSERT INTO export_jobs (account, report, export_id, requested_at, endtm)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account, report) DO UPDATE SET export_id = excluded.export_id,
                 requested_at = excluded.requested_at, endtm = excluded.endtm",
            params![
                account,
                stream.as_str(),
                job.export_id,
                now_text(),
                job.endtm
            ],
        )?;
        Ok(())
    }

    /// Forgets a pending export (it vanished at Kraken, or was imported).
    pub fn clear_pending_export(
        &mut self,
        account: &str,
        stream: Stream,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM export_jobs WHERE account = ?1 AND report = ?2",
            (account, stream.as_str()),
        )?;
        Ok(())
    }
}
