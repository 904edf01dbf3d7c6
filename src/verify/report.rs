//! What a verification found, as data (serialized for `--json` and the database) and as text.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A probable gap: a break of the balance identity between two entries of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Raw asset code of the chain.
    pub asset: String,
    /// Wallet of the chain, where the rows name one.
    pub wallet: Option<String>,
    /// The last entry that chains before the break; `None` when the break is before the first
    /// stored entry of the chain (which should start from zero).
    pub previous_id: Option<String>,
    /// Its time.
    #[serde(with = "opt_time")]
    pub previous_time: Option<DateTime<Utc>>,
    /// The first entry after the break.
    pub next_id: String,
    /// Its time.
    #[serde(with = "time")]
    pub next_time: DateTime<Utc>,
    /// The balance the previous entry left (zero before the first entry).
    pub expected_balance_before: Decimal,
    /// What the next entry implies was there before it: `balance - amount + fee`.
    pub found_balance_before: Decimal,
    /// `found - expected`: the net (`amount - fee`) of what is missing between the two.
    pub missing: Decimal,
}

impl Gap {
    /// One sentence naming the chain, the two entries around the break and what is missing.
    pub fn describe(&self) -> String {
        let chain = match &self.wallet {
            Some(w) => format!("{} ({w})", self.asset),
            None => self.asset.clone(),
        };
        let previous = match (&self.previous_id, self.previous_time) {
            (Some(id), Some(t)) => format!("{id} ({})", fmt_time(t)),
            _ => "the start of the history".to_owned(),
        };
        format!(
            "gap in {chain} between {previous} and {} ({}): balance before it should be {} but is {}; missing {} {}",
            self.next_id,
            fmt_time(self.next_time),
            self.expected_balance_before,
            self.found_balance_before,
            signed(self.missing),
            self.asset
        )
    }

    /// True when the missing entries may lie in calendar `year` (UTC): the gap spans from the
    /// previous entry's time (or the beginning) to the next entry's time.
    pub fn may_fall_in(&self, year: i32) -> bool {
        let from = self.previous_time.map_or(i32::MIN, |t| t.year());
        from <= year && year <= self.next_time.year()
    }
}

/// The state of one balance chain at the end of the stored history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSummary {
    /// Raw asset code.
    pub asset: String,
    /// Wallet, where the rows name one.
    pub wallet: Option<String>,
    /// Entries stored.
    pub entries: u64,
    /// Entries without a balance (not checked).
    pub blank_balances: u64,
    /// The newest entry with a balance.
    pub last_id: Option<String>,
    /// Its time.
    #[serde(with = "opt_time")]
    pub last_time: Option<DateTime<Utc>>,
    /// The newest known balance.
    pub balance: Decimal,
    /// Net of blank-balance rows after the newest known balance: the current balance is
    /// `balance` or `balance + unapplied_blank`, depending on what those rows were.
    pub unapplied_blank: Decimal,
}

/// A trade whose ledger legs are missing or do not match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TradeProblem {
    /// A ledger id the trade lists is not stored.
    MissingLeg {
        /// The trade.
        trade_id: String,
        /// When it was filled.
        #[serde(with = "time")]
        time: DateTime<Utc>,
        /// The ledger id that is missing.
        ledger_id: String,
    },
    /// The trade lists no ledger ids and no stored entry has its id as refid.
    NoLegs {
        /// The trade.
        trade_id: String,
        /// When it was filled.
        #[serde(with = "time")]
        time: DateTime<Utc>,
    },
    /// The base leg's amount is not the trade's volume.
    VolumeMismatch {
        /// The trade.
        trade_id: String,
        /// When it was filled.
        #[serde(with = "time")]
        time: DateTime<Utc>,
        /// The base asset (the leg that moved in the trade's direction).
        asset: String,
        /// The trade's `vol`.
        vol: Decimal,
        /// The legs' amount in that asset, summed.
        leg_amount: Decimal,
    },
    /// The quote leg's amount is not the trade's cost.
    CostMismatch {
        /// The trade.
        trade_id: String,
        /// When it was filled.
        #[serde(with = "time")]
        time: DateTime<Utc>,
        /// The quote asset.
        asset: String,
        /// The trade's `cost`.
        cost: Decimal,
        /// The legs' amount in that asset, summed.
        leg_amount: Decimal,
    },
    /// The legs do not look like one asset in, one asset out.
    UnexpectedLegs {
        /// The trade.
        trade_id: String,
        /// When it was filled.
        #[serde(with = "time")]
        time: DateTime<Utc>,
        /// Net amount per asset, e.g. `XXBT +0.5, ZEUR -100`.
        moved: String,
    },
}

