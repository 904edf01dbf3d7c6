//! The report files of a year: per-leg transactions, the per-asset summary (CSV), and CARF XML.
//!
//! Legs are classified over the whole history (an event may straddle the year boundary), then
//! the year's legs are valued and written. Nothing disappears: internal, not-reportable and
//! unclassified legs are listed in the transactions file.

pub mod csv;
pub mod rows;
pub mod run;
pub mod xml;

pub use rows::{
    FeeTreatment, RowRef, SumOutOfRange, Summary, SummaryRow, TransactionRow, summarize,
};

/// Full asset name of a reported code, or the code itself (the summary's `asset_name`).
pub fn asset_name(code: &str) -> String {
    name_of(code).unwrap_or(code).to_owned()
}

use crate::classify::build::{BuildReport, load_grouped, store_derived};
use crate::classify::{LegFacts, Rules, also_transfer_wallet_fields, classify_facts};
use crate::domain::{Element, LedgerEntry, LedgerFields};
use crate::normalize::assets::{AssetTable, name_of};
use crate::normalize::events::Exchange;
use crate::normalize::legs::{Events, LegTable};
use crate::pricing::{LegToValue, LegValue, LegValuer, PriceSource};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
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

/// An account's whole ledger in compact form (see `normalize::legs`), grouped into events:
/// about 60 bytes per entry plus its ids. Legs are classified over the whole history (an
/// event may straddle the year boundary); the year's rows are streamed, never held.
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
    fn add(&mut self, r: &RowRef<'_>) -> Result<(), SumOutOfRange> {
        self.summary.add(r)?;
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
        Ok(())
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

    /// The elements of the legs in `range`, classified once for [`Self::exchanges`] and
    /// [`Self::to_value`].
    pub fn elements(&self, range: Range<usize>, rules: &Rules) -> Vec<Element> {
        range.map(|i| self.classify(i, rules).element).collect()
    }

    /// The exchanges of the events of the reportable legs in `range` (`elements` from
    /// [`Self::elements`] of the same range), for [`Self::to_value`].
    pub fn exchanges(&self, range: Range<usize>, elements: &[Element]) -> HashMap<u32, Exchange> {
        let mut out = HashMap::new();
        for (i, element) in range.zip(elements) {
            if let Some(e) = self.events.event_of(i)
                && element.is_reportable()
                && !out.contains_key(&e)
            {
                out.insert(e, self.events.exchange(&self.table, e));
            }
        }
        out
    }

    /// The legs in `range` in the valuation's terms (for `pricing::prefetch`), given
    /// [`Self::elements`] and [`Self::exchanges`] of the same range.
    pub fn to_value<'s>(
        &'s self,
        range: Range<usize>,
        elements: &[Element],
        exchanges: &'s HashMap<u32, Exchange>,
    ) -> Vec<LegToValue<'s>> {
        let credits = self.fee_credits();
        range
            .zip(elements)
            .map(|(i, &element)| {
                let f = self.table.fields(i);
                LegToValue {
                    ledger_id: f.id,
                    time_us: f.time_us,
                    asset: &self.table.asset(i).code,
                    amount: f.amount,
                    fee: f.fee,
                    element,
                    event_id: self.events.event_id(&self.table, i),
                    exchange: self.events.event_of(i).and_then(|e| exchanges.get(&e)),
                    fee_credits: credits.get(&i).copied().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The KFEE fee credits paid for legs, by entry position: an event's KFEE legs (amount
    /// 0, the credits in `fee`) paid for its crypto disposal leg, else its crypto acquisition
    /// leg (the first in ledger order). Two passes over the entries, no allocation per entry;
    /// empty for a ledger that never paid with KFEE.
    pub fn fee_credits(&self) -> HashMap<usize, Decimal> {
        let (t, ev) = (&self.table, &self.events);
        let mut per_event: HashMap<u32, Decimal> = HashMap::new();
        for i in 0..t.len() {
            if t.asset(i).is_fee_credit
                && let Some(k) = ev.event_of(i)
            {
                let fee = t.fields(i).fee;
                if !fee.is_zero() {
                    let slot = per_event.entry(k).or_default();
                    *slot = slot.saturating_add(fee.abs());
                }
            }
        }
        if per_event.is_empty() {
            return HashMap::new();
        }
        // Per event: (disposal?, position) of the leg the credits paid for.
        let mut target: HashMap<u32, (bool, usize)> = HashMap::new();
        for i in 0..t.len() {
            let Some(k) = ev.event_of(i) else { continue };
            if !per_event.contains_key(&k) {
                continue;
            }
            let a = t.asset(i);
            let amount = t.fields(i).amount;
            if a.is_fiat || a.is_fee_credit || amount.is_zero() {
                continue;
            }
            let disposal = amount.is_sign_negative();
            match target.get(&k) {
                Some(&(d, _)) if d || !disposal => {}
                _ => {
                    target.insert(k, (disposal, i));
                }
            }
        }
        target
            .into_iter()
            .map(|(k, (_, i))| (i, per_event[&k]))
            .collect()
    }

    fn classify(&self, i: usize, rules: &Rules) -> crate::domain::Classification {
        let counter = self.events.counter(&self.table, i);
        classify_facts(
            &LegFacts::of_compact(&self.table, &self.events, i, counter),
            rules,
        )
    }

    /// Classifies and values the legs in `range`, in order, and hands each row to `each`;
    /// returns the totals, with the summary.
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
        let credits = self.fee_credits();
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
                fee_credits: if credits.is_empty() {
                    Decimal::ZERO
                } else {
                    credits.get(&i).copied().unwrap_or_default()
                },
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
            totals.add(&row).map_err(std::io::Error::other)?;
        }
        Ok(totals)
    }
}

