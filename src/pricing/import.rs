//! Kraken's downloadable OHLCVT files (`XBTEUR_1440.csv`: pair and interval in minutes in the
//! name; rows `timestamp,open,high,low,close,volume,trades`, no header) as price rows.

use crate::store::PriceRow;
use rust_decimal::Decimal;
use std::str::FromStr;

const COLUMNS: [&str; 7] = [
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trades",
];

/// Why a file could not be imported; names the file, and the line and column where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", at(*line, column))]
pub struct ImportError {
    /// The file name.
    pub file: String,
    /// 1-based line, when the problem is in a row.
    pub line: Option<usize>,
    /// The column's name, when one column is at fault.
    pub column: Option<&'static str>,
    /// What is wrong.
    pub reason: String,
}

impl ImportError {
    /// The file's name is wrong (it must say the pair and interval), not its content: the
    /// user passed the wrong argument, a usage error (exit 2).
    pub fn is_name(&self) -> bool {
        self.line.is_none()
    }
}

fn at(line: Option<usize>, column: &Option<&'static str>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" line {l}, column {c}"),
        (Some(l), None) => format!(" line {l}"),
        _ => String::new(),
    }
}

/// One candle: its open time (Unix seconds) and close price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    /// Open time of the interval, Unix seconds.
    pub time_s: i64,
    /// The close price.
    pub close: Decimal,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OhlcvtFile {
    /// The file name (the price source is `import:<file>`).
    pub file: String,
    /// The pair as the name spells it (`XBTEUR`).
    pub pair: String,
    /// Interval in minutes.
    pub interval_min: i64,
    /// Candles in file order.
    pub candles: Vec<Candle>,
}

impl OhlcvtFile {
    /// Price rows: each candle's close, at the candle's close time (open + interval).
    pub fn price_rows(&self, base: &str, quote: &str) -> Vec<PriceRow> {
        self.candles
            .iter()
            .map(|c| {
                let t = c.time_s + self.interval_min * 60;
                PriceRow {
                    source: format!("import:{}", self.file),
                    pair: self.pair.clone(),
                    base: base.to_owned(),
                    quote: quote.to_owned(),
                    price: c.close,
                    time_us: t * 1_000_000,
                    time_text: t.to_string(),
                }
            })
            .collect()
    }
}

/// Latest candle time accepted: 2100-12-31 00:00:00 UTC. Later times (and their microseconds)
/// would leave the range every other part of kraken-tax works in.
const MAX_TIME_S: i64 = 4_133_894_400;

/// Longest candle interval accepted (30 days; Kraken's longest is 15 days).
const MAX_INTERVAL_MIN: i64 = 43_200;

/// Parses a file's name and text.
pub fn parse_ohlcvt(file_name: &str, text: &str) -> Result<OhlcvtFile, ImportError> {
    let err = |line, column, reason: String| ImportError {
        file: file_name.to_owned(),
        line,
        column,
        reason,
    };
    let stem = file_name.strip_suffix(".csv").ok_or_else(|| {
        err(
            None,
            None,
            "expected a name like XBTEUR_1440.csv".to_owned(),
        )
    })?;
    let (pair, interval) = stem.rsplit_once('_').ok_or_else(|| {
        err(
            None,
            None,
            "expected a name like XBTEUR_1440.csv (PAIR_MINUTES)".to_owned(),
        )
    })?;
    let interval_min: i64 = interval
        .parse()
        .ok()
        .filter(|m| (1..=MAX_INTERVAL_MIN).contains(m))
        .ok_or_else(|| {
            err(
                None,
                None,
                format!("interval {interval:?} is not minutes from 1 to {MAX_INTERVAL_MIN}"),
            )
        })?;
    if pair.is_empty() || !pair.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(err(
            None,
            None,
            format!("pair {pair:?} is not a Kraken pair name"),
        ));
    }
    let mut candles = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != COLUMNS.len() {
            return Err(err(
                Some(n),
                None,
                format!("expected 7 columns, found {}", fields.len()),
            ));
        }
        let time_s: i64 = fields[0].trim().parse().map_err(|_| {
            err(
                Some(n),
                Some(COLUMNS[0]),
                format!("not Unix seconds: {:?}", fields[0]),
            )
        })?;
        if !(0..=MAX_TIME_S).contains(&time_s) {
            return Err(err(
                Some(n),
                Some(COLUMNS[0]),
                format!(
                    "{time_s} is outside 1970-01-01 to 2100-12-31 (Unix seconds 0 to {MAX_TIME_S})"
                ),
            ));
        }
        for (c, f) in fields.iter().enumerate().skip(1) {
            if Decimal::from_str(f.trim()).is_err() {
                return Err(err(
                    Some(n),
                    Some(COLUMNS[c]),
                    format!("not a decimal: {f:?}"),
                ));
            }
        }
        let close = Decimal::from_str(fields[4].trim()).expect("checked above");
        if close <= Decimal::ZERO {
            return Err(err(
                Some(n),
                Some("close"),
                format!("not a price: {:?}", fields[4]),
            ));
        }
        candles.push(Candle { time_s, close });
    }
    Ok(OhlcvtFile {
        file: file_name.to_owned(),
        pair: pair.to_owned(),
        interval_min,
        candles,
    })
}