impl TradeProblem {
    /// The trade concerned.
    pub fn trade_id(&self) -> &str {
        match self {
            TradeProblem::MissingLeg { trade_id, .. }
            | TradeProblem::NoLegs { trade_id, .. }
            | TradeProblem::VolumeMismatch { trade_id, .. }
            | TradeProblem::CostMismatch { trade_id, .. }
            | TradeProblem::UnexpectedLegs { trade_id, .. } => trade_id,
        }
    }

    /// When the trade was filled.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            TradeProblem::MissingLeg { time, .. }
            | TradeProblem::NoLegs { time, .. }
            | TradeProblem::VolumeMismatch { time, .. }
            | TradeProblem::CostMismatch { time, .. }
            | TradeProblem::UnexpectedLegs { time, .. } => *time,
        }
    }

    /// One sentence.
    pub fn describe(&self) -> String {
        match self {
            TradeProblem::MissingLeg {
                trade_id,
                ledger_id,
                ..
            } => format!("trade {trade_id}: its ledger entry {ledger_id} is not stored"),
            TradeProblem::NoLegs { trade_id, .. } => {
                format!("trade {trade_id}: no ledger entry belongs to it")
            }
            TradeProblem::VolumeMismatch {
                trade_id,
                asset,
                vol,
                leg_amount,
                ..
            } => format!("trade {trade_id}: volume {vol} but its {asset} legs move {leg_amount}"),
            TradeProblem::CostMismatch {
                trade_id,
                asset,
                cost,
                leg_amount,
                ..
            } => format!("trade {trade_id}: cost {cost} but its {asset} legs move {leg_amount}"),
            TradeProblem::UnexpectedLegs {
                trade_id, moved, ..
            } => format!("trade {trade_id}: its legs do not trade one asset for another ({moved})"),
        }
    }
}

/// The newest stored balance of an asset differs from what Kraken reports now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceMismatch {
    /// Raw asset code.
    pub asset: String,
    /// The newest stored balance (summed over wallets).
    pub stored: Decimal,
    /// Kraken's balance (zero when Kraken does not list the asset).
    pub kraken: Decimal,
    /// `kraken - stored`: the net of what is missing after the newest stored entry (or the
    /// entries Kraken booked since the last sync).
    pub difference: Decimal,
    /// The newest stored entry of the asset.
    pub last_id: Option<String>,
}

/// The comparison of the newest stored balances with Kraken's `Balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BalanceCheck {
    /// Not attempted (the checks run at the end of a sync never call Kraken again).
    NotRun,
    /// Could not be done; the reason says why and what to do.
    Skipped {
        /// One sentence.
        reason: String,
    },
    /// Every asset matches.
    Matched {
        /// Assets compared.
        assets: usize,
    },
    /// Some assets differ.
    Mismatch {
        /// The assets that differ.
        mismatches: Vec<BalanceMismatch>,
    },
}

/// Everything a verification found about one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The account.
    pub account: String,
    /// No gap, no trade problem, no balance difference.
    pub consistent: bool,
    /// Ledger entries checked.
    pub ledger_entries: u64,
    /// Trades checked.
    pub trades: u64,
    /// Ledger entries without a balance (not checked, never flagged).
    pub blank_balances: u64,
    /// Probable gaps, by asset, wallet and time.
    pub gaps: Vec<Gap>,
    /// Trades whose legs are missing or do not match, by time.
    pub trade_problems: Vec<TradeProblem>,
    /// The comparison with Kraken's current balances.
    pub balance_check: BalanceCheck,
    /// Every chain's end state, by asset and wallet.
    pub chains: Vec<ChainSummary>,
}

impl VerifyReport {
    /// Builds a report; `consistent` is derived from the findings.
    pub fn new(
        account: &str,
        ledger_entries: u64,
        trades: u64,
        gaps: Vec<Gap>,
        trade_problems: Vec<TradeProblem>,
        chains: Vec<ChainSummary>,
    ) -> Self {
        let mut r = VerifyReport {
            account: account.to_owned(),
            consistent: false,
            ledger_entries,
            trades,
            blank_balances: chains.iter().map(|c| c.blank_balances).sum(),
            gaps,
            trade_problems,
            balance_check: BalanceCheck::NotRun,
            chains,
        };
        r.consistent = r.compute_consistent();
        r
    }

