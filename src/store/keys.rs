//! Per-key client state (last nonce, rate counter), on its own connection so that the HTTP
//! client can persist a nonce before each request while the sync holds the main connection.

use super::{StoreError, now_text, open_connection};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;

/// A rate counter's level and the instant it was measured.
pub type CounterSnapshot = (f64, DateTime<Utc>);

/// The `key_state` row of one key fingerprint.
pub struct KeyStateDb {
    conn: Connection,
    fingerprint: String,
}

impl std::fmt::Debug for KeyStateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStateDb")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl KeyStateDb {
    /// Opens the database at `path` (already migrated by [`super::Store::open`]) for the key
    /// whose fingerprint is given; records the key's first use.
    pub fn open(path: &Path, fingerprint: &str) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        conn.execute(
            "INSERT INTO key_state (fingerprint, first_used) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            (fingerprint, now_text()),
        )?;
        Ok(Self {
            conn,
            fingerprint: fingerprint.to_owned(),
        })
    }

    /// Last nonce used and the counter's last known level.
    pub fn load(&self) -> Result<(u64, Option<CounterSnapshot>), StoreError> {
        let row: Option<(i64, Option<f64>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT last_nonce, counter, counter_at FROM key_state WHERE fingerprint = ?1",
                [&self.fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((nonce, level, at)) = row else {
            return Ok((0, None));
        };
        let counter = match (level, at) {
            (Some(level), Some(at)) => {
                let at = DateTime::parse_from_rfc3339(&at)
                    .map_err(|_| StoreError::Corrupt(format!("key_state.counter_at {at:?}")))?;
                Some((level, at.with_timezone(&Utc)))
            }
            _ => None,
        };
        Ok((nonce.max(0) as u64, counter))
    }

    /// Persists the nonce about to be sent.
    pub fn save_nonce(&self, nonce: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_state SET last_nonce = max(last_nonce, ?2) WHERE fingerprint = ?1",
            (&self.fingerprint, nonce as i64),
        )?;
        Ok(())
    }

    /// Persists the counter's level.
    pub fn save_counter(&self, level: f64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE key_state SET counter = ?2, counter_at = ?3 WHERE fingerprint = ?1",
            (
                &self.fingerprint,
                level,
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_never_goes_back_and_counter_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        super::super::Store::open(&path).unwrap();
        let k = KeyStateDb::open(&path, "abcd").unwrap();
        assert_eq!(k.load().unwrap(), (0, None));
        k.save_nonce(100).unwrap();
        k.save_nonce(50).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        k.save_counter(7.5, at).unwrap();
        let again = KeyStateDb::open(&path, "abcd").unwrap();
        assert_eq!(again.load().unwrap(), (100, Some((7.5, at))));
    }
}
