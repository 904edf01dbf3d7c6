//! Hand-worked examples per method, and the rules around them (fees, transfers, unknown
//! costs, periods, rounding, files).

use super::*;

/// The shared hand-worked account (all GBP):
/// - L1 2023-01-10 buy 1 BTC for 100 plus a fiat fee of 1 → lot cost 101
/// - L2 2023-06-01 buy 1 BTC for 300
/// - L3 2024-02-01 buy 1 BTC for 200
/// - S  2024-03-01 sell 1.5 BTC for 600 with a fiat fee of 6 (allowable)
///
/// Proceeds and fees are shared among a disposal's rows by units: a 1-unit row gets 400
/// and 4, a 0.5-unit row 200 and 2.
fn account() -> Vec<GainsLeg<'static>> {
    let mut l1 = buy("2023-01-10T12:00:00Z", "L1", "BTC", "1", "100");
    l1.other_fee = Some(d("1"));
    let mut s = sell("2024-03-01T12:00:00Z", "S", "BTC", "1.5", "600");
    s.other_fee = Some(d("6"));
    vec![
        l1,
        buy("2023-06-01T12:00:00Z", "L2", "BTC", "1", "300"),
        buy("2024-02-01T12:00:00Z", "L3", "BTC", "1", "200"),
        s,
    ]
}

type Expect<'s> = (&'s str, &'s str, &'s str, &'s str, Option<&'s str>);

/// (acquired ledger id, units, cost, gain, term) per row.
fn rows_of(r: &GainsReport<'_>) -> Vec<(String, Decimal, Decimal, Decimal, Option<&'static str>)> {
    r.disposals
        .iter()
        .map(|x| {
            (
                x.acquired_ledger_id.unwrap_or("").to_owned(),
                x.units,
                x.cost.unwrap(),
                x.gain.unwrap(),
                x.term.map(|t| t.as_str()),
            )
        })
        .collect()
}

