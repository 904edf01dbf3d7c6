//! gains.md's invariants over generated leg streams, for every method.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

const ASSETS: [&str; 3] = ["BTC", "ETH", "DOT"];
const ACCOUNTS: [&str; 2] = ["a", "b"];

/// One generated leg: (seconds after the previous, kind, asset, account, units in
/// hundredths, value in cents (None: unpriced), fee units in thousandths, basis cost).
pub(super) type Op = (u32, u8, usize, usize, u32, Option<u32>, u32, Option<u32>);

fn op() -> impl Strategy<Value = Op> {
    (
        0u32..(12 * 86_400),
        0u8..10,
        0usize..3,
        0usize..2,
        1u32..1000,
        prop::option::weighted(0.85, 0u32..5_000_000),
        prop::option::weighted(0.2, 1u32..50).prop_map(|f| f.unwrap_or(0)),
        prop::option::of(0u32..1_000_000),
    )
}

pub(super) fn build<'a>(ops: &[Op], ids: &'a [String]) -> Vec<GainsLeg<'a>> {
    let mut time = t("2022-01-01T00:00:00Z");
    ops.iter()
        .zip(ids)
        .map(|(&(dt, k, asset, account, units, value, fee, basis), id)| {
            time += chrono::Duration::seconds(i64::from(dt));
            let kind = match k {
                0..=2 => LegKind::Acquisition,
                3 => LegKind::Disposal(DisposalKind::Sale),
                4 => LegKind::Disposal(DisposalKind::Swap),
                5 => LegKind::Income(IncomeKind::Staking),
                6 => LegKind::TransferOut,
                7 => LegKind::TransferIn {
                    basis: basis.map(|c| Basis {
                        cost: Decimal::new(i64::from(c), 2),
                        acquired: t("2021-06-01T00:00:00Z"),
                    }),
                    own_wallet: units % 2 == 0,
                },
                8 => LegKind::Internal,
                _ => LegKind::Margin,
            };
            let units = Decimal::new(i64::from(units), 2);
            let value = value.map(|v| Decimal::new(i64::from(v), 2));
            let fee_units = Decimal::new(i64::from(fee), 3);
            GainsLeg {
                time,
                account: ACCOUNTS[account],
                ledger_id: id,
                refid: id,
                kraken_type: "trade",
                kraken_subtype: "",
                asset: ASSETS[asset],
                kind,
                units,
                value,
                price_source: "trade:EUR",
                fee_units,
                fee_value: value.map(|v| v / Decimal::new(100, 0)),
                other_fee: (k == 3).then(|| Decimal::new(5, 1)),
            }
        })
        .collect()
}

const METHODS: [(Method, LotPick); 8] = [
    (Method::Fifo, LotPick::Fifo),
    (Method::Lifo, LotPick::Fifo),
    (Method::Hifo, LotPick::Fifo),
    (Method::Average, LotPick::Fifo),
    (Method::Uk, LotPick::Fifo),
    (Method::De, LotPick::Fifo),
    (Method::Us, LotPick::Fifo),
    (Method::Us, LotPick::Hifo),
];

