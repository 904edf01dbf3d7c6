//! `report`: the page and the workbook read back and compared with the files they show;
//! the page is self-contained; a real headless Chromium renders it (marks and overflow).

use calamine::{Data, Reader, Xlsx, open_workbook};
use kraken_tax::config::{Common, ExportFlags, FileConfig, export_plan};
use kraken_tax::domain::ReportCurrency;
use kraken_tax::export::FeeTreatment;
use kraken_tax::export::run::ExportFormat;
use kraken_tax::gains::csv as gcsv;
use kraken_tax::report::files::{FileKind, read_table};
use kraken_tax::report::run::write_report;
use kraken_tax::report::{Cell, Facts, Table, unhuman};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

const CARF_SUMMARY: &str = "year,account,crypto_asset,asset_name,element,type_code,type_label,number_of_transactions,number_of_units,amount,currency,fee_treatment,alt_valuation,unpriced_transactions
2024,main,BTC,Bitcoin,CryptoFiatIn,,,2,0.7500000000,31234.56,EUR,net,,0
2024,main,BTC,Bitcoin,CryptoFiatOut,,,1,0.2500000000,15000.10,EUR,net,,1
2024,main,ETH,Ethereum,CryptoToCryptoIn,,,1,2.5,5000.00,EUR,net,,0
";

const CARF_TX: &str = "time_utc,account,ledger_id,refid,kraken_type,kraken_subtype,kraken_asset,crypto_asset,element,type_code,units,fee_units,amount_gross,fee_amount,amount,currency,price,price_source,counter_asset,counter_units,note
2024-01-15T10:00:00.123456Z,main,L1,R1,trade,tradespot,XXBT,BTC,CryptoFiatIn,,0.5000000000,0,20100.00,100.00,20000.00,EUR,40000,trade:EUR,EUR,20000,
2024-03-02T11:00:00.000000Z,main,L2,R2,trade,tradespot,XXBT,BTC,CryptoFiatIn,,0.2500000000,0,11234.56,0,11234.56,EUR,44938.24,trade:EUR,EUR,11234.56,
2024-07-20T09:30:00.000000Z,main,L3,R3,trade,tradespot,XXBT,BTC,CryptoFiatOut,,0.2500000000,0,15000.10,0,15000.10,EUR,60000.4,trade:EUR,EUR,15000.10,
2024-07-21T09:30:00.000000Z,main,L4,R4,trade,tradespot,XXBT,BTC,CryptoFiatOut,,0.0100000000,0,,,,EUR,,,EUR,600,no price
2024-09-01T08:00:00.000000Z,main,L5,R5,trade,tradespot,XETH,ETH,CryptoToCryptoIn,,2.5,0,5000.00,0,5000.00,EUR,2000,kraken:ETHEUR,BTC,0.08,
";

fn gains_summary() -> String {
    format!(
        "{}\n2024,main,BTC,1,15000.10,10000.00,0.00,5000.10,0.00,5000.10,5000.10,0.00,0.00,0.00,0,0,fifo,EUR\n2024,main,ETH,2,1200.00,1500.50,1.25,0.00,301.75,-301.75,-301.75,0.00,0.00,12.34,1,0,fifo,EUR\n2024,main,TOTAL,3,16200.10,11500.50,1.25,5000.10,301.75,4698.35,4698.35,0.00,0.00,12.34,1,0,fifo,EUR\n",
        gcsv::SUMMARY_COLUMNS.join(",")
    )
}

