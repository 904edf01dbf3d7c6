//! The one glue between [`crate::kraken`] and [`crate::store`]: the database's `key_state` row
//! as the client's [`KeyStateStore`] (last nonce and rate-limit counter per key fingerprint).
//! It lives beside both, not in either, because `kraken` and `store` never import each other;
//! the sync, `verify` and `doctor` all build their clients with it.

use crate::kraken::{KeyState, KeyStateError, KeyStateStore};
use crate::store::KeyStateDb;
use chrono::{DateTime, Utc};

/// The database's `key_state` row as the client's nonce and counter store.
#[derive(Debug)]
pub struct StoreKeyState(pub KeyStateDb);

impl KeyStateStore for StoreKeyState {
    fn load(&mut self) -> Result<KeyState, KeyStateError> {
        let (last_nonce, counter) = self.0.load().map_err(KeyStateError::read)?;
        Ok(KeyState {
            last_nonce,
            counter,
        })
    }
    fn save_nonce(&mut self, nonce: u64) -> Result<(), KeyStateError> {
        self.0.save_nonce(nonce).map_err(KeyStateError::record)
    }
    fn save_counter(&mut self, level: f64, at: DateTime<Utc>) -> Result<(), KeyStateError> {
        self.0
            .save_counter(level, at)
            .map_err(KeyStateError::record)
    }
}
