//! Valuation benchmark: classification and valuation throughput on generated legs with a warm
//! price cache, and the public calls that valuing a generated three-year account needs.
//!
//! Run: `cargo bench --bench pricing -- [LEGS] [THREE_YEAR_ENTRIES]`
//! (defaults: 1000000 legs, 3000 entries).
//!
//! The emulator serves the generator's own prices over loopback; the public pacer runs at
//! 1 ms instead of Kraken's 1 s (the calls are counted; at 1 s each they take that many
//! seconds).
//!
//! Under `cargo test` (no `--bench` argument) it runs 200 legs and a 100-entry three-year
//! account and checks that legs were priced; its times are those of a debug build.

use chrono::{TimeZone, Utc};
use kraken_tax::classify::{LegFacts, Rules, classify_facts};
use kraken_tax::domain::Element;
use kraken_tax::emulator::{
    EmulatorConfig, EmulatorHandle, GeneratorConfig, PricePath, generate_with_prices,
};
use kraken_tax::kraken::parse_api_url;
use kraken_tax::kraken::public::{Pacer, PublicClient, PublicConfig};
use kraken_tax::normalize::assets::AssetTable;
use kraken_tax::normalize::events::LegContext;
use kraken_tax::normalize::legs::{Events, LegTable};
use kraken_tax::pricing::{
    FetchReport, LegToValue, LegValue, PriceBook, prefetch, refresh_markets, value_legs,
};
use kraken_tax::store::Store;
use std::time::{Duration, Instant};

const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const NOW_US: i64 = 1_800_000_000_000_000;

async fn serve(dataset: kraken_tax::emulator::Dataset, path: &PricePath) -> EmulatorHandle {
    let emu = EmulatorHandle::start(
        dataset,
        EmulatorConfig {
            tier: kraken_tax::domain::RateTier::PRO,
            api_key: "BENCH".into(),
            api_secret_b64: SECRET.into(),
            page_size: 50,
        },
    )
    .await
    .unwrap();
    emu.public().set_prices(path);
    emu
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

/// Classifies, fetches into `db`, values; returns (classify s, fetch report, value s, legs, unpriced).
async fn run(
    cfg: &GeneratorConfig,
    db: &std::path::Path,
    ccy: &str,
) -> (usize, f64, FetchReport, f64, usize, usize) {
    let (dataset, path) = generate_with_prices(cfg);
    let ledger = dataset.ledger.clone();
    let emu = serve(dataset, &path).await;
    let t = Instant::now();
    let rules = Rules::default();
    let (ctx, elements) = classified(&ledger, &rules);
    let classify_s = t.elapsed().as_secs_f64();
    let legs: Vec<LegToValue<'_>> = ledger
        .iter()
        .zip(&ctx)
        .zip(&elements)
        .map(|((e, c), el)| LegToValue::from_entry(e, c, *el))
        .collect();
    let store = Store::open(db).unwrap();
    let mut cfgp = PublicConfig::new(parse_api_url(&emu.url()).unwrap());
    cfgp.interval = Duration::from_millis(1);
    let mut client = PublicClient::with_pacer(cfgp, Pacer::new()).unwrap();
    let mut report = FetchReport::default();
    refresh_markets(&store, &mut client, &mut report).await;
    prefetch(&legs, ccy, &store, &mut client, NOW_US, &mut report)
        .await
        .unwrap();
    // Warm cache: load and value, timed together (what an export pays).
    let t = Instant::now();
    let mut kraken = PriceBook::kraken(&store).unwrap();
    let mut imports = PriceBook::imports(&store).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let values = value_legs(&legs, ccy, &mut [&mut kraken, &mut imports]);
    let value_s = t.elapsed().as_secs_f64();
    println!(
        "  cache: {} prices loaded in {load_s:.2} s, valuation {:.2} s",
        kraken.len(),
        value_s - load_s
    );
    let unpriced = values
        .iter()
        .filter(|v| matches!(v, LegValue::Unpriced(_)))
        .count();
    (
        legs.len(),
        classify_s,
        report,
        value_s,
        unpriced,
        values.iter().filter(|v| v.priced().is_some()).count(),
    )
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 200 } else { 1_000_000 });
    let three: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 100 } else { 3000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let mut cfg = GeneratorConfig::new(7, three);
        cfg.start = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
        cfg.end = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
        for ccy in ["EUR", "USD", "GBP"] {
            let db = dir.path().join(format!("three-{ccy}.sqlite"));
            let (legs, _, report, _, unpriced, priced) = run(&cfg, &db, ccy).await;
            assert!(priced > 0 && priced + unpriced <= legs, "{ccy}: {priced} of {legs} priced");
            println!(
                "three-year account ({legs} legs, {ccy}): {} public calls ({} Trades), {priced} priced, {unpriced} unpriced, {} warnings",
                report.calls,
                report.trades_calls,
                report.warnings.len()
            );
        }
        let db = dir.path().join("big.sqlite");
        let (legs, classify_s, report, value_s, unpriced, priced) =
            run(&GeneratorConfig::new(8, n), &db, "EUR").await;
        assert!(priced > 0 && priced + unpriced <= legs, "{priced} of {legs} priced");
        println!(
            "{legs} legs: group+classify {classify_s:.2} s ({:.0} legs/s); fetch {} calls; warm-cache valuation {value_s:.2} s ({:.0} legs/s); {priced} priced, {unpriced} unpriced",
            legs as f64 / classify_s,
            report.calls,
            legs as f64 / value_s
        );
    });
}
