//! Sync state per (account, stream), committed together with the page it describes.

use super::raw::{PageOutcome, Source, insert_ledger_rows, insert_trade_rows};
use super::{Store, StoreError, now_text};
use crate::domain::{LedgerEntry, OpenWindow, RawRecord, Stream, StreamState, SyncPoint, Trade};
use rusqlite::{OptionalExtension, Transaction, params};

/// The rows of one page, of either stream.
#[derive(Debug, Clone, Copy)]
pub enum PageRows<'a> {
    /// A `Ledgers` page.
    Ledgers(&'a [RawRecord<LedgerEntry>]),
    /// A `TradesHistory` page.
    Trades(&'a [RawRecord<Trade>]),
}

impl PageRows<'_> {
    /// The stream the rows belong to.
    pub fn stream(&self) -> Stream {
        match self {
            PageRows::Ledgers(_) => Stream::Ledgers,
            PageRows::Trades(_) => Stream::Trades,
        }
    }
}

fn point(id: Option<String>, us: Option<i64>) -> Option<SyncPoint> {
    Some(SyncPoint {
        id: id?,
        micros: us?,
    })
}

pub(super) fn save_state(
    tx: &Transaction<'_>,
    account: &str,
    stream: Stream,
    s: &StreamState,
) -> Result<(), StoreError> {
    let w = s.window.as_ref();
    tx.prepare_cached(
        "INSERT INTO sync_state (account, stream, synced_to_id, synced_to_us, window_hi_id,
             window_hi_us, cursor_id, cursor_us, cursor_ofs, window_expected, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (account, stream) DO UPDATE SET
             synced_to_id = excluded.synced_to_id, synced_to_us = excluded.synced_to_us,
             window_hi_id = excluded.window_hi_id, window_hi_us = excluded.window_hi_us,
             cursor_id = excluded.cursor_id, cursor_us = excluded.cursor_us,
             cursor_ofs = excluded.cursor_ofs, window_expected = excluded.window_expected,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        account,
        stream.as_str(),
        s.synced_to.as_ref().map(|p| &p.id),
        s.synced_to.as_ref().map(|p| p.micros),
        w.map(|w| &w.hi.id),
        w.map(|w| w.hi.micros),
        w.map(|w| &w.cursor.id),
        w.map(|w| w.cursor.micros),
        w.map_or(0, |w| w.ofs as i64),
        w.and_then(|w| w.expected.map(|e| e as i64)),
        now_text(),
    ])?;
    Ok(())
}

impl Store {
    /// The sync state of a stream (default: never synced).
    pub fn stream_state(&self, account: &str, stream: Stream) -> Result<StreamState, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT synced_to_id, synced_to_us, window_hi_id, window_hi_us, cursor_id,
                        cursor_us, cursor_ofs, window_expected
                 FROM sync_state WHERE account = ?1 AND stream = ?2",
                (account, stream.as_str()),
                |r| {
                    let synced_to = point(r.get(0)?, r.get(1)?);
                    let hi = point(r.get(2)?, r.get(3)?);
                    let cursor = point(r.get(4)?, r.get(5)?);
                    let ofs: i64 = r.get(6)?;
                    let expected: Option<i64> = r.get(7)?;
                    let window = match (hi, cursor) {
                        (Some(hi), Some(cursor)) => Some(OpenWindow {
                            hi,
                            cursor,
                            ofs: ofs.max(0) as u64,
                            expected: expected.map(|e| e.max(0) as u64),
                        }),
                        _ => None,
                    };
                    Ok(StreamState { synced_to, window })
                },
            )
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    /// Stores a page's rows and the stream's new state in one transaction: after a crash,
    /// either both are there or neither is.
    pub fn commit_page(
        &mut self,
        account: &str,
        rows: PageRows<'_>,
        source: Source,
        state: &StreamState,
    ) -> Result<PageOutcome, StoreError> {
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        let out = match rows {
            PageRows::Ledgers(r) => insert_ledger_rows(&tx, account, r, source)?,
            PageRows::Trades(r) => insert_trade_rows(&tx, account, r, source)?,
        };
        save_state(&tx, account, rows.stream(), state)?;
        tx.commit()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(
            store.stream_state("a", Stream::Ledgers).unwrap(),
            StreamState::default()
        );
        let s = StreamState {
            synced_to: Some(SyncPoint {
                id: "L1".into(),
                micros: 5,
            }),
            window: Some(OpenWindow {
                hi: SyncPoint {
                    id: "L9".into(),
                    micros: 90,
                },
                cursor: SyncPoint {
                    id: "L7".into(),
                    micros: 70,
                },
                ofs: 50,
                expected: Some(8),
            }),
        };
        store
            .commit_page("a", PageRows::Ledgers(&[]), Source::Api, &s)
            .unwrap();
        assert_eq!(store.stream_state("a", Stream::Ledgers).unwrap(), s);
        assert_eq!(
            store.stream_state("a", Stream::Trades).unwrap(),
            StreamState::default()
        );
    }
}
