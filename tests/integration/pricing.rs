//! Valuation against the emulator's public market, which is synthesized from the generator's
//! own prices: valued legs must match them, public calls must be deduplicated, and offline
//! valuation must make none.

use crate::harness::Env;
use chrono::{TimeZone, Utc};
use kraken_tax::classify::{LegFacts, Rules, classify_facts};
use kraken_tax::domain::{Element, LedgerEntry};
use kraken_tax::emulator::{GeneratorConfig, PricePath, generate_with_prices};
use kraken_tax::kraken::parse_api_url;
use kraken_tax::kraken::public::{Pacer, PublicClient, PublicConfig};
use kraken_tax::normalize::assets::AssetTable;
use kraken_tax::normalize::events::LegContext;
use kraken_tax::normalize::legs::{Events, LegTable};
use kraken_tax::pricing::fetch::plan;
use kraken_tax::pricing::{
    FetchReport, LegToValue, LegValue, Markets, PriceBook, prefetch, refresh_markets, value_legs,
};
use kraken_tax::store::Store;
use rust_decimal::Decimal;
use std::time::Duration;

struct Legs {
    ctx: Vec<LegContext>,
    elements: Vec<Element>,
}

fn legs_of(ledger: &[LedgerEntry]) -> Legs {
    let (ctx, elements) = classified(ledger, &Rules::default());
    Legs { ctx, elements }
}

/// Each entry's event (owned) and element, through the production grouping and classifier.
fn classified(
    ledger: &[kraken_tax::domain::LedgerEntry],
    rules: &Rules,
) -> (Vec<LegContext>, Vec<Element>) {
    let t = LegTable::from_fields(
        ledger.iter().map(kraken_tax::domain::LedgerFields::from),
        &AssetTable::default(),
    )
    .expect("table");
    let ev = Events::group(&t).expect("grouping");
    (0..t.len())
        .map(|i| {
            let counter = ev.counter(&t, i);
            let c = classify_facts(&LegFacts::of_compact(&t, &ev, i, counter), rules);
            (ev.context(&t, i), c.element)
        })
        .unzip()
}

fn to_value<'a>(ledger: &'a [LedgerEntry], l: &'a Legs) -> Vec<LegToValue<'a>> {
    ledger
        .iter()
        .zip(&l.ctx)
        .zip(&l.elements)
        .map(|((e, c), el)| LegToValue::from_entry(e, c, *el))
        .collect()
}

fn client(env: &Env) -> PublicClient {
    let mut cfg = PublicConfig::new(parse_api_url(&env.emu.url()).unwrap());
    // Pacing is exercised, at a millisecond instead of Kraken's second.
    cfg.interval = Duration::from_millis(1);
    PublicClient::with_pacer(cfg, Pacer::new()).unwrap()
}

/// A generated account over three years, served with its public market.
async fn three_years(seed: u64, entries: usize) -> (Env, PricePath) {
    let mut cfg = GeneratorConfig::new(seed, entries);
    cfg.start = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
    cfg.end = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
    let (dataset, path) = generate_with_prices(&cfg);
    let env = Env::with_dataset(dataset).await;
    env.emu.public().set_prices(&path);
    (env, path)
}

const NOW_US: i64 = 1_800_000_000_000_000;