    /// Sets the balance comparison and recomputes `consistent`.
    pub fn with_balance_check(mut self, check: BalanceCheck) -> Self {
        self.balance_check = check;
        self.consistent = self.compute_consistent();
        self
    }

    fn compute_consistent(&self) -> bool {
        self.gaps.is_empty()
            && self.trade_problems.is_empty()
            && !matches!(self.balance_check, BalanceCheck::Mismatch { .. })
    }

    /// Balance differences found by the comparison with Kraken (zero when not run).
    pub fn balance_mismatches(&self) -> usize {
        match &self.balance_check {
            BalanceCheck::Mismatch { mismatches } => mismatches.len(),
            _ => 0,
        }
    }

    /// Gaps whose missing entries may lie in calendar `year` (UTC). For the export's warning:
    /// figures of such a year may be incomplete.
    pub fn gaps_in_year(&self, year: i32) -> Vec<&Gap> {
        self.gaps.iter().filter(|g| g.may_fall_in(year)).collect()
    }

    /// Trade problems of trades filled in calendar `year` (UTC).
    pub fn trade_problems_in_year(&self, year: i32) -> Vec<&TradeProblem> {
        self.trade_problems
            .iter()
            .filter(|p| p.time().year() == year)
            .collect()
    }

    /// True when `year` has a gap or a trade problem. Balance differences are not tied to a
    /// year (they concern the newest entries) and are not counted here.
    pub fn has_unresolved_in_year(&self, year: i32) -> bool {
        !self.gaps_in_year(year).is_empty() || !self.trade_problems_in_year(year).is_empty()
    }

    /// One line: `consistent` or what was found.
    pub fn summary(&self) -> String {
        if self.consistent {
            return "consistent".to_owned();
        }
        let mut parts = Vec::new();
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        if !self.gaps.is_empty() {
            parts.push(count(self.gaps.len(), "probable gap", "probable gaps"));
        }
        if !self.trade_problems.is_empty() {
            parts.push(count(
                self.trade_problems.len(),
                "trade with missing or mismatched legs",
                "trades with missing or mismatched legs",
            ));
        }
        let m = self.balance_mismatches();
        if m > 0 {
            parts.push(count(
                m,
                "asset whose balance differs from Kraken's",
                "assets whose balances differ from Kraken's",
            ));
        }
        parts.join(", ")
    }

