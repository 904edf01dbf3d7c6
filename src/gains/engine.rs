//! The walk over the legs: lots and pools, disposals, transfers, income, margin, holdings.

use super::lots::{Lot, NO_LEG, Ovf, Part, Pool, R, add, opt_add, r10, share, sub, unknown_lot};
use super::uk::UkPlan;
use super::{
    CostSource, DisposalKind, DisposalRow, Form8949Row, GainsError, GainsLeg, GainsOptions,
    GainsReport, HoldingRow, IncomeRow, LegKind, LotPick, MarginRow, Method, PriceLookup, Rule,
    SummaryRow, SwapFee, Term, UnknownCost, Warning, WarningCode,
};
use crate::text::{agree, count};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

/// A lot in a highest-unit-cost-first heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeapLot {
    unit: Option<Decimal>,
    lot: Lot,
}

impl Ord for HeapLot {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Greater = taken first: known before unknown, higher unit cost, then older.
        match (self.unit, o.unit) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| o.lot.order_key().cmp(&self.lot.order_key()))
    }
}

impl PartialOrd for HeapLot {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// The lots of one asset (or, for `us`, one account's asset).
#[derive(Debug)]
enum Book {
    /// Ordered by acquisition time: FIFO takes the front, LIFO the back.
    Queue(VecDeque<Lot>),
    /// Highest unit cost first.
    Heap(BinaryHeap<HeapLot>),
    /// Average cost.
    Pool(Pool),
}

impl Book {
    fn add(&mut self, lot: Lot) -> R<()> {
        if lot.units.is_zero() {
            return Ok(());
        }
        match self {
            Book::Queue(q) => {
                if q.back().is_none_or(|b| b.order_key() <= lot.order_key()) {
                    q.push_back(lot);
                } else {
                    let at = q.partition_point(|l| l.order_key() <= lot.order_key());
                    q.insert(at, lot);
                }
            }
            Book::Heap(h) => {
                let unit = match lot.cost {
                    Some(c) => Some(c.checked_div(lot.units).ok_or(Ovf)?),
                    None => None,
                };
                h.push(HeapLot { unit, lot });
            }
            Book::Pool(p) => p.add(&lot)?,
        }
        Ok(())
    }

    /// Takes up to `q` units in the book's order; returns what is missing.
    fn take(
        &mut self,
        q: Decimal,
        newest_first: bool,
        at: DateTime<Utc>,
        out: &mut Vec<Lot>,
    ) -> R<Decimal> {
        let mut left = q;
        match self {
            Book::Queue(lots) => {
                while !left.is_zero() {
                    let lot = if newest_first {
                        lots.back_mut()
                    } else {
                        lots.front_mut()
                    };
                    let Some(lot) = lot else { break };
                    let part = lot.take(left)?;
                    left = sub(left, part.units)?;
                    out.push(part);
                    if lot.units.is_zero() {
                        if newest_first {
                            lots.pop_back();
                        } else {
                            lots.pop_front();
                        }
                    }
                }
            }
            Book::Heap(h) => {
                while !left.is_zero() {
                    let Some(mut top) = h.peek_mut() else { break };
                    let part = top.lot.take(left)?;
                    left = sub(left, part.units)?;
                    out.push(part);
                    if top.lot.units.is_zero() {
                        std::collections::binary_heap::PeekMut::pop(top);
                    }
                }
            }
            Book::Pool(p) => left = p.take(q, at, out)?,
        }
        Ok(left)
    }

    /// (known cost, units of unknown cost) of what is held.
    fn carried(&self) -> R<(Decimal, Decimal)> {
        let mut cost = Decimal::ZERO;
        let mut unknown = Decimal::ZERO;
        let mut one = |l: &Lot| -> R<()> {
            match l.cost {
                Some(c) => cost = add(cost, c)?,
                None => unknown = add(unknown, l.units)?,
            }
            Ok(())
        };
        match self {
            Book::Queue(q) => q.iter().try_for_each(&mut one)?,
            Book::Heap(h) => h.iter().try_for_each(|x| one(&x.lot))?,
            Book::Pool(p) => return Ok((p.cost, p.unknown)),
        }
        Ok((cost, unknown))
    }
}

/// Units that left by a transfer out and may come back.
#[derive(Debug)]
struct Moved {
    asset: u32,
    account: u32,
    units: Decimal,
    remaining: Decimal,
    lots: Vec<Lot>,
}

/// The walk's state.
struct Walk<'a, 'o> {
    legs: &'a [GainsLeg<'a>],
    opts: &'o GainsOptions,
    assets: Vec<&'a str>,
    asset_ids: HashMap<&'a str, u32>,
    accounts: Vec<&'a str>,
    account_ids: HashMap<&'a str, u32>,
    books: Vec<Book>,
    book_ids: HashMap<(u32, u32), u32>,
    balances: HashMap<(u32, u32), Decimal>,
    moved: Vec<Moved>,
    moved_by_units: HashMap<(u32, Decimal), VecDeque<usize>>,
    moved_by_asset: HashMap<u32, VecDeque<usize>>,
    moved_pending: HashMap<(u32, u32), Decimal>,
    fee_alloc: Vec<Option<Decimal>>,
    uk: Option<UkPlan<'a>>,
    scratch: Vec<Lot>,
    parts: Vec<Part>,
    next_disposal: u64,
    rows: Vec<DisposalRow<'a>>,
    income: Vec<IncomeRow<'a>>,
    margin: Vec<MarginRow<'a>>,
}

