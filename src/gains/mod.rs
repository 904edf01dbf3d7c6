//! Gains, income and holdings (gains.md): the pure engine.
//!
//! Input: the whole history of the selected accounts as a time-ordered slice of
//! [`GainsLeg`]s — already classified (carf.md) and valued in the reporting currency. The
//! engine never touches SQLite, the CLI or the classification: an adapter builds the legs
//! from the derived, classified and valued legs, and [`compute`] returns the rows of the
//! five files (plus Form 8949 rows for `us`), which [`csv`] writes, with the income months
//! file ([`income_by_month`]).
//!
//! Matching runs over every leg whatever the period; only the output is filtered to the
//! period ([`Period`]), so a 2025 disposal matches a 2019 lot.

pub mod adapter;
pub mod basis;
pub mod csv;
mod engine;
mod lots;
mod period;
pub mod run;
#[cfg(test)]
mod tests;
mod uk;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::fmt;

pub use engine::compute;
pub use period::{Period, TaxYear};
pub use run::{Accounts, GainsOutcome, GainsPlan, RunError};

/// What a disposal was made for (gains.md `disposal_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisposalKind {
    /// For fiat (`CryptoFiatOut`).
    Sale,
    /// For another crypto-asset (`CryptoToCryptoOut`).
    Swap,
    /// A payment for goods or services (`RRPT`).
    Payment,
    /// Fee units paid in a crypto-asset (never given in the input: the engine derives these
    /// from a leg's `fee_units`).
    Fee,
}

impl DisposalKind {
    /// `sale`, `swap`, `payment`, `fee`.
    pub fn as_str(self) -> &'static str {
        match self {
            DisposalKind::Sale => "sale",
            DisposalKind::Swap => "swap",
            DisposalKind::Payment => "payment",
            DisposalKind::Fee => "fee",
        }
    }
}

/// What an income credit was (gains.md income `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncomeKind {
    /// Staking rewards (`staking` credits, CARF502).
    Staking,
    /// Earn rewards (`earn` subtype `reward`).
    Earn,
    /// Airdrops and fork credits (CARF501).
    Airdrop,
    /// Other rewards (`reward`, bonuses).
    Reward,
    /// Any other income credit (CARF508).
    Other,
}

impl IncomeKind {
    /// `staking`, `earn`, `airdrop`, `reward`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncomeKind::Staking => "staking",
            IncomeKind::Earn => "earn",
            IncomeKind::Airdrop => "airdrop",
            IncomeKind::Reward => "reward",
            IncomeKind::Other => "other",
        }
    }
}

/// A cost supplied for a deposit from elsewhere (`kraken-tax basis import`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Basis {
    /// Total cost of the deposited units in the reporting currency.
    pub cost: Decimal,
    /// When the units were acquired (the holding period counts from here).
    pub acquired: DateTime<Utc>,
}

/// What a leg does to the user's lots (gains.md "Events").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    /// `CryptoFiatIn`, `CryptoToCryptoIn`: a lot at `value` plus the leg's fees.
    Acquisition,
    /// `CryptoFiatOut` (Sale), `CryptoToCryptoOut` (Swap), `RRPT` (Payment): matched
    /// against lots; proceeds `value`, the leg's fees allowable.
    Disposal(DisposalKind),
    /// `CryptoTransferIn` with a reward code (CARF502, CARF501, CARF503, CARF508 credits):
    /// an income row at `value` and a lot with that cost.
    Income(IncomeKind),
    /// `CryptoTransferOut` (withdrawals, `TransferWallet` included): units leave with their
    /// cost, no gain, and are remembered as moved out.
    TransferOut,
    /// `CryptoTransferIn` CARF509/CARF505 and other deposits: a round trip back from an own
    /// wallet (same units as an earlier transfer out not yet back, or `own_wallet`), else a
    /// lot at `basis`, else a lot of unknown cost.
    TransferIn {
        /// The cost from a basis file, if the user supplied one.
        basis: Option<Basis>,
        /// The user labelled the deposit `own-wallet`: it takes back the earliest
        /// moved-out units, up to its own units.
        own_wallet: bool,
    },
    /// `Internal` (spot ↔ staking, legacy ↔ new codes): no effect on lots or units (only
    /// its `fee_units`, if any, are a fee disposal).
    Internal,
    /// `NotReportable` with reason `margin` (`margin`, `rollover`, `settled`): a row of the
    /// margin file; never lots or holdings. `units` is the signed amount of the entry in
    /// `asset` (realised profit > 0, loss or cost < 0), `value` its value in the currency.
    Margin,
}

