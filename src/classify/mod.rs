//! Ledger legs → CARF elements and codes, following carf.md's mapping table. Pure: the same
//! legs and rules always give the same classification.

use crate::domain::{Classification, Element, LedgerFields};
use crate::normalize::assets::NormalizedAsset;
use crate::normalize::legs::{Counter, Events, LegTable};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Bumped whenever the classifier's output can change, so derived tables are rebuilt.
pub const CLASSIFIER_VERSION: i64 = 2;

pub mod build;

/// Subtypes of moves between the user's own wallets.
const INTERNAL_SUBTYPES: &[&str] = &[
    "spottostaking",
    "stakingfromspot",
    "stakingtospot",
    "spotfromstaking",
    "spottofutures",
    "spotfromfutures",
    "allocation",
    "deallocation",
    "autoallocate",
    "autoallocation",
    "migration",
];

/// Types never classified automatically.
const UNCLASSIFIED_TYPES: &[&str] = &["dividend", "custodytransfer"];

/// Margin position types: not transfers of crypto-assets (carf.md), `NotReportable` with
/// reason `margin`.
pub const MARGIN_TYPES: &[&str] = &["margin", "rollover", "settled"];

/// A user rule from the config file (`[[classify.rules]]`): the first matching rule wins over
/// the built-in mapping.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Kraken ledger type to match.
    #[serde(rename = "type")]
    pub kind: String,
    /// Subtype to match (absent: any).
    pub subtype: Option<String>,
    /// Raw or reported asset to match (absent: any).
    pub asset: Option<String>,
    /// The element to assign (its name, checked when the config is read).
    pub element: Element,
    /// The type code to assign (for transfer elements).
    pub code: Option<String>,
}

/// What the user says about a deposit's source or a withdrawal's destination.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Counterparty {
    /// Another exchange or custodial provider.
    Exchange,
    /// A wallet of the user's own, not at a provider.
    PrivateWallet,
}

/// Classification settings (`[classify]` in the config file).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Extra rules, tried in order before the built-in mapping.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Labels for deposits and withdrawals, by ledger id or refid.
    #[serde(default)]
    pub labels: BTreeMap<String, Counterparty>,
}

/// Why a rule in the config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("classification rule {index} (type {kind:?}): {reason}")]
pub struct RuleError {
    /// 1-based position in the config.
    pub index: usize,
    /// The rule's type.
    pub kind: String,
    /// What is wrong.
    pub reason: String,
}

impl Rules {
    /// Checks every rule's element and code.
    pub fn validate(&self) -> Result<(), RuleError> {
        for (i, r) in self.rules.iter().enumerate() {
            let err = |reason: String| RuleError {
                index: i + 1,
                kind: r.kind.clone(),
                reason,
            };
            let element = r.element;
            if element == Element::TransferWallet {
                return Err(err(
                    "TransferWallet is not assigned by rules: label the withdrawal \"private_wallet\" under [classify.labels] (it is then reported as CryptoTransferOut and TransferWallet)".to_owned(),
                ));
            }
            if let Some(code) = r
                .code
                .as_ref()
                .filter(|c| crate::domain::type_label(c).is_none())
            {
                return Err(err(format!("unknown type code {code:?}")));
            }
            if let Some(code) = r.code.as_deref() {
                let fits = match element {
                    Element::CryptoTransferIn => code.starts_with("CARF5"),
                    Element::CryptoTransferOut => code.starts_with("CARF6"),
                    e if e.is_exchange() => code.starts_with("CARF4"),
                    _ => false,
                };
                if !fits {
                    return Err(err(format!(
                        "code {code:?} does not fit element {} (CryptoTransferIn takes CARF5xx, CryptoTransferOut CARF6xx, the four exchange elements CARF4xx, the others none)",
                        r.element
                    )));
                }
            }
            if element.is_reportable()
                && let Some(asset) = r.asset.as_deref()
            {
                let a = crate::normalize::assets::AssetTable::default().normalize(asset);
                if a.is_fiat || a.is_fee_credit {
                    return Err(err(format!(
                        "asset {asset:?} is {} and can never be reported as a crypto-asset ({}): use element NotReportable for it",
                        if a.is_fiat {
                            "a fiat currency"
                        } else {
                            "Kraken fee credits"
                        },
                        r.element
                    )));
                }
            }
            if r.code.is_none()
                && matches!(
                    element,
                    Element::CryptoTransferIn | Element::CryptoTransferOut
                )
            {
                return Err(err(format!(
                    "{} needs a code (CARF5xx / CARF6xx)",
                    r.element
                )));
            }
        }
        Ok(())
    }

