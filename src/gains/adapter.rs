//! From the stored, classified and valued legs to the engine's [`GainsLeg`]s.
//!
//! This is the only place that knows both the export's reading of the stored derived legs
//! ([`YearLegs`], valued through [`YearLegs::write_year`] over the whole history) and the
//! engine. Nothing is classified here: every leg takes the element, type code and value the
//! export gives it (with `--fees gross`, so a disposal's value is before fees and an
//! acquisition's fees can be told from its value).
//!
//! Memory: the raw ledger is not read a second time. While the history is read, the adapter
//! copies the strings of the legs it keeps into [`LegTexts`] (ids and refids into one buffer,
//! types, subtypes, assets and price sources once each) and keeps a 16-byte [`Staged`] record
//! of where they are; [`Valued::finish`] points the legs' strings into it.

use super::{Basis, DisposalKind, GainsLeg, IncomeKind, LegKind};
use crate::classify::MARGIN_TYPES;
use crate::classify::{Counterparty, Rules};
use crate::domain::Element;
use crate::export::{FeeTreatment, RowRef, YearLegs};
use crate::pricing::{LegValuer, PriceSource};
use crate::store::Store;
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

/// The engine's legs of every selected account, before their strings are attached (those
/// are collected into [`LegTexts`] while staging, so the legs carry a [`Staged`] record until
/// [`Valued::finish`]).
#[derive(Debug, Default)]
pub struct Valued<'l> {
    legs: Vec<GainsLeg<'l>>,
    staged: Vec<Staged>,
    texts: LegTexts,
    /// What was left out or not used.
    pub stats: StageStats,
}

/// Where the strings of a staged leg are in [`LegTexts`]: its ledger id and refid are
/// `text[at..at + id_len]` and the next `refid_len` bytes; the rest are indices into the
/// small tables.
#[derive(Debug, Clone, Copy)]
struct Staged {
    at: u32,
    id_len: u16,
    refid_len: u16,
    kind: u16,
    subtype: u16,
    asset: u16,
    source: u16,
}

/// Small strings stored once, referred to by index.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u16>,
    names: Vec<String>,
    /// The last string looked up and its index (legs in a row often share them).
    last: Option<u16>,
}

impl Names {
    fn intern(&mut self, s: &str, what: &str) -> std::io::Result<u16> {
        if let Some(i) = self.last
            && self.names[usize::from(i)] == s
        {
            return Ok(i);
        }
        let i = match self.ids.get(s) {
            Some(&i) => i,
            None => {
                let i = u16::try_from(self.names.len())
                    .map_err(|_| std::io::Error::other(format!("too many distinct {what}")))?;
                self.names.push(s.to_owned());
                self.ids.insert(s.to_owned(), i);
                i
            }
        };
        self.last = Some(i);
        Ok(i)
    }

    fn get(&self, i: u16) -> &str {
        &self.names[usize::from(i)]
    }
}

/// The strings the engine's legs borrow: kept by the caller of [`Valued::finish`] for as long
/// as the legs.
#[derive(Debug, Default)]
pub struct LegTexts {
    /// Ledger ids and refids, one after the other.
    text: String,
    kinds: Names,
    subtypes: Names,
    assets: Names,
    sources: Names,
}

impl LegTexts {
    /// Copies the strings of `row` (with price source `source`) and says where they are.
    fn stage(&mut self, row: &RowRef<'_>, source: &str) -> std::io::Result<Staged> {
        let too_long = |what: &str| std::io::Error::other(format!("{what} too long"));
        let at = u32::try_from(self.text.len()).map_err(|_| too_long("history"))?;
        let id_len = u16::try_from(row.ledger_id.len()).map_err(|_| too_long("ledger id"))?;
        let refid_len = u16::try_from(row.refid.len()).map_err(|_| too_long("refid"))?;
        self.text.push_str(row.ledger_id);
        self.text.push_str(row.refid);
        Ok(Staged {
            at,
            id_len,
            refid_len,
            kind: self.kinds.intern(row.kraken_type, "ledger types")?,
            subtype: self.subtypes.intern(row.kraken_subtype, "subtypes")?,
            asset: self.assets.intern(row.crypto_asset, "assets")?,
            source: self.sources.intern(source, "price sources")?,
        })
    }

