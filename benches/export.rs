//! Export of one year of 1,000,000 ledger entries: time and peak memory.
//!
//! Run: `cargo bench --bench export -- [ENTRIES]` (default 1,000,000). The account is generated
//! within 2025, stored in a temporary database, then exported offline (prices: the trades'
//! own fiat legs; market-priced legs stay unpriced, which costs the same work per leg) the way
//! `kraken-tax export` does, minus the derived-table refresh (the real binary, refresh included,
//! is measured by `cargo bench --bench whole`).
//! Peak memory is the process's VmHWM, which includes generating and inserting the account,
//! so the export's own peak is also reported as the growth of VmHWM during the export.
//! Under `cargo test` (no `--bench` argument) it exports 10,000 entries and checks that the
//! files have rows; its times are those of a debug build.

use chrono::{TimeZone, Utc};
use kraken_tax::classify::Rules;
use kraken_tax::domain::RawRecord;
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::export::csv::{TransactionsCsv, write_atomic, write_summary};
use kraken_tax::export::{FeeTreatment, Ledger, asset_name, year_bounds};
use kraken_tax::normalize::assets::AssetTable;
use kraken_tax::pricing::PriceBook;
use kraken_tax::store::{Source, Store};
use std::time::Instant;

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `cargo bench` passes `--bench`; `cargo test` runs this target without it.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn main() {
    let entries: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke() { 10_000 } else { 1_000_000 });
    let mut cfg = GeneratorConfig::new(7, entries);
    cfg.start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    cfg.end = Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap();
    let data = generate(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("export.sqlite");
    {
        let mut store = Store::open(&db).unwrap();
        let rows: Vec<RawRecord<_>> = data
            .ledger
            .iter()
            .map(|e| RawRecord {
                item: e.clone(),
                raw: String::new(),
            })
            .collect();
        for chunk in rows.chunks(50_000) {
            store
                .insert_ledger_entries("bench", chunk, Source::Api)
                .unwrap();
        }
    }
    drop(data);
    let before = vm_hwm_mb();
    let started = Instant::now();
    let store = Store::open(&db).unwrap();
    let ledger = Ledger::load(&store, "bench", &AssetTable::default()).unwrap();
    let mut phase = Instant::now();
    let mut lap = |name: &str| {
        eprintln!("  {name}: {:.2} s", phase.elapsed().as_secs_f64());
        phase = Instant::now();
    };
    eprintln!("  load+group: {:.2} s", started.elapsed().as_secs_f64());
    let rules = Rules::default();
    let year = ledger.year(year_bounds(2025, chrono_tz::Tz::UTC).unwrap());
    let mut imports = PriceBook::imports(&store).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Rows are classified, valued and written one at a time; only the summary is kept.
    let mut totals = None;
    write_atomic(&out.join("t.csv"), |o| {
        let mut w = TransactionsCsv::new(o, "EUR")?;
        totals = Some(ledger.write_year(
            year,
            "bench",
            "EUR",
            FeeTreatment::Net,
            &rules,
            &mut [&mut imports],
            |r| w.write(r),
        )?);
        w.finish()
    })
    .unwrap();
    lap("classify+value+write rows");
    let totals = totals.unwrap();
    let sum = totals.summary.rows(asset_name);
    write_summary(
        &out.join("s.csv"),
        2025,
        "bench",
        "EUR",
        FeeTreatment::Net,
        &sum,
    )
    .unwrap();
    lap("summary+write");
    assert!(totals.legs > 0 && !sum.is_empty(), "the year has legs");
    let written = std::fs::read_to_string(out.join("t.csv")).unwrap();
    assert_eq!(
        written.lines().count() as u64,
        totals.legs + 1,
        "the transactions file has a header and one row per leg"
    );
    let secs = started.elapsed().as_secs_f64();
    let after = vm_hwm_mb();
    println!(
        "export of {} legs (year 2025): {secs:.2} s, {} summary rows; peak RSS {after:.0} MB (before export {before:.0} MB)",
        totals.legs,
        sum.len()
    );
}