/// One classified, valued ledger leg: the engine's input. Strings are borrowed, so an
/// adapter can build the slice from its own compact tables without copying text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GainsLeg<'a> {
    /// When the leg was booked (the slice is ordered by this, oldest first).
    pub time: DateTime<Utc>,
    /// Account name.
    pub account: &'a str,
    /// Ledger id.
    pub ledger_id: &'a str,
    /// Refid (legs of one trade share it; `--swap-fee split` pairs a swap's legs by it).
    pub refid: &'a str,
    /// Kraken's type.
    pub kraken_type: &'a str,
    /// Kraken's subtype ("" when absent).
    pub kraken_subtype: &'a str,
    /// The normalised crypto-asset (`BTC`); for `Margin`, the asset of the entry.
    pub asset: &'a str,
    /// What the leg does.
    pub kind: LegKind,
    /// |amount| of the leg (signed for `Margin`).
    pub units: Decimal,
    /// Value of `units` in the reporting currency (carf.md valuation; for a swap, the
    /// swap's one value); `None` = unpriced.
    pub value: Option<Decimal>,
    /// Where the value came from (`trade:EUR`, `kraken:XXBTZEUR`, `unpriced`, ...).
    pub price_source: &'a str,
    /// The leg's fee in its own asset (Kraken's `fee`): a `fee` disposal of these units.
    pub fee_units: Decimal,
    /// Value of `fee_units` at the trade's implied price (`None` when unpriced; ignored when
    /// `fee_units` is zero).
    pub fee_value: Option<Decimal>,
    /// Fees of this transaction paid in fiat or KFEE credits (0.01 USD per credit),
    /// valued in the reporting currency: no units move, the value is the transaction's fee.
    pub other_fee: Option<Decimal>,
}

/// Matching method (`--method`, `[gains] method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Method {
    /// Oldest lot first.
    Fifo,
    /// Newest lot first.
    Lifo,
    /// Highest unit cost first (ties oldest first, unknown cost last).
    Hifo,
    /// One pool per asset at average cost (Canada's ACB).
    Average,
    /// HMRC: same day, 30 days, section 104 pool (implies --period uk).
    Uk,
    /// FIFO with Germany's one-year exemption.
    De,
    /// FIFO (or --lots hifo) per account, short/long term, Form 8949.
    Us,
}

