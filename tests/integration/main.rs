//! Integration tests: one target, a shared harness (temp database, emulator on a free
//! loopback port, binary runner).

mod harness;

/// The strict model of the CARF XML schema every written file is validated with.
#[path = "../carf_schema/mod.rs"]
mod carf_schema;

mod audit;
mod cli;
mod cron;
mod doctor;
mod dry_run;
mod export;
mod faults;
mod first_run;
mod gains;
mod gains_hmrc;
mod golden;
mod habits;
mod import;
mod json;
mod no_panic;
mod overflow;
mod pricing;
mod report;
mod robustness;
mod sync;
mod transport;
mod verify;
