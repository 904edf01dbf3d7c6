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
    assert!(
        e.to_string()
            .starts_with("export.zip: not a readable zip archive:"),
        "{e}"
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
