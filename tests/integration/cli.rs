//! The real binary: exit codes and one clear sentence for each kind of bad input.

use crate::harness::{Env, KEY, SECRET, run_bin, stderr};
use kraken_tax::domain::{AssetCode, KrakenTime, LedgerEntry, LedgerId, RefId};
use kraken_tax::emulator::Fault;
use rust_decimal_macros::dec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_with_a_key_file_succeeds_and_prints_nothing_with_q() {
    let env = Env::generated(11, 300).await;
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(&["--key-file", key_file.to_str().unwrap(), "-q"], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
    env.assert_equals_ground_truth();
    // The sync left the derived classification current: one leg per stored entry, stamped
    // fresh, so an export need not store it again.
    {
        use kraken_tax::classify::{Rules, build::is_fresh};
        let store = kraken_tax::store::Store::open(&env.db).unwrap();
        assert!(is_fresh(&store, "test", &Rules::default()).unwrap());
        let legs: u64 = store
            .derived_counts("test")
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(legs, store.raw_ledger_count("test").unwrap());
        assert!(legs >= 300, "{legs}");
    }
    // Global options also work before the command name.
    let out = run_bin(
        vec![
            "-q".into(),
            "--db".into(),
            env.db.display().to_string(),
            "--account".into(),
            "test".into(),
            "status".into(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("complete"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_is_not_base64_exits_2() {
    let env = Env::generated(12, 20).await;
    let out = env
        .run_sync_bin(
            &[],
            &[("KRAKEN_API_KEY", KEY), ("KRAKEN_API_SECRET", "not*base64")],
        )
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: the API secret from the environment is not valid base64: copy the Private Key exactly as Kraken shows it (it ends with '==')\n"
    );
    assert_eq!(
        env.emu.stats().by_method.values().sum::<u64>(),
        0,
        "no request sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_readable_by_others_is_refused_with_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::generated(13, 20).await;
    let path = env.key_file();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .run_sync_bin(&["--key-file", path.to_str().unwrap()], &[])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: refusing key file {0}: its mode is 0644, readable by others; run `chmod 600 {0}`\n",
            path.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_exit_2() {
    let env = Env::generated(14, 20).await;
    let out = env.run_sync_bin(&[], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no API credentials: set KRAKEN_API_KEY"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let out = run_bin(
        vec![
            "sync".into(),
            "--api-url".into(),
            "http://api.kraken.com".into(),
            "--db".into(),
            "/tmp/unused-kt.sqlite".into(),
        ],
        &[("KRAKEN_API_KEY", KEY), ("KRAKEN_API_SECRET", SECRET)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: invalid API URL \"http://api.kraken.com\": plain http is only allowed for loopback addresses; use https\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_500_page_exits_75_and_keeps_progress() {
    let env = Env::generated(15, 400).await;
    // Two pages are stored, then the next page fails with HTTP 500 on every attempt: the run
    // ends "retry later" with what it had.
    env.sync(Some(2))
        .await
        .expect_err("stopped after two pages");
    for _ in 0..3 {
        env.emu.push_fault(Fault::HttpStatus(500));
    }
    let config = env.fast_retry_config(3);
    let key_file = env.key_file();
    let kf = key_file.to_str().unwrap();
    let cf = config.to_str().unwrap();
    let out = env
        .run_sync_bin(&["--key-file", kf, "--config", cf], &[])
        .await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: sync interrupted; progress is saved, run it again later: Kraken answered Ledgers with HTTP 500; try again later\n"
    );
    let stored = kraken_tax::store::Store::open(&env.db)
        .unwrap()
        .ledger_entries(crate::harness::ACCOUNT)
        .unwrap()
        .len();
    assert!(
        stored >= 99,
        "the two pages before the failure are kept ({stored})"
    );
    // A single 500 is retried within the run; the next run (as cron would do) completes.
    env.emu.push_fault(Fault::HttpStatus(500));
    let out = env
        .run_sync_bin(&["--key-file", kf, "--config", cf, "-q"], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.assert_equals_ground_truth();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_exits_2_naming_the_permission() {
    let env = Env::generated(16, 100).await;
    env.emu.deny("TradesHistory");
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(&["--key-file", key_file.to_str().unwrap()], &[])
        .await;
    assert_eq!(out.status.code(), Some(2));
    // The ledger stream (allowed) completed and may have logged warnings; the error is one line.
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [
            "error: the API key lacks the permission for TradesHistory: tick \"Query Closed Orders & Trades\" in Kraken's API key settings"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ledger_type_is_stored_and_reported() {
    let mut dataset =
        kraken_tax::emulator::generate(&kraken_tax::emulator::GeneratorConfig::new(17, 40));
    let last = dataset.ledger.last().unwrap().clone();
    dataset.ledger.push(LedgerEntry {
        id: LedgerId::new("LNEWTY-PE0001-ABCDEF").unwrap(),
        refid: RefId::new("RNEWTY-PE0001-ABCDEF").unwrap(),
        time: KrakenTime::from_micros(last.time.micros() + 1_000_000, 6),
        kind: "futuresbonus".into(),
        subtype: Some("".into()),
        aclass: "currency".into(),
        subclass: None,
        asset: AssetCode::new("ZEUR").unwrap(),
        wallet: None,
        amount: dec!(5.0000),
        fee: dec!(0.0000),
        balance: None,
    });
    let env = Env::with_dataset(dataset).await;
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(&["--key-file", key_file.to_str().unwrap()], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "stored 1 ledger entry of unknown type \"futuresbonus\" (e.g. LNEWTY-PE0001-ABCDEF); they are kept and will be reported as unclassified"
        ),
        "{}",
        stderr(&out)
    );
    env.assert_equals_ground_truth();
    // And so it is, although its asset is a fiat currency (a config rule can say what it is).
    let store = kraken_tax::store::Store::open(&env.db).unwrap();
    let leg = store
        .derived_legs(crate::harness::ACCOUNT)
        .unwrap()
        .into_iter()
        .find(|l| l.ledger_id == "LNEWTY-PE0001-ABCDEF")
        .expect("classified at the end of the sync");
    assert_eq!(
        (leg.element, leg.note.as_str()),
        (
            kraken_tax::domain::Element::Unclassified,
            "unknown ledger type \"futuresbonus\""
        )
    );
}

/// Runs the binary with `args` after `--db DB`; returns (exit code, stderr).
async fn run_at(db: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut full = vec!["--db".to_owned(), db.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    let out = run_bin(full, &[]).await;
    (out.status.code(), stderr(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_refused_in_one_sentence_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let file = file.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["export", "--year", "1969", "--currency", "EUR"],
            "error: invalid --year 1969: use a year from 1970 to 2100\n".to_owned(),
        ),
        (
            vec!["export", "--year", "2101", "--currency", "EUR"],
            "error: invalid --year 2101: use a year from 1970 to 2100\n".to_owned(),
        ),
        (
            vec!["export", "--year", "2025", "--currency", "EUR", "--out", &file],
            format!(
                "error: --out {file} is a file, not a directory: give the directory for the report files\n"
            ),
        ),
        (
            vec!["sync", "--tier", "15.5:1"],
            "error: invalid tier \"15.5:1\": use starter, intermediate, pro, or MAX:DECAY such as 15:0.33 (MAX a whole number from 2 to 1000, DECAY a positive number up to 1000000)\n".to_owned(),
        ),
        (
            vec!["sync", "--tier", "99999999999999999999:1"],
            "error: invalid tier \"99999999999999999999:1\": use starter, intermediate, pro, or MAX:DECAY such as 15:0.33 (MAX a whole number from 2 to 1000, DECAY a positive number up to 1000000)\n".to_owned(),
        ),
        (
            vec!["sync", "--api-url", "https://api.kraken.com/0/private"],
            "error: invalid API URL \"https://api.kraken.com/0/private\": give the base URL only, without a path, such as https://api.kraken.com\n".to_owned(),
        ),
        (
            vec!["verify", "--api-url", "https://api.kraken.com/?x=1"],
            "error: invalid API URL \"https://api.kraken.com/?x=1\": give the base URL only, without a path, such as https://api.kraken.com\n".to_owned(),
        ),
    ];
    for (args, want) in &cases {
        let (code, err) = run_at(&db, args).await;
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(&err, want, "{args:?}");
    }
    assert!(!db.exists(), "no command above created the database");
    let (code, err) = run_at(&db, &["demo", "--entries", "100001"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with(
            "error: invalid value '100001' for '--entries <ENTRIES>': use a whole number from 1 to 100000\n"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_names_sync_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.sqlite");
    let want = format!(
        "error: no database at {}: run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --db PATH\n",
        db.display()
    );
    for args in [
        vec!["status"],
        vec!["verify", "--offline"],
        vec!["rebuild"],
        vec!["export", "--year", "2025", "--currency", "EUR"],
    ] {
        let (code, err) = run_at(&db, &args).await;
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err, want, "{args:?}");
    }
    assert!(!db.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_keeps_the_unknown_type_warning_of_a_quiet_sync_until_a_rule_covers_it() {
    let mut dataset =
        kraken_tax::emulator::generate(&kraken_tax::emulator::GeneratorConfig::new(18, 40));
    let last = dataset.ledger.last().unwrap().clone();
    dataset.ledger.push(LedgerEntry {
        id: LedgerId::new("LNEWTY-PE0002-ABCDEF").unwrap(),
        refid: RefId::new("RNEWTY-PE0002-ABCDEF").unwrap(),
        time: KrakenTime::from_micros(last.time.micros() + 1_000_000, 6),
        kind: "futuresbonus".into(),
        subtype: Some("".into()),
        aclass: "currency".into(),
        subclass: None,
        asset: AssetCode::new("XXBT").unwrap(),
        wallet: None,
        amount: dec!(0.0100000000),
        fee: dec!(0.0000000000),
        balance: None,
    });
    let env = Env::with_dataset(dataset).await;
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(&["-q", "--key-file", key_file.to_str().unwrap()], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "-q says nothing");
    let db = env.db.display().to_string();
    let status = |config: Option<String>| {
        let mut args = vec![
            "status".to_owned(),
            "--db".to_owned(),
            db.clone(),
            "--account".to_owned(),
            crate::harness::ACCOUNT.to_owned(),
        ];
        if let Some(c) = config {
            args.extend(["--config".to_owned(), c]);
        }
        run_bin(args, &[])
    };
    let out = status(None).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let re = regex::Regex::new(
        r#"(?m)^  warning: 1 ledger entry of unknown type "futuresbonus" stored since 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \(e\.g\. LNEWTY-PE0002-ABCDEF\), reported as unclassified until a \[classify\] rule covers them$"#,
    )
    .unwrap();
    assert!(re.is_match(&text), "{text}");
    // A rule for the type, then a rebuild: resolved, no longer shown.
    let config = env.dir.path().join("rules.toml");
    std::fs::write(
        &config,
        "[classify]\nrules = [{ type = \"futuresbonus\", element = \"CryptoTransferIn\", code = \"CARF508\" }]\n",
    )
    .unwrap();
    let c = config.display().to_string();
    let out = run_bin(
        vec![
            "rebuild".into(),
            "--db".into(),
            db.clone(),
            "--account".into(),
            crate::harness::ACCOUNT.into(),
            "--config".into(),
            c.clone(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = status(Some(c)).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("unknown type"), "{text}");
    assert!(text.starts_with("account \"test\"\n"), "{text}");
}