/// Runs the engine over `legs` (the whole history, oldest first) and returns the period's
/// rows (gains.md). Never panics on input: overflow, out-of-order legs and negative units
/// are errors.
pub fn compute<'a>(
    legs: &'a [GainsLeg<'a>],
    opts: &GainsOptions,
    prices: &dyn PriceLookup,
) -> Result<GainsReport<'a>, GainsError> {
    let err = |i: usize| {
        legs.get(i)
            .map(|l| l.ledger_id.to_owned())
            .unwrap_or_default()
    };
    for (i, leg) in legs.iter().enumerate() {
        if i > 0 && leg.time < legs[i - 1].time {
            return Err(GainsError::OutOfOrder { ledger_id: err(i) });
        }
        let signed_ok = matches!(leg.kind, LegKind::Margin);
        if (!signed_ok && leg.units.is_sign_negative() && !leg.units.is_zero())
            || (leg.fee_units.is_sign_negative() && !leg.fee_units.is_zero())
        {
            return Err(GainsError::Negative { ledger_id: err(i) });
        }
    }
    let fee_alloc = fee_allocation(legs, opts.swap_fee)
        .map_err(|(i, _)| GainsError::Overflow { ledger_id: err(i) })?;
    let uk = if opts.method == Method::Uk {
        Some(
            UkPlan::build(legs, &fee_alloc)
                .map_err(|(i, _)| GainsError::Overflow { ledger_id: err(i) })?,
        )
    } else {
        None
    };
    let mut w = Walk {
        legs,
        opts,
        assets: Vec::new(),
        asset_ids: HashMap::new(),
        accounts: Vec::new(),
        account_ids: HashMap::new(),
        books: Vec::new(),
        book_ids: HashMap::new(),
        balances: HashMap::new(),
        moved: Vec::new(),
        moved_by_units: HashMap::new(),
        moved_by_asset: HashMap::new(),
        moved_pending: HashMap::new(),
        fee_alloc,
        uk,
        scratch: Vec::new(),
        parts: Vec::new(),
        next_disposal: 0,
        rows: Vec::new(),
        income: Vec::new(),
        margin: Vec::new(),
    };
    let mut start_units: Option<HashMap<(u32, u32), Decimal>> = None;
    let mut end: Option<Snapshot> = None;
    for (i, leg) in legs.iter().enumerate() {
        if start_units.is_none() && leg.time >= opts.period.start {
            start_units = Some(w.balances.clone());
        }
        if end.is_none() && leg.time >= opts.period.end {
            end = Some(
                w.snapshot()
                    .map_err(|_| GainsError::Overflow { ledger_id: err(i) })?,
            );
        }
        w.step(i)
            .map_err(|_| GainsError::Overflow { ledger_id: err(i) })?;
    }
    let start_units = start_units.unwrap_or_else(|| w.balances.clone());
    let end = match end {
        Some(e) => e,
        None => w.snapshot().map_err(|_| GainsError::Overflow {
            ledger_id: String::new(),
        })?,
    };
    let holdings = w
        .holdings(&start_units, &end, prices)
        .map_err(|_| GainsError::Overflow {
            ledger_id: String::new(),
        })?;
    let Walk {
        rows,
        income,
        margin,
        ..
    } = w;
    let (summary, warnings) =
        summarize(&rows, &income, opts).map_err(|_| GainsError::Overflow {
            ledger_id: String::new(),
        })?;
    let form8949 = if opts.method == Method::Us {
        form8949(&rows).map_err(|_| GainsError::Overflow {
            ledger_id: String::new(),
        })?
    } else {
        Vec::new()
    };
    Ok(GainsReport {
        disposals: rows,
        income,
        margin,
        holdings,
        summary,
        form8949,
        warnings,
    })
}

