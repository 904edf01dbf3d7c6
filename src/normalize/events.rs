//! Grouping ledger legs into events: the legs of one trade (summing several fills of one asset),
//! spend/receive pairs, conversions, and dust sweeps or delisting conversions whose two sides
//! carry different refids.

use super::assets::{AssetTable, NormalizedAsset};
use crate::domain::LedgerEntry;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

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
pub fn group(entries: &[LedgerEntry], assets: &AssetTable) -> Vec<LegContext> {
    let normalized: Vec<NormalizedAsset> = entries
        .iter()
        .map(|e| assets.normalize(e.asset.as_str()))
        .collect();
    // Exchange legs by refid; the placeholder refid `Unknown` ties nothing together.
    let mut by_refid: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let exchange_like = EXCHANGE_TYPES.contains(&e.kind.as_str()) || is_cross_refid(e);
        if exchange_like && !e.refid.is_placeholder() {
            by_refid.entry(e.refid.as_str()).or_default().push(i);
        }
    }
    let mut event_of: Vec<Option<String>> = vec![None; entries.len()];
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (refid, idx) in &by_refid {
        for &i in idx {
            event_of[i] = Some((*refid).to_owned());
        }
        groups.insert((*refid).to_owned(), idx.clone());
    }
    pair_cross_refid(entries, &normalized, &mut groups, &mut event_of);

    let exchanges: HashMap<&str, Exchange> = groups
        .iter()
        .map(|(id, idx)| (id.as_str(), exchange_of(entries, &normalized, idx)))
        .collect();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let event_id = event_of[i].clone().unwrap_or_else(|| e.id.to_string());
            let exchange = event_of[i]
                .as_deref()
                .and_then(|id| exchanges.get(id))
                .cloned();
            LegContext {
                event_id,
                asset: normalized[i].clone(),
                exchange,
            }
        })
        .collect()
}

fn is_cross_refid(e: &LedgerEntry) -> bool {
    e.subtype
        .as_deref()
        .is_some_and(|s| CROSS_REFID_SUBTYPES.contains(&s))
}

fn exchange_of(entries: &[LedgerEntry], normalized: &[NormalizedAsset], idx: &[usize]) -> Exchange {
    let mut sides: Vec<Side> = Vec::new();
    for &i in idx {
        let a = &normalized[i];
        if a.is_fee_credit {
            continue;
        }
        let e = &entries[i];
        match sides.iter_mut().find(|s| s.asset == a.code) {
            Some(s) => {
                s.amount += e.amount;
                s.fee += e.fee;
            }
            None => sides.push(Side {
                asset: a.code.clone(),
                is_fiat: a.is_fiat,
                amount: e.amount,
                fee: e.fee,
            }),
        }
    }
    Exchange { sides }
}

/// Pairs one-sided groups of dust sweeps and delisting conversions (only debits, or only
/// credits, under their refid) with the nearest opposite one-sided group of the same subtype
/// that follows within the window.
fn pair_cross_refid(
    entries: &[LedgerEntry],
    normalized: &[NormalizedAsset],
    groups: &mut BTreeMap<String, Vec<usize>>,
    event_of: &mut [Option<String>],
) {
    #[derive(Clone)]
    struct OneSided {
        refid: String,
        subtype: String,
        time: i64,
        debit: bool,
    }
    let mut one_sided: Vec<OneSided> = groups
        .iter()
        .filter_map(|(refid, idx)| {
            let first = &entries[idx[0]];
            if !is_cross_refid(first) {
                return None;
            }
            let signs: Vec<bool> = idx
                .iter()
                .filter(|&&i| !normalized[i].is_fee_credit && !entries[i].amount.is_zero())
                .map(|&i| entries[i].amount.is_sign_negative())
                .collect();
            let all_debit = signs.iter().all(|&d| d);
            let all_credit = signs.iter().all(|&d| !d);
            (!signs.is_empty() && (all_debit || all_credit)).then(|| OneSided {
                refid: refid.clone(),
                subtype: first.subtype.clone().unwrap_or_default(),
                time: idx
                    .iter()
                    .map(|&i| entries[i].time.micros())
                    .min()
                    .unwrap_or(0),
                debit: all_debit,
            })
        })
        .collect();
    one_sided.sort_by(|a, b| (a.time, &a.refid).cmp(&(b.time, &b.refid)));
    let mut used = vec![false; one_sided.len()];
    for i in 0..one_sided.len() {
        if used[i] || !one_sided[i].debit {
            continue;
        }
        let partner = (0..one_sided.len()).find(|&j| {
            !used[j]
                && j != i
                && !one_sided[j].debit
                && one_sided[j].subtype == one_sided[i].subtype
                && one_sided[j].time >= one_sided[i].time
                && one_sided[j].time - one_sided[i].time <= CROSS_REFID_WINDOW_MICROS
        });
        if let Some(j) = partner {
            used[i] = true;
            used[j] = true;
            let (a, b) = (one_sided[i].refid.clone(), one_sided[j].refid.clone());
            let id = format!("pair:{a}+{b}");
            let mut idx = groups.remove(&a).unwrap_or_default();
            idx.extend(groups.remove(&b).unwrap_or_default());
            for &k in &idx {
                event_of[k] = Some(id.clone());
            }
            groups.insert(id, idx);
        }
    }
}
