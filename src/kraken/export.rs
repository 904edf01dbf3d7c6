//! Kraken's bulk export: AddExport, ExportStatus, RetrieveExport, RemoveExport (permission
//! "Export Data"). One report replaces thousands of paged calls for a long history.

use super::client::KrakenClient;
use super::error::{DecodeError, KrakenError};
use super::http::{self, decode};
use serde::Deserialize;

/// Which report to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportReport {
    /// The ledger.
    Ledgers,
    /// The trades.
    Trades,
}

impl ExportReport {
    /// Kraken's `report` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportReport::Ledgers => "ledgers",
            ExportReport::Trades => "trades",
        }
    }
}

/// Where a report stands (`status` of ExportStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportState {
    /// Waiting to be generated.
    Queued,
    /// Being generated.
    Processing,
    /// Ready for RetrieveExport.
    Processed,
    /// A status this version does not know, verbatim.
    Other(String),
}

/// One report of ExportStatus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportJob {
    /// Report id.
    pub id: String,
    /// Its status.
    pub status: ExportState,
}

#[derive(Debug, Deserialize)]
struct WireJob {
    id: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct AddResult {
    id: String,
}

/// How RemoveExport removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveKind {
    /// Delete a processed report.
    Delete,
    /// Cancel a queued or processing one.
    Cancel,
}

impl KrakenClient {
    /// `AddExport` of `report` in CSV from `starttm` to `endtm` (Unix seconds); the report id.
    pub async fn add_export(
        &mut self,
        report: ExportReport,
        description: &str,
        starttm: i64,
        endtm: i64,
    ) -> Result<String, KrakenError> {
        let params = [
            ("report", report.as_str().to_owned()),
            ("format", "CSV".to_owned()),
            ("description", description.to_owned()),
            ("starttm", starttm.to_string()),
            ("endtm", endtm.to_string()),
        ];
        let raw = self.private("AddExport", &params).await?;
        let r: AddResult = decode("AddExport", &raw)?;
        Ok(r.id)
    }

    /// `ExportStatus`: the reports of one kind.
    pub async fn export_status(
        &mut self,
        report: ExportReport,
    ) -> Result<Vec<ExportJob>, KrakenError> {
        let raw = self
            .private("ExportStatus", &[("report", report.as_str().to_owned())])
            .await?;
        let jobs: Vec<WireJob> = decode("ExportStatus", &raw)?;
        Ok(jobs
            .into_iter()
            .map(|j| ExportJob {
                id: j.id,
                status: match j.status.as_str() {
                    "Queued" => ExportState::Queued,
                    "Processing" => ExportState::Processing,
                    "Processed" => ExportState::Processed,
                    _ => ExportState::Other(j.status),
                },
            })
            .collect())
    }

    /// `RetrieveExport`: the report's zip archive.
    pub async fn retrieve_export(&mut self, id: &str) -> Result<Vec<u8>, KrakenError> {
        let body = self
            .private_body(
                "RetrieveExport",
                &[("id", id.to_owned())],
                http::MAX_EXPORT_BODY,
            )
            .await?;
        if body.starts_with(b"PK") {
            return Ok(body);
        }
        // Not a zip: Kraken's JSON envelope with an error (or garbage).
        self.envelope_result("RetrieveExport", &body)?;
        Err(KrakenError::Decode {
            method: "RetrieveExport",
            detail: DecodeError::NotZip,
        })
    }

    /// `RemoveExport`: deletes a processed report or cancels a pending one.
    pub async fn remove_export(&mut self, id: &str, kind: RemoveKind) -> Result<(), KrakenError> {
        let kind = match kind {
            RemoveKind::Delete => "delete",
            RemoveKind::Cancel => "cancel",
        };
        self.private(
            "RemoveExport",
            &[("id", id.to_owned()), ("type", kind.to_owned())],
        )
        .await?;
        Ok(())
    }
}
