//! What `doctor` reads about a key: its `key_state` row and the nonce refusals recorded for
//! it (`key_events`).

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

/// Something Kraken said about a key that `doctor` reports on later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// `EAPI:Invalid nonce`: another program may be using the key.
    InvalidNonce,
}

impl KeyEvent {
    fn as_str(self) -> &'static str {
        match self {
            KeyEvent::InvalidNonce => "invalid_nonce",
        }
    }
}

/// The `key_state` row of one key fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    /// The last nonce sent with the key (0 when none).
    pub last_nonce: u64,
    /// When the key was first used with this database.
    pub first_used: DateTime<Utc>,
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Store {
    /// Records `count` occurrences of `event` for the key `fingerprint` at `at`.
    pub fn record_key_event(
        &self,
        fingerprint: &str,
        event: KeyEvent,
        count: u64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if count == 0 {
            return Ok(());
        }
        self.conn.execute(
            "INSERT INTO key_events (fingerprint, kind, at, count) VALUES (?1, ?2, ?3, ?4)",
            (
                fingerprint,
                event.as_str(),
                time_text(at),
                i64::try_from(count).unwrap_or(i64::MAX),
            ),
        )?;
        Ok(())
    }

    /// Occurrences of `event` for `fingerprint` at or after `since`.
    pub fn key_events_since(
        &self,
        fingerprint: &str,
        event: KeyEvent,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT coalesce(sum(count), 0) FROM key_events
             WHERE fingerprint = ?1 AND kind = ?2 AND at >= ?3",
            (fingerprint, event.as_str(), time_text(since)),
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// The key's row, if it was ever used with this database.
    pub fn key_record(&self, fingerprint: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT last_nonce, first_used FROM key_state WHERE fingerprint = ?1",
                [fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((nonce, first)) = row else {
            return Ok(None);
        };
        let first_used = DateTime::parse_from_rfc3339(&first)
            .map_err(|_| StoreError::Corrupt(format!("key_state.first_used {first:?}")))?
            .with_timezone(&Utc);
        Ok(Some(KeyRecord {
            last_nonce: nonce.max(0) as u64,
            first_used,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn events_are_counted_per_key_and_since_a_time() {
        let store = Store::open_in_memory().unwrap();
        let old = at("2026-01-01T00:00:00Z");
        let recent = at("2026-03-01T00:00:00Z");
        store
            .record_key_event("aaaa", KeyEvent::InvalidNonce, 2, old)
            .unwrap();
        store
            .record_key_event("aaaa", KeyEvent::InvalidNonce, 3, recent)
            .unwrap();
        store
            .record_key_event("bbbb", KeyEvent::InvalidNonce, 7, recent)
            .unwrap();
        store
            .record_key_event("aaaa", KeyEvent::InvalidNonce, 0, recent)
            .unwrap();
        let since = at("2026-02-01T00:00:00Z");
        assert_eq!(
            store
                .key_events_since("aaaa", KeyEvent::InvalidNonce, since)
                .unwrap(),
            3
        );
        assert_eq!(
            store
                .key_events_since("aaaa", KeyEvent::InvalidNonce, old)
                .unwrap(),
            5
        );
        assert_eq!(
            store
                .key_events_since("cccc", KeyEvent::InvalidNonce, old)
                .unwrap(),
            0
        );
    }

    #[test]
    fn key_record_reads_nonce_and_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.key_record("abcd").unwrap(), None);
        let k = super::super::KeyStateDb::open(&path, "abcd").unwrap();
        k.save_nonce(1_700_000_000_123).unwrap();
        let r = store.key_record("abcd").unwrap().unwrap();
        assert_eq!(r.last_nonce, 1_700_000_000_123);
        assert!((Utc::now() - r.first_used).num_seconds().abs() < 60);
    }
}
