//! kraken-tax: a complete local copy of a Kraken account's history, and CARF-style reports.
//!
//! Data flow: **Kraken (API or CSV) → raw rows in SQLite (immutable) → derived events
//! (rebuildable) → reports.** Every stage can be rerun without the one before it.
//!
//! Invariants:
//! - Raw rows are never changed once stored; a conflicting second version of an id is
//!   kept aside and reported.
//! - A sync page and the cursor that describes it are committed in one transaction, so an
//!   interrupted sync resumes without a hole or a duplicate.
//! - Money is `rust_decimal::Decimal`; Kraken's original time text is kept beside the parsed time.
//! - Secrets never reach logs, errors, the database or reports.
//!
//! Settings are resolved once, in [`config`] (defaults → TOML file → environment → flags), into
//! typed plans: [`sync::SyncPlan`] for [`sync::run()`], [`export::run::ExportPlan`] for
//! [`export::run::run`], [`config::DoctorPlan`] for [`doctor::run::diagnose`], and
//! [`config::GainsPlan`] for the gains engine. [`cli`] (clap) is seen only by `main.rs` and
//! [`commands`], whose functions are glue: build a plan, call one library function, map its
//! typed error to an exit code. [`demo`] and [`status`] are the library side of those commands.
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
pub mod kraken;
pub mod normalize;
pub mod pricing;
pub mod report;
pub mod secret;
pub mod status;
pub mod store;
pub mod sync;
pub mod verify;