/// The allowable fee value of each leg's transaction (gains.md "Fees"): the value of its
/// crypto fee units plus its fiat/KFEE fees; with `--swap-fee split`, a swap's fees (both
/// legs, paired by refid) are shared half and half between its disposal and acquisition.
fn fee_allocation(
    legs: &[GainsLeg<'_>],
    mode: SwapFee,
) -> Result<Vec<Option<Decimal>>, (usize, Ovf)> {
    let mut out = Vec::with_capacity(legs.len());
    for (i, leg) in legs.iter().enumerate() {
        let crypto = if leg.fee_units.is_zero() {
            Some(Decimal::ZERO)
        } else {
            leg.fee_value
        };
        let f =
            opt_add(crypto, Some(leg.other_fee.unwrap_or(Decimal::ZERO))).map_err(|e| (i, e))?;
        out.push(f);
    }
    if mode == SwapFee::Split {
        // refid → (first swap-out leg, first acquisition leg, total fees)
        type Sides = (Option<usize>, Option<usize>, Option<Decimal>);
        let mut swaps: HashMap<&str, Sides> = HashMap::new();
        for (i, leg) in legs.iter().enumerate() {
            let out_side = matches!(leg.kind, LegKind::Disposal(DisposalKind::Swap));
            let in_side = matches!(leg.kind, LegKind::Acquisition);
            if !(out_side || in_side) || leg.refid.is_empty() {
                continue;
            }
            let e = swaps
                .entry(leg.refid)
                .or_insert((None, None, Some(Decimal::ZERO)));
            if out_side && e.0.is_none() {
                e.0 = Some(i);
            }
            if in_side && e.1.is_none() {
                e.1 = Some(i);
            }
            e.2 = opt_add(e.2, out[i]).map_err(|x| (i, x))?;
        }
        for (o, a, total) in swaps.into_values() {
            let (Some(o), Some(a)) = (o, a) else { continue };
            for (i, leg) in legs.iter().enumerate().skip(o.min(a)) {
                if i > o.max(a) {
                    break;
                }
                if leg.refid == legs[o].refid
                    && matches!(
                        leg.kind,
                        LegKind::Acquisition | LegKind::Disposal(DisposalKind::Swap)
                    )
                {
                    out[i] = Some(Decimal::ZERO);
                }
            }
            let half = total.map(|t| t / Decimal::TWO);
            out[o] = half;
            out[a] = match (total, half) {
                (Some(t), Some(h)) => Some(sub(t, h).map_err(|x| (a, x))?),
                _ => None,
            };
        }
    }
    Ok(out)
}

/// What holdings need at the period's end.
struct Snapshot {
    units: HashMap<(u32, u32), Decimal>,
    moved: HashMap<(u32, u32), Decimal>,
    /// book key (account or u32::MAX, asset) → (known cost, unknown units)
    carried: Vec<((u32, u32), (Decimal, Decimal))>,
}

impl<'a> Walk<'a, '_> {
    fn asset(&mut self, s: &'a str) -> u32 {
        intern(&mut self.assets, &mut self.asset_ids, s)
    }

    fn account(&mut self, s: &'a str) -> u32 {
        intern(&mut self.accounts, &mut self.account_ids, s)
    }

    fn book(&mut self, account: u32, asset: u32) -> usize {
        let key = if self.opts.method == Method::Us {
            (account, asset)
        } else {
            (u32::MAX, asset)
        };
        let n = self.books.len() as u32;
        let id = *self.book_ids.entry(key).or_insert(n);
        if id == n {
            let book = match (self.opts.method, self.opts.lots) {
                (Method::Average | Method::Uk, _) => Book::Pool(Pool::default()),
                (Method::Hifo, _) | (Method::Us, LotPick::Hifo) => Book::Heap(BinaryHeap::new()),
                _ => Book::Queue(VecDeque::new()),
            };
            self.books.push(book);
        }
        id as usize
    }

    fn lot_rule(&self) -> Rule {
        match (self.opts.method, self.opts.lots) {
            (Method::Lifo, _) => Rule::Lifo,
            (Method::Hifo, _) | (Method::Us, LotPick::Hifo) => Rule::Hifo,
            (Method::Average, _) => Rule::Average,
            (Method::Uk, _) => Rule::Section104,
            _ => Rule::Fifo,
        }
    }

    fn balance(&mut self, asset: u32, account: u32, delta: Decimal, negative: bool) -> R<()> {
        let b = self.balances.entry((asset, account)).or_default();
        *b = if negative {
            sub(*b, delta)?
        } else {
            add(*b, delta)?
        };
        Ok(())
    }

    fn step(&mut self, i: usize) -> R<()> {
        let legs = self.legs;
        let leg = &legs[i];
        if let LegKind::Margin = leg.kind {
            if self.opts.period.contains(leg.time) {
                self.margin.push(MarginRow { leg });
            }
            return Ok(());
        }
        let asset = self.asset(leg.asset);
        let account = self.account(leg.account);
        let book = self.book(account, asset);
        let in_period = self.opts.period.contains(leg.time);
        match leg.kind {
            LegKind::Acquisition | LegKind::Income(_) => {
                self.balance(asset, account, leg.units, false)?;
                let cost = match leg.kind {
                    LegKind::Income(kind) => {
                        if in_period {
                            // value / units, to 10 places: the value is the units at the
                            // market price rounded to 12 places, so unrounded this prints
                            // 6.5315999999987909507128292385 for a price of 6.5316.
                            let price = match leg.value {
                                Some(v) if !leg.units.is_zero() => {
                                    v.checked_div(leg.units).map(|p| r10(p).normalize())
                                }
                                _ => None,
                            };
                            self.income.push(IncomeRow {
                                leg,
                                kind,
                                value: leg.value.map(r10),
                                price,
                            });
                        }
                        leg.value
                    }
                    _ => opt_add(leg.value, self.fee_alloc[i])?,
                };
                if self.uk.is_some() {
                    // (A day without units has no plan: nothing to match.)
                    if !leg.units.is_zero() {
                        self.uk_trigger(i, asset, book)?;
                    }
                } else {
                    self.books[book].add(Lot {
                        units: leg.units,
                        cost,
                        time: leg.time,
                        leg: i as u32,
                        dated: true,
                        pooled: false,
                        source: CostSource::Ledger,
                    })?;
                }
            }
            LegKind::Disposal(kind) => {
                self.balance(asset, account, leg.units, true)?;
                self.dispose(
                    i,
                    kind,
                    leg.units,
                    leg.value,
                    self.fee_alloc[i],
                    asset,
                    book,
                )?;
            }
            LegKind::TransferOut => {
                self.balance(asset, account, leg.units, true)?;
                self.move_out(i, asset, account, book)?;
            }
            LegKind::TransferIn { basis, own_wallet } => {
                self.balance(asset, account, leg.units, false)?;
                self.move_in(i, asset, account, book, basis, own_wallet)?;
            }
            LegKind::Internal | LegKind::Margin => {}
        }
        if !leg.fee_units.is_zero() {
            self.balance(asset, account, leg.fee_units, true)?;
            self.dispose(
                i,
                DisposalKind::Fee,
                leg.fee_units,
                leg.fee_value,
                Some(Decimal::ZERO),
                asset,
                book,
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn dispose(
        &mut self,
        i: usize,
        kind: DisposalKind,
        units: Decimal,
        proceeds: Option<Decimal>,
        fees: Option<Decimal>,
        asset: u32,
        book: usize,
    ) -> R<()> {
        if units.is_zero() {
            return Ok(());
        }
        if self.uk.is_some() {
            let day = self.uk_trigger(i, asset, book)?;
            let id = day as u64;
            let mut parts = std::mem::take(&mut self.parts);
            parts.clear();
            if let Some(uk) = self.uk.as_mut() {
                uk.event_share(day, units, &mut parts)?;
            }
            let r = self.emit(i, id, kind, units, proceeds, fees, &parts);
            self.parts = parts;
            return r;
        }
        let leg = &self.legs[i];
        let newest = matches!(self.opts.method, Method::Lifo);
        let mut lots = std::mem::take(&mut self.scratch);
        lots.clear();
        let missing = self.books[book].take(units, newest, leg.time, &mut lots)?;
        let rule = self.lot_rule();
        let mut parts = std::mem::take(&mut self.parts);
        parts.clear();
        parts.extend(lots.iter().map(|&lot| Part { lot, rule }));
        if !missing.is_zero() {
            parts.push(Part {
                lot: unknown_lot(missing, leg.time),
                rule,
            });
        }
        let id = self.next_disposal;
        self.next_disposal += 1;
        let r = self.emit(i, id, kind, units, proceeds, fees, &parts);
        self.parts = parts;
        self.scratch = lots;
        r
    }

    /// uk: runs the day's matching the first time the (asset, UK day) is met; returns the
    /// day's plan index.
    fn uk_trigger(&mut self, i: usize, asset: u32, book: usize) -> R<usize> {
        let legs = self.legs;
        let leg = &legs[i];
        let Some(uk) = self.uk.as_mut() else {
            return Err(Ovf);
        };
        let day = uk.day_of(leg).ok_or(Ovf)?;
        let _ = asset;
        let Book::Pool(pool) = &mut self.books[book] else {
            return Err(Ovf);
        };
        uk.trigger(day, pool, leg.time, &mut self.scratch)?;
        Ok(day)
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        i: usize,
        id: u64,
        kind: DisposalKind,
        units: Decimal,
        proceeds: Option<Decimal>,
        fees: Option<Decimal>,
        parts: &[Part],
    ) -> R<()> {
        let legs = self.legs;
        let leg = &legs[i];
        if !self.opts.period.contains(leg.time) || parts.is_empty() {
            return Ok(());
        }
        let zero_unknown = self.opts.unknown_cost == UnknownCost::Zero;
        let p_total = proceeds.map(r10);
        let f_total = fees.map(r10);
        let all_known = parts.iter().all(|p| p.lot.cost.is_some());
        let mut c_total = Decimal::ZERO;
        if all_known {
            for p in parts {
                c_total = add(c_total, p.lot.cost.unwrap_or_default())?;
            }
        }
        let c_total = r10(c_total);
        let (mut p_acc, mut f_acc, mut c_acc) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let n = parts.len();
        let disp_day = self.day_of(leg.time);
        for (k, part) in parts.iter().enumerate() {
            let last = k + 1 == n;
            let u = part.lot.units;
            let split = |total: Option<Decimal>, acc: &mut Decimal| -> R<Option<Decimal>> {
                let Some(t) = total else { return Ok(None) };
                let v = if last {
                    sub(t, *acc)?
                } else {
                    r10(share(t, u, units)?)
                };
                *acc = add(*acc, v)?;
                Ok(Some(v))
            };
            let p = split(p_total, &mut p_acc)?;
            let f = split(f_total, &mut f_acc)?;
            let mut note = "";
            let cost = match part.lot.cost {
                Some(c) => {
                    let v = if last && all_known {
                        sub(c_total, c_acc)?
                    } else {
                        r10(c)
                    };
                    c_acc = add(c_acc, v)?;
                    Some(v)
                }
                None if zero_unknown => {
                    note = "cost unknown, treated as zero (--unknown-cost zero)";
                    Some(Decimal::ZERO)
                }
                None => {
                    note = "cost unknown: supply it with `kraken-tax basis import FILE`";
                    None
                }
            };
            let gain = match (p, cost, f) {
                (Some(p), Some(c), Some(f)) => Some(sub(sub(p, c)?, f)?),
                _ => None,
            };
            if p.is_none() && note.is_empty() {
                note = "unpriced: proceeds unknown";
            }
            let (acquired, acquired_ledger_id, holding_days, term) = if part.lot.pooled {
                (None, None, None, None)
            } else {
                let acq_leg = legs.get(part.lot.leg as usize).map(|l| l.ledger_id);
                if part.lot.leg == NO_LEG && !part.lot.dated {
                    (None, None, None, None)
                } else if !part.lot.dated {
                    (Some(part.lot.time), acq_leg, None, None)
                } else {
                    let acq_day = self.day_of(part.lot.time);
                    let days = (disp_day - acq_day).num_days();
                    (
                        Some(part.lot.time),
                        acq_leg,
                        Some(days),
                        self.term(acq_day, disp_day, days),
                    )
                }
            };
            self.rows.push(DisposalRow {
                leg,
                disposal: id,
                kind,
                units: u,
                proceeds: p,
                cost,
                fees: f,
                gain,
                acquired,
                acquired_ledger_id,
                holding_days,
                term,
                rule: part.rule,
                cost_source: if part.lot.cost.is_none() {
                    CostSource::Unknown
                } else {
                    part.lot.source
                },
                note,
            });
        }
        Ok(())
    }

    /// The calendar day a holding period counts in: UK days for `uk`, else UTC.
    fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        if self.opts.method == Method::Uk {
            t.with_timezone(&chrono_tz::Europe::London).date_naive()
        } else {
            t.date_naive()
        }
    }

    fn term(&self, acq: NaiveDate, disp: NaiveDate, days: i64) -> Option<Term> {
        match self.opts.method {
            Method::Fifo | Method::Lifo | Method::Hifo => {
                Some(if days <= 365 { Term::Short } else { Term::Long })
            }
            Method::De => Some(if disp > plus_one_year(acq) {
                Term::Exempt
            } else {
                Term::Taxable
            }),
            Method::Us => Some(if disp > plus_one_year(acq) {
                Term::Long
            } else {
                Term::Short
            }),
            Method::Average | Method::Uk => None,
        }
    }

    fn move_out(&mut self, i: usize, asset: u32, account: u32, book: usize) -> R<()> {
        let leg = &self.legs[i];
        if leg.units.is_zero() {
            return Ok(());
        }
        let newest = matches!(self.opts.method, Method::Lifo);
        let mut lots = Vec::new();
        let missing = self.books[book].take(leg.units, newest, leg.time, &mut lots)?;
        if !missing.is_zero() {
            lots.push(unknown_lot(missing, leg.time));
        }
        let idx = self.moved.len();
        self.moved.push(Moved {
            asset,
            account,
            units: leg.units,
            remaining: leg.units,
            lots,
        });
        self.moved_by_units
            .entry((asset, leg.units.normalize()))
            .or_default()
            .push_back(idx);
        self.moved_by_asset.entry(asset).or_default().push_back(idx);
        let p = self.moved_pending.entry((asset, account)).or_default();
        *p = add(*p, leg.units)?;
        Ok(())
    }

    fn move_in(
        &mut self,
        i: usize,
        asset: u32,
        account: u32,
        book: usize,
        basis: Option<super::Basis>,
        own_wallet: bool,
    ) -> R<()> {
        let leg = &self.legs[i];
        if leg.units.is_zero() {
            return Ok(());
        }
        let mut left = leg.units;
        // A round trip: an earlier transfer out of exactly these units, not yet back.
        if !own_wallet {
            let key = (asset, leg.units.normalize());
            let mut found = None;
            if let Some(q) = self.moved_by_units.get_mut(&key) {
                while let Some(&idx) = q.front() {
                    let m = &self.moved[idx];
                    if m.remaining == m.units {
                        found = Some(idx);
                        q.pop_front();
                        break;
                    }
                    q.pop_front();
                }
            }
            if let Some(idx) = found {
                self.restore(idx, leg.units, book)?;
                left = Decimal::ZERO;
            }
        } else {
            while !left.is_zero() {
                let Some(&idx) = self.moved_by_asset.get(&asset).and_then(|q| q.front()) else {
                    break;
                };
                if self.moved[idx].remaining.is_zero() {
                    if let Some(q) = self.moved_by_asset.get_mut(&asset) {
                        q.pop_front();
                    }
                    continue;
                }
                let take = left.min(self.moved[idx].remaining);
                self.restore(idx, take, book)?;
                left = sub(left, take)?;
            }
        }
        if left.is_zero() {
            return Ok(());
        }
        let _ = account;
        let lot = match basis {
            Some(b) => Lot {
                units: left,
                cost: Some(if left == leg.units {
                    b.cost
                } else {
                    share(b.cost, left, leg.units)?
                }),
                time: b.acquired,
                leg: i as u32,
                dated: true,
                pooled: false,
                source: CostSource::BasisFile,
            },
            None => Lot {
                units: left,
                cost: None,
                time: leg.time,
                leg: i as u32,
                dated: false,
                pooled: false,
                source: CostSource::Unknown,
            },
        };
        self.books[book].add(lot)
    }

    /// Brings `q` units of moved-out entry `idx` back into `book`, earliest lots first.
    fn restore(&mut self, idx: usize, q: Decimal, book: usize) -> R<()> {
        let (asset, account) = (self.moved[idx].asset, self.moved[idx].account);
        let mut left = q;
        let mut back = Vec::new();
        {
            let m = &mut self.moved[idx];
            for lot in m.lots.iter_mut() {
                if left.is_zero() {
                    break;
                }
                if lot.units.is_zero() {
                    continue;
                }
                let part = lot.take(left)?;
                left = sub(left, part.units)?;
                back.push(part);
            }
            m.remaining = sub(m.remaining, q)?;
        }
        for mut lot in back {
            if lot.source == CostSource::Ledger {
                lot.source = CostSource::RoundTrip;
            }
            self.books[book].add(lot)?;
        }
        let p = self.moved_pending.entry((asset, account)).or_default();
        *p = sub(*p, q)?;
        Ok(())
    }

    fn snapshot(&self) -> R<Snapshot> {
        let mut carried = Vec::with_capacity(self.book_ids.len());
        for (&key, &id) in &self.book_ids {
            carried.push((key, self.books[id as usize].carried()?));
        }
        Ok(Snapshot {
            units: self.balances.clone(),
            moved: self.moved_pending.clone(),
            carried,
        })
    }

    fn holdings(
        &self,
        start: &HashMap<(u32, u32), Decimal>,
        end: &Snapshot,
        prices: &dyn PriceLookup,
    ) -> R<Vec<HoldingRow>> {
        // (asset name, account name) → (start, end, moved)
        let mut keys: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
        for &(asset, account) in start.keys().chain(end.units.keys()).chain(end.moved.keys()) {
            keys.insert(
                (self.assets[asset as usize], self.accounts[account as usize]),
                (asset, account),
            );
        }
        let get = |m: &HashMap<(u32, u32), Decimal>, k: (u32, u32)| {
            m.get(&k).copied().unwrap_or_default()
        };
        // The cost carried per (asset, account): exact per account for `us`; otherwise the
        // asset's cost shared among its accounts by positive units held (the last takes the
        // remainder).
        let mut cost_of: HashMap<(u32, u32), (Decimal, Decimal)> = HashMap::new();
        let per_account = self.opts.method == Method::Us;
        let mut by_asset: BTreeMap<u32, (Decimal, Decimal)> = BTreeMap::new();
        for &((acct, asset), (c, u)) in &end.carried {
            if per_account {
                cost_of.insert((asset, acct), (c, u));
            } else {
                by_asset.insert(asset, (c, u));
            }
        }
        if !per_account {
            for (asset, (c, u)) in by_asset {
                let holders: Vec<u32> = keys
                    .values()
                    .filter(|&&(a, acct)| a == asset && get(&end.units, (a, acct)) > Decimal::ZERO)
                    .map(|&(_, acct)| acct)
                    .collect();
                let total: Decimal = {
                    let mut t = Decimal::ZERO;
                    for &acct in &holders {
                        t = add(t, get(&end.units, (asset, acct)))?;
                    }
                    t
                };
                let (mut c_acc, mut u_acc) = (Decimal::ZERO, Decimal::ZERO);
                for (k, &acct) in holders.iter().enumerate() {
                    let held = get(&end.units, (asset, acct));
                    let (cc, uu) = if k + 1 == holders.len() {
                        (sub(c, c_acc)?, sub(u, u_acc)?)
                    } else {
                        (share(c, held, total)?, share(u, held, total)?)
                    };
                    c_acc = add(c_acc, cc)?;
                    u_acc = add(u_acc, uu)?;
                    cost_of.insert((asset, acct), (cc, uu));
                }
            }
        }
        let at = self.opts.period.end - chrono::Duration::microseconds(1);
        let mut rows = Vec::with_capacity(keys.len());
        for (&(asset_name, account_name), &k) in &keys {
            let units_start = get(start, k);
            let units_end = get(&end.units, k);
            let moved_out_units = get(&end.moved, k);
            let (cost_end, unknown_cost_units) = cost_of.get(&k).copied().unwrap_or_default();
            if units_start.is_zero()
                && units_end.is_zero()
                && moved_out_units.is_zero()
                && cost_end.is_zero()
            {
                continue;
            }
            let price_end = prices.price(asset_name, at);
            let value_end = match price_end {
                Some(p) => Some(units_end.checked_mul(p).ok_or(Ovf)?),
                None => None,
            };
            rows.push(HoldingRow {
                account: account_name.to_owned(),
                asset: asset_name.to_owned(),
                units_start,
                units_end,
                cost_end,
                unknown_cost_units,
                moved_out_units,
                price_end,
                value_end,
            });
        }
        Ok(rows)
    }
}

fn intern<'a>(names: &mut Vec<&'a str>, ids: &mut HashMap<&'a str, u32>, s: &'a str) -> u32 {
    if let Some(&id) = ids.get(s) {
        return id;
    }
    let id = names.len() as u32;
    names.push(s);
    ids.insert(s, id);
    id
}

/// The date one calendar year later; 29 February → 28 February.
pub(super) fn plus_one_year(d: NaiveDate) -> NaiveDate {
    let y = d.year().saturating_add(1);
    NaiveDate::from_ymd_opt(y, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, d.month(), 28))
        .unwrap_or(NaiveDate::MAX)
}

