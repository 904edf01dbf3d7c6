//! The golden account of fixtures/golden/: its report files were worked out by hand (see
//! WORKING.md there); the export must reproduce them byte for byte.

use crate::harness::{run_bin, stderr};
use kraken_tax::domain::RawRecord;
use kraken_tax::kraken::wire::{Envelope, LedgersResult, ledger_entry};
use kraken_tax::store::{Source, Store};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name)
}

/// Loads the fixture ledger (Kraken's `Ledgers` answer) into a new database.
fn load_ledger(db: &Path) {
    let text = std::fs::read_to_string(fixture("ledger.json")).unwrap();
    let envelope: Envelope = serde_json::from_str(&text).unwrap();
    let result: LedgersResult = serde_json::from_str(envelope.result.unwrap().get()).unwrap();
    let rows: Vec<RawRecord<_>> = result
        .ledger
        .iter()
        .map(|(id, raw)| ledger_entry(id, raw).unwrap())
        .collect();
    let mut store = Store::open(db).unwrap();
    let out = store
        .insert_ledger_entries("golden", &rows, Source::Api)
        .unwrap();
    assert_eq!(out.inserted, 23);
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
    let export = |fees: &str| {
        vec![
            "export",
            "--year",
            "2025",
            "--currency",
            "EUR",
            "--offline",
            "--format",
            "csv",
            "--fees",
            fees,
            "--out",
            out_dir.to_str().unwrap(),
            "--db",
            &db_arg,
            "--account",
            "golden",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let out = run_bin(export("net"), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One unclassified leg: a warning with its count and example, on stderr.
    assert!(
        stderr(&out).contains("1 leg(s) are unclassified (e.g. LGD020-AAAAA-000020"),
        "{}",
        stderr(&out)
    );
    for (got, want) in [
        ("carf-summary-2025-EUR.csv", "expected-summary-2025-EUR.csv"),
        (
            "carf-transactions-2025-EUR.csv",
            "expected-transactions-2025-EUR.csv",
        ),
    ] {
        let got_text = std::fs::read_to_string(out_dir.join(got)).unwrap();
        let want_text = std::fs::read_to_string(fixture(want)).unwrap();
        assert_eq!(got_text, want_text, "{got} differs from {want}");
    }
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
    // A year without entries: exit 1 with one sentence, unless --allow-empty.
    let mut empty = export("net");
    empty[2] = "2023".to_owned();
    let out = run_bin(empty.clone(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: account \"golden\" has no ledger entries in 2023 (UTC); sync first, or pass --allow-empty for empty reports\n"
    );
    empty.push("--allow-empty".to_owned());
    let out = run_bin(empty, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let header_only = std::fs::read_to_string(out_dir.join("carf-summary-2023-EUR.csv")).unwrap();
    assert_eq!(header_only.lines().count(), 1);
}
