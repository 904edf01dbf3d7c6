//! Writes a generated account into a database file, for measuring the real `export` command
//! (its time and peak memory) on a large account.
//!
//! Run: `cargo run --release --example bench_db -- DB [ENTRIES] [SEED]` (default 1,000,000
//! entries, seed 7, as `benches/export.rs`). The account is `bench`, generated within 2025; then
//! `kraken-tax export --db DB --account bench --year 2025 --currency EUR --offline --out DIR`.

use chrono::{TimeZone, Utc};
use kraken_tax::domain::RawRecord;
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::store::{Source, Store};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(db) = args.next() else {
        eprintln!("usage: bench_db DB [ENTRIES] [SEED]");
        std::process::exit(2);
    };
    let entries: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let mut cfg = GeneratorConfig::new(seed, entries);
    cfg.start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    cfg.end = Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap();
    let data = generate(&cfg);
    let mut store = Store::open(std::path::Path::new(&db)).expect("opening the database");
    for chunk in data.ledger.chunks(50_000) {
        let rows: Vec<RawRecord<_>> = chunk
            .iter()
            .map(|e| RawRecord {
                item: e.clone(),
                raw: String::new(),
            })
            .collect();
        store
            .insert_ledger_entries("bench", &rows, Source::Api)
            .expect("inserting");
    }
    println!("{db}: {} ledger entries (account bench)", data.ledger.len());
}
