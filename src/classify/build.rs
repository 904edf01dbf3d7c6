//! The derived stage: every ledger leg's event, classification and the facts its valuation
//! needs, computed here and stored (`legs`), so that reports read them and never classify raw
//! rows. [`ensure_fresh`] is the one refresh: nothing when current, only the events touched by
//! new raw rows when that is all that changed, everything when the classifier or the rules
//! changed (or raw rows changed otherwise).

use super::{
    CLASSIFIER_VERSION, Counterparty, LegFacts, Rules, also_transfer_wallet_fields, classify_facts,
};
use crate::domain::Element;
use crate::normalize::assets::AssetTable;
use crate::normalize::events::CROSS_REFID_SUBTYPES;
use crate::normalize::legs::{Events, LegTable, LegTableError};
use crate::store::{
    DerivedLegRef, DerivedSink, DerivedStamp, EntryLabel, OwnedFields, Store, StoreError,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// A short, stable hash of the user's rules, so a change of rules triggers a rebuild.
pub fn rules_hash(rules: &Rules) -> String {
    let digest = Sha256::digest(format!("{rules:?}").as_bytes());
    crate::domain::hex(&digest[..8])
}

fn absurd(e: LegTableError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The KFEE fee credits paid for legs of a grouped ledger, by entry position: an event's KFEE
/// legs (amount 0, the credits in `fee`) paid for its crypto disposal leg, else its crypto
/// acquisition leg (the first in ledger order). Two passes over the entries, no allocation per
/// entry; empty for a ledger that never paid with KFEE.
pub fn fee_credits(t: &LegTable, ev: &Events) -> HashMap<usize, Decimal> {
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

/// Classifies every entry of a compact ledger (grouped into `events`, in ledger order: time,
/// then id) and inserts its derived legs through `sink` in that order, which is the table's
/// key order. The production path of classification: the only caller of the classifier.
pub fn derive_compact(
    table: &LegTable,
    events: &Events,
    rules: &Rules,
    sink: &mut DerivedSink<'_>,
) -> Result<BuildReport, StoreError> {
    let credits = fee_credits(table, events);
    let mut report = BuildReport::default();
    let mut oldest_unclassified: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut amount = String::new();
    // What `amount` holds the text of.
    let mut amount_of: Option<[u8; 16]> = None;
    let mut credit = String::new();
    // The legs of an event are usually next to each other: encode its sides once.
    let mut sides: Option<(u32, String)> = None;
    for i in 0..table.len() {
        let counter = events.counter(table, i);
        let f = LegFacts::of_compact(table, events, i, counter);
        let c = classify_facts(&f, rules);
        // The legs of an event mostly share their counter side: format it once. Keyed by
        // the exact representation (scale included), which is what the text shows.
        if let Some(x) = counter {
            let key = x.amount.serialize();
            if amount_of != Some(key) {
                amount.clear();
                let _ = write!(amount, "{}", x.amount);
                amount_of = Some(key);
            }
        }
        let event = events.event_of(i).filter(|_| c.element.is_reportable());
        if let Some(k) = event
            && sides.as_ref().is_none_or(|(j, _)| *j != k)
        {
            sides = Some((k, events.exchange(table, k).encode()));
        }
        let paid = credits.get(&i).copied().unwrap_or_default();
        credit.clear();
        if !paid.is_zero() {
            let _ = write!(credit, "{paid}");
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
            sides: event.and(sides.as_ref().map(|(_, s)| s.as_str())),
            fee_credits: (!paid.is_zero()).then_some(credit.as_str()),
        };
        sink.insert(&leg)?;
        report.add(&leg);
        if leg.element == Element::Unclassified {
            // The example is the oldest leg (the table is in time order; kept explicit).
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

/// What a refresh found worth telling the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Legs in the derived table after the refresh.
    pub legs: u64,
    /// Legs classified by this refresh (all of them, or those of the events new raw rows
    /// touched).
    pub rederived: u64,
    /// Legs classified by this refresh, per element.
    pub by_element: BTreeMap<Element, u64>,
    /// Unclassified legs of this refresh: reason → (count, an example ledger id).
    pub unclassified: BTreeMap<String, (u64, String)>,
    /// Asset codes that were not recognised and passed through: code → count.
    pub unknown_assets: BTreeMap<String, u64>,
}

/// `rules` with the labels stored by `kraken-tax label` for `account` added as
/// `[classify.labels]` entries (a stored label wins over the config's for the same id). The
/// refresh classifies with these, so export, status and gains all see the stored labels, and
/// a new label makes the derived legs stale (the rules' hash changes).
pub fn with_stored_labels(
    store: &Store,
    account: &str,
    rules: &Rules,
) -> Result<Rules, StoreError> {
    let mut out = rules.clone();
    for (reference, label) in store.labels(account)? {
        let counterparty = match label {
            EntryLabel::Exchange => Counterparty::Exchange,
            // A wallet of one's own is not at a provider: a private wallet for CARF.
            EntryLabel::OwnWallet | EntryLabel::PrivateWallet => Counterparty::PrivateWallet,
        };
        out.labels.insert(reference, counterparty);
    }
    Ok(out)
}

/// Rebuilds all derived legs of `account` from its raw ledger, read compactly (a
/// million-entry account fits in about 150 MB), with the config's `rules` and the stored
/// labels.
pub fn rebuild(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<BuildReport, StoreError> {
    let rules = &with_stored_labels(store, account, rules)?;
    rebuild_with(store, account, assets, rules)
}

/// [`rebuild`] with the labels already in `rules`.
fn rebuild_with(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<BuildReport, StoreError> {
    let started = std::time::Instant::now();
    let raw = store.raw_ledger_stamp(account)?;
    let (table, events) = load_grouped(store, account, assets)?;
    tracing::debug!(
        "read and grouped {} ledger entries in {:.2?}",
        table.len(),
        started.elapsed()
    );
    let stamp = stamp_for(rules, raw);
    let mut report = BuildReport::default();
    store.replace_derived_legs_with(account, &stamp, |sink| {
        report = derive_compact(&table, &events, rules, sink)?;
        tracing::debug!(
            "classified and inserted the legs, at {:.2?}",
            started.elapsed()
        );
        Ok(())
    })?;
    tracing::debug!("stored the derived legs, at {:.2?}", started.elapsed());
    report.rederived = report.legs;
    Ok(report)
}

/// What [`rebuild`] would derive, with nothing stored (`rebuild --dry-run`).
pub fn preview_rebuild(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<BuildReport, StoreError> {
    let (table, events) = load_grouped(store, account, assets)?;
    let mut report = BuildReport::default();
    store.preview_derived_legs_with(account, |sink| {
        report = derive_compact(&table, &events, rules, sink)?;
        Ok(())
    })?;
    report.rederived = report.legs;
    Ok(report)
}

/// Reads `account`'s ledger from the store (only the columns needed, no allocation per
/// entry) and groups it into events.
fn load_grouped(
    store: &Store,
    account: &str,
    assets: &AssetTable,
) -> Result<(LegTable, Events), StoreError> {
    let mut table = LegTable::new(assets);
    store.for_each_ledger_fields(account, |f| table.push(f))?;
    table.shrink_to_fit();
    let events = Events::group(&table).map_err(absurd)?;
    Ok((table, events))
}

/// The one refresh of the derived legs: nothing when they match the classifier, the rules
/// and the raw rows; when only new raw rows arrived (sync, import), the events they touch
/// (every leg sharing a refid with a new exchange leg, and all cross-refid conversions when
/// one of those is involved, since their pairing is by time) are derived again; otherwise,
/// or when the new rows are a large part of the ledger, everything is. Returns the report
/// when it changed anything.
pub fn ensure_fresh(
    store: &mut Store,
    account: &str,
    assets: &AssetTable,
    rules: &Rules,
) -> Result<Option<BuildReport>, StoreError> {
    let rules = &with_stored_labels(store, account, rules)?;
    let raw = store.raw_ledger_stamp(account)?;
    let want = stamp_for(rules, raw);
    let have = store.derived_stamp(account)?;
    let Some(have) = have else {
        return rebuild_with(store, account, assets, rules).map(Some);
    };
    if have == want {
        return Ok(None);
    }
    let same_rules =
        have.classifier_version == want.classifier_version && have.rules_hash == want.rules_hash;
    let added = want.raw_rows.saturating_sub(have.raw_rows);
    if !same_rules || added == 0 || added.saturating_mul(4) > want.raw_rows {
        return rebuild_with(store, account, assets, rules).map(Some);
    }
    let mut new: Vec<OwnedFields> = Vec::new();
    store.for_each_ledger_fields_after(account, have.max_rowid, |f| {
        new.push(OwnedFields::from(f));
        Ok(())
    })?;
    if have.raw_rows + new.len() as u64 != want.raw_rows {
        // Rows changed otherwise than by being added: start again from the raw rows.
        return rebuild_with(store, account, assets, rules).map(Some);
    }
    let rows = affected(store, account, new)?;
    let mut table = LegTable::new(assets);
    for r in &rows {
        table.push(r.fields()).map_err(absurd)?;
    }
    let events = Events::group(&table).map_err(absurd)?;
    let mut report = BuildReport::default();
    store.update_derived_legs_with(account, &want, |sink| {
        report = derive_compact(&table, &events, rules, sink)?;
        Ok(())
    })?;
    report.rederived = report.legs;
    report.legs = want.raw_rows;
    Ok(Some(report))
}

/// The raw rows whose derived legs new rows can change: the new rows, the rows sharing a
/// refid with a new exchange-like row, and, when any of these is a cross-refid conversion,
/// every row of a refid with a cross-refid conversion. In ledger order (time, then id).
fn affected(
    store: &Store,
    account: &str,
    new: Vec<OwnedFields>,
) -> Result<Vec<OwnedFields>, StoreError> {
    let cross = |r: &OwnedFields| {
        r.subtype
            .as_deref()
            .is_some_and(|s| CROSS_REFID_SUBTYPES.contains(&s))
    };
    // Non-exchange rows form events of their own; "Unknown" ties nothing together. The
    // exchange-like test is `LegTable`'s; a refid shared with any row is kept, which is a
    // superset and costs nothing but a few rows.
    let mut refids: BTreeSet<String> = new
        .iter()
        .filter(|r| r.refid != "Unknown")
        .map(|r| r.refid.clone())
        .collect();
    let mut rows: BTreeMap<(i64, String), OwnedFields> = BTreeMap::new();
    let mut any_cross = new.iter().any(cross);
    for r in new {
        rows.insert((r.time_us, r.id.clone()), r);
    }
    let sharing = |refids: &BTreeSet<String>,
                   rows: &mut BTreeMap<(i64, String), OwnedFields>|
     -> Result<bool, StoreError> {
        let mut found_cross = false;
        store.for_each_ledger_fields_with_refids(account, refids, |f| {
            let r = OwnedFields::from(f);
            found_cross |= cross(&r);
            rows.insert((r.time_us, r.id.clone()), r);
            Ok(())
        })?;
        Ok(found_cross)
    };
    if !refids.is_empty() {
        any_cross |= sharing(&refids, &mut rows)?;
    }
    if any_cross {
        store.for_each_ledger_fields_with_subtypes(account, CROSS_REFID_SUBTYPES, |f| {
            if f.refid != "Unknown" {
                refids.insert(f.refid.to_owned());
            }
            Ok(())
        })?;
        sharing(&refids, &mut rows)?;
    }
    Ok(rows.into_values().collect())
}

/// What the derived tables must have been built from to be current.
pub fn stamp_for(rules: &Rules, (raw_rows, max_rowid): (u64, i64)) -> DerivedStamp {
    DerivedStamp {
        classifier_version: CLASSIFIER_VERSION,
        rules_hash: rules_hash(rules),
        raw_rows,
        max_rowid,
    }
}

/// True when the account's derived tables match the classifier, the rules and the raw rows.
pub fn is_fresh(store: &Store, account: &str, rules: &Rules) -> Result<bool, StoreError> {
    let current = stamp_for(rules, store.raw_ledger_stamp(account)?);
    Ok(store.derived_stamp(account)?.as_ref() == Some(&current))
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

/// The test oracle of the derived stage: the owned grouping and classification of every
/// entry (any order), one derived leg per entry in the same order, with its own computation
/// of the stored sides and fee credits.
#[cfg(test)]
pub(crate) fn derive(
    entries: &[crate::domain::LedgerEntry],
    assets: &AssetTable,
    rules: &Rules,
) -> Result<Vec<crate::store::DerivedLeg>, LegTableError> {
    use super::{also_transfer_wallet, classify};
    let contexts = crate::normalize::legs::group(entries, assets)?;
    // KFEE credits per event, and the leg they paid for: its disposal, else its first
    // acquisition in (time, id) order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        (entries[a].time.micros(), &entries[a].id).cmp(&(entries[b].time.micros(), &entries[b].id))
    });
    let mut paid: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (e, ctx) in entries.iter().zip(&contexts) {
        if ctx.asset.is_fee_credit && ctx.exchange.is_some() && !e.fee.is_zero() {
            *paid.entry(&ctx.event_id).or_default() += e.fee.abs();
        }
    }
    let mut target: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &order {
        let (e, ctx) = (&entries[i], &contexts[i]);
        let a = &ctx.asset;
        if ctx.exchange.is_none() || a.is_fiat || a.is_fee_credit || e.amount.is_zero() {
            continue;
        }
        if !paid.contains_key(ctx.event_id.as_str()) {
            continue;
        }
        let t = target.entry(&ctx.event_id).or_insert(i);
        if !entries[*t].amount.is_sign_negative() && e.amount.is_sign_negative() {
            *t = i;
        }
    }
    Ok(entries
        .iter()
        .zip(&contexts)
        .enumerate()
        .map(|(i, (e, ctx))| {
            let c = classify(e, ctx, rules);
            let counter = ctx
                .exchange
                .as_ref()
                .and_then(|x| x.counter_of(&ctx.asset.code, e.amount))
                .map(|s| (s.asset.clone(), s.amount.to_string()));
            let credits = (target.get(ctx.event_id.as_str()) == Some(&i))
                .then(|| paid[ctx.event_id.as_str()].to_string());
            crate::store::DerivedLeg {
                ledger_id: e.id.to_string(),
                event_id: ctx.event_id.clone(),
                time_us: e.time.micros(),
                transfer_wallet: also_transfer_wallet(e, &c, rules),
                asset: ctx.asset.code.clone(),
                asset_known: ctx.asset.known,
                is_fiat: ctx.asset.is_fiat,
                element: c.element,
                type_code: c.type_code.map(str::to_owned),
                note: c.note.clone(),
                counter_asset: counter.as_ref().map(|c| c.0.clone()),
                counter_amount: counter.map(|c| c.1),
                sides: ctx
                    .exchange
                    .as_ref()
                    .filter(|_| c.element.is_reportable())
                    .map(|x| x.encode()),
                fee_credits: credits,
            }
        })
        .collect())
}

/// Summarizes derived legs (test oracle of the report a refresh gives).
#[cfg(test)]
pub(crate) fn report_of(legs: &[crate::store::DerivedLeg]) -> BuildReport {
    let mut r = BuildReport::default();
    for l in legs {
        r.add(&l.as_ref());
    }
    r.rederived = r.legs;
    r
}
