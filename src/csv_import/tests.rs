use super::*;
use rand::{RngExt, SeedableRng};
use rust_decimal_macros::dec;

const V4: &str = "\"txid\",\"refid\",\"time\",\"type\",\"subtype\",\"aclass\",\"subclass\",\"asset\",\"wallet\",\"amount\",\"fee\",\"balance\"";
const ROW1: &str = "\"L4UESK-KG3EQ-UFO4T5\",\"TJKLXF-PGMUI-4NTLXU\",\"2023-07-04 09:54:44\",\"trade\",\"tradespot\",\"currency\",\"fiat\",\"GBP\",\"spot / main\",\"-24.5000\",\"0.0490\",\"459567.9171\"";
const PENDING: &str = "\"\",\"QCCBB7C-XVPZTS-6JYVLX\",\"2023-07-04 10:00:00\",\"deposit\",\"\",\"currency\",\"fiat\",\"EUR\",\"spot / main\",\"100.0000\",\"0.0000\",\"\"";
const ROW2: &str = "\"LTBUIZ-ZKCO2-YRRXNF\",\"QCCBB7C-XVPZTS-6JYVLX\",\"2023-07-04 10:01:00\",\"deposit\",\"\",\"currency\",\"fiat\",\"EUR\",\"spot / main\",\"100.0000\",\"0.0000\",\"100.0000\"";

fn input(text: &[u8]) -> Input {
    Input {
        name: "ledgers.csv".into(),
        data: text.to_vec(),
    }
}

fn opts(skip_bad: bool) -> ImportOptions {
    ImportOptions {
        skip_bad,
        source: Source::Csv,
    }
}

fn import(store: &mut Store, text: &[u8], skip_bad: bool) -> Result<FileReport, ImportError> {
    import_input(store, "a", &input(text), opts(skip_bad), &mut |_, _| Ok(()))
}

#[test]
fn bom_crlf_blank_lines_pending_rows_and_display_names() {
    let text = format!("\u{feff}{V4}\r\n\r\n{ROW1}\r\n{PENDING}\r\n\r\n{ROW2}\r\n");
    let mut store = Store::open_in_memory().unwrap();
    let r = import(&mut store, text.as_bytes(), false).unwrap();
    assert_eq!((r.rows, r.pending, r.outcome.inserted), (3, 1, 2));
    assert_eq!(r.version, "v4");
    let got = store.ledger_entries("a").unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].asset.as_str(), "ZGBP");
    assert_eq!(got[0].amount, dec!(-24.5000));
    assert_eq!(got[0].time.text(), "1688464484");
    assert_eq!(got[0].wallet.as_deref(), Some("spot / main"));
    assert_eq!(got[1].asset.as_str(), "ZEUR");
    assert_eq!(
        r.newest,
        Some(SyncPoint {
            id: "LTBUIZ-ZKCO2-YRRXNF".into(),
            micros: 1_688_464_860_000_000
        })
    );
    // Importing the same file again changes nothing.
    let again = import(&mut store, text.as_bytes(), false).unwrap();
    assert_eq!((again.outcome.inserted, again.outcome.duplicates), (0, 2));
}

#[test]
fn a_bad_row_stops_the_file_before_anything_is_committed() {
    let bad = ROW2.replace(
        "\"100.0000\",\"0.0000\",\"100",
        "\"1O0.0000\",\"0.0000\",\"100",
    );
    let text = format!("{V4}\n{ROW1}\n{bad}\n");
    let mut store = Store::open_in_memory().unwrap();
    let e = import(&mut store, text.as_bytes(), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ledgers.csv: line 3, column 10 (amount): not a decimal number: \"1O0.0000\""
    );
    assert!(store.ledger_entries("a").unwrap().is_empty());
    let r = import(&mut store, text.as_bytes(), true).unwrap();
    assert_eq!(r.outcome.inserted, 1);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].line, 3);
}

#[test]
fn wrong_column_counts_and_truncated_lines_are_named() {
    let short = &ROW1[..ROW1.len() - 30];
    let text = format!("{V4}\n{short}\n");
    let mut store = Store::open_in_memory().unwrap();
    let e = import(&mut store, text.as_bytes(), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ledgers.csv: line 2: expected 12 columns as in the header, found 10"
    );
}

