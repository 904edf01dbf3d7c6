//! The Kraken emulator and the synthetic account generator.
//!
//! [`generate`] builds a seeded account (ledger and trades with consistent balances);
//! [`EmulatorHandle`] serves it on loopback with Kraken's private-API semantics
//! (authentication, nonces, the rate counter, paging), plus hooks to inject faults and
//! entries that arrive mid-sync. Used by `demo`, the tests and the benchmarks.

pub mod csv_out;
mod export;
mod faults;
mod generator;
mod keys;
pub mod public;
mod rules;
pub mod serve;
mod server;
mod signing;
mod wire;

pub use faults::{FaultKind, FaultPlan};
pub use generator::{Dataset, GeneratorConfig, generate, generate_with_prices};
pub use keys::{KeyError, KeyOptions, Permission};
pub use public::{PricePath, PublicMarket};
pub use server::{CallStats, EmulatorConfig, EmulatorHandle, Fault};
pub use wire::{ledger_entry_json, trade_json};

/// Stores a generated account as a sync would have (each record with its JSON as the raw
/// text, source `api`), in large transactions: for benchmarks and tests that need a filled
/// database without serving the account over HTTP.
pub fn store_dataset(
    store: &mut crate::store::Store,
    account: &str,
    data: &Dataset,
) -> Result<(), crate::store::StoreError> {
    use crate::domain::{RawRecord, Stream};
    use crate::store::{PageRows, Source};
    const CHUNK: usize = 50_000;
    for chunk in data.ledger.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|e| RawRecord {
                item: e.clone(),
                raw: ledger_entry_json(e),
            })
            .collect();
        store.insert_ledger_entries(account, &rows, Source::Api)?;
    }
    let state = store.stream_state(account, Stream::Trades)?;
    for chunk in data.trades.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|t| RawRecord {
                item: t.clone(),
                raw: trade_json(t),
            })
            .collect();
        store.commit_page(account, PageRows::Trades(&rows), Source::Api, &state)?;
    }
    Ok(())
}
