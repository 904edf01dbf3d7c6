//! The gains files (gains.md "Files written"), to any `io::Write`. Atomic placement on disk is
//! the caller's (see `export::csv::write_atomic`).
//!
//! Money in rows is rounded half to even to 10 decimals ([`r10`], the engine's own rounding:
//! disposal rows are rounded by the engine, the other files' money here); the summary and
//! Form 8949 once to 2 decimals.

use super::lots::r10;
use super::{
    DisposalRow, Form8949Row, GainsOptions, HoldingRow, IncomeMonth, IncomeRow, MarginRow,
    SummaryRow,
};
use rust_decimal::{Decimal, RoundingStrategy};
use std::io::{self, Write};

/// `gains-disposals-Y-CCY-M.csv` columns.
pub const DISPOSAL_COLUMNS: [&str; 18] = [
    "time_utc",
    "account",
    "ledger_id",
    "refid",
    "crypto_asset",
    "disposal_kind",
    "units",
    "proceeds",
    "cost",
    "fees",
    "gain",
    "acquired_utc",
    "acquired_ledger_id",
    "holding_days",
    "term",
    "rule",
    "cost_source",
    "note",
];

/// `gains-income-Y-CCY.csv` columns.
pub const INCOME_COLUMNS: [&str; 12] = [
    "time_utc",
    "account",
    "ledger_id",
    "refid",
    "kraken_type",
    "kraken_subtype",
    "crypto_asset",
    "units",
    "value",
    "price",
    "price_source",
    "kind",
];

/// `gains-income-months-Y-CCY.csv` columns: the income file totalled per asset, month (in
/// the period's time zone) and kind.
pub const INCOME_MONTH_COLUMNS: [&str; 9] = [
    "period",
    "month",
    "crypto_asset",
    "kind",
    "rows",
    "units",
    "value",
    "unpriced_rows",
    "currency",
];

/// `gains-margin-Y-CCY.csv` columns (gains.md leaves them to us: one row per margin entry
/// with its realised profit or loss in its own asset and its value in the currency).
pub const MARGIN_COLUMNS: [&str; 11] = [
    "time_utc",
    "account",
    "ledger_id",
    "refid",
    "kraken_type",
    "kraken_subtype",
    "asset",
    "amount",
    "fee",
    "value",
    "price_source",
];

/// `holdings-Y-CCY-M.csv` columns.
pub const HOLDING_COLUMNS: [&str; 12] = [
    "period",
    "account",
    "crypto_asset",
    "units_start",
    "units_end",
    "cost_end",
    "unknown_cost_units",
    "moved_out_units",
    "price_end",
    "value_end",
    "method",
    "currency",
];

/// `gains-summary-Y-CCY-M.csv` columns.
pub const SUMMARY_COLUMNS: [&str; 18] = [
    "period",
    "accounts",
    "crypto_asset",
    "disposals",
    "proceeds",
    "cost",
    "fees",
    "gains",
    "losses",
    "net_gain",
    "short_net",
    "long_net",
    "exempt_net",
    "income",
    "unknown_cost_disposals",
    "unpriced_disposals",
    "method",
    "currency",
];

/// `form8949-Y-CCY.csv` columns (`us`): Form 8949 (a), (b), (c), (d), (e), (f), (g), (h).
pub const FORM8949_COLUMNS: [&str; 9] = [
    "part",
    "description",
    "date_acquired",
    "date_sold",
    "proceeds",
    "cost_basis",
    "code",
    "adjustment",
    "gain_or_loss",
];

fn err(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as every file of the tool writes times.
pub use crate::export::format_time;

fn num(d: Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// Computed figures without trailing zeros (`4.0` → `4`).
fn norm(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string()).unwrap_or_default()
}

/// Summary money: once, half to even, 2 decimals (also the printed table and `--json`).
pub(crate) fn money2(d: Option<Decimal>) -> String {
    d.map(|d| {
        let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        r.rescale(2);
        r.to_string()
    })
    .unwrap_or_default()
}

/// The columns that name a ledger leg, as the income and margin files begin: time_utc,
/// account, ledger_id, refid, kraken_type, kraken_subtype, crypto_asset, units.
fn leg_columns(l: &super::GainsLeg<'_>) -> [String; 8] {
    [
        format_time(l.time),
        l.account.to_owned(),
        l.ledger_id.to_owned(),
        l.refid.to_owned(),
        l.kraken_type.to_owned(),
        l.kraken_subtype.to_owned(),
        l.asset.to_owned(),
        l.units.to_string(),
    ]
}

fn writer<W: Write>(out: W, header: &[&str]) -> io::Result<csv::Writer<W>> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header).map_err(err)?;
    Ok(w)
}