fn expect(rows: &[Expect<'_>]) -> Vec<(String, Decimal, Decimal, Decimal, Option<&'static str>)> {
    rows.iter()
        .map(|&(id, u, c, g, term)| {
            (
                id.to_owned(),
                d(u),
                d(c),
                d(g),
                term.map(|t| match t {
                    "short" => "short",
                    "long" => "long",
                    "exempt" => "exempt",
                    _ => "taxable",
                }),
            )
        })
        .collect()
}

fn run(method: Method) -> (Vec<GainsLeg<'static>>, GainsOptions) {
    (account(), options(method, year(2024)))
}

#[test]
fn fifo_takes_the_oldest_lot_first() {
    // 1 of L1 (cost 101): 400 − 101 − 4 = 295, held 2023-01-10 → 2024-03-01 = 416 days:
    // long; 0.5 of L2 (300 × 0.5 = 150): 200 − 150 − 2 = 48, 274 days: short.
    let (legs, o) = run(Method::Fifo);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(
        rows_of(&r),
        expect(&[
            ("L1", "1", "101", "295", Some("long")),
            ("L2", "0.5", "150", "48", Some("short")),
        ])
    );
    assert_eq!(r.disposals[0].holding_days, Some(416));
    assert_eq!(r.disposals[0].rule, Rule::Fifo);
    let s = summary(&r, "BTC");
    assert_eq!((s.short_net, s.long_net), (Some(d("48")), Some(d("295"))));
    assert_eq!(
        (s.proceeds, s.fees, s.net_gain),
        (Some(d("600")), Some(d("6")), d("343"))
    );
    let h = holding(&r, "BTC");
    // Left: 0.5 of L2 (150) and L3 (200).
    assert_eq!(
        (h.units_start, h.units_end, h.cost_end),
        (d("2"), d("1.5"), d("350"))
    );
}

#[test]
fn lifo_takes_the_newest_lot_first() {
    // 1 of L3 (200): 400 − 200 − 4 = 196, 29 days; 0.5 of L2 (150): 48.
    let (legs, o) = run(Method::Lifo);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(
        rows_of(&r),
        expect(&[
            ("L3", "1", "200", "196", Some("short")),
            ("L2", "0.5", "150", "48", Some("short")),
        ])
    );
    assert_eq!(r.disposals[0].rule, Rule::Lifo);
}

#[test]
fn hifo_takes_the_highest_unit_cost_first() {
    // Unit costs: L1 101, L2 300, L3 200. L2 whole (300): 400 − 300 − 4 = 96; 0.5 of L3
    // (100): 200 − 100 − 2 = 98.
    let (legs, o) = run(Method::Hifo);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(
        rows_of(&r),
        expect(&[
            ("L2", "1", "300", "96", Some("short")),
            ("L3", "0.5", "100", "98", Some("short")),
        ])
    );
}

#[test]
fn hifo_ties_go_oldest_first_and_unknown_cost_last() {
    let legs = [
        leg(
            "2024-01-01T00:00:00Z",
            "U",
            "BTC",
            LegKind::TransferIn {
                basis: None,
                own_wallet: false,
            },
            "1",
            Some("999"),
        ),
        buy("2024-01-02T00:00:00Z", "A", "BTC", "1", "50"),
        buy("2024-01-03T00:00:00Z", "B", "BTC", "1", "50"),
        sell("2024-02-01T00:00:00Z", "S", "BTC", "2.5", "250"),
    ];
    let r = compute(&legs, &options(Method::Hifo, year(2024)), &NoPrices).unwrap();
    let ids: Vec<_> = r.disposals.iter().map(|x| x.acquired_ledger_id).collect();
    assert_eq!(ids, [Some("A"), Some("B"), Some("U")]);
    assert_eq!(r.disposals[2].cost, None);
    assert_eq!(r.disposals[2].cost_source, CostSource::Unknown);
}

#[test]
fn average_uses_one_pool_per_asset() {
    // Pool 3 BTC at 101 + 300 + 200 = 601; 1.5 leave at 300.5: 600 − 300.5 − 6 = 293.5.
    let (legs, o) = run(Method::Average);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(r.disposals.len(), 1);
    let x = &r.disposals[0];
    assert_eq!(
        (x.rule, x.cost, x.gain),
        (Rule::Average, Some(d("300.5")), Some(d("293.5")))
    );
    assert_eq!((x.acquired, x.term, x.holding_days), (None, None, None));
    let s = summary(&r, "BTC");
    assert_eq!((s.short_net, s.long_net, s.exempt_net), (None, None, None));
    assert_eq!(holding(&r, "BTC").cost_end, d("300.5"));
}

#[test]
fn de_exempts_lots_held_more_than_a_calendar_year() {
    // FIFO rows; L1: 2023-01-10 + 1 year = 2024-01-10 < 2024-03-01: exempt; L2: taxable.
    let (legs, o) = run(Method::De);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(
        rows_of(&r),
        expect(&[
            ("L1", "1", "101", "295", Some("exempt")),
            ("L2", "0.5", "150", "48", Some("taxable")),
        ])
    );
    let s = summary(&r, "BTC");
    // Exempt gains stay in net_gain and are shown again in exempt_net.
    assert_eq!((s.net_gain, s.exempt_net), (d("343"), Some(d("295"))));
}

#[test]
fn de_and_us_count_29_february_plus_one_year_as_28_february() {
    for (sold, de, us) in [
        ("2021-02-28T12:00:00Z", Term::Taxable, Term::Short),
        ("2021-03-01T12:00:00Z", Term::Exempt, Term::Long),
    ] {
        let legs = [
            buy("2020-02-29T12:00:00Z", "A", "BTC", "1", "1"),
            sell(sold, "S", "BTC", "1", "2"),
        ];
        let r = compute(&legs, &options(Method::De, year(2021)), &NoPrices).unwrap();
        assert_eq!(r.disposals[0].term, Some(de), "{sold}");
        let r = compute(&legs, &options(Method::Us, year(2021)), &NoPrices).unwrap();
        assert_eq!(r.disposals[0].term, Some(us), "{sold}");
    }
}

#[test]
fn fifo_term_is_short_up_to_365_days() {
    for (sold, term) in [
        ("2024-01-01T12:00:00Z", Term::Short), // 365 days after 2023-01-01
        ("2024-01-02T12:00:00Z", Term::Long),  // 366
    ] {
        let legs = [
            buy("2023-01-01T12:00:00Z", "A", "BTC", "1", "1"),
            sell(sold, "S", "BTC", "1", "2"),
        ];
        let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
        assert_eq!(r.disposals[0].term, Some(term), "{sold}");
    }
}

#[test]
fn us_writes_form_8949_short_rows_first_with_fees_in_the_basis() {
    let (legs, o) = run(Method::Us);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    let f: Vec<_> = r
        .form8949
        .iter()
        .map(|x| {
            (
                x.part,
                x.description.as_str(),
                x.date_acquired.map(|d| d.to_string()),
                x.proceeds.unwrap(),
                x.cost_basis.unwrap(),
                x.gain.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        f,
        vec![
            (
                "I",
                "0.5 BTC",
                Some("2023-06-01".into()),
                d("200"),
                d("152"),
                d("48")
            ),
            (
                "II",
                "1 BTC",
                Some("2023-01-10".into()),
                d("400"),
                d("105"),
                d("295")
            ),
        ]
    );
    let text = csv_text(|w| write_form8949(w, &r.form8949));
    assert_eq!(
        text,
        "part,description,date_acquired,date_sold,proceeds,cost_basis,code,adjustment,gain_or_loss\n\
         I,0.5 BTC,2023-06-01,2024-03-01,200.00,152.00,,,48.00\n\
         II,1 BTC,2023-01-10,2024-03-01,400.00,105.00,,,295.00\n"
    );
}

#[test]
fn us_matches_per_account_and_lots_hifo_picks_the_dearest() {
    let mut a1 = buy("2024-01-01T00:00:00Z", "A1", "BTC", "1", "100");
    a1.account = "a";
    let mut a2 = buy("2024-01-02T00:00:00Z", "A2", "BTC", "1", "300");
    a2.account = "a";
    let mut b1 = buy("2024-01-03T00:00:00Z", "B1", "BTC", "1", "500");
    b1.account = "b";
    let mut sb = sell("2024-02-01T00:00:00Z", "SB", "BTC", "1", "600");
    sb.account = "b";
    let mut sa = sell("2024-02-02T00:00:00Z", "SA", "BTC", "1", "600");
    sa.account = "a";
    let legs = [a1, a2, b1, sb, sa];
    let mut o = options(Method::Us, year(2024));
    let r = compute(&legs, &o, &NoPrices).unwrap();
    // Per account: b's sale takes b's lot (500), although a's older lot exists; a's takes A1.
    assert_eq!(col(&r, "SB", |x| x.cost), d("500"));
    assert_eq!(col(&r, "SA", |x| x.cost), d("100"));
    // Holdings per account, cost exact per account.
    let a = r.holdings.iter().find(|h| h.account == "a").unwrap();
    assert_eq!((a.units_end, a.cost_end), (d("1"), d("300")));
    o.lots = LotPick::Hifo;
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(col(&r, "SA", |x| x.cost), d("300"));
    assert_eq!(r.disposals[1].rule, Rule::Hifo);
    // fifo pools accounts: b's sale takes the oldest lot, a's.
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    assert_eq!(col(&r, "SB", |x| x.cost), d("100"));
}

/// A DOT/BTC swap whose fee is paid in BTC on the BTC (Out) leg: the fee units are a `fee`
/// disposal at the trade's price, and their value is the swap disposal's allowable fee;
/// `--swap-fee split` moves half of it to the DOT acquisition's cost.
fn swap_account() -> Vec<GainsLeg<'static>> {
    let mut out = leg(
        "2024-02-01T00:00:00Z",
        "X1",
        "BTC",
        LegKind::Disposal(DisposalKind::Swap),
        "0.01",
        Some("500"),
    );
    out.refid = "T1";
    out.fee_units = d("0.0001");
    out.fee_value = Some(d("5"));
    let mut inn = leg(
        "2024-02-01T00:00:00Z",
        "X2",
        "DOT",
        LegKind::Acquisition,
        "100",
        Some("500"),
    );
    inn.refid = "T1";
    vec![
        buy("2024-01-01T00:00:00Z", "B", "BTC", "1", "40000"),
        out,
        inn,
        sell("2024-03-01T00:00:00Z", "Y", "DOT", "100", "600"),
    ]
}

#[test]
fn crypto_fee_on_a_swap_is_a_fee_disposal_and_the_swaps_fee() {
    let legs = swap_account();
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let rows: Vec<_> = r
        .disposals
        .iter()
        .map(|x| {
            (
                x.kind,
                x.units,
                x.proceeds.unwrap(),
                x.cost.unwrap(),
                x.fees.unwrap(),
                x.gain.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            // 0.01 BTC at 40,000: cost 400; 500 − 400 − 5.
            (
                DisposalKind::Swap,
                d("0.01"),
                d("500"),
                d("400"),
                d("5"),
                d("95")
            ),
            // The fee units: 0.0001 BTC, proceeds 5, cost 4.
            (
                DisposalKind::Fee,
                d("0.0001"),
                d("5"),
                d("4"),
                d("0"),
                d("1")
            ),
            // DOT cost 500 (the fee stayed on the Out side).
            (
                DisposalKind::Sale,
                d("100"),
                d("600"),
                d("500"),
                d("0"),
                d("100")
            ),
        ]
    );
    let h = holding(&r, "BTC");
    assert_eq!((h.units_end, h.cost_end), (d("0.9899"), d("39596")));
    let mut o = options(Method::Fifo, year(2024));
    o.swap_fee = SwapFee::Split;
    let r = compute(&legs, &o, &NoPrices).unwrap();
    assert_eq!(r.disposals[0].fees, Some(d("2.5")));
    assert_eq!(r.disposals[2].cost, Some(d("502.5")));
    assert_eq!(r.disposals[2].gain, Some(d("97.5")));
}

#[test]
fn crypto_fee_on_an_acquisition_adds_to_its_cost_and_disposes_of_the_fee_units() {
    let mut b = buy("2024-01-01T00:00:00Z", "B", "BTC", "1", "100");
    b.fee_units = d("0.01");
    b.fee_value = Some(d("1"));
    let legs = [b];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    // Lot: 1 BTC at 101; fee disposal 0.01 at cost 1.01, proceeds 1: −0.01.
    let x = &r.disposals[0];
    assert_eq!(
        (x.kind, x.units, x.proceeds, x.cost, x.gain),
        (
            DisposalKind::Fee,
            d("0.01"),
            Some(d("1")),
            Some(d("1.01")),
            Some(d("-0.01"))
        )
    );
    let h = holding(&r, "BTC");
    assert_eq!((h.units_end, h.cost_end), (d("0.99"), d("99.99")));
}

#[test]
fn withdrawal_fee_is_a_fee_disposal_added_to_nothing_and_units_move_out() {
    let mut w = leg(
        "2024-02-01T00:00:00Z",
        "W",
        "BTC",
        LegKind::TransferOut,
        "0.5",
        Some("100"),
    );
    w.fee_units = d("0.001");
    w.fee_value = Some(d("0.2"));
    let legs = [buy("2024-01-01T00:00:00Z", "B", "BTC", "1", "100"), w];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    assert_eq!(r.disposals.len(), 1);
    let x = &r.disposals[0];
    // The transfer out took 0.5 (cost 50) first, then the fee: 0.001 at 0.1.
    assert_eq!(
        (x.kind, x.proceeds, x.cost, x.fees, x.gain),
        (
            DisposalKind::Fee,
            Some(d("0.2")),
            Some(d("0.1")),
            Some(d("0")),
            Some(d("0.1"))
        )
    );
    let h = holding(&r, "BTC");
    assert_eq!(
        (h.units_end, h.moved_out_units, h.cost_end),
        (d("0.499"), d("0.5"), d("49.9"))
    );
}

#[test]
fn kfee_or_fiat_fee_value_is_the_transactions_fee() {
    let mut s = sell("2024-02-01T00:00:00Z", "S", "BTC", "1", "150");
    s.other_fee = Some(d("0.93")); // 100 KFEE credits = 1 USD, in GBP
    let legs = [buy("2024-01-01T00:00:00Z", "B", "BTC", "1", "100"), s];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    assert_eq!(r.disposals[0].fees, Some(d("0.93")));
    assert_eq!(r.disposals[0].gain, Some(d("49.07")));
}

fn deposit(
    time: &str,
    id: &'static str,
    units: &str,
    basis: Option<Basis>,
    own: bool,
) -> GainsLeg<'static> {
    leg(
        time,
        id,
        "BTC",
        LegKind::TransferIn {
            basis,
            own_wallet: own,
        },
        units,
        Some("1"),
    )
}

#[test]
fn a_round_trip_restores_the_lots_with_their_dates_and_costs() {
    let legs = [
        buy("2020-01-01T00:00:00Z", "B", "BTC", "1", "100"),
        leg(
            "2021-01-01T00:00:00Z",
            "W",
            "BTC",
            LegKind::TransferOut,
            "1",
            Some("1"),
        ),
        deposit("2022-01-01T00:00:00Z", "D", "1", None, false),
        sell("2024-06-01T00:00:00Z", "S", "BTC", "1", "500"),
    ];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let x = &r.disposals[0];
    assert_eq!(
        (
            x.cost,
            x.acquired_ledger_id,
            x.acquired,
            x.cost_source,
            x.term
        ),
        (
            Some(d("100")),
            Some("B"),
            Some(t("2020-01-01T00:00:00Z")),
            CostSource::RoundTrip,
            Some(Term::Long)
        )
    );
    let r = compute(&legs, &options(Method::Fifo, year(2021)), &NoPrices).unwrap();
    assert_eq!(holding(&r, "BTC").moved_out_units, d("1"));
    let r = compute(&legs, &options(Method::Fifo, year(2022)), &NoPrices).unwrap();
    assert_eq!(holding(&r, "BTC").moved_out_units, d("0"));
}

#[test]
fn a_deposit_of_other_units_is_not_a_round_trip_unless_labelled_own_wallet() {
    let base = [
        buy("2020-01-01T00:00:00Z", "B1", "BTC", "1", "100"),
        buy("2020-02-01T00:00:00Z", "B2", "BTC", "1", "300"),
        leg(
            "2021-01-01T00:00:00Z",
            "W",
            "BTC",
            LegKind::TransferOut,
            "1.5",
            Some("1"),
        ),
    ];
    // Unlabelled 0.5: unknown cost.
    let mut legs = base.to_vec();
    legs.push(deposit("2022-01-01T00:00:00Z", "D", "0.5", None, false));
    legs.push(sell("2024-06-01T00:00:00Z", "S", "BTC", "1", "500"));
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    // Left before the sale: 0.5 of B2 (150), then the deposit's 0.5 of unknown cost.
    assert_eq!(r.disposals[0].cost, Some(d("150")));
    assert_eq!((r.disposals[1].cost, r.disposals[1].gain), (None, None));
    assert_eq!(summary(&r, "BTC").unknown_cost_disposals, 1);
    assert!(
        r.warnings[0].message.contains("kraken-tax basis import"),
        "{:?}",
        r.warnings
    );
    // Labelled own-wallet: takes back the earliest moved-out units: 0.5 of B1 (50).
    let mut legs = base.to_vec();
    legs.push(deposit("2022-01-01T00:00:00Z", "D", "0.5", None, true));
    legs.push(sell("2024-06-01T00:00:00Z", "S", "BTC", "1", "500"));
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let got: Vec<_> = r
        .disposals
        .iter()
        .map(|x| (x.acquired_ledger_id, x.cost))
        .collect();
    assert_eq!(
        got,
        [(Some("B1"), Some(d("50"))), (Some("B2"), Some(d("150")))]
    );
    assert_eq!(holding(&r, "BTC").moved_out_units, d("1"));
}

#[test]
fn basis_file_costs_and_unknown_cost_zero() {
    let basis = Basis {
        cost: d("70"),
        acquired: t("2019-05-01T00:00:00Z"),
    };
    let legs = [
        deposit("2024-01-01T00:00:00Z", "D1", "1", Some(basis), false),
        deposit("2024-01-02T00:00:00Z", "D2", "1", None, false),
        sell("2024-06-01T00:00:00Z", "S", "BTC", "2", "400"),
    ];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let x = &r.disposals[0];
    assert_eq!(
        (x.cost, x.cost_source, x.acquired, x.term),
        (
            Some(d("70")),
            CostSource::BasisFile,
            Some(t("2019-05-01T00:00:00Z")),
            Some(Term::Long)
        )
    );
    let y = &r.disposals[1];
    assert_eq!(
        (y.cost, y.gain, y.cost_source, y.term),
        (None, None, CostSource::Unknown, None)
    );
    let s = summary(&r, "BTC");
    // The disposal has a row of unknown gain: it is in neither gains nor losses.
    assert_eq!(
        (s.gains, s.losses, s.cost, s.unknown_cost_disposals),
        (d("0"), d("0"), Some(d("70")), 1)
    );
    let mut o = options(Method::Fifo, year(2024));
    o.unknown_cost = UnknownCost::Zero;
    let r = compute(&legs, &o, &NoPrices).unwrap();
    let y = &r.disposals[1];
    assert_eq!((y.cost, y.gain), (Some(d("0")), Some(d("200"))));
    assert!(y.note.contains("--unknown-cost zero"));
    let s = summary(&r, "BTC");
    assert_eq!((s.gains, s.unknown_cost_disposals), (d("330"), 1));
    assert!(r.warnings[0].message.contains("treated as zero"));
    assert_eq!(r.warnings[0].code.as_str(), "unknown_cost");
}

/// `--unknown-cost zero` says so in every file that carries a cost, for every method: the
/// disposal rows (cost 0, cost_source `unknown`, the note), the holdings (the units of
/// unknown cost, not in cost_end), the summary (still counted) and Form 8949 (`us`: the
/// description says it, and the deposit's date is not given as the date acquired).
#[test]
fn unknown_cost_zero_is_said_in_every_file_for_every_method() {
    let legs = [
        deposit("2024-01-01T00:00:00Z", "D", "2", None, false),
        buy("2024-01-02T00:00:00Z", "B", "BTC", "1", "100"),
        sell("2024-06-01T00:00:00Z", "S", "BTC", "1.5", "600"),
    ];
    // (method, rows as (units, cost, cost_source, note), holdings cost_end and unknown units)
    let zero = "cost unknown, treated as zero (--unknown-cost zero)";
    let unknown = |u: &str| (d(u), Some(d("0")), CostSource::Unknown, zero);
    let known = |u: &str, c: &str, s| (d(u), Some(d(c)), s, "");
    let cases = [
        (Method::Fifo, vec![unknown("1.5")], ("100", "0.5")),
        (
            Method::Lifo,
            vec![known("1", "100", CostSource::Ledger), unknown("0.5")],
            ("0", "1.5"),
        ),
        (
            Method::Hifo,
            vec![known("1", "100", CostSource::Ledger), unknown("0.5")],
            ("0", "1.5"),
        ),
        // The pool gives known and unknown units in proportion: 1.5 × 1/3 known, × 2/3 not.
        (
            Method::Average,
            vec![known("0.5", "50", CostSource::Ledger), unknown("1")],
            ("50", "1"),
        ),
        (
            Method::Uk,
            vec![known("0.5", "50", CostSource::Ledger), unknown("1")],
            ("50", "1"),
        ),
        (Method::De, vec![unknown("1.5")], ("100", "0.5")),
        (Method::Us, vec![unknown("1.5")], ("100", "0.5")),
    ];
    for (method, rows, (cost_end, unknown_units)) in cases {
        let mut o = options(method, year(2024));
        o.unknown_cost = UnknownCost::Zero;
        let r = compute(&legs, &o, &NoPrices).unwrap();
        let got: Vec<_> = r
            .disposals
            .iter()
            .map(|x| (x.units, x.cost, x.cost_source, x.note))
            .collect();
        assert_eq!(got, rows, "{method}");
        let text = csv_text(|w| write_disposals(w, &r.disposals));
        let cells: Vec<(String, String, String)> = ::csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[8].to_owned(), r[16].to_owned(), r[17].to_owned())
            })
            .collect();
        assert!(
            cells.contains(&("0".into(), "unknown".into(), zero.into())),
            "{method}: {text}"
        );
        let h = holding(&r, "BTC");
        assert_eq!(
            (h.cost_end, h.unknown_cost_units),
            (d(cost_end), d(unknown_units)),
            "{method}"
        );
        let holdings = csv_text(|w| write_holdings(w, &r.holdings, &o));
        assert!(
            holdings.contains(&format!(",BTC,0,1.5,{cost_end},{unknown_units},0,")),
            "{method}: {holdings}"
        );
        let s = summary(&r, "BTC");
        assert_eq!(s.unknown_cost_disposals, 1, "{method}");
        let summary_text = csv_text(|w| write_summary(w, &r.summary, &o));
        assert!(
            summary_text
                .lines()
                .all(|l| l.starts_with("period") || l.contains(",1,0,")),
            "{method}: {summary_text}"
        );
        assert!(
            r.warnings[0]
                .message
                .contains("treated as zero (--unknown-cost zero)")
        );
        if method == Method::Us {
            assert_eq!(
                csv_text(|w| write_form8949(w, &r.form8949)),
                "part,description,date_acquired,date_sold,proceeds,cost_basis,code,adjustment,gain_or_loss\n\
                 I,\"1.5 BTC (cost unknown, treated as zero)\",,2024-06-01,600.00,0.00,,,600.00\n"
            );
        }
    }
}

