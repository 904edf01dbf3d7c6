//! Balance chains: for each asset (and wallet), `balance_after = balance_before + amount - fee`
//! must hold from one entry to the next, in time order.
//!
//! Entries are fed one at a time, oldest first by (time, id), so that a million rows never sit
//! in memory at once; only the entries of one timestamp of one chain are held.
//!
//! Decisions, and why:
//! - Every chain starts at zero: the oldest entry of a complete history has nothing before it.
//!   A history that starts later (an import of one year) is reported as a gap before its first
//!   entry, because nothing proves it complete.
//! - Entries sharing a timestamp may be stored in any order. A depth-first search looks for an
//!   order in which each entry's `balance - amount + fee` equals the previous balance; it is
//!   bounded by a step budget, after which the best order found so far is extended greedily.
//! - Rows without a balance (Kraken left it blank; old CSV "pending" rows) are not checked.
//!   The next row with a balance is accepted if its balance before equals the last known
//!   balance plus the net of some of the blank rows since: none (they were duplicates, as
//!   pending rows are), all (real movements), or any mix; subsets are tried for up to
//!   [`MAX_BLANK_SUBSET`] blank rows, beyond that only none or all. A removal right next to
//!   blank rows can therefore be hidden when it happens to equal such a sum; nothing better can
//!   be told without their balances.
//! - A break is reported between the last entry that chains and the first that does not, with
//!   the missing net amount (`found - expected`): the sum of `amount - fee` of what is missing.
//!   The chain then continues from the entry after the break, so one hole gives one report.
//! - An entry missing at the very end of a chain leaves no trace in the chain: only Kraken's
//!   current balance can reveal it (see [`super::compare_balances`]).

use super::report::{ChainSummary, Gap};
use crate::domain::{KrakenTime, LedgerEntry, LedgerId};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Search steps allowed per timestamp group: a fixed part plus this many per entry. Groups
/// that fully chain need one step per entry; the budget only matters for groups that do not.
const BUDGET_BASE: usize = 20_000;
const BUDGET_PER_ENTRY: usize = 20;

/// Up to this many blank-balance rows in a row, every subset of them is tried (1,024 sums).
pub const MAX_BLANK_SUBSET: usize = 10;

/// A sum or difference of the stored numbers beyond what a decimal holds (about 7.9e28): the
/// history holds numbers no Kraken account can have (import refuses them; an old or edited
/// database may still hold them). The check stops with this instead of wrapping or panicking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: the sum is beyond the range of a decimal number; no Kraken account holds such amounts"
)]
pub struct OutOfRange(pub String);

/// One balance chain: a raw asset code, and the wallet when the source names one
/// (`DOT` and `DOT.S` are different chains; so are `DOT` in `spot / main` and in
/// `earn / flexible`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainKey {
    /// Raw asset code.
    pub asset: String,
    /// Wallet, where the row names one.
    pub wallet: Option<String>,
}

impl ChainKey {
    /// The chain `e` belongs to.
    pub fn of(e: &LedgerEntry) -> Self {
        ChainKey {
            asset: e.asset.as_str().to_owned(),
            wallet: e.wallet.clone(),
        }
    }
}

/// An entry with a balance, reduced to what the chain needs.
#[derive(Debug, Clone)]
struct Link {
    id: LedgerId,
    time: KrakenTime,
    before: Decimal,
    after: Decimal,
}

#[derive(Debug, Default)]
struct ChainState {
    /// Last known balance (zero before the first entry).
    balance: Decimal,
    /// The entry that left `balance`.
    last: Option<(LedgerId, KrakenTime)>,
    /// Timestamp of the group being collected.
    group_us: Option<i64>,
    /// Entries with a balance at `group_us`, in (time, id) order.
    group: Vec<Link>,
    /// Net (`amount - fee`) of blank-balance rows since `last`.
    pool: Decimal,
    /// Number of those rows.
    pool_rows: u64,
    /// The nets of the first [`MAX_BLANK_SUBSET`] + 1 of those rows (one more tells "too many").
    pool_nets: Vec<Decimal>,
    entries: u64,
    blank: u64,
}

