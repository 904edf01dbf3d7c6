//! `uk`: HMRC's share identification rules for cryptoassets (CRYPTO22200 onward; TCGA 1992
//! s105, s106A): per asset and UK day (Europe/London), all acquisitions are one acquisition
//! and all disposals (sales, swaps, fee units) one disposal; a disposal is matched first with
//! the same day's acquisition, then with acquisitions of the next 30 days (each disposal day
//! in date order, earliest acquisition first), then with the section 104 pool.
//!
//! The same-day and 30-day matches need the future, so they are planned before the walk
//! ([`UkPlan::build`]); the pool is operated on during the walk, at the first acquisition or
//! disposal of each (asset, day), so transfers in and out meet it in time order.

use super::lots::{Lot, NO_LEG, Ovf, Part, Pool, R, add, opt_add, share, sub, unknown_lot};
use super::{CostSource, GainsLeg, LegKind, Rule};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// One asset's acquisitions and disposals on one UK day.
#[derive(Debug)]
struct DayPlan {
    date: NaiveDate,
    acq_units: Decimal,
    /// `None` when an acquisition of the day has no value.
    acq_cost: Option<Decimal>,
    acq_leg: u32,
    acq_time: DateTime<Utc>,
    /// Acquired units already matched to disposals (this day's or earlier days'), and their cost.
    acq_alloc_units: Decimal,
    acq_alloc_cost: Decimal,
    disp_units: Decimal,
    disp_events: u32,
    /// Units matched same-day.
    same_day: Decimal,
    same_day_cost: Option<Decimal>,
    /// 30-day matches of this day's disposal: (acquisition day, units, cost).
    bnb: Vec<(usize, Decimal, Option<Decimal>)>,
    triggered: bool,
    parts: Vec<Part>,
    seen: u32,
    alloc: Vec<(Decimal, Option<Decimal>)>,
}

/// The planned matches of every (asset, UK day).
#[derive(Debug)]
pub(super) struct UkPlan<'a> {
    index: HashMap<(&'a str, NaiveDate), usize>,
    days: Vec<DayPlan>,
}

fn london(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Europe::London).date_naive()
}

impl DayPlan {
    /// Allocates `m` acquired units of this day; returns their cost (the last allocation
    /// takes the remainder, so allocations add up to the day's cost exactly).
    fn allocate(&mut self, m: Decimal) -> R<Option<Decimal>> {
        self.acq_alloc_units = add(self.acq_alloc_units, m)?;
        let Some(total) = self.acq_cost else {
            return Ok(None);
        };
        let c = if self.acq_alloc_units == self.acq_units {
            sub(total, self.acq_alloc_cost)?
        } else {
            share(total, m, self.acq_units)?
        };
        self.acq_alloc_cost = add(self.acq_alloc_cost, c)?;
        Ok(Some(c))
    }

    fn acq_remaining(&self) -> R<Decimal> {
        sub(self.acq_units, self.acq_alloc_units)
    }
}