fn write_fixture(dir: &Path) {
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    w("carf-summary-2024-EUR.csv", CARF_SUMMARY);
    w("carf-transactions-2024-EUR.csv", CARF_TX);
    w("gains-summary-2024-EUR-fifo.csv", &gains_summary());
    w(
        "gains-disposals-2024-EUR-fifo.csv",
        &format!(
            "{}\n2024-07-20T09:30:00.000000Z,main,L3,R3,BTC,sale,0.25,15000.10,10000.00,0.00,5000.10,2024-01-15T10:00:00.123456Z,L1,187,short,fifo,ledger,\n2024-10-01T00:00:00.000000Z,main,L6,R6,ETH,sale,1,1200.00,1500.50,1.25,-301.75,,,,short,fifo,ledger,\n2024-10-02T00:00:00.000000Z,main,L7,R7,ETH,sale,0.5,0,,,,,,,,fifo,unknown,unknown cost\n",
            gcsv::DISPOSAL_COLUMNS.join(",")
        ),
    );
    w(
        "gains-income-2024-EUR.csv",
        &format!(
            "{}\n2024-02-01T00:00:00.000000Z,main,L8,R8,staking,,ETH,0.01,20.00,2000,kraken:ETHEUR,staking\n2024-02-08T00:00:00.000000Z,main,L9,R9,staking,,ETH,0.005,10.5,2100,kraken:ETHEUR,staking\n2024-11-08T00:00:00.000000Z,main,L10,R10,earn,,DOT,1.234567,1234.5678,1000.4,kraken:DOTEUR,earn\n",
            gcsv::INCOME_COLUMNS.join(",")
        ),
    );
    w(
        "gains-margin-2024-EUR.csv",
        &format!(
            "{}\n2024-05-05T12:00:00.000000Z,main,L11,R11,margin,,ZEUR,-12.5,0.1,-12.5,trade:EUR\n",
            gcsv::MARGIN_COLUMNS.join(",")
        ),
    );
    w(
        "holdings-2024-EUR-fifo.csv",
        &format!(
            "{}\n2024,main,BTC,0,0.49,21234.56,0,0,90000.5,44100.245,fifo,EUR\n2024,main,ETH,0,1.015,3000,0.5,0,3000,3045.00,fifo,EUR\n2024,main,DOT,0,1.234567,0,0,0,,,fifo,EUR\n",
            gcsv::HOLDING_COLUMNS.join(",")
        ),
    );
}

fn facts() -> Facts {
    Facts {
        account: "main".into(),
        last_sync: Some("started 2025-01-02T00:00:00Z, complete".into()),
        verify: Some("consistent, checked 2025-01-02T00:01:00Z".into()),
        gaps: 0,
        consistent: Some(true),
        unclassified: 3,
        identity_missing: vec!["tin".into()],
    }
}

/// Writes the fixture and the report (both formats) into a new directory.
fn report(dir: &Path) -> Vec<PathBuf> {
    write_fixture(dir);
    let plan = export_plan(
        &Common {
            db: dir.join("db.sqlite"),
            account: "main".into(),
            quiet: true,
        },
        &FileConfig::default(),
        ExportFlags {
            year: 2024,
            currency: Some(ReportCurrency::Eur),
            out: Some(dir.to_owned()),
            fees: Some(FeeTreatment::Net),
            tz: Some(chrono_tz::UTC),
            formats: Some(vec![ExportFormat::Csv]),
            allow_empty: true,
            strict: false,
            offline: true,
            draft: false,
            api_url: None,
        },
    )
    .unwrap();
    let (files, gains) = write_report(&plan, "fifo", &facts(), true, true).unwrap();
    assert!(gains);
    files
}

fn table_of(dir: &Path, name: &str) -> Table {
    let kind = [
        FileKind::CarfSummary,
        FileKind::CarfTransactions,
        FileKind::GainsSummary,
        FileKind::Disposals,
        FileKind::Income,
        FileKind::Margin,
        FileKind::Holdings,
    ]
    .into_iter()
    .find(|k| k.file_name(2024, "EUR", "fifo") == name)
    .unwrap_or_else(|| panic!("unknown file {name}"));
    read_table(kind, &dir.join(name)).unwrap()
}

