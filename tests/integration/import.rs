//! Website CSV import and the export-API backfill, against the emulator's generated accounts.

use crate::harness::{ACCOUNT, Env, fast_retry, run_bin, stderr};
use kraken_tax::csv_import::{ImportOptions, Input, import_input, inputs};
use kraken_tax::domain::{LedgerEntry, Stream, Trade};
use kraken_tax::emulator::csv_out::{
    LedgerCsvVersion, TradeCsvVersion, ledgers_csv, trades_csv, zip_files,
};
use kraken_tax::store::{Source, Store};
use kraken_tax::sync::{BackfillError, BackfillMode, BackfillOptions, backfill};
use std::time::{Duration, Instant};

const CREDS: &[(&str, &str)] = &[
    ("KRAKEN_API_KEY", crate::harness::KEY),
    ("KRAKEN_API_SECRET", crate::harness::SECRET),
];

fn secs(micros: i64) -> i64 {
    micros.div_euclid(1_000_000)
}

/// Asserts two ledgers hold the same entries in everything both sources carry: ids, refids,
/// types, assets, amounts, fees, balances, times to the second (and subtypes when `subtype`).
fn assert_same_ledger(got: &[LedgerEntry], want: &[LedgerEntry], subtype: bool, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: ledger entry count");
    let mut got: Vec<&LedgerEntry> = got.iter().collect();
    let mut want: Vec<&LedgerEntry> = want.iter().collect();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (
                &g.id,
                &g.refid,
                &g.kind,
                &g.asset,
                g.amount,
                g.fee,
                g.balance,
                secs(g.time.micros())
            ),
            (
                &w.id,
                &w.refid,
                &w.kind,
                &w.asset,
                w.amount,
                w.fee,
                w.balance,
                secs(w.time.micros())
            ),
            "{what}"
        );
        assert_eq!(g.amount.to_string(), w.amount.to_string(), "{what}: scale");
        if subtype {
            assert_eq!(
                g.subtype.as_deref().unwrap_or(""),
                w.subtype.as_deref().unwrap_or(""),
                "{what}: {}",
                g.id
            );
        }
    }
}

fn assert_same_trades(got: &[Trade], want: &[Trade], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: trade count");
    let mut got: Vec<&Trade> = got.iter().collect();
    let mut want: Vec<&Trade> = want.iter().collect();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (
                &g.id,
                &g.ordertxid,
                &g.pair,
                g.side,
                g.price,
                g.cost,
                g.fee,
                g.vol,
                &g.ledgers,
                secs(g.time.micros())
            ),
            (
                &w.id,
                &w.ordertxid,
                &w.pair,
                w.side,
                w.price,
                w.cost,
                w.fee,
                w.vol,
                &w.ledgers,
                secs(w.time.micros())
            ),
            "{what}"
        );
        // Trades keep their fraction of a second in exports.
        assert_eq!(g.time.micros(), w.time.micros(), "{what}: {}", g.id);
    }
}

