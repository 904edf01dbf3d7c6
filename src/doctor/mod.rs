//! `kraken-tax doctor`: checks of the API key, its permissions and the local setup, each a
//! pure function from facts gathered by the command to one [`Check`].
//!
//! Nothing here formats a key or a secret: the checks only ever see where credentials came
//! from, the key's fingerprint and the secret's length.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

mod checks;
pub mod run;

pub use checks::*;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but worth attention.
    Warning,
    /// Will fail, or is unsafe: fix it.
    Problem,
}

impl Status {
    /// The word printed at the start of the line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "problem",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `credentials`.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when anything.
    pub advice: Option<String>,
}

impl Check {
    /// A check with no advice.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            advice: None,
        }
    }

    /// A warning with advice.
    pub fn warning(
        name: impl Into<String>,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Warning,
            detail: detail.into(),
            advice: Some(advice.into()),
        }
    }

    /// A problem with advice.
    pub fn problem(
        name: impl Into<String>,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Problem,
            detail: detail.into(),
            advice: Some(advice.into()),
        }
    }

    /// A check that could not run because of an earlier finding.
    pub fn not_checked(name: impl Into<String>, why: &str) -> Self {
        Self::warning(
            name,
            format!("not checked: {why}"),
            "fix the problem above, then run `kraken-tax doctor` again",
        )
    }

    /// The line printed: status, name, detail, then what to do.
    pub fn line(&self) -> String {
        let mut line = format!("{:<7} {}: {}", self.status.as_str(), self.name, self.detail);
        if let Some(a) = &self.advice {
            line.push_str(" -> ");
            line.push_str(a);
        }
        line
    }
}

/// Every check, in the order printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Checks with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// True when any check is a problem (exit 1).
    pub fn has_problem(&self) -> bool {
        self.count(Status::Problem) > 0
    }

    /// One line per check, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&c.line());
            out.push('\n');
        }
        out.push_str(&format!(
            "{}, {}\n",
            crate::text::count(self.count(Status::Problem), "problem"),
            crate::text::count(self.count(Status::Warning), "warning")
        ));
        out
    }

    /// The report as JSON: `{"problems", "warnings", "checks": [{name, status, detail, advice}]}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "problems": self.count(Status::Problem),
            "warnings": self.count(Status::Warning),
            "checks": self.checks,
        })
        .to_string()
    }
}

/// A time as shown in the report.
pub fn show_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration in whole milliseconds, as shown in the report.
pub fn show_ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// A path as shown in the report.
pub fn show_path(p: &Path) -> String {
    p.display().to_string()
}