    /// The readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "account {:?}: {} in {}, {}",
            self.account,
            crate::text::plural(self.ledger_entries, "ledger entry", "ledger entries"),
            crate::text::count(self.chains.len(), "balance chain"),
            crate::text::count(self.trades, "trade")
        );
        if self.blank_balances > 0 {
            let _ = writeln!(
                out,
                "  {} no balance: not checked, the chain continues past them",
                crate::text::plural(self.blank_balances, "entry has", "entries have")
            );
        }
        for g in &self.gaps {
            let _ = writeln!(out, "  {}", g.describe());
        }
        for p in &self.trade_problems {
            let _ = writeln!(out, "  {}", p.describe());
        }
        match &self.balance_check {
            BalanceCheck::NotRun => {}
            BalanceCheck::Skipped { reason } => {
                let _ = writeln!(out, "  balance check skipped: {reason}");
            }
            BalanceCheck::Matched { assets } => {
                let _ = writeln!(
                    out,
                    "  balance check: the newest stored balance of all {assets} assets equals Kraken's"
                );
            }
            BalanceCheck::Mismatch { mismatches } => {
                for m in mismatches {
                    let _ = writeln!(
                        out,
                        "  balance of {}: stored {} (after {}), Kraken says {}; difference {}",
                        m.asset,
                        m.stored,
                        m.last_id.as_deref().unwrap_or("no entry"),
                        m.kraken,
                        signed(m.difference)
                    );
                }
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn signed(d: Decimal) -> String {
    if d.is_sign_negative() {
        d.to_string()
    } else {
        format!("+{d}")
    }
}

/// Compares each asset's newest stored balance (summed over its wallets) with Kraken's
/// `Balance` answer. An asset missing on one side counts as zero there. Blank-balance rows
/// after the newest known balance make two values acceptable (see [`ChainSummary`]).
pub fn compare_balances(
    chains: &[ChainSummary],
    kraken: &BTreeMap<String, Decimal>,
) -> BalanceCheck {
    struct Stored {
        balance: Decimal,
        blank: Decimal,
        last: Option<(DateTime<Utc>, String)>,
    }
    let mut stored: BTreeMap<&str, Stored> = BTreeMap::new();
    for c in chains {
        let s = stored.entry(&c.asset).or_insert(Stored {
            balance: Decimal::ZERO,
            blank: Decimal::ZERO,
            last: None,
        });
        match (
            s.balance.checked_add(c.balance),
            s.blank.checked_add(c.unapplied_blank),
        ) {
            (Some(b), Some(u)) => (s.balance, s.blank) = (b, u),
            _ => {
                return BalanceCheck::Skipped {
                    reason: format!(
                        "the stored balances of {} over its wallets add up beyond the range of a decimal number",
                        c.asset
                    ),
                };
            }
        }
        if let (Some(t), Some(id)) = (c.last_time, &c.last_id)
            && s.last.as_ref().is_none_or(|(lt, _)| t > *lt)
        {
            s.last = Some((t, id.clone()));
        }
    }
    let mut assets: Vec<&str> = stored.keys().copied().collect();
    for a in kraken.keys() {
        if !stored.contains_key(a.as_str()) {
            assets.push(a);
        }
    }
    assets.sort_unstable();
    let mut mismatches = Vec::new();
    for asset in &assets {
        let k = kraken.get(*asset).copied().unwrap_or(Decimal::ZERO);
        let (s, blank, last) = match stored.get(asset) {
            Some(s) => (s.balance, s.blank, s.last.as_ref().map(|l| l.1.clone())),
            None => (Decimal::ZERO, Decimal::ZERO, None),
        };
        if k != s && s.checked_add(blank) != Some(k) {
            let Some(difference) = k.checked_sub(s) else {
                return BalanceCheck::Skipped {
                    reason: format!(
                        "Kraken's balance of {asset} ({k}) and the stored one ({s}) differ beyond the range of a decimal number"
                    ),
                };
            };
            mismatches.push(BalanceMismatch {
                asset: (*asset).to_owned(),
                stored: s,
                kraken: k,
                difference,
                last_id: last,
            });
        }
    }
    if mismatches.is_empty() {
        BalanceCheck::Matched {
            assets: assets.len(),
        }
    } else {
        BalanceCheck::Mismatch { mismatches }
    }
}

/// RFC 3339 UTC text with microseconds, for serde (chrono's serde feature is not enabled).
mod time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// [`time`] for optional values (`null` when absent).
mod opt_time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::time::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn chain(asset: &str, wallet: Option<&str>, balance: Decimal, last: &str) -> ChainSummary {
        ChainSummary {
            asset: asset.into(),
            wallet: wallet.map(Into::into),
            entries: 3,
            blank_balances: 0,
            last_id: Some(last.into()),
            last_time: Some(Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()),
            balance,
            unapplied_blank: Decimal::ZERO,
        }
    }

    #[test]
    fn balances_beyond_the_decimal_range_skip_the_comparison_with_the_reason() {
        let half = dec!(50000000000000000000000000000);
        let two_wallets = vec![
            chain("DOT", None, half, "L1"),
            chain("DOT", Some("earn / flexible"), half, "L2"),
        ];
        assert_eq!(
            compare_balances(&two_wallets, &BTreeMap::new()),
            BalanceCheck::Skipped {
                reason: "the stored balances of DOT over its wallets add up beyond the range of a decimal number".into()
            }
        );
        let kraken: BTreeMap<String, Decimal> = [("DOT".to_owned(), half)].into();
        assert_eq!(
            compare_balances(&[chain("DOT", None, -half, "L1")], &kraken),
            BalanceCheck::Skipped {
                reason: "Kraken's balance of DOT (50000000000000000000000000000) and the stored one (-50000000000000000000000000000) differ beyond the range of a decimal number".into()
            }
        );
    }

    #[test]
    fn balances_compare_numerically_summed_over_wallets_absent_as_zero() {
        let chains = vec![
            chain("DOT", None, dec!(1.5), "L1"),
            chain("DOT", Some("earn / flexible"), dec!(2), "L2"),
            chain("ZEUR", None, dec!(12.5000), "L3"),
            chain("XXBT", None, dec!(0), "L4"),
        ];
        let kraken: BTreeMap<String, Decimal> = [
            ("DOT".to_owned(), dec!(3.50)),
            ("ZEUR".to_owned(), dec!(12.5)),
        ]
        .into();
        assert_eq!(
            compare_balances(&chains, &kraken),
            BalanceCheck::Matched { assets: 3 }
        );
        let kraken: BTreeMap<String, Decimal> = [
            ("DOT".to_owned(), dec!(3.5)),
            ("ZEUR".to_owned(), dec!(10)),
            ("USDT".to_owned(), dec!(7)),
        ]
        .into();
        assert_eq!(
            compare_balances(&chains, &kraken),
            BalanceCheck::Mismatch {
                mismatches: vec![
                    BalanceMismatch {
                        asset: "USDT".into(),
                        stored: dec!(0),
                        kraken: dec!(7),
                        difference: dec!(7),
                        last_id: None,
                    },
                    BalanceMismatch {
                        asset: "ZEUR".into(),
                        stored: dec!(12.5),
                        kraken: dec!(10),
                        difference: dec!(-2.5),
                        last_id: Some("L3".into()),
                    },
                ]
            }
        );
    }

    fn gap(prev: Option<i32>, next: i32) -> Gap {
        Gap {
            asset: "ZEUR".into(),
            wallet: None,
            previous_id: prev.map(|_| "LP".into()),
            previous_time: prev.map(|y| Utc.with_ymd_and_hms(y, 12, 31, 23, 0, 0).unwrap()),
            next_id: "LN".into(),
            next_time: Utc.with_ymd_and_hms(next, 1, 2, 0, 0, 0).unwrap(),
            expected_balance_before: dec!(1),
            found_balance_before: dec!(3),
            missing: dec!(2),
        }
    }

    #[test]
    fn years_of_gaps_and_json_round_trip() {
        let r = VerifyReport::new(
            "a",
            10,
            2,
            vec![gap(Some(2024), 2025), gap(None, 2023)],
            vec![TradeProblem::NoLegs {
                trade_id: "T1".into(),
                time: Utc.with_ymd_and_hms(2022, 5, 1, 0, 0, 0).unwrap(),
            }],
            vec![],
        );
        assert!(!r.consistent);
        assert_eq!(r.gaps_in_year(2024).len(), 1);
        assert_eq!(r.gaps_in_year(2025).len(), 1);
        assert_eq!(r.gaps_in_year(2023).len(), 1);
        assert_eq!(r.gaps_in_year(1999).len(), 1, "open start");
        assert_eq!(r.gaps_in_year(2026).len(), 0);
        assert!(r.has_unresolved_in_year(2022));
        assert!(!r.has_unresolved_in_year(2026));
        let json = serde_json::to_string(&r).unwrap();
        let back: VerifyReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["gaps"][0]["missing"], "2");
        assert_eq!(v["gaps"][0]["next_time"], "2025-01-02T00:00:00.000000Z");
        assert_eq!(v["gaps"][1]["previous_id"], serde_json::Value::Null);
        assert_eq!(v["trade_problems"][0]["problem"], "no_legs");
        assert_eq!(v["balance_check"]["status"], "not_run");
        assert_eq!(
            r.summary(),
            "2 probable gaps, 1 trade with missing or mismatched legs"
        );
    }

    #[test]
    fn text_report_names_entries_and_amounts() {
        let r = VerifyReport::new("main", 10, 0, vec![gap(Some(2024), 2025)], vec![], vec![])
            .with_balance_check(BalanceCheck::Skipped {
                reason: "no API credentials".into(),
            });
        assert_eq!(
            r.render_text(),
            "account \"main\": 10 ledger entries in 0 balance chains, 0 trades\n\
             \x20 gap in ZEUR between LP (2024-12-31 23:00:00 UTC) and LN (2025-01-02 00:00:00 UTC): balance before it should be 1 but is 3; missing +2 ZEUR\n\
             \x20 balance check skipped: no API credentials\n\
             1 probable gap\n"
        );
        let ok = VerifyReport::new("main", 0, 0, vec![], vec![], vec![])
            .with_balance_check(BalanceCheck::Matched { assets: 0 });
        assert!(ok.consistent);
        let bad = ok.with_balance_check(BalanceCheck::Mismatch { mismatches: vec![] });
        assert!(!bad.consistent);
    }
}
