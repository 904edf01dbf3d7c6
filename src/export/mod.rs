//! The report files of a year: per-leg transactions, the per-asset summary (CSV), and CARF XML.
//!
//! Legs are classified over the whole history (an event may straddle the year boundary), then
//! the year's legs are valued and written. Nothing disappears: internal, not-reportable and
//! unclassified legs are listed in the transactions file.

pub mod csv;
pub mod rows;
pub mod xml;

pub use rows::{FeeTreatment, RowRef, Summary, SummaryRow, TransactionRow, summarize};

/// Full asset name of a reported code, or the code itself (the summary's `asset_name`).
pub fn asset_name(code: &str) -> String {
    name_of(code).unwrap_or(code).to_owned()
}

use crate::classify::build::{BuildReport, load_grouped, store_derived};
use crate::classify::{
    LegFacts, Rules, also_transfer_wallet, also_transfer_wallet_fields, classify, classify_facts,
};
use crate::domain::{Element, LedgerEntry, LedgerFields};
use crate::normalize::assets::{AssetTable, name_of};
use crate::normalize::events::{Exchange, LegContext, group};
use crate::normalize::legs::{Events, LegTable};
use crate::pricing::{LegToValue, LegValue, LegValuer, PriceSource, value_legs};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::ops::Range;

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