impl Method {
    /// The name used in file names and the `method` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Fifo => "fifo",
            Method::Lifo => "lifo",
            Method::Hifo => "hifo",
            Method::Average => "average",
            Method::Uk => "uk",
            Method::De => "de",
            Method::Us => "us",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--lots` for `us`: which lot of the account goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LotPick {
    /// Oldest first (default).
    #[default]
    Fifo,
    /// Highest unit cost first.
    Hifo,
}

/// `--swap-fee`: which side of a swap a crypto fee is allowable on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SwapFee {
    /// The side that carries it in Kraken's ledger (default).
    #[default]
    Leg,
    /// Half to the disposal, half to the acquisition (pairs legs by refid).
    Split,
}

/// `--unknown-cost`: what a disposal matched to units of unknown cost shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum UnknownCost {
    /// Empty cost and gain, counted and warned (default).
    #[default]
    Empty,
    /// Treated as zero (gains overstated, never understated), still counted.
    Zero,
}

/// Everything the engine needs besides the legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GainsOptions {
    /// The method.
    pub method: Method,
    /// Lot choice for `us`.
    pub lots: LotPick,
    /// Swap fee side.
    pub swap_fee: SwapFee,
    /// Unknown costs.
    pub unknown_cost: UnknownCost,
    /// The period whose rows are written.
    pub period: Period,
    /// Reporting currency (`EUR`).
    pub currency: String,
    /// The `accounts` column of the summary (e.g. `main` or `main+savings`).
    pub accounts: String,
}

/// A unit price lookup for the holdings' value at the period's last moment.
pub trait PriceLookup {
    /// Price of one unit of `asset` in the reporting currency at `at`, if known.
    fn price(&self, asset: &str, at: DateTime<Utc>) -> Option<Decimal>;
}

impl<F: Fn(&str, DateTime<Utc>) -> Option<Decimal>> PriceLookup for F {
    fn price(&self, asset: &str, at: DateTime<Utc>) -> Option<Decimal> {
        self(asset, at)
    }
}

/// No prices: holdings are written without a value.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPrices;

impl PriceLookup for NoPrices {
    fn price(&self, _: &str, _: DateTime<Utc>) -> Option<Decimal> {
        None
    }
}

/// The matching rule that produced a disposal row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Oldest lot.
    Fifo,
    /// Newest lot.
    Lifo,
    /// Highest unit cost.
    Hifo,
    /// Average cost pool.
    Average,
    /// HMRC same-day rule.
    SameDay,
    /// HMRC 30-day rule.
    BedAndBreakfast,
    /// HMRC section 104 pool.
    Section104,
}

impl Rule {
    /// The `rule` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Fifo => "fifo",
            Rule::Lifo => "lifo",
            Rule::Hifo => "hifo",
            Rule::Average => "average",
            Rule::SameDay => "same-day",
            Rule::BedAndBreakfast => "bed-and-breakfast",
            Rule::Section104 => "section-104",
        }
    }
}

/// Where a row's cost came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CostSource {
    /// Bought or received on Kraken.
    Ledger,
    /// Back from an own wallet.
    RoundTrip,
    /// From a basis file.
    BasisFile,
    /// Unknown.
    Unknown,
}

impl CostSource {
    /// The `cost_source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::Ledger => "ledger",
            CostSource::RoundTrip => "round-trip",
            CostSource::BasisFile => "basis-file",
            CostSource::Unknown => "unknown",
        }
    }
}

/// Holding period class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Term {
    /// Held ≤ 365 days (fifo/lifo/hifo) or not more than a calendar year (us).
    Short,
    /// Held longer.
    Long,
    /// `de`: held more than one calendar year: tax-free.
    Exempt,
    /// `de`: not exempt.
    Taxable,
}

impl Term {
    /// The `term` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Term::Short => "short",
            Term::Long => "long",
            Term::Exempt => "exempt",
            Term::Taxable => "taxable",
        }
    }
}

/// One row of `gains-disposals-Y-CCY-M.csv`: one (disposal, matched lot or pool part).
/// Money is rounded half-even to 10 decimals; a disposal's last row takes the remainder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisposalRow<'a> {
    /// The disposal leg (for a `fee` row, the leg whose fee it is).
    pub leg: &'a GainsLeg<'a>,
    /// Groups the rows of one disposal (for `uk`, one asset on one UK day).
    pub disposal: u64,
    /// `sale`, `swap`, `payment`, `fee`.
    pub kind: DisposalKind,
    /// Units of this row.
    pub units: Decimal,
    /// Share of the proceeds (before fees); `None` when unpriced.
    pub proceeds: Option<Decimal>,
    /// Cost of the matched units; `None` when unknown.
    pub cost: Option<Decimal>,
    /// Share of the allowable fees; `None` when unpriced.
    pub fees: Option<Decimal>,
    /// `proceeds − cost − fees` of this row's rounded values; `None` when any is unknown.
    pub gain: Option<Decimal>,
    /// When the matched lot was acquired (`None` for pooled costs).
    pub acquired: Option<DateTime<Utc>>,
    /// The leg that acquired it (`None` for pooled costs).
    pub acquired_ledger_id: Option<&'a str>,
    /// Days from the acquisition's day to the disposal's day.
    pub holding_days: Option<i64>,
    /// `short`/`long`/`exempt`/`taxable`, where the method has terms and the date is known.
    pub term: Option<Term>,
    /// The rule.
    pub rule: Rule,
    /// The cost's source.
    pub cost_source: CostSource,
    /// A remark (`cost unknown: ...`), or empty.
    pub note: &'static str,
}