impl<'a> UkPlan<'a> {
    /// Plans the same-day and 30-day matches over the whole history.
    pub fn build(
        legs: &'a [GainsLeg<'a>],
        fee_alloc: &[Option<Decimal>],
    ) -> Result<UkPlan<'a>, (usize, Ovf)> {
        let mut index: HashMap<(&'a str, NaiveDate), usize> = HashMap::new();
        let mut days: Vec<DayPlan> = Vec::new();
        let mut per_asset: HashMap<&'a str, Vec<usize>> = HashMap::new();
        for (i, leg) in legs.iter().enumerate() {
            let e = |x| (i, x);
            let acq = match leg.kind {
                LegKind::Acquisition => Some(opt_add(leg.value, fee_alloc[i]).map_err(e)?),
                LegKind::Income(_) => Some(leg.value),
                _ => None,
            };
            let mut disp = Decimal::ZERO;
            let mut events = 0u32;
            if matches!(leg.kind, LegKind::Disposal(_)) && !leg.units.is_zero() {
                disp = leg.units;
                events += 1;
            }
            if !matches!(leg.kind, LegKind::Margin) && !leg.fee_units.is_zero() {
                disp = add(disp, leg.fee_units).map_err(e)?;
                events += 1;
            }
            let has_acq = acq.is_some() && !leg.units.is_zero();
            if !has_acq && events == 0 {
                continue;
            }
            let date = london(leg.time);
            let n = days.len();
            let d = *index.entry((leg.asset, date)).or_insert(n);
            if d == n {
                days.push(DayPlan {
                    date,
                    acq_units: Decimal::ZERO,
                    acq_cost: Some(Decimal::ZERO),
                    acq_leg: NO_LEG,
                    acq_time: leg.time,
                    acq_alloc_units: Decimal::ZERO,
                    acq_alloc_cost: Decimal::ZERO,
                    disp_units: Decimal::ZERO,
                    disp_events: 0,
                    same_day: Decimal::ZERO,
                    same_day_cost: None,
                    bnb: Vec::new(),
                    triggered: false,
                    parts: Vec::new(),
                    seen: 0,
                    alloc: Vec::new(),
                });
                per_asset.entry(leg.asset).or_default().push(d);
            }
            let day = &mut days[d];
            if has_acq {
                day.acq_units = add(day.acq_units, leg.units).map_err(e)?;
                day.acq_cost = opt_add(day.acq_cost, acq.flatten()).map_err(e)?;
                if day.acq_leg == NO_LEG {
                    day.acq_leg = i as u32;
                    day.acq_time = leg.time;
                }
            }
            day.disp_units = add(day.disp_units, disp).map_err(e)?;
            day.disp_events += events;
        }
        // Same day first, for every day.
        for day in days.iter_mut() {
            let m = day.acq_units.min(day.disp_units);
            if !m.is_zero() {
                day.same_day = m;
                day.same_day_cost = day.allocate(m).map_err(|x| (day.acq_leg as usize, x))?;
            }
        }
        // Then the 30-day rule: disposal days in date order, acquisitions of the next 30
        // days earliest first.
        for list in per_asset.values_mut() {
            list.sort_by_key(|&d| days[d].date);
            for k in 0..list.len() {
                let d = list[k];
                let mut left = sub(days[d].disp_units, days[d].same_day).map_err(|x| (0, x))?;
                if left.is_zero() {
                    continue;
                }
                let limit = days[d].date + chrono::Duration::days(30);
                for &a in &list[k + 1..] {
                    if left.is_zero() || days[a].date > limit {
                        break;
                    }
                    let rem = days[a].acq_remaining().map_err(|x| (0, x))?;
                    if rem.is_zero() {
                        continue;
                    }
                    let m = rem.min(left);
                    let at = days[a].acq_leg as usize;
                    let cost = days[a].allocate(m).map_err(|x| (at, x))?;
                    days[d].bnb.push((a, m, cost));
                    left = sub(left, m).map_err(|x| (at, x))?;
                }
            }
        }
        Ok(UkPlan { index, days })
    }

    /// The plan index of a leg's (asset, UK day).
    pub fn day_of(&self, leg: &GainsLeg<'a>) -> Option<usize> {
        self.index.get(&(leg.asset, london(leg.time))).copied()
    }

    /// The first time a day is met: adds its unmatched acquisitions to the pool, takes its
    /// unmatched disposal from the pool, and fixes the day's matched parts.
    pub fn trigger(
        &mut self,
        d: usize,
        pool: &mut Pool,
        at: DateTime<Utc>,
        scratch: &mut Vec<Lot>,
    ) -> R<()> {
        let Some(day) = self.days.get(d) else {
            return Err(Ovf);
        };
        if day.triggered {
            return Ok(());
        }
        let mut parts = Vec::new();
        if !day.same_day.is_zero() {
            parts.push(Part {
                lot: self.acquired(d, day.same_day, day.same_day_cost),
                rule: Rule::SameDay,
            });
        }
        let mut matched = day.same_day;
        for &(a, m, cost) in &day.bnb {
            parts.push(Part {
                lot: self.acquired(a, m, cost),
                rule: Rule::BedAndBreakfast,
            });
            matched = add(matched, m)?;
        }
        let from_pool = sub(day.disp_units, matched)?;
        // Unmatched acquisitions of the day join the pool.
        let rem = day.acq_remaining()?;
        if !rem.is_zero() {
            let cost = match day.acq_cost {
                Some(c) => Some(sub(c, day.acq_alloc_cost)?),
                None => None,
            };
            pool.add(&Lot {
                units: rem,
                cost,
                time: day.acq_time,
                leg: day.acq_leg,
                dated: true,
                pooled: true,
                source: CostSource::Ledger,
            })?;
        }
        if !from_pool.is_zero() {
            scratch.clear();
            let missing = pool.take(from_pool, at, scratch)?;
            for &lot in scratch.iter() {
                parts.push(Part {
                    lot,
                    rule: Rule::Section104,
                });
            }
            if !missing.is_zero() {
                parts.push(Part {
                    lot: unknown_lot(missing, at),
                    rule: Rule::Section104,
                });
            }
        }
        let day = &mut self.days[d];
        day.alloc = vec![(Decimal::ZERO, Some(Decimal::ZERO)); parts.len()];
        day.parts = parts;
        day.triggered = true;
        Ok(())
    }

    /// The day's acquisition `a`, `m` units of it at `cost`, as a dated lot.
    fn acquired(&self, a: usize, m: Decimal, cost: Option<Decimal>) -> Lot {
        let day = &self.days[a];
        Lot {
            units: m,
            cost,
            time: day.acq_time,
            leg: day.acq_leg,
            dated: true,
            pooled: false,
            source: if cost.is_some() {
                CostSource::Ledger
            } else {
                CostSource::Unknown
            },
        }
    }

    /// One disposal leg (or fee disposal) of the day: its share of the day's parts, in
    /// proportion to its units; the day's last one takes the remainders.
    pub fn event_share(&mut self, d: usize, units: Decimal, out: &mut Vec<Part>) -> R<()> {
        let day = self.days.get_mut(d).ok_or(Ovf)?;
        day.seen += 1;
        let last = day.seen >= day.disp_events;
        for (j, part) in day.parts.iter().enumerate() {
            let (au, ac) = day.alloc[j];
            let (u, c) = if last {
                (
                    sub(part.lot.units, au)?,
                    match (part.lot.cost, ac) {
                        (Some(c), Some(a)) => Some(sub(c, a)?),
                        _ => None,
                    },
                )
            } else {
                (
                    share(part.lot.units, units, day.disp_units)?,
                    match part.lot.cost {
                        Some(c) => Some(share(c, units, day.disp_units)?),
                        None => None,
                    },
                )
            };
            day.alloc[j] = (add(au, u)?, opt_add(ac, c)?);
            if u.is_zero() {
                continue;
            }
            out.push(Part {
                lot: Lot {
                    units: u,
                    cost: c,
                    ..part.lot
                },
                rule: part.rule,
            });
        }
        Ok(())
    }
}
