//! Pure domain types: no I/O, no external systems.

mod amount;
mod carf;
mod currency;
mod ids;
mod ledger;
mod market;
mod stream;
mod sync_state;
mod tier;
mod time;
mod trade;

pub use amount::{AmountError, MAX_DIGITS, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, parse_amount};
pub use carf::{
    Classification, Element, ISO_COUNTRIES, ISO_CURRENCIES, TYPE_CODES, forbidden_xml_char,
    is_iso_country, is_iso_currency, type_label,
};
pub use currency::{ReportCurrency, UnsupportedCurrency};
pub use ids::{AssetCode, IdError, LedgerId, RefId, TradeId};
pub use ledger::{KNOWN_LEDGER_TYPES, LedgerEntry, LedgerFields, is_known_ledger_type};
pub use market::{AssetInfo, PairInfo};
pub use stream::Stream;
pub use sync_state::{OpenWindow, StreamState, SyncPoint};
pub use tier::{RateTier, TierError, call_cost};
pub use time::{KrakenTime, TimeError};
pub use trade::{PositionClose, Trade, TradeSide};

/// Lowercase hexadecimal of `bytes`: key fingerprints, rule hashes, lock file names.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A parsed record together with the exact text it was parsed from (a JSON object or CSV row),
/// which the store keeps verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord<T> {
    /// The parsed record.
    pub item: T,
    /// The original text.
    pub raw: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_per_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(b"a b"), "612062");
        assert_eq!(super::hex(&[]), "");
    }
}
