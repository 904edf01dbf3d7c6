//! Kraken's public market lists, as fetched (`kraken::public`) and as cached (`store`).

/// One asset of `Assets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    /// Kraken's code (`XXBT`).
    pub code: String,
    /// `altname` (`XBT`).
    pub altname: String,
    /// `decimals`.
    pub decimals: Option<i64>,
    /// `status` (`enabled`, ...).
    pub status: Option<String>,
}

/// One pair of `AssetPairs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairInfo {
    /// Pair name (`XXBTZEUR`).
    pub pair: String,
    /// `altname` (`XBTEUR`).
    pub altname: String,
    /// `wsname` (`XBT/EUR`).
    pub wsname: Option<String>,
    /// `base` asset code (`XXBT`).
    pub base: String,
    /// `quote` asset code (`ZEUR`).
    pub quote: String,
}