/// Checks the balance chains of a stream of ledger entries, oldest first by (time, id).
#[derive(Debug, Default)]
pub struct ChainChecker {
    /// Few chains (one per asset and wallet), so a vector searched linearly beats hashing an
    /// owned key per entry.
    chains: Vec<(ChainKey, ChainState)>,
    gaps: Vec<Gap>,
    entries: u64,
    out_of_order: u64,
    /// The first sum that did not fit in a decimal.
    out_of_range: Option<OutOfRange>,
}

impl ChainChecker {
    /// An empty checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next entry. Entries must come oldest first by (time, id), as the store reads
    /// them; an entry older than its chain's current group is still checked, but after it.
    pub fn push(&mut self, e: &LedgerEntry) {
        self.push_owned(e.clone());
    }

    /// [`ChainChecker::push`] for an entry the caller no longer needs (saves copying its id).
    pub fn push_owned(&mut self, e: LedgerEntry) {
        self.entries += 1;
        let us = e.time.micros();
        let pos = self.chains.iter().position(|(k, _)| {
            k.asset == e.asset.as_str() && k.wallet.as_deref() == e.wallet.as_deref()
        });
        let pos = pos.unwrap_or_else(|| {
            self.chains.push((ChainKey::of(&e), ChainState::default()));
            self.chains.len() - 1
        });
        let (key, state) = &mut self.chains[pos];
        state.entries += 1;
        if state.group_us != Some(us) {
            if state.group_us.is_some_and(|g| us < g) {
                self.out_of_order += 1;
            }
            resolve(key, state, &mut self.gaps, &mut self.out_of_range);
            state.group_us = Some(us);
        }
        let overflow = |what: &str| OutOfRange(format!("ledger entry {} ({what})", e.id));
        match e.balance {
            Some(after) => match after
                .checked_sub(e.amount)
                .and_then(|b| b.checked_add(e.fee))
            {
                Some(before) => state.group.push(Link {
                    id: e.id,
                    time: e.time,
                    before,
                    after,
                }),
                None => {
                    let o = overflow("balance - amount + fee");
                    self.out_of_range.get_or_insert(o);
                }
            },
            None => {
                state.blank += 1;
                let Some(net) = e.amount.checked_sub(e.fee) else {
                    let o = overflow("amount - fee");
                    self.out_of_range.get_or_insert(o);
                    return;
                };
                let Some(pool) = state.pool.checked_add(net) else {
                    let o = overflow("the net of the blank-balance rows before it");
                    self.out_of_range.get_or_insert(o);
                    return;
                };
                state.pool = pool;
                state.pool_rows += 1;
                if state.pool_nets.len() <= MAX_BLANK_SUBSET {
                    state.pool_nets.push(net);
                }
            }
        }
    }

    /// Entries fed so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Resolves the last groups and returns the breaks found and a summary of every chain,
    /// both sorted (gaps by asset, wallet and time; chains by asset and wallet); or the first
    /// sum that did not fit in a decimal.
    pub fn finish(mut self) -> Result<(Vec<Gap>, Vec<ChainSummary>), OutOfRange> {
        let mut summaries = Vec::with_capacity(self.chains.len());
        let mut chains = std::mem::take(&mut self.chains);
        chains.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, mut state) in chains {
            resolve(&key, &mut state, &mut self.gaps, &mut self.out_of_range);
            summaries.push(ChainSummary {
                asset: key.asset,
                wallet: key.wallet,
                entries: state.entries,
                blank_balances: state.blank,
                last_id: state.last.as_ref().map(|(id, _)| id.to_string()),
                last_time: state.last.as_ref().map(|(_, t)| t.utc()),
                balance: state.balance,
                unapplied_blank: state.pool,
            });
        }
        if self.out_of_order > 0 {
            tracing::warn!(
                "{} ledger entries came out of time order; the check assumed the order given",
                self.out_of_order
            );
        }
        self.gaps.sort_by(|a, b| {
            (&a.asset, &a.wallet, a.next_time, &a.next_id).cmp(&(
                &b.asset,
                &b.wallet,
                b.next_time,
                &b.next_id,
            ))
        });
        match self.out_of_range {
            Some(e) => Err(e),
            None => Ok((self.gaps, summaries)),
        }
    }
}

