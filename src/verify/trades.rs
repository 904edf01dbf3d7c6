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
use crate::domain::{LedgerEntry, LedgerId, Trade, TradeSide};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;

#[derive(Debug)]
struct Slot {
    id: String,
    time: DateTime<Utc>,
    side: TradeSide,
    vol: Decimal,
    cost: Decimal,
    check_amounts: bool,
    listed: Vec<LedgerId>,
    seen: Vec<bool>,
    /// Net amount per asset over the legs seen.
    moved: Vec<(String, Decimal)>,
}

/// Collects trades, then the ledger entries, and reports trades whose legs do not add up.
#[derive(Debug, Default)]
pub struct TradeLegChecker {
    slots: Vec<Slot>,
    /// Listed ledger id → (trade, position in its list).
    by_ledger: HashMap<String, (u32, u8)>,
    /// Trade id → trade, for trades that list no ledger ids.
    by_refid: HashMap<String, u32>,
}

impl TradeLegChecker {
    /// An empty checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a trade; all trades must come before the first ledger entry.
    pub fn add_trade(&mut self, t: &Trade) {
        let idx = u32::try_from(self.slots.len()).expect("fewer than 4 billion trades");
        if t.ledgers.is_empty() {
            self.by_refid.insert(t.id.as_str().to_owned(), idx);
        }
        for (pos, id) in t.ledgers.iter().enumerate() {
            let pos = u8::try_from(pos).unwrap_or(u8::MAX);
            self.by_ledger.insert(id.as_str().to_owned(), (idx, pos));
        }
        self.slots.push(Slot {
            id: t.id.as_str().to_owned(),
            time: t.time.utc(),
            side: t.side,
            vol: t.vol,
            cost: t.cost,
            check_amounts: t.margin.is_none_or(|m| m.is_zero()),
            listed: t.ledgers.clone(),
            seen: vec![false; t.ledgers.len()],
            moved: Vec::new(),
        });
    }

    /// Trades registered.
    pub fn trades(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Looks at one ledger entry (any order).
    pub fn observe(&mut self, e: &LedgerEntry) {
        let idx = if let Some(&(idx, pos)) = self.by_ledger.get(e.id.as_str()) {
            if let Some(s) = self.slots[idx as usize].seen.get_mut(pos as usize) {
                *s = true;
            }
            idx
        } else if let Some(&idx) = self.by_refid.get(e.refid.as_str()) {
            idx
        } else {
            return;
        };
        let slot = &mut self.slots[idx as usize];
        match slot.moved.iter_mut().find(|(a, _)| a == e.asset.as_str()) {
            Some((_, sum)) => *sum += e.amount,
            None => slot.moved.push((e.asset.as_str().to_owned(), e.amount)),
        }
    }

    /// The problems found, oldest trade first.
    pub fn finish(self) -> Vec<TradeProblem> {
        let mut out = Vec::new();
        for s in self.slots {
            check_slot(s, &mut out);
        }
        out.sort_by(|a, b| (a.time(), a.trade_id()).cmp(&(b.time(), b.trade_id())));
        out
    }
}

fn check_slot(s: Slot, out: &mut Vec<TradeProblem>) {
    let mut missing = false;
    for (id, seen) in s.listed.iter().zip(&s.seen) {
        if !seen {
            missing = true;
            out.push(TradeProblem::MissingLeg {
                trade_id: s.id.clone(),
                time: s.time,
                ledger_id: id.to_string(),
            });
        }
    }
    if s.listed.is_empty() && s.moved.is_empty() {
        out.push(TradeProblem::NoLegs {
            trade_id: s.id,
            time: s.time,
        });
        return;
    }
    if missing || !s.check_amounts {
        return;
    }
    let mut moved: Vec<&(String, Decimal)> = s.moved.iter().filter(|m| !m.1.is_zero()).collect();
    moved.sort_by(|a, b| a.0.cmp(&b.0));
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
            trade_id: s.id,
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
            trade_id: s.id.clone(),
            time: s.time,
            asset: base.0.clone(),
            vol: s.vol,
            leg_amount: base.1,
        });
    }
    if quote.1.abs() != s.cost {
        out.push(TradeProblem::CostMismatch {
            trade_id: s.id,
            time: s.time,
            asset: quote.0.clone(),
            cost: s.cost,
            leg_amount: quote.1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetCode, KrakenTime, PositionClose, RefId, TradeId};
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
        c.finish()
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
