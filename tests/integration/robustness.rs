//! The real binary under interruption: run lock, signals, time budget, SIGKILL at random
//! moments, and secrets never written anywhere.

use crate::harness::{ACCOUNT, Env, KEY, SECRET, stderr};
use kraken_tax::emulator::Fault;
use kraken_tax::store::lock_path;
use rand::{RngExt, SeedableRng};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tier slow enough that a sync of a few thousand entries lasts about a second.
const SLOW_TIER: &str = "20:150";

fn spawn_sync(env: &Env, extra: &[&str]) -> Child {
    spawn_sync_at(env, SLOW_TIER, extra)
}

fn spawn_sync_at(env: &Env, tier: &str, extra: &[&str]) -> Child {
    let key_file = env.key_file();
    Command::new(env!("CARGO_BIN_EXE_kraken-tax"))
        .args([
            "sync",
            "--db",
            env.db.to_str().unwrap(),
            "--account",
            ACCOUNT,
            "--api-url",
            &env.emu.url(),
            "--key-file",
            key_file.to_str().unwrap(),
            "--tier",
            tier,
        ])
        .args(extra)
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent-kraken-tax-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

async fn wait_output(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// Waits until the running sync holds its lock (its pid is in the lock file).
async fn wait_for_lock(env: &Env, pid: u32) {
    let path = lock_path(&env.db, ACCOUNT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(&format!("pid {pid},"))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the sync never took its lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_exits_75_at_once_naming_the_running_one() {
    let env = Env::generated(21, 3000).await;
    let first = spawn_sync(&env, &["-q"]);
    let pid = first.id();
    wait_for_lock(&env, pid).await;
    let calls_before: u64 = env.emu.stats().by_method.values().sum();
    let started = Instant::now();
    let second = wait_output(spawn_sync(&env, &[])).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(second.status.code(), Some(75), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.starts_with(&format!(
            "error: another sync of account \"test\" is running (pid {pid}, started "
        )) && err.ends_with("); try again later\n")
            && err.lines().count() == 1,
        "{err}"
    );
    let first = wait_output(first).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // The second run sent nothing: no nonce was spoiled, every call of the first succeeded.
    assert_eq!(env.emu.stats().rejected, 0);
    assert!(env.emu.stats().by_method.values().sum::<u64>() > calls_before);
    env.assert_equals_ground_truth();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_run_with_75_and_the_next_run_completes() {
    let env = Env::generated(22, 3000).await;
    let child = spawn_sync(&env, &["-q"]);
    let pid = child.id();
    wait_for_lock(&env, pid).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_output(child).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: interrupted by SIGTERM; progress is saved, the next run resumes\n"
    );
    let status = crate::harness::run_bin(
        vec![
            "status".into(),
            "--db".into(),
            env.db.display().to_string(),
            "--account".into(),
            ACCOUNT.into(),
        ],
        &[],
    )
    .await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("partial: interrupted by SIGTERM"), "{text}");
    assert_run_counts_what_was_stored(&env);
    let out = wait_output(spawn_sync(&env, &["-q"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_equals_ground_truth();
}

/// The first run's record counts exactly what it stored (the database was empty before it),
/// however it ended.
fn assert_run_counts_what_was_stored(env: &Env) {
    let store = kraken_tax::store::Store::open(&env.db).unwrap();
    let ledger = store.ledger_entries(ACCOUNT).unwrap().len() as u64;
    let trades = store.trades(ACCOUNT).unwrap().len() as u64;
    assert!(ledger > 0, "the run stored something before it stopped");
    let run = store.last_run(ACCOUNT).unwrap().unwrap();
    assert_eq!(
        (run.new_ledger, run.new_trades),
        (ledger, trades),
        "{:?}",
        run.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_stops_between_pages_and_the_next_run_resumes() {
    let env = Env::generated(23, 3000).await;
    let out = wait_output(spawn_sync(&env, &["--max-duration", "250ms", "-q"])).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: time budget spent after "),
        "{}",
        stderr(&out)
    );
    let stored = kraken_tax::store::Store::open(&env.db)
        .unwrap()
        .ledger_entries(ACCOUNT)
        .unwrap()
        .len();
    assert!(
        stored > 0 && stored < env.dataset.ledger.len(),
        "partial progress kept: {stored}"
    );
    assert_run_counts_what_was_stored(&env);
    let out = wait_output(spawn_sync(&env, &["-q"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_equals_ground_truth();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_loses_or_duplicates_an_entry() {
    // About 160 calls at 40 per second of counter decay: 8 s of syncing to cut into pieces.
    let env = Env::generated(24, 6000).await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(24);
    let mut kills = 0;
    let mut completed_early = 0;
    while kills < 25 {
        let mut child = spawn_sync_at(&env, "20:40", &["-q"]);
        let delay = Duration::from_millis(rng.random_range(20..200));
        tokio::time::sleep(delay).await;
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
            Some(_) => completed_early += 1,
        }
        assert_eq!(
            completed_early, 0,
            "the sync should be slow enough to be killed mid-way"
        );
    }
    // The kills landed mid-sync: some history stored, not all of it.
    let stored = kraken_tax::store::Store::open(&env.db)
        .unwrap()
        .ledger_entries(ACCOUNT)
        .unwrap()
        .len();
    assert!(
        stored > 0 && stored < env.dataset.ledger.len(),
        "{stored} stored after the kills"
    );
    let out = wait_output(spawn_sync(&env, &["-q"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_equals_ground_truth();
    let conn = rusqlite_integrity(&env);
    assert_eq!(conn, "ok");
}

/// `PRAGMA integrity_check` through the store's own connection.
fn rusqlite_integrity(env: &Env) -> String {
    kraken_tax::store::Store::open(&env.db)
        .unwrap()
        .integrity_check()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_output_logs_or_the_database() {
    let env = Env::generated(25, 600).await;
    for f in [
        Fault::HttpStatus(502),
        Fault::KrakenError("EService:Unavailable".into()),
        Fault::KrakenError("EAPI:Invalid signature".into()),
    ] {
        env.emu.push_fault(f);
    }
    let config = env.fast_retry_config(4);
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = env
            .run_sync_bin(
                &[
                    "--key-file",
                    env.key_file().to_str().unwrap(),
                    "--config",
                    config.to_str().unwrap(),
                    "-vv",
                ],
                &[("RUST_LOG", "trace")],
            )
            .await;
        outputs.push(out);
    }
    // The same with credentials from the environment, and a panic-free bad secret.
    outputs.push(
        env.run_sync_bin(
            &["-vv"],
            &[
                ("KRAKEN_API_KEY", KEY),
                ("KRAKEN_API_SECRET", SECRET),
                ("RUST_LOG", "trace"),
            ],
        )
        .await,
    );
    outputs.push(
        env.run_sync_bin(
            &["-vv"],
            &[
                ("KRAKEN_API_KEY", KEY),
                ("KRAKEN_API_SECRET", "%%%"),
                ("RUST_LOG", "trace"),
            ],
        )
        .await,
    );
    assert_eq!(outputs[2].status.code(), Some(0), "{}", stderr(&outputs[2]));
    let secret_bytes = base64_decode(SECRET);
    let secret_hex: String = secret_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let needles: Vec<Vec<u8>> = vec![
        KEY.as_bytes().to_vec(),
        SECRET.as_bytes().to_vec(),
        SECRET.as_bytes()[..20].to_vec(),
        secret_bytes.clone(),
        secret_hex.as_bytes().to_vec(),
    ];
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
        haystacks.push((format!("stdout {i}"), o.stdout.clone()));
        haystacks.push((format!("stderr {i}"), o.stderr.clone()));
    }
    assert!(
        outputs
            .iter()
            .any(|o| stderr(o).contains("TRACE") || stderr(o).contains("DEBUG")),
        "the most verbose level was on"
    );
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "kraken.key" {
            continue;
        }
        haystacks.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    for (name, hay) in &haystacks {
        for needle in &needles {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                "a secret appears in {name}"
            );
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Runs the binary with `args`; stdout (and with `close_stderr` also stderr) is a pipe whose
/// reading end is closed before the process starts, as in `kraken-tax status | true`.
async fn run_with_closed_pipe(args: Vec<String>, close_stderr: bool) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kraken-tax"));
        cmd.args(&args)
            .env_remove("RUST_LOG")
            .env_remove("KRAKEN_API_URL")
            .env_remove("KRAKEN_KEY_FILE")
            .env("XDG_CONFIG_HOME", "/nonexistent-kraken-tax-test")
            .stdin(Stdio::null());
        if close_stderr {
            let (reader2, writer2) = std::io::pipe().unwrap();
            drop(reader2);
            cmd.stdout(writer).stderr(writer2);
        } else {
            cmd.stdout(writer).stderr(Stdio::piped());
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_output_pipe_never_makes_a_command_panic() {
    let env = Env::generated(25, 300).await;
    env.sync(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = env.db.display().to_string();
    let key_file = env.key_file().display().to_string();
    let url = env.emu.url();
    let tier = crate::harness::fast_tier().to_string();
    let out_dir = dir.path().display().to_string();
    let commands: Vec<(Vec<&str>, i32)> = vec![
        (vec!["status"], 0),
        (vec!["verify", "--offline", "--json"], 0),
        (vec!["verify", "--offline"], 0),
        (vec!["rebuild"], 0),
        (
            vec![
                "export",
                "--year",
                "2025",
                "--currency",
                "EUR",
                "--offline",
                "--out",
                &out_dir,
                "--allow-empty",
                "--draft",
            ],
            0,
        ),
        (
            vec![
                "sync",
                "--key-file",
                &key_file,
                "--api-url",
                &url,
                "--tier",
                &tier,
            ],
            0,
        ),
        (
            vec![
                "doctor",
                "--json",
                "--key-file",
                &key_file,
                "--api-url",
                &url,
            ],
            -1,
        ),
        (vec!["emulator", "--entries", "nonsense"], 2),
    ];
    for close_stderr in [false, true] {
        for (args, code) in &commands {
            let mut full = vec![
                "--db".to_owned(),
                db.clone(),
                "--account".into(),
                ACCOUNT.into(),
            ];
            full.extend(args.iter().map(|a| a.to_string()));
            let out = run_with_closed_pipe(full, close_stderr).await;
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
            assert!(out.status.code().is_some(), "{args:?}: killed by a signal");
            if *code >= 0 {
                assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
            }
        }
    }
}

/// Overwrites the first bytes of the root page of the prices table, which a sync never reads.
fn damage_prices_table(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'prices'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    let start = ((root - 1) * page) as usize;
    bytes[start..start + 64].fill(0x5a);
    std::fs::write(db, &bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_fails_on_a_damaged_database_also_with_q() {
    let env = Env::generated(26, 200).await;
    env.sync(None).await.unwrap();
    damage_prices_table(&env.db);
    let damaged = std::fs::read(&env.db).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ledgers.csv");
    std::fs::write(
        &csv,
        "\"txid\",\"refid\",\"time\",\"type\",\"subtype\",\"aclass\",\"asset\",\"amount\",\"fee\",\"balance\"\n",
    )
    .unwrap();
    let prices = dir.path().join("XBTEUR_1440.csv");
    std::fs::write(&prices, "1704067200,1,1,1,1,1,1\n").unwrap();
    let db = env.db.display().to_string();
    let key_file = env.key_file().display().to_string();
    let url = env.emu.url();
    let tier = crate::harness::fast_tier().to_string();
    let out_dir = dir.path().display().to_string();
    let csv = csv.display().to_string();
    let prices = prices.display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "sync",
            "--key-file",
            &key_file,
            "--api-url",
            &url,
            "--tier",
            &tier,
        ],
        vec!["status"],
        vec!["verify", "--offline"],
        vec!["rebuild"],
        vec![
            "export",
            "--year",
            "2025",
            "--currency",
            "EUR",
            "--offline",
            "--out",
            &out_dir,
        ],
        vec!["import", &csv],
        vec!["prices", "import", &prices],
    ];
    let expected = format!("error: {db}: the database file is damaged (SQLite's check: ");
    for args in &commands {
        for quiet in [true, false] {
            std::fs::write(&env.db, &damaged).unwrap();
            let mut full = vec![
                "--db".to_owned(),
                db.clone(),
                "--account".into(),
                ACCOUNT.into(),
            ];
            if quiet {
                full.push("-q".into());
            }
            full.extend(args.iter().map(|a| a.to_string()));
            let out = crate::harness::run_bin(full, &[]).await;
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} -q={quiet}: {err}");
            assert!(err.starts_with(&expected), "{args:?}: {err}");
            assert!(
                err.ends_with("; restore it from a backup, or move it aside and sync again\n"),
                "{args:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
    // Doctor says so as a problem, exit 1.
    std::fs::write(&env.db, &damaged).unwrap();
    let out = crate::harness::run_bin(
        vec![
            "--db".into(),
            db.clone(),
            "doctor".into(),
            "--api-url".into(),
            url.clone(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_named_once_without_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    std::fs::write(&db, vec![0x41u8; 8192]).unwrap();
    let out = crate::harness::run_bin(
        vec![
            "--db".into(),
            db.display().to_string(),
            "-q".into(),
            "status".into(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: the file is not a kraken-tax database (not SQLite, encrypted, or its header is damaged)\n",
            db.display()
        )
    );
}

/// Ledger rows stored so far, read beside the running sync (0 before the table exists).
fn ledger_rows_now(env: &Env) -> i64 {
    rusqlite::Connection::open(&env.db)
        .and_then(|c| c.query_row("SELECT count(*) FROM ledger_entries", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ended_by_an_error_mid_stream_records_what_it_stored() {
    let env = Env::generated(27, 3000).await;
    let config = env.fast_retry_config(1);
    let child = spawn_sync(&env, &["--config", config.to_str().unwrap(), "-q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ledger_rows_now(&env) == 0 {
        assert!(Instant::now() < deadline, "the sync never stored a page");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The next call fails, and with one attempt per call the run ends there.
    for _ in 0..5 {
        env.emu.push_fault(Fault::HttpStatus(500));
    }
    let out = wait_output(child).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let stored = kraken_tax::store::Store::open(&env.db)
        .unwrap()
        .ledger_entries(ACCOUNT)
        .unwrap()
        .len();
    assert!(
        stored < env.dataset.ledger.len(),
        "ended mid-stream: {stored}"
    );
    assert_run_counts_what_was_stored(&env);
}
