//! Verify against the emulator: clean accounts pass, any single missing entry is found and
//! located, blank balances and real-shaped staking raise no false alarm, and the binary's exit
//! codes, JSON and status line.

use crate::harness::{ACCOUNT, Env, KEY, SECRET, fast_tier, run_bin, stderr};
use kraken_tax::domain::{
    AssetCode, KrakenTime, LedgerEntry, LedgerId, PositionClose, RefId, Trade, TradeId, TradeSide,
};
use kraken_tax::emulator::{Dataset, EmulatorConfig, EmulatorHandle, GeneratorConfig, generate};
use kraken_tax::kraken::{ClientConfig, KrakenClient, MemoryKeyState, parse_api_url};
use kraken_tax::secret::Credentials;
use kraken_tax::store::Store;
use kraken_tax::verify::{
    BalanceCheck, BalanceMismatch, Gap, TradeProblem, VerifyReport, balance_check, check_account,
};
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;

/// Syncs the emulator's data in-process and runs the local checks.
async fn sync_and_check(env: &Env) -> VerifyReport {
    env.sync(None).await.expect("sync completes");
    let store = Store::open(&env.db).unwrap();
    check_account(&store, ACCOUNT).unwrap()
}

/// An emulator serving `dataset`, and a client for it that keeps its nonce in memory.
async fn kraken_serving(dataset: Dataset) -> (EmulatorHandle, KrakenClient) {
    let emu = EmulatorHandle::start(
        dataset,
        EmulatorConfig {
            tier: fast_tier(),
            api_key: KEY.to_owned(),
            api_secret_b64: SECRET.to_owned(),
            page_size: 50,
        },
    )
    .await
    .unwrap();
    let client = KrakenClient::new(
        ClientConfig::new(parse_api_url(&emu.url()).unwrap(), fast_tier()),
        Credentials::new(KEY, SECRET, "test").unwrap(),
        Box::new(MemoryKeyState::default()),
    )
    .unwrap();
    (emu, client)
}

