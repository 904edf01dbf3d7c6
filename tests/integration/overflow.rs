//! Numbers at the edge of the decimal range: the valuation and the summary report them as out
//! of range instead of panicking (issue 14, item 9). Import refuses such numbers (see
//! `domain::parse_amount`); these pieces are public and must hold on their own.

use chrono::{DateTime, Utc};
use kraken_tax::domain::Element;
use kraken_tax::export::{TransactionRow, summarize};
use kraken_tax::normalize::events::{Exchange, Side};
use kraken_tax::pricing::{LegToValue, LegValue, LegValuer, PriceSource, Quote};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;

const MAX: Decimal = Decimal::MAX;
const T: i64 = 1_704_067_200_000_000;

/// Fixed prices by (base, quote).
struct Fixed(HashMap<(&'static str, &'static str), Decimal>);

impl PriceSource for Fixed {
    fn price(&mut self, base: &str, quote: &str, at_us: i64) -> Option<Quote> {
        self.0.get(&(base, quote)).map(|&price| Quote {
            price,
            time_us: at_us,
            label: format!("test:{base}{quote}"),
        })
    }
}

fn leg<'a>(
    asset: &'a str,
    amount: Decimal,
    fee: Decimal,
    element: Element,
    ex: Option<&'a Exchange>,
) -> LegToValue<'a> {
    LegToValue {
        ledger_id: "L1",
        time_us: T,
        asset,
        amount,
        fee,
        element,
        event_id: "E1",
        exchange: ex,
        fee_credits: Decimal::ZERO,
    }
}

fn value(prices: &[((&'static str, &'static str), Decimal)], leg: &LegToValue<'_>) -> LegValue {
    let mut src = Fixed(prices.iter().copied().collect());
    let mut sources: [&mut dyn PriceSource; 1] = [&mut src];
    LegValuer::new("EUR", &mut sources).value(leg)
}

fn side(asset: &str, is_fiat: bool, amount: Decimal, fee: Decimal) -> Side {
    Side {
        asset: asset.into(),
        is_fiat,
        amount,
        fee,
    }
}

fn out_of_range(units: &str, asset: &str) -> LegValue {
    LegValue::Unpriced(format!(
        "the value of {units} {asset} (ledger L1) is beyond the range of a decimal number"
    ))
}

#[test]
fn values_beyond_the_decimal_range_are_unpriced_with_the_reason() {
    let btc = [(("BTC", "EUR"), dec!(2))];
    let deposit = Element::CryptoTransferIn;
    // The largest decimal times a price.
    assert_eq!(
        value(&btc, &leg("BTC", MAX, dec!(0), deposit, None)),
        out_of_range("79228162514264337593543950335", "BTC")
    );
    // A fee of that size.
    assert_eq!(
        value(&btc, &leg("BTC", dec!(1), MAX, deposit, None)),
        out_of_range("1", "BTC")
    );
    // Value and fee each fit, their sum (the gross amount of an acquisition) does not. (A
    // transfer's amount is the units' value alone, so this needs an exchange element.)
    let half = dec!(50000000000000000000000000000);
    assert_eq!(
        value(
            &[(("BTC", "EUR"), dec!(1))],
            &leg("BTC", half, half, Element::CryptoFiatIn, None)
        ),
        out_of_range("50000000000000000000000000000", "BTC")
    );
    // A purchase against a fiat leg of the largest size, with a fee as large.
    let ex = Exchange {
        sides: vec![
            side("BTC", false, dec!(1), dec!(0)),
            side("EUR", true, -MAX, MAX),
        ],
    };
    assert_eq!(
        value(
            &[],
            &leg("BTC", dec!(1), dec!(0), Element::CryptoFiatIn, Some(&ex))
        ),
        out_of_range("1", "BTC")
    );
    // The same in another currency: the rate multiplies it further.
    let usd = Exchange {
        sides: vec![
            side("BTC", false, dec!(0.000000000000000001), dec!(0)),
            side("USD", true, -half, dec!(0)),
        ],
    };
    assert_eq!(
        value(
            &[(("USD", "EUR"), dec!(3))],
            &leg(
                "BTC",
                dec!(0.000000000000000001),
                dec!(0),
                Element::CryptoFiatIn,
                Some(&usd)
            )
        ),
        out_of_range("0.000000000000000001", "BTC")
    );
    // A swap valued from its other side, spread over a tiny amount: the price overflows.
    let swap = Exchange {
        sides: vec![
            side("BTC", false, dec!(-1), dec!(0)),
            side("ETH", false, dec!(0.000000000000000001), dec!(0)),
        ],
    };
    assert_eq!(
        value(
            &[(("BTC", "EUR"), half)],
            &leg(
                "ETH",
                dec!(0.000000000000000001),
                dec!(0),
                Element::CryptoToCryptoIn,
                Some(&swap)
            )
        ),
        out_of_range("0.000000000000000001", "ETH")
    );
    // A route via USD whose chained price does not fit is no route: unpriced, no panic.
    let v = value(
        &[(("DOGE", "USD"), half), (("USD", "EUR"), dec!(3))],
        &leg("DOGE", dec!(1), dec!(0), deposit, None),
    );
    assert!(
        matches!(&v, LegValue::Unpriced(why) if why.starts_with("no price for DOGE in EUR")),
        "{v:?}"
    );
    // An amount of 1e-28 is valued (to 12 decimals) without trouble.
    let v = value(
        &btc,
        &leg(
            "BTC",
            dec!(0.0000000000000000000000000001),
            dec!(0),
            deposit,
            None,
        ),
    );
    assert_eq!(v.priced().map(|p| p.amount_net), Some(dec!(0)));
}

fn row(ledger_id: &str, units: Decimal, amount: Option<Decimal>) -> TransactionRow {
    TransactionRow {
        time: DateTime::<Utc>::from_timestamp_micros(T).unwrap(),
        account: "a".into(),
        ledger_id: ledger_id.into(),
        refid: "R".into(),
        kraken_type: "deposit".into(),
        kraken_subtype: String::new(),
        kraken_asset: "XXBT".into(),
        crypto_asset: "BTC".into(),
        element: Element::CryptoTransferIn,
        type_code: None,
        transfer_wallet: false,
        units,
        fee_units: dec!(0),
        amount_gross: amount,
        fee_amount: amount.map(|_| dec!(0)),
        amount,
        price: amount.map(|_| dec!(1)),
        price_source: "kraken:XXBTZEUR".into(),
        counter_asset: None,
        counter_units: None,
        note: String::new(),
    }
}

#[test]
fn summary_totals_beyond_the_decimal_range_are_an_error() {
    let half = dec!(50000000000000000000000000000);
    // Two rows of 5e28 units.
    let e = summarize(
        &[row("L1", half, None), row("L2", half, None)],
        str::to_owned,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the units of BTC CryptoTransferIn add up beyond the range of a decimal number at ledger L2"
    );
    // Two amounts of 5e28.
    let e = summarize(
        &[
            row("L1", dec!(1), Some(half)),
            row("L2", dec!(1), Some(half)),
        ],
        str::to_owned,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the amounts of BTC CryptoTransferIn add up beyond the range of a decimal number at ledger L2"
    );
    // Up to the limit, the sums are exact.
    let rows = summarize(
        &[
            row("L1", half, Some(half)),
            row("L2", dec!(1), Some(dec!(1))),
        ],
        str::to_owned,
    )
    .unwrap();
    assert_eq!(rows[0].number_of_units, half + dec!(1));
    assert_eq!(rows[0].amount_unrounded, half + dec!(1));
}
