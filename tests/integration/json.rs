//! `--json` on status, sync, import, export, gains and report: one JSON object on stdout,
//! valid against its schema under `schemas/json/`.

use crate::harness::{ACCOUNT, Env, run_bin, stderr};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = format!(
        "{}/schemas/json/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The one JSON object of `out`, checked against its schema.
fn valid(out: &std::process::Output, name: &str) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    let schema = schema(name);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?} in {value}");
    // The schema bites: the same object without its command is refused.
    let mut broken = value.clone();
    broken.as_object_mut().unwrap().remove("command");
    assert!(!validator.is_valid(&broken));
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_status_json_follow_their_schemas() {
    let env = Env::generated(21, 60).await;
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(&["--json", "--key-file", key_file.to_str().unwrap()], &[])
        .await;
    let sync = valid(&out, "sync");
    let total = (env.dataset.ledger.len() + env.dataset.trades.len()) as u64;
    assert_eq!(sync["outcome"], "complete");
    assert_eq!(sync["new_entries"].as_u64(), Some(total));
    assert_eq!(
        sync["streams"]["ledgers"]["new"].as_u64(),
        Some(env.dataset.ledger.len() as u64)
    );
    assert_eq!(sync["warnings"], serde_json::json!([]));
    let db = env.db.display().to_string();
    let out = run_bin(
        ["status", "--json", "--db", &db, "--account", ACCOUNT]
            .map(String::from)
            .to_vec(),
        &[],
    )
    .await;
    let status = valid(&out, "status");
    assert_eq!(status["known"], true);
    assert_eq!(status["streams"][0]["stream"], "ledgers");
    assert_eq!(
        status["streams"][0]["entries"].as_u64(),
        Some(env.dataset.ledger.len() as u64)
    );
    assert_eq!(status["streams"][0]["sync"], "complete");
    assert_eq!(status["last_sync"]["outcome"], "ok");
    assert!(status["last_complete_sync"].is_string());
}

const V4: &str = "\"txid\",\"refid\",\"time\",\"type\",\"subtype\",\"aclass\",\"subclass\",\"asset\",\"wallet\",\"amount\",\"fee\",\"balance\"";
const ROW1: &str = "\"L4UESK-KG3EQ-UFO4T5\",\"TJKLXF-PGMUI-4NTLXU\",\"2023-07-04 09:54:44\",\"trade\",\"tradespot\",\"currency\",\"fiat\",\"GBP\",\"spot / main\",\"-24.5000\",\"0.0490\",\"459567.9171\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_export_json_follow_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite").display().to_string();
    let file = dir.path().join("ledgers.csv");
    std::fs::write(&file, format!("{V4}\n{ROW1}\n\"bad\"\n")).unwrap();
    let f = file.display().to_string();
    let import = |extra: &[&str]| {
        let mut args: Vec<String> = ["import", "--json", "--skip-bad", &f, "--db", &db]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        run_bin(args, &[])
    };
    let dry = valid(&import(&["--dry-run"]).await, "import");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["files"][0]["new"].as_u64(), Some(1));
    let done = valid(&import(&[]).await, "import");
    assert_eq!(done["dry_run"], false);
    let file0 = &done["files"][0];
    assert_eq!(
        (
            file0["kind"].as_str(),
            file0["rows"].as_u64(),
            file0["new"].as_u64()
        ),
        (Some("ledgers"), Some(2), Some(1))
    );
    assert_eq!(file0["bad_skipped"].as_u64(), Some(1));
    assert_eq!(file0["warnings"][0]["code"], "bad_row_skipped");
    let out_dir = dir.path().join("out").display().to_string();
    let args = [
        "export",
        "--json",
        "--year",
        "2020",
        "--currency",
        "EUR",
        "--offline",
        "--allow-empty",
        "--format",
        "csv",
        "--out",
        &out_dir,
        "--db",
        &db,
    ];
    let out = run_bin(args.map(String::from).to_vec(), &[]).await;
    let export = valid(&out, "export");
    let files: Vec<&str> = export["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!files.is_empty());
    for f in files {
        assert!(std::path::Path::new(f).exists(), "{f}");
    }
    assert_eq!(
        (export["year"].as_i64(), export["legs"].as_u64()),
        (Some(2020), Some(0))
    );
}

