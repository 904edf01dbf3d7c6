//! The CSV files, written atomically: a temporary file in the target directory, synced, then
//! renamed over the final name, so a reader never sees half a report.

use super::format_time;
use super::rows::{FeeTreatment, RowRef, SummaryRow, TransactionRow};
use crate::domain::type_label;
use rust_decimal::Decimal;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Columns of `carf-summary-Y-CCY.csv`, in order (carf.md).
pub const SUMMARY_COLUMNS: [&str; 14] = [
    "year",
    "account",
    "crypto_asset",
    "asset_name",
    "element",
    "type_code",
    "type_label",
    "number_of_transactions",
    "number_of_units",
    "amount",
    "currency",
    "fee_treatment",
    "alt_valuation",
    "unpriced_transactions",
];

/// Columns of `carf-transactions-Y-CCY.csv`, in order (carf.md).
pub const TRANSACTION_COLUMNS: [&str; 21] = [
    "time_utc",
    "account",
    "ledger_id",
    "refid",
    "kraken_type",
    "kraken_subtype",
    "kraken_asset",
    "crypto_asset",
    "element",
    "type_code",
    "units",
    "fee_units",
    "amount_gross",
    "fee_amount",
    "amount",
    "currency",
    "price",
    "price_source",
    "counter_asset",
    "counter_units",
    "note",
];

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", .path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: std::io::Error,
}

/// Plain decimal text: `.` separator, no exponent, no thousands separator.
fn dec(d: Decimal) -> String {
    d.to_string()
}

/// Writes `path` atomically with what `fill` writes.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let err = |source: std::io::Error| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".kraken-tax-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut buffered).map_err(err)?;
        buffered.flush().map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn csv_err(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Writes the transactions file.
pub fn write_transactions(
    path: &Path,
    rows: &[TransactionRow],
    currency: &str,
) -> Result<(), WriteError> {
    write_atomic(path, |out| {
        let mut w = TransactionsCsv::new(out, currency)?;
        for r in rows {
            w.write(&r.as_ref())?;
        }
        w.finish()
    })
}

/// The transactions file written one row at a time (the header first), with no allocation
/// per row: fields are formatted into one reused buffer.
pub struct TransactionsCsv<'c, W: Write> {
    w: csv::Writer<W>,
    currency: &'c str,
    buf: String,
}

impl<'c, W: Write> TransactionsCsv<'c, W> {
    /// Writes the header to `out`.
    pub fn new(out: W, currency: &'c str) -> std::io::Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(TRANSACTION_COLUMNS).map_err(csv_err)?;
        Ok(TransactionsCsv {
            w,
            currency,
            buf: String::new(),
        })
    }

