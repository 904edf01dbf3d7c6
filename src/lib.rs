//! kraken-tax: a complete local copy of a Kraken account's history, and CARF-style reports.
//!
//! # Data flow
//!
//! One way, each stage rerunnable without the one before it:
//!
//! ```text
//! Kraken API ──sync──┐                       (store::raw, immutable; conflicts kept aside)
//!                    ├─► raw ledger + trades ─► derived legs ─► reports
//! Kraken CSV ─import─┘                          (classify::build,    export/  CARF CSV + XML
//!                                                incremental)        gains/   cost basis
//!                                                                    verify/  completeness
//! ```
//!
//! - **Raw rows** ([`store`]) are never changed once stored; a conflicting second version of an
//!   id is kept aside and reported. A sync page and the cursor that describes it are committed
//!   in one transaction, so an interrupted sync resumes without a hole or a duplicate.
//! - **Derived legs** (events, CARF element and code per ledger leg) are computed once, by
//!   [`classify::build::ensure_fresh`], when the raw history or the rules change: only the
//!   touched events are derived again when entries were only added. [`export`], [`status`] and
//!   the gains adapter read them and never classify raw rows themselves.
//! - **Values** come from [`pricing`] at report time, with their provenance (`price_source`).
//! - Money is `rust_decimal::Decimal` with an exact accepted range ([`domain::parse_amount`]);
//!   Kraken's original time text is kept beside the parsed time.
//! - Secrets never reach logs, errors, the database or reports ([`secret`]).
//!
//! # Where things are
//!
//! | module | what it holds |
//! |---|---|
//! | [`cli`], [`commands`] | clap definitions; one file per command, glue only: build a plan, call one library function, map its typed error to an exit code (`0`, `1`, `2` usage/configuration, `75` retry later) |
//! | [`config`] | defaults → TOML file → environment → flags, resolved once into typed plans: [`sync::SyncPlan`], [`export::run::ExportPlan`], [`verify::run::VerifyPlan`], [`emulator::serve::ServePlan`], [`config::DoctorPlan`], [`gains::run::GainsPlan`] (also for `report` and `demo`) |
//! | [`secret`] | the API key and secret: redacted `Debug`, zeroized on drop |
//! | [`domain`] | pure types: ids, assets, amounts, ledger entries, trades, CARF elements and codes |
//! | [`kraken`] | the only HTTP client of Kraken: signing, nonce, one request path ([`kraken::http`]) and one retry loop ([`kraken::retry::Retrier`]), rate limiter, wire types |
//! | [`store`] | the only SQLite code: migrations, raw rows, sync state, derived legs, prices, run records, key state |
//! | [`sync`] | the window planner (pure), the page driver, the export backfill, and [`sync::run()`], a whole sync run (lock, run record, signals, classification refresh, verify) |
//! | [`csv_import`] | Kraken's website exports, every header version, CSV/TSV/zip; [`csv_import::run::run`], a whole `import` of files |
//! | [`normalize`] | asset codes; the compact ledger table and its grouping into events |
//! | [`classify`] | legs → CARF elements and codes (carf.md's mapping, user rules and labels); [`classify::build`] keeps the derived table fresh |
//! | [`pricing`] | fair-market value with provenance: the pure choice per leg, the price books, the fetch of Kraken's public trades, imported price tables |
//! | [`export`] | the year's CARF files: [`export::YearLegs`] reads the derived legs, [`export::run`] writes the summary and transactions CSV and the XML (or refuses it, or a draft) |
//! | [`gains`] | the cost-basis engine (gains.md): lots and pools per method, disposals, income, margin, holdings |
//! | [`verify`] | balance-continuity and reconciliation checks; [`verify::run::run`], a whole `verify` (checks, optional balance comparison under the lock, record) |
//! | [`key_state`] | the database's key state as the client's nonce and counter store: the one glue between `kraken` and `store` |
//! | [`doctor`], [`status`], [`demo`] | the library side of those commands |
//! | [`emulator`] | the Kraken emulator and the seeded account generator (demo, tests, benchmarks); [`emulator::serve::serve`] serves one until interrupted |
//!
//! Dependencies point one way: commands → (sync, csv_import, classify, export, gains, verify)
//! → (kraken, store) → domain. `kraken` and `store` never import each other (the client keeps
//! its nonce behind [`kraken::KeyStateStore`], which [`key_state`] implements over the store).
#![warn(missing_docs)]

pub mod classify;
pub mod cli;
pub mod commands;
pub mod config;
pub mod csv_import;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod emulator;
pub mod export;
pub mod gains;
pub mod key_state;
pub mod kraken;
pub mod normalize;
pub mod pricing;
pub mod report;
pub mod secret;
pub mod status;
pub mod store;
pub mod sync;
pub mod text;
pub mod verify;