#[test]
fn a_conflicting_version_is_kept_aside_and_listed() {
    let mut store = Store::open_in_memory().unwrap();
    import(&mut store, format!("{V4}\n{ROW1}\n").as_bytes(), false).unwrap();
    let changed = ROW1.replace("-24.5000", "-24.5001");
    let r = import(&mut store, format!("{V4}\n{changed}\n").as_bytes(), false).unwrap();
    assert_eq!(r.outcome.conflicts, 1);
    assert_eq!(r.conflicts, vec!["L4UESK-KG3EQ-UFO4T5".to_owned()]);
    assert_eq!(store.ledger_entries("a").unwrap()[0].amount, dec!(-24.5000));
    assert_eq!(store.conflict_count("a").unwrap(), 1);
}

#[test]
fn a_zip_without_csv_and_a_broken_zip_are_clear_errors() {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"hello").unwrap();
        w.finish().unwrap();
    }
    let e = inputs("export.zip", buf.into_inner()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "export.zip: the zip holds no .csv or .tsv file (found: readme.txt); download the export again"
    );
    let e = inputs("export.zip", b"PK\x03\x04garbage".to_vec()).unwrap_err();
    // The message names the file; the zip library's error is its source, said once.
    assert_eq!(e.to_string(), "export.zip: not a readable zip archive");
    assert!(
        crate::text::chain(&e).starts_with("export.zip: not a readable zip archive: "),
        "{}",
        crate::text::chain(&e)
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let header = format!("{V4}\n");
    for i in 0..1000 {
        let len = rng.random_range(0..400);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
        if i % 2 == 0 {
            // Half of the cases behind a valid header, so that rows are parsed too.
            let mut b = header.clone().into_bytes();
            if i % 4 == 0 {
                // Mostly printable noise with separators and quotes.
                for x in &mut bytes {
                    *x = b",\"\n\r0123456789.-abcLQT :"[usize::from(*x) % 23];
                }
            }
            b.extend_from_slice(&bytes);
            bytes = b;
        }
        let mut store = Store::open_in_memory().unwrap();
        if let Ok(ins) = inputs("x.csv", bytes) {
            for input in ins {
                let r = import_input(&mut store, "a", &input, opts(false), &mut |_, _| Ok(()));
                if let Err(e) = r {
                    assert!(e.to_string().starts_with("x.csv"), "{e}");
                }
            }
        }
    }
}

/// `n` distinct ledger rows like ROW1, one second apart.
fn many_rows(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            ROW1.replace("L4UESK-KG3EQ-UFO4T5", &format!("L{i:07}-KG3EQ-UFO4T5"))
                .replace(
                    "09:54:44",
                    &format!("{:02}:{:02}:{:02}", i / 3600 % 24, i / 60 % 60, i % 60),
                )
        })
        .collect()
}

#[test]
fn a_bad_row_far_into_a_large_file_stores_nothing_and_the_rows_after_it_are_not_waited_for() {
    // More rows before the bad one than one insert batch, and after it more than the parser
    // may run ahead: the rows already inserted are rolled back, the import returns.
    let mut rows = many_rows(3 * BATCH + PARSED_BATCH * PARSED_AHEAD * 3);
    rows[BATCH + 10] = rows[BATCH + 10].replace("-24.5000", "-24.5x00");
    let text = format!("{V4}\n{}\n", rows.join("\n"));
    let mut store = Store::open_in_memory().unwrap();
    let e = import(&mut store, text.as_bytes(), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "ledgers.csv: line {}, column 10 (amount): not a decimal number: \"-24.5x00\"",
            BATCH + 12
        )
    );
    assert_eq!(store.raw_ledger_count("a").unwrap(), 0);
    // With --skip-bad every other row is stored, in the file's order of lines.
    let r = import(&mut store, text.as_bytes(), true).unwrap();
    assert_eq!(r.rows as usize, rows.len());
    assert_eq!(r.outcome.inserted as usize, rows.len() - 1);
    assert_eq!(
        r.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![BATCH as u64 + 12]
    );
    // And again: all duplicates.
    let again = import(&mut store, text.as_bytes(), true).unwrap();
    assert_eq!(
        (again.outcome.inserted, again.outcome.duplicates),
        (0, rows.len() as u64 - 1)
    );
}

