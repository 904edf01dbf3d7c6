//! Every file the engine writes matches its Frictionless Table Schema under `schemas/csv/`.

use super::props::{Op, build};
use super::*;
use regex::Regex;
use std::collections::HashSet;

/// Checks CSV text against a Table Schema: header names and order; per cell its type and
/// the declared constraints (required, enum, pattern, minLength, minimum); primary key
/// uniqueness when the schema has one. Returns the number of data rows.
fn validate(text: &str, schema_file: &str) -> usize {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/csv")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, names, "{schema_file}: header");
    let key: Vec<usize> = schema["primaryKey"]
        .as_array()
        .map(|k| {
            k.iter()
                .map(|k| {
                    names
                        .iter()
                        .position(|n| *n == k.as_str().unwrap())
                        .unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut keys = HashSet::new();
    let mut n = 0;
    for (line, record) in reader.records().enumerate() {
        let record = record.unwrap();
        n += 1;
        for (field, cell) in fields.iter().zip(record.iter()) {
            let at = format!("{schema_file} line {} {}", line + 2, field["name"]);
            let c = &field["constraints"];
            if cell.is_empty() {
                assert!(!c["required"].as_bool().unwrap_or(false), "{at}: required");
                continue;
            }
            match field["type"].as_str().unwrap() {
                "integer" => {
                    let v: i64 = cell.parse().unwrap_or_else(|_| panic!("{at}: {cell}"));
                    if let Some(min) = c["minimum"].as_i64() {
                        assert!(v >= min, "{at}: below minimum");
                    }
                }
                "number" => {
                    Decimal::from_str(cell).unwrap_or_else(|_| panic!("{at}: {cell}"));
                }
                "datetime" => {
                    chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%S%.6fZ")
                        .unwrap_or_else(|_| panic!("{at}: {cell}"));
                }
                "date" => {
                    chrono::NaiveDate::parse_from_str(cell, "%Y-%m-%d")
                        .unwrap_or_else(|_| panic!("{at}: {cell}"));
                }
                "string" => {}
                other => panic!("{at}: unknown type {other}"),
            }
            if let Some(values) = c["enum"].as_array() {
                assert!(
                    values.iter().any(|v| v.as_str() == Some(cell)),
                    "{at}: {cell}"
                );
            }
            if let Some(p) = c["pattern"].as_str() {
                assert!(Regex::new(p).unwrap().is_match(cell), "{at}: {cell} !~ {p}");
            }
            if let Some(min) = c["minLength"].as_u64() {
                assert!(cell.len() as u64 >= min, "{at}: too short");
            }
        }
        if !key.is_empty() {
            let k: Vec<&str> = key.iter().map(|&i| &record[i]).collect();
            assert!(
                keys.insert(k.join("\u{1f}")),
                "{schema_file} line {}: duplicate key",
                line + 2
            );
        }
    }
    n
}

/// A fixed mixed stream: every kind of leg, unpriced legs, fees, deposits, margin.
fn ops() -> Vec<Op> {
    let mut s: u64 = 42;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) % n
    };
    (0..600)
        .map(|_| {
            (
                next(3 * 86_400) as u32,
                next(10) as u8,
                next(3) as usize,
                next(2) as usize,
                1 + next(999) as u32,
                (next(10) != 0).then(|| next(5_000_000) as u32),
                if next(5) == 0 { 1 + next(49) as u32 } else { 0 },
                (next(2) == 0).then(|| next(1_000_000) as u32),
            )
        })
        .collect()
}

#[test]
fn every_file_matches_its_table_schema_for_every_method() {
    let ops = ops();
    let ids: Vec<String> = (0..ops.len()).map(|i| format!("L{i}")).collect();
    let legs = build(&ops, &ids);
    for method in [
        Method::Fifo,
        Method::Lifo,
        Method::Hifo,
        Method::Average,
        Method::Uk,
        Method::De,
        Method::Us,
    ] {
        for unknown in [UnknownCost::Empty, UnknownCost::Zero] {
            let mut o = options(method, year(2022));
            o.unknown_cost = unknown;
            let r = compute(&legs, &o, &NoPrices).unwrap();
            let n = validate(
                &csv_text(|w| write_disposals(w, &r.disposals)),
                "gains-disposals.schema.json",
            );
            assert!(n > 50, "{method}: {n} disposal rows");
            assert!(
                validate(
                    &csv_text(|w| write_income(w, &r.income)),
                    "gains-income.schema.json"
                ) > 5
            );
            assert!(
                validate(
                    &csv_text(|w| write_margin(w, &r.margin)),
                    "gains-margin.schema.json"
                ) > 5
            );
            assert!(
                validate(
                    &csv_text(|w| write_holdings(w, &r.holdings, &o)),
                    "holdings.schema.json"
                ) > 1
            );
            assert_eq!(
                validate(
                    &csv_text(|w| write_summary(w, &r.summary, &o)),
                    "gains-summary.schema.json"
                ),
                4
            );
            let months = income_by_month(&r.income, o.period.tz).unwrap();
            assert!(
                validate(
                    &csv_text(|w| write_income_months(w, &months, &o)),
                    "gains-income-months.schema.json"
                ) > 5
            );
            if method == Method::Us {
                assert_eq!(
                    validate(
                        &csv_text(|w| write_form8949(w, &r.form8949)),
                        "form8949.schema.json"
                    ),
                    r.disposals.len()
                );
            }
        }
    }
}

/// The income months file adds up to the income file: per (asset, month in the period's
/// zone, kind), the count of rows, the sum of units and the sum of the value cells, read back
/// from the two files' text (a calendar year in UTC, and a UK tax year counted in London).
#[test]
fn the_income_months_file_adds_up_to_the_income_file() {
    let ops = ops();
    let ids: Vec<String> = (0..ops.len()).map(|i| format!("L{i}")).collect();
    let mut legs = build(&ops, &ids);
    // Other kinds beside staking, every fourth credit unpriced, and one staking credit at 23:30 UTC on 31 August 2022:
    // August in UTC, September in London (BST).
    let kinds = [IncomeKind::Earn, IncomeKind::Airdrop, IncomeKind::Reward];
    let mut n = 0;
    for l in legs.iter_mut() {
        if let LegKind::Income(_) = l.kind {
            l.kind = LegKind::Income(kinds[n % 3]);
            if n % 4 == 0 {
                l.value = None;
            }
            n += 1;
        }
    }
    let mut late = leg(
        "2022-08-31T23:30:00Z",
        "LATE",
        "DOT",
        LegKind::Income(IncomeKind::Staking),
        "1.25",
        Some("3.00000000005"),
    );
    late.account = "a";
    let at = legs.partition_point(|l| l.time <= late.time);
    legs.insert(at, late);
    let uk = Period::uk_tax_year(2023).unwrap();
    for period in [year(2022), uk] {
        let o = options(Method::Fifo, period);
        let r = compute(&legs, &o, &NoPrices).unwrap();
        let income = csv_text(|w| write_income(w, &r.income));
        let months = income_by_month(&r.income, o.period.tz).unwrap();
        let months_text = csv_text(|w| write_income_months(w, &months, &o));
        type Key = (String, String, String);
        let mut want: std::collections::BTreeMap<Key, (u64, Decimal, Option<Decimal>, u64)> =
            std::collections::BTreeMap::new();
        let mut reader = ::csv::Reader::from_reader(income.as_bytes());
        for rec in reader.records() {
            let rec = rec.unwrap();
            let time = chrono::NaiveDateTime::parse_from_str(&rec[0], "%Y-%m-%dT%H:%M:%S%.6fZ")
                .unwrap()
                .and_utc();
            let month = time.with_timezone(&o.period.tz).format("%Y-%m").to_string();
            let e = want
                .entry((rec[6].to_owned(), month, rec[11].to_owned()))
                .or_insert((0, Decimal::ZERO, None, 0));
            e.0 += 1;
            e.1 += Decimal::from_str(&rec[7]).unwrap();
            match &rec[8] {
                "" => e.3 += 1,
                v => e.2 = Some(e.2.unwrap_or_default() + Decimal::from_str(v).unwrap()),
            }
        }
        let mut got = std::collections::BTreeMap::new();
        let mut reader = ::csv::Reader::from_reader(months_text.as_bytes());
        for rec in reader.records() {
            let rec = rec.unwrap();
            assert_eq!((&rec[0], &rec[8]), (o.period.label.as_str(), "GBP"));
            got.insert(
                (rec[2].to_owned(), rec[1].to_owned(), rec[3].to_owned()),
                (
                    rec[4].parse::<u64>().unwrap(),
                    Decimal::from_str(&rec[5]).unwrap(),
                    (!rec[6].is_empty()).then(|| Decimal::from_str(&rec[6]).unwrap()),
                    rec[7].parse::<u64>().unwrap(),
                ),
            );
        }
        assert!(want.len() > 20, "{}: {} groups", o.period.label, want.len());
        assert!(want.values().any(|w| w.3 > 0), "some unpriced rows");
        assert_eq!(got, want, "{}", o.period.label);
        // The summary's income per asset is the sum of its months.
        for s in r.summary.iter().filter(|s| s.asset != "TOTAL") {
            let m: Decimal = months
                .iter()
                .filter(|m| m.asset == s.asset)
                .map(|m| m.value)
                .sum();
            assert_eq!(s.income, m, "{}", s.asset);
        }
    }
    // The late credit: August in UTC, September in London (BST), its value rounded to 10
    // places half to even (3.00000000005 → 3.0000000000).
    let r = compute(&legs, &options(Method::Fifo, year(2022)), &NoPrices).unwrap();
    let find = |tz| {
        income_by_month(&r.income, tz)
            .unwrap()
            .into_iter()
            .filter(|m| m.asset == "DOT" && m.kind == IncomeKind::Staking)
            .map(|m| (m.month, m.legs, m.units, m.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find(chrono_tz::Tz::UTC),
        [("2022-08".to_owned(), 1, d("1.25"), d("3.0000000000"))]
    );
    assert_eq!(
        find(chrono_tz::Europe::London),
        [("2022-09".to_owned(), 1, d("1.25"), d("3.0000000000"))]
    );
}