/// Orders the collected group of `state`, records its breaks, and moves the chain past it.
fn resolve(
    key: &ChainKey,
    state: &mut ChainState,
    gaps: &mut Vec<Gap>,
    out_of_range: &mut Option<OutOfRange>,
) {
    let group = std::mem::take(&mut state.group);
    if group.is_empty() {
        return;
    }
    let Some(offsets) = blank_offsets(state) else {
        let id = group[0].id.to_string();
        out_of_range.get_or_insert(OutOfRange(format!(
            "ledger entry {id} (the nets of the blank-balance rows before it)"
        )));
        return;
    };
    let segments = order_group(state.balance, &offsets, &group);
    for seg in segments {
        if let Some(expected) = seg.break_from {
            let next = &group[seg.items[0]];
            let Some(missing) = next.before.checked_sub(expected) else {
                out_of_range.get_or_insert(OutOfRange(format!(
                    "ledger entry {} (balance before it - the balance expected)",
                    next.id
                )));
                return;
            };
            gaps.push(Gap {
                asset: key.asset.clone(),
                wallet: key.wallet.clone(),
                previous_id: state.last.as_ref().map(|(id, _)| id.to_string()),
                previous_time: state.last.as_ref().map(|(_, t)| t.utc()),
                next_id: next.id.to_string(),
                next_time: next.time.utc(),
                expected_balance_before: expected,
                found_balance_before: next.before,
                missing,
            });
        }
        if seg.used_pool || seg.break_from.is_some() {
            // Either the blank rows were placed, or a break makes them moot.
            state.pool = Decimal::ZERO;
            state.pool_rows = 0;
            state.pool_nets.clear();
        }
        let last = &group[*seg.items.last().expect("segments are never empty")];
        state.balance = last.after;
        state.last = Some((last.id.clone(), last.time.clone()));
    }
}

/// The non-zero amounts the blank rows since the last known balance may have added: every
/// subset sum when there are few, else just their total; `None` when a sum does not fit.
fn blank_offsets(state: &ChainState) -> Option<Vec<Decimal>> {
    let mut sums: Vec<Decimal> = vec![Decimal::ZERO];
    if state.pool_rows as usize <= MAX_BLANK_SUBSET {
        for net in &state.pool_nets {
            let more: Vec<Decimal> = sums
                .iter()
                .map(|s| s.checked_add(*net))
                .collect::<Option<_>>()?;
            sums.extend(more);
            sums.sort_unstable();
            sums.dedup();
        }
    } else {
        sums.push(state.pool);
    }
    sums.retain(|s| !s.is_zero());
    Some(sums)
}

/// A run of entries that chain, possibly starting with a break.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Indices into the group, in chain order.
    items: Vec<usize>,
    /// When the segment starts with a break: the balance the previous entry left.
    break_from: Option<Decimal>,
    /// The blank-row pool was applied inside this segment.
    used_pool: bool,
}

/// Orders one timestamp group: the longest chain from `start` (optionally absorbing one of the
/// blank-row `offsets` once), then, for what is left, a break and the longest chain from a
/// head (an entry no other remaining entry leads to), and so on.
fn order_group(start: Decimal, offsets: &[Decimal], group: &[Link]) -> Vec<Segment> {
    let mut by_before: HashMap<Decimal, Vec<usize>> = HashMap::new();
    for (i, l) in group.iter().enumerate() {
        by_before.entry(l.before).or_default().push(i);
    }
    let mut used = vec![false; group.len()];
    let mut left = group.len();
    let mut budget = BUDGET_BASE + BUDGET_PER_ENTRY * group.len();
    let mut segments = Vec::new();

    let (items, used_pool) = longest_chain(
        start,
        offsets,
        group,
        &by_before,
        &mut used,
        left,
        &mut budget,
    );
    left -= items.len();
    let mut balance = items.last().map_or(start, |&i| group[i].after);
    if !items.is_empty() {
        segments.push(Segment {
            items,
            break_from: None,
            used_pool,
        });
    }
    while left > 0 {
        let head = pick_head(group, &used);
        used[head] = true;
        left -= 1;
        let from = group[head].after;
        let (rest, _) = longest_chain(from, &[], group, &by_before, &mut used, left, &mut budget);
        left -= rest.len();
        let mut items = Vec::with_capacity(1 + rest.len());
        items.push(head);
        items.extend(rest);
        let expected = balance;
        balance = group[*items.last().expect("has head")].after;
        segments.push(Segment {
            items,
            break_from: Some(expected),
            used_pool: false,
        });
    }
    segments
}