/// One row of `gains-income-Y-CCY.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeRow<'a> {
    /// The income leg.
    pub leg: &'a GainsLeg<'a>,
    /// Its kind.
    pub kind: IncomeKind,
    /// The leg's value rounded as row money (half to even, 10 decimals); `None` when
    /// unpriced. The summary's `income` and the months file sum this.
    pub value: Option<Decimal>,
    /// Unit price: `value / units`, rounded half to even to 10 places (the value is the units
    /// times the market price, rounded to 12 places, so this gives the market price back).
    pub price: Option<Decimal>,
}

/// One row of `gains-margin-Y-CCY.csv`: a margin ledger entry passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginRow<'a> {
    /// The margin leg.
    pub leg: &'a GainsLeg<'a>,
}

/// One row of `holdings-Y-CCY-M.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingRow {
    /// Account.
    pub account: String,
    /// Asset.
    pub asset: String,
    /// Units held at the period's start.
    pub units_start: Decimal,
    /// Units held at its end.
    pub units_end: Decimal,
    /// Cost carried at the end: the known cost of open lots or the pool (for methods that
    /// pool across accounts, the asset's cost is shared among accounts by units held).
    pub cost_end: Decimal,
    /// Units in open lots whose cost is unknown (not in `cost_end`).
    pub unknown_cost_units: Decimal,
    /// Units moved out to own wallets (transfers out) and not come back.
    pub moved_out_units: Decimal,
    /// Unit price at the period's last moment, where one exists.
    pub price_end: Option<Decimal>,
    /// `units_end × price_end`.
    pub value_end: Option<Decimal>,
}

/// One row of `gains-summary-Y-CCY-M.csv` (per asset, or the `TOTAL` row). Money is the
/// unrounded sum of the rows' cells; the writer rounds it once to 2 decimals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SummaryRow {
    /// The asset, or `TOTAL`.
    pub asset: String,
    /// Number of disposals.
    pub disposals: u64,
    /// Sum of proceeds (`None` when every cell was empty).
    pub proceeds: Option<Decimal>,
    /// Sum of known costs.
    pub cost: Option<Decimal>,
    /// Sum of fees.
    pub fees: Option<Decimal>,
    /// Sum of the positive nets of whole disposals with a known gain.
    pub gains: Decimal,
    /// Sum of the negative nets (as a positive number).
    pub losses: Decimal,
    /// `gains − losses`.
    pub net_gain: Decimal,
    /// Sum of gains of `short` rows (`None` when the method has no such term).
    pub short_net: Option<Decimal>,
    /// Sum of gains of `long` rows.
    pub long_net: Option<Decimal>,
    /// Sum of gains of `exempt` rows (`de` only).
    pub exempt_net: Option<Decimal>,
    /// Sum of income values.
    pub income: Decimal,
    /// Disposals with a row of unknown cost.
    pub unknown_cost_disposals: u64,
    /// Disposals with unknown proceeds or fees.
    pub unpriced_disposals: u64,
}

/// One row of `form8949-Y-CCY.csv` (`us`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form8949Row {
    /// `I` (short-term) or `II` (long-term).
    pub part: &'static str,
    /// `(a)` e.g. `0.5 BTC`.
    pub description: String,
    /// `(b)` acquisition date, `None` when unknown (written `VARIOUS`).
    pub date_acquired: Option<chrono::NaiveDate>,
    /// `(c)` date sold.
    pub date_sold: chrono::NaiveDate,
    /// `(d)` proceeds, 2 decimals.
    pub proceeds: Option<Decimal>,
    /// `(e)` cost basis including the disposal's fees, 2 decimals.
    pub cost_basis: Option<Decimal>,
    /// `(h)` gain or loss = proceeds − cost basis.
    pub gain: Option<Decimal>,
}

/// What [`compute`] produces for the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GainsReport<'a> {
    /// Disposal rows, in ledger order.
    pub disposals: Vec<DisposalRow<'a>>,
    /// Income rows.
    pub income: Vec<IncomeRow<'a>>,
    /// Margin rows.
    pub margin: Vec<MarginRow<'a>>,
    /// Holdings per (asset, account), sorted by asset then account.
    pub holdings: Vec<HoldingRow>,
    /// Summary rows per asset (sorted), then `TOTAL`.
    pub summary: Vec<SummaryRow>,
    /// Form 8949 rows (`us` only): Part I first, then Part II.
    pub form8949: Vec<Form8949Row>,
    /// Warnings for the user (unknown costs, unpriced disposals), with how to fix them.
    pub warnings: Vec<Warning>,
}