#[test]
fn unpriced_disposals_and_shortfalls_never_invent_a_number() {
    let legs = [
        buy("2024-01-01T00:00:00Z", "B", "BTC", "1", "100"),
        leg(
            "2024-02-01T00:00:00Z",
            "S",
            "BTC",
            LegKind::Disposal(DisposalKind::Sale),
            "0.5",
            None,
        ),
        sell("2024-03-01T00:00:00Z", "S2", "BTC", "1", "300"),
    ];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let x = &r.disposals[0];
    assert_eq!((x.proceeds, x.cost, x.gain), (None, Some(d("50")), None));
    // S2: 0.5 left (cost 50), then 0.5 nobody had: unknown.
    let rest: Vec<_> = r.disposals[1..]
        .iter()
        .map(|x| (x.units, x.cost, x.gain))
        .collect();
    assert_eq!(
        rest,
        [
            (d("0.5"), Some(d("50")), Some(d("100"))),
            (d("0.5"), None, None)
        ]
    );
    let s = summary(&r, "BTC");
    assert_eq!(
        (s.unpriced_disposals, s.unknown_cost_disposals, s.disposals),
        (1, 1, 2)
    );
    assert_eq!(s.proceeds, Some(d("300")));
    assert_eq!(holding(&r, "BTC").units_end, d("-0.5"));
    // One warning each, with its code for `--json`.
    let codes: Vec<&str> = r.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["unknown_cost", "unpriced_disposals"]);
}