/// The raw CSV text of a cell.
fn raw(dir: &Path, name: &str, col: &str, row: usize) -> String {
    let mut r = csv::Reader::from_path(dir.join(name)).unwrap();
    let c = r.headers().unwrap().iter().position(|h| h == col).unwrap();
    r.records()
        .nth(row)
        .unwrap()
        .unwrap()
        .get(c)
        .unwrap()
        .to_owned()
}

#[test]
fn every_figure_of_the_page_is_the_files_value() {
    let dir = tempfile::tempdir().unwrap();
    report(dir.path());
    let page = std::fs::read_to_string(dir.path().join("report-2024-EUR.html")).unwrap();
    let doc = scraper::Html::parse_document(&page);
    let fig = scraper::Selector::parse(".fig").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for el in doc.select(&fig) {
        let v = el.value();
        let (f, c, r) = (
            v.attr("data-f").unwrap(),
            v.attr("data-c").unwrap(),
            v.attr("data-r").unwrap().parse::<usize>().unwrap(),
        );
        let shown: String = el.text().collect();
        let csv = raw(dir.path(), f, c, r);
        match csv.parse::<Decimal>() {
            // Exactly the file's digits: same value and same scale.
            Ok(d) if !c.ends_with("_utc") => assert_eq!(
                unhuman(&shown).map(|s| s.to_string()),
                Some(d.to_string()),
                "{f} {c} row {r}: shown {shown:?}"
            ),
            // Times to the second, as people read them.
            _ if c.ends_with("_utc") => assert_eq!(
                shown,
                chrono::DateTime::parse_from_rfc3339(&csv)
                    .unwrap()
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                "{f} {c} row {r}"
            ),
            _ => assert_eq!(shown, csv, "{f} {c} row {r}"),
        }
        seen.insert(format!("{f}:{c}:{r}"));
    }
    // The totals come from the TOTAL row, the amounts from the summary rows.
    for must in [
        "gains-summary-2024-EUR-fifo.csv:net_gain:2",
        "gains-summary-2024-EUR-fifo.csv:proceeds:2",
        "carf-summary-2024-EUR.csv:amount:0",
        "gains-income-2024-EUR.csv:value:2",
        "gains-margin-2024-EUR.csv:amount:0",
        "holdings-2024-EUR-fifo.csv:value_end:1",
    ] {
        assert!(seen.contains(must), "missing figure {must}");
    }
    assert!(
        page.contains("EUR\u{a0}4,698.35"),
        "the TOTAL net gain, formatted"
    );
    assert!(page.contains("EUR\u{a0}1,234.5678"));
    // The checklist: unpriced legs, unclassified, unknown costs, identity, each with a command.
    let li = scraper::Selector::parse("ul.check li").unwrap();
    let items: Vec<String> = doc.select(&li).map(|e| e.text().collect()).collect();
    assert_eq!(
        items,
        [
            "1 leg has no price in EURfix: kraken-tax prices import PAIR_1440.csv, or run `kraken-tax report --year 2024 --currency EUR` without --offline",
            "3 ledger legs are unclassifiedfix: add a rule under [classify] in the config, then kraken-tax rebuild",
            "1 disposal has an unknown costfix: kraken-tax basis import FILE",
            "the CARF XML lacks your identity: tinfix: set them under [identity] in the config, then kraken-tax export --year 2024 --currency EUR",
        ]
    );
}

#[test]
fn the_page_is_well_formed_and_refers_to_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    report(dir.path());
    let page = std::fs::read_to_string(dir.path().join("report-2024-EUR.html")).unwrap();
    let doc = scraper::Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    let lower = page.to_lowercase();
    for banned in [
        "<script", "src=", "@import", "url(", "http://", "https://", "//cdn", "<link", "<img",
        "<iframe",
    ] {
        assert!(!lower.contains(banned), "the page holds {banned:?}");
    }
    // Every link is a file beside the page.
    let a = scraper::Selector::parse("[href]").unwrap();
    for el in doc.select(&a) {
        let href = el.value().attr("href").unwrap();
        assert!(!href.contains(':') && !href.starts_with('/'), "{href}");
    }
    assert!(lower.contains("@media print") && lower.contains("size:a4"));
}

