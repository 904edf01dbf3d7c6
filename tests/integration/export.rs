//! Export: files valid against their Table Schemas, and the summary/transactions invariants
//! over generated accounts, every year.

use crate::harness::{ACCOUNT, Env};
use kraken_tax::classify::Rules;
use kraken_tax::domain::Element;
use kraken_tax::export::csv::{write_summary, write_transactions};
use kraken_tax::export::xml::{XmlIdentity, XmlReport, figures, missing, write_carf_xml};
use kraken_tax::export::{FeeTreatment, TransactionRow, YearLegs, summary, year_bounds};
use kraken_tax::kraken::parse_api_url;
use kraken_tax::kraken::public::{PublicClient, PublicConfig};
use kraken_tax::normalize::assets::AssetTable;
use kraken_tax::pricing::{FetchReport, PriceBook, prefetch, refresh_markets};
use kraken_tax::store::Store;
use regex::Regex;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A summary row's key: (asset, element, type code).
type GroupKey = (String, Element, Option<String>);

/// Syncs a generated account and values the legs of `year` as `kraken-tax export` does
/// (prices fetched from the emulator's public market), keeping the streamed rows.
async fn export_rows(
    env: &Env,
    year: i32,
    currency: &str,
    fees: FeeTreatment,
) -> Vec<TransactionRow> {
    env.sync(None).await.expect("sync");
    let mut store = Store::open(&env.db).unwrap();
    let rules = Rules::default();
    // The export's one refresh of the derived legs, which it then reads.
    kraken_tax::classify::build::ensure_fresh(&mut store, ACCOUNT, &AssetTable::default(), &rules)
        .unwrap();
    let range = YearLegs::new(
        &store,
        ACCOUNT,
        year_bounds(year, chrono_tz::Tz::UTC).unwrap(),
    );
    let mut config = PublicConfig::new(parse_api_url(&env.emu.url()).unwrap());
    config.interval = Duration::ZERO;
    let mut client = PublicClient::new(config).unwrap();
    let mut report = FetchReport::default();
    refresh_markets(&store, &mut client, &mut report).await;
    let owned = range.to_value().unwrap();
    let to_value = owned.legs();
    prefetch(
        &to_value,
        currency,
        &store,
        &mut client,
        i64::MAX / 2,
        &mut report,
    )
    .await
    .unwrap();
    let mut kraken = PriceBook::kraken(&store).unwrap();
    let mut imports = PriceBook::imports(&store).unwrap();
    let mut rows = Vec::new();
    let totals = range
        .write_year(currency, fees, &mut [&mut kraken, &mut imports], |r| {
            rows.push(TransactionRow::from(r));
            Ok(())
        })
        .unwrap();
    // The totals the export warns from are those of the rows it wrote.
    assert_eq!(totals.legs, rows.len() as u64);
    assert_eq!(
        totals.priced,
        rows.iter().filter(|r| r.amount.is_some()).count() as u64
    );
    assert_eq!(
        totals.unpriced,
        rows.iter().filter(|r| r.is_unpriced()).count() as u64
    );
    assert_eq!(
        totals.unclassified,
        rows.iter()
            .filter(|r| r.element == Element::Unclassified)
            .count() as u64
    );
    rows
}