/// Splits a generated export line into its fields (`,` with every field quoted, or tab).
fn fields_of(line: &str, delim: char) -> Vec<String> {
    if delim == ',' {
        line[1..line.len() - 1]
            .split("\",\"")
            .map(str::to_owned)
            .collect()
    } else {
        line.split('\t').map(str::to_owned).collect()
    }
}

fn line_of(fields: &[String], delim: char) -> String {
    fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(&delim.to_string())
}

/// A bad row is named by the line it starts on, in every header version of both kinds, CSV
/// and TSV, with LF, CRLF or lone CR endings, a BOM, blank and whitespace-only lines, and a
/// quoted field with line breaks inside before it.
#[test]
fn bad_rows_are_named_by_their_real_line_in_every_layout() {
    use crate::emulator::csv_out::{LedgerCsvVersion, TradeCsvVersion, ledgers_csv, trades_csv};
    let data = crate::emulator::generate(&crate::emulator::GeneratorConfig::new(5, 40));
    let mut files: Vec<(String, char, &str)> = Vec::new();
    for delim in [',', '\t'] {
        for v in LedgerCsvVersion::ALL {
            files.push((ledgers_csv(&data.ledger[..12], v, delim), delim, "amount"));
        }
        for v in TradeCsvVersion::ALL {
            files.push((trades_csv(&data.trades[..12], v, delim), delim, "vol"));
        }
    }
    let mut checked = 0;
    for (text, delim, bad_col) in &files {
        let lines: Vec<&str> = text.lines().collect();
        let header = fields_of(lines[0], *delim);
        let bad_at = header.iter().position(|h| h == bad_col).unwrap();
        let free_at = header
            .iter()
            .position(|h| h == "type" || h == "ordertype")
            .map(|i| if *bad_col == "vol" { i + 1 } else { i })
            .unwrap();
        for (eol, bom, blanks, inner_break) in [
            ("\n", false, false, None),
            ("\r\n", true, false, None),
            ("\n", false, true, None),
            ("\r\n", true, true, Some("\r\n")),
            ("\n", true, true, Some("\n\n")),
            ("\r", false, true, Some("\r")),
        ] {
            // (text, physical lines it spans)
            let mut pieces: Vec<String> = Vec::new();
            if blanks {
                pieces.push(String::new());
            }
            pieces.push(lines[0].to_owned());
            for (i, line) in lines[1..].iter().enumerate() {
                let mut f = fields_of(line, *delim);
                if i == 5 && blanks {
                    pieces.push(String::new());
                    pieces.push("   ".to_owned());
                    pieces.push(String::new());
                }
                if i == 6
                    && let Some(b) = inner_break
                {
                    f[free_at] = format!("first{b}second");
                }
                if i == 8 {
                    f[bad_at] = "abc".into();
                }
                pieces.push(line_of(&f, *delim));
            }
            let mut body = pieces.join(eol);
            body.push_str(eol);
            let mut bytes = Vec::new();
            if bom {
                bytes.extend_from_slice("\u{feff}".as_bytes());
            }
            bytes.extend_from_slice(body.as_bytes());
            // The bad row's line: count the line breaks before it as an editor does.
            let start = body.find("\"abc\"").unwrap();
            let row_start = body[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            let want_line = 1 + body[..row_start]
                .replace("\r\n", "\n")
                .matches(['\n', '\r'])
                .count();
            let mut store = Store::open_in_memory().unwrap();
            let e = import(&mut store, &bytes, false).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "ledgers.csv: line {want_line}, column {} ({bad_col}): not a decimal number: \"abc\"",
                    bad_at + 1
                ),
                "eol {eol:?} bom {bom} blanks {blanks} inner {inner_break:?} header {}",
                lines[0]
            );
            // Rows are stored with their own text, without the blank lines around them.
            let r = import(&mut store, &bytes, true).unwrap();
            assert_eq!(r.skipped.len(), 1);
            assert_eq!(r.skipped[0].line, want_line as u64);
            checked += 1;
        }
    }
    assert_eq!(checked, 12 * 6);
}

