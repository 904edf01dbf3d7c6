//! Kraken timestamps: Unix seconds as decimal text, kept verbatim beside their parsed value.

use chrono::{DateTime, TimeZone, Utc};
use std::fmt;

/// A Kraken `time`: the original text (e.g. `1688464484.1787`) and the instant it denotes,
/// to the microsecond. Kraken sends 4 to 6 decimals; more are rejected rather than rounded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KrakenTime {
    text: String,
    micros: i64,
}

/// Why a time text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Kraken time {text:?}: {reason}")]
pub struct TimeError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl KrakenTime {
    /// Parses Kraken's decimal Unix-seconds text exactly (no floating point).
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let err = |reason| TimeError {
            text: text.to_owned(),
            reason,
        };
        let (secs, frac) = match text.split_once('.') {
            Some((s, f)) => (s, f),
            None => (text, ""),
        };
        if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("expected non-negative Unix seconds"));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("fraction is not decimal digits"));
        }
        if frac.len() > 6 && frac[6..].bytes().any(|b| b != b'0') {
            return Err(err("more than microsecond precision"));
        }
        let secs: i64 = secs.parse().map_err(|_| err("seconds out of range"))?;
        let mut micros_frac = 0i64;
        for (i, b) in frac.bytes().take(6).enumerate() {
            micros_frac += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let micros = secs
            .checked_mul(1_000_000)
            .and_then(|m| m.checked_add(micros_frac))
            .ok_or_else(|| err("seconds out of range"))?;
        if Utc.timestamp_micros(micros).single().is_none() {
            return Err(err("seconds out of range"));
        }
        Ok(Self {
            text: text.to_owned(),
            micros,
        })
    }

    /// Builds a time from microseconds, written with `decimals` fraction digits (4 to 6, as
    /// Kraken does); digits below that precision are truncated, so the result round-trips.
    pub fn from_micros(micros: i64, decimals: u32) -> Self {
        let decimals = decimals.min(6);
        let unit = 10i64.pow(6 - decimals);
        let micros = micros - micros.rem_euclid(unit);
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000) / unit;
        let text = if decimals == 0 {
            secs.to_string()
        } else {
            format!("{secs}.{frac:0width$}", width = decimals as usize)
        };
        Self { text, micros }
    }

    /// The text exactly as Kraken sent it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Microseconds since the Unix epoch.
    pub fn micros(&self) -> i64 {
        self.micros
    }

    /// The instant in UTC.
    pub fn utc(&self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.micros)
            .single()
            .expect("range checked when built")
    }
}

impl fmt::Display for KrakenTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_four_and_six_decimals_exactly() {
        let t = KrakenTime::parse("1688464484.1787").unwrap();
        assert_eq!(t.micros(), 1_688_464_484_178_700);
        assert_eq!(t.text(), "1688464484.1787");
        assert_eq!(t.utc().to_rfc3339(), "2023-07-04T09:54:44.178700+00:00");
        let t = KrakenTime::parse("1546992921.777").unwrap();
        assert_eq!(t.micros(), 1_546_992_921_777_000);
        let t = KrakenTime::parse("1700000000.123456").unwrap();
        assert_eq!(t.micros(), 1_700_000_000_123_456);
        assert_eq!(
            KrakenTime::parse("1700000000").unwrap().micros(),
            1_700_000_000_000_000
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(KrakenTime::parse("").is_err());
        assert!(KrakenTime::parse("-5.1").is_err());
        assert!(KrakenTime::parse("1.2.3").is_err());
        assert!(KrakenTime::parse("1e9").is_err());
        assert_eq!(
            KrakenTime::parse("1.1234567").unwrap_err().to_string(),
            "invalid Kraken time \"1.1234567\": more than microsecond precision"
        );
        assert!(KrakenTime::parse("99999999999999999999").is_err());
    }

    #[test]
    fn from_micros_round_trips() {
        let t = KrakenTime::from_micros(1_688_464_484_178_756, 4);
        assert_eq!(t.text(), "1688464484.1787");
        assert_eq!(KrakenTime::parse(t.text()).unwrap(), t);
        let t = KrakenTime::from_micros(1_688_464_484_000_056, 6);
        assert_eq!(t.text(), "1688464484.000056");
    }
}