#[test]
fn whole_history_is_matched_and_only_the_period_written() {
    let legs = [
        buy("2019-03-01T00:00:00Z", "B", "BTC", "2", "2000"),
        sell("2024-06-01T00:00:00Z", "S1", "BTC", "1", "60000"),
        sell("2025-06-01T00:00:00Z", "S2", "BTC", "1", "90000"),
    ];
    let y24 = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let y25 = compute(&legs, &options(Method::Fifo, year(2025)), &NoPrices).unwrap();
    assert_eq!(y24.disposals.len(), 1);
    assert_eq!(y25.disposals.len(), 1);
    assert_eq!(y25.disposals[0].acquired_ledger_id, Some("B"));
    assert_eq!(y25.disposals[0].gain, Some(d("89000")));
    assert_eq!(
        holding(&y24, "BTC").units_end,
        holding(&y25, "BTC").units_start
    );
    let from_to = Period::range(
        chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        Tz::UTC,
    )
    .unwrap();
    let one_day = compute(&legs, &options(Method::Fifo, from_to), &NoPrices).unwrap();
    assert_eq!(one_day.disposals.len(), 1);
}

#[test]
fn income_rows_margin_rows_and_holdings_value() {
    let mut st = leg(
        "2024-02-01T00:00:00Z",
        "R",
        "DOT",
        LegKind::Income(IncomeKind::Staking),
        "0.1",
        Some("5"),
    );
    st.kraken_type = "staking";
    st.price_source = "kraken:DOTGBP";
    let mut m = leg(
        "2024-03-01T00:00:00Z",
        "M",
        "GBP",
        LegKind::Margin,
        "-12.5",
        Some("-12.5"),
    );
    m.kraken_type = "rollover";
    let legs = [st, m, sell("2024-04-01T00:00:00Z", "S", "DOT", "0.05", "4")];
    let prices = |asset: &str, at: DateTime<Utc>| {
        (asset == "DOT" && at == t("2024-12-31T23:59:59.999999Z")).then(|| d("7"))
    };
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &prices).unwrap();
    assert_eq!(r.income.len(), 1);
    assert_eq!(
        (r.income[0].kind, r.income[0].price),
        (IncomeKind::Staking, Some(d("50")))
    );
    assert_eq!(r.disposals[0].cost, Some(d("2.5")));
    assert_eq!(summary(&r, "DOT").income, d("5"));
    assert_eq!(r.margin.len(), 1);
    let h = holding(&r, "DOT");
    assert_eq!(
        (h.units_end, h.price_end, h.value_end),
        (d("0.05"), Some(d("7")), Some(d("0.35")))
    );
    assert!(
        r.holdings.iter().all(|h| h.asset != "GBP"),
        "margin makes no holding"
    );
    assert_eq!(
        csv_text(|w| write_income(w, &r.income)),
        "time_utc,account,ledger_id,refid,kraken_type,kraken_subtype,crypto_asset,units,value,price,price_source,kind\n\
         2024-02-01T00:00:00.000000Z,main,R,R,staking,,DOT,0.1,5,50,kraken:DOTGBP,staking\n"
    );
    assert_eq!(
        csv_text(|w| write_margin(w, &r.margin)),
        "time_utc,account,ledger_id,refid,kraken_type,kraken_subtype,asset,amount,fee,value,price_source\n\
         2024-03-01T00:00:00.000000Z,main,M,M,rollover,,GBP,-12.5,0,-12.5,trade:GBP\n"
    );
}