/// A file wrong as a whole is a header error, for which `--skip-bad` is no help; a bad row is
/// a row error, for which it is.
#[test]
fn whole_file_errors_are_told_apart_from_bad_rows() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            format!("{V4}\r\n{ROW1}\r\n")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let no_bom_utf16: Vec<u8> = utf16[2..].to_vec();
    let missing = V4.replace(",\"fee\"", "");
    for (bytes, want) in [
        (
            b"".to_vec(),
            "ledgers.csv: line 1: the file is empty: expected a Kraken ledgers or trades header",
        ),
        (
            b"\n\r\n  \n".to_vec(),
            "ledgers.csv: line 1: the file is empty: expected a Kraken ledgers or trades header",
        ),
        (
            utf16,
            "ledgers.csv: line 1: the file is UTF-16 text (or holds NUL bytes), not a Kraken export as downloaded: download it again, or save it as \"CSV UTF-8\"",
        ),
        (
            no_bom_utf16,
            "ledgers.csv: line 1: the file is UTF-16 text (or holds NUL bytes), not a Kraken export as downloaded: download it again, or save it as \"CSV UTF-8\"",
        ),
        (
            format!("\n{missing}\n{ROW1}\n").into_bytes(),
            "ledgers.csv: line 2: the ledgers header \"\\\"txid\\\",\\\"refid\\\",\\\"time\\\",\\\"type\\\",\\\"subtype\\\",\\\"aclass\\\",\\\"subclass\\\",\\\"asset\\\",\\\"wallet\\\",\\\"amount\\\",\\\"balance\\\"\" lacks the column \"fee\"",
        ),
    ] {
        let mut store = Store::open_in_memory().unwrap();
        let e = import(&mut store, &bytes, false).unwrap_err();
        assert_eq!(e.to_string(), want);
        assert!(matches!(e, ImportError::Header { .. }), "{e}");
        assert!(!e.skip_bad_helps(), "{e}");
        // --skip-bad changes nothing for them.
        let e = import(&mut store, &bytes, true).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
    let bad_row = format!("{V4}\n{}\n", ROW1.replace("-24.5000", "x"));
    let e = import(
        &mut Store::open_in_memory().unwrap(),
        bad_row.as_bytes(),
        false,
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::Bad { .. }), "{e}");
    assert!(e.skip_bad_helps());
}

