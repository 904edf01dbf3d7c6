//! Trade legs: every trade's ledger entries are stored and match its volume and cost.
//!
//! The legs of a trade are the ledger ids it lists, or, when it lists none, the entries whose
//! refid is the trade id. Amounts are summed per asset (one order filled from two wallets gives
//! two legs in one asset); assets whose legs net to zero (a KFEE leg paying the fee) are left
//! out. What remains must be one asset moving in the trade's direction by `vol` (bought: in,
//! sold: out) and one moving the other way by `cost`, compared as numbers (`12.50000` equals
//! `12.5`). Margin trades (non-zero `margin`) book other amounts, so only their legs' presence
//! is checked.

use super::report::TradeProblem;
use crate::domain::{LedgerEntry, Trade, TradeSide};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Listed ledger ids beyond this many per trade are not tracked (Kraken lists two or three).
const MAX_TRACKED_LEGS: usize = 64;

/// 64-bit FNV-1a of an id: the maps hold a number per id instead of a copy of its text, which
/// matters with a million ledger ids. Every hit is confirmed against the stored text, so a
/// collision can at worst make a leg look missing, never hide one.
fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The keys are hashes already: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashedMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

#[derive(Debug)]
struct Slot {
    id: Box<str>,
    time: DateTime<Utc>,
    side: TradeSide,
    check_amounts: bool,
    vol: Decimal,
    cost: Decimal,
    /// The listed ledger ids, comma-separated (as stored).
    listed: Box<str>,
    /// Bit `i`: the `i`-th listed id was seen.
    seen: u64,
    /// Net amount per asset (index into the checker's asset table) over the legs seen.
    moved: Vec<(u16, Decimal)>,
}

impl Slot {
    fn listed(&self) -> impl Iterator<Item = &str> {
        self.listed.split(',').filter(|s| !s.is_empty())
    }
}

/// Collects trades, then the ledger entries, and reports trades whose legs do not add up.
#[derive(Debug, Default)]
pub struct TradeLegChecker {
    slots: Vec<Slot>,
    /// Hash of a listed ledger id → (trade, position in its list).
    by_ledger: HashedMap<(u32, u8)>,
    /// Hash of a trade id → trade, for trades that list no ledger ids.
    by_refid: HashedMap<u32>,
    /// Asset codes seen in legs; `moved` refers to them by index.
    assets: Vec<String>,
    /// The first leg whose sum did not fit in a decimal.
    out_of_range: Option<super::chain::OutOfRange>,
}

impl TradeLegChecker {
    /// An empty checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a trade (any order); all trades must come before the first ledger entry.
    pub fn add_trade(&mut self, t: &Trade) {
        let idx = u32::try_from(self.slots.len()).expect("fewer than 4 billion trades");
        if t.ledgers.is_empty() {
            self.by_refid.insert(id_hash(t.id.as_str()), idx);
        }
        for (pos, id) in t.ledgers.iter().enumerate().take(MAX_TRACKED_LEGS) {
            self.by_ledger
                .insert(id_hash(id.as_str()), (idx, pos as u8));
        }
        let listed: Vec<&str> = t.ledgers.iter().map(|l| l.as_str()).collect();
        self.slots.push(Slot {
            id: t.id.as_str().into(),
            time: t.time.utc(),
            side: t.side,
            check_amounts: t.margin.is_none_or(|m| m.is_zero()),
            vol: t.vol,
            cost: t.cost,
            listed: listed.join(",").into(),
            seen: 0,
            moved: Vec::new(),
        });
    }