#[test]
fn rows_round_to_10_places_and_the_last_takes_the_remainder() {
    let legs = [
        buy("2024-01-01T00:00:00Z", "A", "BTC", "1", "1"),
        buy("2024-01-02T00:00:00Z", "B", "BTC", "1", "1"),
        buy("2024-01-03T00:00:00Z", "C", "BTC", "1", "1"),
        sell("2024-02-01T00:00:00Z", "S", "BTC", "3", "10"),
    ];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let p: Vec<_> = r
        .disposals
        .iter()
        .map(|x| (x.proceeds.unwrap(), x.gain.unwrap()))
        .collect();
    assert_eq!(
        p,
        [
            (d("3.3333333333"), d("2.3333333333")),
            (d("3.3333333333"), d("2.3333333333")),
            (d("3.3333333334"), d("2.3333333334")),
        ]
    );
}

/// gains.md: money in rows is rounded half to even to 10 decimal places, in every file (the
/// holdings' carried cost and value, the income and margin values, as the disposals).
#[test]
fn every_money_column_of_every_file_rounds_half_even_to_10_places() {
    let mut m = leg(
        "2024-01-06T00:00:00Z",
        "M",
        "EUR",
        LegKind::Margin,
        "-1.5",
        Some("-0.98765432125"),
    );
    m.kraken_type = "margin";
    let legs = [
        // 1 for 3 BTC: after selling 1, the 2 left carry 2/3 (28 decimals in the engine).
        buy("2024-01-01T00:00:00Z", "B", "BTC", "3", "1"),
        leg(
            "2024-01-05T00:00:00Z",
            "I",
            "DOT",
            LegKind::Income(IncomeKind::Staking),
            "0.3",
            Some("0.12345678905"),
        ),
        m,
        sell("2024-02-01T00:00:00Z", "S", "BTC", "1", "2"),
    ];
    let prices = |asset: &str, _: DateTime<Utc>| (asset == "BTC").then(|| d("0.123456789075"));
    let o = options(Method::Fifo, year(2024));
    let r = compute(&legs, &o, &prices).unwrap();
    // 2/3 → 0.6666666667; 2 × 0.123456789075 = 0.24691357815 → 0.2469135782 (half to
    // even: up from an odd digit); the DOT lot's 0.12345678905 → 0.1234567890 (down to an
    // even digit; half up would give ...891).
    assert_eq!(
        csv_text(|w| write_holdings(w, &r.holdings, &o)),
        "period,account,crypto_asset,units_start,units_end,cost_end,unknown_cost_units,moved_out_units,price_end,value_end,method,currency\n\
         2024,main,BTC,0,2,0.6666666667,0,0,0.123456789075,0.2469135782,fifo,GBP\n\
         2024,main,DOT,0,0.3,0.123456789,0,0,,,fifo,GBP\n"
    );
    assert_eq!(
        csv_text(|w| write_income(w, &r.income)),
        "time_utc,account,ledger_id,refid,kraken_type,kraken_subtype,crypto_asset,units,value,price,price_source,kind\n\
         2024-01-05T00:00:00.000000Z,main,I,I,trade,,DOT,0.3,0.1234567890,0.4115226302,trade:GBP,staking\n"
    );
    assert_eq!(
        csv_text(|w| write_margin(w, &r.margin)),
        "time_utc,account,ledger_id,refid,kraken_type,kraken_subtype,asset,amount,fee,value,price_source\n\
         2024-01-06T00:00:00.000000Z,main,M,M,margin,,EUR,-1.5,0,-0.9876543212,trade:GBP\n"
    );
    assert_eq!(
        csv_text(|w| write_disposals(w, &r.disposals))
            .lines()
            .nth(1),
        Some(
            "2024-02-01T00:00:00.000000Z,main,S,S,BTC,sale,1,2,0.3333333333,0,1.6666666667,2024-01-01T00:00:00.000000Z,B,31,short,fifo,ledger,"
        )
    );
    // The summary's income is the sum of the rows' rounded values.
    assert_eq!(summary(&r, "DOT").income, d("0.1234567890"));
}