/// Checks a CSV file against a Frictionless Table Schema: header names and order, and for
/// every cell its type and every declared constraint (required, enum, pattern, minLength,
/// minimum, maximum), plus primary-key uniqueness.
pub fn validate(csv_path: &Path, schema_path: &Path) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(header, names, "{}: header", csv_path.display());
    // A schema without a primary key (the gains disposals: one disposal may match the same
    // lot twice) has no uniqueness to check.
    let no_key = Vec::new();
    let key: Vec<usize> = schema["primaryKey"]
        .as_array()
        .unwrap_or(&no_key)
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n == &k.as_str().unwrap())
                .unwrap()
        })
        .collect();
    let mut keys = HashSet::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.unwrap();
        assert_eq!(record.len(), fields.len());
        for (field, cell) in fields.iter().zip(record.iter()) {
            let name = field["name"].as_str().unwrap();
            let at = format!("{} line {} column {name}", csv_path.display(), line + 2);
            let c = &field["constraints"];
            if cell.is_empty() {
                assert!(!c["required"].as_bool().unwrap_or(false), "{at}: required");
                continue;
            }
            match field["type"].as_str().unwrap() {
                "integer" => {
                    let v: i64 = cell
                        .parse()
                        .unwrap_or_else(|_| panic!("{at}: not an integer: {cell}"));
                    if let Some(min) = c["minimum"].as_i64() {
                        assert!(v >= min, "{at}: below minimum");
                    }
                    if let Some(max) = c["maximum"].as_i64() {
                        assert!(v <= max, "{at}: above maximum");
                    }
                }
                "number" => {
                    Decimal::from_str(cell)
                        .unwrap_or_else(|_| panic!("{at}: not a number: {cell}"));
                }
                "datetime" => {
                    chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%S%.6fZ")
                        .unwrap_or_else(|_| panic!("{at}: not a datetime: {cell}"));
                }
                "date" => {
                    chrono::NaiveDate::parse_from_str(cell, "%Y-%m-%d")
                        .unwrap_or_else(|_| panic!("{at}: not a date: {cell}"));
                }
                "string" => {}
                other => panic!("{at}: unknown type {other}"),
            }
            if let Some(values) = c["enum"].as_array() {
                assert!(
                    values.iter().any(|v| v.as_str() == Some(cell)),
                    "{at}: {cell} not in enum"
                );
            }
            if let Some(p) = c["pattern"].as_str() {
                assert!(
                    Regex::new(p).unwrap().is_match(cell),
                    "{at}: {cell} does not match {p}"
                );
            }
            if let Some(n) = c["minLength"].as_u64() {
                assert!(cell.len() as u64 >= n, "{at}: too short");
            }
        }
        let k: Vec<&str> = key.iter().map(|&i| &record[i]).collect();
        assert!(
            key.is_empty() || keys.insert(k.join("\u{1f}")),
            "{} line {}: duplicate primary key",
            csv_path.display(),
            line + 2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_files_match_their_table_schemas() {
    let env = Env::generated(31, 1500).await;
    let rows = export_rows(&env, 2025, "EUR", FeeTreatment::Net).await;
    let out = env.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let s = out.join("carf-summary-2025-EUR.csv");
    let t = out.join("carf-transactions-2025-EUR.csv");
    let sum = summary(&rows).unwrap();
    assert!(sum.len() > 5, "a real summary: {} rows", sum.len());
    write_summary(&s, 2025, ACCOUNT, "EUR", FeeTreatment::Net, &sum).unwrap();
    write_transactions(&t, &rows, "EUR").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/csv");
    validate(&s, &root.join("carf-summary.schema.json"));
    validate(&t, &root.join("carf-transactions.schema.json"));
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_rows_are_the_grouping_of_transaction_rows_every_year() {
    for seed in [41, 42] {
        let env = Env::generated(seed, 1200).await;
        for year in [2024, 2025] {
            let net = export_rows(&env, year, "EUR", FeeTreatment::Net).await;
            let gross = export_rows(&env, year, "EUR", FeeTreatment::Gross).await;
            // Every raw leg of the year appears exactly once.
            let in_year: Vec<&str> = env
                .dataset
                .ledger
                .iter()
                .filter(|e| e.time.utc().format("%Y").to_string() == year.to_string())
                .map(|e| e.id.as_str())
                .collect();
            let mut ids: Vec<&str> = net.iter().map(|r| r.ledger_id.as_str()).collect();
            assert_eq!(ids.len(), in_year.len(), "{year}");
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), in_year.len(), "{year}: duplicates");
            // Net and gross differ by exactly the fee value, leg by leg, for the exchange
            // elements; a transfer is the value of its units either way (carf.md "Fees").
            for (n, g) in net.iter().zip(&gross) {
                assert_eq!(n.ledger_id, g.ledger_id);
                if let (Some(na), Some(ga), Some(fee)) = (n.amount, g.amount, n.fee_amount) {
                    if n.element.is_exchange() {
                        assert_eq!((ga - na).abs(), fee, "{}", n.ledger_id);
                    } else {
                        assert_eq!(ga, na, "{}", n.ledger_id);
                        assert_eq!(n.amount_gross, Some(na), "{}", n.ledger_id);
                    }
                }
            }
            // Each summary row is the grouping of its transaction rows.
            for rows in [&net, &gross] {
                let sum = summary(rows).unwrap();
                let mut groups: BTreeMap<GroupKey, (u64, Decimal, Decimal)> = BTreeMap::new();
                for r in rows.iter().filter(|r| r.element.is_reportable()) {
                    let mut add = |el: Element, code: Option<String>| {
                        let g = groups
                            .entry((r.crypto_asset.clone(), el, code))
                            .or_default();
                        g.0 += 1;
                        g.1 += r.units;
                        g.2 += r.amount.unwrap_or_default();
                    };
                    add(r.element, r.type_code.clone());
                    if r.transfer_wallet {
                        add(Element::TransferWallet, None);
                    }
                }
                assert_eq!(sum.len(), groups.len());
                // The XML holds the same figures as the summary.
                let identity = XmlIdentity {
                    user_first_name: Some("Ada".into()),
                    user_last_name: Some("Lovelace".into()),
                    user_tin: Some("12345678901".into()),
                    user_country: Some("DE".into()),
                    user_city: Some("Berlin".into()),
                    user_birth_date: Some("1985-03-15".into()),
                    ..XmlIdentity::default()
                };
                let mut report = XmlReport {
                    year,
                    currency: "EUR",
                    account: ACCOUNT,
                    fees: FeeTreatment::Net,
                    rows: &sum,
                    identity: &identity,
                    timestamp: chrono::Utc::now(),
                    message_ref_id: format!("IE{year}IE-TEST"),
                    draft: false,
                };
                // A draft only where a group has no value at all; valid otherwise.
                report.draft = !missing(&report).is_empty();
                let mut xml = Vec::new();
                write_carf_xml(&report, &mut xml).unwrap();
                let errors = crate::carf_schema::validate(std::str::from_utf8(&xml).unwrap());
                assert_eq!(errors.is_empty(), !report.draft, "{year}: {errors:?}");
                let mut from_xml = figures(std::str::from_utf8(&xml).unwrap()).unwrap();
                let mut from_summary: Vec<_> = sum
                    .iter()
                    .map(|r| {
                        (
                            r.crypto_asset.clone(),
                            r.element.as_str().to_owned(),
                            r.type_code.clone(),
                            (!r.is_fully_unpriced()).then(|| r.amount()),
                            r.number_of_units,
                            r.number_of_transactions,
                        )
                    })
                    .collect();
                from_xml.sort();
                from_summary.sort();
                assert_eq!(from_xml, from_summary, "{year}");
                for s in &sum {
                    let g = groups[&(s.crypto_asset.clone(), s.element, s.type_code.clone())];
                    if s.element != Element::TransferWallet {
                        assert_eq!(s.number_of_transactions, Some(g.0));
                    }
                    assert_eq!(s.number_of_units, g.1);
                    assert_eq!(s.amount_unrounded, g.2);
                    assert_eq!(
                        s.amount(),
                        g.2.round_dp_with_strategy(
                            2,
                            rust_decimal::RoundingStrategy::MidpointNearestEven
                        )
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_warns_about_gaps_found_by_verify_and_strict_fails() {
    use kraken_tax::emulator::{GeneratorConfig, generate};
    let mut dataset = generate(&GeneratorConfig::new(51, 600));
    // Remove a 2025 entry that has later entries of the same asset: a gap verify can locate.
    let pos = dataset
        .ledger
        .iter()
        .position(|e| {
            e.time.utc().format("%Y").to_string() == "2025"
                && e.asset.as_str() == "ZEUR"
                && e.balance.is_some()
        })
        .unwrap();
    dataset.ledger.remove(pos);
    let env = Env::with_dataset(dataset).await;
    env.sync(None).await.unwrap();
    let db = env.db.display().to_string();
    let common = |cmd: &str| -> Vec<String> {
        [cmd, "--db", &db, "--account", ACCOUNT]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut verify = common("verify");
    verify.push("--offline".into());
    let out = crate::harness::run_bin(verify, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        crate::harness::stderr(&out)
    );
    let mut export = common("export");
    let out_dir = env.dir.path().join("gap-out");
    export.extend(
        [
            "--year",
            "2025",
            "--currency",
            "EUR",
            "--offline",
            "--format",
            "csv",
            "--out",
            out_dir.to_str().unwrap(),
        ]
        .map(str::to_owned),
    );
    let out = crate::harness::run_bin(export.clone(), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::stderr(&out)
    );
    let err = crate::harness::stderr(&out);
    assert!(
        err.contains("unresolved gap that may touch 2025 (e.g. ZEUR missing before"),
        "{err}"
    );
    export.push("--strict".into());
    let out = crate::harness::run_bin(export, &[]).await;
    assert_eq!(out.status.code(), Some(1));
}
