//! Kraken's bulk export endpoints: AddExport, ExportStatus, RetrieveExport, RemoveExport.
//! A report is `Queued`, then `Processing`, then `Processed` once a configurable delay has
//! passed since it was requested; its content is the account as it was visible when it was
//! requested, as a zip holding one website-format CSV (or TSV) file.

use super::csv_out::{LedgerCsvVersion, TradeCsvVersion, ledgers_csv, trades_csv, zip_files};
use super::generator::Dataset;
use super::wire::json_str;
use crate::emulator::rules::Refusal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a report takes unless a test sets another delay.
const DEFAULT_DELAY: Duration = Duration::from_secs(2);

/// One requested report.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    report: &'static str,
    tsv: bool,
    descr: String,
    requested: Instant,
    created_unix: i64,
    starttm: i64,
    endtm: i64,
    /// The emulator's visibility when the report was requested.
    visible_until: Option<i64>,
}

/// The reports of the emulated key.
#[derive(Debug)]
pub(super) struct Exports {
    jobs: Vec<Job>,
    next: u64,
    /// Time from AddExport to `Processed` (half of it `Queued`, half `Processing`).
    pub(super) delay: Duration,
}

impl Default for Exports {
    fn default() -> Self {
        Exports {
            jobs: Vec::new(),
            next: 0,
            delay: DEFAULT_DELAY,
        }
    }
}

/// An export endpoint's answer.
pub(super) enum ExportAnswer {
    /// A JSON `result`.
    Json(String),
    /// The zip body of RetrieveExport.
    Zip(Vec<u8>),
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn int_param(value: Option<&str>, name: &str) -> Result<Option<i64>, Refusal> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Refusal(format!("EGeneral:Invalid arguments:{name}"))),
    }
}

