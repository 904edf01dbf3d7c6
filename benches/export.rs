//! Export of one year of 1,000,000 ledger entries: time and peak memory.
//!
//! Run: `cargo bench --bench export -- [ENTRIES]` (default 1,000,000). The account is generated
//! within 2025, stored in a temporary database, then exported offline (prices: the trades'
//! own fiat legs; market-priced legs stay unpriced, which costs the same work per leg) the way
//! `kraken-tax export` does: first the derived-table refresh (`classify::build::ensure_fresh`,
//! a full build on this fresh database), then the export reading the stored legs, timed
//! apart; then the refresh again after 100 new entries (the incremental path of a nightly
//! sync), and the export once more. The real binary is measured by `cargo bench --bench whole`.
//! Peak memory is the process's VmHWM, which includes generating and inserting the account,
//! so the export's own peak is also reported as the growth of VmHWM during the export.
//! Under `cargo test` (no `--bench` argument) it exports 10,000 entries and checks that the
//! files have rows; its times are those of a debug build.

use chrono::{TimeZone, Utc};
use kraken_tax::classify::Rules;
use kraken_tax::classify::build::ensure_fresh;
use kraken_tax::domain::RawRecord;
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::export::csv::{TransactionsCsv, write_atomic, write_summary};
use kraken_tax::export::{FeeTreatment, YearLegs, asset_name, year_bounds};
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
    // All but the last 100 entries now; those 100 arrive later, as a nightly sync brings them.
    let rows: Vec<RawRecord<_>> = data
        .ledger
        .iter()
        .map(|e| RawRecord {
            item: e.clone(),
            raw: String::new(),
        })
        .collect();
    drop(data);
    let (old, late) = rows.split_at(rows.len().saturating_sub(100));
    {
        let mut store = Store::open(&db).unwrap();
        for chunk in old.chunks(50_000) {
            store
                .insert_ledger_entries("bench", chunk, Source::Api)
                .unwrap();
        }
    }
    let (old, late) = (old.len(), late.to_vec());
    drop(rows);
    let before = vm_hwm_mb();
    let rules = Rules::default();
    let assets = AssetTable::default();
    let started = Instant::now();
    let mut store = Store::open(&db).unwrap();
    let report = ensure_fresh(&mut store, "bench", &assets, &rules)
        .unwrap()
        .expect("a first build");
    let refresh_s = started.elapsed().as_secs_f64();
    eprintln!("  refresh (full, {} legs): {refresh_s:.2} s", report.legs);
    let after_refresh = vm_hwm_mb();
    let (secs, legs) = export(&store, &dir.path().join("out"));
    println!(
        "export of {legs} legs (year 2025): refresh {refresh_s:.2} s + export {secs:.2} s; peak RSS {after_refresh:.0} MB after the refresh, {:.0} MB after the export (before {before:.0} MB)",
        vm_hwm_mb()
    );
    store
        .insert_ledger_entries("bench", &late, Source::Api)
        .unwrap();
    let started = Instant::now();
    let report = ensure_fresh(&mut store, "bench", &assets, &rules)
        .unwrap()
        .expect("new entries");
    let incremental_s = started.elapsed().as_secs_f64();
    assert!(report.rederived < 1000, "{report:?}");
    assert_eq!(report.legs as usize, old + late.len());
    let (secs, legs) = export(&store, &dir.path().join("out2"));
    println!(
        "after {} new entries: refresh {incremental_s:.3} s ({} legs derived again), export of {legs} legs {secs:.2} s",
        late.len(),
        report.rederived
    );
}

/// Exports 2025 offline into `out`: (seconds, legs).
fn export(store: &Store, out: &std::path::Path) -> (f64, u64) {
    let started = Instant::now();
    let mut phase = Instant::now();
    let mut lap = |name: &str| {
        eprintln!("  {name}: {:.2} s", phase.elapsed().as_secs_f64());
        phase = Instant::now();
    };
    let year = YearLegs::new(
        store,
        "bench",
        year_bounds(2025, chrono_tz::Tz::UTC).unwrap(),
    );
    let mut imports = PriceBook::imports(store).unwrap();
    std::fs::create_dir_all(out).unwrap();
    // Rows are read, valued and written one at a time; only the summary is kept.
    let mut totals = None;
    write_atomic(&out.join("t.csv"), |o| {
        let mut w = TransactionsCsv::new(o, "EUR")?;
        totals = Some(
            year.write_year("EUR", FeeTreatment::Net, &mut [&mut imports], |r| {
                w.write(r)
            })
            .map_err(std::io::Error::other)?,
        );
        w.finish()
    })
    .unwrap();
    lap("read+value+write rows");
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
    (started.elapsed().as_secs_f64(), totals.legs)
}
