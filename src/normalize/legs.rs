//! A compact form of an account's ledger, and its grouping into events, for reading a large
//! account at once (the export of a million entries).
//!
//! [`LegTable`] keeps per entry only what grouping, classification and the reports read: the
//! time, amount and fee, the ids in one shared text buffer, and the low-cardinality strings
//! (type, subtype, asset) as indices into small tables. [`Events`] is its grouping into
//! events (the one production implementation, following the rules of [`super::events`]), with
//! the sides of each exchange event stored once per event instead of once per leg.
//! [`Events::context`] gives a leg's owned [`LegContext`].

use super::assets::{AssetTable, NormalizedAsset};
use super::events::{
    CROSS_REFID_SUBTYPES, CROSS_REFID_WINDOW_MICROS, EXCHANGE_TYPES, Exchange, LegContext, Side,
};
use crate::domain::LedgerFields;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Input a compact ledger cannot hold (absurd sizes only: real accounts are far below).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegTableError {
    /// A ledger id longer than 65,535 bytes.
    #[error("ledger id of {0} bytes")]
    IdTooLong(usize),
    /// More than 65,535 distinct values of one column.
    #[error("more than 65,535 distinct {0} values")]
    TooManyDistinct(&'static str),
    /// More entries, events, pairs or sides than a `u32` counts.
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// Small strings stored once, referred to by index.
#[derive(Debug, Default)]
struct Interner {
    index: HashMap<String, u16>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, s: &str, what: &'static str) -> Result<u16, LegTableError> {
        if let Some(&i) = self.index.get(s) {
            return Ok(i);
        }
        let i =
            u16::try_from(self.names.len()).map_err(|_| LegTableError::TooManyDistinct(what))?;
        self.index.insert(s.to_owned(), i);
        self.names.push(s.to_owned());
        Ok(i)
    }
}

/// One entry. The ledger id and the refid are `text[at..at + id_len]` and
/// `text[at + id_len..next entry's at]`.
#[derive(Debug, Clone, Copy)]
struct Leg {
    time_us: i64,
    amount: Decimal,
    fee: Decimal,
    at: usize,
    id_len: u16,
    kind: u16,
    /// 0: no subtype; otherwise the interned subtype + 1.
    subtype: u16,
    /// Interned raw asset code.
    asset: u16,
}

/// An account's ledger entries, compactly, in the order they were pushed.
#[derive(Debug)]
pub struct LegTable {
    legs: Vec<Leg>,
    text: String,
    kinds: Interner,
    subtypes: Interner,
    raw_assets: Interner,
    /// Per raw asset: what it normalizes to.
    normalized: Vec<NormalizedAsset>,
    /// Per raw asset: the index of its reported code in `codes`.
    code_of: Vec<u16>,
    /// Reported codes (`BTC`), each once.
    codes: Interner,
    /// Per reported code: fiat.
    code_is_fiat: Vec<bool>,
    /// Per type: exchange-like (one of `EXCHANGE_TYPES`).
    kind_exchange: Vec<bool>,
    /// Per subtype: a cross-refid conversion subtype.
    subtype_cross: Vec<bool>,
    assets: AssetTable,
}

impl LegTable {
    /// An empty table; raw asset codes are normalized with `assets`.
    pub fn new(assets: &AssetTable) -> Self {
        LegTable {
            legs: Vec::new(),
            text: String::new(),
            kinds: Interner::default(),
            subtypes: Interner::default(),
            raw_assets: Interner::default(),
            normalized: Vec::new(),
            code_of: Vec::new(),
            codes: Interner::default(),
            code_is_fiat: Vec::new(),
            kind_exchange: Vec::new(),
            subtype_cross: Vec::new(),
            assets: assets.clone(),
        }
    }

    /// A table of `entries`, in their order.
    pub fn from_fields<'a>(
        entries: impl IntoIterator<Item = LedgerFields<'a>>,
        assets: &AssetTable,
    ) -> Result<Self, LegTableError> {
        let mut t = Self::new(assets);
        for e in entries {
            t.push(e)?;
        }
        Ok(t)
    }

    /// Appends an entry. Fails only on absurd input (an id longer than 65,535 bytes, more than
    /// 65,535 distinct types, subtypes or assets).
    pub fn push(&mut self, e: LedgerFields<'_>) -> Result<(), LegTableError> {
        let id_len = u16::try_from(e.id.len()).map_err(|_| LegTableError::IdTooLong(e.id.len()))?;
        let kind = self.kinds.intern(e.kind, "type")?;
        if usize::from(kind) == self.kind_exchange.len() {
            self.kind_exchange.push(EXCHANGE_TYPES.contains(&e.kind));
        }
        let subtype = match e.subtype {
            None => 0,
            Some(s) => {
                let i = self.subtypes.intern(s, "subtype")?;
                if usize::from(i) == self.subtype_cross.len() {
                    self.subtype_cross.push(CROSS_REFID_SUBTYPES.contains(&s));
                }
                i.checked_add(1)
                    .ok_or(LegTableError::TooManyDistinct("subtype"))?
            }
        };
        let asset = self.raw_assets.intern(e.asset, "asset")?;
        if usize::from(asset) == self.normalized.len() {
            let n = self.assets.normalize(e.asset);
            let code = self.codes.intern(&n.code, "asset")?;
            if usize::from(code) == self.code_is_fiat.len() {
                self.code_is_fiat.push(n.is_fiat);
            }
            self.code_of.push(code);
            self.normalized.push(n);
        }
        let at = self.text.len();
        self.text.push_str(e.id);
        self.text.push_str(e.refid);
        self.legs.push(Leg {
            time_us: e.time_us,
            amount: e.amount,
            fee: e.fee,
            at,
            id_len,
            kind,
            subtype,
            asset,
        });
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    /// Releases spare capacity (after the last push).
    pub fn shrink_to_fit(&mut self) {
        self.legs.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    /// The fields of entry `i`.
    pub fn fields(&self, i: usize) -> LedgerFields<'_> {
        let l = &self.legs[i];
        LedgerFields {
            id: self.id(i),
            refid: self.refid(i),
            time_us: l.time_us,
            kind: &self.kinds.names[usize::from(l.kind)],
            subtype: self.subtype(i),
            asset: &self.raw_assets.names[usize::from(l.asset)],
            amount: l.amount,
            fee: l.fee,
        }
    }

    /// The ledger id of entry `i`.
    pub fn id(&self, i: usize) -> &str {
        let l = &self.legs[i];
        &self.text[l.at..l.at + usize::from(l.id_len)]
    }

    /// The refid of entry `i`.
    pub fn refid(&self, i: usize) -> &str {
        let l = &self.legs[i];
        let end = self.legs.get(i + 1).map_or(self.text.len(), |n| n.at);
        &self.text[l.at + usize::from(l.id_len)..end]
    }

    /// The subtype of entry `i`.
    pub fn subtype(&self, i: usize) -> Option<&str> {
        let s = self.legs[i].subtype;
        (s > 0).then(|| self.subtypes.names[usize::from(s - 1)].as_str())
    }

    /// Time of entry `i`, microseconds.
    pub fn time_us(&self, i: usize) -> i64 {
        self.legs[i].time_us
    }

    /// What the asset of entry `i` normalizes to.
    pub fn asset(&self, i: usize) -> &NormalizedAsset {
        &self.normalized[usize::from(self.legs[i].asset)]
    }

    fn code(&self, i: usize) -> u16 {
        self.code_of[usize::from(self.legs[i].asset)]
    }

    fn exchange_like(&self, i: usize) -> bool {
        let l = &self.legs[i];
        self.kind_exchange[usize::from(l.kind)] || self.is_cross_refid(i)
    }

    fn is_cross_refid(&self, i: usize) -> bool {
        let s = self.legs[i].subtype;
        s > 0 && self.subtype_cross[usize::from(s - 1)]
    }

    /// The index range of the entries with `start <= time < end`, when the table is in time
    /// order.
    pub fn time_range(&self, (start, end): (i64, i64)) -> std::ops::Range<usize> {
        let lo = self.legs.partition_point(|l| l.time_us < start);
        let hi = self.legs.partition_point(|l| l.time_us < end);
        lo..hi.max(lo)
    }
}

/// One side of an exchange event, by reported-code index.
#[derive(Debug, Clone, Copy)]
struct CompactSide {
    code: u16,
    amount: Decimal,
    fee: Decimal,
}

#[derive(Debug, Clone, Copy)]
enum EventName {
    /// Named by the refid of this entry.
    Refid(u32),
    /// A cross-refid pair: `pair_names[i]`.
    Pair(u32),
}

#[derive(Debug, Clone, Copy)]
struct Event {
    name: EventName,
    sides_at: u32,
    sides_len: u32,
}

const NO_EVENT: u32 = u32::MAX;

/// The exchange events of a [`LegTable`].
#[derive(Debug)]
pub struct Events {
    /// Per entry: its exchange event, or `NO_EVENT`.
    of: Vec<u32>,
    events: Vec<Event>,
    sides: Vec<CompactSide>,
    pair_names: Vec<String>,
}

/// What a leg was exchanged against (see [`Events::counter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter<'a> {
    /// The reported asset.
    pub asset: &'a str,
    /// A fiat currency.
    pub is_fiat: bool,
    /// That side's net signed amount.
    pub amount: Decimal,
}