#[test]
fn a_gains_less_report_says_how_to_compute_them() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    std::fs::remove_file(dir.path().join("gains-summary-2024-EUR-fifo.csv")).unwrap();
    let plan = export_plan(
        &Common {
            db: dir.path().join("db.sqlite"),
            account: "main".into(),
            quiet: true,
        },
        &FileConfig::default(),
        ExportFlags {
            year: 2024,
            currency: Some(ReportCurrency::Eur),
            out: Some(dir.path().to_owned()),
            fees: Some(FeeTreatment::Net),
            tz: Some(chrono_tz::UTC),
            formats: Some(vec![ExportFormat::Csv]),
            allow_empty: true,
            strict: false,
            offline: true,
            draft: false,
            api_url: None,
        },
    )
    .unwrap();
    let (_, gains) = write_report(&plan, "uk", &facts(), true, false).unwrap();
    assert!(!gains);
    let page = std::fs::read_to_string(dir.path().join("report-2024-EUR.html")).unwrap();
    assert!(page.contains("gains were not computed for method uk<br>fix: <code>kraken-tax gains --year 2024 --currency EUR --method uk</code>"));
}

fn sheet(path: &Path, name: &str) -> calamine::Range<Data> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    book.worksheet_range(name).unwrap()
}

#[test]
fn every_cell_of_the_workbook_is_the_files_value_and_the_sums_are_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    report(dir.path());
    let xlsx = dir.path().join("report-2024-EUR.xlsx");
    let names: Vec<String> = {
        let book: Xlsx<_> = open_workbook(&xlsx).unwrap();
        book.sheet_names()
    };
    assert_eq!(
        names,
        [
            "CARF summary",
            "CARF transactions",
            "Gains summary",
            "Disposals",
            "Income",
            "Margin",
            "Holdings",
            "Checklist"
        ]
    );
    for (sheet_name, file) in [
        ("CARF summary", "carf-summary-2024-EUR.csv"),
        ("CARF transactions", "carf-transactions-2024-EUR.csv"),
        ("Gains summary", "gains-summary-2024-EUR-fifo.csv"),
        ("Disposals", "gains-disposals-2024-EUR-fifo.csv"),
        ("Income", "gains-income-2024-EUR.csv"),
        ("Margin", "gains-margin-2024-EUR.csv"),
        ("Holdings", "holdings-2024-EUR-fifo.csv"),
    ] {
        let t = table_of(dir.path(), file);
        let range = sheet(&xlsx, sheet_name);
        for (c, name) in t.columns.iter().enumerate() {
            assert_eq!(
                range.get((0, c)),
                Some(&Data::String(name.clone())),
                "{sheet_name} header"
            );
        }
        for (r, row) in t.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let got = range.get((r + 1, c)).cloned().unwrap_or(Data::Empty);
                let ok = match (cell, &got) {
                    (Cell::Empty, Data::Empty) => true,
                    (Cell::Text(s), Data::String(g)) => s == g,
                    (Cell::Num(d), Data::Float(f)) => d.to_string().parse::<f64>().unwrap() == *f,
                    (Cell::Time(t), Data::DateTime(g)) => {
                        g.is_datetime()
                            && ((g.as_f64() - 25569.0) * 86_400_000.0).round() as i64
                                == t.timestamp_millis()
                    }
                    _ => false,
                };
                assert!(
                    ok,
                    "{sheet_name} row {} col {}: {cell:?} vs {got:?}",
                    r + 1,
                    t.columns[c]
                );
            }
        }
    }
    // Line-item sheets end with SUM formulas cached at the column's exact sum.
    let mut book: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let formulas = book.worksheet_formula("Income").unwrap();
    let values = book.worksheet_range("Income").unwrap();
    let value_col = gcsv::INCOME_COLUMNS
        .iter()
        .position(|c| *c == "value")
        .unwrap();
    assert_eq!(values.get((4, 0)), Some(&Data::String("SUM".into())));
    assert_eq!(values.get((4, value_col)), Some(&Data::Float(1265.0678)));
    // Units of different assets and prices are not added up.
    for col in ["units", "price"] {
        let c = gcsv::INCOME_COLUMNS.iter().position(|x| *x == col).unwrap();
        assert_eq!(values.get((4, c)), Some(&Data::Empty), "{col}");
    }
    let f = formulas.get((
        4 - formulas.start().unwrap().0 as usize,
        value_col - formulas.start().unwrap().1 as usize,
    ));
    assert_eq!(f.map(String::as_str), Some("SUM(I2:I4)"));
    // The gains summary's TOTAL row: SUMs whose cached values are the file's totals.
    let t = table_of(dir.path(), "gains-summary-2024-EUR-fifo.csv");
    let values = book.worksheet_range("Gains summary").unwrap();
    let formulas = book.worksheet_formula("Gains summary").unwrap();
    let fstart = formulas.start().unwrap();
    for col in [
        "disposals",
        "proceeds",
        "cost",
        "fees",
        "gains",
        "losses",
        "net_gain",
        "income",
    ] {
        let c = t.col(col).unwrap();
        let total = t.get(&t.rows[2], col).num().unwrap();
        assert_eq!(
            values.get((3, c)),
            Some(&Data::Float(total.to_string().parse().unwrap())),
            "{col}"
        );
        let letter = (b'A' + c as u8) as char;
        assert_eq!(
            formulas
                .get((3 - fstart.0 as usize, c - fstart.1 as usize))
                .map(String::as_str),
            Some(format!("SUM({letter}2:{letter}3)").as_str()),
            "{col}"
        );
    }
    let checks = book.worksheet_range("Checklist").unwrap();
    assert_eq!(
        checks.get((3, 1)),
        Some(&Data::String("kraken-tax basis import FILE".into()))
    );
}

