//! In-process stages, measured with criterion: entries per second of
//!
//! - `ingest`: storing API pages — `Store::insert_ledger_entries` of the generated ledger (with
//!   each entry's JSON as the raw text, as sync keeps it) in 50-entry pages, one transaction
//!   each, into a fresh database file;
//! - `classify`: grouping (`normalize::legs::Events::group` over a compact `LegTable`) and
//!   `classify::classify_facts` over the whole ledger, the work of a full derived refresh
//!   before it stores the legs;
//! - `value`: `pricing::value_legs` of every classified leg in EUR, from the trades' own fiat
//!   legs first and otherwise an in-memory `PriceBook` of the generator's EUR price path (one
//!   point per asset and hour), as an export with a warm price cache does;
//! - `verify`: `verify::check_account` (balance chains and trade legs) over a stored account
//!   with its trades.
//!
//! Run: `cargo bench --bench stages` (10,000 and 100,000 entries; about five minutes on two
//! cores). `KRAKEN_TAX_BENCH_ENTRIES=10000,100000,1000000` picks the sizes (comma-separated;
//! at 1,000,000 one ingest iteration takes minutes and criterion runs at least ten, so
//! expect over half an hour);
//! criterion's own arguments work after `--`, e.g. `cargo bench --bench stages -- classify`.
//!
//! Only generation and setup happen outside the timed part. Under `cargo test` criterion runs
//! each stage once on a small account without timing, and the checks below still apply.

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use kraken_tax::classify::{LegFacts, Rules, classify_facts};
use kraken_tax::domain::LedgerFields;
use kraken_tax::domain::{Element, LedgerEntry, RawRecord};
use kraken_tax::emulator::{
    Dataset, GeneratorConfig, PricePath, generate_with_prices, ledger_entry_json, store_dataset,
};
use kraken_tax::normalize::assets::AssetTable;
use kraken_tax::normalize::events::LegContext;
use kraken_tax::normalize::legs::{Events, LegTable};
use kraken_tax::pricing::{LegToValue, LegValue, PriceBook, value_legs};
use kraken_tax::store::{PriceRow, Source, Store};
use kraken_tax::verify::check_account;
use std::hint::black_box;
use std::time::Duration;

const ACCOUNT: &str = "bench";
/// Sizes under `cargo test`: the debug build is slow, and only the plumbing is checked.
const SMOKE_ENTRIES: usize = 10_000;

fn sizes(smoke: bool) -> Vec<usize> {
    if smoke {
        return vec![SMOKE_ENTRIES];
    }
    let list = std::env::var("KRAKEN_TAX_BENCH_ENTRIES").unwrap_or_else(|_| "10000,100000".into());
    list.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("KRAKEN_TAX_BENCH_ENTRIES: comma-separated entry counts")
        })
        .collect()
}

/// The generated account: the generator stops right after reaching `entries` ledger entries.
fn account(entries: usize) -> (Dataset, PricePath) {
    generate_with_prices(&GeneratorConfig::new(42, entries))
}

/// The generator's EUR prices as Kraken cache rows, one point per asset and hour (the
/// valuation looks up the nearest point within a day, so the exact spacing changes little).
fn price_rows(path: &PricePath) -> Vec<PriceRow> {
    let assets = AssetTable::default();
    let codes: Vec<String> = path
        .assets
        .iter()
        .map(|a| assets.normalize(a).code)
        .collect();
    let mut rows = Vec::new();
    let mut last_hour = i64::MIN;
    for (time_us, prices) in &path.points {
        let hour = time_us.div_euclid(3_600_000_000);
        if hour == last_hour {
            continue;
        }
        last_hour = hour;
        for ((raw, code), price) in path.assets.iter().zip(&codes).zip(prices) {
            if code == "EUR" || price.is_zero() {
                continue;
            }
            rows.push(PriceRow {
                source: "kraken".into(),
                pair: format!("{raw}ZEUR"),
                base: code.clone(),
                quote: "EUR".into(),
                price: *price,
                time_us: *time_us,
                time_text: String::new(),
            });
        }
    }
    rows
}

fn ledger_pages(ledger: &[LedgerEntry]) -> Vec<Vec<RawRecord<LedgerEntry>>> {
    ledger
        .chunks(50)
        .map(|page| {
            page.iter()
                .map(|e| RawRecord {
                    item: e.clone(),
                    raw: ledger_entry_json(e),
                })
                .collect()
        })
        .collect()
}