impl Events {
    /// Groups the entries of `t` into events: exchange legs by refid (the placeholder refid
    /// `Unknown` ties nothing together), then one-sided cross-refid conversions paired by time
    /// (see [`super::events`]).
    pub fn group(t: &LegTable) -> Result<Self, LegTableError> {
        let n = t.len();
        let n32 = u32::try_from(n).map_err(|_| LegTableError::TooMany("ledger entries"))?;
        // Exchange legs by refid, each refid's legs in ledger order (a hash per leg: sorting
        // by refid cost more than the rest of the grouping); the placeholder refid `Unknown`
        // ties nothing together. Groups are numbered by first appearance.
        let mut group_of_refid: HashMap<&str, u32> = HashMap::new();
        let mut member_group: Vec<(u32, u32)> = Vec::new();
        let mut sizes: Vec<u32> = Vec::new();
        for i in 0..n32 {
            let iu = i as usize;
            if !t.exchange_like(iu) {
                continue;
            }
            let refid = t.refid(iu);
            if refid == "Unknown" {
                continue;
            }
            let next = sizes.len() as u32;
            let g = *group_of_refid.entry(refid).or_insert(next);
            if g == next {
                sizes.push(0);
            }
            sizes[g as usize] += 1;
            member_group.push((i, g));
        }
        drop(group_of_refid);
        let mut groups: Vec<std::ops::Range<usize>> = Vec::with_capacity(sizes.len());
        let mut at = 0;
        for &size in &sizes {
            groups.push(at..at + size as usize);
            at += size as usize;
        }
        let mut fill: Vec<usize> = groups.iter().map(|r| r.start).collect();
        let mut members = vec![0u32; member_group.len()];
        for (i, g) in member_group {
            members[fill[g as usize]] = i;
            fill[g as usize] += 1;
        }
        drop(fill);

        // Cross-refid pairs, as `pair_cross_refid`.
        struct OneSided<'a> {
            group: usize,
            refid: &'a str,
            subtype: &'a str,
            time: i64,
            debit: bool,
        }
        let mut one_sided: Vec<OneSided<'_>> = Vec::new();
        for (g, range) in groups.iter().enumerate() {
            let idx = &members[range.clone()];
            let first = idx[0] as usize;
            if !t.is_cross_refid(first) {
                continue;
            }
            let mut any = false;
            let (mut all_debit, mut all_credit) = (true, true);
            for &i in idx {
                let i = i as usize;
                let amount = t.legs[i].amount;
                if t.asset(i).is_fee_credit || amount.is_zero() {
                    continue;
                }
                any = true;
                if amount.is_sign_negative() {
                    all_credit = false;
                } else {
                    all_debit = false;
                }
            }
            if any && (all_debit || all_credit) {
                one_sided.push(OneSided {
                    group: g,
                    refid: t.refid(first),
                    subtype: t.subtype(first).unwrap_or_default(),
                    time: idx
                        .iter()
                        .map(|&i| t.time_us(i as usize))
                        .min()
                        .unwrap_or(0),
                    debit: all_debit,
                });
            }
        }
        one_sided.sort_by(|a, b| (a.time, a.refid).cmp(&(b.time, b.refid)));
        let mut used = vec![false; one_sided.len()];
        let mut paired = vec![false; groups.len()];
        let mut pairs: Vec<(usize, usize, String)> = Vec::new();
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
                let (a, b) = (&one_sided[i], &one_sided[j]);
                paired[a.group] = true;
                paired[b.group] = true;
                pairs.push((a.group, b.group, format!("pair:{}+{}", a.refid, b.refid)));
            }
        }

        // At most one side per member and one event per group: reserved exactly, since
        // growing by doubling left up to twice the sides' size allocated at the peak.
        let mut ev = Events {
            of: vec![NO_EVENT; n],
            events: Vec::with_capacity(groups.len()),
            sides: Vec::with_capacity(members.len()),
            pair_names: Vec::new(),
        };
        for (g, range) in groups.iter().enumerate() {
            if !paired[g] {
                let idx = &members[range.clone()];
                ev.push_event(t, EventName::Refid(idx[0]), idx.iter().copied())?;
            }
        }
        for (a, b, name) in pairs {
            let p =
                u32::try_from(ev.pair_names.len()).map_err(|_| LegTableError::TooMany("pairs"))?;
            ev.pair_names.push(name);
            let idx = members[groups[a].clone()]
                .iter()
                .chain(&members[groups[b].clone()])
                .copied();
            ev.push_event(t, EventName::Pair(p), idx)?;
        }
        ev.events.shrink_to_fit();
        ev.sides.shrink_to_fit();
        Ok(ev)
    }

    /// Adds an event of the legs `idx` (in the order `exchange_of` sums them).
    fn push_event(
        &mut self,
        t: &LegTable,
        name: EventName,
        idx: impl Iterator<Item = u32> + Clone,
    ) -> Result<(), LegTableError> {
        let e = u32::try_from(self.events.len()).map_err(|_| LegTableError::TooMany("events"))?;
        let sides_at = self.sides.len();
        for i in idx {
            self.of[i as usize] = e;
            let i = i as usize;
            if t.asset(i).is_fee_credit {
                continue;
            }
            let code = t.code(i);
            let l = &t.legs[i];
            match self.sides[sides_at..].iter_mut().find(|s| s.code == code) {
                Some(s) => {
                    s.amount += l.amount;
                    s.fee += l.fee;
                }
                None => self.sides.push(CompactSide {
                    code,
                    amount: l.amount,
                    fee: l.fee,
                }),
            }
        }
        let too_many = |_| LegTableError::TooMany("sides");
        self.events.push(Event {
            name,
            sides_at: u32::try_from(sides_at).map_err(too_many)?,
            sides_len: u32::try_from(self.sides.len() - sides_at).map_err(too_many)?,
        });
        Ok(())
    }

    fn sides_of(&self, i: usize) -> Option<(u32, &[CompactSide])> {
        let e = self.of[i];
        (e != NO_EVENT).then(|| {
            let ev = &self.events[e as usize];
            let at = ev.sides_at as usize;
            (e, &self.sides[at..at + ev.sides_len as usize])
        })
    }

    /// The index of entry `i`'s exchange event, if it belongs to one.
    pub fn event_of(&self, i: usize) -> Option<u32> {
        let e = self.of[i];
        (e != NO_EVENT).then_some(e)
    }

    /// True when entry `i` belongs to an exchange event.
    pub fn in_exchange(&self, i: usize) -> bool {
        self.of[i] != NO_EVENT
    }

    /// The stable id of entry `i`'s event (see [`LegContext::event_id`]).
    pub fn event_id<'t>(&'t self, t: &'t LegTable, i: usize) -> &'t str {
        match self.event_of(i) {
            None => t.id(i),
            Some(e) => match self.events[e as usize].name {
                EventName::Refid(leg) => t.refid(leg as usize),
                EventName::Pair(p) => &self.pair_names[p as usize],
            },
        }
    }

    /// What entry `i` was exchanged against: of its exchange's sides in other assets and of
    /// the other sign than its amount (zero sides aside), the one with the largest absolute
    /// amount (the last of equals).
    pub fn counter<'t>(&'t self, t: &'t LegTable, i: usize) -> Option<Counter<'t>> {
        let (_, sides) = self.sides_of(i)?;
        let code = t.code(i);
        let amount = t.legs[i].amount;
        sides
            .iter()
            .filter(|s| {
                s.code != code
                    && s.amount.is_sign_negative() != amount.is_sign_negative()
                    && !s.amount.is_zero()
            })
            .max_by_key(|s| s.amount.abs())
            .map(|s| Counter {
                asset: &t.codes.names[usize::from(s.code)],
                is_fiat: t.code_is_fiat[usize::from(s.code)],
                amount: s.amount,
            })
    }

    /// The exchange of event `e`, as `group` gives it.
    pub fn exchange(&self, t: &LegTable, e: u32) -> Exchange {
        let ev = &self.events[e as usize];
        let at = ev.sides_at as usize;
        Exchange {
            sides: self.sides[at..at + ev.sides_len as usize]
                .iter()
                .map(|s| Side {
                    asset: t.codes.names[usize::from(s.code)].clone(),
                    is_fiat: t.code_is_fiat[usize::from(s.code)],
                    amount: s.amount,
                    fee: s.fee,
                })
                .collect(),
        }
    }

    /// Entry `i`'s context, owned.
    pub fn context(&self, t: &LegTable, i: usize) -> LegContext {
        LegContext {
            event_id: self.event_id(t, i).to_owned(),
            asset: t.asset(i).clone(),
            exchange: self.event_of(i).map(|e| self.exchange(t, e)),
        }
    }
}

