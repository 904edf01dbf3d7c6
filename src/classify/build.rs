//! Building the derived legs table from the raw ledger, and keeping it fresh.

use super::{
    CLASSIFIER_VERSION, LegFacts, Rules, also_transfer_wallet, also_transfer_wallet_fields,
    classify, classify_facts,
};
use crate::domain::{Classification, Element, LedgerEntry};
use crate::normalize::assets::AssetTable;
use crate::normalize::events::{LegContext, group};
use crate::normalize::legs::{Events, LegTable};
use crate::store::{DerivedLeg, DerivedLegRef, DerivedSink, DerivedStamp, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A short, stable hash of the user's rules, so a change of rules triggers a rebuild.
pub fn rules_hash(rules: &Rules) -> String {
    let digest = Sha256::digest(format!("{rules:?}").as_bytes());
    crate::domain::hex(&digest[..8])
}

/// Classifies every entry of an account (any order); one derived leg per entry, same order.
/// Fails only on absurd input (see `normalize::legs::LegTable::push`).
pub fn derive(
    entries: &[LedgerEntry],
    assets: &AssetTable,
    rules: &Rules,
) -> Result<Vec<DerivedLeg>, String> {
    let contexts = group(entries, assets)?;
    let classes: Vec<Classification> = entries
        .iter()
        .zip(&contexts)
        .map(|(e, ctx)| classify(e, ctx, rules))
        .collect();
    Ok(derive_from(entries, &contexts, &classes, rules))
}

/// The derived legs of entries already grouped and classified (one context and one
/// classification per entry, same order), so a caller that needed them anyway (the export)
/// does not classify twice.
pub fn derive_from(
    entries: &[LedgerEntry],
    contexts: &[LegContext],
    classes: &[Classification],
    rules: &Rules,
) -> Vec<DerivedLeg> {
    entries
        .iter()
        .zip(contexts)
        .zip(classes)
        .map(|((e, ctx), c)| {
            let counter = ctx
                .exchange
                .as_ref()
                .and_then(|x| x.counter_of(&ctx.asset.code, e.amount))
                .map(|s| (s.asset.clone(), s.amount.to_string()));
            DerivedLeg {
                ledger_id: e.id.to_string(),
                event_id: ctx.event_id.clone(),
                time_us: e.time.micros(),
                transfer_wallet: also_transfer_wallet(e, c, rules),
                asset: ctx.asset.code.clone(),
                asset_known: ctx.asset.known,
                is_fiat: ctx.asset.is_fiat,
                element: c.element,
                type_code: c.type_code.map(str::to_owned),
                note: c.note.clone(),
                counter_asset: counter.as_ref().map(|c| c.0.clone()),
                counter_amount: counter.map(|c| c.1),
            }
        })
        .collect()
}

/// Classifies every entry of a compact ledger (grouped into `events`) and inserts its derived
/// legs through `sink`, in ledger-id order; the same legs as [`derive`], without holding them.
pub fn derive_compact(
    table: &LegTable,
    events: &Events,
    rules: &Rules,
    sink: &mut DerivedSink<'_>,
) -> Result<BuildReport, StoreError> {
    let n = u32::try_from(table.len())
        .map_err(|_| StoreError::Corrupt(format!("{} ledger entries", table.len())))?;
    // Sorted by id through an 8-byte prefix of it (big-endian, so integer order is byte
    // order), the full ids compared only on a tie: a third of the time of comparing ids
    // scattered over the text buffer.
    let prefix = |i: u32| {
        let mut p = [0u8; 8];
        let id = table.id(i as usize).as_bytes();
        let k = id.len().min(8);
        p[..k].copy_from_slice(&id[..k]);
        u64::from_be_bytes(p)
    };
    let mut keyed: Vec<(u64, u32)> = (0..n).map(|i| (prefix(i), i)).collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| table.id(a.1 as usize).cmp(table.id(b.1 as usize)))
    });
    let mut order: Vec<u32> = Vec::with_capacity(keyed.len());
    order.extend(keyed.iter().map(|&(_, i)| i));
    drop(keyed);
    let mut report = BuildReport::default();
    let mut oldest_unclassified: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut amount = String::new();
    for i in order {
        let i = i as usize;
        let counter = events.counter(table, i);
        let f = LegFacts::of_compact(table, events, i, counter);
        let c = classify_facts(&f, rules);
        amount.clear();
        if let Some(x) = counter {
            let _ = write!(amount, "{}", x.amount);
        }
        let leg = DerivedLegRef {
            ledger_id: f.entry.id,
            event_id: events.event_id(table, i),
            time_us: f.entry.time_us,
            asset: &f.asset.code,
            asset_known: f.asset.known,
            is_fiat: f.asset.is_fiat,
            element: c.element,
            type_code: c.type_code,
            transfer_wallet: also_transfer_wallet_fields(&f.entry, &c, rules),
            note: &c.note,
            counter_asset: counter.map(|x| x.asset),
            counter_amount: counter.map(|_| amount.as_str()),
        };
        sink.insert(&leg)?;
        report.add(&leg);
        if leg.element == Element::Unclassified {
            // The example is the oldest leg, as `report_of` over legs in time order gives.
            let key = (leg.time_us, leg.ledger_id);
            match oldest_unclassified.get_mut(leg.note) {
                Some(old) if (old.0, old.1.as_str()) <= key => {}
                Some(old) => *old = (key.0, key.1.to_owned()),
                None => {
                    oldest_unclassified.insert(leg.note.to_owned(), (key.0, key.1.to_owned()));
                }
            }
        }
    }
    for (note, (_, id)) in oldest_unclassified {
        if let Some(slot) = report.unclassified.get_mut(&note) {
            slot.1 = id;
        }
    }
    Ok(report)
}

