//! The gains engine (`kraken_tax::gains::compute`) on generated legs: five years of
//! acquisitions, sales, swaps (two legs), staking income, withdrawals and deposits (half of
//! them round trips), internal moves and margin entries over ten assets, with crypto fees on
//! some legs; one year's rows are produced, every year is matched.
//!
//! Run: `cargo bench --bench gains` (10,000 and 1,000,000 legs).
//! `KRAKEN_TAX_BENCH_LEGS=10000,1000000` picks the sizes (comma-separated). For each size it
//! first prints one timed run per method with the growth of the process's peak memory
//! (VmHWM) during the run (the engine's own memory; the input slice is the adapter's), then
//! criterion measures `fifo` and `uk`; criterion's own arguments work after `--`.
//!
//! Under `cargo test` (no `--bench` argument) it runs every method once on 10,000 legs
//! without timing and checks real outcomes: rows in the year, a TOTAL row that adds up, and
//! units conserved per asset.

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use kraken_tax::gains::{
    DisposalKind, GainsLeg, GainsOptions, IncomeKind, LegKind, LotPick, Method, NoPrices, Period,
    SwapFee, UnknownCost, compute,
};
use rust_decimal::Decimal;
use std::hint::black_box;
use std::time::Instant;

const ASSETS: [&str; 10] = [
    "BTC", "ETH", "DOT", "ADA", "SOL", "XRP", "LTC", "LINK", "ATOM", "USDT",
];
const KINDS: [&str; 3] = ["trade", "staking", "withdrawal"];

fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn sizes() -> Vec<usize> {
    if smoke() {
        return vec![10_000];
    }
    std::env::var("KRAKEN_TAX_BENCH_LEGS")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("KRAKEN_TAX_BENCH_LEGS: comma-separated leg counts")
        })
        .collect()
}

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The ledger ids (the legs borrow them).
fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("L{i:07}")).collect()
}

/// `n` legs over 2021–2025, oldest first.
fn generate(ids: &[String]) -> Vec<GainsLeg<'_>> {
    let n = ids.len();
    let start = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
    let span = Duration::days(5 * 365).num_seconds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut price: Vec<Decimal> = (0..ASSETS.len())
        .map(|a| Decimal::new(100 + 1000 * a as i64, 0))
        .collect();
    let mut held = vec![Decimal::ZERO; ASSETS.len()];
    let mut last_out: Vec<Option<Decimal>> = vec![None; ASSETS.len()];
    let mut legs = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let time: DateTime<Utc> = start + Duration::seconds(span * i as i64 / n as i64);
        let a = rng.below(ASSETS.len() as u64) as usize;
        // A random walk of ±1 % per leg, in cents.
        let step = rng.below(201) as i64 - 100;
        price[a] = (price[a] + price[a] * Decimal::new(step, 4))
            .round_dp(2)
            .max(Decimal::ONE);
        let units = Decimal::new(1 + rng.below(10_000) as i64, 4);
        let value = |u: Decimal, p: Decimal| Some((u * p).round_dp(8));
        let base = GainsLeg {
            time,
            account: "bench",
            ledger_id: &ids[i],
            refid: &ids[i],
            kraken_type: KINDS[0],
            kraken_subtype: "",
            asset: ASSETS[a],
            kind: LegKind::Acquisition,
            units,
            value: value(units, price[a]),
            price_source: "trade:EUR",
            fee_units: Decimal::ZERO,
            fee_value: None,
            other_fee: Some(Decimal::new(rng.below(500) as i64, 2)),
        };
        let roll = rng.below(100);
        let mut leg = base;
        match roll {
            0..=39 => held[a] += units,
            40..=64 => {
                let u = (held[a] / Decimal::TWO).round_dp(8).min(units);
                if u.is_zero() {
                    held[a] += units;
                } else {
                    held[a] -= u;
                    leg.units = u;
                    leg.value = value(u, price[a]);
                    leg.kind = LegKind::Disposal(DisposalKind::Sale);
                }
            }
            65..=74 if i + 1 < n => {
                // A swap: two legs, one refid, the fee in the Out asset.
                let u = (held[a] / Decimal::TWO).round_dp(8).min(units);
                if !u.is_zero() {
                    let b = (a + 1 + rng.below(ASSETS.len() as u64 - 1) as usize) % ASSETS.len();
                    let v = value(u, price[a]);
                    let fee = (u / Decimal::new(500, 0)).round_dp(8);
                    held[a] -= u + fee;
                    leg.units = u;
                    leg.value = v;
                    leg.kind = LegKind::Disposal(DisposalKind::Swap);
                    leg.fee_units = fee;
                    leg.fee_value = value(fee, price[a]);
                    leg.other_fee = None;
                    legs.push(leg);
                    i += 1;
                    let got = (v.unwrap_or_default() / price[b]).round_dp(8);
                    held[b] += got;
                    leg = GainsLeg {
                        ledger_id: &ids[i],
                        asset: ASSETS[b],
                        kind: LegKind::Acquisition,
                        units: got,
                        value: v,
                        fee_units: Decimal::ZERO,
                        fee_value: None,
                        other_fee: None,
                        ..base
                    };
                } else {
                    held[a] += units;
                }
            }
            75..=86 => {
                let u = (units / Decimal::new(100, 0)).round_dp(8);
                held[a] += u;
                leg.units = u;
                leg.value = value(u, price[a]);
                leg.kind = LegKind::Income(IncomeKind::Staking);
                leg.kraken_type = KINDS[1];
                leg.other_fee = None;
            }
            87..=90 => {
                let u = (held[a] / Decimal::new(4, 0)).round_dp(8);
                let fee = Decimal::new(1, 5).min(held[a] - u);
                if u.is_zero() || fee <= Decimal::ZERO {
                    held[a] += units;
                } else {
                    held[a] -= u + fee;
                    last_out[a] = Some(u);
                    leg.units = u;
                    leg.kind = LegKind::TransferOut;
                    leg.kraken_type = KINDS[2];
                    leg.fee_units = fee;
                    leg.fee_value = value(fee, price[a]);
                    leg.other_fee = None;
                }
            }
            91..=94 => {
                // Half of the deposits bring back the last withdrawal exactly.
                let u = match last_out[a].take() {
                    Some(u) if rng.below(2) == 0 => u,
                    _ => units,
                };
                held[a] += u;
                leg.units = u;
                leg.kind = LegKind::TransferIn {
                    basis: None,
                    own_wallet: false,
                };
                leg.other_fee = None;
            }
            95..=97 => {
                leg.kind = LegKind::Internal;
                leg.other_fee = None;
            }
            _ => {
                leg.kind = LegKind::Margin;
                leg.asset = "EUR";
                leg.units = Decimal::new(rng.below(20_000) as i64 - 10_000, 2);
                leg.value = Some(leg.units);
                leg.other_fee = None;
            }
        }
        legs.push(leg);
        i += 1;
    }
    legs
}