/// The owned grouping of `entries` (any order): one context per entry, in the same order. Test
/// oracle only (the production path reads the compact table and its events directly).
#[cfg(test)]
pub(crate) fn group(
    entries: &[crate::domain::LedgerEntry],
    assets: &AssetTable,
) -> Result<Vec<LegContext>, LegTableError> {
    let table = LegTable::from_fields(entries.iter().map(LedgerFields::from), assets)?;
    let events = Events::group(&table)?;
    Ok((0..entries.len())
        .map(|i| events.context(&table, i))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LedgerEntry;
    use crate::emulator::{GeneratorConfig, generate};

    fn compact(entries: &[LedgerEntry]) -> (LegTable, Events) {
        let assets = AssetTable::default();
        let t = LegTable::from_fields(entries.iter().map(LedgerFields::from), &assets).unwrap();
        let ev = Events::group(&t).unwrap();
        (t, ev)
    }

    #[test]
    fn the_table_keeps_every_field_and_counters_agree_with_the_exchanges() {
        for seed in [1, 2, 3] {
            let data = generate(&GeneratorConfig::new(seed, 3000));
            let mut entries = data.ledger.clone();
            entries.sort_by(|a, b| (a.time.micros(), &a.id).cmp(&(b.time.micros(), &b.id)));
            let (t, ev) = compact(&entries);
            assert_eq!(t.len(), entries.len());
            let mut exchanges = 0;
            for (i, e) in entries.iter().enumerate() {
                assert_eq!(t.fields(i), LedgerFields::from(e), "{i}");
                let ctx = ev.context(&t, i);
                // The compact counter and the owned exchange's `counter_of` are two paths.
                let counter = ctx
                    .exchange
                    .as_ref()
                    .and_then(|x| x.counter_of(&ctx.asset.code, e.amount))
                    .map(|s| (s.asset.as_str(), s.is_fiat, s.amount));
                assert_eq!(
                    ev.counter(&t, i).map(|c| (c.asset, c.is_fiat, c.amount)),
                    counter
                );
                exchanges += usize::from(ctx.exchange.is_some());
            }
            assert!(exchanges > 1000, "{exchanges}");
        }
    }

    #[test]
    fn cross_refid_pairs_placeholders_and_fills_form_the_right_events() {
        use crate::domain::{AssetCode, KrakenTime, LedgerId, RefId};
        let leg = |id: &str, refid: &str, t: i64, kind: &str, sub: &str, asset: &str, amt: i64| {
            LedgerEntry {
                id: LedgerId::new(id).unwrap(),
                refid: RefId::new(refid).unwrap(),
                time: KrakenTime::from_micros(t * 1_000_000, 4),
                kind: kind.into(),
                subtype: Some(sub.into()),
                aclass: "currency".into(),
                subclass: None,
                asset: AssetCode::new(asset).unwrap(),
                wallet: None,
                amount: Decimal::new(amt, 0),
                fee: Decimal::ZERO,
                balance: None,
            }
        };
        let entries = vec![
            leg("L1", "R1", 100, "transfer", "dustsweeping", "DOT", -1),
            leg("L2", "R1", 100, "transfer", "dustsweeping", "ADA", -2),
            leg("L3", "Unknown", 150, "trade", "", "XXBT", 1),
            leg("L4", "Unknown", 150, "trade", "", "ZEUR", -1),
            leg("L5", "R2", 200, "transfer", "dustsweeping", "ETH", 3),
            leg("L6", "R3", 300, "transfer", "dustsweeping", "SOL", 4),
            leg("L7", "R4", 400, "trade", "", "XXBT", 1),
            leg("L8", "R4", 400, "trade", "", "KFEE", -5),
            leg("L9", "R4", 400, "trade", "", "ZEUR", -7),
            leg("LA", "R4", 401, "trade", "", "XBT.M", 2),
        ];
        let (t, ev) = compact(&entries);
        let ids: Vec<&str> = (0..entries.len()).map(|i| ev.event_id(&t, i)).collect();
        assert_eq!(
            ids,
            [
                "pair:R1+R2",
                "pair:R1+R2",
                "L3",
                "L4",
                "pair:R1+R2",
                "R3",
                "R4",
                "R4",
                "R4",
                "R4"
            ]
        );
        // The trade's fills of one asset are summed into one side, KFEE is no side.
        let sides = ev.context(&t, 6).exchange.unwrap().sides;
        let summed: Vec<(&str, Decimal)> =
            sides.iter().map(|s| (s.asset.as_str(), s.amount)).collect();
        assert_eq!(
            summed,
            [("BTC", Decimal::new(3, 0)), ("EUR", Decimal::new(-7, 0))]
        );
        // The unpaired dust sweep (R3) and the placeholder refids are not exchanges.
        // An unpaired dust sweep stays a one-sided event of its own refid; a placeholder refid
        // ties nothing together, so its legs are no exchange.
        let lone = ev.context(&t, 5).exchange.unwrap().sides;
        assert_eq!(lone.len(), 1);
        assert_eq!(
            (lone[0].asset.as_str(), lone[0].amount),
            ("SOL", Decimal::new(4, 0))
        );
        assert!(ev.context(&t, 2).exchange.is_none());
    }

    #[test]
    fn time_range_selects_the_year() {
        let data = generate(&GeneratorConfig::new(5, 500));
        let mut entries = data.ledger.clone();
        entries.sort_by(|a, b| (a.time.micros(), &a.id).cmp(&(b.time.micros(), &b.id)));
        let (t, _) = compact(&entries);
        let bounds = crate::export::year_bounds(2025, chrono_tz::Tz::UTC).unwrap();
        let r = t.time_range(bounds);
        let want: Vec<usize> = (0..entries.len())
            .filter(|&i| (bounds.0..bounds.1).contains(&entries[i].time.micros()))
            .collect();
        assert_eq!(r.collect::<Vec<_>>(), want);
    }
}
