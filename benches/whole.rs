//! Whole-process runs of the real `kraken-tax` binary on generated accounts: each figure is
//! the wall time of one child process (and its peak resident memory, from `wait4`), start to
//! exit, so it includes start-up, opening the database and everything the command does.
//!
//! Run: `cargo bench --bench whole` (about five minutes on two cores), or with options:
//!
//! ```text
//! cargo bench --bench whole -- [--sync 10000,100000] [--tier pro] [--time-scale 100]
//!                               [--entries 10000,100000,1000000]
//! ```
//!
//! - sync (`--sync`, `--tier`, `--time-scale`): `kraken-tax emulator` serves a generated
//!   account of that many ledger entries (plus its trades) with the tier's clock running
//!   `--time-scale` times faster, and `kraken-tax sync` models the same sped-up tier. Reported:
//!   wall time of the sync process ÷ the fastest schedule for the history calls it made (burst
//!   until the counter is full, then one call of cost 2 every 2 / decay seconds:
//!   `(2 calls - max) / decay`), and history calls ÷ (N / 50) with N = entries + trades.
//!   `--sync 0` skips the sync runs. A 1,000,000-entry sync at Pro x100 takes ~9 minutes.
//! - import, export, verify (`--entries`): an account generated within 2025 is written as
//!   Kraken's ledgers.csv and trades.csv by the emulator's CSV writer; then `kraken-tax import
//!   ledgers.csv` (rows per second), `import trades.csv`, `export --year 2025 --currency EUR
//!   --offline` (the whole account is that one year; offline, so market-priced legs stay
//!   unpriced) twice (the first run after the import also stores the derived legs), and
//!   `verify --offline`, each a separate process on the same database.
//!   `--entries 0` skips them.
//!
//! It prints a Markdown table with the machine (CPU model and count, from /proc/cpuinfo) and
//! the date. Under `cargo test` (no `--bench` argument) it runs every stage once on a small
//! account against the debug binary, checks the outcomes, and times nothing.

use chrono::{TimeZone, Utc};
use kraken_tax::domain::{RateTier, Stream};
use kraken_tax::emulator::csv_out::{LedgerCsvVersion, TradeCsvVersion, ledgers_csv, trades_csv};
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::store::Store;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kraken-tax");
const ACCOUNT: &str = "bench";

struct Options {
    sync: Vec<usize>,
    tier: String,
    time_scale: f64,
    entries: Vec<usize>,
}

fn parse_sizes(s: &str) -> Vec<usize> {
    s.split(',')
        .map(|n| n.trim().replace('_', "").parse().expect("sizes: N,N,..."))
        .filter(|&n| n > 0)
        .collect()
}

fn options(smoke: bool) -> Options {
    let mut o = if smoke {
        Options {
            sync: vec![10_000],
            tier: "pro".into(),
            time_scale: 1000.0,
            entries: vec![10_000],
        }
    } else {
        Options {
            sync: vec![10_000, 100_000],
            tier: "pro".into(),
            time_scale: 100.0,
            entries: vec![10_000, 100_000, 1_000_000],
        }
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sync" => o.sync = parse_sizes(&value()),
            "--tier" => o.tier = value(),
            "--time-scale" => o.time_scale = value().parse().expect("--time-scale: a number"),
            "--entries" => o.entries = parse_sizes(&value()),
            other => panic!(
                "unknown argument {other:?}; usage: [--sync N,N] [--tier T] [--time-scale X] [--entries N,N]"
            ),
        }
    }
    o
}

/// How a child process ended.
struct Run {
    wall: Duration,
    /// Peak resident set size of the child (`ru_maxrss`), as printed.
    peak: String,
    stdout: String,
}