/// Writes the disposals file.
pub fn write_disposals<W: Write>(out: W, rows: &[DisposalRow<'_>]) -> io::Result<()> {
    let mut w = writer(out, &DISPOSAL_COLUMNS)?;
    for r in rows {
        w.write_record([
            format_time(r.leg.time),
            r.leg.account.to_owned(),
            r.leg.ledger_id.to_owned(),
            r.leg.refid.to_owned(),
            r.leg.asset.to_owned(),
            r.kind.as_str().to_owned(),
            r.units.normalize().to_string(),
            norm(r.proceeds),
            norm(r.cost),
            norm(r.fees),
            norm(r.gain),
            r.acquired.map(format_time).unwrap_or_default(),
            r.acquired_ledger_id.unwrap_or_default().to_owned(),
            r.holding_days.map(|d| d.to_string()).unwrap_or_default(),
            r.term.map(|t| t.as_str()).unwrap_or_default().to_owned(),
            r.rule.as_str().to_owned(),
            r.cost_source.as_str().to_owned(),
            r.note.to_owned(),
        ])
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the income file.
pub fn write_income<W: Write>(out: W, rows: &[IncomeRow<'_>]) -> io::Result<()> {
    let mut w = writer(out, &INCOME_COLUMNS)?;
    for r in rows {
        w.write_record(leg_columns(r.leg).into_iter().chain([
            num(r.value),
            num(r.price),
            r.leg.price_source.to_owned(),
            r.kind.as_str().to_owned(),
        ]))
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the income months file (`rows` from [`super::income_by_month`]); `value` is empty
/// when no row of the month had a value.
pub fn write_income_months<W: Write>(
    out: W,
    rows: &[IncomeMonth],
    opts: &GainsOptions,
) -> io::Result<()> {
    let mut w = writer(out, &INCOME_MONTH_COLUMNS)?;
    for r in rows {
        w.write_record([
            opts.period.label.clone(),
            r.month.clone(),
            r.asset.clone(),
            r.kind.as_str().to_owned(),
            r.legs.to_string(),
            r.units.to_string(),
            num((r.unpriced < r.legs).then_some(r.value)),
            r.unpriced.to_string(),
            opts.currency.clone(),
        ])
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the margin file.
pub fn write_margin<W: Write>(out: W, rows: &[MarginRow<'_>]) -> io::Result<()> {
    let mut w = writer(out, &MARGIN_COLUMNS)?;
    for r in rows {
        w.write_record(leg_columns(r.leg).into_iter().chain([
            r.leg.fee_units.to_string(),
            num(r.leg.value.map(r10)),
            r.leg.price_source.to_owned(),
        ]))
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the holdings file.
pub fn write_holdings<W: Write>(
    out: W,
    rows: &[HoldingRow],
    opts: &GainsOptions,
) -> io::Result<()> {
    let mut w = writer(out, &HOLDING_COLUMNS)?;
    for r in rows {
        w.write_record([
            opts.period.label.clone(),
            r.account.clone(),
            r.asset.clone(),
            r.units_start.normalize().to_string(),
            r.units_end.normalize().to_string(),
            r10(r.cost_end).normalize().to_string(),
            r.unknown_cost_units.normalize().to_string(),
            r.moved_out_units.normalize().to_string(),
            num(r.price_end),
            norm(r.value_end.map(r10)),
            opts.method.as_str().to_owned(),
            opts.currency.clone(),
        ])
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the summary file (money rounded once to 2 decimals, half to even).
pub fn write_summary<W: Write>(out: W, rows: &[SummaryRow], opts: &GainsOptions) -> io::Result<()> {
    let mut w = writer(out, &SUMMARY_COLUMNS)?;
    for r in rows {
        w.write_record([
            opts.period.label.clone(),
            opts.accounts.clone(),
            r.asset.clone(),
            r.disposals.to_string(),
            money2(r.proceeds),
            money2(r.cost),
            money2(r.fees),
            money2(Some(r.gains)),
            money2(Some(r.losses)),
            money2(Some(r.net_gain)),
            money2(r.short_net),
            money2(r.long_net),
            money2(r.exempt_net),
            money2(Some(r.income)),
            r.unknown_cost_disposals.to_string(),
            r.unpriced_disposals.to_string(),
            opts.method.as_str().to_owned(),
            opts.currency.clone(),
        ])
        .map_err(err)?;
    }
    w.flush()
}

/// Writes the Form 8949 file (`us`).
pub fn write_form8949<W: Write>(out: W, rows: &[Form8949Row]) -> io::Result<()> {
    let mut w = writer(out, &FORM8949_COLUMNS)?;
    for r in rows {
        w.write_record([
            r.part.to_owned(),
            r.description.clone(),
            r.date_acquired.map(|d| d.to_string()).unwrap_or_default(),
            r.date_sold.to_string(),
            money2(r.proceeds),
            money2(r.cost_basis),
            String::new(),
            String::new(),
            money2(r.gain),
        ])
        .map_err(err)?;
    }
    w.flush()
}