/// The check injected into a copy of the page (never into the written report): per chart,
/// marks against data points; any box whose text overflows it.
const CHECK: &str = r#"<script>
window.addEventListener('load', () => {
  const out = {charts: [], overflow: []};
  for (const svg of document.querySelectorAll('svg.chart')) {
    out.charts.push([svg.closest('figure').id, +svg.dataset.points, svg.querySelectorAll('.mark').length]);
    const box = svg.viewBox.baseVal;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5 || b.y + b.height > box.y + box.height + 0.5)
        out.overflow.push('svg text ' + t.textContent);
    }
  }
  for (const el of document.querySelectorAll('td, th, li, .facts div, figcaption, p, h1, h2, h3')) {
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline')
      out.overflow.push(el.tagName + ' ' + el.textContent.slice(0, 40));
  }
  document.body.setAttribute('data-check', JSON.stringify(out));
});
</script>"#;

#[test]
fn chromium_renders_one_mark_per_data_point_and_no_overflow() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        println!("SKIPPED: chromium not installed (apt-get install -y chromium)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    report(dir.path());
    let page = std::fs::read_to_string(dir.path().join("report-2024-EUR.html")).unwrap();
    let copy = dir.path().join("check.html");
    std::fs::write(&copy, page.replace("</body>", &format!("{CHECK}</body>"))).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[String], target: &Path| {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1280,4000".into(),
        ];
        args.extend_from_slice(extra);
        args.push(format!("file://{}", target.display()));
        let out = std::process::Command::new(chromium)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let shot = dir.path().join("report.png");
    run(
        &[format!("--screenshot={}", shot.display())],
        &dir.path().join("report-2024-EUR.html"),
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 10_000,
        "an empty screenshot: {} bytes",
        png.len()
    );
    let dom = run(
        &["--dump-dom".into(), "--virtual-time-budget=2000".into()],
        &copy,
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    let doc = scraper::Html::parse_document(&dom);
    let body = doc
        .select(&scraper::Selector::parse("body").unwrap())
        .next()
        .unwrap();
    let check: serde_json::Value =
        serde_json::from_str(body.value().attr("data-check").expect("the check ran")).unwrap();
    let charts: Vec<(String, u64, u64)> = check["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_owned(),
                c[1].as_u64().unwrap(),
                c[2].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        charts,
        [
            ("chart-holdings".to_owned(), 2, 2),
            ("chart-monthly".to_owned(), 24, 24),
            ("chart-gains".to_owned(), 4, 4),
            ("chart-income".to_owned(), 12, 12),
        ]
    );
    assert_eq!(check["overflow"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_command_exports_and_writes_the_page_and_workbook() {
    use std::os::unix::fs::PermissionsExt;
    let env = crate::harness::Env::generated(7, 400).await;
    let key = env.key_file();
    let synced = env
        .run_sync_bin(&["--key-file", key.to_str().unwrap()], &[])
        .await;
    assert_eq!(
        synced.status.code(),
        Some(0),
        "{}",
        crate::harness::stderr(&synced)
    );
    let out_dir = env.dir.path().join("report-out");
    let args: Vec<String> = [
        "report",
        "--db",
        env.db.to_str().unwrap(),
        "--account",
        crate::harness::ACCOUNT,
        "--year",
        "2025",
        "--currency",
        "EUR",
        "--offline",
        "--format",
        "html,xlsx",
        "--out",
        out_dir.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = crate::harness::run_bin(args, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::stderr(&out)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let html = out_dir.join("report-2025-EUR.html");
    let xlsx = out_dir.join("report-2025-EUR.xlsx");
    assert_eq!(
        stdout,
        format!(
            "wrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\nwrote {}\n",
            out_dir.join("carf-summary-2025-EUR.csv").display(),
            out_dir.join("carf-transactions-2025-EUR.csv").display(),
            out_dir.join("gains-disposals-2025-EUR-fifo.csv").display(),
            out_dir.join("gains-income-2025-EUR.csv").display(),
            out_dir.join("gains-margin-2025-EUR.csv").display(),
            out_dir.join("holdings-2025-EUR-fifo.csv").display(),
            out_dir.join("gains-summary-2025-EUR-fifo.csv").display(),
            out_dir.join("gains-income-months-2025-EUR.csv").display(),
            html.display(),
            xlsx.display()
        )
    );
    for f in [&html, &xlsx] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let page = std::fs::read_to_string(&html).unwrap();
    let facts = &page
        [page.find("<div class=\"facts\">").unwrap()..page.find("<h2 id=\"attention\">").unwrap()];
    assert!(facts.contains("<b>Last sync</b>started "), "{facts}");
    // The report computed the gains of its method: nothing to fix there.
    assert!(
        !page.contains(
            "fix: <code>kraken-tax gains --year 2025 --currency EUR --method fifo</code>"
        )
    );
    // The sync verified the history after it.
    assert!(
        facts.contains("<b>Verification</b>consistent, checked "),
        "{facts}"
    );
    assert!(!page.contains("fix: <code>kraken-tax verify</code>"));
    let rows = read_table(
        FileKind::CarfTransactions,
        &out_dir.join("carf-transactions-2025-EUR.csv"),
    )
    .unwrap()
    .rows
    .len();
    assert!(page.contains(&format!("<b>Legs of the year</b>{rows}</div>")));
    let range = sheet(&xlsx, "CARF transactions");
    assert_eq!(range.height(), rows + 2, "header, rows, SUM row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_writes_the_report_and_prints_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let args: Vec<String> = [
        "demo",
        "--entries",
        "300",
        "--out",
        out_dir.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = crate::harness::run_bin(args, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::stderr(&out)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let html = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("a report page");
    let name = html.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("report-") && name.ends_with("-EUR.html"),
        "{name}"
    );
    assert!(
        stdout.contains(&format!("  {}\n", html.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  {}\n", html.with_extension("xlsx").display())),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<b>Account</b>demo</div>"));
}