async fn fetch(env: &Env, store: &Store, legs: &[LegToValue<'_>], ccy: &str) -> FetchReport {
    let mut c = client(env);
    let mut report = FetchReport::default();
    refresh_markets(store, &mut c, &mut report).await;
    prefetch(legs, ccy, store, &mut c, NOW_US, &mut report)
        .await
        .unwrap();
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(c.stats().calls.values().sum::<u64>(), report.calls);
    report
}

#[tokio::test]
async fn valued_legs_match_the_generators_prices() {
    let (env, _) = three_years(31, 1500).await;
    let ledger = env.dataset.ledger.clone();
    let l = legs_of(&ledger);
    let legs = to_value(&ledger, &l);
    let store = Store::open(&env.db).unwrap();
    fetch(&env, &store, &legs, "EUR").await;
    let mut kraken = PriceBook::kraken(&store).unwrap();
    let values = value_legs(&legs, "EUR", &mut [&mut kraken]);

    let (mut trade, mut market, mut fx) = (0, 0, 0);
    for (leg, v) in legs.iter().zip(&values) {
        if !leg.element.is_reportable() {
            assert_eq!(*v, LegValue::NotNeeded, "{}", leg.ledger_id);
            continue;
        }
        let p = v
            .priced()
            .unwrap_or_else(|| panic!("{} unpriced: {v:?}", leg.ledger_id));
        let units = leg.amount.abs();
        if p.source == "trade:EUR" {
            trade += 1;
            // Exactly the euros of the same trade.
            let ex = leg.exchange.unwrap();
            let eur = ex.sides.iter().find(|s| s.asset == "EUR").unwrap();
            assert_eq!(p.price_time_us, leg.time_us);
            let value = if leg.amount.is_sign_negative() {
                p.amount_gross
            } else {
                p.amount_net
            };
            assert_eq!(value, eur.amount.abs(), "{}", leg.ledger_id);
            assert_eq!(p.fee_amount, eur.fee, "{}", leg.ledger_id);
        } else if p.source == "fx:kraken" {
            fx += 1;
            assert!(
                (p.price_time_us - leg.time_us).abs() < 60_000_000,
                "{}",
                leg.ledger_id
            );
        } else {
            market += 1;
            // The first pair of the route named by the source was traded at that very time,
            // at that price, and close to the leg.
            let first = p.source.split('+').next().unwrap();
            let pair = first.strip_prefix("kraken:").expect("kraken source");
            let traded = env
                .emu
                .public()
                .trade_price_at(pair, p.price_time_us)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no public trade of {pair} at {}",
                        leg.ledger_id, p.price_time_us
                    )
                });
            assert!(
                (p.price_time_us - leg.time_us).abs() < 120_000_000,
                "{}",
                leg.ledger_id
            );
            if !p.source.contains('+') && leg.exchange.is_none() {
                assert_eq!(p.price, traded, "{}", leg.ledger_id);
                // The value of the units: before fees for disposals, excluding them for
                // acquisitions; the other figure differs by the fee's value. A transfer is
                // the value of its units in both figures (carf.md "Fees").
                let (value, other) = if !leg.element.is_exchange() {
                    (p.amount_net, p.amount_gross)
                } else if leg.amount.is_sign_negative() {
                    (p.amount_gross, p.amount_net + p.fee_amount)
                } else {
                    (p.amount_net, p.amount_gross - p.fee_amount)
                };
                assert_eq!(value, other);
                assert_eq!(p.fee_amount, (leg.fee * traded).round_dp(12));
                assert_eq!(value, (units * traded).round_dp(12), "{}", leg.ledger_id);
            }
        }
    }
    assert!(
        trade > 100 && market > 50 && fx > 10,
        "{trade} {market} {fx}"
    );
}

#[tokio::test]
async fn rewards_at_an_event_get_exactly_that_events_price() {
    let (env, path) = three_years(32, 800).await;
    let ledger = env.dataset.ledger.clone();
    let l = legs_of(&ledger);
    let legs = to_value(&ledger, &l);
    let store = Store::open(&env.db).unwrap();
    fetch(&env, &store, &legs, "EUR").await;
    let values = value_legs(&legs, "EUR", &mut [&mut PriceBook::kraken(&store).unwrap()]);
    let dot = path.assets.iter().position(|a| a == "DOT").unwrap();
    let mut checked = 0;
    for (leg, v) in legs.iter().zip(&values) {
        if leg.asset != "DOT" || leg.element != Element::CryptoTransferIn {
            continue;
        }
        let p = v.priced().unwrap();
        assert_eq!(p.source, "kraken:DOTEUR");
        // The generator's own EUR price of DOT at this event, at DOTEUR's 4 decimals.
        let k = path.points.partition_point(|(t, _)| *t <= leg.time_us) - 1;
        let (t, eur) = &path.points[k];
        if *t != leg.time_us {
            continue;
        }
        assert_eq!(p.price, eur[dot].round_dp(4), "{}", leg.ledger_id);
        assert_eq!(p.price_time_us, t - t.rem_euclid(100));
        checked += 1;
    }
    assert!(checked > 10, "{checked}");
}

#[tokio::test]
async fn public_calls_are_deduplicated_and_a_second_run_makes_none() {
    let (env, _) = three_years(33, 1500).await;
    let ledger = env.dataset.ledger.clone();
    let l = legs_of(&ledger);
    let legs = to_value(&ledger, &l);
    let store = Store::open(&env.db).unwrap();
    let first = fetch(&env, &store, &legs, "EUR").await;
    let served = env.emu.public().calls();
    assert_eq!(
        served.get("Trades").copied().unwrap_or(0),
        first.trades_calls
    );
    assert_eq!(served.get("Assets"), Some(&1));
    assert_eq!(served.get("AssetPairs"), Some(&1));
    // At most one call per pair and minute needed.
    let needed: usize = plan(&legs, "EUR", &Markets::load(&store).unwrap())
        .values()
        .map(|m| m.len())
        .sum();
    assert!(
        first.trades_calls as usize <= needed,
        "{} > {needed}",
        first.trades_calls
    );
    assert!(first.trades_calls > 0);
    // Warm cache: nothing left to fetch.
    let mut c = client(&env);
    let mut again = FetchReport::default();
    prefetch(&legs, "EUR", &store, &mut c, NOW_US, &mut again)
        .await
        .unwrap();
    assert_eq!(again.trades_calls, 0);
    assert_eq!(
        env.emu.public().calls().get("Trades").copied().unwrap_or(0),
        first.trades_calls
    );
}

