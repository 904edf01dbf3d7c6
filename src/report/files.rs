//! The files `export` and `gains` write, read back into typed tables: each column of a file
//! has a kind (text, decimal, integer count, time), and each cell is parsed by it — money and
//! units as [`Decimal`], never a float.

use super::ReportError;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

/// How a column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A plain decimal (money, units, prices).
    Decimal,
    /// A whole number (counts, days).
    Count,
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    Time,
}

/// One parsed cell; an empty CSV cell is [`Cell::Empty`] whatever the column's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// An empty cell.
    Empty,
    /// Text.
    Text(String),
    /// A decimal or count.
    Num(Decimal),
    /// A time.
    Time(DateTime<Utc>),
}

impl Cell {
    /// The number, if this is one.
    pub fn num(&self) -> Option<Decimal> {
        match self {
            Cell::Num(d) => Some(*d),
            _ => None,
        }
    }
    /// The text ("" for a non-text cell).
    pub fn text(&self) -> &str {
        match self {
            Cell::Text(s) => s,
            _ => "",
        }
    }
    /// The time, if this is one.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Cell::Time(t) => Some(*t),
            _ => None,
        }
    }
}

/// Which file a table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `carf-summary-Y-CCY.csv`.
    CarfSummary,
    /// `carf-transactions-Y-CCY.csv`.
    CarfTransactions,
    /// `gains-summary-Y-CCY-M.csv`.
    GainsSummary,
    /// `gains-disposals-Y-CCY-M.csv`.
    Disposals,
    /// `gains-income-Y-CCY.csv`.
    Income,
    /// `gains-margin-Y-CCY.csv`.
    Margin,
    /// `holdings-Y-CCY-M.csv`.
    Holdings,
}

impl FileKind {
    /// The file's name for a year, currency and method.
    pub fn file_name(self, year: i32, ccy: &str, method: &str) -> String {
        match self {
            FileKind::CarfSummary => format!("carf-summary-{year}-{ccy}.csv"),
            FileKind::CarfTransactions => format!("carf-transactions-{year}-{ccy}.csv"),
            FileKind::GainsSummary => format!("gains-summary-{year}-{ccy}-{method}.csv"),
            FileKind::Disposals => format!("gains-disposals-{year}-{ccy}-{method}.csv"),
            FileKind::Income => format!("gains-income-{year}-{ccy}.csv"),
            FileKind::Margin => format!("gains-margin-{year}-{ccy}.csv"),
            FileKind::Holdings => format!("holdings-{year}-{ccy}-{method}.csv"),
        }
    }

    /// The name of its sheet in the workbook.
    pub fn sheet(self) -> &'static str {
        match self {
            FileKind::CarfSummary => "CARF summary",
            FileKind::CarfTransactions => "CARF transactions",
            FileKind::GainsSummary => "Gains summary",
            FileKind::Disposals => "Disposals",
            FileKind::Income => "Income",
            FileKind::Margin => "Margin",
            FileKind::Holdings => "Holdings",
        }
    }

    /// The kind of each column this file may hold; a column not named is text.
    pub fn kind_of(self, column: &str) -> Kind {
        const TIMES: [&str; 2] = ["time_utc", "acquired_utc"];
        const COUNTS: [&str; 6] = [
            "number_of_transactions",
            "unpriced_transactions",
            "disposals",
            "unknown_cost_disposals",
            "unpriced_disposals",
            "holding_days",
        ];
        const DECIMALS: [&str; 36] = [
            "number_of_units",
            "amount",
            "units",
            "fee_units",
            "amount_gross",
            "fee_amount",
            "price",
            "counter_units",
            "proceeds",
            "cost",
            "fees",
            "gain",
            "gains",
            "losses",
            "net_gain",
            "short_net",
            "long_net",
            "exempt_net",
            "income",
            "value",
            "fee",
            "units_start",
            "units_end",
            "cost_end",
            "unknown_cost_units",
            "moved_out_units",
            "price_end",
            "value_end",
            "alt_valuation",
            "realised",
            "profit",
            "proceeds_total",
            "cost_total",
            "fee_total",
            "gain_total",
            "value_total",
        ];
        if TIMES.contains(&column) {
            Kind::Time
        } else if COUNTS.contains(&column) {
            Kind::Count
        } else if DECIMALS.contains(&column)
            && !(self == FileKind::CarfSummary && column == "alt_valuation")
        {
            Kind::Decimal
        } else {
            Kind::Text
        }
    }
}

/// One file read back: its header, kinds and typed rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// Which file.
    pub kind: FileKind,
    /// Where it was read from.
    pub path: PathBuf,
    /// Its header, as written.
    pub columns: Vec<String>,
    /// The kind of each column.
    pub kinds: Vec<Kind>,
    /// Its rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cell of `row` in column `name` ([`Cell::Empty`] when the column is absent).
    pub fn get<'a>(&self, row: &'a [Cell], name: &str) -> &'a Cell {
        const EMPTY: &Cell = &Cell::Empty;
        self.col(name).and_then(|i| row.get(i)).unwrap_or(EMPTY)
    }

    /// The file's name.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Reads one file; a cell its column's kind cannot parse is an error naming file, line and
