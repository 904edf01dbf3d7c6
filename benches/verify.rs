//! Verify benchmark: the local checks (balance chains and trade legs) over a large stored
//! history, read from an SQLite file in one ordered pass.
//!
//! Run: `cargo bench --bench verify -- [ENTRIES]` (default 1,000,000 entries).
//!
//! Generation and insertion are timed separately from the check. The check runs twice in a
//! child process of this benchmark (so that its peak resident memory is its own, not the
//! generator's), each time opening the database afresh.
//!
//! Under `cargo test` (no `--bench` argument) it checks 10,000 entries; its times are those
//! of a debug build.

use kraken_tax::emulator::{GeneratorConfig, generate, store_dataset};
use kraken_tax::store::Store;
use kraken_tax::verify::check_account;
use std::time::Instant;

/// Set in the child process: the database to check.
const CHILD_ENV: &str = "KRAKEN_TAX_BENCH_VERIFY_DB";
/// Set in the child process: the number of ledger entries the check must find.
const EXPECT_ENV: &str = "KRAKEN_TAX_BENCH_VERIFY_EXPECT";

fn main() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        check_rounds(std::path::Path::new(&db));
        return;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let entries: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 10_000 } else { 1_000_000 });
    let t = Instant::now();
    let data = generate(&GeneratorConfig::new(1, entries));
    println!(
        "generated {} ledger entries and {} trades in {:.1} s",
        data.ledger.len(),
        data.trades.len(),
        t.elapsed().as_secs_f64()
    );

    // KRAKEN_TAX_BENCH_KEEP=DIR keeps the database there, for profiling the check alone
    // (`KRAKEN_TAX_BENCH_VERIFY_DB=DIR/bench.sqlite perf record <bench binary>`).
    let dir = tempfile::tempdir().expect("temp dir");
    let db = match std::env::var_os("KRAKEN_TAX_BENCH_KEEP") {
        Some(keep) => std::path::PathBuf::from(keep).join("bench.sqlite"),
        None => dir.path().join("bench.sqlite"),
    };
    let t = Instant::now();
    {
        let mut store = Store::open(&db).expect("open");
        // Verify never reads the raw text, but it makes the table as large as a real one.
        store_dataset(&mut store, "bench", &data).expect("storing the account");
    }
    let n_ledger = data.ledger.len();
    let n_trades = data.trades.len();
    drop(data);
    println!("stored them in {:.1} s", t.elapsed().as_secs_f64());

    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD_ENV, &db)
        .env(EXPECT_ENV, n_ledger.to_string())
        .status()
        .expect("child runs");
    assert!(out.success(), "the check failed");
    println!("(expected {n_ledger} ledger entries and {n_trades} trades)");
}

fn check_rounds(db: &std::path::Path) {
    for round in ["first", "second"] {
        let store = Store::open(db).expect("open");
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let report = check_account(&store, "bench").expect("verify");
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        assert!(report.consistent, "{}", report.summary());
        if let Some(n) = std::env::var(EXPECT_ENV)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
        {
            assert_eq!(report.ledger_entries, n, "ledger entries checked");
        }
        println!(
            "verify ({round} run): {} ledger entries, {} trades, {} chains in {secs:.2} s wall, {cpu:.2} s on CPU ({:.0} entries per CPU second)",
            report.ledger_entries,
            report.trades,
            report.chains.len(),
            report.ledger_entries as f64 / cpu
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!(
            "peak resident memory of the check: {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }
}

/// Time this thread spent on a CPU (user and system), from the scheduler's statistics: on a
/// busy machine wall time says more about the neighbours than about the check.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}
