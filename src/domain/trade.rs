//! Trades: the order-side view of an exchange (pair, side, price); the ledger holds the amounts.

use super::{KrakenTime, LedgerId, TradeId};
use rust_decimal::Decimal;

/// Buy or sell, as Kraken reports it (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeSide {
    /// Bought the pair's base asset.
    Buy,
    /// Sold the pair's base asset.
    Sell,
}

impl TradeSide {
    /// Kraken's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeSide::Buy => "buy",
            TradeSide::Sell => "sell",
        }
    }

    /// Parses Kraken's `buy` / `sell`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "buy" => Some(TradeSide::Buy),
            "sell" => Some(TradeSide::Sell),
            _ => None,
        }
    }
}

/// Closing details of a margin position (older `TradesHistory` answers and CSV exports).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PositionClose {
    /// `posstatus`.
    pub posstatus: Option<String>,
    /// `cprice`.
    pub cprice: Option<Decimal>,
    /// `ccost`.
    pub ccost: Option<Decimal>,
    /// `cfee`.
    pub cfee: Option<Decimal>,
    /// `cvol`.
    pub cvol: Option<Decimal>,
    /// `cmargin`.
    pub cmargin: Option<Decimal>,
    /// `net`.
    pub net: Option<Decimal>,
    /// `trades`: ids of the trades that closed the position.
    pub trades: Vec<TradeId>,
}

/// One trade (fill) from `TradesHistory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The trade id (the key of Kraken's map).
    pub id: TradeId,
    /// Order this fill belongs to.
    pub ordertxid: String,
    /// Position id, for margin trades.
    pub postxid: Option<String>,
    /// Pair name as Kraken spells it (`XXBTZEUR`); never split by length.
    pub pair: String,
    /// When it was filled.
    pub time: KrakenTime,
    /// Buy or sell.
    pub side: TradeSide,
    /// `market`, `limit`, ...
    pub ordertype: String,
    /// Average price, in the quote asset.
    pub price: Decimal,
    /// Total cost, in the quote asset.
    pub cost: Decimal,
    /// Fee as Kraken lists it for the trade (the ledger is the source of truth).
    pub fee: Decimal,
    /// Volume, in the base asset.
    pub vol: Decimal,
    /// Initial margin, for margin trades.
    pub margin: Option<Decimal>,
    /// Leverage, as text (`0`, `5:1`).
    pub leverage: Option<String>,
    /// Comma-separated flags.
    pub misc: String,
    /// Ledger entries of this trade, where Kraken lists them.
    pub ledgers: Vec<LedgerId>,
    /// Kraken's numeric trade id within the pair.
    pub trade_id: Option<i64>,
    /// Whether the fill was maker.
    pub maker: Option<bool>,
    /// Margin-position closing fields (older data).
    pub position: PositionClose,
}