    /// Trades registered.
    pub fn trades(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Looks at one ledger entry (any order).
    pub fn observe(&mut self, e: &LedgerEntry) {
        let idx = match self.leg_of(e) {
            Some(idx) => idx,
            None => return,
        };
        let asset = match self.assets.iter().position(|a| a == e.asset.as_str()) {
            Some(i) => i as u16,
            None => {
                self.assets.push(e.asset.as_str().to_owned());
                (self.assets.len() - 1) as u16
            }
        };
        let slot = &mut self.slots[idx as usize];
        match slot.moved.iter_mut().find(|(a, _)| *a == asset) {
            Some((_, sum)) => match sum.checked_add(e.amount) {
                Some(s) => *sum = s,
                None => {
                    let o = super::chain::OutOfRange(format!(
                        "ledger entry {} (the legs of trade {})",
                        e.id, slot.id
                    ));
                    self.out_of_range.get_or_insert(o);
                }
            },
            None => slot.moved.push((asset, e.amount)),
        }
    }

    /// The trade `e` is a leg of (marking it seen), if any.
    fn leg_of(&mut self, e: &LedgerEntry) -> Option<u32> {
        if let Some(&(idx, pos)) = self.by_ledger.get(&id_hash(e.id.as_str())) {
            let slot = &mut self.slots[idx as usize];
            if slot.listed().nth(pos as usize) == Some(e.id.as_str()) {
                slot.seen |= 1 << pos;
                return Some(idx);
            }
        }
        let &idx = self.by_refid.get(&id_hash(e.refid.as_str()))?;
        (&*self.slots[idx as usize].id == e.refid.as_str()).then_some(idx)
    }

    /// The problems found, oldest trade first.
    pub fn finish(self) -> Result<Vec<TradeProblem>, super::chain::OutOfRange> {
        if let Some(e) = self.out_of_range {
            return Err(e);
        }
        let mut out = Vec::new();
        for s in &self.slots {
            check_slot(s, &self.assets, &mut out);
        }
        out.sort_by(|a, b| (a.time(), a.trade_id()).cmp(&(b.time(), b.trade_id())));
        Ok(out)
    }
}

fn check_slot(s: &Slot, assets: &[String], out: &mut Vec<TradeProblem>) {
    let mut missing = false;
    for (pos, id) in s.listed().enumerate().take(MAX_TRACKED_LEGS) {
        if s.seen & (1 << pos) == 0 {
            missing = true;
            out.push(TradeProblem::MissingLeg {
                trade_id: s.id.to_string(),
                time: s.time,
                ledger_id: id.to_owned(),
            });
        }
    }
    if s.listed.is_empty() && s.moved.is_empty() {
        out.push(TradeProblem::NoLegs {
            trade_id: s.id.to_string(),
            time: s.time,
        });
        return;
    }
    if missing || !s.check_amounts {
        return;
    }
    let mut moved: Vec<(&str, Decimal)> = s
        .moved
        .iter()
        .filter(|m| !m.1.is_zero())
        .map(|&(a, d)| (assets[a as usize].as_str(), d))
        .collect();
    moved.sort_by(|a, b| a.0.cmp(b.0));
    let ins: Vec<_> = moved.iter().filter(|m| m.1.is_sign_positive()).collect();
    let outs: Vec<_> = moved.iter().filter(|m| m.1.is_sign_negative()).collect();
    let ([inflow], [outflow]) = (ins.as_slice(), outs.as_slice()) else {
        let moved = moved
            .iter()
            .map(|(a, d)| {
                if d.is_sign_negative() {
                    format!("{a} {d}")
                } else {
                    format!("{a} +{d}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push(TradeProblem::UnexpectedLegs {
            trade_id: s.id.to_string(),
            time: s.time,
            moved: if moved.is_empty() {
                "nothing".to_owned()
            } else {
                moved
            },
        });
        return;
    };
    let (base, quote) = match s.side {
        TradeSide::Buy => (inflow, outflow),
        TradeSide::Sell => (outflow, inflow),
    };
    if base.1.abs() != s.vol {
        out.push(TradeProblem::VolumeMismatch {
            trade_id: s.id.to_string(),
            time: s.time,
            asset: base.0.to_owned(),
            vol: s.vol,
            leg_amount: base.1,
        });
    }
    if quote.1.abs() != s.cost {
        out.push(TradeProblem::CostMismatch {
            trade_id: s.id.to_string(),
            time: s.time,
            asset: quote.0.to_owned(),
            cost: s.cost,
            leg_amount: quote.1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetCode, KrakenTime, LedgerId, PositionClose, RefId, TradeId};
    use rust_decimal_macros::dec;

    fn trade(id: &str, side: TradeSide, vol: Decimal, cost: Decimal, ledgers: &[&str]) -> Trade {
        Trade {
            id: TradeId::new(id).unwrap(),
            ordertxid: "OX".into(),
            postxid: None,
            pair: "XXBTZEUR".into(),
            time: KrakenTime::parse("1700000000.5").unwrap(),
            side,
            ordertype: "limit".into(),
            price: dec!(50000),
            cost,
            fee: dec!(0.1),
            vol,
            margin: Some(dec!(0.00000)),
            leverage: Some("0".into()),
            misc: String::new(),
            ledgers: ledgers.iter().map(|l| LedgerId::new(*l).unwrap()).collect(),
            trade_id: None,
            maker: None,
            position: PositionClose::default(),
        }
    }

    fn leg(id: &str, refid: &str, asset: &str, amount: Decimal, fee: Decimal) -> LedgerEntry {
        LedgerEntry {
            id: LedgerId::new(id).unwrap(),
            refid: RefId::new(refid).unwrap(),
            time: KrakenTime::parse("1700000000.5").unwrap(),
            kind: "trade".into(),
            subtype: Some("tradespot".into()),
            aclass: "currency".into(),
            subclass: None,
            asset: AssetCode::new(asset).unwrap(),
            wallet: None,
            amount,
            fee,
            balance: None,
        }
    }

    fn run(trades: &[Trade], legs: &[LedgerEntry]) -> Vec<TradeProblem> {
        let mut c = TradeLegChecker::new();
        for t in trades {
            c.add_trade(t);
        }
        for l in legs {
            c.observe(l);
        }
        c.finish().unwrap()
    }

    #[test]
    fn legs_adding_up_beyond_the_decimal_range_are_an_error() {
        let half = dec!(50000000000000000000000000000);
        let t = trade("T1", TradeSide::Buy, half, dec!(1), &["LA", "LB", "LC"]);
        let mut c = TradeLegChecker::new();
        c.add_trade(&t);
        c.observe(&leg("LA", "T1", "XXBT", half, dec!(0)));
        c.observe(&leg("LB", "T1", "XXBT", half, dec!(0)));
        c.observe(&leg("LC", "T1", "ZEUR", dec!(-1), dec!(0)));
        assert_eq!(
            c.finish().unwrap_err().to_string(),
            "ledger entry LB (the legs of trade T1): the sum is beyond the range of a decimal number; no Kraken account holds such amounts"
        );
    }

    #[test]
    fn matching_legs_pass_numerically_with_kfee_and_split_wallets() {
        let t = trade(
            "T1",
            TradeSide::Buy,
            dec!(0.25),
            dec!(12.50000),
            &["LA", "LB", "LK"],
        );
        let legs = [
            leg("LA", "T1", "XXBT", dec!(0.2500000000), dec!(0)),
            leg("LB", "T1", "ZEUR", dec!(-12.5), dec!(0)),
            leg("LK", "T1", "KFEE", dec!(0), dec!(3.2)),
        ];
        assert_eq!(run(std::slice::from_ref(&t), &legs), vec![]);
        // No listed ids: matched by refid; a sell split over two wallets sums.
        let t = trade("T2", TradeSide::Sell, dec!(1), dec!(30), &[]);
        let legs = [
            leg("L1", "T2", "DOT", dec!(-0.4), dec!(0)),
            leg("L2", "T2", "DOT", dec!(-0.6), dec!(0)),
            leg("L3", "T2", "ZEUR", dec!(30.0), dec!(0.05)),
            leg("L4", "OTHER", "ZEUR", dec!(99), dec!(0)),
        ];
        assert_eq!(run(&[t], &legs), vec![]);
    }

    #[test]
    fn missing_and_mismatched_legs_are_reported() {
        let t1 = trade("T1", TradeSide::Buy, dec!(0.25), dec!(12.5), &["LA", "LB"]);
        let t2 = trade("T2", TradeSide::Buy, dec!(0.25), dec!(12.5), &["LC", "LD"]);
        let t3 = trade("T3", TradeSide::Sell, dec!(2), dec!(10), &[]);
        let t4 = trade("T4", TradeSide::Buy, dec!(1), dec!(1), &["LE", "LF"]);
        let legs = [
            leg("LA", "T1", "XXBT", dec!(0.25), dec!(0)),
            leg("LC", "T2", "XXBT", dec!(0.24), dec!(0)),
            leg("LD", "T2", "ZEUR", dec!(-12.51), dec!(0)),
            leg("LE", "T4", "XXBT", dec!(1), dec!(0)),
            leg("LF", "T4", "ZEUR", dec!(1), dec!(0)),
        ];
        let time = KrakenTime::parse("1700000000.5").unwrap().utc();
        assert_eq!(
            run(&[t1, t2, t3, t4], &legs),
            vec![
                TradeProblem::MissingLeg {
                    trade_id: "T1".into(),
                    time,
                    ledger_id: "LB".into()
                },
                TradeProblem::VolumeMismatch {
                    trade_id: "T2".into(),
                    time,
                    asset: "XXBT".into(),
                    vol: dec!(0.25),
                    leg_amount: dec!(0.24)
                },
                TradeProblem::CostMismatch {
                    trade_id: "T2".into(),
                    time,
                    asset: "ZEUR".into(),
                    cost: dec!(12.5),
                    leg_amount: dec!(-12.51)
                },
                TradeProblem::NoLegs {
                    trade_id: "T3".into(),
                    time
                },
                TradeProblem::UnexpectedLegs {
                    trade_id: "T4".into(),
                    time,
                    moved: "XXBT +1, ZEUR +1".into()
                },
            ]
        );
    }

    #[test]
    fn margin_trades_are_checked_for_presence_only() {
        let mut t = trade("T1", TradeSide::Buy, dec!(5), dec!(100), &["LA"]);
        t.margin = Some(dec!(20));
        let legs = [leg("LA", "T1", "ZEUR", dec!(-0.02), dec!(0.02))];
        assert_eq!(run(std::slice::from_ref(&t), &legs), vec![]);
        assert_eq!(run(&[t], &[]).len(), 1);
    }
}
