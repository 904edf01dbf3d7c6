//! The basis file the user fills for deposits from elsewhere (`kraken-tax basis import
//! FILE`, schema `schemas/csv/gains-basis.schema.json`, example `fixtures/basis-example.csv`).
//!
//! Columns: `ledger_ref` (ledger id or refid of the deposit) or `asset` + `time_utc` (the
//! deposit's asset and time as the ledger has it); `units`; `cost` (total, for those units);
//! `currency`; `acquired` (`YYYY-MM-DD`, midnight UTC, or an RFC 3339 time).

use crate::store::BasisRecord;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

/// The columns, in the order of the example.
pub const BASIS_COLUMNS: [&str; 7] = [
    "ledger_ref",
    "asset",
    "time_utc",
    "units",
    "cost",
    "currency",
    "acquired",
];

/// A row of a basis file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("basis file line {line}: {reason}")]
pub struct BasisError {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    /// What is wrong, and what to write instead.
    pub reason: String,
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Parses a whole basis file; the first bad row is an error naming its line (nothing is
/// stored from a file with a bad row).
pub fn parse_basis(text: &str) -> Result<Vec<BasisRecord>, BasisError> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let err = |line: u64, reason: String| BasisError { line, reason };
    let headers = r
        .headers()
        .map_err(|e| err(1, format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut idx = [0usize; 7];
    for (k, name) in BASIS_COLUMNS.iter().enumerate() {
        idx[k] = col(name).ok_or_else(|| {
            err(
                1,
                format!(
                    "no column {name:?}: the header must be {}",
                    BASIS_COLUMNS.join(",")
                ),
            )
        })?;
    }
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n as u64 + 2;
        let rec = rec.map_err(|e| err(line, format!("cannot read the row: {e}")))?;
        let get = |k: usize| rec.get(idx[k]).unwrap_or("");
        let ledger_ref = Some(get(0).to_owned()).filter(|s| !s.is_empty());
        let asset = Some(get(1).to_ascii_uppercase()).filter(|s| !s.is_empty());
        let time_us = match get(2) {
            "" => None,
            s => Some(
                time(s)
                    .ok_or_else(|| err(line, format!("time_utc {s:?} is not an RFC 3339 time")))?
                    .timestamp_micros(),
            ),
        };
        if ledger_ref.is_none() && (asset.is_none() || time_us.is_none()) {
            return Err(err(
                line,
                "give ledger_ref (the deposit's ledger id or refid), or asset and time_utc"
                    .to_owned(),
            ));
        }
        let dec = |k: usize| -> Result<Decimal, BasisError> {
            let s = get(k);
            let d = Decimal::from_str(s).map_err(|_| {
                err(
                    line,
                    format!("{} {s:?} is not a plain decimal number", BASIS_COLUMNS[k]),
                )
            })?;
            if d.is_sign_negative() {
                return Err(err(line, format!("{} {s} is negative", BASIS_COLUMNS[k])));
            }
            Ok(d)
        };
        let units = dec(3)?;
        if units.is_zero() {
            return Err(err(line, "units is zero".to_owned()));
        }
        let cost = dec(4)?;
        let currency = get(5).to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err(
                line,
                format!(
                    "currency {:?} is not a three-letter code such as EUR",
                    get(5)
                ),
            ));
        }
        let acquired = time(get(6)).ok_or_else(|| {
            err(
                line,
                format!(
                    "acquired {:?} is not a date (YYYY-MM-DD) or an RFC 3339 time",
                    get(6)
                ),
            )
        })?;
        out.push(BasisRecord {
            ledger_ref,
            asset,
            time_us,
            units,
            cost,
            currency,
            acquired_us: acquired.timestamp_micros(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_bad_rows_name_their_line() {
        let text = include_str!("../../fixtures/basis-example.csv");
        let rows = parse_basis(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ledger_ref.as_deref(), Some("LDEP01-AAAAA-BBBBBB"));
        assert_eq!(rows[0].cost, Decimal::new(1500000, 2));
        assert_eq!(rows[0].acquired_us, 1_577_836_800_000_000); // 2020-01-01
        assert_eq!(rows[1].asset.as_deref(), Some("ETH"));
        assert_eq!(rows[1].time_us, Some(1_718_454_600_000_000));
        let bad =
            "ledger_ref,asset,time_utc,units,cost,currency,acquired\n,BTC,,1,2,EUR,2020-01-01\n";
        assert_eq!(
            parse_basis(bad).unwrap_err().to_string(),
            "basis file line 2: give ledger_ref (the deposit's ledger id or refid), or asset and time_utc"
        );
        let bad =
            "ledger_ref,asset,time_utc,units,cost,currency,acquired\nL1,,,1,-2,EUR,2020-01-01\n";
        assert_eq!(
            parse_basis(bad).unwrap_err().to_string(),
            "basis file line 2: cost -2 is negative"
        );
        assert_eq!(
            parse_basis("ledger_ref,units\n").unwrap_err().to_string(),
            "basis file line 1: no column \"asset\": the header must be ledger_ref,asset,time_utc,units,cost,currency,acquired"
        );
    }
}