#[test]
fn files_have_gains_md_headers_and_summary_rounds_once_half_even() {
    let (legs, o) = run(Method::Fifo);
    let r = compute(&legs, &o, &NoPrices).unwrap();
    let text = csv_text(|w| write_disposals(w, &r.disposals));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "time_utc,account,ledger_id,refid,crypto_asset,disposal_kind,units,proceeds,cost,fees,gain,acquired_utc,acquired_ledger_id,holding_days,term,rule,cost_source,note"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "2024-03-01T12:00:00.000000Z,main,S,S,BTC,sale,1,400,101,4,295,2023-01-10T12:00:00.000000Z,L1,416,long,fifo,ledger,"
        )
    );
    let rows = vec![SummaryRow {
        asset: "BTC".into(),
        disposals: 2,
        proceeds: Some(d("0.125")),
        cost: Some(d("0.135")),
        fees: None,
        gains: d("1"),
        losses: d("0"),
        net_gain: d("1"),
        short_net: Some(d("0.005")),
        long_net: Some(d("-0.015")),
        exempt_net: None,
        income: d("0"),
        unknown_cost_disposals: 0,
        unpriced_disposals: 2,
    }];
    assert_eq!(
        csv_text(|w| write_summary(w, &rows, &o)),
        "period,accounts,crypto_asset,disposals,proceeds,cost,fees,gains,losses,net_gain,short_net,long_net,exempt_net,income,unknown_cost_disposals,unpriced_disposals,method,currency\n\
         2024,main,BTC,2,0.12,0.14,,1.00,0.00,1.00,0.00,-0.02,,0.00,0,2,fifo,GBP\n"
    );
    let h = csv_text(|w| write_holdings(w, &r.holdings, &o));
    assert_eq!(
        h,
        "period,account,crypto_asset,units_start,units_end,cost_end,unknown_cost_units,moved_out_units,price_end,value_end,method,currency\n\
         2024,main,BTC,2,1.5,350,0,0,,,fifo,GBP\n"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let legs = [
        buy("2024-02-01T00:00:00Z", "B", "BTC", "1", "1"),
        buy("2024-01-01T00:00:00Z", "A", "BTC", "1", "1"),
    ];
    assert_eq!(
        compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices),
        Err(GainsError::OutOfOrder {
            ledger_id: "A".into()
        })
    );
    let mut b = buy("2024-01-01T00:00:00Z", "N", "BTC", "1", "1");
    b.units = d("-1");
    assert_eq!(
        compute(&[b], &options(Method::Fifo, year(2024)), &NoPrices),
        Err(GainsError::Negative {
            ledger_id: "N".into()
        })
    );
    let mut x = buy("2024-01-01T00:00:00Z", "X", "BTC", "1", "1");
    x.value = Some(Decimal::MAX);
    let mut y = x;
    y.ledger_id = "Y";
    for m in [Method::Fifo, Method::Average, Method::Uk, Method::Hifo] {
        let legs = [x, y, sell("2024-01-02T00:00:00Z", "S", "BTC", "2", "1")];
        let e = compute(&legs, &options(m, year(2024)), &NoPrices).unwrap_err();
        assert!(matches!(e, GainsError::Overflow { .. }), "{m}: {e:?}");
    }
}

