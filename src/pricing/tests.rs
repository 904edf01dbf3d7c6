//! Unit tests of the pure valuation, on hand-made events and price tables.

use super::book::PriceBook;
use super::value::{LegToValue, LegValue, PriceSource, Priced, value_legs};
use crate::domain::Element;
use crate::normalize::events::{Exchange, Side};
use crate::store::PriceRow;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const T: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

fn row(pair: &str, base: &str, quote: &str, t: i64, price: Decimal) -> PriceRow {
    PriceRow {
        source: "kraken".into(),
        pair: pair.into(),
        base: base.into(),
        quote: quote.into(),
        price,
        time_us: t,
        time_text: String::new(),
    }
}

fn book(rows: Vec<PriceRow>) -> PriceBook {
    PriceBook::from_rows(rows, super::book::KRAKEN_MAX_GAP_US)
}

fn side(asset: &str, is_fiat: bool, amount: Decimal, fee: Decimal) -> Side {
    Side {
        asset: asset.into(),
        is_fiat,
        amount,
        fee,
    }
}

fn leg<'a>(
    id: &'a str,
    asset: &'a str,
    amount: Decimal,
    fee: Decimal,
    element: Element,
    event: &'a str,
    ex: Option<&'a Exchange>,
) -> LegToValue<'a> {
    LegToValue {
        ledger_id: id,
        time_us: T,
        asset,
        amount,
        fee,
        element,
        event_id: event,
        exchange: ex,
        fee_credits: Decimal::ZERO,
    }
}

fn priced(v: &LegValue) -> &Priced {
    v.priced().unwrap_or_else(|| panic!("not priced: {v:?}"))
}

/// Counts lookups, to show a swap is valued once.
struct Counting(PriceBook, u32);
impl PriceSource for Counting {
    fn price(&mut self, b: &str, q: &str, t: i64) -> Option<super::Quote> {
        self.1 += 1;
        self.0.price(b, q, t)
    }
}

#[test]
fn eur_trade_is_valued_from_its_own_fiat_leg() {
    // Buy 0.5 BTC for 21000.00 EUR, fee 33.60 EUR.
    let ex = Exchange {
        sides: vec![
            side("BTC", false, dec!(0.5), dec!(0)),
            side("EUR", true, dec!(-21000.00), dec!(33.60)),
        ],
    };
    let legs = [leg(
        "L1",
        "BTC",
        dec!(0.5),
        dec!(0),
        Element::CryptoFiatIn,
        "T1",
        Some(&ex),
    )];
    let mut empty = book(vec![]);
    let v = value_legs(&legs, "EUR", &mut [&mut empty]);
    let p = priced(&v[0]);
    assert_eq!(p.source, "trade:EUR");
    assert_eq!(p.price, dec!(42000));
    assert_eq!(p.price_time_us, T);
    assert_eq!(p.amount_net, dec!(21000.00));
    assert_eq!(p.fee_amount, dec!(33.60));
    // Acquisition: gross includes the fee, and net and gross differ by exactly the fee.
    assert_eq!(p.amount_gross, dec!(21033.60));
    assert_eq!(p.amount_gross - p.amount_net, p.fee_amount);
}

#[test]
fn disposal_net_is_after_fees() {
    let ex = Exchange {
        sides: vec![
            side("ETH", false, dec!(-2), dec!(0)),
            side("EUR", true, dec!(4600.00), dec!(11.96)),
        ],
    };
    let legs = [leg(
        "L1",
        "ETH",
        dec!(-2),
        dec!(0),
        Element::CryptoFiatOut,
        "T1",
        Some(&ex),
    )];
    let v = value_legs(&legs, "EUR", &mut [&mut book(vec![])]);
    let p = priced(&v[0]);
    assert_eq!(
        (p.amount_gross, p.amount_net, p.fee_amount),
        (dec!(4600.00), dec!(4588.04), dec!(11.96))
    );
}

#[test]
fn usd_trade_is_valued_in_eur_through_fx() {
    let ex = Exchange {
        sides: vec![
            side("BTC", false, dec!(0.1), dec!(0)),
            side("USD", true, dec!(-4400.00), dec!(11.00)),
        ],
    };
    let fx_time = T - 30_000_000;
    let mut k = book(vec![
        row("ZEURZUSD", "EUR", "USD", fx_time, dec!(1.1)),
        row("XXBTZEUR", "BTC", "EUR", T, dec!(99999)), // never used: the trade's own price wins
    ]);
    let legs = [leg(
        "L1",
        "BTC",
        dec!(0.1),
        dec!(0),
        Element::CryptoFiatIn,
        "T1",
        Some(&ex),
    )];
    let v = value_legs(&legs, "EUR", &mut [&mut k]);
    let p = priced(&v[0]);
    assert_eq!(p.source, "fx:kraken");
    assert_eq!(p.price_time_us, fx_time);
    // 4400 USD / 1.1 = 4000 EUR; fee 11 USD = 10 EUR.
    assert_eq!(p.amount_net, dec!(4000.0000000000000));
    assert_eq!(p.fee_amount, dec!(10.0000000000));
    assert_eq!(p.price, dec!(40000));
}