/// The summary of transaction rows, with full asset names.
pub fn summary(rows: &[TransactionRow]) -> Result<Vec<SummaryRow>, SumOutOfRange> {
    summarize(rows, asset_name)
}

/// Formats a time as the reports do: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, refid: &str, t: i64, asset: &str, amount: &str, fee: &str) -> LedgerEntry {
        use crate::domain::{AssetCode, KrakenTime, LedgerId, RefId};
        LedgerEntry {
            id: LedgerId::new(id).unwrap(),
            refid: RefId::new(refid).unwrap(),
            time: KrakenTime::from_micros(1_750_000_000_000_000 + t * 1_000_000, 4),
            kind: "trade".into(),
            subtype: Some("tradespot".into()),
            aclass: "currency".into(),
            subclass: None,
            asset: AssetCode::new(asset).unwrap(),
            wallet: None,
            amount: amount.parse().unwrap(),
            fee: fee.parse().unwrap(),
            balance: None,
        }
    }

    #[test]
    fn kfee_credits_go_to_the_leg_they_paid_for() {
        let entries = [
            // EUR → SOL, fee in KFEE: the SOL leg.
            entry("L1", "T1", 0, "ZEUR", "-200.0000", "0"),
            entry("L2", "T1", 0, "SOL", "2.0000000000", "0"),
            entry("L3", "T1", 0, "KFEE", "0.00", "52.00"),
            // BTC → ETH, two KFEE legs: the disposal (BTC), the credits summed.
            entry("L4", "T2", 1, "XETH", "1.0000000000", "0"),
            entry("L5", "T2", 1, "XXBT", "-0.0500000000", "0"),
            entry("L6", "T2", 1, "KFEE", "0.00", "10.00"),
            entry("L7", "T2", 1, "KFEE", "0.00", "5.50"),
            // No KFEE: nothing.
            entry("L8", "T3", 2, "ZEUR", "-10.0000", "0.0200"),
            entry("L9", "T3", 2, "SOL", "0.1000000000", "0"),
        ];
        let ledger = Ledger::from_entries(&entries, &AssetTable::default()).unwrap();
        let id = |i: usize| ledger.table.fields(i).id.to_owned();
        let mut got: Vec<(String, Decimal)> = ledger
            .fee_credits()
            .into_iter()
            .map(|(i, c)| (id(i), c))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("L2".to_owned(), Decimal::new(5200, 2)),
                ("L5".to_owned(), Decimal::new(1550, 2)),
            ]
        );
    }

    #[test]
    fn year_bounds_in_utc_and_another_zone() {
        let (s, e) = year_bounds(2025, Tz::UTC).unwrap();
        assert_eq!(s, 1_735_689_600_000_000);
        assert_eq!(e, 1_767_225_600_000_000);
        let (s, _) = year_bounds(2025, "Europe/Berlin".parse().unwrap()).unwrap();
        assert_eq!(s, 1_735_689_600_000_000 - 3_600_000_000);
    }
}
