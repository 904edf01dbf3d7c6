//! Reporting periods (gains.md "Periods"): a half-open UTC interval `[start, end)`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The period whose rows are written (matching always runs over the whole history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// First instant in the period.
    pub start: DateTime<Utc>,
    /// First instant after it.
    pub end: DateTime<Utc>,
    /// Its name in the file names, the `period` column and the messages: `2025` (calendar
    /// year), `2025-uk` (UK tax year ending in 2025), `2025-au`, `2025-01-01_2025-06-30`.
    pub label: String,
    /// The zone its days and months are counted in (`--tz`; Europe/London for `uk`,
    /// Australia/Sydney for `au`): the income months file's months.
    pub tz: Tz,
}

/// The kind of year `--year Y` means (`--period`, `[gains] period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaxYear {
    /// The calendar year, in --tz (default UTC; the default unless --method uk).
    Calendar,
    /// The UK tax year ending in Y: 6 April Y-1 to 5 April Y, Europe/London.
    Uk,
    /// The Australian tax year ending in Y: 1 July Y-1 to 30 June Y, Australia/Sydney.
    Au,
}

fn midnight(tz: Tz, d: NaiveDate) -> Option<DateTime<Utc>> {
    let local = d.and_hms_opt(0, 0, 0)?;
    Some(
        tz.from_local_datetime(&local)
            .earliest()?
            .with_timezone(&Utc),
    )
}

impl Period {
    /// `--year Y` (`--tz`): 1 January Y to 1 January Y+1 in `tz`.
    pub fn calendar_year(year: i32, tz: Tz) -> Option<Period> {
        Some(Period {
            start: midnight(tz, NaiveDate::from_ymd_opt(year, 1, 1)?)?,
            end: midnight(tz, NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?)?,
            label: year.to_string(),
            tz,
        })
    }

    /// `--period uk --year Y`: 6 April Y−1 to 5 April Y inclusive, Europe/London.
    pub fn uk_tax_year(year: i32) -> Option<Period> {
        let tz = chrono_tz::Europe::London;
        Some(Period {
            start: midnight(tz, NaiveDate::from_ymd_opt(year.checked_sub(1)?, 4, 6)?)?,
            end: midnight(tz, NaiveDate::from_ymd_opt(year, 4, 6)?)?,
            label: format!("{year}-uk"),
            tz,
        })
    }

    /// `--period au --year Y`: 1 July Y−1 to 30 June Y inclusive, Australia/Sydney.
    pub fn au_year(year: i32) -> Option<Period> {
        let tz = chrono_tz::Australia::Sydney;
        Some(Period {
            start: midnight(tz, NaiveDate::from_ymd_opt(year.checked_sub(1)?, 7, 1)?)?,
            end: midnight(tz, NaiveDate::from_ymd_opt(year, 7, 1)?)?,
            label: format!("{year}-au"),
            tz,
        })
    }

    /// `--from DATE --to DATE` in `tz`, both days included. `None` when `to < from`.
    pub fn range(from: NaiveDate, to: NaiveDate, tz: Tz) -> Option<Period> {
        if to < from {
            return None;
        }
        Some(Period {
            start: midnight(tz, from)?,
            end: midnight(tz, to.succ_opt()?)?,
            label: format!("{from}_{to}"),
            tz,
        })
    }

    /// True when `t` is in the period.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn uk_tax_year_runs_6_april_to_5_april_london_time() {
        let p = Period::uk_tax_year(2025).unwrap();
        // 6 April 2024 00:00 BST is 5 April 23:00 UTC.
        assert_eq!(p.start, at("2024-04-05T23:00:00Z"));
        assert_eq!(p.end, at("2025-04-05T23:00:00Z"));
        assert_eq!(p.label, "2025-uk");
    }

    #[test]
    fn au_year_and_calendar_year_and_range() {
        let p = Period::au_year(2025).unwrap();
        // 1 July 2024 00:00 AEST (UTC+10) is 30 June 14:00 UTC.
        assert_eq!(p.start, at("2024-06-30T14:00:00Z"));
        assert_eq!(p.end, at("2025-06-30T14:00:00Z"));
        assert_eq!(p.label, "2025-au");
        let y = Period::calendar_year(2025, Tz::UTC).unwrap();
        assert_eq!(y.start, at("2025-01-01T00:00:00Z"));
        assert_eq!(y.end, at("2026-01-01T00:00:00Z"));
        assert_eq!(y.label, "2025");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let r = Period::range(d("2025-03-01"), d("2025-03-31"), Tz::UTC).unwrap();
        assert!(r.contains(at("2025-03-31T23:59:59Z")));
        assert!(!r.contains(at("2025-04-01T00:00:00Z")));
        assert_eq!(r.label, "2025-03-01_2025-03-31");
        assert_eq!(
            Period::range(d("2025-03-02"), d("2025-03-01"), Tz::UTC),
            None
        );
    }
}
