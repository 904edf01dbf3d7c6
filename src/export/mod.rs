//! The report files of a year: per-leg transactions, the per-asset summary (CSV), and CARF XML.
//!
//! The export reads the derived legs (`classify::build`, refreshed first if stale through
//! `classify::build::ensure_fresh`), never the classifier: each leg's event, element, code,
//! counterpart, the sides of its exchange and the fee credits it paid were computed over the
//! whole history (an event may straddle the year boundary) when the raw rows changed. The
//! year's legs are read in time order with their raw entries, valued and written one at a
//! time. Nothing disappears: internal, not-reportable and unclassified legs are listed in the
//! transactions file.

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

use crate::domain::Element;
use crate::normalize::assets::name_of;
use crate::normalize::events::{Exchange, SidesError};
use crate::pricing::{LegToValue, LegValue, LegValuer, PriceSource};
use crate::store::{DerivedLegRef, Store, StoreError, YearLeg};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Why the legs of a year could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum YearError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a row.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A raw entry without its derived leg: another process stored entries after the refresh.
    #[error(
        "ledger entry {ledger_id} has no derived classification yet (entries were stored while the export ran): run the export again"
    )]
    Stale {
        /// The entry.
        ledger_id: String,
    },
    /// A stored value that cannot be read back.
    #[error("damaged derived leg {ledger_id}: {what}")]
    Damaged {
        /// The entry.
        ledger_id: String,
        /// What is wrong.
        what: String,
    },
}

impl YearError {
    /// The database error inside, if any (its kind decides the exit code).
    pub fn store(&self) -> Option<&StoreError> {
        match self {
            YearError::Store(e) => Some(e),
            _ => None,
        }
    }
}

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

/// The legs of one account with `start <= time < end`, as the derived table holds them: what
/// the export values and writes. Refresh the derived table first
/// (`classify::build::ensure_fresh`).
#[derive(Debug, Clone, Copy)]
pub struct YearLegs<'s> {
    store: &'s Store,
    account: &'s str,
    bounds: (i64, i64),
}

/// A reportable leg of the year, owned, for planning the price fetch.
#[derive(Debug, Clone)]
struct Reportable {
    ledger_id: String,
    time_us: i64,
    asset: String,
    amount: Decimal,
    fee: Decimal,
    element: Element,
    event_id: String,
    /// Index into [`ToValue::exchanges`].
    exchange: Option<usize>,
    fee_credits: Decimal,
}

/// The reportable legs of a year, owned ([`YearLegs::to_value`]); [`ToValue::legs`] lends
/// them in the valuation's terms (for `pricing::prefetch`).
#[derive(Debug, Default)]
pub struct ToValue {
    legs: Vec<Reportable>,
    exchanges: Vec<Exchange>,
}

impl ToValue {
    /// The legs, borrowed, as `pricing` takes them.
    pub fn legs(&self) -> Vec<LegToValue<'_>> {
        self.legs
            .iter()
            .map(|l| LegToValue {
                ledger_id: &l.ledger_id,
                time_us: l.time_us,
                asset: &l.asset,
                amount: l.amount,
                fee: l.fee,
                element: l.element,
                event_id: &l.event_id,
                exchange: l.exchange.map(|i| &self.exchanges[i]),
                fee_credits: l.fee_credits,
            })
            .collect()
    }
}

/// A stored leg's derived leg, or the error saying why it has none.
fn derived<'a>(y: &YearLeg<'a>) -> Result<DerivedLegRef<'a>, YearError> {
    y.derived.ok_or_else(|| YearError::Stale {
        ledger_id: y.raw.id.to_owned(),
    })
}

fn damaged(l: &DerivedLegRef<'_>, what: String) -> YearError {
    YearError::Damaged {
        ledger_id: l.ledger_id.to_owned(),
        what,
    }
}

fn decimal(l: &DerivedLegRef<'_>, field: &str, text: Option<&str>) -> Result<Decimal, YearError> {
    match text {
        None => Ok(Decimal::ZERO),
        Some(t) => Decimal::from_str(t).map_err(|_| damaged(l, format!("{field} {t:?}"))),
    }
}

