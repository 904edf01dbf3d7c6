//! The year at a glance (`kraken-tax report`): the files `export/` and `gains/` wrote, read
//! back ([`files`]) and shown to people as one self-contained HTML page ([`html`]) and an
//! Excel workbook ([`xlsx`]). The report only reads those files (and the store's
//! completeness facts); every figure it shows is a figure of a file, formatted.

pub mod files;
pub mod html;
pub mod run;
pub mod xlsx;

use rust_decimal::Decimal;
use std::path::PathBuf;

pub use files::{CarfFiles, Cell, FileKind, GainsFiles, Kind, Table};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be opened or read as CSV.
    #[error("{}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: csv::Error,
    },
    /// A cell does not hold what its column says.
    #[error("{} line {line}: {what}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Its line (1: the header).
        line: u64,
        /// What was wrong.
        what: String,
    },
    /// The page could not be written.
    #[error(transparent)]
    Write(#[from] crate::export::csv::WriteError),
    /// The workbook could not be built.
    #[error("writing {}", .path.display())]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
    /// The export before the report failed.
    #[error(transparent)]
    Export(#[from] crate::export::run::ExportError),
    /// The gains of the report's method failed.
    #[error(transparent)]
    Gains(#[from] crate::gains::run::RunError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the store says about the data's completeness (read through `store`, as `status` does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The account reported.
    pub account: String,
    /// The last sync: when it started and how it ended; `None`: never synced.
    pub last_sync: Option<String>,
    /// The latest verification as one phrase; `None`: never verified.
    pub verify: Option<String>,
    /// Probable gaps the latest verification found.
    pub gaps: u64,
    /// Whether the latest verification found the history consistent.
    pub consistent: Option<bool>,
    /// Legs the classification could not place.
    pub unclassified: u64,
    /// Identity settings the CARF XML needs and the config lacks.
    pub identity_missing: Vec<String>,
}

/// What the report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The calendar year.
    pub year: i32,
    /// The reporting currency code.
    pub currency: String,
    /// The gains method.
    pub method: String,
    /// The year's time zone (IANA name).
    pub tz: String,
}

/// A decimal as people read it: thousands separators, the file's own digits after the point.
pub fn human(d: Decimal) -> String {
    let text = d.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Reads [`human`] back (commas and a leading currency code dropped); for tests and checks.
pub fn unhuman(text: &str) -> Option<Decimal> {
    let t: String = text
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_uppercase() || c == ' ' || c == '\u{a0}')
        .chars()
        .filter(|c| *c != ',')
        .collect();
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn numbers_get_thousands_separators_and_keep_their_digits() {
        assert_eq!(human(dec!(1234567.891)), "1,234,567.891");
        assert_eq!(human(dec!(-1000.00)), "-1,000.00");
        assert_eq!(human(dec!(999)), "999");
        assert_eq!(human(dec!(0.00000001)), "0.00000001");
        assert_eq!(human(dec!(-123456)), "-123,456");
        assert_eq!(unhuman("EUR 1,234,567.891"), Some(dec!(1234567.891)));
        assert_eq!(unhuman("-1,000.00"), Some(dec!(-1000.00)));
    }
}
