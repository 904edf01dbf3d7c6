//! The rows of the report files, and the summary aggregation (pure).

use crate::domain::Element;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;

/// Which amount a report shows (carf.md "Fees").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeTreatment {
    /// Acquisitions excluding fees, disposals after fees (default; the HMRC reading).
    Net,
    /// Acquisitions including fees, disposals before fees (the DAC8 "gross amount" reading).
    Gross,
}

impl FeeTreatment {
    /// `net` or `gross`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeeTreatment::Net => "net",
            FeeTreatment::Gross => "gross",
        }
    }
}

/// One row of `carf-transactions-Y-CCY.csv`: one ledger leg of the year. `TransferWallet`
/// legs appear once, as `CryptoTransferOut` with `transfer_wallet` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRow {
    /// When the leg was booked.
    pub time: DateTime<Utc>,
    /// Account name.
    pub account: String,
    /// Ledger id.
    pub ledger_id: String,
    /// Refid.
    pub refid: String,
    /// Kraken's type.
    pub kraken_type: String,
    /// Kraken's subtype ("" when absent).
    pub kraken_subtype: String,
    /// Kraken's raw asset code.
    pub kraken_asset: String,
    /// The reported asset (`BTC`).
    pub crypto_asset: String,
    /// The element.
    pub element: Element,
    /// The type code, if any.
    pub type_code: Option<String>,
    /// Also reported as `TransferWallet`.
    pub transfer_wallet: bool,
    /// |amount| of the leg.
    pub units: Decimal,
    /// The leg's fee, in the same asset.
    pub fee_units: Decimal,
    /// Gross value (unrounded), when priced.
    pub amount_gross: Option<Decimal>,
    /// Fee value (unrounded), when priced.
    pub fee_amount: Option<Decimal>,
    /// The value reported under the chosen fee treatment (unrounded), when priced.
    pub amount: Option<Decimal>,
    /// Unit price in the currency, when priced.
    pub price: Option<Decimal>,
    /// Where the price came from (`trade:EUR`, `kraken:XXBTZEUR`, `unpriced`, ...).
    pub price_source: String,
    /// The asset this leg was exchanged against.
    pub counter_asset: Option<String>,
    /// Units of that asset (absolute).
    pub counter_units: Option<Decimal>,
    /// Why it was classified so, or why it is unpriced.
    pub note: String,
}

impl TransactionRow {
    /// True when the leg needs a value but has none.
    pub fn is_unpriced(&self) -> bool {
        self.element.is_reportable() && self.amount.is_none()
    }

    /// The row, borrowed.
    pub fn as_ref(&self) -> RowRef<'_> {
        RowRef {
            time: self.time,
            account: &self.account,
            ledger_id: &self.ledger_id,
            refid: &self.refid,
            kraken_type: &self.kraken_type,
            kraken_subtype: &self.kraken_subtype,
            kraken_asset: &self.kraken_asset,
            crypto_asset: &self.crypto_asset,
            element: self.element,
            type_code: self.type_code.as_deref(),
            transfer_wallet: self.transfer_wallet,
            units: self.units,
            fee_units: self.fee_units,
            amount_gross: self.amount_gross,
            fee_amount: self.fee_amount,
            amount: self.amount,
            price: self.price,
            price_source: &self.price_source,
            counter_asset: self.counter_asset.as_deref(),
            counter_units: self.counter_units,
            note: &self.note,
        }
    }
}