/// The sides of `l`'s event, decoded once per event: `last` keeps the previous one.
fn exchange_of<'c>(
    l: &DerivedLegRef<'_>,
    last: &'c mut Option<(String, Exchange)>,
) -> Result<Option<&'c Exchange>, YearError> {
    let Some(text) = l.sides else {
        return Ok(None);
    };
    if last.as_ref().is_none_or(|(id, _)| id != l.event_id) {
        let x = Exchange::decode(text).map_err(|e: SidesError| damaged(l, e.to_string()))?;
        *last = Some((l.event_id.to_owned(), x));
    }
    Ok(last.as_ref().map(|(_, x)| x))
}

impl<'s> YearLegs<'s> {
    /// The legs of `account` in `bounds` (from [`year_bounds`]).
    pub fn new(store: &'s Store, account: &'s str, bounds: (i64, i64)) -> Self {
        YearLegs {
            store,
            account,
            bounds,
        }
    }

    /// True when the year has no ledger entry.
    pub fn is_empty(&self) -> Result<bool, YearError> {
        Ok(!self
            .store
            .has_ledger_entries_in(self.account, self.bounds)?)
    }

    /// The year's reportable legs, for `pricing::prefetch` (one read of the year).
    pub fn to_value(&self) -> Result<ToValue, YearError> {
        let mut out = ToValue::default();
        let mut last: Option<String> = None;
        self.store
            .for_each_year_leg(self.account, self.bounds, |y| -> Result<(), YearError> {
                let l = derived(&y)?;
                if !l.element.is_reportable() {
                    return Ok(());
                }
                let exchange = match l.sides {
                    None => None,
                    Some(text) => {
                        if last.as_deref() != Some(l.event_id) {
                            out.exchanges.push(
                                Exchange::decode(text).map_err(|e| damaged(&l, e.to_string()))?,
                            );
                            last = Some(l.event_id.to_owned());
                        }
                        Some(out.exchanges.len() - 1)
                    }
                };
                out.legs.push(Reportable {
                    ledger_id: y.raw.id.to_owned(),
                    time_us: y.raw.time_us,
                    asset: l.asset.to_owned(),
                    amount: y.raw.amount,
                    fee: y.raw.fee,
                    element: l.element,
                    event_id: l.event_id.to_owned(),
                    exchange,
                    fee_credits: decimal(&l, "fee_credits", l.fee_credits)?,
                });
                Ok(())
            })?;
        Ok(out)
    }

