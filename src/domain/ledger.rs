//! Ledger entries: one movement of one asset, exactly as Kraken records it.

use super::{AssetCode, KrakenTime, LedgerId, RefId};
use rust_decimal::Decimal;

/// Ledger types Kraken is known to emit. Others are stored and reported, never rejected.
pub const KNOWN_LEDGER_TYPES: &[&str] = &[
    "trade",
    "deposit",
    "withdrawal",
    "transfer",
    "margin",
    "rollover",
    "spend",
    "receive",
    "settled",
    "adjustment",
    "staking",
    "reward",
    "earn",
    "credit",
    "dividend",
    "sale",
    "conversion",
    "invite bonus",
    "nfttrade",
    "nftcreatorfee",
    "nftrebate",
    "custodytransfer",
    "none",
];

/// True when `kind` is one of [`KNOWN_LEDGER_TYPES`].
pub fn is_known_ledger_type(kind: &str) -> bool {
    KNOWN_LEDGER_TYPES.contains(&kind)
}

/// One ledger entry. Every field Kraken sends is kept; optional ones are `None` when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The ledger id (the key of Kraken's map).
    pub id: LedgerId,
    /// Reference id shared by the legs of one event.
    pub refid: RefId,
    /// When the entry was booked.
    pub time: KrakenTime,
    /// Kraken's `type` (`trade`, `deposit`, ...), kept even when unknown.
    pub kind: String,
    /// Kraken's `subtype`; `None` when the field is absent (old data), `Some("")` when empty.
    pub subtype: Option<String>,
    /// Asset class, normally `currency`.
    pub aclass: String,
    /// Asset subclass (newer CSV exports only).
    pub subclass: Option<String>,
    /// Raw asset code.
    pub asset: AssetCode,
    /// Wallet (`spot / main`, `earn / flexible`, ...) where the source names one.
    pub wallet: Option<String>,
    /// Signed amount of the movement.
    pub amount: Decimal,
    /// Fee charged on this entry, in the same asset.
    pub fee: Decimal,
    /// Balance of the asset after the entry; `None` where Kraken left it blank.
    pub balance: Option<Decimal>,
}

/// The fields of a ledger entry that grouping, classification and the reports read, borrowed
/// (from a database row, or from a [`LedgerEntry`]): reading a large account this way costs
/// no allocation per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerFields<'a> {
    /// The ledger id.
    pub id: &'a str,
    /// The refid.
    pub refid: &'a str,
    /// When the entry was booked, microseconds since the epoch.
    pub time_us: i64,
    /// Kraken's `type`.
    pub kind: &'a str,
    /// Kraken's `subtype` (`None` when absent).
    pub subtype: Option<&'a str>,
    /// Raw asset code.
    pub asset: &'a str,
    /// Signed amount.
    pub amount: Decimal,
    /// Fee, in the same asset.
    pub fee: Decimal,
}

impl<'a> From<&'a LedgerEntry> for LedgerFields<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        LedgerFields {
            id: e.id.as_str(),
            refid: e.refid.as_str(),
            time_us: e.time.micros(),
            kind: &e.kind,
            subtype: e.subtype.as_deref(),
            asset: e.asset.as_str(),
            amount: e.amount,
            fee: e.fee,
        }
    }
}
