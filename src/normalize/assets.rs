//! Asset codes: Kraken's raw codes (`XXBT`, `ZEUR`, `DOT28.S`, `ETH2.S`) to the asset reported
//! (`BTC`, `EUR`, `DOT`, `ETH`), fiat versus crypto, and full names.

use std::collections::BTreeMap;

/// Kraken's legacy four-letter codes and other aliases, mapped to the reported code. Only
/// exact matches are mapped: a leading X or Z is never stripped blindly (`XTZ`, `ZRX`, `XAUT`
/// are real codes).
const LEGACY: &[(&str, &str)] = &[
    ("XXBT", "BTC"),
    ("XBT", "BTC"),
    ("XETH", "ETH"),
    ("ETH2", "ETH"),
    ("XXDG", "DOGE"),
    ("XDG", "DOGE"),
    ("XLTC", "LTC"),
    ("XXRP", "XRP"),
    ("XXLM", "XLM"),
    ("XXMR", "XMR"),
    ("XZEC", "ZEC"),
    ("XETC", "ETC"),
    ("XREP", "REP"),
    ("XMLN", "MLN"),
    ("XICN", "ICN"),
    ("XNMC", "NMC"),
    ("XXVN", "XVN"),
    ("ZEUR", "EUR"),
    ("ZUSD", "USD"),
    ("ZGBP", "GBP"),
    ("ZCAD", "CAD"),
    ("ZJPY", "JPY"),
    ("ZAUD", "AUD"),
    ("ZCHF", "CHF"),
    ("ZKRW", "KRW"),
];

/// Wallet and product suffixes of one underlying asset.
const SUFFIXES: &[&str] = &[".HOLD", ".S", ".M", ".P", ".B", ".F", ".T"];

/// Fiat currencies (reported codes). Stablecoins are crypto-assets, not fiat.
const FIAT: &[&str] = &[
    "EUR", "USD", "GBP", "CAD", "JPY", "AUD", "CHF", "KRW", "AED", "NZD", "SEK", "NOK", "DKK",
    "PLN", "CZK",
];

/// Full names of common assets, shipped with the tool (reported code → name).
const NAMES: &[(&str, &str)] = &[
    ("BTC", "Bitcoin"),
    ("ETH", "Ethereum"),
    ("USDT", "Tether USD"),
    ("XRP", "XRP"),
    ("BNB", "BNB"),
    ("SOL", "Solana"),
    ("USDC", "USD Coin"),
    ("DOGE", "Dogecoin"),
    ("ADA", "Cardano"),
    ("TRX", "TRON"),
    ("LINK", "Chainlink"),
    ("AVAX", "Avalanche"),
    ("XLM", "Stellar"),
    ("SUI", "Sui"),
    ("TON", "Toncoin"),
    ("HBAR", "Hedera"),
    ("SHIB", "Shiba Inu"),
    ("DOT", "Polkadot"),
    ("LTC", "Litecoin"),
    ("BCH", "Bitcoin Cash"),
    ("UNI", "Uniswap"),
    ("PEPE", "Pepe"),
    ("NEAR", "NEAR Protocol"),
    ("APT", "Aptos"),
    ("DAI", "Dai"),
    ("ICP", "Internet Computer"),
    ("ETC", "Ethereum Classic"),
    ("POL", "Polygon Ecosystem Token"),
    ("MATIC", "Polygon"),
    ("XMR", "Monero"),
    ("ATOM", "Cosmos"),
    ("FIL", "Filecoin"),
    ("ARB", "Arbitrum"),
    ("OP", "Optimism"),
    ("RENDER", "Render"),
    ("INJ", "Injective"),
    ("IMX", "Immutable"),
    ("STX", "Stacks"),
    ("GRT", "The Graph"),
    ("AAVE", "Aave"),
    ("MKR", "Maker"),
    ("ALGO", "Algorand"),
    ("XTZ", "Tezos"),
    ("EOS", "EOS"),
    ("FLOW", "Flow"),
    ("KSM", "Kusama"),
    ("ZEC", "Zcash"),
    ("ZRX", "0x Protocol"),
    ("XAUT", "Tether Gold"),
    ("PYUSD", "PayPal USD"),
    ("SAND", "The Sandbox"),
    ("MANA", "Decentraland"),
    ("CRV", "Curve DAO Token"),
    ("LDO", "Lido DAO"),
    ("SNX", "Synthetix"),
    ("COMP", "Compound"),
    ("MINA", "Mina"),
    ("KAVA", "Kava"),
    ("ENS", "Ethereum Name Service"),
    ("1INCH", "1inch"),
    ("WIF", "dogwifhat"),
    ("BONK", "Bonk"),
    ("JUP", "Jupiter"),
    ("TIA", "Celestia"),
    ("SEI", "Sei"),
    ("FET", "Artificial Superintelligence Alliance"),
    ("REP", "Augur"),
    ("MLN", "Enzyme"),
    ("KFEE", "Kraken fee credit"),
    ("EUR", "Euro"),
    ("USD", "US Dollar"),
    ("GBP", "Pound Sterling"),
    ("CAD", "Canadian Dollar"),
    ("JPY", "Japanese Yen"),
    ("AUD", "Australian Dollar"),
    ("CHF", "Swiss Franc"),
];

