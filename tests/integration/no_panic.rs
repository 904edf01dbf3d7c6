//! Property test (issue 14, item 9): arbitrary decimal strings, dates and types go through
//! import → classify → value → export → verify, in-process, on a database in a temp dir, and
//! nothing panics. Every command ends `Ok` or with a failure whose exit code says so (1 bad
//! data, 2 usage); the import refuses out-of-range numbers, the rest of the pipeline works on
//! whatever it let in, and prices (imported from a file) may be extreme too.
//!
//! `PROPTEST_CASES=500 cargo test --test integration no_panic` runs more cases.

use clap::Parser;
use kraken_tax::cli::Cli;
use kraken_tax::commands;
use proptest::prelude::*;
use std::path::Path;

/// Decimal texts: mostly ordinary amounts and the edges of the accepted range (so that rows get
/// stored and valued), sometimes beyond it (the edges of `Decimal` itself) or malformed.
fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "-?[0-9]{1,6}\\.[0-9]{1,10}",
        6 => prop::sample::select(vec![
            "0",
            "-0.0000",
            "99999999999999999999.99999999",
            "99999999999999999999.99999999",
            "-99999999999999999999.99999999",
            "-99999999999999999999.99999999",
            "12345678901234567890.12345678",
            "0.000000000000000001",
            "-0.000000000000000001",
        ])
        .prop_map(str::to_owned),
        1 => "-?[0-9]{1,30}(\\.[0-9]{0,32})?",
        1 => prop::sample::select(vec![
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "50000000000000000000000000000",
            "7922816251426433759354395033.5",
            "0.0000000000000000000000000001",
            "1e-28",
            "5e28",
            "",
            " ",
            "abc",
            "+1",
            "1_000",
            "NaN",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

/// Candle closes: ordinary prices, enormous ones (a value times them leaves the range), any.
fn close_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[1-9][0-9]{0,5}\\.[0-9]{1,4}",
        4 => prop::sample::select(vec![
            "79228162514264337593543950335",
            "99999999999999999999.99999999",
            "0.000000000000000001",
        ])
        .prop_map(str::to_owned),
        1 => decimal_text(),
    ]
}

/// Times: valid ones over the whole accepted range, impossible calendar dates, and noise.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        16 => (2023i32..2026, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60).prop_map(
            |(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        ),
        1 => (1900i32..10000, 0u32..14, 0u32..33).prop_map(|(y, mo, d)| format!(
            "{y:04}-{mo:02}-{d:02} 00:00:00"
        )),
        1 => prop::sample::select(vec![
            "1970-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "2024-02-30 12:00:00",
            "2024-06-01 24:00:00",
            "",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,25}",
    ]
}

fn ledger_type() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "trade", "deposit", "withdrawal", "staking", "spend", "receive",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "earn", "transfer", "margin", "rollover", "settled", "adjustment", "airdrop",
            "credit", "dividend", "sale", "conversion", "invite bonus", "nfttrade", "voucher",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z ]{0,12}",
    ]
}

fn subtype() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "",
        "",
        "",
        "",
        "",
        "tradespot",
        "spotfromfutures",
        "spottostaking",
        "stakingfromspot",
        "delistingconversion",
        "allocation",
        "autoallocation",
    ])
    .prop_map(str::to_owned)
}

fn asset() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["XXBT", "ZEUR", "BTC", "EUR"]).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "XETH", "ZUSD", "KFEE", "DOT.S", "USDT", "ETH2.S", "XXDG", "ZGBP",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Z.]{1,8}",
    ]
}

#[derive(Debug, Clone)]
struct LedgerRow {
    refid: usize,
    time: String,
    kind: String,
    subtype: String,
    asset: String,
    amount: String,
    fee: String,
    balance: String,
}

fn ledger_row() -> impl Strategy<Value = LedgerRow> {
    (
        0usize..10,
        time_text(),
        ledger_type(),
        subtype(),
        asset(),
        decimal_text(),
        decimal_text(),
        prop_oneof![1 => Just(String::new()), 4 => decimal_text()],
    )
        .prop_map(
            |(refid, time, kind, subtype, asset, amount, fee, balance)| LedgerRow {
                refid,
                time,
                kind,
                subtype,
                asset,
                amount,
                fee,
                balance,
            },
        )
}

#[derive(Debug, Clone)]
struct TradeRow {
    refid: usize,
    time: String,
    side: String,
    pair: String,
    price: String,
    cost: String,
    fee: String,
    vol: String,
}

fn trade_row() -> impl Strategy<Value = TradeRow> {
    (
        0usize..6,
        time_text(),
        prop::sample::select(vec!["buy", "sell", "short"]),
        prop::sample::select(vec!["XXBTZEUR", "XETHXXBT", "BTC/EUR", "DOTUSD", "X"]),
        decimal_text(),
        decimal_text(),
        decimal_text(),
        decimal_text(),
    )
        .prop_map(
            |(refid, time, side, pair, price, cost, fee, vol)| TradeRow {
                refid,
                time,
                side: side.to_owned(),
                pair: pair.to_owned(),
                price,
                cost,
                fee,
                vol,
            },
        )
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(",")
}