#[test]
fn zero_unit_legs_are_harmless_for_every_method() {
    let legs = [
        buy("2024-01-01T00:00:00Z", "Z", "BTC", "0", "0"),
        leg(
            "2024-01-02T00:00:00Z",
            "I",
            "BTC",
            LegKind::Income(IncomeKind::Airdrop),
            "0",
            None,
        ),
        sell("2024-01-03T00:00:00Z", "S", "BTC", "0", "0"),
    ];
    for m in [
        Method::Fifo,
        Method::Lifo,
        Method::Hifo,
        Method::Average,
        Method::Uk,
        Method::De,
        Method::Us,
    ] {
        let r = compute(&legs, &options(m, year(2024)), &NoPrices).unwrap();
        assert!(r.disposals.is_empty(), "{m}");
    }
}

#[test]
fn income_is_totalled_per_asset_and_month_in_the_zone() {
    let inc = |time, id, asset, units, value: Option<&str>| {
        leg(
            time,
            id,
            asset,
            LegKind::Income(IncomeKind::Earn),
            units,
            value,
        )
    };
    let legs = [
        inc("2024-01-31T23:30:00Z", "A", "DOT", "1", Some("5")),
        inc("2024-02-10T00:00:00Z", "B", "DOT", "2", Some("11")),
        inc("2024-02-11T00:00:00Z", "C", "DOT", "0.5", None),
        inc("2024-02-12T00:00:00Z", "D", "ETH", "0.1", Some("200")),
        leg(
            "2024-02-13T00:00:00Z",
            "E",
            "DOT",
            LegKind::Income(IncomeKind::Airdrop),
            "7",
            Some("1"),
        ),
    ];
    let r = compute(&legs, &options(Method::Fifo, year(2024)), &NoPrices).unwrap();
    let months = |tz| {
        income_by_month(&r.income, tz)
            .unwrap()
            .into_iter()
            .map(|m| {
                (
                    m.asset,
                    m.month,
                    m.kind.as_str(),
                    m.legs,
                    m.units,
                    m.value,
                    m.unpriced,
                )
            })
            .collect::<Vec<_>>()
    };
    let s = |x: &str| x.to_owned();
    // One row per asset, month and kind: the airdrop is not added to February's earn.
    assert_eq!(
        months(Tz::UTC),
        vec![
            (s("DOT"), s("2024-01"), "earn", 1, d("1"), d("5"), 0),
            (s("DOT"), s("2024-02"), "airdrop", 1, d("7"), d("1"), 0),
            (s("DOT"), s("2024-02"), "earn", 2, d("2.5"), d("11"), 1),
            (s("ETH"), s("2024-02"), "earn", 1, d("0.1"), d("200"), 0),
        ]
    );
    // 23:30 UTC on 31 January is February in Berlin.
    assert_eq!(months(chrono_tz::Europe::Berlin)[0].1, "2024-02");
}

/// An income row's price is `value / units` rounded to 10 places: 0.2646707652 DOT at 6.5316
/// is worth 1.728723569980 (rounded to 12 places by the valuation), which divided back gives
/// 6.5315999999987909507128292385 unrounded.
#[test]
fn an_income_rows_price_is_value_over_units_to_10_places() {
    let staking = leg(
        "2025-01-04T07:46:04Z",
        "S",
        "DOT",
        LegKind::Income(IncomeKind::Staking),
        "0.2646707652",
        Some("1.728723569980"),
    );
    let derived = leg(
        "2025-01-05T00:00:00Z",
        "T",
        "DOT",
        LegKind::Income(IncomeKind::Staking),
        "0.5",
        Some("2"),
    );
    let legs = [staking, derived];
    let opts = options(Method::Fifo, year(2025));
    let r = compute(&legs, &opts, &NoPrices).unwrap();
    let prices: Vec<_> = r.income.iter().map(|i| i.price).collect();
    assert_eq!(prices, [Some(d("6.5316")), Some(d("4"))]);
}
