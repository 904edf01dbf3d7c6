//! Grouping ledger legs into events: the legs of one trade (summing several fills of one asset),
//! spend/receive pairs, conversions, and dust sweeps or delisting conversions whose two sides
//! carry different refids.

use super::assets::{AssetTable, NormalizedAsset};
use super::legs::{Events, LegTable};
use crate::domain::{LedgerEntry, LedgerFields};
use rust_decimal::Decimal;

/// Ledger types whose legs exchange one asset for another under one refid.
pub(crate) const EXCHANGE_TYPES: &[&str] = &["trade", "spend", "receive", "conversion", "sale"];

/// Subtypes of conversions Kraken books under different refids, paired by time.
pub(crate) const CROSS_REFID_SUBTYPES: &[&str] = &["dustsweeping", "delistingconversion"];

/// Longest gap between the two sides of a cross-refid conversion (Kraken: minutes to days).
pub(crate) const CROSS_REFID_WINDOW_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// One asset's side of an exchange event, all fills summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The reported asset.
    pub asset: String,
    /// Fiat or crypto.
    pub is_fiat: bool,
    /// Net signed amount over the legs of this asset.
    pub amount: Decimal,
    /// Total fee over those legs.
    pub fee: Decimal,
}

/// An exchange of assets: the sides given (negative) and received (positive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exchange {
    /// Per reported asset (excluding fee credits), net amounts.
    pub sides: Vec<Side>,
}

impl Exchange {
    /// The side of the other sign than `amount` with the largest absolute amount: what this
    /// leg was exchanged against.
    pub fn counter_of(&self, asset: &str, amount: Decimal) -> Option<&Side> {
        self.sides
            .iter()
            .filter(|s| {
                s.asset != asset
                    && s.amount.is_sign_negative() != amount.is_sign_negative()
                    && !s.amount.is_zero()
            })
            .max_by_key(|s| s.amount.abs())
    }
}

/// The event a leg belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegContext {
    /// Stable id of the event (the refid, or `pair:<refid>+<refid>` for cross-refid pairs).
    pub event_id: String,
    /// The normalized asset of this leg.
    pub asset: NormalizedAsset,
    /// For exchange events: all sides.
    pub exchange: Option<Exchange>,
}

/// Groups `entries` (any order) into events; returns one context per entry, in the same order.
/// The grouping itself is [`super::legs::Events::group`] (the one the export runs on a compact
/// table); this gives each leg its context as an owned value. Fails only on absurd input (see
/// [`super::legs::LegTable::push`]).
pub fn group(entries: &[LedgerEntry], assets: &AssetTable) -> Result<Vec<LegContext>, String> {
    let table = LegTable::from_fields(entries.iter().map(LedgerFields::from), assets)?;
    let events = Events::group(&table)?;
    Ok((0..entries.len())
        .map(|i| events.context(&table, i))
        .collect())
}