/// What a raw Kraken asset code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedAsset {
    /// The code reported (`BTC`, `EUR`, `DOT`).
    pub code: String,
    /// A fiat currency (never reported as a crypto-asset).
    pub is_fiat: bool,
    /// Kraken's fee credits, which are not a crypto-asset.
    pub is_fee_credit: bool,
    /// The code was recognised (from the legacy table, Kraken's asset list, or the names
    /// table); unknown codes pass through unchanged and are reported.
    pub known: bool,
}

/// Altnames from Kraken's public `Assets` (raw code → altname), when fetched; empty otherwise.
#[derive(Debug, Clone, Default)]
pub struct AssetTable {
    altnames: BTreeMap<String, String>,
}

impl AssetTable {
    /// A table from Kraken's `Assets` answer (code → altname).
    pub fn new(altnames: BTreeMap<String, String>) -> Self {
        Self { altnames }
    }

    /// Normalizes one raw code.
    pub fn normalize(&self, raw: &str) -> NormalizedAsset {
        let base = strip_wallet_suffix(raw);
        let code = self.base_code(base);
        let known = lookup(LEGACY, base).is_some()
            || self.altnames.contains_key(base)
            || name_of(&code).is_some();
        NormalizedAsset {
            is_fiat: FIAT.contains(&code.as_str()),
            is_fee_credit: code == "KFEE",
            known,
            code,
        }
    }

    fn base_code(&self, base: &str) -> String {
        if let Some(code) = lookup(LEGACY, base) {
            return code.to_owned();
        }
        if let Some(alt) = self.altnames.get(base) {
            // Kraken's own altname, itself possibly legacy (XBT, XDG).
            return lookup(LEGACY, alt).unwrap_or(alt).to_owned();
        }
        base.to_owned()
    }
}

/// Strips `.S`, `.M`, ..., and the bonding digits before them (`DOT28.S` → `DOT`,
/// `ETH2.S` → `ETH2`; `ETH2` itself is mapped by the legacy table).
fn strip_wallet_suffix(raw: &str) -> &str {
    let Some(base) = SUFFIXES.iter().find_map(|s| raw.strip_suffix(s)) else {
        return raw;
    };
    if lookup(LEGACY, base).is_some() {
        return base;
    }
    let trimmed = base.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() >= 2 && trimmed.len() < base.len() {
        trimmed
    } else {
        base
    }
}

fn lookup<'a>(table: &'a [(&str, &str)], key: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The full name of a reported code, from the table shipped with the tool.
pub fn name_of(code: &str) -> Option<&'static str> {
    NAMES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// True for fiat currencies (reported codes).
pub fn is_fiat(code: &str) -> bool {
    FIAT.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(raw: &str) -> String {
        AssetTable::default().normalize(raw).code
    }

    #[test]
    fn legacy_codes_and_suffixes() {
        assert_eq!(n("XXBT"), "BTC");
        assert_eq!(n("XBT.M"), "BTC");
        assert_eq!(n("XXDG"), "DOGE");
        assert_eq!(n("ZEUR"), "EUR");
        assert_eq!(n("DOT.S"), "DOT");
        assert_eq!(n("DOT28.S"), "DOT");
        assert_eq!(n("ETH2.S"), "ETH");
        assert_eq!(n("ETH2"), "ETH");
        assert_eq!(n("USDC.HOLD"), "USDC");
        assert_eq!(n("SOL.F"), "SOL");
    }

    #[test]
    fn real_codes_starting_with_x_or_z_are_kept() {
        for code in ["XTZ", "ZRX", "XAUT", "XRP", "1INCH", "ZEC"] {
            assert_eq!(n(code), code);
            assert!(AssetTable::default().normalize(code).known, "{code}");
        }
    }

    #[test]
    fn fiat_stablecoins_and_fee_credits() {
        let t = AssetTable::default();
        assert!(t.normalize("ZUSD").is_fiat);
        assert!(t.normalize("CHF").is_fiat);
        assert!(!t.normalize("USDT").is_fiat);
        assert!(!t.normalize("USDC").is_fiat);
        assert!(t.normalize("KFEE").is_fee_credit);
    }

    #[test]
    fn unknown_codes_pass_through_and_are_flagged() {
        let a = AssetTable::default().normalize("NEWCOIN");
        assert_eq!(a.code, "NEWCOIN");
        assert!(!a.known);
        let t = AssetTable::new([("XNEW".to_owned(), "NEW".to_owned())].into());
        assert_eq!(t.normalize("XNEW").code, "NEW");
        assert!(t.normalize("XNEW").known);
    }

    #[test]
    fn names_cover_the_generated_assets() {
        for raw in [
            "XXBT", "XETH", "DOT", "SOL", "ADA", "XXDG", "USDT", "USDC", "ZEUR", "ZUSD", "ETH2.S",
            "DOT.S",
        ] {
            let code = n(raw);
            assert!(name_of(&code).is_some(), "{raw} -> {code}");
        }
        assert!(NAMES.len() >= 50);
    }
}