/// Runs the binary with `args` to completion, with its own empty config directory; panics
/// unless it exits 0.
fn run(dir: &Path, args: &[&str]) -> Run {
    let out = dir.join("stdout.txt");
    let err = dir.join("stderr.txt");
    // Linux starts a spawned child's `ru_maxrss` at the spawning process's own peak, so a
    // figure not above that is only a bound.
    let floor_mb = own_peak_mb();
    let started = Instant::now();
    let child = command(dir)
        .args(args)
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("the binary starts");
    let (status, peak_mb) = wait4(child);
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status == Some(0),
        "kraken-tax {} exited with {status:?}:\n{stdout}\n{}",
        args.join(" "),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let peak = if peak_mb > floor_mb + 1.0 {
        format!("{peak_mb:.0} MB")
    } else {
        format!("≤ {peak_mb:.0} MB")
    };
    Run { wall, peak, stdout }
}

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KRAKEN") {
            cmd.env_remove(name);
        }
    }
    cmd.env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdin(Stdio::null());
    cmd
}

/// Waits for (and reaps) `child`: its exit code (None if killed by a signal) and its peak
/// resident memory in MB, which the kernel keeps per process (`ru_maxrss`, in KiB on Linux).
/// std's `Child::wait` does not return the rusage.
fn wait4(child: std::process::Child) -> (Option<i32>, f64) {
    let pid = child.id();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for the kernel to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; status and usage point to live locals.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        r,
        pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss as f64 / 1024.0)
}

/// One row of the results.
struct Row {
    what: String,
    wall: Duration,
    rate: String,
    peak: String,
    notes: String,
}

fn sync_run(entries: usize, base: RateTier, tier_name: &str, scale: f64, smoke: bool) -> Row {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("key");
    let tier = base.scaled(scale);
    let mut emu = command(dir.path())
        .args(["emulator", "--seed", "42", "--entries"])
        .arg(entries.to_string())
        .args(["--tier", tier_name, "--time-scale"])
        .arg(scale.to_string())
        .arg("--key-file-out")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("emulator.err")).expect("file"))
        .spawn()
        .expect("the emulator starts");
    let mut line = String::new();
    BufReader::new(emu.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the emulator's first line");
    // "emulator listening on URL (L ledger entries, T trades; tier ...); Ctrl-C to stop"
    let url = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let (ledger_n, trades_n) = {
        let counts = line.split_once('(').expect("counts").1;
        let mut words = counts.split_whitespace();
        let n = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok()).expect("a count");
        let l = n(words.next());
        let t = n(words.nth(2));
        (l, t)
    };

    let db = dir.path().join("sync.sqlite");
    let db_arg = db.to_str().expect("utf-8 path");
    let tier_arg = tier.to_string();
    let sync = run(
        dir.path(),
        &[
            "--db",
            db_arg,
            "--account",
            ACCOUNT,
            "sync",
            "--key-file",
            key.to_str().expect("utf-8 path"),
            "--api-url",
            &url,
            "--tier",
            &tier_arg,
        ],
    );

    // SAFETY: our own child, still running (it serves until told to stop).
    unsafe { libc::kill(emu.id() as libc::pid_t, libc::SIGTERM) };
    let status = emu.wait().expect("the emulator stops");
    assert!(status.success(), "emulator: {status}");
    // "emulator: C history calls, R refused by the rate limit"
    let emu_err = std::fs::read_to_string(dir.path().join("emulator.err")).unwrap_or_default();
    let words: Vec<&str> = emu_err
        .lines()
        .find(|l| l.starts_with("emulator: "))
        .unwrap_or_else(|| panic!("no call count from the emulator: {emu_err:?}"))
        .split_whitespace()
        .collect();
    let calls: f64 = words[1].parse().expect("history calls");
    let refused: u64 = words[4].parse().expect("refused calls");

    // The outcome: exactly the generated account is stored.
    let store = Store::open(&db).expect("open the synced database");
    let stored = |s| store.stream_summary(ACCOUNT, s).expect("summary").count;
    assert_eq!(stored(Stream::Ledgers), ledger_n, "ledger entries stored");
    assert_eq!(stored(Stream::Trades), trades_n, "trades stored");
    assert!(
        sync.stdout.contains("history complete"),
        "sync: {}",
        sync.stdout
    );
    let n = (ledger_n + trades_n) as f64;
    let per_n50 = calls / (n / 50.0);
    assert!(calls >= n / 50.0, "{calls} history calls for {n} records");
    if smoke {
        println!(
            "smoke: sync stored {ledger_n} ledger entries and {trades_n} trades in {calls} history calls ({per_n50:.3} × N/50)"
        );
    }
    let fastest = ((2.0 * calls - tier.max) / tier.decay_per_sec).max(0.0);
    let wall = sync.wall.as_secs_f64();
    Row {
        what: format!(
            "sync, {} entries (+{} trades), {tier_name} x{scale}",
            group(ledger_n),
            group(trades_n)
        ),
        wall: sync.wall,
        rate: format!("{} entries/s", group((n / wall) as u64)),
        peak: sync.peak,
        notes: format!(
            "wall ÷ fastest schedule ({fastest:.2} s) = {:.3}; {} history calls = {per_n50:.3} × N/50; {refused} refused",
            wall / fastest,
            group(calls as u64)
        ),
    }
}