    fn ledger_id(&self, s: &Staged) -> &str {
        let at = s.at as usize;
        &self.text[at..at + usize::from(s.id_len)]
    }

    fn refid(&self, s: &Staged) -> &str {
        let at = s.at as usize + usize::from(s.id_len);
        &self.text[at..at + usize::from(s.refid_len)]
    }
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
    /// Values every stored derived leg of `account` (`history`: the whole history, read from
    /// `store`) as the export does, and keeps the crypto-asset legs the engine needs, in
    /// ledger order. `sources` are the price sources, in order (the Kraken cache, then
    /// imports); margin entries not in `currency` are valued from them at their time.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        store: &Store,
        history: &YearLegs<'_>,
        account: &'l str,
        currency: &str,
        rules: &Rules,
        facts: &UserFacts,
        sources: &mut [&mut dyn PriceSource],
    ) -> std::io::Result<()> {
        let out = self;
        let start = out.legs.len();
        history
            .write_year(currency, FeeTreatment::Gross, sources, |row| {
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
                out.staged.push(out.texts.stage(row, row.price_source)?);
                out.legs.push(GainsLeg {
                    time: row.time,
                    account,
                    // Attached by `finish`.
                    ledger_id: "",
                    refid: "",
                    kraken_type: "",
                    kraken_subtype: "",
                    asset: "",
                    kind,
                    // Margin entries keep their sign (profit > 0, loss or cost < 0): set
                    // below from the raw entry.
                    units: row.units,
                    value,
                    price_source: "",
                    fee_units: row.fee_units,
                    fee_value,
                    other_fee,
                });
                Ok(())
            })
            .map_err(std::io::Error::other)?;
        let texts = &mut out.texts;
        // Margin entries are not valued by the export (not reportable): value them here.
        for (l, s) in out.legs[start..].iter_mut().zip(&mut out.staged[start..]) {
            if l.kind != LegKind::Margin {
                continue;
            }
            let id = texts.ledger_id(s);
            l.units = store
                .ledger_amount(account, id)
                .map_err(std::io::Error::other)?
                .ok_or_else(|| {
                    std::io::Error::other(format!(
                        "ledger entry {id} is no longer stored (entries were changed meanwhile: run gains again)"
                    ))
                })?;
            let asset = texts.assets.get(s.asset);
            let (value, label) = if asset == currency {
                (Some(l.units), format!("trade:{currency}"))
            } else {
                match market(sources, asset, currency, l.time.timestamp_micros()) {
                    Some((p, label)) => {
                        (l.units.checked_mul(p).map(|v| v.round_dp(VALUE_DP)), label)
                    }
                    None => (None, "unpriced".to_owned()),
                }
            };
            l.value = value;
            s.source = texts.sources.intern(&label, "price sources")?;
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
    /// accounts are merged by time), with their strings held in `store`; and the staging's
    /// statistics.
    pub fn finish<'a>(self, store: &'a mut LegTexts) -> (Vec<GainsLeg<'a>>, StageStats)
    where
        'l: 'a,
    {
        *store = self.texts;
        let texts: &'a LegTexts = store;
        let mut legs: Vec<GainsLeg<'a>> = self.legs;
        for (l, s) in legs.iter_mut().zip(&self.staged) {
            l.ledger_id = texts.ledger_id(s);
            l.refid = texts.refid(s);
            l.kraken_type = texts.kinds.get(s.kind);
            l.kraken_subtype = texts.subtypes.get(s.subtype);
            l.asset = texts.assets.get(s.asset);
            l.price_source = texts.sources.get(s.source);
        }
        drop(self.staged);
        // Stable: one account's legs keep their order.
        if !legs.is_sorted_by_key(|l| l.time) {
            legs.sort_by_key(|l| l.time);
        }
        (legs, self.stats)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::build::ensure_fresh;
    use crate::domain::{AssetCode, KrakenTime, LedgerEntry, LedgerId, RawRecord, RefId};
    use crate::normalize::assets::AssetTable;
    use crate::store::Source;

    fn entry(id: &str, refid: &str, t: i64, kind: &str, asset: &str, amount: &str) -> LedgerEntry {
        LedgerEntry {
            id: LedgerId::new(id).unwrap(),
            refid: RefId::new(refid).unwrap(),
            time: KrakenTime::from_micros(1_750_000_000_000_000 + t * 1_000_000, 4),
            kind: kind.into(),
            subtype: (kind == "trade").then(|| "tradespot".into()),
            aclass: "currency".into(),
            subclass: None,
            asset: AssetCode::new(asset).unwrap(),
            wallet: None,
            amount: amount.parse().unwrap(),
            fee: "0".parse().unwrap(),
            balance: None,
        }
    }

    #[test]
    fn staged_legs_get_their_strings_and_margin_entries_keep_their_sign() {
        let entries = [
            entry("L1", "T1", 0, "trade", "ZEUR", "-200.0000"),
            entry("L2", "T1", 0, "trade", "SOL", "2.0000000000"),
            entry("L3", "M1", 1, "margin", "ZEUR", "-5.2500"),
            entry("L4", "M2", 2, "settled", "ZEUR", "3.1000"),
            entry("L5", "T2", 3, "trade", "SOL", "-0.5000000000"),
            entry("L6", "T2", 3, "trade", "ZEUR", "60.0000"),
        ];
        let mut store = Store::open_in_memory().unwrap();
        let rows: Vec<_> = entries
            .iter()
            .map(|e| RawRecord {
                item: e.clone(),
                raw: "{}".into(),
            })
            .collect();
        store
            .insert_ledger_entries("a", &rows, Source::Api)
            .unwrap();
        let rules = Rules::default();
        ensure_fresh(&mut store, "a", &AssetTable::default(), &rules).unwrap();
        let mut valued = Valued::default();
        valued
            .add(
                &store,
                &YearLegs::new(&store, "a", (i64::MIN, i64::MAX)),
                "a",
                "EUR",
                &rules,
                &UserFacts::default(),
                &mut [],
            )
            .unwrap();
        let mut texts = LegTexts::default();
        let (legs, _) = valued.finish(&mut texts);
        let got: Vec<_> = legs
            .iter()
            .map(|l| {
                (
                    l.ledger_id,
                    l.refid,
                    l.kraken_type,
                    l.kraken_subtype,
                    l.asset,
                    l.units.to_string(),
                    l.value.map(|v| v.to_string()),
                    l.price_source,
                )
            })
            .collect();
        let d = |s: &str| Some(s.to_owned());
        assert_eq!(
            got,
            [
                (
                    "L2",
                    "T1",
                    "trade",
                    "tradespot",
                    "SOL",
                    "2.0000000000".to_owned(),
                    d("200.0000"),
                    "trade:EUR"
                ),
                (
                    "L3",
                    "M1",
                    "margin",
                    "",
                    "EUR",
                    "-5.2500".to_owned(),
                    d("-5.2500"),
                    "trade:EUR"
                ),
                (
                    "L4",
                    "M2",
                    "settled",
                    "",
                    "EUR",
                    "3.1000".to_owned(),
                    d("3.1000"),
                    "trade:EUR"
                ),
                (
                    "L5",
                    "T2",
                    "trade",
                    "tradespot",
                    "SOL",
                    "0.5000000000".to_owned(),
                    d("60.0000"),
                    "trade:EUR"
                ),
            ]
        );
        assert_eq!(legs[1].kind, LegKind::Margin);
        assert_eq!(legs[0].kind, LegKind::Acquisition);
    }
}