#[test]
fn swap_is_valued_once_from_the_better_priced_leg() {
    // Give 1 BTC, receive 20 ETH. BTC has a EUR pair; ETH only a BTC pair.
    let ex = Exchange {
        sides: vec![
            side("BTC", false, dec!(-1), dec!(0.0026)),
            side("ETH", false, dec!(20), dec!(0)),
        ],
    };
    let mut k = Counting(
        book(vec![
            row("XXBTZEUR", "BTC", "EUR", T - 5_000_000, dec!(42000)),
            row("XETHXXBT", "ETH", "BTC", T, dec!(0.049)),
        ]),
        0,
    );
    let legs = [
        leg(
            "L1",
            "BTC",
            dec!(-1),
            dec!(0.0026),
            Element::CryptoToCryptoOut,
            "T9",
            Some(&ex),
        ),
        leg(
            "L2",
            "ETH",
            dec!(20),
            dec!(0),
            Element::CryptoToCryptoIn,
            "T9",
            Some(&ex),
        ),
    ];
    let v = value_legs(&legs, "EUR", &mut [&mut k]);
    let (out, inn) = (priced(&v[0]), priced(&v[1]));
    assert_eq!(out.source, "kraken:XXBTZEUR");
    assert_eq!(inn.source, "kraken:XXBTZEUR");
    assert_eq!(out.price_time_us, T - 5_000_000);
    assert_eq!(out.amount_gross, dec!(42000));
    assert_eq!(inn.amount_net, dec!(42000));
    assert_eq!(inn.price, dec!(2100));
    // The disposal's fee (0.0026 BTC) at 42000: net = gross - 109.2.
    assert_eq!(out.fee_amount, dec!(109.2000));
    assert_eq!(out.amount_net, dec!(41890.8000));
    let lookups = k.1;
    // Valued once: the second leg needed no lookup.
    let mut k2 = Counting(k.0, 0);
    value_legs(&legs[..1], "EUR", &mut [&mut k2]);
    assert_eq!(lookups, k2.1);
}

#[test]
fn staking_reward_is_valued_via_usd_or_btc_without_a_direct_pair() {
    let reward = [leg(
        "L1",
        "DOT",
        dec!(2.5),
        dec!(0),
        Element::CryptoTransferIn,
        "R1",
        None,
    )];
    let mut via_usd = book(vec![
        row("DOTUSD", "DOT", "USD", T - 1_000_000, dec!(8.8)),
        row("ZEURZUSD", "EUR", "USD", T, dec!(1.1)),
    ]);
    let v = value_legs(&reward, "EUR", &mut [&mut via_usd]);
    let p = priced(&v[0]);
    assert_eq!(p.source, "kraken:DOTUSD+kraken:ZEURZUSD");
    assert_eq!(p.price, dec!(8));
    assert_eq!(p.amount_net, dec!(20.0));
    assert_eq!(p.price_time_us, T - 1_000_000);

    let mut via_btc = book(vec![
        row("DOTXBT", "DOT", "BTC", T, dec!(0.0002)),
        row("XXBTZGBP", "BTC", "GBP", T, dec!(35000)),
    ]);
    let v = value_legs(&reward, "GBP", &mut [&mut via_btc]);
    let p = priced(&v[0]);
    assert_eq!(p.source, "kraken:DOTXBT+kraken:XXBTZGBP");
    assert_eq!(p.price, dec!(7));
    assert_eq!(p.amount_net, dec!(17.5));
}