fn refid(i: usize) -> String {
    format!("TQ{i:04}A-BCDEF-GHIJKL")
}

fn ledgers_csv(rows: &[LedgerRow]) -> String {
    let mut out = quoted(&[
        "txid", "refid", "time", "type", "subtype", "aclass", "subclass", "asset", "wallet",
        "amount", "fee", "balance",
    ]);
    out.push('\n');
    for (i, r) in rows.iter().enumerate() {
        let txid = format!("L{i:05}-ABCDE-FGHIJK");
        out.push_str(&quoted(&[
            &txid,
            &refid(r.refid),
            &r.time,
            &r.kind,
            &r.subtype,
            "currency",
            "crypto",
            &r.asset,
            "spot / main",
            &r.amount,
            &r.fee,
            &r.balance,
        ]));
        out.push('\n');
    }
    out
}

fn trades_csv(rows: &[TradeRow], ledger_ids: usize) -> String {
    let mut out = quoted(&[
        "txid",
        "ordertxid",
        "pair",
        "time",
        "type",
        "ordertype",
        "price",
        "cost",
        "fee",
        "vol",
        "margin",
        "misc",
        "ledgers",
    ]);
    out.push('\n');
    for (i, r) in rows.iter().enumerate() {
        let legs = (0..ledger_ids.min(2))
            .map(|k| format!("L{:05}-ABCDE-FGHIJK", (i + k) % ledger_ids.max(1)))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&quoted(&[
            &refid(r.refid),
            "OABCDE-FGHIJ-KLMNOP",
            &r.pair,
            &r.time,
            &r.side,
            "limit",
            &r.price,
            &r.cost,
            &r.fee,
            &r.vol,
            "0",
            "",
            &legs,
        ]));
        out.push('\n');
    }
    out
}

/// Runs one command in-process; a panic fails the property, a failure must carry an exit code
/// that says what kind it is and a message.
fn run(rt: &tokio::runtime::Runtime, dir: &Path, args: &[&str]) -> Result<(), u8> {
    let db = dir.join("db.sqlite");
    let config = dir.join("config.toml");
    let mut argv: Vec<String> = vec![
        "kraken-tax".into(),
        "--quiet".into(),
        "--db".into(),
        db.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--account".into(),
        "prop".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(&argv).expect("valid command line");
    match rt.block_on(commands::run(cli)) {
        Ok(()) => Ok(()),
        Err(f) => {
            assert!(
                [commands::EXIT_FAILURE, commands::EXIT_USAGE].contains(&f.code),
                "{args:?}: exit {} ({})",
                f.code,
                f.error
            );
            assert!(!format!("{:#}", f.error).is_empty(), "{args:?}");
            Err(f.code)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_numbers_dates_and_types_never_panic_from_import_to_verify(
        ledger in prop::collection::vec(ledger_row(), 1..30),
        trades in prop::collection::vec(trade_row(), 0..5),
        prices in prop::collection::vec(close_text(), 0..6),
        skip_bad in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("config.toml"), "").unwrap();
        std::fs::write(d.join("ledgers.csv"), ledgers_csv(&ledger)).unwrap();
        std::fs::write(d.join("trades.csv"), trades_csv(&trades, ledger.len())).unwrap();
        // A daily candle for every day of 2023-2025, the closes taken in turn from `prices`.
        let candles: String = (0..3 * 366)
            .filter_map(|day: usize| {
                let close = prices.get(day % prices.len().max(1))?;
                Some(format!("{},1,1,1,{close},1,1\n", 1_672_531_200 + day as i64 * 86_400))
            })
            .collect();
        std::fs::write(d.join("XBTEUR_1440.csv"), candles).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ledgers = d.join("ledgers.csv").display().to_string();
        let trades_file = d.join("trades.csv").display().to_string();
        let mut import = vec!["import", ledgers.as_str(), trades_file.as_str()];
        if skip_bad {
            import.push("--skip-bad");
        }
        let _ = run(&rt, d, &import);
        let prices_file = d.join("XBTEUR_1440.csv").display().to_string();
        let _ = run(&rt, d, &["prices", "import", prices_file.as_str()]);
        let out = d.join("out").display().to_string();
        for (year, fees) in [("2024", "net"), ("2025", "gross")] {
            let _ = run(
                &rt,
                d,
                &[
                    "export", "--year", year, "--currency", "EUR", "--out", out.as_str(),
                    "--offline", "--allow-empty", "--fees", fees,
                ],
            );
        }
        let _ = run(&rt, d, &["verify", "--offline"]);
        let _ = run(&rt, d, &["status"]);
    }
}