/// A [`TransactionRow`], borrowed: what the transactions file is written from and the
/// summary adds up, so that an export can stream rows instead of holding them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are those of `TransactionRow`.
pub struct RowRef<'a> {
    pub time: DateTime<Utc>,
    pub account: &'a str,
    pub ledger_id: &'a str,
    pub refid: &'a str,
    pub kraken_type: &'a str,
    pub kraken_subtype: &'a str,
    pub kraken_asset: &'a str,
    pub crypto_asset: &'a str,
    pub element: Element,
    pub type_code: Option<&'a str>,
    pub transfer_wallet: bool,
    pub units: Decimal,
    pub fee_units: Decimal,
    pub amount_gross: Option<Decimal>,
    pub fee_amount: Option<Decimal>,
    pub amount: Option<Decimal>,
    pub price: Option<Decimal>,
    pub price_source: &'a str,
    pub counter_asset: Option<&'a str>,
    pub counter_units: Option<Decimal>,
    pub note: &'a str,
}

impl From<&RowRef<'_>> for TransactionRow {
    fn from(r: &RowRef<'_>) -> Self {
        TransactionRow {
            time: r.time,
            account: r.account.to_owned(),
            ledger_id: r.ledger_id.to_owned(),
            refid: r.refid.to_owned(),
            kraken_type: r.kraken_type.to_owned(),
            kraken_subtype: r.kraken_subtype.to_owned(),
            kraken_asset: r.kraken_asset.to_owned(),
            crypto_asset: r.crypto_asset.to_owned(),
            element: r.element,
            type_code: r.type_code.map(str::to_owned),
            transfer_wallet: r.transfer_wallet,
            units: r.units,
            fee_units: r.fee_units,
            amount_gross: r.amount_gross,
            fee_amount: r.fee_amount,
            amount: r.amount,
            price: r.price,
            price_source: r.price_source.to_owned(),
            counter_asset: r.counter_asset.map(str::to_owned),
            counter_units: r.counter_units,
            note: r.note.to_owned(),
        }
    }
}

impl RowRef<'_> {
    /// True when the leg needs a value but has none.
    pub fn is_unpriced(&self) -> bool {
        self.element.is_reportable() && self.amount.is_none()
    }
}

/// One row of `carf-summary-Y-CCY.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The reported asset.
    pub crypto_asset: String,
    /// Its full name.
    pub asset_name: String,
    /// The element.
    pub element: Element,
    /// The type code, if any.
    pub type_code: Option<String>,
    /// Number of transactions (`None` for `TransferWallet`, which has no count in CARF).
    pub number_of_transactions: Option<u64>,
    /// Sum of units.
    pub number_of_units: Decimal,
    /// Sum of the rows' amounts before rounding.
    pub amount_unrounded: Decimal,
    /// Legs of the group without a value (their amount is not in the sum).
    pub unpriced_transactions: u64,
    /// `AltValuation` code for transfer elements valued from market prices: `CARF1003`
    /// (recent provider valuation: Kraken's own trades) or `CARF1004` (reasonable estimate:
    /// an imported price table).
    pub alt_valuation: Option<&'static str>,
}

impl SummaryRow {
    /// True when no transaction of the group has a value: the amount is unknown, not zero.
    pub fn is_fully_unpriced(&self) -> bool {
        self.unpriced_transactions > 0
            && self.amount_unrounded.is_zero()
            && self.number_of_transactions != Some(0)
            && self
                .number_of_transactions
                .is_none_or(|n| n == self.unpriced_transactions)
    }

    /// The amount as reported: rounded once, to 2 decimals, half to even.
    pub fn amount(&self) -> Decimal {
        let mut a = self
            .amount_unrounded
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        a.rescale(2);
        a
    }
}

/// Groups the reportable transaction rows by (asset, element, type code); `TransferWallet`
/// rows are added for legs flagged so. Sorted by asset, element in carf.md's order, code.
pub fn summarize(
    rows: &[TransactionRow],
    name_of: impl Fn(&str) -> String,
) -> Result<Vec<SummaryRow>, SumOutOfRange> {
    let mut sum = Summary::default();
    for r in rows {
        sum.add(&r.as_ref())?;
    }
    Ok(sum.rows(name_of))
}