/// A money column's sum: `None` when it had only empty cells.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    total: Decimal,
    known: u64,
    empty: u64,
}

impl Sum {
    fn push(&mut self, v: Option<Decimal>) -> R<()> {
        match v {
            Some(v) => {
                self.total = add(self.total, v)?;
                self.known += 1;
            }
            None => self.empty += 1,
        }
        Ok(())
    }
    fn merge(&mut self, o: &Sum) -> R<()> {
        self.total = add(self.total, o.total)?;
        self.known += o.known;
        self.empty += o.empty;
        Ok(())
    }
    fn get(&self) -> Option<Decimal> {
        if self.known == 0 && self.empty > 0 {
            None
        } else {
            Some(self.total)
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct AssetAcc {
    disposals: u64,
    proceeds: Sum,
    cost: Sum,
    fees: Sum,
    gains: Decimal,
    losses: Decimal,
    short: Decimal,
    long: Decimal,
    exempt: Decimal,
    income: Decimal,
    unknown: u64,
    unpriced: u64,
}

/// The summary rows (per asset, then `TOTAL`) and the warnings.
fn summarize(
    rows: &[DisposalRow<'_>],
    income: &[IncomeRow<'_>],
    opts: &GainsOptions,
) -> R<(Vec<SummaryRow>, Vec<Warning>)> {
    #[derive(Default)]
    struct Disp {
        net: Decimal,
        known: bool,
        unknown_cost: bool,
        unpriced: bool,
        first_ledger_id: String,
    }
    let mut per: BTreeMap<&str, AssetAcc> = BTreeMap::new();
    let mut disps: HashMap<u64, Disp> = HashMap::new();
    let mut order: Vec<(u64, &str)> = Vec::new();
    for r in rows {
        let a = per.entry(r.leg.asset).or_default();
        a.proceeds.push(r.proceeds)?;
        a.cost.push(r.cost)?;
        a.fees.push(r.fees)?;
        if let (Some(g), Some(t)) = (r.gain, r.term) {
            match t {
                super::Term::Short => a.short = add(a.short, g)?,
                super::Term::Long => a.long = add(a.long, g)?,
                super::Term::Exempt => a.exempt = add(a.exempt, g)?,
                super::Term::Taxable => {}
            }
        }
        let d = disps.entry(r.disposal).or_insert_with(|| {
            order.push((r.disposal, r.leg.asset));
            Disp {
                known: true,
                first_ledger_id: r.leg.ledger_id.to_owned(),
                ..Disp::default()
            }
        });
        match r.gain {
            Some(g) if d.known => d.net = add(d.net, g)?,
            _ => d.known = false,
        }
        if r.cost_source == CostSource::Unknown {
            d.unknown_cost = true;
        }
        if r.proceeds.is_none() || r.fees.is_none() {
            d.unpriced = true;
        }
    }
    let mut unknown_named: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    let mut unpriced_named: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    for (id, asset) in &order {
        let d = &disps[id];
        let a = per.entry(asset).or_default();
        a.disposals += 1;
        if d.known {
            if d.net > Decimal::ZERO {
                a.gains = add(a.gains, d.net)?;
            } else {
                a.losses = sub(a.losses, d.net)?;
            }
        }
        if d.unknown_cost {
            a.unknown += 1;
            let e = unknown_named
                .entry(asset)
                .or_insert((0, d.first_ledger_id.clone()));
            e.0 += 1;
        }
        if d.unpriced {
            a.unpriced += 1;
            let e = unpriced_named
                .entry(asset)
                .or_insert((0, d.first_ledger_id.clone()));
            e.0 += 1;
        }
    }
    for r in income {
        let a = per.entry(r.leg.asset).or_default();
        if let Some(v) = r.value {
            a.income = add(a.income, v)?;
        }
    }
    let (has_short_long, has_exempt) = match opts.method {
        Method::Fifo | Method::Lifo | Method::Hifo | Method::Us => (true, false),
        Method::De => (false, true),
        Method::Average | Method::Uk => (false, false),
    };
    let mut total = AssetAcc::default();
    let mut out = Vec::with_capacity(per.len() + 1);
    let row = |name: &str, a: &AssetAcc| SummaryRow {
        asset: name.to_owned(),
        disposals: a.disposals,
        proceeds: a.proceeds.get(),
        cost: a.cost.get(),
        fees: a.fees.get(),
        gains: a.gains,
        losses: a.losses,
        net_gain: a.gains - a.losses,
        short_net: has_short_long.then_some(a.short),
        long_net: has_short_long.then_some(a.long),
        exempt_net: has_exempt.then_some(a.exempt),
        income: a.income,
        unknown_cost_disposals: a.unknown,
        unpriced_disposals: a.unpriced,
    };
    for (name, a) in &per {
        a.gains.checked_sub(a.losses).ok_or(Ovf)?;
        out.push(row(name, a));
        total.disposals += a.disposals;
        total.proceeds.merge(&a.proceeds)?;
        total.cost.merge(&a.cost)?;
        total.fees.merge(&a.fees)?;
        total.gains = add(total.gains, a.gains)?;
        total.losses = add(total.losses, a.losses)?;
        total.short = add(total.short, a.short)?;
        total.long = add(total.long, a.long)?;
        total.exempt = add(total.exempt, a.exempt)?;
        total.income = add(total.income, a.income)?;
        total.unknown += a.unknown;
        total.unpriced += a.unpriced;
    }
    total.gains.checked_sub(total.losses).ok_or(Ovf)?;
    out.push(row("TOTAL", &total));
    let mut warnings = Vec::new();
    for (asset, (n, first)) in unknown_named {
        let message = if opts.unknown_cost == UnknownCost::Zero {
            format!(
                "{} of {asset} matched units of unknown cost (first: ledger entry {first}); {} cost is treated as zero (--unknown-cost zero), so gains are overstated; supply the costs with `kraken-tax basis import FILE`",
                count(n, "disposal"),
                agree(n, "its", "their"),
            )
        } else {
            format!(
                "{} of {asset} matched units of unknown cost (first: ledger entry {first}); {} cost and gain are left empty; supply the costs with `kraken-tax basis import FILE`",
                count(n, "disposal"),
                agree(n, "its", "their"),
            )
        };
        warnings.push(Warning::new(WarningCode::UnknownCost, message));
    }
    for (asset, (n, first)) in unpriced_named {
        warnings.push(Warning::new(WarningCode::UnpricedDisposals, format!(
            "{} of {asset} {} no value (first: ledger entry {first}); {} proceeds and gain are left empty; import a price table with `kraken-tax prices import FILE` or run without --offline",
            count(n, "disposal"),
            agree(n, "has", "have"),
            agree(n, "its", "their"),
        )));
    }
    Ok((out, warnings))
}

fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

/// Form 8949 rows from the `us` disposal rows: Part I (short-term, and rows whose holding
/// period is unknown) first, then Part II; the disposal's fees are added to the cost basis.
fn form8949(rows: &[DisposalRow<'_>]) -> R<Vec<Form8949Row>> {
    let mut short = Vec::new();
    let mut long = Vec::new();
    for r in rows {
        let proceeds = r.proceeds.map(r2);
        let cost_basis = match (r.cost, r.fees) {
            (Some(c), Some(f)) => Some(r2(add(c, f)?)),
            _ => None,
        };
        let gain = match (proceeds, cost_basis) {
            (Some(p), Some(c)) => Some(sub(p, c)?),
            _ => None,
        };
        let is_long = r.term == Some(Term::Long);
        // With --unknown-cost zero the cost basis is 0: the description says why.
        let zero = if r.cost_source == CostSource::Unknown && r.cost.is_some() {
            " (cost unknown, treated as zero)"
        } else {
            ""
        };
        let row = Form8949Row {
            part: if is_long { "II" } else { "I" },
            description: format!("{} {}{zero}", r.units.normalize(), r.leg.asset),
            // An undated lot (a deposit of unknown origin) was not acquired when it came in.
            date_acquired: r
                .acquired
                .filter(|_| r.holding_days.is_some())
                .map(|t| t.date_naive()),
            date_sold: r.leg.time.date_naive(),
            proceeds,
            cost_basis,
            gain,
        };
        if is_long {
            long.push(row);
        } else {
            short.push(row);
        }
    }
    short.extend(long);
    Ok(short)
}