/// The legs of the year, classified over the whole history, ready to value. Holds every
/// entry's context, classification and row: the simple reference the invariant tests use.
/// The `export` command uses [`Ledger`], which writes the same rows without holding them.
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
    ) -> Result<Self, String> {
        let contexts = group(entries, assets)?;
        let classes = entries
            .iter()
            .zip(&contexts)
            .map(|(e, c)| classify(e, c, rules))
            .collect();
        let in_year = (0..entries.len())
            .filter(|&i| (start..end).contains(&entries[i].time.micros()))
            .collect();
        Ok(Self {
            entries,
            contexts,
            classes,
            in_year,
        })
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

/// An account's whole ledger in compact form (see `normalize::legs`), grouped into events: the
/// export of a large account. Equivalent to [`YearLegs`], which holds every entry, context
/// and row; this holds about 60 bytes per entry plus its ids, and streams the year's rows.
#[derive(Debug)]
pub struct Ledger {
    /// The entries, oldest first (ties by ledger id).
    pub table: LegTable,
    /// Their exchange events.
    pub events: Events,
}

/// What a streamed year came to: the summary, and what the warnings need.
#[derive(Debug, Default)]
pub struct YearTotals {
    /// The summary, accumulated.
    pub summary: Summary,
    /// Rows written.
    pub legs: u64,
    /// Rows with an amount.
    pub priced: u64,
    /// Rows that need a value but have none.
    pub unpriced: u64,
    /// The first of those: (ledger id, reported asset, time).
    pub first_unpriced: Option<(String, String, DateTime<Utc>)>,
    /// Unclassified rows.
    pub unclassified: u64,
    /// The first of those: (ledger id, note).
    pub first_unclassified: Option<(String, String)>,
}

impl YearTotals {
    fn add(&mut self, r: &RowRef<'_>) {
        self.summary.add(r);
        self.legs += 1;
        if r.amount.is_some() {
            self.priced += 1;
        }
        if r.is_unpriced() {
            self.unpriced += 1;
            if self.first_unpriced.is_none() {
                self.first_unpriced =
                    Some((r.ledger_id.to_owned(), r.crypto_asset.to_owned(), r.time));
            }
        }
        if r.element == Element::Unclassified {
            self.unclassified += 1;
            if self.first_unclassified.is_none() {
                self.first_unclassified = Some((r.ledger_id.to_owned(), r.note.to_owned()));
            }
        }
    }
}

impl Ledger {
    /// Reads `account`'s ledger from the store (only the columns needed, no allocation per
    /// entry) and groups it.
    pub fn load(store: &Store, account: &str, assets: &AssetTable) -> Result<Self, StoreError> {
        let (table, events) = load_grouped(store, account, assets)?;
        Ok(Ledger { table, events })
    }

    /// The ledger of `entries` (oldest first, ties by id, as the store gives them).
    pub fn from_entries(entries: &[LedgerEntry], assets: &AssetTable) -> Result<Self, String> {
        let table = LegTable::from_fields(entries.iter().map(LedgerFields::from), assets)?;
        let events = Events::group(&table)?;
        Ok(Ledger { table, events })
    }

    /// The positions of the entries with `start <= time < end`.
    pub fn year(&self, bounds: (i64, i64)) -> Range<usize> {
        self.table.time_range(bounds)
    }

    /// Replaces the account's derived legs with the classification of this ledger, streamed
    /// into the store in ledger-id order.
    pub fn refresh_derived(
        &self,
        store: &mut Store,
        account: &str,
        rules: &Rules,
    ) -> Result<BuildReport, StoreError> {
        store_derived(store, account, &self.table, &self.events, rules)
    }

    /// The exchanges of the events of the reportable legs in `range`, for [`Self::to_value`].
    pub fn exchanges(&self, range: Range<usize>, rules: &Rules) -> HashMap<u32, Exchange> {
        let mut out = HashMap::new();
        for i in range {
            if let Some(e) = self.events.event_of(i)
                && !out.contains_key(&e)
                && self.classify(i, rules).element.is_reportable()
            {
                out.insert(e, self.events.exchange(&self.table, e));
            }
        }
        out
    }

    /// The legs in `range` in the valuation's terms (for `pricing::prefetch`), given
    /// [`Self::exchanges`] of the same range.
    pub fn to_value<'s>(
        &'s self,
        range: Range<usize>,
        rules: &Rules,
        exchanges: &'s HashMap<u32, Exchange>,
    ) -> Vec<LegToValue<'s>> {
        range
            .map(|i| {
                let f = self.table.fields(i);
                LegToValue {
                    ledger_id: f.id,
                    time_us: f.time_us,
                    asset: &self.table.asset(i).code,
                    amount: f.amount,
                    fee: f.fee,
                    element: self.classify(i, rules).element,
                    event_id: self.events.event_id(&self.table, i),
                    exchange: self.events.event_of(i).and_then(|e| exchanges.get(&e)),
                }
            })
            .collect()
    }

    fn classify(&self, i: usize, rules: &Rules) -> crate::domain::Classification {
        let counter = self.events.counter(&self.table, i);
        classify_facts(
            &LegFacts::of_compact(&self.table, &self.events, i, counter),
            rules,
        )
    }

    /// Classifies and values the legs in `range`, in order, and hands each row to `each` (the
    /// rows [`YearLegs::rows`] would build); returns the totals, with the summary.
    #[allow(clippy::too_many_arguments)]
    pub fn write_year(
        &self,
        range: Range<usize>,
        account: &str,
        currency: &str,
        fees: FeeTreatment,
        rules: &Rules,
        sources: &mut [&mut dyn PriceSource],
        mut each: impl FnMut(&RowRef<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<YearTotals> {
        let (t, ev) = (&self.table, &self.events);
        let mut valuer = LegValuer::new(currency, sources);
        let mut totals = YearTotals::default();
        // The legs of an event are usually next to each other: build its exchange once.
        let mut last: Option<(u32, Exchange)> = None;
        let mut note = String::new();
        for i in range {
            let counter = ev.counter(t, i);
            let facts = LegFacts::of_compact(t, ev, i, counter);
            let c = classify_facts(&facts, rules);
            let e = facts.entry;
            let exchange = match ev.event_of(i) {
                // Only reportable legs are valued; the others never look at their event.
                Some(k) if c.element.is_reportable() => {
                    if last.as_ref().is_none_or(|(j, _)| *j != k) {
                        last = Some((k, ev.exchange(t, k)));
                    }
                    last.as_ref().map(|(_, x)| x)
                }
                _ => None,
            };
            let value = valuer.value(&LegToValue {
                ledger_id: e.id,
                time_us: e.time_us,
                asset: &facts.asset.code,
                amount: e.amount,
                fee: e.fee,
                element: c.element,
                event_id: ev.event_id(t, i),
                exchange,
            });
            let (price, price_source, gross, fee_amount, amount) = match &value {
                LegValue::Priced(p) => (
                    Some(p.price),
                    p.source.as_str(),
                    Some(p.amount_gross),
                    Some(p.fee_amount),
                    Some(match fees {
                        FeeTreatment::Net => p.amount_net,
                        FeeTreatment::Gross => p.amount_gross,
                    }),
                ),
                LegValue::Unpriced(_) => (None, "unpriced", None, None, None),
                LegValue::NotNeeded => (None, "", None, None, None),
            };
            let note = match &value {
                LegValue::Unpriced(why) => {
                    note.clear();
                    note.push_str(&c.note);
                    note.push_str("; ");
                    note.push_str(why);
                    note.as_str()
                }
                _ => c.note.as_str(),
            };
            let row = RowRef {
                // In range: checked when read (`Store::for_each_ledger_fields`, `KrakenTime`).
                time: DateTime::from_timestamp_micros(e.time_us).unwrap_or_default(),
                account,
                ledger_id: e.id,
                refid: e.refid,
                kraken_type: e.kind,
                kraken_subtype: e.subtype.unwrap_or_default(),
                kraken_asset: e.asset,
                crypto_asset: &facts.asset.code,
                element: c.element,
                type_code: c.type_code,
                transfer_wallet: also_transfer_wallet_fields(&e, &c, rules),
                units: e.amount.abs(),
                fee_units: e.fee,
                amount_gross: gross,
                fee_amount,
                amount,
                price,
                price_source,
                counter_asset: counter.map(|x| x.asset),
                counter_units: counter.map(|x| x.amount.abs()),
                note,
            };
            each(&row)?;
            totals.add(&row);
        }
        Ok(totals)
    }
}

/// The summary of transaction rows, with full asset names.
pub fn summary(rows: &[TransactionRow]) -> Vec<SummaryRow> {
    summarize(rows, asset_name)
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
