//! Import throughput: a 1,000,000-row ledgers.csv (written by the emulator's CSV writer from a
//! generated account) into a fresh database file. Run with `cargo bench --bench import`;
//! `IMPORT_ROWS=N` changes the size. Under `cargo test` (no `--bench` argument) it imports
//! 10,000 rows and checks the counts; its times are those of a debug build.

use kraken_tax::csv_import::{
    ImportOptions, Rows, import_input, read_inputs, read_layout, strip_bom,
};
use kraken_tax::emulator::csv_out::{LedgerCsvVersion, ledgers_csv};
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::store::{Source, Store};
use std::time::Instant;

/// CPU seconds this process has used (user + system), from /proc: the machine is shared, so
/// wall time alone overstates the cost when other jobs run.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 of the line (utime, stime), in clock ticks of 1/100 s on Linux.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// `cargo bench` passes `--bench`; `cargo test` runs this target without it.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn main() {
    let rows: usize = std::env::var("IMPORT_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if smoke() { 10_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let mut data = generate(&GeneratorConfig::new(7, rows));
    data.ledger.truncate(rows);
    let path = dir.path().join("ledgers.csv");
    std::fs::write(&path, ledgers_csv(&data.ledger, LedgerCsvVersion::V4, ',')).expect("write");
    let size = std::fs::metadata(&path).expect("size").len();
    println!(
        "generated {} rows ({:.1} MB) in {:.1?}",
        data.ledger.len(),
        size as f64 / 1e6,
        t.elapsed()
    );
    drop(data);

    let t = Instant::now();
    let inputs = read_inputs(&path).expect("read");
    let data = strip_bom(&inputs[0].data);
    let layout = read_layout(data).expect("header");
    let parsed = Rows::new(data, &layout).filter(Result::is_ok).count();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parsed {parsed} rows (no database) in {secs:.2} s: {:.0} rows/s",
        parsed as f64 / secs
    );
    drop(inputs);

    let mut store = Store::open(&dir.path().join("bench.sqlite")).expect("db");
    let t = Instant::now();
    let cpu = cpu_secs();
    let inputs = read_inputs(&path).expect("read");
    let opts = ImportOptions {
        skip_bad: false,
        source: Source::Csv,
    };
    let report =
        import_input(&mut store, "bench", &inputs[0], opts, &mut |_, _| Ok(())).expect("import");
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    assert_eq!(
        (report.rows, report.outcome.inserted),
        (rows as u64, rows as u64)
    );
    println!(
        "imported {} rows ({} new) in {secs:.2} s: {:.0} rows/s; {cpu:.2} CPU s: {:.0} rows per CPU s",
        report.rows,
        report.outcome.inserted,
        report.rows as f64 / secs,
        report.rows as f64 / cpu
    );
    // Again: every row is a duplicate (the id lookup path).
    let t = Instant::now();
    let report = import_input(&mut store, "bench", &inputs[0], opts, &mut |_, _| Ok(()))
        .expect("import again");
    assert_eq!(report.outcome.duplicates, rows as u64);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "re-imported {} rows ({} duplicates) in {secs:.2} s: {:.0} rows/s",
        report.rows,
        report.outcome.duplicates,
        report.rows as f64 / secs
    );
}