fn assets(d: &Dataset) -> usize {
    d.final_balances().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_accounts_verify_clean_for_several_seeds() {
    let mut burst = GeneratorConfig::new(3, 400);
    burst.same_time_burst = Some(60);
    for cfg in [
        GeneratorConfig::new(1, 300),
        GeneratorConfig::new(2, 1500),
        burst,
    ] {
        let env = Env::with_dataset(generate(&cfg)).await;
        let report = sync_and_check(&env).await;
        assert!(
            report.consistent,
            "seed {}: {}",
            cfg.seed,
            report.render_text()
        );
        assert_eq!(report.gaps, vec![]);
        assert_eq!(report.trade_problems, vec![]);
        assert_eq!(report.ledger_entries as usize, env.dataset.ledger.len());
        assert_eq!(report.trades as usize, env.dataset.trades.len());
        assert_eq!(report.chains.len(), assets(&env.dataset));
        // The emulator's Balance endpoint agrees with the newest stored balances.
        let (_emu, mut client) = kraken_serving(env.dataset.clone()).await;
        assert_eq!(
            balance_check(&mut client, &report).await,
            BalanceCheck::Matched {
                assets: assets(&env.dataset)
            }
        );
    }
}

/// What verify must say when `removed` (an index into `full.ledger`) is missing.
struct Expected {
    gaps: Vec<Gap>,
    trade_problems: Vec<TradeProblem>,
    balance: BalanceCheck,
}

fn expected_after_removing(full: &Dataset, removed: usize) -> Expected {
    let x = &full.ledger[removed];
    let chain: Vec<&LedgerEntry> = full
        .ledger
        .iter()
        .filter(|e| e.asset == x.asset && e.wallet == x.wallet)
        .collect();
    let k = chain.iter().position(|e| e.id == x.id).unwrap();
    let prev = k.checked_sub(1).map(|i| chain[i]);
    let next = chain.get(k + 1);
    let prev_balance = prev.map_or(Decimal::ZERO, |p| p.balance.unwrap());
    let gaps = match next {
        // The newest entry of its chain: the chain cannot see it.
        None => vec![],
        Some(n) => vec![Gap {
            asset: x.asset.to_string(),
            wallet: x.wallet.clone(),
            previous_id: prev.map(|p| p.id.to_string()),
            previous_time: prev.map(|p| p.time.utc()),
            next_id: n.id.to_string(),
            next_time: n.time.utc(),
            expected_balance_before: prev_balance,
            found_balance_before: n.balance.unwrap() - n.amount + n.fee,
            missing: x.amount - x.fee,
        }],
    };
    let trade_problems = full
        .trades
        .iter()
        .filter(|t| t.ledgers.contains(&x.id))
        .map(|t| TradeProblem::MissingLeg {
            trade_id: t.id.to_string(),
            time: t.time.utc(),
            ledger_id: x.id.to_string(),
        })
        .collect();
    // Kraken (the emulator serving the full history) reports the true final balances: only a
    // removal at the end of a chain changes what is stored last.
    let balance = if next.is_none() {
        BalanceCheck::Mismatch {
            mismatches: vec![BalanceMismatch {
                asset: x.asset.to_string(),
                stored: prev_balance,
                kraken: x.balance.unwrap(),
                difference: x.amount - x.fee,
                last_id: prev.map(|p| p.id.to_string()),
            }],
        }
    } else {
        BalanceCheck::Matched {
            assets: assets(full),
        }
    };
    Expected {
        gaps,
        trade_problems,
        balance,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_any_single_entry_is_detected_and_located() {
    let mut burst = GeneratorConfig::new(32, 300);
    burst.same_time_burst = Some(40);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut cases = 0;
    let mut seen_newest = 0;
    let mut seen_first = 0;
    let mut seen_trade_leg = 0;
    for cfg in [
        GeneratorConfig::new(31, 500),
        burst,
        GeneratorConfig::new(33, 250),
    ] {
        let full = generate(&cfg);
        let n = full.ledger.len();
        let mut picks: Vec<usize> = (0..12).map(|_| rng.random_range(0..n)).collect();
        // Cases a random pick may miss: the first and the last entry of a chain, and entries
        // inside a same-timestamp group (the burst: first, middle, last).
        let first_of_kfee = full.ledger.iter().position(|e| e.asset.as_str() == "KFEE");
        let last_of_zusd = full.ledger.iter().rposition(|e| e.asset.as_str() == "ZUSD");
        picks.extend(first_of_kfee);
        picks.extend(last_of_zusd);
        picks.push(0);
        picks.push(n - 1);
        if cfg.same_time_burst.is_some() {
            let mut by_time: HashMap<i64, Vec<usize>> = HashMap::new();
            for (i, e) in full.ledger.iter().enumerate() {
                by_time.entry(e.time.micros()).or_default().push(i);
            }
            let group = by_time.into_values().max_by_key(Vec::len).unwrap();
            assert_eq!(group.len(), 40);
            picks.extend([group[0], group[17], group[39]]);
        }
        let (_kraken, mut kraken_client) = kraken_serving(full.clone()).await;
        for removed in picks {
            let mut data = full.clone();
            let x = data.ledger.remove(removed);
            let want = expected_after_removing(&full, removed);
            let env = Env::with_dataset(data).await;
            let report = sync_and_check(&env).await;
            let ctx = format!("seed {} removed #{removed} {} {}", cfg.seed, x.id, x.asset);
            assert_eq!(report.gaps, want.gaps, "{ctx}");
            assert_eq!(report.trade_problems, want.trade_problems, "{ctx}");
            assert_eq!(
                balance_check(&mut kraken_client, &report).await,
                want.balance,
                "{ctx}"
            );
            assert_eq!(
                report.consistent,
                want.gaps.is_empty() && want.trade_problems.is_empty(),
                "{ctx}"
            );
            cases += 1;
            seen_newest += usize::from(want.gaps.is_empty());
            seen_first += usize::from(want.gaps.first().is_some_and(|g| g.previous_id.is_none()));
            seen_trade_leg += usize::from(!want.trade_problems.is_empty());
        }
    }
    assert!(cases >= 30, "{cases} removals");
    assert!(seen_newest >= 2 && seen_first >= 2 && seen_trade_leg >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_balances_cause_no_false_alarm() {
    let mut data = generate(&GeneratorConfig::new(41, 800));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
    let mut blanked = 0;
    for e in data.ledger.iter_mut() {
        if rng.random_bool(0.15) {
            e.balance = None;
            blanked += 1;
        }
    }
    // The newest entry of one asset too: its movement is real but its balance unknown.
    let newest_eur = data
        .ledger
        .iter()
        .rposition(|e| e.asset.as_str() == "ZEUR")
        .unwrap();
    if data.ledger[newest_eur].balance.take().is_some() {
        blanked += 1;
    }
    // Old-export "pending" rows: a blank-balance duplicate just before five deposits.
    let deposits: Vec<LedgerEntry> = data
        .ledger
        .iter()
        .filter(|e| e.kind == "deposit" && e.balance.is_some())
        .take(5)
        .cloned()
        .collect();
    for (i, d) in deposits.into_iter().enumerate() {
        data.ledger.push(LedgerEntry {
            id: LedgerId::new(format!("LPEND{i}-PENDI-NGROWS")).unwrap(),
            time: KrakenTime::from_micros(d.time.micros() - 1_000_000, 4),
            balance: None,
            ..d
        });
        blanked += 1;
    }
    let env = Env::with_dataset(data).await;
    let report = sync_and_check(&env).await;
    assert!(report.consistent, "{}", report.render_text());
    assert_eq!(report.gaps, vec![]);
    assert_eq!(report.blank_balances, blanked);
    assert!(report.blank_balances > 100);
}

/// One ledger row; `amounts` is `[amount, fee, balance]` as Kraken writes them.
fn ledger(
    id: &str,
    refid: &str,
    time: &str,
    (kind, subtype): (&str, &str),
    asset: &str,
    amounts: [&str; 3],
) -> LedgerEntry {
    let [amount, fee, balance] = amounts.map(|a| a.parse::<Decimal>().unwrap());
    LedgerEntry {
        id: LedgerId::new(id).unwrap(),
        refid: RefId::new(refid).unwrap(),
        time: KrakenTime::parse(time).unwrap(),
        kind: kind.into(),
        subtype: Some(subtype.into()),
        aclass: "currency".into(),
        subclass: None,
        asset: AssetCode::new(asset).unwrap(),
        wallet: None,
        amount,
        fee,
        balance: Some(balance),
    }
}

fn spot_trade(
    id: &str,
    time: &str,
    side: TradeSide,
    vol: Decimal,
    cost: Decimal,
    ledgers: &[&str],
) -> Trade {
    Trade {
        id: TradeId::new(id).unwrap(),
        ordertxid: "OQCLML-BW3P3-BUCMWZ".into(),
        postxid: Some("TKH2SE-M7IF5-CFI7LT".into()),
        pair: "DOTEUR".into(),
        time: KrakenTime::parse(time).unwrap(),
        side,
        ordertype: "limit".into(),
        price: (cost / vol).round_dp(4),
        cost,
        fee: dec!(0.00000),
        vol,
        margin: Some(dec!(0.00000)),
        leverage: Some("0".into()),
        misc: String::new(),
        ledgers: ledgers.iter().map(|l| LedgerId::new(*l).unwrap()).collect(),
        trade_id: None,
        maker: Some(true),
        position: PositionClose::default(),
    }
}

/// Spot → staking as Kraken books it: two `transfer` legs under different refids seconds
/// apart, rewards on `DOT.S` (two sharing a timestamp), unstaking whose spot leg arrives days
/// later, and trades (one listing its legs, one matched by refid) with Kraken's scales
/// (cost to 5 decimals, ZEUR amounts to 4).
fn staking_cycle() -> Dataset {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    #[rustfmt::skip]
    let ledger = vec![
        ledger("LDEP01-AAAAA-AAAAAA", "QCCBIZ-O2ZOQ-6EXTR3", "1704103200.1234", ("deposit", ""), "ZEUR", ["1000.0000", "0.0000", "1000.0000"]),
        ledger("LTRB01-AAAAA-AAAAAA", "TBUY01-AAAAA-AAAAAA", "1704189600.5678", ("trade", "tradespot"), "DOT", ["50.0000000000", "0.0000000000", "50.0000000000"]),
        ledger("LTRQ01-AAAAA-AAAAAA", "TBUY01-AAAAA-AAAAAA", "1704189600.5678", ("trade", "tradespot"), "ZEUR", ["-350.1250", "0.9103", "648.9647"]),
        ledger("LSTK01-AAAAA-AAAAAA", "RSTK01-AAAAA-AAAAAA", "1704276000.0001", ("transfer", "spottostaking"), "DOT", ["-40.0000000000", "0.0000000000", "10.0000000000"]),
        ledger("LSTK02-AAAAA-AAAAAA", "RSTK02-BBBBB-BBBBBB", "1704276006.4321", ("transfer", "stakingfromspot"), "DOT.S", ["40.0000000000", "0.0000000000", "40.0000000000"]),
        ledger("LRWD01-AAAAA-AAAAAA", "RRWD01-AAAAA-AAAAAA", "1704880800.0000", ("staking", ""), "DOT.S", ["0.0812345678", "0.0000000000", "40.0812345678"]),
        // Two rewards at one instant; stored by id, booked in the other order.
        ledger("LRWD03-AAAAA-AAAAAA", "RRWD03-AAAAA-AAAAAA", "1705485600.0000", ("staking", ""), "DOT.S", ["0.0100000000", "0.0000000000", "40.1726037602"]),
        ledger("LRWD02-AAAAA-AAAAAA", "RRWD02-AAAAA-AAAAAA", "1705485600.0000", ("staking", ""), "DOT.S", ["0.0813691924", "0.0000000000", "40.1626037602"]),
        ledger("LUNS01-AAAAA-AAAAAA", "RUNS01-AAAAA-AAAAAA", "1706090400.2500", ("transfer", "stakingtospot"), "DOT.S", ["-20.0000000000", "0.0000000000", "20.1726037602"]),
        ledger("LUNS02-AAAAA-AAAAAA", "RUNS02-BBBBB-BBBBBB", "1708509600.7500", ("transfer", "spotfromstaking"), "DOT", ["20.0000000000", "0.0000000000", "30.0000000000"]),
        ledger("LTRB02-AAAAA-AAAAAA", "TSEL01-AAAAA-AAAAAA", "1708596000.1000", ("trade", "tradespot"), "DOT", ["-25.0000000000", "0.0000000000", "5.0000000000"]),
        ledger("LTRQ02-AAAAA-AAAAAA", "TSEL01-AAAAA-AAAAAA", "1708596000.1000", ("trade", "tradespot"), "ZEUR", ["187.5000", "0.4875", "835.9772"]),
    ];
    let trades = vec![
        spot_trade(
            "TBUY01-AAAAA-AAAAAA",
            "1704189600.5678",
            TradeSide::Buy,
            d("50.00000000"),
            d("350.12500"),
            &["LTRB01-AAAAA-AAAAAA", "LTRQ01-AAAAA-AAAAAA"],
        ),
        spot_trade(
            "TSEL01-AAAAA-AAAAAA",
            "1708596000.1000",
            TradeSide::Sell,
            d("25.00000000"),
            d("187.50000"),
            &[],
        ),
    ];
    Dataset { ledger, trades }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_shaped_staking_cycle_verifies_clean() {
    let env = Env::with_dataset(staking_cycle()).await;
    let report = sync_and_check(&env).await;
    assert!(report.consistent, "{}", report.render_text());
    let ends: Vec<(&str, Decimal, Option<&str>)> = report
        .chains
        .iter()
        .map(|c| (c.asset.as_str(), c.balance, c.last_id.as_deref()))
        .collect();
    assert_eq!(
        ends,
        vec![
            ("DOT", dec!(5), Some("LTRB02-AAAAA-AAAAAA")),
            ("DOT.S", dec!(20.1726037602), Some("LUNS01-AAAAA-AAAAAA")),
            ("ZEUR", dec!(835.9772), Some("LTRQ02-AAAAA-AAAAAA")),
        ]
    );
    assert_eq!((report.ledger_entries, report.trades), (12, 2));
    let (_emu, mut client) = kraken_serving(env.dataset.clone()).await;
    assert_eq!(
        balance_check(&mut client, &report).await,
        BalanceCheck::Matched { assets: 3 }
    );

    // The same cycle with the staking leg missing: the DOT.S chain starts from nowhere.
    let mut data = staking_cycle();
    data.ledger.remove(4);
    let env = Env::with_dataset(data).await;
    let report = sync_and_check(&env).await;
    assert_eq!(report.gaps.len(), 1);
    let g = &report.gaps[0];
    assert_eq!(
        (
            g.asset.as_str(),
            g.previous_id.as_deref(),
            g.next_id.as_str()
        ),
        ("DOT.S", None, "LRWD01-AAAAA-AAAAAA")
    );
    assert_eq!((g.expected_balance_before, g.missing), (dec!(0), dec!(40)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_with_a_missing_or_mismatched_leg_is_reported() {
    let full = generate(&GeneratorConfig::new(51, 400));
    // A trade in the middle whose fee was paid in the quote asset (no KFEE leg).
    let t = full
        .trades
        .iter()
        .skip(full.trades.len() / 2)
        .find(|t| t.ledgers.len() == 2)
        .unwrap()
        .clone();
    let quote_leg = full
        .ledger
        .iter()
        .position(|e| e.id == t.ledgers[1])
        .unwrap();
    let mut data = full.clone();
    data.ledger.remove(quote_leg);
    let env = Env::with_dataset(data).await;
    let report = sync_and_check(&env).await;
    assert_eq!(
        report.trade_problems,
        vec![TradeProblem::MissingLeg {
            trade_id: t.id.to_string(),
            time: t.time.utc(),
            ledger_id: t.ledgers[1].to_string(),
        }]
    );

    // All legs present, but the trade says another volume.
    let mut data = full.clone();
    let i = data.trades.iter().position(|x| x.id == t.id).unwrap();
    data.trades[i].vol += dec!(0.00000001);
    let base = full.ledger.iter().find(|e| e.id == t.ledgers[0]).unwrap();
    let env = Env::with_dataset(data.clone()).await;
    let report = sync_and_check(&env).await;
    assert_eq!(report.gaps, vec![]);
    assert_eq!(
        report.trade_problems,
        vec![TradeProblem::VolumeMismatch {
            trade_id: t.id.to_string(),
            time: t.time.utc(),
            asset: base.asset.to_string(),
            vol: data.trades[i].vol,
            leg_amount: base.amount,
        }]
    );
    // Costs are written to 5 decimals, fiat amounts to 4: they were compared as numbers.
    assert!(
        full.trades
            .iter()
            .any(|t| t.cost.scale() == 5 && t.pair.ends_with("EUR"))
    );
}

fn verify_args(env: &Env, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "verify".into(),
        "--db".into(),
        env.db.display().to_string(),
        "--account".into(),
        ACCOUNT.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn status_text(env: &Env) -> String {
    let out = run_bin(
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
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_when_consistent_and_compares_balances_with_a_key() {
    let env = Env::generated(61, 400).await;
    let key_file = env.key_file();
    let key = key_file.to_str().unwrap();
    let out = env.run_sync_bin(&["--key-file", key, "-q"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // The sync ran the cheap checks and recorded them.
    let status = status_text(&env).await;
    let line = status.lines().find(|l| l.contains("verify:")).unwrap();
    let (n, t) = (env.dataset.ledger.len(), env.dataset.trades.len());
    assert!(
        line.starts_with(&format!(
            "  verify: consistent ({n} ledger entries, {t} trades); checked "
        )) && line.ends_with(" after sync"),
        "{line}"
    );

    // No credentials: exit 0, the balance comparison skipped with a note.
    let out = run_bin(verify_args(&env, &[]), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  balance check skipped: no API credentials (KRAKEN_API_KEY and KRAKEN_API_SECRET, or --key-file); give a key with the Query Funds permission to compare with Kraken's balances\n"),
        "{text}"
    );
    assert!(text.ends_with("\nconsistent\n"), "{text}");

    // With a key: compared with the emulator's Balance.
    let url = env.emu.url();
    let out = run_bin(
        verify_args(&env, &["--json", "--key-file", key, "--api-url", &url]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["consistent"], true);
    assert_eq!(
        v["balance_check"],
        serde_json::json!({"status": "matched", "assets": assets(&env.dataset)})
    );
    assert_eq!(env.emu.stats().by_method.get("Balance"), Some(&1));

    // A key without Query Funds: skipped, naming the permission; still exit 0.
    env.emu.deny("Balance");
    let out = run_bin(
        verify_args(&env, &["--key-file", key, "--api-url", &url]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "  balance check skipped: the API key lacks the permission for Balance: tick \"Query Funds\" in Kraken's API key settings\n"
        ),
        "{}",
        stdout(&out)
    );
    let status = status_text(&env).await;
    assert!(
        status.contains("; checked ") && status.contains(" by `kraken-tax verify`\n"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_1_with_a_readable_report_and_json_when_an_entry_is_missing() {
    let full = generate(&GeneratorConfig::new(62, 400));
    let removed = full.ledger.len() / 2;
    let want = expected_after_removing(&full, removed);
    assert_eq!(want.gaps.len(), 1, "pick an entry inside a chain");
    let g = &want.gaps[0];
    let mut data = full.clone();
    data.ledger.remove(removed);
    let env = Env::with_dataset(data).await;
    let key_file = env.key_file();

    // The sync itself succeeds and warns.
    let out = env
        .run_sync_bin(&["--key-file", key_file.to_str().unwrap()], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warning = format!(
        "the stored history is not consistent: 1 probable gap{}; run `kraken-tax verify` for details",
        if want.trade_problems.is_empty() {
            ""
        } else {
            ", 1 trade with missing or mismatched legs"
        }
    );
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let status = status_text(&env).await;
    assert!(
        status.contains("  verify: NOT consistent: 1 probable gap")
            && status.contains("          run `kraken-tax verify` for the entries concerned\n"),
        "{status}"
    );

    let out = run_bin(verify_args(&env, &["--offline"]), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let line = format!(
        "  gap in {} between {} ({}) and {} ({}): balance before it should be {} but is {}; missing {} {}\n",
        g.asset,
        g.previous_id.as_ref().unwrap(),
        fmt(g.previous_time.unwrap()),
        g.next_id,
        fmt(g.next_time),
        g.expected_balance_before,
        g.found_balance_before,
        if g.missing.is_sign_negative() {
            g.missing.to_string()
        } else {
            format!("+{}", g.missing)
        },
        g.asset
    );
    assert!(stdout(&out).contains(&line), "{}\n{line}", stdout(&out));
    assert!(
        stderr(&out).starts_with(
            "error: the stored history of account \"test\" is not consistent: 1 probable gap"
        ),
        "{}",
        stderr(&out)
    );

    let out = run_bin(verify_args(&env, &["--offline", "--json"]), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // serde_json's map is sorted by key.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "account",
            "balance_check",
            "blank_balances",
            "chains",
            "consistent",
            "gaps",
            "ledger_entries",
            "trade_problems",
            "trades",
        ]
    );
    let chain_keys: Vec<&str> = v["chains"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        chain_keys,
        vec![
            "asset",
            "balance",
            "blank_balances",
            "entries",
            "last_id",
            "last_time",
            "unapplied_blank",
            "wallet",
        ]
    );
    assert_eq!(v["consistent"], false);
    assert_eq!(v["ledger_entries"], full.ledger.len() - 1);
    let gap = &v["gaps"][0];
    assert_eq!(gap["previous_id"], g.previous_id.clone().unwrap());
    assert_eq!(gap["next_id"], g.next_id);
    assert_eq!(gap["missing"], g.missing.to_string());
    assert_eq!(
        gap["expected_balance_before"],
        g.expected_balance_before.to_string()
    );
    assert_eq!(v["balance_check"]["status"], "skipped");
    let back: VerifyReport = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(back.gaps, want.gaps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_entry_of_an_asset_is_seen_only_by_the_balance_check() {
    let full = generate(&GeneratorConfig::new(63, 300));
    // The newest entry of some asset that is not a trade leg (a missing leg would show).
    let removed = (0..full.ledger.len())
        .rev()
        .find(|&i| {
            let e = &full.ledger[i];
            full.ledger[i + 1..].iter().all(|l| l.asset != e.asset)
                && full.trades.iter().all(|t| !t.ledgers.contains(&e.id))
        })
        .unwrap();
    let want = expected_after_removing(&full, removed);
    assert_eq!(want.gaps, vec![]);
    let BalanceCheck::Mismatch { mismatches } = &want.balance else {
        panic!("expected a mismatch");
    };
    let m = &mismatches[0];
    let mut data = full.clone();
    data.ledger.remove(removed);
    let env = Env::with_dataset(data).await;
    let key_file = env.key_file();
    let key = key_file.to_str().unwrap();
    let out = env.run_sync_bin(&["--key-file", key, "-q"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Locally nothing is visible.
    let out = run_bin(verify_args(&env, &["--offline"]), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Kraken (serving the whole history) knows the true balance.
    let (kraken, _) = kraken_serving(full.clone()).await;
    let url = kraken.url();
    let out = run_bin(
        verify_args(&env, &["--key-file", key, "--api-url", &url]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = format!(
        "  balance of {}: stored {} (after {}), Kraken says {}; difference {}\n",
        m.asset,
        m.stored,
        m.last_id.as_deref().unwrap(),
        m.kraken,
        if m.difference.is_sign_negative() {
            m.difference.to_string()
        } else {
            format!("+{}", m.difference)
        }
    );
    assert!(stdout(&out).contains(&line), "{}\n{line}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "error: the stored history of account \"test\" is not consistent: 1 asset whose balance differs from Kraken's\n"
    );
}

/// A database holding amounts beyond what import accepts (an old version's, or edited by
/// hand): `verify` and `export` stop with an error naming the value, exit 1, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_amounts_beyond_the_range_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let entry = |id: &str, amount: Decimal| LedgerEntry {
        id: LedgerId::new(id).unwrap(),
        refid: RefId::new(format!("R{id}")).unwrap(),
        time: KrakenTime::from_micros(1_718_000_000_000_000, 4),
        kind: "deposit".into(),
        subtype: Some(String::new()),
        aclass: "currency".into(),
        subclass: None,
        asset: AssetCode::new("XXBT").unwrap(),
        wallet: None,
        amount,
        fee: dec!(0),
        balance: Some(amount),
    };
    {
        let mut store = Store::open(&db).unwrap();
        let half = dec!(50000000000000000000000000000);
        let rows: Vec<_> = [entry("L1", half), entry("L2", half)]
            .into_iter()
            .map(|item| kraken_tax::domain::RawRecord {
                item,
                raw: "{}".into(),
            })
            .collect();
        store
            .insert_ledger_entries(ACCOUNT, &rows, kraken_tax::store::Source::Api)
            .unwrap();
    }
    let base = |cmd: &[&str]| {
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--db".into(),
            db.display().to_string(),
            "--account".into(),
            ACCOUNT.into(),
        ]);
        args
    };
    let out_dir = dir.path().join("out").display().to_string();
    for cmd in [
        vec!["verify", "--offline"],
        vec![
            "export",
            "--year",
            "2024",
            "--currency",
            "EUR",
            "--offline",
            "--out",
            out_dir.as_str(),
        ],
    ] {
        let out = run_bin(base(&cmd), &[]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.contains(
                "amount: out of range: \"50000000000000000000000000000\" has 29 digits before the point"
            ),
            "{cmd:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{cmd:?}: {err}");
        // Said once, not once per layer of the error.
        assert_eq!(err.matches("out of range").count(), 1, "{cmd:?}: {err}");
    }
}