fn check(
    legs: &[GainsLeg<'_>],
    method: Method,
    lots: LotPick,
    y: i32,
) -> Result<(), TestCaseError> {
    let mut o = options(method, year(y));
    o.lots = lots;
    let r = compute(legs, &o, &NoPrices).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let next = {
        let mut o2 = o.clone();
        o2.period = year(y + 1);
        compute(legs, &o2, &NoPrices).map_err(|e| TestCaseError::fail(e.to_string()))?
    };
    // Units conserved per asset: in − out over the period = end − start.
    let mut flow: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut disposed: HashMap<&str, Decimal> = HashMap::new();
    for l in legs.iter().filter(|l| o.period.contains(l.time)) {
        if l.kind == LegKind::Margin {
            continue;
        }
        let f = flow.entry(l.asset).or_default();
        match l.kind {
            LegKind::Acquisition | LegKind::Income(_) | LegKind::TransferIn { .. } => *f += l.units,
            LegKind::Disposal(_) | LegKind::TransferOut => *f -= l.units,
            _ => {}
        }
        *f -= l.fee_units;
        let mut out = l.fee_units;
        if matches!(l.kind, LegKind::Disposal(_)) {
            out += l.units;
        }
        *disposed.entry(l.ledger_id).or_default() += out;
    }
    let mut held: BTreeMap<&str, Decimal> = BTreeMap::new();
    for h in &r.holdings {
        *held.entry(h.asset.as_str()).or_default() += h.units_end - h.units_start;
    }
    for (asset, f) in &flow {
        prop_assert_eq!(
            held.get(asset).copied().unwrap_or_default(),
            *f,
            "units of {}",
            asset
        );
    }
    // Rows cover exactly the units disposed (uk shares a day by division: within 1e-20).
    let mut rows_units: HashMap<&str, Decimal> = HashMap::new();
    for x in &r.disposals {
        *rows_units.entry(x.leg.ledger_id).or_default() += x.units;
        // gain = proceeds − cost − fees on every row with a known cost; 10 places.
        if let (Some(p), Some(c), Some(f)) = (x.proceeds, x.cost, x.fees) {
            prop_assert_eq!(x.gain, Some(p - c - f));
        } else {
            prop_assert_eq!(x.gain, None);
        }
        for v in [x.proceeds, x.cost, x.fees, x.gain].into_iter().flatten() {
            prop_assert!(v.scale() <= 10, "{} has more than 10 places", v);
        }
    }
    // A disposal's rows add up exactly to its proceeds (rounded once to 10 places).
    let mut proceeds: HashMap<(&str, bool), (Decimal, &GainsLeg<'_>)> = HashMap::new();
    for x in &r.disposals {
        let e = proceeds
            .entry((x.leg.ledger_id, x.kind == DisposalKind::Fee))
            .or_insert((Decimal::ZERO, x.leg));
        e.0 += x.proceeds.unwrap_or_default();
    }
    for ((_, fee), (sum, l)) in &proceeds {
        let v = if *fee { l.fee_value } else { l.value };
        let want = v.map(|v| {
            v.round_dp_with_strategy(10, rust_decimal::RoundingStrategy::MidpointNearestEven)
        });
        prop_assert_eq!(
            *sum,
            want.unwrap_or_default(),
            "proceeds of {}",
            l.ledger_id
        );
    }
    for (id, u) in &disposed {
        let got = rows_units.get(id).copied().unwrap_or_default();
        if method == Method::Uk {
            prop_assert!(
                (got - u).abs() < Decimal::new(1, 20),
                "{}: {} vs {}",
                id,
                got,
                u
            );
        } else {
            prop_assert_eq!(got, *u, "rows of {}", id);
        }
    }
    // The summary equals the grouping of its rows.
    let mut total_disposals = 0;
    for s in r.summary.iter().filter(|s| s.asset != "TOTAL") {
        let rows: Vec<_> = r
            .disposals
            .iter()
            .filter(|x| x.leg.asset == s.asset)
            .collect();
        let ids: HashSet<u64> = rows.iter().map(|x| x.disposal).collect();
        prop_assert_eq!(s.disposals, ids.len() as u64);
        total_disposals += s.disposals;
        let sum = |f: &dyn Fn(&DisposalRow<'_>) -> Option<Decimal>| -> Decimal {
            rows.iter().filter_map(|x| f(x)).sum()
        };
        prop_assert_eq!(s.proceeds.unwrap_or_default(), sum(&|x| x.proceeds));
        prop_assert_eq!(s.cost.unwrap_or_default(), sum(&|x| x.cost));
        prop_assert_eq!(s.fees.unwrap_or_default(), sum(&|x| x.fees));
        prop_assert_eq!(s.net_gain, s.gains - s.losses);
        let unknown: HashSet<u64> = rows
            .iter()
            .filter(|x| x.cost_source == CostSource::Unknown)
            .map(|x| x.disposal)
            .collect();
        prop_assert_eq!(s.unknown_cost_disposals, unknown.len() as u64);
        let income: Decimal = r
            .income
            .iter()
            .filter(|i| i.leg.asset == s.asset)
            .filter_map(|i| i.value)
            .sum();
        prop_assert_eq!(s.income, income);
    }
    let total = r.summary.last().unwrap();
    prop_assert_eq!(&total.asset, "TOTAL");
    prop_assert_eq!(total.disposals, total_disposals);
    // Holdings at the end of Y are those at the start of Y+1.
    let key = |h: &HoldingRow| (h.asset.clone(), h.account.clone());
    let end: HashMap<_, _> = r.holdings.iter().map(|h| (key(h), h.units_end)).collect();
    let start: HashMap<_, _> = next
        .holdings
        .iter()
        .map(|h| (key(h), h.units_start))
        .collect();
    for (k, v) in &end {
        prop_assert_eq!(start.get(k).copied().unwrap_or_default(), *v, "{:?}", k);
    }
    for (k, v) in &start {
        prop_assert_eq!(end.get(k).copied().unwrap_or_default(), *v, "{:?}", k);
    }
    // The files can be written.
    csv_text(|w| write_disposals(w, &r.disposals));
    csv_text(|w| write_summary(w, &r.summary, &o));
    csv_text(|w| write_holdings(w, &r.holdings, &o));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn invariants_hold_for_every_method(ops in prop::collection::vec(op(), 1..120), swap_split in any::<bool>()) {
        let ids: Vec<String> = (0..ops.len()).map(|i| format!("L{i}")).collect();
        let legs = build(&ops, &ids);
        for (method, lots) in METHODS {
            check(&legs, method, lots, 2022)?;
        }
        let mut o = options(Method::Fifo, year(2022));
        o.swap_fee = if swap_split { SwapFee::Split } else { SwapFee::Leg };
        o.unknown_cost = UnknownCost::Zero;
        prop_assert!(compute(&legs, &o, &NoPrices).is_ok());
    }

    /// Any decimal at all (huge, tiny, negative): an answer or an error, never a panic.
    #[test]
    fn no_panic_on_extreme_figures(
        raw in prop::collection::vec((any::<i64>(), any::<u32>(), 0u32..29, 0u8..10, any::<bool>()), 1..40)
    ) {
        let ids: Vec<String> = (0..raw.len()).map(|i| format!("X{i}")).collect();
        let mut time = t("2022-01-01T00:00:00Z");
        let legs: Vec<GainsLeg<'_>> = raw
            .iter()
            .zip(&ids)
            .map(|(&(m, hi, scale, k, priced), id)| {
                time += chrono::Duration::hours(7);
                let big = Decimal::from_i128_with_scale(
                    (i128::from(hi) << 64 | i128::from(m.unsigned_abs())) % 79_228_162_514_264_337_593_543_950_335,
                    scale,
                );
                let kind = match k {
                    0..=3 => LegKind::Acquisition,
                    4..=6 => LegKind::Disposal(DisposalKind::Sale),
                    7 => LegKind::TransferOut,
                    8 => LegKind::TransferIn { basis: None, own_wallet: priced },
                    _ => LegKind::Income(IncomeKind::Other),
                };
                GainsLeg {
                    time,
                    account: "a",
                    ledger_id: id,
                    refid: id,
                    kraken_type: "trade",
                    kraken_subtype: "",
                    asset: "BTC",
                    kind,
                    units: big.abs(),
                    value: priced.then_some(big),
                    price_source: "",
                    fee_units: Decimal::ZERO,
                    fee_value: None,
                    other_fee: priced.then_some(big),
                }
            })
            .collect();
        for (method, lots) in METHODS {
            let mut o = options(method, year(2022));
            o.lots = lots;
            match compute(&legs, &o, &NoPrices) {
                Ok(_) | Err(GainsError::Overflow { .. }) => {}
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}