#[test]
fn no_price_means_unpriced_and_imports_come_after_kraken() {
    let reward = [leg(
        "L7",
        "SOL",
        dec!(1),
        dec!(0),
        Element::CryptoTransferIn,
        "R1",
        None,
    )];
    let mut k = book(vec![row("XXBTZEUR", "BTC", "EUR", T, dec!(42000))]);
    let v = value_legs(&reward, "EUR", &mut [&mut k]);
    assert_eq!(
        v[0],
        LegValue::Unpriced(
            "no price for SOL in EUR at 2024-01-01T00:00:00+00:00 (ledger L7)".into()
        )
    );
    // A price too far away is no price either.
    let mut far = book(vec![row(
        "SOLEUR",
        "SOL",
        "EUR",
        T - 25 * 3600 * 1_000_000,
        dec!(90),
    )]);
    assert!(matches!(
        value_legs(&reward, "EUR", &mut [&mut far])[0],
        LegValue::Unpriced(_)
    ));
    let mut imp = PriceBook::from_rows(
        vec![PriceRow {
            source: "import:SOLEUR_1440.csv".into(),
            ..row("SOLEUR", "SOL", "EUR", T + 3_600_000_000, dec!(95))
        }],
        super::book::IMPORT_MAX_GAP_US,
    );
    let v = value_legs(&reward, "EUR", &mut [&mut k, &mut imp]);
    let p = priced(&v[0]);
    assert_eq!(
        (p.source.as_str(), p.price),
        ("import:SOLEUR_1440.csv", dec!(95))
    );
}

#[test]
fn internal_and_fiat_legs_need_no_value() {
    let legs = [
        leg(
            "L1",
            "DOT",
            dec!(-5),
            dec!(0),
            Element::Internal,
            "R1",
            None,
        ),
        leg(
            "L2",
            "EUR",
            dec!(100),
            dec!(0),
            Element::NotReportable,
            "Q1",
            None,
        ),
    ];
    let v = value_legs(&legs, "EUR", &mut [&mut book(vec![])]);
    assert_eq!(v, vec![LegValue::NotNeeded, LegValue::NotNeeded]);
}

#[test]
fn several_crypto_legs_share_the_fiat_leg_by_market_value() {
    // A dust sweep: 1 DOT (8 EUR) and 10 ADA (5 EUR) for 12.35 EUR, fee 0.65 EUR.
    let ex = Exchange {
        sides: vec![
            side("DOT", false, dec!(-1), dec!(0)),
            side("ADA", false, dec!(-10), dec!(0)),
            side("EUR", true, dec!(13.00), dec!(0.65)),
        ],
    };
    let mut k = book(vec![
        row("DOTEUR", "DOT", "EUR", T, dec!(8)),
        row("ADAEUR", "ADA", "EUR", T, dec!(0.5)),
    ]);
    let legs = [
        leg(
            "L1",
            "DOT",
            dec!(-1),
            dec!(0),
            Element::CryptoFiatOut,
            "D1",
            Some(&ex),
        ),
        leg(
            "L2",
            "ADA",
            dec!(-10),
            dec!(0),
            Element::CryptoFiatOut,
            "D1",
            Some(&ex),
        ),
    ];
    let v = value_legs(&legs, "EUR", &mut [&mut k]);
    let (a, b) = (priced(&v[0]), priced(&v[1]));
    assert_eq!(
        (a.source.as_str(), b.source.as_str()),
        ("trade:EUR", "trade:EUR")
    );
    assert_eq!(a.amount_gross + b.amount_gross, dec!(13.00));
    assert_eq!(a.amount_gross, dec!(8.00));
    assert_eq!(b.fee_amount, dec!(0.25));
}

#[test]
fn every_reporting_currency_is_supported() {
    let reward = [leg(
        "L1",
        "BTC",
        dec!(1),
        dec!(0),
        Element::CryptoTransferIn,
        "R1",
        None,
    )];
    for (ccy, pair) in [
        ("EUR", "XXBTZEUR"),
        ("USD", "XXBTZUSD"),
        ("GBP", "XXBTZGBP"),
        ("CHF", "XBTCHF"),
        ("CAD", "XXBTZCAD"),
        ("AUD", "XBTAUD"),
        ("JPY", "XXBTZJPY"),
    ] {
        let mut k = book(vec![row(pair, "BTC", ccy, T, dec!(100))]);
        let v = value_legs(&reward, ccy, &mut [&mut k]);
        assert_eq!(priced(&v[0]).source, format!("kraken:{pair}"), "{ccy}");
    }
}

