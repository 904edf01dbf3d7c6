//! Display names in newer website exports (`BTC`, `EUR`) back to the API's codes (`XXBT`,
//! `ZEUR`), so that rows from both sources compare equal.

/// Display name → API code, for the assets whose API code is a legacy 4-letter X/Z code.
/// Everything else (`DOT`, `USDT`, `XTZ`, `ZRX`, `DOT.S`, `ETH2.S`, ...) is already the API code.
const DISPLAY_TO_CODE: &[(&str, &str)] = &[
    ("BTC", "XXBT"),
    ("XBT", "XXBT"),
    ("ETH", "XETH"),
    ("DOGE", "XXDG"),
    ("XDG", "XXDG"),
    ("LTC", "XLTC"),
    ("XRP", "XXRP"),
    ("XLM", "XXLM"),
    ("XMR", "XXMR"),
    ("ZEC", "XZEC"),
    ("ETC", "XETC"),
    ("REP", "XREP"),
    ("MLN", "XMLN"),
    ("EUR", "ZEUR"),
    ("USD", "ZUSD"),
    ("GBP", "ZGBP"),
    ("CAD", "ZCAD"),
    ("JPY", "ZJPY"),
    ("AUD", "ZAUD"),
];

/// The API code of an asset as an export names it.
pub fn asset_code(display: &str) -> String {
    DISPLAY_TO_CODE
        .iter()
        .find(|(d, _)| *d == display)
        .map_or(display, |(_, c)| c)
        .to_owned()
}

fn is_legacy(code: &str) -> bool {
    code.len() == 4 && (code.starts_with('X') || code.starts_with('Z')) && {
        DISPLAY_TO_CODE.iter().any(|(_, c)| *c == code)
    }
}

/// The API name of a pair. Exports write it as the API does (`XXBTZEUR`), or newer ones as
/// `BTC/EUR`: then two legacy codes are joined (`XXBTZEUR`), otherwise the plain names are
/// (`DOTEUR`, `SOLXBT`), as Kraken named those pairs. Never splits a name without a `/`.
pub fn pair_code(text: &str) -> String {
    let Some((base, quote)) = text.split_once('/') else {
        return text.to_owned();
    };
    let (b, q) = (asset_code(base), asset_code(quote));
    // Kraken's few pairs of a new base with a legacy quote keep the quote's legacy code.
    if matches!(base, "USDT") && is_legacy(&q) {
        return format!("{base}{q}");
    }
    if is_legacy(&b) && is_legacy(&q) {
        return format!("{b}{q}");
    }
    let alt = |s: &str| match s {
        "BTC" => "XBT".to_owned(),
        "DOGE" => "XDG".to_owned(),
        other => other.to_owned(),
    };
    format!("{}{}", alt(base), alt(quote))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_map_to_api_codes() {
        assert_eq!(asset_code("BTC"), "XXBT");
        assert_eq!(asset_code("EUR"), "ZEUR");
        assert_eq!(asset_code("XXBT"), "XXBT");
        assert_eq!(asset_code("XTZ"), "XTZ");
        assert_eq!(asset_code("ZRX"), "ZRX");
        assert_eq!(asset_code("DOT.S"), "DOT.S");
        assert_eq!(asset_code("CHF"), "CHF");
        assert_eq!(asset_code("USDT"), "USDT");
    }

    #[test]
    fn pairs() {
        assert_eq!(pair_code("XXBTZEUR"), "XXBTZEUR");
        assert_eq!(pair_code("BTC/EUR"), "XXBTZEUR");
        assert_eq!(pair_code("ETH/BTC"), "XETHXXBT");
        assert_eq!(pair_code("DOT/EUR"), "DOTEUR");
        assert_eq!(pair_code("SOL/BTC"), "SOLXBT");
        assert_eq!(pair_code("USDT/EUR"), "USDTZEUR");
        assert_eq!(pair_code("USDC/USD"), "USDCUSD");
    }
}