    fn matching(&self, f: &LegFacts<'_>) -> Option<Classification> {
        let e = &f.entry;
        // Fiat is never a reported asset: a rule for a reportable element does not apply to
        // fiat legs (one naming a fiat asset is refused by `validate`).
        let (i, r) = self.rules.iter().enumerate().find(|(_, r)| {
            let fiat = f.asset.is_fiat || f.asset.is_fee_credit;
            !(fiat && r.element.is_reportable())
                && r.kind == e.kind
                && r.subtype
                    .as_deref()
                    .is_none_or(|s| s == e.subtype.unwrap_or(""))
                && r.asset
                    .as_deref()
                    .is_none_or(|a| a == e.asset || a == f.asset.code)
        })?;
        let element = r.element;
        let code = r
            .code
            .as_deref()
            .and_then(|c| crate::domain::TYPE_CODES.iter().find(|(k, _)| *k == c))
            .map(|(k, _)| *k);
        Some(Classification {
            element,
            type_code: code,
            note: format!("config rule {}", i + 1),
        })
    }

    fn label(&self, e: &LedgerFields<'_>) -> Option<Counterparty> {
        if self.labels.is_empty() {
            return None;
        }
        self.labels
            .get(e.id)
            .or_else(|| self.labels.get(e.refid))
            .copied()
    }
}

/// Classifies one owned leg in its owned context: the test oracle of [`classify_facts`].
#[cfg(test)]
pub(crate) fn classify(
    e: &crate::domain::LedgerEntry,
    ctx: &crate::normalize::events::LegContext,
    rules: &Rules,
) -> Classification {
    classify_facts(&LegFacts::of(e, ctx), rules)
}

/// What classification reads of a leg and its event, borrowed from a compact ledger
/// (`normalize::legs`, [`LegFacts::of_compact`]).
#[derive(Debug, Clone, Copy)]
pub struct LegFacts<'a> {
    /// The entry's fields.
    pub entry: LedgerFields<'a>,
    /// Its normalized asset.
    pub asset: &'a NormalizedAsset,
    /// The leg belongs to an exchange event.
    pub in_exchange: bool,
    /// In an exchange event: the side it was exchanged against (asset, fiat), if any (see
    /// `normalize::legs::Events::counter`).
    pub counter: Option<(&'a str, bool)>,
}

#[cfg(test)]
impl<'a> LegFacts<'a> {
    /// The facts of an owned entry and its context (tests).
    pub(crate) fn of(
        e: &'a crate::domain::LedgerEntry,
        ctx: &'a crate::normalize::events::LegContext,
    ) -> Self {
        LegFacts {
            entry: LedgerFields::from(e),
            asset: &ctx.asset,
            in_exchange: ctx.exchange.is_some(),
            counter: ctx
                .exchange
                .as_ref()
                .and_then(|x| x.counter_of(&ctx.asset.code, e.amount))
                .map(|s| (s.asset.as_str(), s.is_fiat)),
        }
    }
}

impl<'a> LegFacts<'a> {
    /// The facts of entry `i` of a compact ledger, given what it was exchanged against
    /// (`events.counter(table, i)`, which the caller usually needs too).
    pub fn of_compact(
        table: &'a LegTable,
        events: &'a Events,
        i: usize,
        counter: Option<Counter<'a>>,
    ) -> Self {
        LegFacts {
            entry: table.fields(i),
            asset: table.asset(i),
            in_exchange: events.in_exchange(i),
            counter: counter.map(|c| (c.asset, c.is_fiat)),
        }
    }
}