#[test]
fn a_withdrawal_is_the_value_of_the_units_whatever_the_fee() {
    // The audit's case: 0.00032686 BTC withdrawn, fee 0.00025 BTC on top, BTC at 30,686.04
    // EUR: EUR 10.03 transferred (not 10.03 - 7.67 = 2.36).
    let out = [leg(
        "W1",
        "BTC",
        dec!(-0.00032686),
        dec!(0.00025),
        Element::CryptoTransferOut,
        "W1",
        None,
    )];
    let mut b = book(vec![row("XXBTZEUR", "BTC", "EUR", T, dec!(30686.04))]);
    let v = value_legs(&out, "EUR", &mut [&mut b]);
    let p = priced(&v[0]);
    assert_eq!(p.amount_net, dec!(10.0300390344));
    assert_eq!(p.amount_gross, p.amount_net);
    assert_eq!(p.fee_amount, dec!(7.67151));
    // A deposit or reward with a fee: the same rule.
    let inn = [leg(
        "D1",
        "BTC",
        dec!(0.5),
        dec!(0.001),
        Element::CryptoTransferIn,
        "D1",
        None,
    )];
    let p = priced(&value_legs(&inn, "EUR", &mut [&mut b])[0]).clone();
    assert_eq!(
        (p.amount_gross, p.amount_net, p.fee_amount),
        (dec!(15343.02), dec!(15343.02), dec!(30.68604))
    );
}

#[test]
fn a_fee_paid_with_kfee_is_valued_at_a_cent_per_credit() {
    // Buy 2 SOL for 200 EUR; the fee, 52 KFEE credits = 0.52 USD, at EURUSD 1.25 = 0.416 EUR.
    let ex = Exchange {
        sides: vec![
            side("EUR", true, dec!(-200.0000), dec!(0)),
            side("SOL", false, dec!(2), dec!(0)),
        ],
    };
    let mut l = leg(
        "L2",
        "SOL",
        dec!(2),
        dec!(0),
        Element::CryptoFiatIn,
        "T1",
        Some(&ex),
    );
    l.fee_credits = dec!(52.00);
    let mut b = book(vec![row("ZEURZUSD", "EUR", "USD", T, dec!(1.25))]);
    let p = priced(&value_legs(&[l], "EUR", &mut [&mut b])[0]).clone();
    assert_eq!(
        (p.amount_net, p.fee_amount, p.amount_gross),
        (dec!(200.0000), dec!(0.416), dec!(200.416))
    );
    // In USD no rate is needed; a disposal's net is after the fee.
    let ex = Exchange {
        sides: vec![
            side("USD", true, dec!(300.00), dec!(0)),
            side("SOL", false, dec!(-2), dec!(0)),
        ],
    };
    let mut l = leg(
        "L3",
        "SOL",
        dec!(-2),
        dec!(0),
        Element::CryptoFiatOut,
        "T2",
        Some(&ex),
    );
    l.fee_credits = dec!(100);
    let p = priced(&value_legs(&[l], "USD", &mut [&mut book(vec![])])[0]).clone();
    assert_eq!(
        (p.amount_gross, p.fee_amount, p.amount_net),
        (dec!(300.00), dec!(1.00), dec!(299.00))
    );
    // No USD rate: unpriced with the reason, never a fee left out silently.
    let v = value_legs(&[l], "EUR", &mut [&mut book(vec![])]);
    match &v[0] {
        LegValue::Unpriced(why) => {
            assert!(why.contains("to value the fee paid with 100 KFEE"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_price_plan_fetches_the_usd_rate_for_kfee_fees() {
    use crate::domain::{AssetInfo, PairInfo};
    let pair = |p: &str, b: &str, q: &str| PairInfo {
        pair: p.into(),
        altname: p.into(),
        wsname: None,
        base: b.into(),
        quote: q.into(),
    };
    let markets = super::Markets::new(
        &[
            pair("XXBTZEUR", "XXBT", "ZEUR"),
            pair("ZEURZUSD", "ZEUR", "ZUSD"),
        ],
        &[] as &[AssetInfo],
    );
    let ex = Exchange {
        sides: vec![
            side("EUR", true, dec!(-100), dec!(0)),
            side("BTC", false, dec!(0.002), dec!(0)),
        ],
    };
    let mut l = leg(
        "L1",
        "BTC",
        dec!(0.002),
        dec!(0),
        Element::CryptoFiatIn,
        "T1",
        Some(&ex),
    );
    // Valued from its own EUR leg: no market price needed...
    assert!(super::fetch::plan(&[l], "EUR", &markets).is_empty());
    // ...but a fee paid with KFEE needs the USD rate at that minute.
    l.fee_credits = dec!(40);
    let plan = super::fetch::plan(&[l], "EUR", &markets);
    assert_eq!(
        plan.into_iter().collect::<Vec<_>>(),
        [(
            "ZEURZUSD".to_owned(),
            [T / 60_000_000].into_iter().collect()
        )]
    );
    // In USD itself, the credits need no rate: the same plan as without them.
    let mut without = l;
    without.fee_credits = Decimal::ZERO;
    assert_eq!(
        super::fetch::plan(&[l], "USD", &markets),
        super::fetch::plan(&[without], "USD", &markets)
    );
}