/// Set in a child of this benchmark: `ENTRIES DIR`, write a generated year's ledgers.csv and
/// trades.csv into DIR and print their row counts. A child process does it so that this one
/// stays small: Linux carries the spawning process's peak RSS over into the `ru_maxrss` of
/// the processes it starts.
const GENERATE_ENV: &str = "KRAKEN_TAX_BENCH_WHOLE_GENERATE";

fn generate_csv(entries: usize, dir: &Path) {
    let mut cfg = GeneratorConfig::new(7, entries);
    cfg.start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
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
    println!("{} {}", data.ledger.len(), data.trades.len());
}

/// Import, export and verify of one generated year.
fn offline_runs(entries: usize, smoke: bool) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(GENERATE_ENV, format!("{entries} {}", dir.path().display()))
        .stderr(Stdio::inherit())
        .output()
        .expect("the generator runs");
    assert!(out.status.success(), "generating the account failed");
    let counts = String::from_utf8_lossy(&out.stdout);
    let (ledger_n, trades_n) = counts
        .trim()
        .split_once(' ')
        .and_then(|(l, t)| Some((l.parse::<usize>().ok()?, t.parse::<usize>().ok()?)))
        .unwrap_or_else(|| panic!("generator: {counts:?}"));
    let ledgers = dir.path().join("ledgers.csv");
    let trades = dir.path().join("trades.csv");
    let db = dir.path().join("db.sqlite");
    let db_arg = db.to_str().expect("utf-8 path");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let global = ["--db", db_arg, "--account", ACCOUNT];
    let with = |args: &[&str]| -> Vec<String> {
        global.iter().chain(args).map(|s| (*s).to_owned()).collect()
    };
    let go = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(dir.path(), &refs)
    };

    let import = go(with(&["import", &path(&ledgers)]));
    // "<file>: ledgers <version>, R rows: I new, ..."
    let expect = format!("{ledger_n} rows: {ledger_n} new");
    assert!(import.stdout.contains(&expect), "import: {}", import.stdout);
    let import_trades = go(with(&["import", &path(&trades)]));
    let expect = format!("{trades_n} rows: {trades_n} new");
    assert!(
        import_trades.stdout.contains(&expect),
        "import: {}",
        import_trades.stdout
    );

    let out = dir.path().join("out");
    let export_args = with(&[
        "export",
        "--year",
        "2025",
        "--currency",
        "EUR",
        "--offline",
        // No identity configured: the XML is a draft with marked placeholders.
        "--draft",
        "--out",
        &path(&out),
    ]);
    // The first export after an import also refreshes the stored derived legs; the second
    // finds them current.
    let export = go(export_args.clone());
    let transactions = out.join("carf-transactions-2025-EUR.csv");
    // Counted in pieces: reading the file whole would raise this process's peak, and with it
    // every later child's `ru_maxrss`.
    let lines = count_lines(&transactions);
    assert!(lines > 1, "the transactions file has rows");
    for f in ["carf-summary-2025-EUR.csv", "carf-2025-EUR.draft.xml"] {
        let len = std::fs::metadata(out.join(f)).map_or(0, |m| m.len());
        assert!(len > 0, "{f} written");
    }

    let export_again = go(export_args);
    let verify = go(with(&["verify", "--offline"]));
    if smoke {
        println!(
            "smoke: imported {ledger_n} ledger rows and {trades_n} trades, exported {} transaction rows, verify consistent",
            lines - 1
        );
    }
    let secs = |r: &Run| r.wall.as_secs_f64();
    vec![
        Row {
            what: format!("import of a {}-row ledgers.csv", group(ledger_n as u64)),
            wall: import.wall,
            rate: format!("{} rows/s", group((ledger_n as f64 / secs(&import)) as u64)),
            peak: import.peak,
            notes: format!(
                "then trades.csv ({} rows): {:.2} s",
                group(trades_n as u64),
                secs(&import_trades)
            ),
        },
        Row {
            what: format!(
                "export of one year, {} ledger entries (offline)",
                group(ledger_n as u64)
            ),
            wall: export.wall,
            rate: format!(
                "{} entries/s",
                group((ledger_n as f64 / secs(&export)) as u64)
            ),
            peak: export.peak,
            notes: format!(
                "{} transaction rows, CSV and XML; the first export after the import (it also \
                 stores the derived legs); a second: {:.2} s, {}",
                group(lines as u64 - 1),
                secs(&export_again),
                export_again.peak
            ),
        },
        Row {
            what: format!(
                "verify, {} entries (+{} trades)",
                group(ledger_n as u64),
                group(trades_n as u64)
            ),
            wall: verify.wall,
            rate: format!(
                "{} entries/s",
                group((ledger_n as f64 / secs(&verify)) as u64)
            ),
            peak: verify.peak,
            notes: "`verify --offline`".into(),
        },
    ]
}