impl Exports {
    fn status(&self, job: &Job, now: Instant) -> &'static str {
        let age = now.saturating_duration_since(job.requested);
        if age >= self.delay {
            "Processed"
        } else if age >= self.delay / 2 {
            "Processing"
        } else {
            "Queued"
        }
    }

    /// Answers one export call; `visible_until` is the emulator's current visibility.
    pub(super) fn answer<'a>(
        &mut self,
        method: &str,
        get: &dyn Fn(&str) -> Option<&'a str>,
        data: &Dataset,
        visible_until: Option<i64>,
    ) -> Result<ExportAnswer, Refusal> {
        let now = Instant::now();
        match method {
            "AddExport" => {
                let report = match get("report") {
                    Some("ledgers") => "ledgers",
                    Some("trades") => "trades",
                    _ => return Err(Refusal::new("EGeneral:Invalid arguments:report")),
                };
                let tsv = match get("format").unwrap_or("CSV") {
                    "CSV" => false,
                    "TSV" => true,
                    _ => return Err(Refusal::new("EGeneral:Invalid arguments:format")),
                };
                let descr = match get("description") {
                    Some(d) if !d.is_empty() => d.to_owned(),
                    _ => return Err(Refusal::new("EGeneral:Invalid arguments:description")),
                };
                let created_unix = unix_now();
                // Kraken's default start is the first of the current month.
                let starttm = int_param(get("starttm"), "starttm")?
                    .unwrap_or(created_unix - created_unix.rem_euclid(30 * 86_400));
                let endtm = int_param(get("endtm"), "endtm")?.unwrap_or(created_unix);
                self.next += 1;
                let id = format!("EMU{:04}", self.next);
                self.jobs.push(Job {
                    id: id.clone(),
                    report,
                    tsv,
                    descr,
                    requested: now,
                    created_unix,
                    starttm,
                    endtm,
                    visible_until,
                });
                Ok(ExportAnswer::Json(format!("{{\"id\":{}}}", json_str(&id))))
            }
            "ExportStatus" => {
                let report = get("report").unwrap_or("");
                if !matches!(report, "ledgers" | "trades") {
                    return Err(Refusal::new("EGeneral:Invalid arguments:report"));
                }
                let items: Vec<String> = self
                    .jobs
                    .iter()
                    .filter(|j| j.report == report)
                    .map(|j| {
                        let status = self.status(j, now);
                        let completed = if status == "Processed" {
                            (j.created_unix + self.delay.as_secs() as i64).to_string()
                        } else {
                            "0".to_owned()
                        };
                        format!(
                            "{{\"id\":{},\"descr\":{},\"format\":\"{}\",\"report\":\"{}\",\"subtype\":\"all\",\"status\":\"{status}\",\"flags\":\"0\",\"fields\":\"all\",\"createdtm\":\"{}\",\"expiretm\":\"{}\",\"starttm\":\"{}\",\"completedtm\":\"{completed}\",\"datastarttm\":\"{}\",\"dataendtm\":\"{}\",\"aclass\":\"forex\",\"asset\":\"all\"}}",
                            json_str(&j.id),
                            json_str(&j.descr),
                            if j.tsv { "TSV" } else { "CSV" },
                            j.report,
                            j.created_unix,
                            j.created_unix + 14 * 86_400,
                            j.created_unix,
                            j.starttm,
                            j.endtm,
                        )
                    })
                    .collect();
                Ok(ExportAnswer::Json(format!("[{}]", items.join(","))))
            }
            "RetrieveExport" => {
                let id = get("id").unwrap_or("");
                let job = self
                    .jobs
                    .iter()
                    .find(|j| j.id == id)
                    .ok_or_else(|| Refusal::new("EGeneral:Invalid arguments:id"))?;
                if self.status(job, now) != "Processed" {
                    return Err(Refusal::new("EExport:Report not ready"));
                }
                Ok(ExportAnswer::Zip(render(job, data)?))
            }
            "RemoveExport" => {
                let id = get("id").unwrap_or("");
                let kind = get("type").unwrap_or("");
                let pos = self
                    .jobs
                    .iter()
                    .position(|j| j.id == id)
                    .ok_or_else(|| Refusal::new("EGeneral:Invalid arguments:id"))?;
                let processed = self.status(&self.jobs[pos], now) == "Processed";
                match (kind, processed) {
                    ("delete", true) | ("cancel", false) => {}
                    _ => return Err(Refusal::new("EGeneral:Invalid arguments:type")),
                }
                self.jobs.remove(pos);
                Ok(ExportAnswer::Json(format!("{{\"{kind}\":true}}")))
            }
            _ => Err(Refusal::new("EGeneral:Unknown method")),
        }
    }
}

/// The zip of a processed report.
fn render(job: &Job, data: &Dataset) -> Result<Vec<u8>, Refusal> {
    let lo = job.starttm.saturating_mul(1_000_000);
    let hi = job
        .endtm
        .saturating_add(1)
        .saturating_mul(1_000_000)
        .saturating_sub(1);
    let hi = job.visible_until.map_or(hi, |v| v.min(hi));
    let inside = |us: i64| us >= lo && us <= hi;
    let delimiter = if job.tsv { '\t' } else { ',' };
    let ext = if job.tsv { "tsv" } else { "csv" };
    let (name, text) = if job.report == "ledgers" {
        let rows: Vec<_> = data
            .ledger
            .iter()
            .filter(|e| inside(e.time.micros()))
            .cloned()
            .collect();
        (
            format!("ledgers.{ext}"),
            ledgers_csv(&rows, LedgerCsvVersion::V3, delimiter),
        )
    } else {
        let rows: Vec<_> = data
            .trades
            .iter()
            .filter(|t| inside(t.time.micros()))
            .cloned()
            .collect();
        (
            format!("trades.{ext}"),
            trades_csv(&rows, TradeCsvVersion::V2, delimiter),
        )
    };
    zip_files(&[(&name, text.as_bytes())]).map_err(|_| Refusal::new("EGeneral:Internal error"))
}
