//! One case per row of carf.md's mapping table, on realistic ledger rows.

use super::*;
use crate::domain::{AssetCode, KrakenTime, LedgerEntry, LedgerId, RefId};
use crate::normalize::assets::AssetTable;
use crate::normalize::legs::group;
use rust_decimal::Decimal;
use std::str::FromStr;

/// (id, refid, time, type, subtype, asset, amount, fee)
type Row<'a> = (
    &'a str,
    &'a str,
    i64,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
);

fn entries(rows: &[Row<'_>]) -> Vec<LedgerEntry> {
    rows.iter()
        .map(
            |&(id, refid, t, kind, subtype, asset, amount, fee)| LedgerEntry {
                id: LedgerId::new(id).unwrap(),
                refid: RefId::new(refid).unwrap(),
                time: KrakenTime::from_micros(1_700_000_000_000_000 + t * 1_000_000, 4),
                kind: kind.into(),
                subtype: subtype.map(Into::into),
                aclass: "currency".into(),
                subclass: None,
                asset: AssetCode::new(asset).unwrap(),
                wallet: None,
                amount: Decimal::from_str(amount).unwrap(),
                fee: Decimal::from_str(fee).unwrap(),
                balance: None,
            },
        )
        .collect()
}

/// Classifies every row; returns (id, element, code) per row.
fn run(rows: &[Row<'_>], rules: &Rules) -> Vec<(String, Element, Option<&'static str>)> {
    let es = entries(rows);
    let ctx = group(&es, &AssetTable::default()).unwrap();
    es.iter()
        .zip(&ctx)
        .map(|(e, c)| {
            let k = classify(e, c, rules);
            (e.id.to_string(), k.element, k.type_code)
        })
        .collect()
}

fn el(id: &str, e: Element, code: Option<&'static str>) -> (String, Element, Option<&'static str>) {
    (id.to_owned(), e, code)
}

use Element::*;

#[test]
fn trade_against_fiat_is_crypto_fiat_in_and_out() {
    let got = run(
        &[
            (
                "L1",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "ZEUR",
                "-1000.0000",
                "2.6000",
            ),
            (
                "L2",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "XXBT",
                "0.0250000000",
                "0",
            ),
            (
                "L3",
                "T2",
                9,
                "trade",
                Some("tradespot"),
                "XXBT",
                "-0.0100000000",
                "0",
            ),
            (
                "L4",
                "T2",
                9,
                "trade",
                Some("tradespot"),
                "ZUSD",
                "450.0000",
                "1.1700",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", NotReportable, None),
            el("L2", CryptoFiatIn, None),
            el("L3", CryptoFiatOut, None),
            el("L4", NotReportable, None),
        ]
    );
}

#[test]
fn swap_between_two_crypto_assets_is_crypto_to_crypto_out_and_in() {
    let got = run(
        &[
            (
                "L1",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "XXBT",
                "-0.0500000000",
                "0.0001300000",
            ),
            (
                "L2",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "XETH",
                "1.2000000000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", CryptoToCryptoOut, None),
            el("L2", CryptoToCryptoIn, None)
        ]
    );
}

#[test]
fn stablecoins_are_crypto_not_fiat() {
    let got = run(
        &[
            (
                "L1",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "XXBT",
                "-0.0100000000",
                "0",
            ),
            (
                "L2",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "USDT",
                "400.00000000",
                "0.80000000",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", CryptoToCryptoOut, None),
            el("L2", CryptoToCryptoIn, None)
        ]
    );
}

#[test]
fn spend_receive_purchase_and_two_wallet_fill() {
    let got = run(
        &[
            (
                "L1",
                "Q1",
                0,
                "spend",
                Some(""),
                "ZEUR",
                "-50.0000",
                "0.7500",
            ),
            (
                "L2",
                "Q1",
                0,
                "receive",
                Some(""),
                "XXBT",
                "0.0012000000",
                "0",
            ),
            // One order filled from the spot and the earn wallet: two ETH legs, one refid.
            (
                "L3",
                "T9",
                5,
                "trade",
                Some("tradespot"),
                "XETH",
                "-0.4000000000",
                "0",
            ),
            (
                "L4",
                "T9",
                5,
                "trade",
                Some("tradespot"),
                "XETH",
                "-0.1000000000",
                "0",
            ),
            (
                "L5",
                "T9",
                5,
                "trade",
                Some("tradespot"),
                "ZEUR",
                "1000.0000",
                "2.6000",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", NotReportable, None),
            el("L2", CryptoFiatIn, None),
            el("L3", CryptoFiatOut, None),
            el("L4", CryptoFiatOut, None),
            el("L5", NotReportable, None),
        ]
    );
    let es = entries(&[
        (
            "L3",
            "T9",
            5,
            "trade",
            Some("tradespot"),
            "XETH",
            "-0.4000000000",
            "0",
        ),
        (
            "L4",
            "T9",
            5,
            "trade",
            Some("tradespot"),
            "XETH",
            "-0.1000000000",
            "0",
        ),
        (
            "L5",
            "T9",
            5,
            "trade",
            Some("tradespot"),
            "ZEUR",
            "1000.0000",
            "2.6000",
        ),
    ]);
    let ctx = group(&es, &AssetTable::default()).unwrap();
    let x = ctx[0].exchange.as_ref().unwrap();
    assert_eq!(x.sides.len(), 2);
    assert_eq!(
        x.sides[0].amount,
        Decimal::from_str("-0.5").unwrap(),
        "fills summed"
    );
}

#[test]
fn staking_life_cycle() {
    let got = run(
        &[
            (
                "L1",
                "R1",
                0,
                "transfer",
                Some("spottostaking"),
                "DOT",
                "-10.0000000000",
                "0",
            ),
            (
                "L2",
                "R2",
                3,
                "transfer",
                Some("stakingfromspot"),
                "DOT.S",
                "10.0000000000",
                "0",
            ),
            (
                "L3",
                "R3",
                86_400,
                "staking",
                Some(""),
                "DOT.S",
                "0.0350000000",
                "0",
            ),
            (
                "L4",
                "R4",
                99_000,
                "transfer",
                Some("stakingtospot"),
                "DOT.S",
                "-10.0350000000",
                "0",
            ),
            (
                "L5",
                "R5",
                99_004,
                "transfer",
                Some("spotfromstaking"),
                "DOT",
                "10.0350000000",
                "0",
            ),
            (
                "L6",
                "R6",
                99_100,
                "earn",
                Some("reward"),
                "USDC",
                "0.12000000",
                "0",
            ),
            (
                "L7",
                "R7",
                99_200,
                "earn",
                Some("allocation"),
                "USDC",
                "-100.00000000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", Internal, None),
            el("L2", Internal, None),
            el("L3", CryptoTransferIn, Some("CARF502")),
            el("L4", Internal, None),
            el("L5", Internal, None),
            el("L6", CryptoTransferIn, Some("CARF502")),
            el("L7", Internal, None),
        ]
    );
}

#[test]
fn airdrops_forks_deposits_withdrawals_credits() {
    let got = run(
        &[
            (
                "L1",
                "A1",
                0,
                "transfer",
                Some("airdrop"),
                "FLR",
                "15.0000000000",
                "0",
            ),
            ("L2", "A2", 1, "transfer", None, "BCH", "1.0000000000", "0"),
            (
                "L3",
                "D1",
                2,
                "deposit",
                Some(""),
                "XXBT",
                "0.5000000000",
                "0",
            ),
            (
                "L4",
                "W1",
                3,
                "withdrawal",
                Some(""),
                "XETH",
                "-1.0000000000",
                "0.0035000000",
            ),
            (
                "L5",
                "C1",
                4,
                "credit",
                Some(""),
                "XXBT",
                "0.0001000000",
                "0",
            ),
            (
                "L6",
                "B1",
                5,
                "invite bonus",
                Some(""),
                "USDC",
                "10.00000000",
                "0",
            ),
            ("L7", "D2", 6, "deposit", Some(""), "ZEUR", "500.0000", "0"),
            (
                "L8",
                "W2",
                7,
                "withdrawal",
                Some(""),
                "ZUSD",
                "-100.0000",
                "0.3500",
            ),
            ("L9", "K1", 8, "deposit", Some(""), "KFEE", "1000.00", "0"),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", CryptoTransferIn, Some("CARF501")),
            el("L2", CryptoTransferIn, Some("CARF501")),
            el("L3", CryptoTransferIn, Some("CARF509")),
            el("L4", CryptoTransferOut, Some("CARF606")),
            el("L5", CryptoTransferIn, Some("CARF508")),
            el("L6", CryptoTransferIn, Some("CARF508")),
            el("L7", NotReportable, None),
            el("L8", NotReportable, None),
            el("L9", NotReportable, None),
        ]
    );
}

#[test]
fn kfee_paid_trade_keeps_the_fee_leg_out_of_the_report() {
    let got = run(
        &[
            (
                "L1",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "ZEUR",
                "-200.0000",
                "0",
            ),
            (
                "L2",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "SOL",
                "2.0000000000",
                "0",
            ),
            (
                "L3",
                "T1",
                0,
                "trade",
                Some("tradespot"),
                "KFEE",
                "0.00",
                "52.00",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", NotReportable, None),
            el("L2", CryptoFiatIn, None),
            el("L3", NotReportable, None),
        ]
    );
}

#[test]
fn dust_sweep_with_two_refids_is_paired_by_subtype_and_time() {
    let got = run(
        &[
            (
                "L1",
                "S1",
                0,
                "adjustment",
                Some("dustsweeping"),
                "ADA",
                "-0.4000000000",
                "0",
            ),
            (
                "L2",
                "S2",
                600,
                "adjustment",
                Some("dustsweeping"),
                "ZEUR",
                "0.1500",
                "0",
            ),
            (
                "L3",
                "S3",
                900,
                "adjustment",
                Some("delistingconversion"),
                "OLDCOIN",
                "-12.0000000000",
                "0",
            ),
            (
                "L4",
                "S4",
                90_000,
                "adjustment",
                Some("delistingconversion"),
                "XXBT",
                "0.0000100000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", CryptoFiatOut, None),
            el("L2", NotReportable, None),
            el("L3", CryptoToCryptoOut, None),
            el("L4", CryptoToCryptoIn, None),
        ]
    );
    let es = entries(&[
        (
            "L1",
            "S1",
            0,
            "adjustment",
            Some("dustsweeping"),
            "ADA",
            "-0.4000000000",
            "0",
        ),
        (
            "L2",
            "S2",
            600,
            "adjustment",
            Some("dustsweeping"),
            "ZEUR",
            "0.1500",
            "0",
        ),
    ]);
    let ctx = group(&es, &AssetTable::default()).unwrap();
    assert_eq!(ctx[0].event_id, "pair:S1+S2");
    assert_eq!(ctx[1].event_id, "pair:S1+S2");
}

#[test]
fn unknown_and_unsupported_types_are_unclassified() {
    let got = run(
        &[
            (
                "L1",
                "X1",
                0,
                "voucher",
                Some(""),
                "XXBT",
                "0.0100000000",
                "0",
            ),
            (
                "L2",
                "X2",
                1,
                "margin",
                Some(""),
                "XXBT",
                "-0.0100000000",
                "0",
            ),
            (
                "L3",
                "X3",
                2,
                "nftrebate",
                Some(""),
                "XETH",
                "0.0100000000",
                "0",
            ),
            (
                "L4",
                "Unknown",
                3,
                "trade",
                Some("tradespot"),
                "XETH",
                "0.0100000000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", Unclassified, None),
            el("L2", NotReportable, None),
            el("L3", Unclassified, None),
            el("L4", Unclassified, None),
        ]
    );
}

#[test]
fn config_rules_and_labels_override_the_defaults() {
    let rules: Rules = toml::from_str(
        r#"
        [[rules]]
        type = "voucher"
        element = "CryptoTransferIn"
        code = "CARF508"

        [labels]
        D1 = "exchange"
        L4 = "private_wallet"
        W9 = "exchange"
        "#,
    )
    .unwrap();
    rules.validate().unwrap();
    let rows: &[Row<'_>] = &[
        (
            "L1",
            "X1",
            0,
            "voucher",
            Some(""),
            "XXBT",
            "0.0100000000",
            "0",
        ),
        (
            "L3",
            "D1",
            2,
            "deposit",
            Some(""),
            "XXBT",
            "0.5000000000",
            "0",
        ),
        (
            "L4",
            "W1",
            3,
            "withdrawal",
            Some(""),
            "XETH",
            "-1.0000000000",
            "0.0035000000",
        ),
        (
            "L5",
            "W9",
            4,
            "withdrawal",
            Some(""),
            "XETH",
            "-1.0000000000",
            "0.0035000000",
        ),
    ];
    assert_eq!(
        run(rows, &rules),
        [
            el("L1", CryptoTransferIn, Some("CARF508")),
            el("L3", CryptoTransferIn, Some("CARF505")),
            el("L4", CryptoTransferOut, Some("CARF606")),
            el("L5", CryptoTransferOut, Some("CARF601")),
        ]
    );
    let es = entries(rows);
    let ctx = group(&es, &AssetTable::default()).unwrap();
    let c = classify(&es[2], &ctx[2], &rules);
    assert!(also_transfer_wallet(&es[2], &c, &rules));
    assert!(!also_transfer_wallet(
        &es[3],
        &classify(&es[3], &ctx[3], &rules),
        &rules
    ));

    let bad: Rules =
        toml::from_str("[[rules]]\ntype = \"x\"\nelement = \"CryptoTransferIn\"\n").unwrap();
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "classification rule 1 (type \"x\"): CryptoTransferIn needs a code (CARF5xx / CARF6xx)"
    );
}

#[test]
fn every_generated_leg_is_classified_exactly_once_and_sensibly() {
    use crate::emulator::{GeneratorConfig, generate};
    use std::collections::HashMap;
    for seed in [1, 2, 3] {
        let data = generate(&GeneratorConfig::new(seed, 3000));
        let legs = build::derive(&data.ledger, &AssetTable::default(), &Rules::default()).unwrap();
        assert_eq!(legs.len(), data.ledger.len());
        let mut ids: Vec<&str> = legs.iter().map(|l| l.ledger_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), data.ledger.len(), "one leg per ledger entry");
        let by_id: HashMap<&str, &crate::store::DerivedLeg> =
            legs.iter().map(|l| (l.ledger_id.as_str(), l)).collect();
        for e in &data.ledger {
            let l = by_id[e.id.as_str()];
            match (e.kind.as_str(), l.is_fiat, l.asset.as_str()) {
                // Unknown types are unclassified, fiat ones too (as `sync` warns).
                ("voucher", ..) => assert_eq!(l.element, Unclassified),
                (_, _, "KFEE") | (_, true, _) => assert_eq!(l.element, NotReportable, "{e:?}"),
                ("trade" | "spend" | "receive", false, _) => {
                    let counter_fiat = matches!(l.counter_asset.as_deref(), Some("EUR" | "USD"));
                    let want = match (e.amount.is_sign_positive(), counter_fiat) {
                        (true, true) => CryptoFiatIn,
                        (false, true) => CryptoFiatOut,
                        (true, false) => CryptoToCryptoIn,
                        (false, false) => CryptoToCryptoOut,
                    };
                    assert_eq!(l.element, want, "{e:?}");
                }
                ("staking", ..) | ("earn", ..)
                    if e.subtype.as_deref() == Some("reward") || e.kind == "staking" =>
                {
                    assert_eq!(
                        (l.element, l.type_code.as_deref()),
                        (CryptoTransferIn, Some("CARF502")),
                        "{e:?}"
                    )
                }
                ("transfer", ..) => assert_eq!(l.element, Internal, "{e:?}"),
                ("deposit", ..) => assert_eq!(
                    (l.element, l.type_code.as_deref()),
                    (CryptoTransferIn, Some("CARF509"))
                ),
                ("withdrawal", ..) => assert_eq!(
                    (l.element, l.type_code.as_deref()),
                    (CryptoTransferOut, Some("CARF606"))
                ),
                other => panic!("generated type not covered by this test: {other:?}"),
            }
        }
    }
}

#[test]
fn rebuild_writes_one_row_per_raw_leg_and_only_when_stale() {
    use crate::domain::RawRecord;
    use crate::emulator::{GeneratorConfig, generate};
    use crate::store::{Source, Store};
    let data = generate(&GeneratorConfig::new(4, 500));
    let mut store = Store::open_in_memory().unwrap();
    let rows: Vec<RawRecord<LedgerEntry>> = data
        .ledger
        .iter()
        .map(|e| RawRecord {
            item: e.clone(),
            raw: "{}".into(),
        })
        .collect();
    store
        .insert_ledger_entries("a", &rows[..400], Source::Api)
        .unwrap();
    let rules = Rules::default();
    let t = AssetTable::default();
    let first = build::ensure_fresh(&mut store, "a", &t, &rules)
        .unwrap()
        .expect("built");
    assert_eq!(first.legs, 400);
    assert_eq!(
        build::ensure_fresh(&mut store, "a", &t, &rules).unwrap(),
        None,
        "fresh"
    );
    store
        .insert_ledger_entries("a", &rows[400..], Source::Api)
        .unwrap();
    let second = build::ensure_fresh(&mut store, "a", &t, &rules)
        .unwrap()
        .expect("new raw rows");
    assert_eq!(second.legs as usize, rows.len());
    assert_eq!(store.derived_legs("a").unwrap().len(), rows.len());
    let mut voucher = Rules::default();
    voucher.rules.push(Rule {
        kind: "voucher".into(),
        subtype: None,
        asset: Some("EUR".into()),
        element: Element::NotReportable,
        code: None,
    });
    voucher.rules.push(Rule {
        kind: "voucher".into(),
        subtype: None,
        asset: None,
        element: Element::CryptoTransferIn,
        code: Some("CARF508".into()),
    });
    let third = build::ensure_fresh(&mut store, "a", &t, &voucher)
        .unwrap()
        .expect("rules changed");
    assert_eq!(third.by_element.get(&Unclassified), None);
}

#[test]
fn earn_airdrops_and_transfer_delisting_conversions_follow_carf_md() {
    let got = run(
        &[
            (
                "L1",
                "E1",
                0,
                "earn",
                Some("airdrop"),
                "FLR",
                "15.0000000000",
                "0",
            ),
            // A delisting conversion booked as `transfer`, two refids a day apart.
            (
                "L2",
                "S1",
                100,
                "transfer",
                Some("delistingconversion"),
                "OLDCOIN",
                "-12.0000000000",
                "0",
            ),
            (
                "L3",
                "S2",
                86_000,
                "transfer",
                Some("delistingconversion"),
                "ZEUR",
                "3.5000",
                "0",
            ),
            // One refid, against another crypto-asset.
            (
                "L4",
                "S3",
                200_000,
                "transfer",
                Some("delistingconversion"),
                "OLDCOIN",
                "-1.0000000000",
                "0",
            ),
            (
                "L5",
                "S3",
                200_000,
                "transfer",
                Some("delistingconversion"),
                "XXBT",
                "0.0000100000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [
            el("L1", CryptoTransferIn, Some("CARF501")),
            el("L2", CryptoFiatOut, None),
            el("L3", NotReportable, None),
            el("L4", CryptoToCryptoOut, None),
            el("L5", CryptoToCryptoIn, None),
        ]
    );
}

#[test]
fn margin_rollover_settled_are_not_reportable_with_reason_margin() {
    let rows: &[Row<'_>] = &[
        (
            "L1",
            "M1",
            0,
            "margin",
            Some(""),
            "XXBT",
            "-0.0100000000",
            "0.0001000000",
        ),
        (
            "L2",
            "M2",
            1,
            "rollover",
            Some(""),
            "ZEUR",
            "0.0000",
            "0.0200",
        ),
        (
            "L3",
            "M3",
            2,
            "settled",
            Some(""),
            "XXBT",
            "0.0500000000",
            "0",
        ),
        ("L4", "M4", 3, "margin", Some(""), "ZEUR", "12.5000", "0"),
    ];
    let es = entries(rows);
    let ctx = group(&es, &AssetTable::default()).unwrap();
    for (e, c) in es.iter().zip(&ctx) {
        assert_eq!(
            classify(e, c, &Rules::default()),
            Classification::new(NotReportable, "margin"),
            "{}",
            e.id
        );
    }
}

#[test]
fn unknown_types_are_unclassified_for_fiat_too_as_sync_says() {
    // `sync` warns that entries of an unknown type "will be reported as unclassified": the
    // export must do that for a EUR voucher too, not list it as a fiat movement.
    let got = run(
        &[
            ("L1", "V1", 0, "voucher", Some(""), "ZEUR", "25.0000", "0"),
            (
                "L2",
                "V2",
                1,
                "voucher",
                Some(""),
                "XXBT",
                "0.0010000000",
                "0",
            ),
        ],
        &Rules::default(),
    );
    assert_eq!(
        got,
        [el("L1", Unclassified, None), el("L2", Unclassified, None)]
    );
}

#[test]
fn rules_never_make_fiat_a_crypto_asset() {
    // The README's rules: EUR vouchers NotReportable, the other vouchers CARF508.
    let readme: Rules = toml::from_str(
        r#"rules = [
          { type = "voucher", asset = "EUR", element = "NotReportable" },
          { type = "voucher", element = "CryptoTransferIn", code = "CARF508" },
        ]"#,
    )
    .unwrap();
    readme.validate().unwrap();
    let rows: &[Row<'_>] = &[
        ("L1", "V1", 0, "voucher", Some(""), "ZEUR", "25.0000", "0"),
        (
            "L2",
            "V2",
            1,
            "voucher",
            Some(""),
            "XXBT",
            "0.0010000000",
            "0",
        ),
        ("L3", "V3", 2, "voucher", Some(""), "ZUSD", "5.0000", "0"),
    ];
    assert_eq!(
        run(rows, &readme),
        [
            el("L1", NotReportable, None),
            el("L2", CryptoTransferIn, Some("CARF508")),
            // No asset in the rule: it does not apply to a fiat leg, which stays unclassified.
            el("L3", Unclassified, None),
        ]
    );
    // A rule naming a fiat asset (raw or reported code) with a reportable element is refused.
    for asset in ["EUR", "ZEUR", "USD", "KFEE"] {
        let bad: Rules = toml::from_str(&format!(
            "[[rules]]\ntype = \"voucher\"\nasset = \"{asset}\"\nelement = \"CryptoTransferIn\"\ncode = \"CARF508\"\n"
        ))
        .unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "classification rule 1 (type \"voucher\"): asset \"{asset}\" is "
            )) && err.contains("can never be reported as a crypto-asset"),
            "{err}"
        );
    }
    // Codes must fit the element; TransferWallet comes from labels only.
    for (element, code, want) in [
        (
            "CryptoTransferIn",
            "CARF606",
            "does not fit element CryptoTransferIn",
        ),
        (
            "CryptoFiatIn",
            "CARF502",
            "does not fit element CryptoFiatIn",
        ),
        (
            "NotReportable",
            "CARF508",
            "does not fit element NotReportable",
        ),
        (
            "TransferWallet",
            "CARF606",
            "TransferWallet is not assigned by rules",
        ),
    ] {
        let bad: Rules = toml::from_str(&format!(
            "[[rules]]\ntype = \"voucher\"\nelement = \"{element}\"\ncode = \"{code}\"\n"
        ))
        .unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// Stores `entries` of account "a" in `batches` (cut at the given positions), refreshing the
/// derived legs after each; returns the reports.
fn store_in_batches(
    store: &mut crate::store::Store,
    entries: &[LedgerEntry],
    cuts: &[usize],
    rules: &Rules,
) -> Vec<build::BuildReport> {
    use crate::domain::RawRecord;
    use crate::store::Source;
    let rows: Vec<RawRecord<LedgerEntry>> = entries
        .iter()
        .map(|e| RawRecord {
            item: e.clone(),
            raw: "{}".into(),
        })
        .collect();
    let mut reports = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([&rows.len()]) {
        store
            .insert_ledger_entries("a", &rows[at..cut], Source::Api)
            .unwrap();
        at = cut;
        reports.push(
            build::ensure_fresh(store, "a", &AssetTable::default(), rules)
                .unwrap()
                .expect("new rows"),
        );
    }
    reports
}

/// The oracle's legs of every stored entry, in the table's order (time, then id).
fn oracle(store: &crate::store::Store, rules: &Rules) -> Vec<crate::store::DerivedLeg> {
    let stored = store.ledger_entries("a").unwrap();
    let mut legs = build::derive(&stored, &AssetTable::default(), rules).unwrap();
    legs.sort_by(|a, b| (a.time_us, &a.ledger_id).cmp(&(b.time_us, &b.ledger_id)));
    legs
}

#[test]
fn derived_legs_stored_by_a_refresh_equal_the_owned_oracle() {
    use crate::emulator::{GeneratorConfig, generate};
    let data = generate(&GeneratorConfig::new(43, 1500));
    let mut store = crate::store::Store::open_in_memory().unwrap();
    let rules = Rules::default();
    let report = store_in_batches(&mut store, &data.ledger, &[], &rules).remove(0);
    let want = oracle(&store, &rules);
    assert!(want.len() > 1000, "{}", want.len());
    assert!(want.iter().any(|l| l.sides.is_some()));
    assert_eq!(store.derived_legs("a").unwrap(), want);
    assert_eq!(report, build::report_of(&want));
}

/// Entries whose events a later batch completes: a trade's second leg and its KFEE fee, and
/// both sides of a dust sweep (different refids, paired by time) arriving apart.
fn late_sides() -> Vec<LedgerEntry> {
    entries(&[
        (
            "LT1",
            "TX1",
            10,
            "trade",
            Some("tradespot"),
            "ZEUR",
            "-100.0000",
            "0.2000",
        ),
        (
            "LT2",
            "TX1",
            10,
            "trade",
            Some("tradespot"),
            "XXBT",
            "0.0100000000",
            "0",
        ),
        (
            "LT3",
            "TX1",
            10,
            "trade",
            Some("tradespot"),
            "KFEE",
            "0.00",
            "25.00",
        ),
        (
            "LD1",
            "DS1",
            20,
            "transfer",
            Some("dustsweeping"),
            "DOT",
            "-0.0100000000",
            "0",
        ),
        (
            "LD2",
            "DS2",
            30,
            "transfer",
            Some("dustsweeping"),
            "ETH",
            "0.0001000000",
            "0",
        ),
        (
            "LD3",
            "DS3",
            40,
            "transfer",
            Some("dustsweeping"),
            "ADA",
            "-0.5000000000",
            "0",
        ),
    ])
}

#[test]
fn an_incremental_refresh_equals_a_full_one_and_derives_only_touched_events() {
    use crate::emulator::{GeneratorConfig, generate};
    let data = generate(&GeneratorConfig::new(44, 2000));
    let late = late_sides();
    let mut all = data.ledger.clone();
    // The first side of each late event with the old rows, the rest in later batches, mixed
    // with new generated rows; the generated ledger's own order puts some legs of one trade
    // in different batches as well.
    all.insert(100, late[0].clone());
    all.insert(200, late[3].clone());
    all.push(late[2].clone());
    all.push(late[4].clone());
    all.push(late[1].clone());
    all.push(late[5].clone());
    let n = all.len();
    let cuts = [n - 150, n - 100, n - 50, n - 3, n - 1];
    let mut store = crate::store::Store::open_in_memory().unwrap();
    let rules = Rules::default();
    let reports = store_in_batches(&mut store, &all, &cuts, &rules);
    assert_eq!(
        reports[0].rederived as usize,
        n - 150,
        "the first build is full"
    );
    for r in &reports[1..] {
        assert!(r.rederived < 100, "{r:?}");
    }
    let got = store.derived_legs("a").unwrap();
    assert_eq!(got.len(), n);
    assert_eq!(got, oracle(&store, &rules));
    assert_eq!(reports.last().unwrap().legs as usize, n);
    // The late legs: the trade complete with its KFEE credits, the sweep paired across refids.
    let leg = |id: &str| got.iter().find(|l| l.ledger_id == id).unwrap().clone();
    assert_eq!(
        (leg("LT2").element, leg("LT2").fee_credits.as_deref()),
        (Element::CryptoFiatIn, Some("25.00"))
    );
    assert_eq!(leg("LD1").event_id, "pair:DS1+DS2");
    assert_eq!(leg("LD2").event_id, "pair:DS1+DS2");
    assert_eq!(leg("LD3").event_id, "DS3");
    // Nothing new: nothing to do. A change of rules: everything again.
    assert_eq!(
        build::ensure_fresh(&mut store, "a", &AssetTable::default(), &rules).unwrap(),
        None
    );
    let mut other = Rules::default();
    other.labels.insert("LT1".into(), Counterparty::Exchange);
    let full = build::ensure_fresh(&mut store, "a", &AssetTable::default(), &other)
        .unwrap()
        .expect("rules changed");
    assert_eq!(full.rederived as usize, n);
}
