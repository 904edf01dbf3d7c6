//! Integration tests: one target, a shared harness (temp database, emulator on a free
//! loopback port, binary runner).

mod harness;

mod audit;
mod cli;
mod doctor;
mod export;
mod faults;
mod golden;
mod import;
mod no_panic;
mod overflow;
mod pricing;
mod robustness;
mod sync;
mod verify;