fn count_lines(path: &Path) -> usize {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = BufReader::new(file);
    let mut n = 0;
    loop {
        let buf = reader.fill_buf().expect("read");
        if buf.is_empty() {
            return n;
        }
        n += buf.iter().filter(|&&b| b == b'\n').count();
        let len = buf.len();
        reader.consume(len);
    }
}

/// 1234567 → "1,234,567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// This process's peak resident memory (VmHWM), MB.
fn own_peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m)
        })
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {cpus} logical CPUs")
}

fn main() {
    if let Ok(job) = std::env::var(GENERATE_ENV) {
        let (entries, dir) = job.split_once(' ').expect("ENTRIES DIR");
        generate_csv(entries.parse().expect("entries"), Path::new(dir));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test` runs this target without it.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let o = options(smoke);
    let base: RateTier = o
        .tier
        .parse()
        .expect("--tier: starter, intermediate, pro or MAX:DECAY");
    let mut rows = Vec::new();
    for &n in &o.sync {
        rows.push(sync_run(n, base, &o.tier, o.time_scale, smoke));
    }
    for &n in &o.entries {
        rows.extend(offline_runs(n, smoke));
    }
    if smoke {
        return;
    }
    println!(
        "\nWhole-process runs of the release binary, {} on {}:\n",
        Utc::now().format("%Y-%m-%d"),
        machine()
    );
    println!(
        "Wall time and peak RSS (`ru_maxrss` from wait4) of each child process. Linux starts \
         a child's peak at its spawner's, so \"≤\" marks a figure not above this process's own \
         peak at the time ({:.0} MB by the end): a bound, not a measurement.\n",
        own_peak_mb()
    );
    println!("| what | wall | rate | peak RSS | notes |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.2} s | {} | {} | {} |",
            r.what,
            r.wall.as_secs_f64(),
            r.rate,
            r.peak,
            r.notes
        );
    }
}