    /// Values the year's legs, in time order, and hands each row to `each`; returns the
    /// totals, with the summary. Reads the stored classification; classifies nothing.
    pub fn write_year(
        &self,
        currency: &str,
        fees: FeeTreatment,
        sources: &mut [&mut dyn PriceSource],
        mut each: impl FnMut(&RowRef<'_>) -> std::io::Result<()>,
    ) -> Result<YearTotals, YearError> {
        let mut valuer = LegValuer::new(currency, sources);
        let mut totals = YearTotals::default();
        // The legs of an event are usually next to each other: decode its sides once.
        let mut last: Option<(String, Exchange)> = None;
        let mut note = String::new();
        let account = self.account;
        self.store
            .for_each_year_leg(self.account, self.bounds, |y| -> Result<(), YearError> {
                let (e, l) = (y.raw, derived(&y)?);
                let exchange = exchange_of(&l, &mut last)?;
                let value = valuer.value(&LegToValue {
                    ledger_id: e.id,
                    time_us: e.time_us,
                    asset: l.asset,
                    amount: e.amount,
                    fee: e.fee,
                    element: l.element,
                    event_id: l.event_id,
                    exchange,
                    fee_credits: decimal(&l, "fee_credits", l.fee_credits)?,
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
                        note.push_str(l.note);
                        note.push_str("; ");
                        note.push_str(why);
                        note.as_str()
                    }
                    _ => l.note,
                };
                let counter_units = match l.counter_amount {
                    None => None,
                    Some(_) => Some(decimal(&l, "counter_amount", l.counter_amount)?.abs()),
                };
                let row = RowRef {
                    // In range: checked when read (`Store::for_each_year_leg`).
                    time: DateTime::from_timestamp_micros(e.time_us).unwrap_or_default(),
                    account,
                    ledger_id: e.id,
                    refid: e.refid,
                    kraken_type: e.kind,
                    kraken_subtype: e.subtype.unwrap_or_default(),
                    kraken_asset: e.asset,
                    crypto_asset: l.asset,
                    element: l.element,
                    type_code: l.type_code,
                    transfer_wallet: l.transfer_wallet,
                    units: e.amount.abs(),
                    fee_units: e.fee,
                    amount_gross: gross,
                    fee_amount,
                    amount,
                    price,
                    price_source,
                    counter_asset: l.counter_asset,
                    counter_units,
                    note,
                };
                each(&row)?;
                totals.add(&row).map_err(std::io::Error::other)?;
                Ok(())
            })?;
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

    use crate::domain::LedgerEntry;

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
        use crate::domain::LedgerFields;
        use crate::normalize::assets::AssetTable;
        use crate::normalize::legs::{Events, LegTable};
        let table = LegTable::from_fields(
            entries.iter().map(LedgerFields::from),
            &AssetTable::default(),
        )
        .unwrap();
        let events = Events::group(&table).unwrap();
        let id = |i: usize| table.fields(i).id.to_owned();
        let mut got: Vec<(String, Decimal)> = crate::classify::build::fee_credits(&table, &events)
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
    fn the_year_is_read_from_the_stored_legs_and_a_missing_leg_is_refused() {
        use crate::classify::Rules;
        use crate::classify::build::{derive, ensure_fresh, stamp_for};
        use crate::normalize::assets::AssetTable;
        use crate::store::Store;
        let entries = [
            entry("L1", "T1", 0, "ZEUR", "-200.0000", "0"),
            entry("L2", "T1", 0, "SOL", "2.0000000000", "0"),
            entry("L3", "T1", 0, "KFEE", "0.00", "52.00"),
        ];
        let mut store = Store::open_in_memory().unwrap();
        let rows: Vec<_> = entries
            .iter()
            .map(|e| crate::domain::RawRecord {
                item: e.clone(),
                raw: "{}".into(),
            })
            .collect();
        store
            .insert_ledger_entries("a", &rows, crate::store::Source::Api)
            .unwrap();
        let rules = Rules::default();
        ensure_fresh(&mut store, "a", &AssetTable::default(), &rules).unwrap();
        let year = YearLegs::new(&store, "a", year_bounds(2025, Tz::UTC).unwrap());
        assert!(!year.is_empty().unwrap());
        let mut got = Vec::new();
        let totals = year
            .write_year("EUR", FeeTreatment::Net, &mut [], |r| {
                got.push((r.ledger_id.to_owned(), r.element, r.amount, r.fee_amount));
                Ok(())
            })
            .unwrap();
        assert_eq!(totals.legs, 3);
        // The SOL leg is valued from the trade's EUR side; its KFEE credits (52 = 0.52 USD)
        // need a USD rate, which this empty price book lacks: unpriced, as the export said
        // when it classified the legs itself.
        assert_eq!(
            got,
            [
                ("L1".to_owned(), Element::NotReportable, None, None),
                ("L2".to_owned(), Element::CryptoFiatIn, None, None),
                ("L3".to_owned(), Element::NotReportable, None, None),
            ]
        );
        assert_eq!(totals.unpriced, 1);
        // A raw entry without its derived leg (stored after the refresh): refused, named.
        let legs = derive(&entries, &AssetTable::default(), &rules).unwrap();
        let stamp = stamp_for(&rules, store.raw_ledger_stamp("a").unwrap());
        store
            .replace_derived_legs_with("a", &stamp, |sink| {
                legs[..2].iter().try_for_each(|l| sink.insert(&l.as_ref()))
            })
            .unwrap();
        let year = YearLegs::new(&store, "a", year_bounds(2025, Tz::UTC).unwrap());
        let err = year
            .write_year("EUR", FeeTreatment::Net, &mut [], |_| Ok(()))
            .unwrap_err();
        assert!(
            matches!(&err, YearError::Stale { ledger_id } if ledger_id == "L3"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "ledger entry L3 has no derived classification yet (entries were stored while the export ran): run the export again"
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