/// column.
pub fn read_table(kind: FileKind, path: &Path) -> Result<Table, ReportError> {
    let bad = |line: u64, what: String| ReportError::Parse {
        path: path.to_owned(),
        line,
        what,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| ReportError::Read {
            path: path.to_owned(),
            source: e,
        })?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| ReportError::Read {
            path: path.to_owned(),
            source: e,
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    let kinds: Vec<Kind> = columns.iter().map(|c| kind.kind_of(c)).collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| ReportError::Read {
            path: path.to_owned(),
            source: e,
        })?;
        let mut row = Vec::with_capacity(kinds.len());
        for (c, k) in kinds.iter().enumerate() {
            let text = record.get(c).unwrap_or("");
            row.push(
                parse_cell(*k, text)
                    .ok_or_else(|| bad(line, format!("column {} holds {text:?}", columns[c])))?,
            );
        }
        rows.push(row);
    }
    Ok(Table {
        kind,
        path: path.to_owned(),
        columns,
        kinds,
        rows,
    })
}

/// Parses one cell by kind; `None`: the text is not of that kind.
pub fn parse_cell(kind: Kind, text: &str) -> Option<Cell> {
    if text.is_empty() {
        return Some(Cell::Empty);
    }
    match kind {
        Kind::Text => Some(Cell::Text(text.to_owned())),
        // Plain decimals only (carf.md "Number formats"): no exponent, no separator.
        Kind::Decimal
            if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
        {
            text.parse::<Decimal>().ok().map(Cell::Num)
        }
        Kind::Decimal => None,
        Kind::Count => text
            .parse::<u64>()
            .ok()
            .map(|n| Cell::Num(Decimal::from(n))),
        Kind::Time => DateTime::parse_from_rfc3339(text)
            .map(|t| Cell::Time(t.with_timezone(&Utc)))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| Cell::Time(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
            })
            .ok(),
    }
}

/// The export's files of a year (both always exist after an export with CSV).
#[derive(Debug, Clone)]
pub struct CarfFiles {
    /// `carf-summary-Y-CCY.csv`.
    pub summary: Table,
    /// `carf-transactions-Y-CCY.csv`.
    pub transactions: Table,
}

/// The gains files of a year and method; income, margin and holdings may be absent.
#[derive(Debug, Clone)]
pub struct GainsFiles {
    /// The method's name.
    pub method: String,
    /// `gains-summary-Y-CCY-M.csv`.
    pub summary: Table,
    /// `gains-disposals-Y-CCY-M.csv`.
    pub disposals: Option<Table>,
    /// `gains-income-Y-CCY.csv`.
    pub income: Option<Table>,
    /// `gains-margin-Y-CCY.csv`.
    pub margin: Option<Table>,
    /// `holdings-Y-CCY-M.csv`.
    pub holdings: Option<Table>,
}

/// Reads the export's two files from `dir`.
pub fn read_carf(dir: &Path, year: i32, ccy: &str) -> Result<CarfFiles, ReportError> {
    let path = |k: FileKind| dir.join(k.file_name(year, ccy, ""));
    Ok(CarfFiles {
        summary: read_table(FileKind::CarfSummary, &path(FileKind::CarfSummary))?,
        transactions: read_table(
            FileKind::CarfTransactions,
            &path(FileKind::CarfTransactions),
        )?,
    })
}

/// Reads the gains files of `method` from `dir`: `None` when its summary is not there.
pub fn read_gains(
    dir: &Path,
    year: i32,
    ccy: &str,
    method: &str,
) -> Result<Option<GainsFiles>, ReportError> {
    let path = |k: FileKind| dir.join(k.file_name(year, ccy, method));
    let optional = |k: FileKind| -> Result<Option<Table>, ReportError> {
        let p = path(k);
        if p.exists() {
            read_table(k, &p).map(Some)
        } else {
            Ok(None)
        }
    };
    let Some(summary) = optional(FileKind::GainsSummary)? else {
        return Ok(None);
    };
    Ok(Some(GainsFiles {
        method: method.to_owned(),
        summary,
        disposals: optional(FileKind::Disposals)?,
        income: optional(FileKind::Income)?,
        margin: optional(FileKind::Margin)?,
        holdings: optional(FileKind::Holdings)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn cells_parse_by_kind_and_bad_ones_are_refused() {
        assert_eq!(
            parse_cell(Kind::Decimal, "1234.50"),
            Some(Cell::Num(dec!(1234.50)))
        );
        assert_eq!(parse_cell(Kind::Decimal, ""), Some(Cell::Empty));
        assert_eq!(parse_cell(Kind::Decimal, "1e3"), None);
        assert_eq!(parse_cell(Kind::Count, "-1"), None);
        assert_eq!(
            parse_cell(Kind::Time, "2024-03-01T10:00:00.000000Z")
                .unwrap()
                .time()
                .unwrap()
                .to_rfc3339(),
            "2024-03-01T10:00:00+00:00"
        );
    }

    #[test]
    fn a_bad_cell_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gains-income-2024-EUR.csv");
        std::fs::write(
            &p,
            "time_utc,units\n2024-01-01T00:00:00.000000Z,1\n2024-01-02T00:00:00.000000Z,x\n",
        )
        .unwrap();
        let e = read_table(FileKind::Income, &p).unwrap_err().to_string();
        assert!(
            e.ends_with("gains-income-2024-EUR.csv line 3: column units holds \"x\""),
            "{e}"
        );
    }
}