fn options(method: Method) -> GainsOptions {
    GainsOptions {
        method,
        lots: LotPick::Fifo,
        swap_fee: SwapFee::Leg,
        unknown_cost: UnknownCost::Empty,
        period: Period::calendar_year(2025, chrono_tz::Tz::UTC).unwrap(),
        currency: "EUR".into(),
        accounts: "bench".into(),
    }
}

const METHODS: [Method; 7] = [
    Method::Fifo,
    Method::Lifo,
    Method::Hifo,
    Method::Average,
    Method::Uk,
    Method::De,
    Method::Us,
];

/// Real outcomes of one run: rows in the year, a TOTAL that adds up, units conserved.
fn check(legs: &[GainsLeg<'_>], method: Method) {
    let o = options(method);
    let r = compute(legs, &o, &NoPrices).unwrap();
    assert!(
        r.disposals.len() > 100,
        "{method}: {} rows",
        r.disposals.len()
    );
    assert!(!r.income.is_empty() && !r.margin.is_empty(), "{method}");
    let total = r.summary.last().unwrap();
    assert_eq!(total.asset, "TOTAL");
    let per_asset: u64 = r.summary[..r.summary.len() - 1]
        .iter()
        .map(|s| s.disposals)
        .sum();
    assert_eq!(total.disposals, per_asset, "{method}");
    assert!(total.disposals > 0);
    let proceeds: Decimal = r.disposals.iter().filter_map(|x| x.proceeds).sum();
    assert_eq!(total.proceeds, Some(proceeds), "{method}");
    for asset in ASSETS {
        let mut flow = Decimal::ZERO;
        for l in legs
            .iter()
            .filter(|l| l.asset == asset && o.period.contains(l.time))
        {
            match l.kind {
                LegKind::Acquisition | LegKind::Income(_) | LegKind::TransferIn { .. } => {
                    flow += l.units
                }
                LegKind::Disposal(_) | LegKind::TransferOut => flow -= l.units,
                _ => {}
            }
            flow -= l.fee_units;
        }
        let held: Decimal = r
            .holdings
            .iter()
            .filter(|h| h.asset == asset)
            .map(|h| h.units_end - h.units_start)
            .sum();
        assert_eq!(held, flow, "{method}: units of {asset}");
    }
}

fn main() {
    let sizes = sizes();
    if smoke() {
        let ids = ids(sizes[0]);
        let legs = generate(&ids);
        for m in METHODS {
            check(&legs, m);
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    eprintln!(
        "GainsLeg is {} bytes",
        std::mem::size_of::<GainsLeg<'static>>()
    );
    for &n in &sizes {
        let ids = ids(n);
        let legs = generate(&ids);
        eprintln!("{n} legs (input {:.0} MB peak so far)", vm_hwm_mb());
        for m in METHODS {
            let before = vm_hwm_mb();
            let t = Instant::now();
            let r = compute(&legs, &options(m), &NoPrices).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let rows = r.disposals.len();
            drop(r);
            println!(
                "gains {m:>7} {n:>8} legs: {secs:.3} s, {rows} rows in 2025, peak +{:.0} MB (VmHWM {:.0} MB)",
                vm_hwm_mb() - before,
                vm_hwm_mb()
            );
        }
        let mut g = c.benchmark_group("gains");
        g.sample_size(10).sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(n as u64));
        for m in [Method::Fifo, Method::Uk] {
            g.bench_with_input(BenchmarkId::new(m.as_str(), n), &legs, |b, legs| {
                b.iter(|| black_box(compute(legs, &options(m), &NoPrices).unwrap()))
            });
        }
        g.finish();
    }
    c.final_summary();
}
