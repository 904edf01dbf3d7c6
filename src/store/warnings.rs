//! Warnings kept for `status`: ledger entries of an unknown type, until they are resolved.

use super::{Store, StoreError, now_text};
use rusqlite::Connection;

/// Entries of one unknown ledger type that are still unclassified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeWarning {
    /// Kraken's ledger `type`.
    pub kind: String,
    /// Entries of this type stored with a warning, over all runs.
    pub entries: u64,
    /// The first such ledger id.
    pub example: String,
    /// When the first was stored (RFC 3339 UTC).
    pub first_seen: String,
}

impl Store {
    /// Keeps a warning: `entries` more ledger entries of the unknown type `kind` were stored.
    /// An import keeps it in its own transaction instead ([`super::ImportTx::note_unknown_type`]).
    pub fn note_unknown_type(
        &self,
        account: &str,
        kind: &str,
        entries: u64,
        example: &str,
    ) -> Result<(), StoreError> {
        self.ensure_account(account)?;
        note_unknown_type(&self.conn, account, kind, entries, example)
    }

    /// The kept warnings of `account` not yet resolved: those with a stored entry of the type
    /// that is unclassified, or not derived yet (the derived legs are as of the last sync,
    /// rebuild or export). A [classify] rule for the type resolves it at the next refresh.
    pub fn open_type_warnings(&self, account: &str) -> Result<Vec<TypeWarning>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT w.kind, w.entries, w.example, w.first_seen FROM type_warnings w
             WHERE w.account = ?1 AND EXISTS (
                 SELECT 1 FROM ledger_entries e
                 LEFT JOIN legs l ON l.account = e.account AND l.ledger_id = e.ledger_id
                 WHERE e.account = w.account AND e.type = w.kind
                   AND (l.element IS NULL OR l.element = 'Unclassified'))
             ORDER BY w.kind",
        )?;
        let rows = stmt.query_map([account], |r| {
            Ok(TypeWarning {
                kind: r.get(0)?,
                entries: r.get::<_, i64>(1)? as u64,
                example: r.get(2)?,
                first_seen: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The one statement that keeps an unknown-type warning, on a connection or in a transaction.
pub(super) fn note_unknown_type(
    conn: &Connection,
    account: &str,
    kind: &str,
    entries: u64,
    example: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO type_warnings (account, kind, entries, example, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (account, kind) DO UPDATE
         SET entries = entries + excluded.entries, last_seen = excluded.last_seen",
        rusqlite::params![account, kind, entries as i64, example, now_text()],
    )?;
    Ok(())
}
