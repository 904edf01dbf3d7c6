//! The report files of a year: per-leg transactions, the per-asset summary (CSV), and CARF XML.
//!
//! Legs are classified over the whole history (an event may straddle the year boundary), then
//! the year's legs are valued and written. Nothing disappears: internal, not-reportable and
//! unclassified legs are listed in the transactions file.

pub mod csv;
pub mod rows;
pub mod xml;

pub use rows::{FeeTreatment, SummaryRow, TransactionRow, summarize};

use crate::classify::{Rules, also_transfer_wallet, classify};
use crate::domain::LedgerEntry;
use crate::normalize::assets::{AssetTable, name_of};
use crate::normalize::events::{LegContext, group};
use crate::pricing::{LegToValue, LegValue, PriceSource, value_legs};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The instants `[start, end)` of calendar year `year` in `tz`, in microseconds.
pub fn year_bounds(year: i32, tz: Tz) -> Option<(i64, i64)> {
    let at = |y: i32| {
        let midnight = NaiveDate::from_ymd_opt(y, 1, 1)?.and_hms_opt(0, 0, 0)?;
        Some(
            tz.from_local_datetime(&midnight)
                .earliest()?
                .timestamp_micros(),
        )
    };
    Some((at(year)?, at(year + 1)?))
}

/// The legs of the year, classified over the whole history, ready to value.
pub struct YearLegs<'a> {
    entries: &'a [LedgerEntry],
    contexts: Vec<LegContext>,
    classes: Vec<crate::domain::Classification>,
    /// Indices into `entries` of the legs in the year, in time order.
    pub in_year: Vec<usize>,
}

impl<'a> YearLegs<'a> {
    /// Groups and classifies `entries` (the account's whole ledger, oldest first) and selects
    /// those with `start <= time < end`.
    pub fn new(
        entries: &'a [LedgerEntry],
        assets: &AssetTable,
        rules: &Rules,
        (start, end): (i64, i64),
    ) -> Self {
        let contexts = group(entries, assets);
        let classes = entries
            .iter()
            .zip(&contexts)
            .map(|(e, c)| classify(e, c, rules))
            .collect();
        let in_year = (0..entries.len())
            .filter(|&i| (start..end).contains(&entries[i].time.micros()))
            .collect();
        Self {
            entries,
            contexts,
            classes,
            in_year,
        }
    }

    /// The derived legs of the whole history, from the grouping and classification already
    /// done here (for refreshing the derived table without classifying twice).
    pub fn derived(&self, rules: &Rules) -> Vec<crate::store::DerivedLeg> {
        crate::classify::build::derive_from(self.entries, &self.contexts, &self.classes, rules)
    }

    /// The year's legs in the valuation's terms.
    pub fn to_value(&self) -> Vec<LegToValue<'_>> {
        self.in_year
            .iter()
            .map(|&i| {
                LegToValue::from_entry(&self.entries[i], &self.contexts[i], self.classes[i].element)
            })
            .collect()
    }

    /// Values the year's legs and builds the transaction rows.
    pub fn rows(
        &self,
        account: &str,
        currency: &str,
        fees: FeeTreatment,
        rules: &Rules,
        sources: &mut [&mut dyn PriceSource],
    ) -> Vec<TransactionRow> {
        let legs = self.to_value();
        let values = value_legs(&legs, currency, sources);
        self.in_year
            .iter()
            .zip(values)
            .map(|(&i, value)| {
                let e = &self.entries[i];
                let ctx = &self.contexts[i];
                let c = &self.classes[i];
                let counter = ctx
                    .exchange
                    .as_ref()
                    .and_then(|x| x.counter_of(&ctx.asset.code, e.amount));
                let (price, price_source, gross, fee_amount, amount, note) = match &value {
                    LegValue::Priced(p) => (
                        Some(p.price),
                        p.source.clone(),
                        Some(p.amount_gross),
                        Some(p.fee_amount),
                        Some(match fees {
                            FeeTreatment::Net => p.amount_net,
                            FeeTreatment::Gross => p.amount_gross,
                        }),
                        c.note.clone(),
                    ),
                    LegValue::Unpriced(why) => (
                        None,
                        "unpriced".to_owned(),
                        None,
                        None,
                        None,
                        format!("{}; {why}", c.note),
                    ),
                    LegValue::NotNeeded => (None, String::new(), None, None, None, c.note.clone()),
                };
                TransactionRow {
                    time: e.time.utc(),
                    account: account.to_owned(),
                    ledger_id: e.id.to_string(),
                    refid: e.refid.to_string(),
                    kraken_type: e.kind.clone(),
                    kraken_subtype: e.subtype.clone().unwrap_or_default(),
                    kraken_asset: e.asset.to_string(),
                    crypto_asset: ctx.asset.code.clone(),
                    element: c.element,
                    type_code: c.type_code.map(str::to_owned),
                    transfer_wallet: also_transfer_wallet(e, c, rules),
                    units: e.amount.abs(),
                    fee_units: e.fee,
                    amount_gross: gross,
                    fee_amount,
                    amount,
                    price,
                    price_source,
                    counter_asset: counter.map(|s| s.asset.clone()),
                    counter_units: counter.map(|s| s.amount.abs()),
                    note,
                }
            })
            .collect()
    }
}

/// The summary of transaction rows, with full asset names.
pub fn summary(rows: &[TransactionRow]) -> Vec<SummaryRow> {
    summarize(rows, |code| name_of(code).unwrap_or(code).to_owned())
}

/// Formats a time as the reports do: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_bounds_in_utc_and_another_zone() {
        let (s, e) = year_bounds(2025, Tz::UTC).unwrap();
        assert_eq!(s, 1_735_689_600_000_000);
        assert_eq!(e, 1_767_225_600_000_000);
        let (s, _) = year_bounds(2025, "Europe/Berlin".parse().unwrap()).unwrap();
        assert_eq!(s, 1_735_689_600_000_000 - 3_600_000_000);
    }
}
