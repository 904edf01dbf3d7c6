//! `report-Y-CCY.xlsx`: one sheet per file (and the checklist), typed cells (numbers as
//! numbers, times as dates), a frozen header row, an auto-filter and column widths. Sheets of
//! line-item files end with a totals row of SUM formulas over the money columns, cached at
//! the exact sums of the file's column; the gains summary's own TOTAL row is kept as the file has it,
//! as SUM formulas where the file's total is the sum of its asset rows.
//!
//! A spreadsheet cell holds a binary floating-point number: the f64 conversion happens here,
//! at the last step, and only for the cell values; the cached formula results are the exact
//! decimal text.

use super::html::Check;
use super::{Cell, ReportError, Table};
use rust_decimal::Decimal;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet, XlsxError};
use std::path::Path;

/// Sheets with more rows than this get one line pointing at the CSV instead.
pub const SHEET_ROWS: usize = 200_000;

/// Writes the workbook: `tables` in order (absent ones skipped), then the checklist.
pub fn write(path: &Path, tables: &[&Table], checks: &[Check]) -> Result<(), ReportError> {
    let err = |e: XlsxError| ReportError::Xlsx {
        path: path.to_owned(),
        source: e,
    };
    let mut book = Workbook::new();
    for t in tables {
        let sheet = book.add_worksheet();
        sheet.set_name(t.kind.sheet()).map_err(err)?;
        write_table(sheet, t).map_err(err)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("Checklist").map_err(err)?;
    let bold = Format::new().set_bold();
    sheet
        .write_string_with_format(0, 0, "what needs attention", &bold)
        .map_err(err)?;
    sheet
        .write_string_with_format(0, 1, "command that fixes it", &bold)
        .map_err(err)?;
    for (i, c) in checks.iter().enumerate() {
        sheet.write_string(i as u32 + 1, 0, &c.what).map_err(err)?;
        sheet.write_string(i as u32 + 1, 1, &c.fix).map_err(err)?;
    }
    sheet.set_column_width(0, 60).map_err(err)?;
    sheet.set_column_width(1, 80).map_err(err)?;
    sheet.set_freeze_panes(1, 0).map_err(err)?;
    let bytes = book.save_to_buffer().map_err(err)?;
    // Through the export's writer: the same file mode (0600) and an atomic replace.
    crate::export::csv::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))?;
    Ok(())
}

/// The column letters of a zero-based index (0 → A, 26 → AA).
pub fn column_letters(mut c: u16) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn write_table(sheet: &mut Worksheet, t: &Table) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let ncols = t.columns.len() as u16;
    for (c, name) in t.columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, name, &bold)?;
        sheet.set_column_width(c as u16, (name.len() as f64 + 2.0).max(12.0))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    if t.rows.len() > SHEET_ROWS {
        sheet.write_string(
            1,
            0,
            format!("{} rows: open {} instead", t.rows.len(), t.file_name()),
        )?;
        return Ok(());
    }
    let total_col = t.col("crypto_asset");
    let mut total_row = None;
    for (r, row) in t.rows.iter().enumerate() {
        let xr = r as u32 + 1;
        if total_col.is_some_and(|c| row[c].text() == "TOTAL") {
            total_row = Some(r);
        }
        for (c, cell) in row.iter().enumerate() {
            let c16 = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    sheet.write_string(xr, c16, s)?;
                }
                Cell::Num(d) => {
                    sheet.write_number(xr, c16, to_f64(*d))?;
                }
                Cell::Time(time) => {
                    let dt = ExcelDateTime::parse_from_str(
                        &time.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
                    )?;
                    sheet.write_datetime_with_format(xr, c16, &dt, &date)?;
                    sheet.set_column_width(c16, 20)?;
                }
            }
        }
    }
    let last = t.rows.len() as u32;
    sheet.autofilter(0, 0, last.max(1), ncols.saturating_sub(1))?;
    let numeric: Vec<usize> = (0..t.columns.len())
        .filter(|c| t.rows.iter().any(|r| matches!(r[*c], Cell::Num(_))))
        .collect();
    match total_row {
        // The gains summary: its TOTAL row is the file's; a SUM over the asset rows where
        // the file's total is their sum, else the file's value.
        Some(tr) if tr == t.rows.len() - 1 && tr > 0 => {
            let xr = tr as u32 + 1;
            for c in numeric {
                let Some(total) = t.rows[tr][c].num() else {
                    continue;
                };
                let sum: Decimal = t.rows[..tr].iter().filter_map(|r| r[c].num()).sum();
                if sum == total {
                    let l = column_letters(c as u16);
                    let f =
                        Formula::new(format!("=SUM({l}2:{l}{xr})")).set_result(total.to_string());
                    sheet.write_formula_with_format(xr, c as u16, f, &bold)?;
                }
            }
        }
        Some(_) => {}
        None if !t.rows.is_empty() => {
            let xr = last + 1;
            sheet.write_string_with_format(xr, 0, "SUM", &bold)?;
            // Money adds up; units of different assets and prices do not.
            let summed = numeric.into_iter().filter(|c| {
                let name = t.columns[*c].as_str();
                *c > 0 && super::html::is_money(name) && !name.starts_with("price")
            });
            for c in summed {
                let sum: Decimal = t.rows.iter().filter_map(|r| r[c].num()).sum();
                let l = column_letters(c as u16);
                let f = Formula::new(format!("=SUM({l}2:{l}{last_excel})", last_excel = last + 1))
                    .set_result(sum.normalize().to_string());
                sheet.write_formula_with_format(xr, c as u16, f, &bold)?;
            }
        }
        None => {}
    }
    Ok(())
}

/// A decimal as the nearest f64 (spreadsheet cells are binary floating point).
pub fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::column_letters;

    #[test]
    fn columns_are_lettered_like_a_spreadsheet() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
