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
mod server;
mod wire;

pub use faults::{FaultKind, FaultPlan};
pub use generator::{Dataset, GeneratorConfig, generate, generate_with_prices};
pub use keys::{KeyError, KeyOptions, Permission};
pub use public::{PricePath, PublicMarket};
pub use server::{CallStats, EmulatorConfig, EmulatorHandle, Fault};
pub use wire::{ledger_entry_json, trade_json};