fn csv_opts() -> ImportOptions {
    ImportOptions {
        skip_bad: false,
        source: Source::Csv,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_header_version_imports_the_same_rows_as_an_api_sync() {
    let env = Env::generated(61, 700).await;
    env.sync(None).await.expect("api sync");
    let api = Store::open(&env.db).unwrap();
    let (api_ledger, api_trades) = (
        api.ledger_entries(ACCOUNT).unwrap(),
        api.trades(ACCOUNT).unwrap(),
    );
    let data = &env.dataset;
    for (i, lv) in LedgerCsvVersion::ALL.into_iter().enumerate() {
        let tv = TradeCsvVersion::ALL[i % 2];
        // CSV, TSV and the zip as downloaded, in turn; CRLF and a BOM on some.
        let l = ledgers_csv(&data.ledger, lv, if i == 1 { '\t' } else { ',' });
        let t = trades_csv(&data.trades, tv, ',');
        let l = if i == 2 {
            format!("\u{feff}{}", l.replace('\n', "\r\n\r\n"))
        } else {
            l
        };
        let files: Vec<Input> = if i == 3 {
            let zip =
                zip_files(&[("ledgers.csv", l.as_bytes()), ("trades.csv", t.as_bytes())]).unwrap();
            inputs("kraken_export.zip", zip).unwrap()
        } else {
            vec![
                Input {
                    name: "ledgers.csv".into(),
                    data: l.into_bytes(),
                },
                Input {
                    name: "trades.csv".into(),
                    data: t.into_bytes(),
                },
            ]
        };
        assert_eq!(files.len(), 2);
        let mut store = Store::open_in_memory().unwrap();
        for f in &files {
            let r = import_input(&mut store, ACCOUNT, f, csv_opts(), &mut |_, _| Ok(())).unwrap();
            assert_eq!(r.outcome.conflicts, 0);
            assert_eq!(r.outcome.duplicates, 0);
        }
        let what = format!("{lv:?}/{tv:?}");
        assert_same_ledger(
            &store.ledger_entries(ACCOUNT).unwrap(),
            &api_ledger,
            lv != LedgerCsvVersion::V1,
            &what,
        );
        assert_same_trades(&store.trades(ACCOUNT).unwrap(), &api_trades, &what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_api_sync_equals_api_sync_alone() {
    let env = Env::generated(62, 500).await;
    let dir = env.dir.path();
    std::fs::write(
        dir.join("ledgers.csv"),
        ledgers_csv(&env.dataset.ledger, LedgerCsvVersion::V4, ','),
    )
    .unwrap();
    std::fs::write(
        dir.join("trades.csv"),
        trades_csv(&env.dataset.trades, TradeCsvVersion::V2, ','),
    )
    .unwrap();
    let out = run_bin(
        vec![
            "import".into(),
            "--db".into(),
            env.db.display().to_string(),
            "--account".into(),
            ACCOUNT.into(),
            dir.join("ledgers.csv").display().to_string(),
            dir.join("trades.csv").display().to_string(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = env.dataset.ledger.len();
    assert!(
        stdout.contains(&format!(
            "ledgers.csv: ledgers v4, {n} rows: {n} new, 0 already stored, 0 conflicting, 0 pending skipped, 0 bad skipped"
        )),
        "{stdout}"
    );
    let report = env.sync(None).await.expect("sync after import");
    assert_eq!(report.streams["ledgers"].new, 0);
    assert_eq!(report.streams["ledgers"].conflicts, 0);
    assert_eq!(report.streams["trades"].conflicts, 0);
    let store = Store::open(&env.db).unwrap();
    assert_eq!(store.conflict_count(ACCOUNT).unwrap(), 0);
    assert_same_ledger(
        &store.ledger_entries(ACCOUNT).unwrap(),
        &env.dataset.ledger,
        true,
        "import+sync",
    );
    assert_same_trades(
        &store.trades(ACCOUNT).unwrap(),
        &env.dataset.trades,
        "import+sync",
    );
}

fn backfill_opts(mode: BackfillMode) -> BackfillOptions {
    let mut o = BackfillOptions::new(ACCOUNT, mode, fast_retry());
    o.poll_first = Duration::from_millis(20);
    o.poll_max = Duration::from_millis(100);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_backfill_then_incremental_sync_equals_paging_alone() {
    let env = Env::generated(63, 1500).await;
    env.emu.set_export_delay(Duration::from_millis(120));
    // The export sees the history up to two thirds; the rest arrives after it.
    let cut = env.dataset.ledger[env.dataset.ledger.len() * 2 / 3]
        .time
        .micros();
    env.emu.set_visible_until(Some(cut));
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    let rep = backfill(
        &mut store,
        &mut client,
        &backfill_opts(BackfillMode::Export),
    )
    .await
    .expect("backfill");
    assert_eq!(rep.imported.len(), 2);
    assert!(rep.polls >= 2, "{} polls", rep.polls);
    assert!(
        store
            .pending_export(ACCOUNT, Stream::Ledgers)
            .unwrap()
            .is_none()
    );
    let state = store.stream_state(ACCOUNT, Stream::Ledgers).unwrap();
    let newest_exported = env
        .dataset
        .ledger
        .iter()
        .rfind(|e| e.time.micros() <= cut)
        .unwrap();
    assert_eq!(
        state.synced_to.as_ref().map(|p| p.id.as_str()),
        Some(newest_exported.id.as_str())
    );
    let stats = env.emu.stats();
    for m in ["AddExport", "RetrieveExport", "RemoveExport"] {
        assert_eq!(stats.by_method.get(m), Some(&2), "{m}");
    }
    assert_eq!(env.emu.history_calls(), 0);
    drop(store);
    env.emu.set_visible_until(None);
    let report = env.sync(None).await.expect("incremental sync");
    let later = env.dataset.ledger.len()
        - env
            .dataset
            .ledger
            .iter()
            .filter(|e| e.time.micros() <= cut)
            .count();
    assert_eq!(report.streams["ledgers"].new as usize, later);
    let store = Store::open(&env.db).unwrap();
    assert_eq!(store.conflict_count(ACCOUNT).unwrap(), 0);
    assert_same_ledger(
        &store.ledger_entries(ACCOUNT).unwrap(),
        &env.dataset.ledger,
        true,
        "backfill+sync",
    );
    assert_same_trades(
        &store.trades(ACCOUNT).unwrap(),
        &env.dataset.trades,
        "backfill+sync",
    );
    // Paging alone, for the call count: the backfill saved most history calls.
    let paging = Env::with_dataset(env.dataset.clone()).await;
    paging.sync(None).await.unwrap();
    paging.assert_equals_ground_truth();
    assert!(
        env.emu.history_calls() * 2 < paging.emu.history_calls(),
        "{} history calls after the backfill, {} paging alone",
        env.emu.history_calls(),
        paging.emu.history_calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_export_is_resumed_by_the_next_run() {
    let env = Env::generated(64, 300).await;
    env.emu.set_export_delay(Duration::from_secs(3600));
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    let mut opts = backfill_opts(BackfillMode::Export);
    opts.deadline = Some(Instant::now() + Duration::from_millis(150));
    let err = backfill(&mut store, &mut client, &opts).await.unwrap_err();
    assert!(matches!(err, BackfillError::NotReady { .. }), "{err}");
    assert!(err.is_temporary());
    let pending = store
        .pending_export(ACCOUNT, Stream::Ledgers)
        .unwrap()
        .unwrap();
    assert!(
        store
            .pending_export(ACCOUNT, Stream::Trades)
            .unwrap()
            .is_some()
    );
    assert!(store.ledger_entries(ACCOUNT).unwrap().is_empty());
    env.emu.set_export_delay(Duration::ZERO);
    let rep = backfill(
        &mut store,
        &mut client,
        &backfill_opts(BackfillMode::Export),
    )
    .await
    .unwrap();
    assert_eq!(rep.imported.len(), 2);
    // The same reports: no new AddExport.
    assert_eq!(env.emu.stats().by_method.get("AddExport"), Some(&2));
    assert!(rep.imported[0].file.contains(&pending.export_id));
    assert_same_ledger(
        &store.ledger_entries(ACCOUNT).unwrap(),
        &env.dataset.ledger,
        true,
        "resumed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_export_permission_export_fails_clearly_and_auto_pages() {
    let env = Env::generated(65, 200).await;
    env.emu.deny("AddExport");
    env.emu.set_export_delay(Duration::ZERO);
    let out = env.run_sync_bin(&["--backfill", "export"], CREDS).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("tick \"Export Data\" in Kraken's API key settings"),
        "{err}"
    );
    let out = env.run_sync_bin(&["--backfill", "auto"], CREDS).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("paging through the history instead"),
        "{}",
        stderr(&out)
    );
    env.assert_equals_ground_truth();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_backfill_export_through_the_binary_equals_paging() {
    let env = Env::generated(66, 800).await;
    env.emu.set_export_delay(Duration::from_millis(50));
    let out = env.run_sync_bin(&["--backfill", "export"], CREDS).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = Store::open(&env.db).unwrap();
    assert_same_ledger(
        &store.ledger_entries(ACCOUNT).unwrap(),
        &env.dataset.ledger,
        true,
        "binary backfill",
    );
    assert_same_trades(
        &store.trades(ACCOUNT).unwrap(),
        &env.dataset.trades,
        "binary backfill",
    );
    assert_eq!(store.conflict_count(ACCOUNT).unwrap(), 0);
    // Nothing new after the export: one call per stream.
    assert_eq!(env.emu.history_calls(), 2);
}

async fn import_bin(
    env: &Env,
    files: &[std::path::PathBuf],
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "import".into(),
        "--db".into(),
        env.db.display().to_string(),
        "--account".into(),
        ACCOUNT.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    run_bin(args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_inputs_give_clear_errors_and_skip_bad_lists_rows() {
    let env = Env::generated(67, 60).await;
    let dir = env.dir.path();
    let good = ledgers_csv(&env.dataset.ledger, LedgerCsvVersion::V4, ',');
    let lines: Vec<&str> = good.lines().collect();
    let header = lines[0];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random.csv",
            (0..500u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "random.csv: line 1",
        ),
        (
            "truncated.csv",
            format!("{header}\n{}\n{}", lines[1], &lines[2][..40]).into_bytes(),
            "truncated.csv: line 3: expected 12 columns as in the header, found",
        ),
        (
            "header.csv",
            b"\"txid\",\"refid\",\"time\",\"kind\",\"asset\",\"amount\",\"fee\",\"balance\"\n"
                .to_vec(),
            "header.csv: line 1: the ledgers header",
        ),
        (
            "columns.csv",
            format!("{header}\n{},\"extra\"\n", lines[1]).into_bytes(),
            "columns.csv: line 2: expected 12 columns as in the header, found 13",
        ),
        (
            "amount.csv",
            {
                let mut f: Vec<String> = lines[1].split("\",\"").map(str::to_owned).collect();
                f[9] = "abc".into();
                format!("{header}\n{}\n", f.join("\",\"")).into_bytes()
            },
            "amount.csv: line 2, column 10 (amount): not a decimal number: \"abc\"",
        ),
        (
            "nocsv.zip",
            zip_files(&[("readme.txt", b"hello")]).unwrap(),
            "nocsv.zip: the zip holds no .csv or .tsv file (found: readme.txt)",
        ),
    ];
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(good.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = cases
        .into_iter()
        .chain([
            (
                "empty.csv",
                Vec::new(),
                "empty.csv: line 1: the file is empty",
            ),
            (
                "utf16.csv",
                utf16,
                "utf16.csv: line 1: the file is UTF-16 text",
            ),
            (
                // As Windows saves it, with a BOM and a blank line: the bad row is on line 12
                // (the attack run's off-by-one on CRLF files).
                "crlf.csv",
                {
                    let mut rows: Vec<String> = lines[..10].iter().map(|l| l.to_string()).collect();
                    rows.insert(3, String::new());
                    let mut f: Vec<String> = lines[10].split("\",\"").map(str::to_owned).collect();
                    f[9] = "1e-28".into();
                    rows.push(f.join("\",\""));
                    format!("\u{feff}{}\r\n", rows.join("\r\n")).into_bytes()
                },
                "crlf.csv: line 12, column 10 (amount): not a decimal number: \"1e-28\"",
            ),
        ])
        .collect();
    for (name, bytes, want) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = import_bin(&env, &[path], &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        // --skip-bad is suggested only where it would import the rest of the file.
        let row_error = ["truncated.csv", "columns.csv", "amount.csv", "crlf.csv"].contains(name);
        assert_eq!(
            err.contains("rerun with --skip-bad"),
            row_error,
            "{name}: {err}"
        );
    }
    assert!(
        Store::open(&env.db)
            .unwrap()
            .ledger_entries(ACCOUNT)
            .unwrap()
            .is_empty()
    );
    // --skip-bad imports the rest and lists each skipped row.
    let bad2 = lines[2].replace("currency", "currency\",\"oops");
    let mixed = format!("{header}\n{}\n{bad2}\n{}\n", lines[1], lines[3]);
    let path = dir.join("mixed.csv");
    std::fs::write(&path, mixed).unwrap();
    let out = import_bin(&env, std::slice::from_ref(&path), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("fix the row or rerun with --skip-bad"));
    let out = import_bin(&env, &[path], &["--skip-bad"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("mixed.csv: skipped line 3: expected 12 columns as in the header, found 13"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        Store::open(&env.db)
            .unwrap()
            .ledger_entries(ACCOUNT)
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_second_version_is_kept_aside_and_reported() {
    let env = Env::generated(68, 80).await;
    env.sync(None).await.unwrap();
    let e = &env.dataset.ledger[5];
    let mut changed = env.dataset.ledger.clone();
    changed[5].amount += rust_decimal::Decimal::new(1, 4);
    let path = env.dir.path().join("ledgers.csv");
    std::fs::write(&path, ledgers_csv(&changed, LedgerCsvVersion::V2, ',')).unwrap();
    let out = import_bin(&env, &[path], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "1 entry differ from the stored version and were kept aside, not merged: {}",
            e.id
        )),
        "{}",
        stderr(&out)
    );
    let store = Store::open(&env.db).unwrap();
    assert_eq!(store.conflict_count(ACCOUNT).unwrap(), 1);
    let stored = store.ledger_entries(ACCOUNT).unwrap();
    assert_eq!(
        stored.iter().find(|s| s.id == e.id).unwrap().amount,
        e.amount
    );
}

/// API calls for a 100,000-entry account: `--backfill export` versus paging. Run with
/// `cargo test --release -- --ignored --nocapture api_calls_for_100k`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, takes about a minute"]
async fn api_calls_for_100k_entries_export_versus_paging() {
    let env = Env::generated(100, 100_000).await;
    env.emu.set_export_delay(Duration::from_millis(300));
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    let t = Instant::now();
    backfill(
        &mut store,
        &mut client,
        &backfill_opts(BackfillMode::Export),
    )
    .await
    .unwrap();
    drop(store);
    env.sync(None).await.unwrap();
    let export_time = t.elapsed();
    let export_calls: u64 = env.emu.stats().by_method.values().sum();
    let paging = Env::with_dataset(env.dataset.clone()).await;
    let t = Instant::now();
    paging.sync(None).await.unwrap();
    let paging_time = t.elapsed();
    let paging_calls: u64 = paging.emu.stats().by_method.values().sum();
    println!(
        "{} ledger entries, {} trades: export backfill {} calls ({:?}: {:?}), paging {} calls ({:?})",
        env.dataset.ledger.len(),
        env.dataset.trades.len(),
        export_calls,
        export_time,
        env.emu.stats().by_method,
        paging_calls,
        paging_time
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_backfill_keeps_unknown_entry_types_for_status_once() {
    use kraken_tax::domain::{AssetCode, KrakenTime, LedgerId, RefId};
    let mut dataset =
        kraken_tax::emulator::generate(&kraken_tax::emulator::GeneratorConfig::new(68, 80));
    let last = dataset.ledger.last().unwrap().clone();
    dataset.ledger.push(LedgerEntry {
        id: LedgerId::new("LNEWTY-PE0009-ABCDEF").unwrap(),
        refid: RefId::new("RNEWTY-PE0009-ABCDEF").unwrap(),
        time: KrakenTime::from_micros(last.time.micros() + 1_000_000, 6),
        kind: "futuresbonus".into(),
        subtype: Some("".into()),
        aclass: "currency".into(),
        subclass: None,
        asset: AssetCode::new("ZEUR").unwrap(),
        wallet: None,
        amount: rust_decimal_macros::dec!(5.0000),
        fee: rust_decimal_macros::dec!(0.0000),
        balance: None,
    });
    let env = Env::with_dataset(dataset).await;
    env.emu.set_export_delay(Duration::ZERO);
    let out = env.run_sync_bin(&["--backfill", "export"], CREDS).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "stored 1 ledger entry of unknown type \"futuresbonus\" (e.g. LNEWTY-PE0009-ABCDEF); they are kept and will be reported as unclassified"
        ),
        "{}",
        stderr(&out)
    );
    let store = Store::open(&env.db).unwrap();
    // Stored by the export, not paged: the backfill's import kept the warning.
    assert_eq!(
        store
            .ledger_entries(ACCOUNT)
            .unwrap()
            .iter()
            .filter(|e| e.kind == "futuresbonus")
            .count(),
        1
    );
    // Every entry of a type this version does not know is kept once: the added one and the
    // generator's own (it makes "voucher" entries, as Kraken did).
    let mut want: std::collections::BTreeMap<&str, u64> = Default::default();
    for e in &env.dataset.ledger {
        if !kraken_tax::domain::is_known_ledger_type(&e.kind) {
            *want.entry(e.kind.as_str()).or_default() += 1;
        }
    }
    assert_eq!(want.get("futuresbonus"), Some(&1));
    let kept = store.open_type_warnings(ACCOUNT).unwrap();
    assert_eq!(
        kept.iter()
            .map(|w| (w.kind.as_str(), w.entries))
            .collect::<std::collections::BTreeMap<_, _>>(),
        want
    );
    let bonus = kept.iter().find(|w| w.kind == "futuresbonus").unwrap();
    assert_eq!(bonus.example, "LNEWTY-PE0009-ABCDEF");
    drop(store);
    let db = env.db.display().to_string();
    let out = run_bin(
        ["status", "--json", "--db", &db, "--account", ACCOUNT]
            .map(String::from)
            .to_vec(),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: std::collections::BTreeMap<String, u64> = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "unknown_ledger_type")
        .map(|w| {
            (
                w["type"].as_str().unwrap().to_owned(),
                w["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: std::collections::BTreeMap<String, u64> =
        want.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    assert_eq!(warnings, want);
    // A second sync finds nothing new and keeps the counts.
    let out = env.run_sync_bin(&[], CREDS).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = Store::open(&env.db).unwrap();
    let again: std::collections::BTreeMap<String, u64> = store
        .open_type_warnings(ACCOUNT)
        .unwrap()
        .into_iter()
        .map(|w| (w.kind, w.entries))
        .collect();
    assert_eq!(again, want);
}