/// Thousands of bad rows or conflicting ids give a bounded report: the first [`LISTED`], then
/// a count.
#[test]
fn many_bad_rows_and_conflicts_are_summed_up_not_listed() {
    let rows = many_rows(250);
    let mut store = Store::open_in_memory().unwrap();
    import(
        &mut store,
        format!("{V4}\n{}\n", rows.join("\n")).as_bytes(),
        false,
    )
    .unwrap();
    // Every row changed: 250 conflicts; and 100 bad rows among them.
    let mut changed: Vec<String> = rows
        .iter()
        .map(|r| r.replace("-24.5000", "-24.5001"))
        .collect();
    for r in changed.iter_mut().skip(150) {
        *r = r.replace("-24.5001", "bad");
    }
    changed.extend(
        many_rows(400)
            .split_off(250)
            .into_iter()
            .map(|r| r.replace("-24.5000", "bad")),
    );
    let text = format!("{V4}\n{}\n", changed.join("\n"));
    let r = import(&mut store, text.as_bytes(), true).unwrap();
    assert_eq!((r.rows, r.bad_rows, r.outcome.conflicts), (400, 250, 150));
    assert_eq!(r.skipped.len(), LISTED);
    assert_eq!(r.conflicts.len(), LISTED);
    let w = r.warnings();
    assert_eq!(w.len(), LISTED + 2, "{w:#?}");
    assert_eq!(
        w[0],
        "ledgers.csv: skipped line 152, column 10 (amount): not a decimal number: \"bad\""
    );
    assert_eq!(
        w[LISTED],
        "ledgers.csv: skipped 230 more bad rows (250 in all)"
    );
    let ids: Vec<String> = (0..LISTED)
        .map(|i| format!("L{i:07}-KG3EQ-UFO4T5"))
        .collect();
    assert_eq!(
        w[LISTED + 1],
        format!(
            "ledgers.csv: 150 entries differ from the stored version and were kept aside, not merged: {} and 130 more",
            ids.join(", ")
        )
    );
    // One of each: listed, no count.
    let mut store = Store::open_in_memory().unwrap();
    import(&mut store, format!("{V4}\n{ROW1}\n").as_bytes(), false).unwrap();
    let text = format!(
        "{V4}\n{}\n{}\n",
        ROW1.replace("-24.5000", "-1"),
        ROW2.replace("100.0000\",\"0.0000\",\"100", "x\",\"0.0000\",\"100")
    );
    let w = import(&mut store, text.as_bytes(), true)
        .unwrap()
        .warnings();
    assert_eq!(
        w,
        vec![
            "ledgers.csv: skipped line 3, column 10 (amount): not a decimal number: \"x\"".to_owned(),
            "ledgers.csv: 1 entry differ from the stored version and were kept aside, not merged: L4UESK-KG3EQ-UFO4T5".to_owned(),
        ]
    );
}

/// Numbers beyond the accepted range (see `domain::amount`) are refused at the row and column
/// they are in, before any arithmetic could overflow on them.
#[test]
fn out_of_range_numbers_are_refused_with_their_place() {
    for (field, value, column, want) in [
        (
            "-24.5000",
            "79228162514264337593543950335",
            "10 (amount)",
            "out of range: \"79228162514264337593543950335\" has 29 digits before the point",
        ),
        (
            "-24.5000",
            "50000000000000000000000000000",
            "10 (amount)",
            "out of range: \"50000000000000000000000000000\" has 29 digits before the point",
        ),
        (
            "0.0490",
            "79228162514264337593543950335",
            "11 (fee)",
            "out of range: \"79228162514264337593543950335\" has 29 digits before the point",
        ),
        (
            "-24.5000",
            "0.0000000000000000000000000001",
            "10 (amount)",
            "out of range: \"0.0000000000000000000000000001\" has 28 digits after the point",
        ),
        (
            "459567.9171",
            "1e-28",
            "12 (balance)",
            "not a decimal number: \"1e-28\"",
        ),
    ] {
        let row = ROW1.replace(field, value);
        let text = format!("{V4}\r\n\r\n{ROW2}\r\n{row}\r\n");
        let mut store = Store::open_in_memory().unwrap();
        let e = import(&mut store, text.as_bytes(), false).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with(&format!("ledgers.csv: line 4, column {column}: {want}")),
            "{e}"
        );
        assert!(store.ledger_entries("a").unwrap().is_empty());
    }
}

/// A blank balance (Kraken leaves it empty on some rows) stays unknown: it is not zero.
#[test]
fn a_blank_balance_stays_blank() {
    let row = ROW1.replace("\"459567.9171\"", "\"\"");
    let spaces = format!("{},\"  \"", ROW2.strip_suffix(",\"100.0000\"").unwrap());
    let text = format!("{V4}\n{row}\n{spaces}\n");
    let (_, rows) = parse_all(&input(text.as_bytes())).unwrap();
    let balances: Vec<Option<rust_decimal::Decimal>> = rows
        .iter()
        .map(|(_, r)| match r {
            Row::Ledger(l) => l.item.balance,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(balances, vec![None, None]);
    let mut store = Store::open_in_memory().unwrap();
    import(&mut store, text.as_bytes(), false).unwrap();
    let got = store.ledger_entries("a").unwrap();
    assert_eq!(
        got.iter().map(|e| e.balance).collect::<Vec<_>>(),
        vec![None, None]
    );
    assert_eq!(got[0].amount, dec!(-24.5000));
}
