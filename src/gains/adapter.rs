//! From the stored, classified and valued legs to the engine's [`GainsLeg`]s.
//!
//! This is the only place that knows both the export's ledger ([`Ledger`], its
//! classification and valuation through [`Ledger::write_year`]) and the engine: when the
//! export moves to the stored derived legs, only this file needs re-pointing. Nothing is
//! classified or valued here: every leg takes the element, type code and value the export
//! gives it (with `--fees gross`, so a disposal's value is before fees and an acquisition's
//! fees can be told from its value).
//!
//! Memory: the strings of a [`GainsLeg`] borrow from the ledgers' compact tables; per leg the
//! adapter keeps only a small [`Staged`] record (position, kind, values) until
//! [`Valued::legs`] builds the slice.

use super::{Basis, DisposalKind, GainsLeg, IncomeKind, LegKind};
use crate::classify::{Counterparty, Rules};
use crate::domain::Element;
use crate::export::{FeeTreatment, Ledger, RowRef};
use crate::pricing::PriceSource;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// Margin position types (`classify` reports them `NotReportable`, note `margin`).
const MARGIN_TYPES: &[&str] = &["margin", "rollover", "settled"];

/// Decimals kept for values computed here (as the valuation does).
const VALUE_DP: u32 = 12;

/// One account's ledger, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct AccountLedger<'l> {
    /// The account name.
    pub account: &'l str,
    /// Its whole history, grouped.
    pub ledger: &'l Ledger,
}

/// What the user told us about deposits: costs from `basis import` and `own-wallet` labels.
#[derive(Debug, Clone, Default)]
pub struct UserFacts {
    /// Costs by ledger id or refid, with the units they are for.
    pub basis_by_id: HashMap<String, (Basis, Decimal)>,
    /// Costs by (asset, time in microseconds) of the deposit, with the units they are for.
    pub basis_by_asset_time: HashMap<(String, i64), (Basis, Decimal)>,
    /// Ledger ids or refids of deposits labelled `own-wallet`.
    pub own_wallet: HashSet<String>,
}

impl UserFacts {
    fn basis(&self, id: &str, refid: &str, asset: &str, time_us: i64) -> Option<(Basis, Decimal)> {
        self.basis_by_id
            .get(id)
            .or_else(|| self.basis_by_id.get(refid))
            .or_else(|| {
                if self.basis_by_asset_time.is_empty() {
                    None
                } else {
                    self.basis_by_asset_time.get(&(asset.to_owned(), time_us))
                }
            })
            .copied()
    }

    fn is_own_wallet(&self, id: &str, refid: &str, rules: &Rules) -> bool {
        self.own_wallet.contains(id)
            || self.own_wallet.contains(refid)
            || rules
                .labels
                .get(id)
                .or_else(|| rules.labels.get(refid))
                .is_some_and(|c| *c == Counterparty::PrivateWallet)
    }
}

/// One leg the engine will see: where it is, what it does, and its values.
#[derive(Debug, Clone, Copy)]
pub struct Staged {
    ledger: u16,
    pos: u32,
    kind: LegKind,
    value: Option<Decimal>,
    fee_value: Option<Decimal>,
    other_fee: Option<Decimal>,
    source: u16,
}

/// The staged legs of every selected account, and what was left out.
#[derive(Debug, Default)]
pub struct Valued {
    staged: Vec<Staged>,
    sources: Vec<String>,
    /// Crypto-asset legs left out because they are unclassified (their units are not
    /// tracked: the holdings will not match Kraken's balances).
    pub unclassified: u64,
    /// The first of those: (account, ledger id, note).
    pub first_unclassified: Option<(String, String, String)>,
    /// Deposits whose basis-file row is for other units than the deposit's (the cost is not
    /// used: the deposit's cost stays unknown).
    pub basis_mismatch: u64,
    /// The first of those: (ledger id, deposit units, basis units).
    pub first_basis_mismatch: Option<(String, Decimal, Decimal)>,
}

