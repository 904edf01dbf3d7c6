//! The reporting currencies an export or a gains report can be written in.

use std::fmt;
use std::str::FromStr;

/// A reporting currency: the fiat currency the reports value everything in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportCurrency {
    /// Euro.
    Eur,
    /// US dollar.
    Usd,
    /// Pound sterling.
    Gbp,
    /// Swiss franc.
    Chf,
    /// Canadian dollar.
    Cad,
    /// Australian dollar.
    Aud,
    /// Japanese yen.
    Jpy,
}

impl ReportCurrency {
    /// Every reporting currency, in the order the messages list them.
    pub const ALL: [ReportCurrency; 7] = [
        Self::Eur,
        Self::Usd,
        Self::Gbp,
        Self::Chf,
        Self::Cad,
        Self::Aud,
        Self::Jpy,
    ];

    /// The ISO 4217 code, e.g. `EUR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eur => "EUR",
            Self::Usd => "USD",
            Self::Gbp => "GBP",
            Self::Chf => "CHF",
            Self::Cad => "CAD",
            Self::Aud => "AUD",
            Self::Jpy => "JPY",
        }
    }
}

impl fmt::Display for ReportCurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A currency code that is not a reporting currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported reporting currency {0:?}: use one of EUR, USD, GBP, CHF, CAD, AUD, JPY")]
pub struct UnsupportedCurrency(pub String);

impl FromStr for ReportCurrency {
    type Err = UnsupportedCurrency;
    /// Case-insensitive: `eur` is `EUR`.
    fn from_str(s: &str) -> Result<Self, UnsupportedCurrency> {
        let upper = s.to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == upper)
            .ok_or(UnsupportedCurrency(upper))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_any_case_and_others_are_refused_by_name() {
        assert_eq!("eur".parse(), Ok(ReportCurrency::Eur));
        assert_eq!("JPY".parse(), Ok(ReportCurrency::Jpy));
        assert_eq!(
            "xbt".parse::<ReportCurrency>().unwrap_err().to_string(),
            "unsupported reporting currency \"XBT\": use one of EUR, USD, GBP, CHF, CAD, AUD, JPY"
        );
        let listed: Vec<&str> = ReportCurrency::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ["EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY"]);
    }
}
