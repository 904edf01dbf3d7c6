//! `kraken-tax gains` as a whole process on a large five-year account (issue 15 item 9):
//! one year's files, every year matched.
//!
//! Run: `cargo bench --bench gains_whole` (1,000,000 entries, 2021–2025, `--year 2025
//! --method fifo` and `uk`, offline: the values come from the trades' own fiat legs; the
//! rest is unpriced, as `export --offline` without price tables). `-- N` picks the size.
//! It writes the generated account as Kraken's ledgers.csv and trades.csv (in a child
//! process, so that this one stays small: Linux starts a child's `ru_maxrss` at its parent's
//! peak), imports them with the release binary, then times `gains` and reports its wall time
//! and peak memory (`ru_maxrss` from `wait4`).
//!
//! Under `cargo test` it runs once on 3,000 entries and checks that the five files are
//! written and the summary has a TOTAL row.

use chrono::{TimeZone, Utc};
use kraken_tax::emulator::csv_out::{LedgerCsvVersion, TradeCsvVersion, ledgers_csv, trades_csv};
use kraken_tax::emulator::{GeneratorConfig, generate};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_kraken-tax");
const GENERATE_ENV: &str = "KRAKEN_TAX_BENCH_GAINS_GENERATE";

fn generate_csv(entries: usize, dir: &Path) {
    let mut cfg = GeneratorConfig::new(11, entries).with_gains_events();
    cfg.start = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
    cfg.end = Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap();
    let data = generate(&cfg);
    std::fs::write(
        dir.join("ledgers.csv"),
        ledgers_csv(&data.ledger, LedgerCsvVersion::V4, ','),
    )
    .expect("write ledgers.csv");
    std::fs::write(
        dir.join("trades.csv"),
        trades_csv(&data.trades, TradeCsvVersion::V2, ','),
    )
    .expect("write trades.csv");
    println!("{}", data.ledger.len());
}

/// Runs the binary to completion: (wall seconds, peak MB, stdout); panics unless it exits 0.
fn run(dir: &Path, args: &[&str]) -> (f64, f64, String) {
    let out = dir.join("stdout.txt");
    let err = dir.join("stderr.txt");
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(args)
        .env_remove("KRAKEN_API_URL")
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("the binary starts");
    let (status, usage) = wait4(child);
    let wall = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "kraken-tax {} failed:\n{stdout}\n{}",
        args.join(" "),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    (wall, usage.ru_maxrss as f64 / 1024.0, stdout)
}

/// Waits for (and reaps) `child`: its wait status and its resource usage (std's
/// `Child::wait` does not return the rusage).
fn wait4(child: std::process::Child) -> (i32, libc::rusage) {
    let pid = child.id();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for the kernel to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; status and usage point to live locals.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4");
    (status, usage)
}

fn main() {
    if let Ok(spec) = std::env::var(GENERATE_ENV) {
        let (n, dir) = spec.split_once(' ').expect("ENTRIES DIR");
        generate_csv(n.parse().expect("entries"), Path::new(dir));
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let entries: usize = if bench {
        std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(1_000_000)
    } else {
        3_000
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let gen_out = Command::new(std::env::current_exe().expect("own path"))
        .env(GENERATE_ENV, format!("{entries} {}", dir.path().display()))
        .stderr(Stdio::inherit())
        .output()
        .expect("the generator runs");
    assert!(gen_out.status.success(), "generating the account failed");
    let n = String::from_utf8_lossy(&gen_out.stdout).trim().to_owned();
    let db = dir.path().join("db.sqlite");
    let db = db.to_str().expect("utf-8");
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().expect("utf-8").to_owned();
    for f in ["ledgers.csv", "trades.csv"] {
        run(
            d,
            &["import", &p(f), "--db", db, "--account", "bench", "-q"],
        );
    }
    let out = p("out");
    for method in ["fifo", "uk"] {
        let (wall, peak, stdout) = run(
            d,
            &[
                "gains",
                "--year",
                "2025",
                "--currency",
                "EUR",
                "--method",
                method,
                "--offline",
                "--out",
                &out,
                "--db",
                db,
                "--account",
                "bench",
            ],
        );
        assert!(stdout.contains("  TOTAL "), "{stdout}");
        let files = std::fs::read_dir(&out).map_or(0, |r| r.count());
        assert!(files >= 5, "{files} files");
        println!(
            "gains --year 2025 --method {method}, {n} ledger entries over 2021-2025: {wall:.2} s, peak {peak:.0} MB"
        );
    }
}