/// The gains kind of a classified leg; `None` for legs the engine does not see (fiat, KFEE,
/// zero amounts, unclassified).
fn kind_of(
    row: &RowRef<'_>,
    facts: &UserFacts,
    rules: &Rules,
    time_us: i64,
    mismatch: &mut Option<Decimal>,
) -> Option<LegKind> {
    use Element::*;
    Some(match row.element {
        CryptoFiatIn | CryptoToCryptoIn => LegKind::Acquisition,
        CryptoFiatOut => LegKind::Disposal(DisposalKind::Sale),
        CryptoToCryptoOut => LegKind::Disposal(DisposalKind::Swap),
        CryptoTransferOut | TransferWallet => match row.type_code {
            Some("CARF603") => LegKind::Disposal(DisposalKind::Payment),
            _ => LegKind::TransferOut,
        },
        CryptoTransferIn => match row.type_code {
            Some("CARF502") => LegKind::Income(match row.kraken_type {
                "staking" => IncomeKind::Staking,
                "earn" => IncomeKind::Earn,
                _ => IncomeKind::Reward,
            }),
            Some("CARF501") => LegKind::Income(IncomeKind::Airdrop),
            Some("CARF508") if matches!(row.kraken_type, "reward" | "invite bonus") => {
                LegKind::Income(IncomeKind::Reward)
            }
            Some("CARF503" | "CARF506" | "CARF508") => LegKind::Income(IncomeKind::Other),
            _ => LegKind::TransferIn {
                basis: match facts.basis(row.ledger_id, row.refid, row.crypto_asset, time_us) {
                    Some((b, units)) if units == row.units => Some(b),
                    Some((_, units)) => {
                        *mismatch = Some(units);
                        None
                    }
                    None => None,
                },
                own_wallet: facts.is_own_wallet(row.ledger_id, row.refid, rules),
            },
        },
        Internal => LegKind::Internal,
        NotReportable if MARGIN_TYPES.contains(&row.kraken_type) => LegKind::Margin,
        NotReportable | Unclassified => return None,
    })
}

/// The values of a leg: (value of the units, value of its own crypto fee, other fees).
/// `value` is before fees for disposals and transfers, without fees for acquisitions; the
/// crypto fee is valued at the leg's price; the rest of the valuation's fee (the fiat leg's
/// fee share, KFEE credits) is the transaction's other fee.
fn values(row: &RowRef<'_>, kind: LegKind) -> (Option<Decimal>, Option<Decimal>, Option<Decimal>) {
    let (Some(gross), Some(fee), Some(price)) = (row.amount_gross, row.fee_amount, row.price)
    else {
        return (None, None, None);
    };
    let own = if row.fee_units.is_zero() {
        Some(Decimal::ZERO)
    } else {
        row.fee_units
            .checked_mul(price)
            .map(|v| v.round_dp(VALUE_DP))
    };
    let Some(own) = own else {
        return (None, None, None);
    };
    let value = match kind {
        LegKind::Acquisition => gross.checked_sub(fee),
        _ => Some(gross),
    };
    let other = fee.checked_sub(own).filter(|o| !o.is_zero());
    (value, Some(own), other)
}

