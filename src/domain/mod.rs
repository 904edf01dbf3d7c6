//! Pure domain types: no I/O, no external systems.

mod amount;
mod carf;
mod ids;
mod ledger;
mod market;
mod stream;
mod sync_state;
mod tier;
mod time;
mod trade;

pub use amount::{AmountError, MAX_DIGITS, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, parse_amount};
pub use carf::{Classification, Element, TYPE_CODES, type_label};
pub use ids::{AssetCode, IdError, LedgerId, RefId, TradeId};
pub use ledger::{KNOWN_LEDGER_TYPES, LedgerEntry, LedgerFields, is_known_ledger_type};
pub use market::{AssetInfo, PairInfo};
pub use stream::Stream;
pub use sync_state::{OpenWindow, StreamState, SyncPoint};
pub use tier::{RateTier, TierError, call_cost};
pub use time::{KrakenTime, TimeError};
pub use trade::{PositionClose, Trade, TradeSide};

/// A parsed record together with the exact text it was parsed from (a JSON object or CSV row),
/// which the store keeps verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord<T> {
    /// The parsed record.
    pub item: T,
    /// The original text.
    pub raw: String,
}
