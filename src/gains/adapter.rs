//! From the stored, classified and valued legs to the engine's [`GainsLeg`]s.
//!
//! This is the only place that knows both the export's reading of the stored derived legs
//! ([`YearLegs`], valued through [`YearLegs::write_year`] over the whole history) and the
//! engine. Nothing is classified here: every leg takes the element, type code and value the
//! export gives it (with `--fees gross`, so a disposal's value is before fees and an
//! acquisition's fees can be told from its value).
//!
//! Memory: the strings of a [`GainsLeg`] borrow from the ledgers' compact tables; per leg the
//! adapter keeps only a small [`Staged`] record (position, kind, values) until
//! [`Valued::legs`] builds the slice.

use super::{Basis, DisposalKind, GainsLeg, IncomeKind, LegKind};
use crate::classify::MARGIN_TYPES;
use crate::classify::{Counterparty, Rules};
use crate::domain::Element;
use crate::export::{FeeTreatment, RowRef, YearLegs};
use crate::normalize::legs::LegTable;
use crate::pricing::{LegValuer, PriceSource};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// Decimals kept for values computed here (as the valuation does).
const VALUE_DP: u32 = 12;

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

/// The engine's legs of every selected account, before their price sources are attached
/// (those are collected while valuing, so the legs carry an index until [`Valued::finish`]).
#[derive(Debug, Default)]
pub struct Valued<'l> {
    legs: Vec<GainsLeg<'l>>,
    source_of: Vec<u16>,
    sources: Vec<String>,
    source_ids: HashMap<String, u16>,
    /// What was left out or not used.
    pub stats: StageStats,
}

/// What staging left out or did not use, for the warnings.
#[derive(Debug, Default, Clone)]
pub struct StageStats {
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

impl<'l> Valued<'l> {
    /// Values every stored derived leg of `account` (`history`: the whole history) as the
    /// export does, and keeps the crypto-asset legs the engine needs, in ledger order. `table`
    /// is the account's raw ledger in the same order (oldest first, ties by id): the legs
    /// borrow their strings from it. `sources` are the price sources, in order (the Kraken
    /// cache, then imports); margin entries not in `currency` are valued from them at their
    /// time.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        history: &YearLegs<'_>,
        table: &'l LegTable,
        account: &'l str,
        currency: &str,
        rules: &Rules,
        facts: &UserFacts,
        sources: &mut [&mut dyn PriceSource],
    ) -> std::io::Result<()> {
        let out = self;
        let t = table;
        let start = out.legs.len();
        {
            let mut pos: usize = 0;
            let source_ids = &mut out.source_ids;
            history
                .write_year(currency, FeeTreatment::Gross, sources, |row| {
                    let i = pos;
                    pos += 1;
                    // The table and the derived legs are read in the same order.
                    if i >= t.len() || t.fields(i).id != row.ledger_id {
                        return Err(std::io::Error::other(format!(
                            "ledger entry {} is not where the raw ledger has it (entries were stored meanwhile: run gains again)",
                            row.ledger_id
                        )));
                    }
                    let time_us = row.time.timestamp_micros();
                    let mut mismatch = None;
                    let kind = kind_of(row, facts, rules, time_us, &mut mismatch);
                    let st = &mut out.stats;
                    if let Some(units) = mismatch {
                        st.basis_mismatch += 1;
                        if st.first_basis_mismatch.is_none() {
                            st.first_basis_mismatch =
                                Some((row.ledger_id.to_owned(), row.units, units));
                        }
                    }
                    let Some(kind) = kind else {
                        if row.element == Element::Unclassified {
                            st.unclassified += 1;
                            if st.first_unclassified.is_none() {
                                st.first_unclassified = Some((
                                    account.to_owned(),
                                    row.ledger_id.to_owned(),
                                    row.note.to_owned(),
                                ));
                            }
                        }
                        return Ok(());
                    };
                    // A move between own wallets without a fee does nothing to lots or
                    // units: the engine skips it, so it is not kept.
                    if kind == LegKind::Internal && row.fee_units.is_zero() {
                        return Ok(());
                    }
                    let (value, fee_value, other_fee) = if kind == LegKind::Margin {
                        (None, None, None)
                    } else {
                        values(row, kind)
                    };
                    let source = intern(&mut out.sources, source_ids, row.price_source)?;
                    out.source_of.push(source);
                    out.legs
                        .push(leg(t, i, account, kind, value, fee_value, other_fee));
                    Ok(())
                })
                .map_err(std::io::Error::other)?;
        }
        {
            let source_ids = &mut out.source_ids;
            // Margin entries are not valued by the export (not reportable): value them here.
            for (l, s) in out.legs[start..]
                .iter_mut()
                .zip(&mut out.source_of[start..])
            {
                if l.kind != LegKind::Margin {
                    continue;
                }
                let (value, label) = if l.asset == currency {
                    (Some(l.units), format!("trade:{currency}"))
                } else {
                    match market(sources, l.asset, currency, l.time.timestamp_micros()) {
                        Some((p, label)) => {
                            (l.units.checked_mul(p).map(|v| v.round_dp(VALUE_DP)), label)
                        }
                        None => (None, "unpriced".to_owned()),
                    }
                };
                l.value = value;
                *s = intern(&mut out.sources, source_ids, &label)?;
            }
        }
        Ok(())
    }

    /// Number of legs.
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    /// True when there is no leg.
    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    /// The engine's input, oldest first (legs of one account keep their ledger order;
    /// accounts are merged by time), with their price sources held in `store`; and the
    /// staging's statistics.
    pub fn finish<'a>(self, store: &'a mut Vec<String>) -> (Vec<GainsLeg<'a>>, StageStats)
    where
        'l: 'a,
    {
        *store = self.sources;
        let sources: &'a Vec<String> = store;
        let mut legs: Vec<GainsLeg<'a>> = self.legs;
        for (l, &s) in legs.iter_mut().zip(&self.source_of) {
            l.price_source = sources[s as usize].as_str();
        }
        // Stable: one account's legs keep their order.
        if !legs.is_sorted_by_key(|l| l.time) {
            legs.sort_by_key(|l| l.time);
        }
        (legs, self.stats)
    }
}

/// Entry `i` of `t` as an engine leg (its price source attached later).
fn leg<'l>(
    t: &'l LegTable,
    i: usize,
    account: &'l str,
    kind: LegKind,
    value: Option<Decimal>,
    fee_value: Option<Decimal>,
    other_fee: Option<Decimal>,
) -> GainsLeg<'l> {
    let f = t.fields(i);
    GainsLeg {
        time: DateTime::<Utc>::from_timestamp_micros(f.time_us).unwrap_or_default(),
        account,
        ledger_id: f.id,
        refid: f.refid,
        kraken_type: f.kind,
        kraken_subtype: f.subtype.unwrap_or_default(),
        asset: t.asset(i).code.as_str(),
        kind,
        // Margin entries keep their sign (profit > 0, loss or cost < 0).
        units: if kind == LegKind::Margin {
            f.amount
        } else {
            f.amount.abs()
        },
        value,
        price_source: "",
        fee_units: f.fee,
        fee_value,
        other_fee,
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

/// The price of one `asset` in `currency` at `at_us`, found as the valuation finds a market
/// price (first source that has it, direct or via USD, EUR or BTC), with its label.
pub fn market(
    sources: &mut [&mut dyn PriceSource],
    asset: &str,
    currency: &str,
    at_us: i64,
) -> Option<(Decimal, String)> {
    LegValuer::new(currency, sources)
        .market_quote(asset, at_us)
        .map(|q| (q.price, q.label))
}