    /// Writes one row.
    pub fn write(&mut self, r: &RowRef<'_>) -> std::io::Result<()> {
        let TransactionsCsv { w, currency, buf } = self;
        let field = |w: &mut csv::Writer<W>, f: &str| w.write_field(f).map_err(csv_err);
        let number = |w: &mut csv::Writer<W>, buf: &mut String, d: Option<Decimal>| {
            buf.clear();
            if let Some(d) = d {
                let _ = std::fmt::Write::write_fmt(buf, format_args!("{d}"));
            }
            w.write_field(buf.as_bytes()).map_err(csv_err)
        };
        buf.clear();
        write_time(buf, r.time);
        field(w, buf)?;
        field(w, r.account)?;
        field(w, r.ledger_id)?;
        field(w, r.refid)?;
        field(w, r.kraken_type)?;
        field(w, r.kraken_subtype)?;
        field(w, r.kraken_asset)?;
        field(w, r.crypto_asset)?;
        field(w, r.element.as_str())?;
        field(w, r.type_code.unwrap_or_default())?;
        number(w, buf, Some(r.units))?;
        number(w, buf, Some(r.fee_units))?;
        number(w, buf, r.amount_gross)?;
        number(w, buf, r.fee_amount)?;
        number(w, buf, r.amount)?;
        field(w, currency)?;
        number(w, buf, r.price)?;
        field(w, r.price_source)?;
        field(w, r.counter_asset.unwrap_or_default())?;
        number(w, buf, r.counter_units)?;
        if r.transfer_wallet {
            buf.clear();
            buf.push_str(r.note);
            buf.push_str("; also reported as TransferWallet");
            field(w, buf)?;
        } else {
            field(w, r.note)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_err)
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// Appends [`format_time`]`(t)` to `buf`, digit by digit (chrono's formatter, and even
/// `write!`, cost more than the rest of the row).
fn write_time(buf: &mut String, t: chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    let nanos = t.nanosecond();
    let year = t.year();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        buf.push_str(&format_time(t));
        return;
    }
    let digits = |buf: &mut String, n: u32, width: u32, then: char| {
        for k in (0..width).rev() {
            buf.push(char::from(b'0' + (n / 10u32.pow(k) % 10) as u8));
        }
        buf.push(then);
    };
    digits(buf, year as u32, 4, '-');
    digits(buf, t.month(), 2, '-');
    digits(buf, t.day(), 2, 'T');
    digits(buf, t.hour(), 2, ':');
    digits(buf, t.minute(), 2, ':');
    digits(buf, t.second(), 2, '.');
    digits(buf, nanos / 1000, 6, 'Z');
}

/// Writes the summary file.
pub fn write_summary(
    path: &Path,
    year: i32,
    account: &str,
    currency: &str,
    fees: FeeTreatment,
    rows: &[SummaryRow],
) -> Result<(), WriteError> {
    write_atomic(path, |out| {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(SUMMARY_COLUMNS).map_err(csv_err)?;
        for r in rows {
            let code = r.type_code.clone().unwrap_or_default();
            w.write_record([
                year.to_string(),
                account.to_owned(),
                r.crypto_asset.clone(),
                r.asset_name.clone(),
                r.element.to_string(),
                code.clone(),
                type_label(&code).unwrap_or_default().to_owned(),
                r.number_of_transactions
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                dec(r.number_of_units),
                // Never a value for a group where nothing could be priced.
                if r.is_fully_unpriced() {
                    String::new()
                } else {
                    dec(r.amount())
                },
                currency.to_owned(),
                fees.as_str().to_owned(),
                r.alt_valuation.unwrap_or_default().to_owned(),
                r.unpriced_transactions.to_string(),
            ])
            .map_err(csv_err)?;
        }
        w.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_write_error_names_the_file_and_keeps_its_cause_as_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carf-2025-EUR-summary.csv");
        let e = write_atomic(&path, |out| {
            out.write_all(b"header\n")?;
            Err(std::io::Error::other("No space left on device"))
        })
        .unwrap_err();
        let shown = path.display().to_string();
        // The message names the file; the cause is the source, said once by the chain.
        assert_eq!(e.to_string(), format!("cannot write {shown}"));
        assert_eq!(
            std::error::Error::source(&e).map(|s| s.to_string()),
            Some("No space left on device".to_owned())
        );
        let exported = super::super::run::ExportError::from(e);
        assert_eq!(
            crate::commands::render_chain(&anyhow::Error::new(exported)),
            format!("cannot write {shown}: No space left on device")
        );
        // Nothing is left behind: neither the file nor its temporary sibling.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn write_time_equals_format_time() {
        for us in [
            0,
            1,
            999_999,
            1_735_689_600_000_000,
            1_735_689_599_999_999,
            1_767_225_599_123_456,
            253_402_300_799_999_999,
            951_782_400_000_001,
        ] {
            let t = chrono::Utc.timestamp_micros(us).unwrap();
            let mut buf = String::new();
            write_time(&mut buf, t);
            assert_eq!(buf, format_time(t), "{us}");
        }
    }
}