/// A ledgers.csv row of the type "futuresbonus", which this version does not know.
fn unknown_row(n: u32) -> String {
    format!(
        "\"LNEWTY-PE00{n:02}-ABCDEF\",\"RNEWTY-PE00{n:02}-ABCDEF\",\"2023-07-05 10:00:{n:02}\",\"futuresbonus\",\"\",\"currency\",\"fiat\",\"EUR\",\"spot / main\",\"5.0000\",\"0.0000\",\"{n}5.0000\""
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_keeps_unknown_entry_types_for_status_as_the_sync_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite").display().to_string();
    let file = dir.path().join("ledgers.csv");
    // Two entries of the unknown type, one of them twice in the file: two new entries.
    let rows = [
        ROW1.to_owned(),
        unknown_row(1),
        unknown_row(2),
        unknown_row(1),
    ];
    std::fs::write(&file, format!("{V4}\n{}\n", rows.join("\n"))).unwrap();
    let f = file.display().to_string();
    let bin = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--db", &db, "--account", ACCOUNT].map(String::from));
        run_bin(all, &[])
    };
    let warning = format!(
        "{f}: 2 new ledger entries of unknown type \"futuresbonus\" (e.g. LNEWTY-PE0001-ABCDEF), reported as unclassified until a [classify] rule covers them"
    );
    let unknown_warnings = |status: &Value| -> Vec<Value> {
        status["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["code"] == "unknown_ledger_type")
            .cloned()
            .collect()
    };
    // A database with a known entry, then a dry run: it says so too, and keeps nothing.
    let base = dir.path().join("base.csv");
    std::fs::write(&base, format!("{V4}\n{ROW1}\n")).unwrap();
    let out = bin(&["import", "-q", &base.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dry = valid(&bin(&["import", "--json", "--dry-run", &f]).await, "import");
    assert_eq!(
        dry["files"][0]["warnings"],
        serde_json::json!([{"code": "unknown_ledger_type", "message": warning}])
    );
    let json = valid(&bin(&["status", "--json"]).await, "status");
    assert_eq!(unknown_warnings(&json), Vec::<Value>::new(), "{json}");
    let out = bin(&["import", &f]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("warning: {warning}\n"));
    let status_line = regex::Regex::new(
        r#"(?m)^  warning: 2 ledger entries of unknown type "futuresbonus" stored since 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \(e\.g\. LNEWTY-PE0001-ABCDEF\), reported as unclassified until a \[classify\] rule covers them$"#,
    )
    .unwrap();
    let status = || async {
        let out = bin(&["status"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = status().await;
    assert!(status_line.is_match(&text), "{text}");
    let json = valid(&bin(&["status", "--json"]).await, "status");
    let kept = unknown_warnings(&json);
    assert_eq!(kept.len(), 1, "{json}");
    assert_eq!(
        (
            kept[0]["type"].as_str(),
            kept[0]["count"].as_u64(),
            kept[0]["example"].as_str()
        ),
        (Some("futuresbonus"), Some(2), Some("LNEWTY-PE0001-ABCDEF"))
    );
    // The same file again stores nothing new: no new warning, the count stays.
    let again = valid(&bin(&["import", "--json", &f]).await, "import");
    assert_eq!(again["files"][0]["warnings"], serde_json::json!([]));
    let text = status().await;
    assert!(status_line.is_match(&text), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gains_and_report_json_follow_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.sqlite");
    crate::gains::golden_db(&db).await;
    let out_dir = dir.path().join("out");
    let common = [
        "--currency",
        "EUR",
        "--offline",
        "--json",
        "--out",
        out_dir.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--account",
        "golden",
    ];
    let run = |command: &[&str]| {
        let mut a: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        a.extend(common.iter().map(|s| s.to_string()));
        run_bin(a, &[])
    };
    let gains = valid(
        &run(&["gains", "--year", "2026", "--method", "uk"]).await,
        "gains",
    );
    assert_eq!(
        (
            gains["period"].as_str(),
            gains["method"].as_str(),
            gains["currency"].as_str(),
            gains["start"].as_str(),
            gains["end"].as_str()
        ),
        (
            Some("2026-uk"),
            Some("uk"),
            Some("EUR"),
            Some("2025-04-05T23:00:00Z"),
            Some("2026-04-05T23:00:00Z")
        )
    );
    assert_eq!(gains["accounts"], serde_json::json!(["golden"]));
    // The fifo year: the TOTAL row of gains-summary-2025-EUR-fifo.csv, as strings.
    let gains = valid(&run(&["gains", "--year", "2025"]).await, "gains");
    let total = &gains["total"];
    let figures: Vec<&str> = ["proceeds", "cost", "fees", "net_gain", "income"]
        .iter()
        .map(|k| total[*k].as_str().unwrap())
        .collect();
    assert_eq!(figures, ["3916.00", "2826.01", "8.25", "1081.74", "5.50"]);
    assert_eq!(
        (total["disposals"].as_u64(), total["short_net"].as_str()),
        (Some(4), Some("1081.74"))
    );
    assert_eq!(total["exempt_net"], serde_json::Value::Null);
    let files: Vec<&str> = gains["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 6);
    assert!(
        files[4].ends_with("gains-summary-2025-EUR-fifo.csv")
            && files[5].ends_with("gains-income-months-2025-EUR.csv"),
        "{files:?}"
    );
    // The warning's text as the log says it, with its code.
    assert_eq!(
        gains["warnings"][0],
        serde_json::json!({
            "code": "unclassified_legs",
            "message": "1 crypto-asset leg is unclassified and left out of gains and holdings (e.g. golden LGD020-AAAAA-000020: unknown ledger type \"voucher\"): add a [[classify.rules]] entry to the config"
        })
    );
    let report = valid(
        &run(&["report", "--year", "2025", "--format", "html,xlsx"]).await,
        "report",
    );
    assert_eq!(
        (
            report["period"].as_str(),
            report["method"].as_str(),
            report["year"].as_i64()
        ),
        (Some("2025"), Some("fifo"), Some(2025))
    );
    assert_eq!(report["total"], gains["total"]);
    let report_files: Vec<&str> = report["report_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(report_files.len(), 2);
    assert!(report_files[0].ends_with("report-2025-EUR.html"));
    for f in report["files"].as_array().unwrap() {
        assert!(std::path::Path::new(f.as_str().unwrap()).exists(), "{f}");
    }
    let codes: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"unclassified_legs"), "{codes:?}");
    // The report's method, unless given, is the [gains] table's.
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[gains]\nmethod = \"hifo\"\nperiod = \"uk\"\n").unwrap();
    let mut a: Vec<String> = ["report", "--year", "2025"].map(String::from).to_vec();
    a.extend(common.iter().map(|s| s.to_string()));
    let out = run_bin(a, &[("KRAKEN_TAX_CONFIG", config.to_str().unwrap())]).await;
    let report = valid(&out, "report");
    // ... over the export's calendar year whatever the table's period.
    assert_eq!(
        (report["method"].as_str(), report["period"].as_str()),
        (Some("hifo"), Some("2025"))
    );
    assert!(out_dir.join("gains-summary-2025-EUR-hifo.csv").exists());
}
