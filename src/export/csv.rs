//! The CSV files, written atomically: a temporary file in the target directory, synced, then
//! renamed over the final name, so a reader never sees half a report.

use super::format_time;
use super::rows::{FeeTreatment, SummaryRow, TransactionRow};
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
#[error("cannot write {path}: {detail}")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub detail: String,
}

/// Plain decimal text: `.` separator, no exponent, no thousands separator.
fn dec(d: Decimal) -> String {
    d.to_string()
}

fn opt_dec(d: Option<Decimal>) -> String {
    d.map(dec).unwrap_or_default()
}

/// Writes `path` atomically with what `fill` writes.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let err = |e: std::io::Error| WriteError {
        path: path.to_owned(),
        detail: e.to_string(),
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
        let mut w = csv::Writer::from_writer(out);
        w.write_record(TRANSACTION_COLUMNS).map_err(csv_err)?;
        for r in rows {
            let note = if r.transfer_wallet {
                format!("{}; also reported as TransferWallet", r.note)
            } else {
                r.note.clone()
            };
            w.write_record([
                format_time(r.time),
                r.account.clone(),
                r.ledger_id.clone(),
                r.refid.clone(),
                r.kraken_type.clone(),
                r.kraken_subtype.clone(),
                r.kraken_asset.clone(),
                r.crypto_asset.clone(),
                r.element.to_string(),
                r.type_code.clone().unwrap_or_default(),
                dec(r.units),
                dec(r.fee_units),
                opt_dec(r.amount_gross),
                opt_dec(r.fee_amount),
                opt_dec(r.amount),
                currency.to_owned(),
                opt_dec(r.price),
                r.price_source.clone(),
                r.counter_asset.clone().unwrap_or_default(),
                opt_dec(r.counter_units),
                note,
            ])
            .map_err(csv_err)?;
        }
        w.flush()
    })
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
