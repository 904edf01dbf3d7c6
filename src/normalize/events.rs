//! What an event is: the legs of one trade (summing several fills of one asset), spend/receive
//! pairs, conversions, and dust sweeps or delisting conversions whose two sides carry different
//! refids. The grouping itself is `Events::group` in the sibling module `legs`; this module holds the rules it
//! follows and the owned view of an event ([`Exchange`], [`LegContext`]), and imports nothing
//! from `legs` (the dependency runs one way: `legs` → `events`).

use super::assets::NormalizedAsset;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Ledger types whose legs exchange one asset for another under one refid.
pub(crate) const EXCHANGE_TYPES: &[&str] = &["trade", "spend", "receive", "conversion", "sale"];

/// Subtypes of conversions Kraken books under different refids, paired by time.
pub(crate) const CROSS_REFID_SUBTYPES: &[&str] = &["dustsweeping", "delistingconversion"];

/// Longest gap between the two sides of a cross-refid conversion (Kraken: minutes to days).
pub(crate) const CROSS_REFID_WINDOW_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// One asset's side of an exchange event, all fills summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The reported asset.
    pub asset: String,
    /// Fiat or crypto.
    pub is_fiat: bool,
    /// Net signed amount over the legs of this asset.
    pub amount: Decimal,
    /// Total fee over those legs.
    pub fee: Decimal,
}

/// An exchange of assets: the sides given (negative) and received (positive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exchange {
    /// Per reported asset (excluding fee credits), net amounts.
    pub sides: Vec<Side>,
}

impl Exchange {
    /// The side of the other sign than `amount` with the largest absolute amount: what this
    /// leg was exchanged against. The test oracle of `legs::Events::counter`.
    #[cfg(test)]
    pub(crate) fn counter_of(&self, asset: &str, amount: Decimal) -> Option<&Side> {
        self.sides
            .iter()
            .filter(|s| {
                s.asset != asset
                    && s.amount.is_sign_negative() != amount.is_sign_negative()
                    && !s.amount.is_zero()
            })
            .max_by_key(|s| s.amount.abs())
    }
}

/// The event a leg belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegContext {
    /// Stable id of the event (the refid, or `pair:<refid>+<refid>` for cross-refid pairs).
    pub event_id: String,
    /// The normalized asset of this leg.
    pub asset: NormalizedAsset,
    /// For exchange events: all sides.
    pub exchange: Option<Exchange>,
}

const US: char = '\u{1f}';
const RS: char = '\u{1e}';

/// A side of an exchange that cannot be read back from its stored text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored exchange sides {0:?} cannot be read")]
pub struct SidesError(pub String);

impl Exchange {
    /// The sides as text for the derived table: per side asset, `F` (fiat) or `C`, amount and
    /// fee, separated by the ASCII unit separator, sides by the record separator (neither can
    /// occur in an asset code). Decimals keep their scale, so [`Exchange::decode`] gives back
    /// exactly these sides.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.sides.iter().enumerate() {
            if i > 0 {
                out.push(RS);
            }
            out.push_str(&s.asset);
            out.push(US);
            out.push(if s.is_fiat { 'F' } else { 'C' });
            out.push(US);
            out.push_str(&s.amount.to_string());
            out.push(US);
            out.push_str(&s.fee.to_string());
        }
        out
    }

    /// The sides of [`Exchange::encode`]'s text.
    pub fn decode(text: &str) -> Result<Exchange, SidesError> {
        let bad = || SidesError(text.to_owned());
        let mut sides = Vec::new();
        if text.is_empty() {
            return Ok(Exchange { sides });
        }
        for part in text.split(RS) {
            let mut f = part.split(US);
            let (Some(asset), Some(kind), Some(amount), Some(fee), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            sides.push(Side {
                asset: asset.to_owned(),
                is_fiat: match kind {
                    "F" => true,
                    "C" => false,
                    _ => return Err(bad()),
                },
                amount: Decimal::from_str(amount).map_err(|_| bad())?,
                fee: Decimal::from_str(fee).map_err(|_| bad())?,
            });
        }
        Ok(Exchange { sides })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_survive_their_text_exactly_and_damage_is_refused() {
        let x = Exchange {
            sides: vec![
                Side {
                    asset: "BTC".into(),
                    is_fiat: false,
                    amount: Decimal::new(15000, 4),
                    fee: Decimal::new(10, 4),
                },
                Side {
                    asset: "EUR".into(),
                    is_fiat: true,
                    amount: Decimal::new(-10000, 2),
                    fee: Decimal::ZERO,
                },
            ],
        };
        let text = x.encode();
        assert_eq!(
            text,
            "BTC\u{1f}C\u{1f}1.5000\u{1f}0.0010\u{1e}EUR\u{1f}F\u{1f}-100.00\u{1f}0"
        );
        assert_eq!(Exchange::decode(&text), Ok(x));
        assert_eq!(Exchange::decode(""), Ok(Exchange::default()));
        for bad in [
            "BTC",
            "BTC\u{1f}X\u{1f}1\u{1f}0",
            "BTC\u{1f}C\u{1f}one\u{1f}0",
        ] {
            assert_eq!(Exchange::decode(bad), Err(SidesError(bad.to_owned())));
        }
    }
}