/// A database file holding `data` (ledger and trades), for the verify stage.
fn stored(data: &Dataset, dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("verify.sqlite");
    let mut store = Store::open(&db).expect("open");
    store_dataset(&mut store, ACCOUNT, data).expect("storing the account");
    db
}

fn stages(c: &mut Criterion, smoke: bool) {
    let mut g = c.benchmark_group("stages");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for n in sizes(smoke) {
        let (data, path) = account(n);
        let ledger = &data.ledger;
        g.throughput(Throughput::Elements(ledger.len() as u64));

        let pages = ledger_pages(ledger);
        g.bench_function(BenchmarkId::new("ingest", n), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = Store::open(&dir.path().join("ingest.sqlite")).expect("open");
                    (dir, store)
                },
                |(dir, mut store)| {
                    let mut inserted = 0;
                    for page in &pages {
                        inserted += store
                            .insert_ledger_entries(ACCOUNT, page, Source::Api)
                            .expect("insert")
                            .inserted;
                    }
                    assert_eq!(inserted, ledger.len() as u64, "every entry stored once");
                    (dir, store)
                },
                BatchSize::PerIteration,
            );
        });
        drop(pages);

        let assets = AssetTable::default();
        let rules = Rules::default();
        g.bench_function(BenchmarkId::new("classify", n), |b| {
            // The events and elements are freed after the timing.
            b.iter_with_large_drop(|| {
                let (t, ev) = grouped(black_box(ledger), &assets);
                let elements: Vec<Element> = (0..t.len())
                    .map(|i| {
                        let counter = ev.counter(&t, i);
                        classify_facts(&LegFacts::of_compact(&t, &ev, i, counter), &rules).element
                    })
                    .collect();
                assert!(
                    ledger
                        .iter()
                        .zip(&elements)
                        .all(|(e, el)| *el != Element::Unclassified || e.kind == "voucher"),
                    "only the generator's vouchers (an unknown entry type) are unclassified"
                );
                (t, ev, elements)
            });
        });

        let (t, ev) = grouped(ledger, &assets);
        let ctx: Vec<LegContext> = (0..t.len()).map(|i| ev.context(&t, i)).collect();
        let elements: Vec<Element> = (0..t.len())
            .map(|i| {
                let counter = ev.counter(&t, i);
                classify_facts(&LegFacts::of_compact(&t, &ev, i, counter), &rules).element
            })
            .collect();
        drop((t, ev));
        let legs: Vec<LegToValue<'_>> = ledger
            .iter()
            .zip(&ctx)
            .zip(&elements)
            .map(|((e, c), el)| LegToValue::from_entry(e, c, *el))
            .collect();
        let rows = price_rows(&path);
        g.bench_function(BenchmarkId::new("value", n), |b| {
            b.iter_batched(
                || PriceBook::from_rows(rows.clone(), 24 * 3600 * 1_000_000),
                |mut book| {
                    let values = value_legs(black_box(&legs), "EUR", &mut [&mut book]);
                    assert!(
                        !values.iter().any(|v| matches!(v, LegValue::Unpriced(_))),
                        "the price path covers every asset"
                    );
                    assert!(
                        values
                            .iter()
                            .any(|v| v.priced().is_some_and(|p| p.source.starts_with("kraken:"))),
                        "some legs are valued from the price book, not only from trades"
                    );
                    values
                },
                BatchSize::PerIteration,
            );
        });
        drop(legs);
        drop(ctx);

        let dir = tempfile::tempdir().expect("temp dir");
        let db = stored(&data, dir.path());
        let store = Store::open(&db).expect("open");
        g.bench_function(BenchmarkId::new("verify", n), |b| {
            b.iter(|| {
                let report = check_account(&store, ACCOUNT).expect("verify");
                assert!(report.consistent, "{}", report.summary());
                assert_eq!(report.ledger_entries, ledger.len() as u64);
                report
            });
        });
    }
    g.finish();
}

/// The ledger in compact form, grouped into events (in the ledger's order).
fn grouped(ledger: &[LedgerEntry], assets: &AssetTable) -> (LegTable, Events) {
    let t = LegTable::from_fields(ledger.iter().map(LedgerFields::from), assets).expect("table");
    let ev = Events::group(&t).expect("grouping");
    (t, ev)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this target without it.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    stages(&mut c, smoke);
    c.final_summary();
}