impl Valued {
    /// Classifies and values every leg of `ledgers` (whole history) as the export does, and
    /// stages the crypto-asset legs the engine needs. `sources` are the price sources, in
    /// order (the Kraken cache, then imports); margin entries not in `currency` are valued
    /// from them at their time.
    pub fn stage(
        ledgers: &[AccountLedger<'_>],
        currency: &str,
        rules: &Rules,
        facts: &UserFacts,
        sources: &mut [&mut dyn PriceSource],
    ) -> std::io::Result<Valued> {
        let mut out = Valued::default();
        let mut source_ids: HashMap<String, u16> = HashMap::new();
        for (li, al) in ledgers.iter().enumerate() {
            let ledger_no = u16::try_from(li)
                .map_err(|_| std::io::Error::other("too many accounts (at most 65535)"))?;
            let start = out.staged.len();
            let mut pos: u32 = 0;
            al.ledger.write_year(
                0..al.ledger.table.len(),
                al.account,
                currency,
                FeeTreatment::Gross,
                rules,
                sources,
                |row| {
                    let here = pos;
                    pos += 1;
                    let time_us = row.time.timestamp_micros();
                    let mut mismatch = None;
                    let kind = kind_of(row, facts, rules, time_us, &mut mismatch);
                    if let Some(units) = mismatch {
                        out.basis_mismatch += 1;
                        if out.first_basis_mismatch.is_none() {
                            out.first_basis_mismatch =
                                Some((row.ledger_id.to_owned(), row.units, units));
                        }
                    }
                    let Some(kind) = kind else {
                        if row.element == Element::Unclassified {
                            out.unclassified += 1;
                            if out.first_unclassified.is_none() {
                                out.first_unclassified = Some((
                                    al.account.to_owned(),
                                    row.ledger_id.to_owned(),
                                    row.note.to_owned(),
                                ));
                            }
                        }
                        return Ok(());
                    };
                    let (value, fee_value, other_fee) = if kind == LegKind::Margin {
                        (None, None, None)
                    } else {
                        values(row, kind)
                    };
                    let source = intern(&mut out.sources, &mut source_ids, row.price_source)?;
                    out.staged.push(Staged {
                        ledger: ledger_no,
                        pos: here,
                        kind,
                        value,
                        fee_value,
                        other_fee,
                        source,
                    });
                    Ok(())
                },
            )?;
            // Margin entries are not valued by the export (not reportable): value them here.
            for s in &mut out.staged[start..] {
                if s.kind != LegKind::Margin {
                    continue;
                }
                let t = &al.ledger.table;
                let i = s.pos as usize;
                let asset = t.asset(i).code.as_str();
                let amount = t.fields(i).amount;
                let (value, label) = if asset == currency {
                    (Some(amount), format!("trade:{currency}"))
                } else {
                    match market(sources, asset, currency, t.time_us(i)) {
                        Some((p, label)) => {
                            (amount.checked_mul(p).map(|v| v.round_dp(VALUE_DP)), label)
                        }
                        None => (None, "unpriced".to_owned()),
                    }
                };
                s.value = value;
                s.source = intern(&mut out.sources, &mut source_ids, &label)?;
            }
        }
        Ok(out)
    }

    /// Number of staged legs.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// True when no leg is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// The engine's input: every staged leg, oldest first (legs of one account keep their
    /// ledger order; accounts are merged by time). `ledgers` must be those given to
    /// [`Valued::stage`], in the same order.
    pub fn legs<'a>(&'a self, ledgers: &[AccountLedger<'a>]) -> Vec<GainsLeg<'a>> {
        let mut legs: Vec<GainsLeg<'a>> = Vec::with_capacity(self.staged.len());
        for s in &self.staged {
            let al = ledgers[s.ledger as usize];
            let t = &al.ledger.table;
            let i = s.pos as usize;
            let f = t.fields(i);
            let units = if s.kind == LegKind::Margin {
                f.amount
            } else {
                f.amount.abs()
            };
            legs.push(GainsLeg {
                time: DateTime::<Utc>::from_timestamp_micros(f.time_us).unwrap_or_default(),
                account: al.account,
                ledger_id: f.id,
                refid: f.refid,
                kraken_type: f.kind,
                kraken_subtype: f.subtype.unwrap_or_default(),
                asset: t.asset(i).code.as_str(),
                kind: s.kind,
                units,
                value: s.value,
                price_source: self.sources[s.source as usize].as_str(),
                fee_units: f.fee,
                fee_value: s.fee_value,
                other_fee: s.other_fee,
            });
        }
        if ledgers.len() > 1 {
            // Stable: one account's legs keep their order.
            legs.sort_by_key(|l| l.time);
        }
        legs
    }
}

fn intern(
    sources: &mut Vec<String>,
    ids: &mut HashMap<String, u16>,
    s: &str,
) -> std::io::Result<u16> {
    if let Some(&id) = ids.get(s) {
        return Ok(id);
    }
    let id = u16::try_from(sources.len())
        .map_err(|_| std::io::Error::other("too many distinct price sources"))?;
    sources.push(s.to_owned());
    ids.insert(s.to_owned(), id);
    Ok(id)
}

/// The price of one `asset` in `currency` at `at_us` from the first source that has it
/// (direct pair, or via USD, EUR or BTC), with its label.
pub fn market(
    sources: &mut [&mut dyn PriceSource],
    asset: &str,
    currency: &str,
    at_us: i64,
) -> Option<(Decimal, String)> {
    if asset == currency {
        return Some((Decimal::ONE, format!("trade:{currency}")));
    }
    for src in sources.iter_mut() {
        if let Some(q) = src.price(asset, currency, at_us) {
            return Some((q.price, q.label));
        }
        for via in ["USD", "EUR", "BTC"] {
            if via == asset || via == currency {
                continue;
            }
            let Some(a) = src.price(asset, via, at_us) else {
                continue;
            };
            if let Some(b) = src.price(via, currency, at_us)
                && let Some(p) = a.price.checked_mul(b.price)
            {
                return Some((p.round_dp(VALUE_DP), format!("{}+{}", a.label, b.label)));
            }
        }
    }
    None
}