/// What a gains warning is about: a stable name for scripts (`--json`'s `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningCode {
    /// Disposals matched units of unknown cost (supply them with `basis import`).
    UnknownCost,
    /// Disposals without a value (no price).
    UnpricedDisposals,
    /// Crypto-asset legs without a classification, left out.
    UnclassifiedLegs,
    /// A basis-file cost for other units than the deposit brought.
    BasisUnitsMismatch,
    /// A basis-file cost in a currency with no rate at its acquisition date.
    BasisNotConverted,
    /// Market prices that could not be fetched.
    PriceFetch,
}

impl WarningCode {
    /// The code as `--json` and the schemas spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::UnknownCost => "unknown_cost",
            WarningCode::UnpricedDisposals => "unpriced_disposals",
            WarningCode::UnclassifiedLegs => "unclassified_legs",
            WarningCode::BasisUnitsMismatch => "basis_units_mismatch",
            WarningCode::BasisNotConverted => "basis_not_converted",
            WarningCode::PriceFetch => "price_fetch",
        }
    }
}

/// A warning of a gains run: its code and the sentence for the user (what, and how to fix it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What it is about.
    pub code: WarningCode,
    /// The sentence.
    pub message: String,
}

impl Warning {
    /// A warning of `code` saying `message`.
    pub fn new(code: WarningCode, message: String) -> Self {
        Self { code, message }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why the engine could not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GainsError {
    /// A figure left the range of a decimal.
    #[error("arithmetic overflow computing gains at ledger entry {ledger_id}")]
    Overflow {
        /// Where.
        ledger_id: String,
    },
    /// The legs are not in time order.
    #[error(
        "ledger entry {ledger_id} is earlier than the entry before it: legs must be in time order"
    )]
    OutOfOrder {
        /// Where.
        ledger_id: String,
    },
    /// A leg has negative units or fee units (only margin legs are signed).
    #[error("ledger entry {ledger_id} has negative units")]
    Negative {
        /// Where.
        ledger_id: String,
    },
}

/// Income totalled per asset, month and kind (issue 15: "listed one per row, totalled per
/// asset and month"): the rows of `gains-income-months-Y-CCY.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeMonth {
    /// Asset.
    pub asset: String,
    /// `YYYY-MM` in the time zone given to [`income_by_month`].
    pub month: String,
    /// Income kind.
    pub kind: IncomeKind,
    /// Number of income legs.
    pub legs: u64,
    /// Sum of units.
    pub units: Decimal,
    /// Sum of the rows' known values (each rounded as in the income file, so the months
    /// add up to the income file exactly).
    pub value: Decimal,
    /// Legs without a value (not in `value`).
    pub unpriced: u64,
}

/// Totals the income rows per asset, month (in `tz`) and kind, sorted by asset, month, kind.
pub fn income_by_month(
    rows: &[IncomeRow<'_>],
    tz: chrono_tz::Tz,
) -> Result<Vec<IncomeMonth>, GainsError> {
    let mut acc: std::collections::BTreeMap<(&str, String, &str), IncomeMonth> =
        std::collections::BTreeMap::new();
    for r in rows {
        let month = r.leg.time.with_timezone(&tz).format("%Y-%m").to_string();
        let m = acc
            .entry((r.leg.asset, month.clone(), r.kind.as_str()))
            .or_insert_with(|| IncomeMonth {
                asset: r.leg.asset.to_owned(),
                month,
                kind: r.kind,
                legs: 0,
                units: Decimal::ZERO,
                value: Decimal::ZERO,
                unpriced: 0,
            });
        let overflow = || GainsError::Overflow {
            ledger_id: r.leg.ledger_id.to_owned(),
        };
        m.legs += 1;
        m.units = m.units.checked_add(r.leg.units).ok_or_else(overflow)?;
        match r.value {
            Some(v) => m.value = m.value.checked_add(v).ok_or_else(overflow)?,
            None => m.unpriced += 1,
        }
    }
    Ok(acc.into_values().collect())
}