/// Quote codes recognised at the end of a pair name when Kraken's pair list is not cached
/// (longest first, so `ZEUR` wins over `EUR`).
const QUOTES: &[&str] = &[
    "USDT", "USDC", "ZEUR", "ZUSD", "ZGBP", "ZCAD", "ZJPY", "ZAUD", "XXBT", "XETH", "EUR", "USD",
    "GBP", "CAD", "JPY", "AUD", "CHF", "XBT", "ETH",
];

/// Splits a pair name at a known quote code (`XBTEUR` → `XBT`, `EUR`): the fallback when the
/// pair is not in Kraken's cached list.
pub fn split_by_known_quote(pair: &str) -> Option<(&str, &str)> {
    QUOTES.iter().find_map(|q| {
        pair.strip_suffix(q)
            .filter(|b| !b.is_empty())
            .map(|b| (b, &pair[b.len()..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_intervals_outside_the_range_are_refused_not_wrapped() {
        let row = |t: &str| format!("{t},1,1,1,1,1,1\n");
        for t in ["-1", "4133894401", "9223372036854775807"] {
            let e = parse_ohlcvt("XBTEUR_1440.csv", &row(t)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "XBTEUR_1440.csv line 1, column timestamp: {t} is outside 1970-01-01 to 2100-12-31 (Unix seconds 0 to 4133894400)"
                )
            );
        }
        let f = parse_ohlcvt("XBTEUR_43200.csv", &row("4133894400")).unwrap();
        assert_eq!(f.price_rows("BTC", "EUR")[0].time_us, 4_136_486_400_000_000);
        let e = parse_ohlcvt("XBTEUR_9223372036854775807.csv", &row("0")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "XBTEUR_9223372036854775807.csv: interval \"9223372036854775807\" is not minutes from 1 to 43200"
        );
    }

    #[test]
    fn parses_a_daily_file() {
        let f = parse_ohlcvt(
            "XBTEUR_1440.csv",
            "1704067200,38000.1,39000,37000,38500.5,12.5,300\n1704153600,38500.5,40000,38000,39999.9,10,250\n",
        )
        .unwrap();
        assert_eq!(f.pair, "XBTEUR");
        assert_eq!(f.interval_min, 1440);
        assert_eq!(f.candles.len(), 2);
        let rows = f.price_rows("BTC", "EUR");
        assert_eq!(rows[0].source, "import:XBTEUR_1440.csv");
        assert_eq!(rows[0].price.to_string(), "38500.5");
        assert_eq!(rows[0].time_us, 1_704_153_600_000_000);
        assert_eq!(rows[1].price.to_string(), "39999.9");
    }

    #[test]
    fn a_bad_value_names_file_line_and_column() {
        let e = parse_ohlcvt(
            "XBTEUR_60.csv",
            "1704067200,1,1,1,1,1,1\n1704070800,1,1,1,abc,1,1\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "XBTEUR_60.csv line 2, column close: not a decimal: \"abc\""
        );
        assert_eq!((e.line, e.column), (Some(2), Some("close")));
        let e = parse_ohlcvt("XBTEUR_60.csv", "x,1,1,1,1,1,1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "XBTEUR_60.csv line 1, column timestamp: not Unix seconds: \"x\""
        );
        let e = parse_ohlcvt("XBTEUR_60.csv", "1,1,1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "XBTEUR_60.csv line 1: expected 7 columns, found 3"
        );
        let e = parse_ohlcvt("prices.csv", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prices.csv: expected a name like XBTEUR_1440.csv (PAIR_MINUTES)"
        );
    }

    #[test]
    fn splits_at_known_quotes() {
        assert_eq!(split_by_known_quote("XBTEUR"), Some(("XBT", "EUR")));
        assert_eq!(split_by_known_quote("XXBTZEUR"), Some(("XXBT", "ZEUR")));
        assert_eq!(split_by_known_quote("ETHXBT"), Some(("ETH", "XBT")));
        assert_eq!(split_by_known_quote("DOTUSDT"), Some(("DOT", "USDT")));
        assert_eq!(split_by_known_quote("EUR"), None);
    }
}