/// What a rebuild found worth telling the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Legs classified.
    pub legs: u64,
    /// Legs per element.
    pub by_element: BTreeMap<Element, u64>,
    /// Unclassified legs: reason → (count, an example ledger id).
    pub unclassified: BTreeMap<String, (u64, String)>,
    /// Asset codes that were not recognised and passed through: code → count.
    pub unknown_assets: BTreeMap<String, u64>,
}

/// Rebuilds the derived legs of `account` from its raw ledger, read compactly (a
/// million-entry account fits in about 150 MB).
pub fn rebuild(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<BuildReport, StoreError> {
    let (table, events) = load_grouped(store, account, assets)?;
    store_derived(store, account, &table, &events, rules)
}

/// Reads `account`'s ledger from the store (only the columns needed, no allocation per
/// entry) and groups it into events.
pub fn load_grouped(
    store: &Store,
    account: &str,
    assets: &AssetTable,
) -> Result<(LegTable, Events), StoreError> {
    let mut table = LegTable::new(assets);
    store.for_each_ledger_fields(account, |f| table.push(f))?;
    table.shrink_to_fit();
    let events = Events::group(&table).map_err(StoreError::Corrupt)?;
    Ok((table, events))
}

/// Replaces the account's derived legs with the classification of a grouped ledger,
/// streamed into the store in ledger-id order, and stamps them.
pub fn store_derived(
    store: &mut Store,
    account: &str,
    table: &LegTable,
    events: &Events,
    rules: &Rules,
) -> Result<BuildReport, StoreError> {
    let stamp = stamp_for(rules, table.len() as u64);
    let mut report = BuildReport::default();
    let bulk = table.len() >= crate::store::BULK_LEGS;
    store.replace_derived_legs_with(account, &stamp, bulk, |sink| {
        report = derive_compact(table, events, rules, sink)?;
        Ok(())
    })?;
    Ok(report)
}

/// Rebuilds only when the classifier, the rules or the raw rows changed since the last build.
/// Returns the report when it rebuilt.
pub fn ensure_fresh(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<Option<BuildReport>, StoreError> {
    if is_fresh(store, account, rules)? {
        return Ok(None);
    }
    rebuild(store, account, assets, rules).map(Some)
}

/// What the derived tables must have been built from to be current.
pub fn stamp_for(rules: &Rules, raw_rows: u64) -> DerivedStamp {
    DerivedStamp {
        classifier_version: CLASSIFIER_VERSION,
        rules_hash: rules_hash(rules),
        raw_rows,
    }
}

/// True when the account's derived tables match the classifier, the rules and the raw rows.
pub fn is_fresh(store: &Store, account: &str, rules: &Rules) -> Result<bool, StoreError> {
    let current = stamp_for(rules, store.raw_ledger_count(account)?);
    Ok(store.derived_stamp(account)?.as_ref() == Some(&current))
}

/// Summarizes derived legs.
pub fn report_of(legs: &[DerivedLeg]) -> BuildReport {
    let mut r = BuildReport::default();
    for l in legs {
        r.add(&l.as_ref());
    }
    r
}

impl BuildReport {
    /// Counts one more leg.
    pub fn add(&mut self, l: &DerivedLegRef<'_>) {
        self.legs += 1;
        *self.by_element.entry(l.element).or_default() += 1;
        if l.element == Element::Unclassified {
            match self.unclassified.get_mut(l.note) {
                Some(slot) => slot.0 += 1,
                None => {
                    self.unclassified
                        .insert(l.note.to_owned(), (1, l.ledger_id.to_owned()));
                }
            }
        }
        if !l.asset_known {
            match self.unknown_assets.get_mut(l.asset) {
                Some(n) => *n += 1,
                None => {
                    self.unknown_assets.insert(l.asset.to_owned(), 1);
                }
            }
        }
    }
}
