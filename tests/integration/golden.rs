//! The golden account of fixtures/golden/: its report files were worked out by hand (see
//! WORKING.md there); the export must reproduce them byte for byte.

use crate::harness::{run_bin, stderr};
use kraken_tax::domain::RawRecord;
use kraken_tax::kraken::wire::{Envelope, LedgersResult, ledger_entry};
use kraken_tax::store::{Source, Store};
use std::path::{Path, PathBuf};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name)
}

/// Stores Kraken's `Ledgers` answer `text` in the database `db` as account `account`; returns
/// how many entries were new.
pub(crate) fn store_ledger_answer(db: &Path, account: &str, text: &str) -> u64 {
    let envelope: Envelope = serde_json::from_str(text).unwrap();
    let result: LedgersResult = serde_json::from_str(envelope.result.unwrap().get()).unwrap();
    let rows: Vec<RawRecord<_>> = result
        .ledger
        .iter()
        .map(|(id, raw)| ledger_entry(id, raw).unwrap())
        .collect();
    let mut store = Store::open(db).unwrap();
    store
        .insert_ledger_entries(account, &rows, Source::Api)
        .unwrap()
        .inserted
}

/// Loads the fixture ledger (Kraken's `Ledgers` answer) into a new database.
pub(crate) fn load_ledger(db: &Path) {
    let text = std::fs::read_to_string(fixture("ledger.json")).unwrap();
    assert_eq!(store_ledger_answer(db, "golden", &text), 23);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_account_exports_the_hand_worked_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("golden.sqlite");
    load_ledger(&db);
    let db_arg = db.display().to_string();
    let mut import = vec!["prices".to_owned(), "import".to_owned()];
    for f in [
        "XBTEUR_1440.csv",
        "ETHEUR_1440.csv",
        "DOTEUR_1440.csv",
        "FLREUR_1440.csv",
        "EURUSD_1440.csv",
    ] {
        import.push(fixture(f).display().to_string());
    }
    import.extend(["--db".to_owned(), db_arg.clone(), "-q".to_owned()]);
    let out = run_bin(import, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out_dir = dir.path().join("out");
    let export_to = |out: &Path, fees: &str, format: &str| {
        vec![
            "export",
            "--year",
            "2025",
            "--currency",
            "EUR",
            "--offline",
            "--format",
            format,
            "--fees",
            fees,
            "--out",
            out.to_str().unwrap(),
            "--db",
            &db_arg,
            "--account",
            "golden",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let export = |fees: &str| export_to(&out_dir, fees, "csv");
    let out = run_bin(export("net"), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One unclassified leg: a warning with its count and example, on stderr.
    assert!(
        stderr(&out).contains("1 leg is unclassified (e.g. LGD020-AAAAA-000020"),
        "{}",
        stderr(&out)
    );
    let compare = |dir: &Path, pairs: &[(&str, &str)]| {
        for (got, want) in pairs {
            let got_text = std::fs::read_to_string(dir.join(got)).unwrap();
            let want_text = std::fs::read_to_string(fixture(want)).unwrap();
            assert_eq!(got_text, want_text, "{got} differs from {want}");
        }
    };
    compare(
        &out_dir,
        &[
            ("carf-summary-2025-EUR.csv", "expected-summary-2025-EUR.csv"),
            (
                "carf-transactions-2025-EUR.csv",
                "expected-transactions-2025-EUR.csv",
            ),
        ],
    );
    // Gross fees: the same legs, acquisitions including and disposals before fees; the
    // transfers unchanged.
    let gross_dir = dir.path().join("gross");
    let out = run_bin(export_to(&gross_dir, "gross", "csv"), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    compare(
        &gross_dir,
        &[
            (
                "carf-summary-2025-EUR.csv",
                "expected-summary-2025-EUR-gross.csv",
            ),
            (
                "carf-transactions-2025-EUR.csv",
                "expected-transactions-2025-EUR-gross.csv",
            ),
        ],
    );
    // The XML, with the user's identity configured: valid against the schema, and the
    // hand-worked file once the per-file parts (MessageRefId, DocRefIds, Timestamp) are
    // normalised.
    let config = dir.path().join("config.toml");
    std::fs::copy(fixture("config.toml"), &config).unwrap();
    let xml_dir = dir.path().join("xml");
    let mut with_config = export_to(&xml_dir, "net", "xml");
    with_config.extend(["--config".to_owned(), config.display().to_string()]);
    let out = run_bin(with_config.clone(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = std::fs::read_to_string(xml_dir.join("carf-2025-EUR.xml")).unwrap();
    crate::carf_schema::assert_valid(&xml);
    let want = std::fs::read_to_string(fixture("expected-carf-2025-EUR.xml")).unwrap();
    assert_eq!(normalise_xml(&xml), want);
    // Another export of the same year: new MessageRefId and DocRefIds, same figures.
    let out = run_bin(with_config, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = std::fs::read_to_string(xml_dir.join("carf-2025-EUR.xml")).unwrap();
    let ids = |x: &str| {
        x.lines()
            .filter(|l| l.contains("RefId>"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&xml).len(), 3);
    for (a, b) in ids(&xml).iter().zip(ids(&again)) {
        assert_ne!(*a, b);
    }
    assert_eq!(normalise_xml(&again), want);
    // --draft where nothing is missing: the valid file, not a draft.
    std::fs::remove_file(xml_dir.join("carf-2025-EUR.xml")).unwrap();
    let mut draft_valid = export_to(&xml_dir, "net", "xml");
    draft_valid.extend([
        "--config".to_owned(),
        config.display().to_string(),
        "--draft".to_owned(),
    ]);
    let out = run_bin(draft_valid, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!xml_dir.join("carf-2025-EUR.draft.xml").exists());
    let valid = std::fs::read_to_string(xml_dir.join("carf-2025-EUR.xml")).unwrap();
    assert_eq!(normalise_xml(&valid), want);

    // Without the identity: no XML, the CSV files, exactly what is missing, exit 1.
    let bare_dir = dir.path().join("bare");
    let out = run_bin(export_to(&bare_dir, "net", "csv,xml"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let xml_path = bare_dir.join("carf-2025-EUR.xml");
    let summary_path = bare_dir.join("carf-summary-2025-EUR.csv");
    let transactions_path = bare_dir.join("carf-transactions-2025-EUR.csv");
    assert!(
        stderr(&out).ends_with(&format!(
            "error: no {} written: a valid CARF XML needs the user's [identity] first_name, [identity] last_name, [identity] tin, [identity] country, [identity] city, [identity] birth_date (set them in the config file). The CSV files were written ({}, {}). Pass --draft to write carf-2025-EUR.draft.xml with marked placeholders instead (a reconciliation aid, not valid for filing).\n",
            xml_path.display(),
            summary_path.display(),
            transactions_path.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!xml_path.exists());
    assert_eq!(
        std::fs::read_to_string(&summary_path).unwrap(),
        std::fs::read_to_string(fixture("expected-summary-2025-EUR.csv")).unwrap()
    );
    // --draft: carf-2025-EUR.draft.xml, marked, and not valid (no BirthInfo, XX countries).
    let mut draft = export_to(&bare_dir, "net", "csv,xml");
    draft.push("--draft".to_owned());
    let out = run_bin(draft, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!xml_path.exists());
    let text = std::fs::read_to_string(bare_dir.join("carf-2025-EUR.draft.xml")).unwrap();
    assert!(text.contains("<Warning>DRAFT, not valid for filing:"));
    assert!(text.contains("<ResCountryCode>XX</ResCountryCode>"));
    let errors = crate::carf_schema::validate(&text);
    assert!(
        errors.iter().any(|e| e.contains("BirthInfo required"))
            && errors
                .iter()
                .any(|e| e.contains("\"XX\" is not an ISO 3166")),
        "{errors:?}"
    );
    // The identity given: the valid file, and the draft of the earlier export is removed.
    let mut with_identity = export_to(&bare_dir, "net", "csv,xml");
    with_identity.extend(["--config".to_owned(), config.display().to_string()]);
    let out = run_bin(with_identity, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(xml_path.exists());
    assert!(!bare_dir.join("carf-2025-EUR.draft.xml").exists());
    // Refused again: the valid file of the earlier export is removed (it would sit beside
    // CSV files it no longer matches), and the refusal says so.
    let out = run_bin(export_to(&bare_dir, "net", "csv,xml"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!xml_path.exists());
    assert!(
        stderr(&out).contains(&format!(
            "removed {} from an earlier export: it no longer matches the CSV files",
            xml_path.display()
        )),
        "{}",
        stderr(&out)
    );
    // Prices missing (USD: no imported price for most legs): the groups without any value
    // are named, with how to supply the prices.
    let mut usd = export_to(&bare_dir, "net", "xml");
    usd[4] = "USD".to_owned();
    usd.extend(["--config".to_owned(), config.display().to_string()]);
    let out = run_bin(usd, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a value in USD for BTC CryptoFiatIn (1 transaction without a price), BTC CryptoFiatOut (1 transaction without a price), BTC CryptoToCryptoOut (1 transaction without a price), DOT CryptoTransferIn CARF502 (2 transactions without a price), DOT CryptoTransferIn CARF509 (1 transaction without a price), ETH CryptoToCryptoIn (1 transaction without a price), ETH CryptoTransferOut CARF606 (1 transaction without a price), FLR CryptoTransferIn CARF501 (1 transaction without a price): import a price table with `kraken-tax prices import`, or export without --offline."),
        "{}",
        stderr(&out)
    );
    assert!(!bare_dir.join("carf-2025-USD.xml").exists());
    // A character XML 1.0 forbids in the config: refused when the config is read (exit 2).
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[identity]\ntin = \"\\u0000\"\n").unwrap();
    let mut with_bad = export_to(&bare_dir, "net", "xml");
    with_bad.extend(["--config".to_owned(), bad.display().to_string()]);
    let out = run_bin(with_bad, &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: config file {} is invalid: [identity] tin contains the character U+0000, which XML 1.0 forbids: remove it\n",
            bad.display()
        )
    );
    // The hand-worked files follow the schemas too (they use fx:import, which the generated
    // accounts of the schema test never produce).
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/csv");
    crate::export::validate(
        &fixture("expected-summary-2025-EUR.csv"),
        &schemas.join("carf-summary.schema.json"),
    );
    crate::export::validate(
        &fixture("expected-transactions-2025-EUR.csv"),
        &schemas.join("carf-transactions.schema.json"),
    );
    // status reports the unclassified leg.
    let status = run_bin(
        ["status", "--db", &db_arg, "--account", "golden"]
            .map(str::to_owned)
            .to_vec(),
        &[],
    )
    .await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("  warning: 1 unclassified leg (as of the last sync, rebuild or export): see `kraken-tax rebuild`"),
        "{text}"
    );
    // --strict turns the warning into exit 1 (the files are still written).
    let mut strict = export("net");
    strict.push("--strict".to_owned());
    let out = run_bin(strict, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A year without entries: a usage error (exit 2) with one sentence, unless --allow-empty.
    let mut empty = export("net");
    empty[2] = "2023".to_owned();
    let out = run_bin(empty.clone(), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: account \"golden\" has no ledger entries in 2023 (UTC); run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --allow-empty for empty reports\n"
    );
    empty.push("--allow-empty".to_owned());
    let out = run_bin(empty, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let header_only = std::fs::read_to_string(out_dir.join("carf-summary-2023-EUR.csv")).unwrap();
    assert_eq!(header_only.lines().count(), 1);
}

/// The XML with its per-file parts replaced by fixed words: the `MessageRefId` (time and
/// random bits), the `DocRefId`s derived from it, and the `Timestamp`.
fn normalise_xml(xml: &str) -> String {
    let re = regex::Regex::new(r"<MessageRefId>([^<]+)</MessageRefId>").unwrap();
    let id = re.captures(xml).expect("a MessageRefId")[1].to_owned();
    assert!(
        regex::Regex::new(r"^IE2025IE-KT-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}$")
            .unwrap()
            .is_match(&id),
        "{id}"
    );
    let xml = xml.replace(&id, "MESSAGE-REF-ID");
    regex::Regex::new(r"<Timestamp>[^<]+</Timestamp>")
        .unwrap()
        .replace(&xml, "<Timestamp>TIMESTAMP</Timestamp>")
        .into_owned()
}