/// Classifies one leg. The result is exactly one element; `TransferWallet` legs are
/// `CryptoTransferOut` legs that the report lists again (see [`also_transfer_wallet_fields`]).
/// Called only when the derived table is refreshed (`build`); reports read the stored result.
pub fn classify_facts(f: &LegFacts<'_>, rules: &Rules) -> Classification {
    use Element::*;
    if let Some(c) = rules.matching(f) {
        return c;
    }
    let e = &f.entry;
    let a = f.asset;
    let subtype = e.subtype.unwrap_or("");
    let kind = e.kind;
    if a.is_fee_credit {
        return Classification::new(NotReportable, "KFEE fee credit, not a crypto-asset");
    }
    if INTERNAL_SUBTYPES.contains(&subtype) && matches!(kind, "transfer" | "earn" | "staking") {
        return Classification::new(Internal, format!("move between own wallets ({subtype})"));
    }
    if MARGIN_TYPES.contains(&kind) {
        return Classification::new(NotReportable, "margin");
    }
    if !f.in_exchange && !crate::domain::is_known_ledger_type(kind) {
        // Before the fiat check, so that what `sync` says of unknown types (kept, reported as
        // unclassified) holds for fiat entries too: a config rule says what they are.
        return Classification::new(Unclassified, format!("unknown ledger type {kind:?}"));
    }
    if a.is_fiat {
        let reason = match kind {
            "deposit" => "fiat deposit",
            "withdrawal" => "fiat withdrawal",
            _ if f.in_exchange => "fiat leg of an exchange",
            _ => "fiat movement",
        };
        return Classification::new(NotReportable, reason);
    }
    if e.amount.is_zero() {
        return Classification::new(NotReportable, "zero amount");
    }
    let credit = e.amount.is_sign_positive();
    if f.in_exchange {
        return match f.counter {
            Some((counter, true)) => Classification::new(
                if credit { CryptoFiatIn } else { CryptoFiatOut },
                format!("{kind} against {counter}"),
            ),
            Some((counter, false)) => Classification::new(
                if credit {
                    CryptoToCryptoIn
                } else {
                    CryptoToCryptoOut
                },
                format!("{kind} against {counter}"),
            ),
            None => Classification::new(
                Unclassified,
                format!("{kind} leg without a counterpart in its event"),
            ),
        };
    }
    if UNCLASSIFIED_TYPES.contains(&kind) || kind.starts_with("nft") {
        return Classification::new(
            Unclassified,
            format!("type {kind} is not classified automatically"),
        );
    }
    match (kind, subtype, credit) {
        ("staking", _, true) | ("reward", _, true) | ("earn", "reward", true) => {
            Classification::with_code(CryptoTransferIn, "CARF502", "staking or earn reward")
        }
        ("transfer" | "earn", "airdrop", true) => {
            Classification::with_code(CryptoTransferIn, "CARF501", "airdrop")
        }
        ("transfer", "", true) => {
            Classification::with_code(CryptoTransferIn, "CARF501", "fork or airdrop credit")
        }
        ("deposit", _, true) => match rules.label(e) {
            Some(Counterparty::Exchange) => Classification::with_code(
                CryptoTransferIn,
                "CARF505",
                "deposit from another provider (labelled)",
            ),
            _ => Classification::with_code(CryptoTransferIn, "CARF509", "deposit, origin unknown"),
        },
        ("withdrawal", _, false) => match rules.label(e) {
            Some(Counterparty::Exchange) => Classification::with_code(
                CryptoTransferOut,
                "CARF601",
                "withdrawal to another provider (labelled)",
            ),
            Some(Counterparty::PrivateWallet) => Classification::with_code(
                CryptoTransferOut,
                "CARF606",
                "withdrawal to a private wallet (labelled)",
            ),
            None => Classification::with_code(
                CryptoTransferOut,
                "CARF606",
                "withdrawal, destination unknown",
            ),
        },
        ("credit", _, true) | ("invite bonus", _, true) | ("adjustment", _, true) => {
            Classification::with_code(CryptoTransferIn, "CARF508", format!("{kind} credit"))
        }
        _ if !crate::domain::is_known_ledger_type(kind) => {
            Classification::new(Unclassified, format!("unknown ledger type {kind:?}"))
        }
        _ => Classification::new(
            Unclassified,
            format!(
                "{kind}{} {} has no rule",
                if subtype.is_empty() {
                    String::new()
                } else {
                    format!("/{subtype}")
                },
                if credit { "credit" } else { "debit" }
            ),
        ),
    }
}

/// [`also_transfer_wallet_fields`] of an owned entry (tests).
#[cfg(test)]
pub(crate) fn also_transfer_wallet(
    e: &crate::domain::LedgerEntry,
    c: &Classification,
    rules: &Rules,
) -> bool {
    also_transfer_wallet_fields(&LedgerFields::from(e), c, rules)
}

/// True when a `CryptoTransferOut` leg is also reported as `TransferWallet`: the user labelled
/// its destination a private wallet.
pub fn also_transfer_wallet_fields(
    e: &LedgerFields<'_>,
    c: &Classification,
    rules: &Rules,
) -> bool {
    c.element == Element::CryptoTransferOut
        && e.kind == "withdrawal"
        && rules.label(e) == Some(Counterparty::PrivateWallet)
}

#[cfg(test)]
mod tests;
