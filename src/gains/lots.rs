//! Lots, pools and matched parts, with checked arithmetic: what the walk (`engine`) and the
//! UK matching (`uk`) both hold, so neither imports the other for them.

use super::{CostSource, Rule};
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// A figure left the range of a decimal (mapped to [`GainsError::Overflow`] with the leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ovf;

pub(super) type R<T> = Result<T, Ovf>;

pub(super) fn add(a: Decimal, b: Decimal) -> R<Decimal> {
    a.checked_add(b).ok_or(Ovf)
}
pub(super) fn sub(a: Decimal, b: Decimal) -> R<Decimal> {
    a.checked_sub(b).ok_or(Ovf)
}
pub(super) fn opt_add(a: Option<Decimal>, b: Option<Decimal>) -> R<Option<Decimal>> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some(add(a, b)?)),
        _ => Ok(None),
    }
}

/// `total × part / whole`, multiplying first where it fits (exact for the usual figures).
pub(super) fn share(total: Decimal, part: Decimal, whole: Decimal) -> R<Decimal> {
    if whole.is_zero() {
        return Err(Ovf);
    }
    if part == whole {
        return Ok(total);
    }
    match total.checked_mul(part) {
        Some(p) => p.checked_div(whole).ok_or(Ovf),
        None => total
            .checked_div(whole)
            .and_then(|q| q.checked_mul(part))
            .ok_or(Ovf),
    }
}

/// Row money: half to even, 10 decimals.
pub(super) fn r10(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven)
}

/// No leg (pooled or unknown parts).
pub(super) const NO_LEG: u32 = u32::MAX;

/// A lot, or a part taken out of a lot or pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lot {
    pub units: Decimal,
    /// `None`: unknown cost.
    pub cost: Option<Decimal>,
    /// When acquired (for a basis-file lot, the basis date).
    pub time: DateTime<Utc>,
    /// The acquiring leg (`NO_LEG` for pooled or shortfall parts).
    pub leg: u32,
    /// The acquisition date is known (holding period and term can be given).
    pub dated: bool,
    /// Came out of a pool: no acquisition date or leg.
    pub pooled: bool,
    pub source: CostSource,
}

impl Lot {
    /// Removes `q` (≤ units) and returns it, with its share of the cost.
    pub(super) fn take(&mut self, q: Decimal) -> R<Lot> {
        let mut part = *self;
        part.units = q;
        if q >= self.units {
            part.units = self.units;
            self.units = Decimal::ZERO;
            self.cost = self.cost.map(|_| Decimal::ZERO);
            return Ok(part);
        }
        if let Some(c) = self.cost {
            let s = share(c, q, self.units)?;
            part.cost = Some(s);
            self.cost = Some(sub(c, s)?);
        }
        self.units = sub(self.units, q)?;
        Ok(part)
    }

    pub(super) fn order_key(&self) -> (DateTime<Utc>, u32) {
        (self.time, self.leg)
    }
}

/// An average-cost pool (average, uk's section 104): units of known cost with their total
/// cost, and units of unknown cost beside them (never mixed into an invented average).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pool {
    pub units: Decimal,
    pub cost: Decimal,
    pub unknown: Decimal,
    /// The weakest source of the known costs that went in.
    pub source: CostSource,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            units: Decimal::ZERO,
            cost: Decimal::ZERO,
            unknown: Decimal::ZERO,
            source: CostSource::Ledger,
        }
    }
}

impl Pool {
    pub fn add(&mut self, lot: &Lot) -> R<()> {
        match lot.cost {
            Some(c) => {
                self.units = add(self.units, lot.units)?;
                self.cost = add(self.cost, c)?;
                self.source = self.source.max(lot.source);
            }
            None => self.unknown = add(self.unknown, lot.units)?,
        }
        Ok(())
    }

    /// Takes up to `q` units in proportion (known / unknown); returns what is missing.
    pub fn take(&mut self, q: Decimal, at: DateTime<Utc>, out: &mut Vec<Lot>) -> R<Decimal> {
        let held = add(self.units, self.unknown)?;
        let q_in = q.min(held);
        let missing = sub(q, q_in)?;
        if q_in.is_zero() {
            return Ok(missing);
        }
        let from_unknown = if self.unknown.is_zero() {
            Decimal::ZERO
        } else if q_in == held {
            self.unknown
        } else {
            share(self.unknown, q_in, held)?
        };
        let from_known = sub(q_in, from_unknown)?;
        let base = Lot {
            units: Decimal::ZERO,
            cost: None,
            time: at,
            leg: NO_LEG,
            dated: false,
            pooled: true,
            source: CostSource::Unknown,
        };
        if !from_known.is_zero() {
            let c = share(self.cost, from_known, self.units)?;
            self.cost = if from_known == self.units {
                Decimal::ZERO
            } else {
                sub(self.cost, c)?
            };
            self.units = sub(self.units, from_known)?;
            out.push(Lot {
                units: from_known,
                cost: Some(c),
                source: self.source,
                ..base
            });
            if self.units.is_zero() {
                self.source = CostSource::Ledger;
            }
        }
        if !from_unknown.is_zero() {
            self.unknown = sub(self.unknown, from_unknown)?;
            out.push(Lot {
                units: from_unknown,
                ..base
            });
        }
        Ok(missing)
    }
}

/// Row money and holding details of one matched part, before rounding.
#[derive(Debug, Clone, Copy)]
pub(super) struct Part {
    pub lot: Lot,
    pub rule: Rule,
}

pub(super) fn unknown_lot(units: Decimal, at: DateTime<Utc>) -> Lot {
    Lot {
        units,
        cost: None,
        time: at,
        leg: NO_LEG,
        dated: false,
        pooled: false,
        source: CostSource::Unknown,
    }
}