/// The first unused entry (in id order) that no other unused entry leads to; the first unused
/// entry when every one has a predecessor (a cycle).
fn pick_head(group: &[Link], used: &[bool]) -> usize {
    let mut afters: HashMap<Decimal, usize> = HashMap::new();
    for (i, l) in group.iter().enumerate() {
        if !used[i] {
            *afters.entry(l.after).or_default() += 1;
        }
    }
    let first_unused = used.iter().position(|u| !u).expect("something is left");
    (0..group.len())
        .filter(|&i| !used[i])
        .find(|&i| {
            let l = &group[i];
            let leading = afters.get(&l.before).copied().unwrap_or(0);
            // An entry that changes nothing leads to itself; that does not count.
            let own = usize::from(l.before == l.after);
            leading <= own
        })
        .unwrap_or(first_unused)
}

/// Depth-first search for the longest chain of unused entries from balance `start`; one of the
/// blank-row `offsets` may be absorbed once (blank rows placed before some entry). Marks the
/// chain's entries used and returns them, with whether an offset was absorbed.
fn longest_chain(
    start: Decimal,
    offsets: &[Decimal],
    group: &[Link],
    by_before: &HashMap<Decimal, Vec<usize>>,
    used: &mut [bool],
    available: usize,
    budget: &mut usize,
) -> (Vec<usize>, bool) {
    // Candidates next to balance `b`, in reverse preference order (popped from the end):
    // plain links first, in id order; links that absorb blank rows after them.
    let candidates = |b: Decimal, pool_open: bool, used: &[bool]| -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        if pool_open {
            for o in offsets.iter().rev() {
                // A sum beyond the decimal range is no stored balance: nothing to look up.
                if let Some(v) = b.checked_add(*o).and_then(|x| by_before.get(&x)) {
                    out.extend(v.iter().rev().filter(|&&i| !used[i]).map(|&i| (i, true)));
                }
            }
        }
        if let Some(v) = by_before.get(&b) {
            out.extend(v.iter().rev().filter(|&&i| !used[i]).map(|&i| (i, false)));
        }
        out
    };

    let mut path: Vec<(usize, bool)> = Vec::new();
    let mut best: Vec<(usize, bool)> = Vec::new();
    let mut absorbed = false;
    let has_pool = !offsets.is_empty();
    let mut frames = vec![candidates(start, has_pool, used)];
    while let Some(frame) = frames.last_mut() {
        if path.len() == available || *budget == 0 {
            break;
        }
        match frame.pop() {
            Some((i, absorbs)) => {
                *budget -= 1;
                used[i] = true;
                path.push((i, absorbs));
                absorbed |= absorbs;
                frames.push(candidates(group[i].after, has_pool && !absorbed, used));
            }
            None => {
                if path.len() > best.len() {
                    best = path.clone();
                }
                frames.pop();
                match path.pop() {
                    Some((i, absorbs)) => {
                        used[i] = false;
                        absorbed &= !absorbs;
                    }
                    None => break,
                }
            }
        }
    }
    if path.len() > best.len() {
        best = path;
    } else {
        for &(i, _) in &path {
            used[i] = false;
        }
    }
    for &(i, _) in &best {
        used[i] = true;
    }
    // Out of budget: extend greedily, which is linear and finds the rest of any plain run.
    let mut b = best.last().map_or(start, |&(i, _)| group[i].after);
    let mut pool_open = has_pool && !best.iter().any(|p| p.1);
    while best.len() < available {
        let Some(&(i, absorbs)) = candidates(b, pool_open, used).last() else {
            break;
        };
        used[i] = true;
        best.push((i, absorbs));
        b = group[i].after;
        pool_open &= !absorbs;
    }
    let absorbed = best.iter().any(|p| p.1);
    (best.into_iter().map(|p| p.0).collect(), absorbed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetCode, RefId};
    use rust_decimal_macros::dec;

    fn entry(
        id: &str,
        us: i64,
        asset: &str,
        amount: Decimal,
        fee: Decimal,
        bal: Option<Decimal>,
    ) -> LedgerEntry {
        LedgerEntry {
            id: LedgerId::new(id).unwrap(),
            refid: RefId::new(format!("R{id}")).unwrap(),
            time: KrakenTime::from_micros(us, 6),
            kind: "deposit".into(),
            subtype: Some(String::new()),
            aclass: "currency".into(),
            subclass: None,
            asset: AssetCode::new(asset).unwrap(),
            wallet: None,
            amount,
            fee,
            balance: bal,
        }
    }

    /// Entries with consistent balances: (id, time, asset, amount, fee), chained in the order
    /// given.
    fn chained(rows: &[(&str, i64, &str, Decimal, Decimal)]) -> Vec<LedgerEntry> {
        let mut bal: HashMap<&str, Decimal> = HashMap::new();
        rows.iter()
            .map(|&(id, us, asset, amount, fee)| {
                let b = bal.entry(asset).or_default();
                *b += amount - fee;
                entry(id, us, asset, amount, fee, Some(*b))
            })
            .collect()
    }

    fn check(mut entries: Vec<LedgerEntry>) -> (Vec<Gap>, Vec<ChainSummary>) {
        entries.sort_by(|a, b| (a.time.micros(), &a.id).cmp(&(b.time.micros(), &b.id)));
        let mut c = ChainChecker::new();
        for e in &entries {
            c.push(e);
        }
        c.finish().unwrap()
    }

    /// Numbers at the edge of the decimal range stop the check with an error naming the entry;
    /// nothing wraps or panics.
    #[test]
    fn sums_beyond_the_decimal_range_are_an_error_not_a_panic() {
        let max = Decimal::MAX;
        let half = dec!(50000000000000000000000000000);
        let cases: Vec<(Vec<LedgerEntry>, &str)> = vec![
            // balance - amount overflows.
            (
                vec![entry("L1", 1, "XXBT", -max, dec!(0), Some(max))],
                "ledger entry L1 (balance - amount + fee)",
            ),
            // + fee overflows.
            (
                vec![entry("L1", 1, "XXBT", dec!(0), max, Some(max))],
                "ledger entry L1 (balance - amount + fee)",
            ),
            // Two blank rows of 5e28: their pool overflows.
            (
                vec![
                    entry("L1", 1, "XXBT", half, dec!(0), None),
                    entry("L2", 2, "XXBT", half, dec!(0), None),
                ],
                "ledger entry L2 (the net of the blank-balance rows before it)",
            ),
            // amount - fee of a blank row.
            (
                vec![entry("L1", 1, "XXBT", -max, max, None)],
                "ledger entry L1 (amount - fee)",
            ),
            // The missing amount of a break: found - expected.
            (
                vec![
                    entry("L1", 1, "XXBT", -half, dec!(0), Some(-half)),
                    entry("L2", 2, "XXBT", dec!(1), dec!(0), Some(half)),
                ],
                "ledger entry L2 (balance before it - the balance expected)",
            ),
            // Subset sums of blank rows before a known balance.
            (
                vec![
                    entry("L1", 1, "XXBT", half, dec!(0), None),
                    entry("L2", 2, "XXBT", -half, dec!(0), None),
                    entry("L3", 3, "XXBT", half, dec!(0), None),
                    entry("L4", 4, "XXBT", dec!(1), dec!(0), Some(dec!(1))),
                ],
                "ledger entry L4 (the nets of the blank-balance rows before it)",
            ),
        ];
        for (entries, want) in cases {
            let mut c = ChainChecker::new();
            for e in &entries {
                c.push(e);
            }
            assert_eq!(
                c.finish().unwrap_err().to_string(),
                format!(
                    "{want}: the sum is beyond the range of a decimal number; no Kraken account holds such amounts"
                )
            );
        }
        // The largest amounts import accepts chain without trouble.
        let big = dec!(99999999999999999999.99999999);
        let (gaps, chains) = check(chained(&[
            ("L1", 1, "XXBT", big, dec!(0)),
            ("L2", 2, "XXBT", -big, big),
            ("L3", 3, "XXBT", big, dec!(0)),
        ]));
        assert_eq!(gaps, vec![]);
        assert_eq!(chains[0].balance, big - big - big + big);
    }

    #[test]
    fn a_consistent_history_has_no_gap_and_ends_at_the_last_balance() {
        let e = chained(&[
            ("L1", 1_000_000, "ZEUR", dec!(100), dec!(0)),
            ("L2", 2_000_000, "XXBT", dec!(0.5), dec!(0)),
            ("L3", 2_000_000, "ZEUR", dec!(-60), dec!(0.1)),
            ("L4", 3_000_000, "ZEUR", dec!(10.5), dec!(0)),
        ]);
        let (gaps, chains) = check(e);
        assert_eq!(gaps, vec![]);
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[1].asset, "ZEUR");
        assert_eq!(chains[1].balance, dec!(50.4));
        assert_eq!(chains[1].last_id.as_deref(), Some("L4"));
        assert_eq!(chains[1].entries, 3);
    }

    #[test]
    fn same_timestamp_entries_chain_in_any_stored_order() {
        // Balances were computed in the order C, A, D, B; the store reads them by id.
        let mut e = chained(&[
            ("L0", 1, "DOT", dec!(10), dec!(0)),
            ("LC", 5, "DOT", dec!(-3), dec!(0)),
            ("LA", 5, "DOT", dec!(1.25), dec!(0.01)),
            ("LD", 5, "DOT", dec!(-2), dec!(0)),
            ("LB", 5, "DOT", dec!(0.5), dec!(0)),
            ("LZ", 9, "DOT", dec!(1), dec!(0)),
        ]);
        e.reverse();
        let (gaps, chains) = check(e);
        assert_eq!(gaps, vec![]);
        assert_eq!(chains[0].balance, dec!(7.74));
        assert_eq!(chains[0].last_id.as_deref(), Some("LZ"));
    }

    #[test]
    fn a_missing_entry_is_located_between_its_neighbours_with_the_missing_amount() {
        let all = chained(&[
            ("L1", 1, "ZEUR", dec!(100), dec!(0)),
            ("L2", 2, "ZEUR", dec!(-30), dec!(0.25)),
            ("L3", 3, "ZEUR", dec!(5), dec!(0)),
        ]);
        let (gaps, _) = check(vec![all[0].clone(), all[2].clone()]);
        assert_eq!(gaps.len(), 1);
        let g = &gaps[0];
        assert_eq!(g.previous_id.as_deref(), Some("L1"));
        assert_eq!(g.next_id, "L3");
        assert_eq!(g.expected_balance_before, dec!(100));
        assert_eq!(g.found_balance_before, dec!(69.75));
        assert_eq!(g.missing, dec!(-30.25));
        // The first entry missing: the gap is before the first stored one, from zero.
        let (gaps, _) = check(vec![all[1].clone(), all[2].clone()]);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].previous_id, None);
        assert_eq!(gaps[0].next_id, "L2");
        assert_eq!(gaps[0].missing, dec!(100));
        // The last entry missing: invisible to the chain.
        let (gaps, chains) = check(vec![all[0].clone(), all[1].clone()]);
        assert_eq!(gaps, vec![]);
        assert_eq!(chains[0].balance, dec!(69.75));
    }

    #[test]
    fn a_missing_entry_inside_a_same_timestamp_group_is_located() {
        let rows: Vec<(String, i64, Decimal)> = (0..40)
            .map(|i| {
                (
                    format!("L{i:03}"),
                    if i == 0 { 1 } else { 7 },
                    Decimal::new(i + 1, 3),
                )
            })
            .collect();
        let rows: Vec<(&str, i64, &str, Decimal, Decimal)> = rows
            .iter()
            .map(|(id, us, a)| (id.as_str(), *us, "DOT.S", *a, Decimal::ZERO))
            .collect();
        let all = chained(&rows);
        for removed in [1, 2, 17, 38] {
            let mut e = all.clone();
            let gone = e.remove(removed);
            e.reverse();
            let (gaps, _) = check(e);
            assert_eq!(gaps.len(), 1, "removed {removed}");
            assert_eq!(gaps[0].previous_id, Some(all[removed - 1].id.to_string()));
            assert_eq!(gaps[0].next_id, all[removed + 1].id.to_string());
            assert_eq!(gaps[0].missing, gone.amount);
        }
    }

    #[test]
    fn blank_balances_are_skipped_whether_duplicates_or_real_movements() {
        let mut e = chained(&[
            ("L1", 1, "ZEUR", dec!(100), dec!(0)),
            ("L2", 2, "ZEUR", dec!(-40), dec!(0)),
            ("L3", 3, "ZEUR", dec!(7), dec!(0)),
            ("L4", 4, "ZEUR", dec!(1), dec!(0)),
        ]);
        // A real movement whose balance Kraken left blank.
        e[1].balance = None;
        // A pending row (old CSV exports) duplicating the next one, without a balance.
        e.push(entry("L2P", 3, "ZEUR", dec!(7), dec!(0), None));
        let (gaps, chains) = check(e.clone());
        assert_eq!(gaps, vec![]);
        assert_eq!(chains[0].blank_balances, 2);
        assert_eq!(chains[0].balance, dec!(68));
        // Blank rows at the end: the last known balance, with their net beside it.
        e[3].balance = None;
        let (gaps, chains) = check(e);
        assert_eq!(gaps, vec![]);
        assert_eq!(chains[0].balance, dec!(67));
        assert_eq!(chains[0].unapplied_blank, dec!(1));
    }

    #[test]
    fn wallets_and_suffixed_codes_are_separate_chains() {
        let mut e = chained(&[
            ("L1", 1, "DOT", dec!(10), dec!(0)),
            ("L2", 2, "DOT.S", dec!(4), dec!(0)),
        ]);
        let mut earn = entry("L3", 3, "DOT", dec!(2), dec!(0), Some(dec!(2)));
        earn.wallet = Some("earn / flexible".into());
        e.push(earn);
        let (gaps, chains) = check(e);
        assert_eq!(gaps, vec![]);
        let keys: Vec<(&str, Option<&str>)> = chains
            .iter()
            .map(|c| (c.asset.as_str(), c.wallet.as_deref()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("DOT", None),
                ("DOT", Some("earn / flexible")),
                ("DOT.S", None)
            ]
        );
    }

    #[test]
    fn a_hopeless_group_is_bounded_and_still_reports() {
        // 60 entries that change nothing, plus one that cannot chain: every order must be
        // tried for an exhaustive search; the budget stops it.
        let mut e = vec![entry("LA", 1, "X", dec!(5), dec!(0), Some(dec!(5)))];
        for i in 0..60 {
            e.push(entry(
                &format!("LZ{i:02}"),
                2,
                "X",
                dec!(0),
                dec!(0),
                Some(dec!(5)),
            ));
        }
        e.push(entry("LQ", 2, "X", dec!(1), dec!(0), Some(dec!(100))));
        let started = std::time::Instant::now();
        let (gaps, _) = check(e);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].next_id, "LQ");
        assert_eq!(gaps[0].expected_balance_before, dec!(5));
        assert_eq!(gaps[0].missing, dec!(94));
    }

    #[test]
    fn group_order_prefers_the_longest_chain_and_reports_one_break_per_hole() {
        let g = |id: &str, before: Decimal, after: Decimal| Link {
            id: LedgerId::new(id).unwrap(),
            time: KrakenTime::from_micros(1, 6),
            before,
            after,
        };
        // From 0: A (0→1) then either B (1→2) dead end or C (1→5) → D (5→6).
        let group = vec![
            g("LA", dec!(0), dec!(1)),
            g("LB", dec!(1), dec!(2)),
            g("LC", dec!(1), dec!(5)),
            g("LD", dec!(5), dec!(6)),
        ];
        let segs = order_group(dec!(0), &[], &group);
        assert_eq!(
            segs,
            vec![
                Segment {
                    items: vec![0, 2, 3],
                    break_from: None,
                    used_pool: false
                },
                Segment {
                    items: vec![1],
                    break_from: Some(dec!(6)),
                    used_pool: false
                },
            ]
        );
    }
}
