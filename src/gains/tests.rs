//! Tests of the gains engine: HMRC's worked examples (golden), a hand-worked example per
//! method, fees, transfers, unknown costs, periods, rounding, the files, and properties.

use super::csv::*;
use super::*;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::str::FromStr;

mod hmrc;
mod methods;
mod props;
mod schemas;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A leg with no fee, account `main`, refid = ledger id.
pub(super) fn leg(
    time: &str,
    id: &'static str,
    asset: &'static str,
    kind: LegKind,
    units: &str,
    value: Option<&str>,
) -> GainsLeg<'static> {
    GainsLeg {
        time: t(time),
        account: "main",
        ledger_id: id,
        refid: id,
        kraken_type: "trade",
        kraken_subtype: "",
        asset,
        kind,
        units: d(units),
        value: value.map(d),
        price_source: "trade:GBP",
        fee_units: Decimal::ZERO,
        fee_value: None,
        other_fee: None,
    }
}

pub(super) fn buy(
    time: &str,
    id: &'static str,
    asset: &'static str,
    units: &str,
    value: &str,
) -> GainsLeg<'static> {
    leg(time, id, asset, LegKind::Acquisition, units, Some(value))
}

pub(super) fn sell(
    time: &str,
    id: &'static str,
    asset: &'static str,
    units: &str,
    value: &str,
) -> GainsLeg<'static> {
    leg(
        time,
        id,
        asset,
        LegKind::Disposal(DisposalKind::Sale),
        units,
        Some(value),
    )
}

pub(super) fn options(method: Method, period: Period) -> GainsOptions {
    GainsOptions {
        method,
        lots: LotPick::Fifo,
        swap_fee: SwapFee::Leg,
        unknown_cost: UnknownCost::Empty,
        period,
        currency: "GBP".into(),
        accounts: "main".into(),
    }
}

pub(super) fn year(y: i32) -> Period {
    Period::calendar_year(y, Tz::UTC).unwrap()
}

/// Sum of a column over the rows of one ledger id.
pub(super) fn col(
    r: &GainsReport<'_>,
    id: &str,
    f: impl Fn(&DisposalRow<'_>) -> Option<Decimal>,
) -> Decimal {
    r.disposals
        .iter()
        .filter(|x| x.leg.ledger_id == id)
        .map(|x| f(x).unwrap())
        .sum()
}

pub(super) fn holding<'r>(r: &'r GainsReport<'_>, asset: &str) -> &'r HoldingRow {
    r.holdings.iter().find(|h| h.asset == asset).unwrap()
}

pub(super) fn summary<'r>(r: &'r GainsReport<'_>, asset: &str) -> &'r SummaryRow {
    r.summary.iter().find(|s| s.asset == asset).unwrap()
}

pub(super) fn csv_text(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut v = Vec::new();
    f(&mut v).unwrap();
    String::from_utf8(v).unwrap()
}