/// A group's total of units or of amounts beyond what a decimal holds (about 7.9e28): only
/// absurd amounts or prices get there. The export stops with this rather than wrap or panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {what} of {asset} {element} add up beyond the range of a decimal number at ledger {ledger_id}"
)]
pub struct SumOutOfRange {
    /// `units` or `amounts`.
    pub what: &'static str,
    /// The reported asset.
    pub asset: String,
    /// The group's element.
    pub element: String,
    /// The leg that did not fit.
    pub ledger_id: String,
}

/// The summary, accumulated one transaction row at a time ([`summarize`] without holding
/// the rows).
#[derive(Debug, Default)]
pub struct Summary {
    /// Per asset, its groups (a handful), looked up without allocating.
    groups: HashMap<String, Vec<SummaryRow>>,
}

impl Summary {
    /// Adds a row (only reportable rows count); a total that no longer fits in a decimal is an
    /// error, and the row is not added.
    pub fn add(&mut self, r: &RowRef<'_>) -> Result<(), SumOutOfRange> {
        if !r.element.is_reportable() {
            return Ok(());
        }
        self.add_to(r.element, r.type_code, r)?;
        if r.transfer_wallet {
            self.add_to(Element::TransferWallet, None, r)?;
        }
        Ok(())
    }

    fn add_to(
        &mut self,
        element: Element,
        code: Option<&str>,
        r: &RowRef<'_>,
    ) -> Result<(), SumOutOfRange> {
        let asset = r.crypto_asset;
        if !self.groups.contains_key(asset) {
            self.groups.insert(asset.to_owned(), Vec::new());
        }
        let Some(list) = self.groups.get_mut(asset) else {
            return Ok(());
        };
        let k = match list
            .iter()
            .position(|g| g.element == element && g.type_code.as_deref() == code)
        {
            Some(k) => k,
            None => {
                list.push(SummaryRow {
                    crypto_asset: asset.to_owned(),
                    asset_name: String::new(),
                    element,
                    type_code: code.map(str::to_owned),
                    number_of_transactions: (element != Element::TransferWallet).then_some(0),
                    number_of_units: Decimal::ZERO,
                    amount_unrounded: Decimal::ZERO,
                    unpriced_transactions: 0,
                    alt_valuation: None,
                });
                list.len() - 1
            }
        };
        let row = &mut list[k];
        let out = |what| SumOutOfRange {
            what,
            asset: asset.to_owned(),
            element: element.as_str().to_owned(),
            ledger_id: r.ledger_id.to_owned(),
        };
        let units = row
            .number_of_units
            .checked_add(r.units)
            .ok_or_else(|| out("units"))?;
        let amount = match r.amount {
            Some(a) => Some(
                row.amount_unrounded
                    .checked_add(a)
                    .ok_or_else(|| out("amounts"))?,
            ),
            None => None,
        };
        if let Some(n) = row.number_of_transactions.as_mut() {
            *n += 1;
        }
        row.number_of_units = units;
        match amount {
            Some(a) => row.amount_unrounded = a,
            None => row.unpriced_transactions += 1,
        }
        if !element.is_exchange() && r.amount.is_some() {
            let code = if r.price_source.starts_with("import:") {
                "CARF1004"
            } else {
                "CARF1003"
            };
            // An estimate anywhere in the group makes the whole figure an estimate.
            if row.alt_valuation != Some("CARF1004") {
                row.alt_valuation = Some(code);
            }
        }
        Ok(())
    }

    /// The summary rows, with full asset names, sorted by asset, element in carf.md's order,
    /// code.
    pub fn rows(self, name_of: impl Fn(&str) -> String) -> Vec<SummaryRow> {
        let mut rows: Vec<SummaryRow> = self.groups.into_values().flatten().collect();
        rows.sort_by(|a, b| {
            (&a.crypto_asset, a.element, &a.type_code).cmp(&(
                &b.crypto_asset,
                b.element,
                &b.type_code,
            ))
        });
        for r in &mut rows {
            r.asset_name = name_of(&r.crypto_asset);
        }
        rows
    }
}