#[tokio::test]
async fn offline_valuation_makes_no_call_and_leaves_market_legs_unpriced() {
    let (env, _) = three_years(34, 400).await;
    let ledger = env.dataset.ledger.clone();
    let l = legs_of(&ledger);
    let legs = to_value(&ledger, &l);
    let store = Store::open(&env.db).unwrap();
    // Offline: no refresh, no prefetch; only the (empty) cache and imports.
    let values = value_legs(
        &legs,
        "EUR",
        &mut [
            &mut PriceBook::kraken(&store).unwrap(),
            &mut PriceBook::imports(&store).unwrap(),
        ],
    );
    assert!(env.emu.public().calls().is_empty());
    let unpriced = values
        .iter()
        .filter(|v| matches!(v, LegValue::Unpriced(_)))
        .count();
    let by_trade = values
        .iter()
        .filter(|v| v.priced().is_some_and(|p| p.source == "trade:EUR"))
        .count();
    assert!(unpriced > 0 && by_trade > 0, "{unpriced} {by_trade}");
    assert!(
        values
            .iter()
            .all(|v| v.priced().is_none_or(|p| p.source == "trade:EUR"))
    );
}

#[tokio::test]
async fn a_missing_public_endpoint_degrades_to_warnings() {
    let (env, _) = three_years(35, 200).await;
    let ledger = env.dataset.ledger.clone();
    let l = legs_of(&ledger);
    let legs = to_value(&ledger, &l);
    let store = Store::open(&env.db).unwrap();
    // A server that answers nothing public: port of a closed listener.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = PublicConfig::new(parse_api_url(&format!("http://{closed}")).unwrap());
    cfg.interval = Duration::ZERO;
    cfg.retry = crate::harness::fast_retry();
    let mut c = PublicClient::with_pacer(cfg, Pacer::new()).unwrap();
    let mut report = FetchReport::default();
    refresh_markets(&store, &mut c, &mut report).await;
    prefetch(&legs, "EUR", &store, &mut c, NOW_US, &mut report)
        .await
        .unwrap();
    assert_eq!(report.warnings.len(), 3, "{:?}", report.warnings);
    assert!(
        report.warnings[0]
            .starts_with("Kraken's asset list unavailable: could not reach Kraken for Assets")
    );
    let values = value_legs(&legs, "EUR", &mut [&mut PriceBook::kraken(&store).unwrap()]);
    assert!(values.iter().any(|v| matches!(v, LegValue::Unpriced(_))));
}

#[tokio::test]
async fn imported_ohlcvt_file_prices_legs_offline() {
    let (env, _) = three_years(36, 300).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("XBTEUR_1440.csv");
    std::fs::write(&file, "1704067200,40000,41000,39000,40500.5,10,100\n").unwrap();
    let run = |f: &std::path::Path| {
        let args = [
            "prices",
            "import",
            f.to_str().unwrap(),
            "--db",
            env.db.to_str().unwrap(),
        ];
        crate::harness::run_bin(args.iter().map(|s| s.to_string()).collect(), &[])
    };
    let out = run(&file).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "XBTEUR_1440.csv: 1 candles of BTC/EUR (1440 min), 1 prices stored as import:XBTEUR_1440.csv\n"
    );
    let store = Store::open(&env.db).unwrap();
    let rows = store.prices_from("import:").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].price, Decimal::new(405005, 1));
    assert_eq!(rows[0].time_us, 1_704_153_600_000_000);
    let bad = dir.path().join("XBTEUR_60.csv");
    std::fs::write(&bad, "1704067200,1,1,1,1,1,1\n1704070800,1,1,x,1,1,1\n").unwrap();
    let out = run(&bad).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("XBTEUR_60.csv line 2, column low: not a decimal: \"x\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A misnamed file is a usage error (exit 2): the name must say the pair and interval.
    let misnamed = dir.path().join("prices.csv");
    std::fs::write(&misnamed, "1704067200,1,1,1,1,1,1\n").unwrap();
    let out = run(&misnamed).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: prices.csv: expected a name like XBTEUR_1440.csv (PAIR_MINUTES)\n"
    );
}
