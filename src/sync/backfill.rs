//! The first sync of a long history through Kraken's bulk export: AddExport for the ledger and
//! the trades from the beginning to now, ExportStatus polled with backoff, RetrieveExport (a
//! zip) imported through the CSV importer, RemoveExport. Each stream's `synced_to` moves to the
//! newest exported entry in the import's own transaction, so the normal sync that follows
//! fetches only what is newer. A pending export id is kept in the database: a run that stops
//! while Kraken prepares the report picks the same report up next time.

use crate::csv_import::{self, FileReport, ImportError, ImportOptions};
use crate::domain::{OpenWindow, Stream, StreamState};
use crate::kraken::retry::{Retrier, RetryError, RetryPolicy};
use crate::kraken::{ExportReport, ExportState, KrakenClient, KrakenError, RemoveKind};
use crate::store::{PendingExport, Source, Store, StoreError};
use chrono::Utc;
use std::time::{Duration, Instant};

/// Whether and how `sync` fills an empty history in bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackfillMode {
    /// Page through the history (the default).
    #[default]
    None,
    /// Use the export API; fail if the key lacks the Export Data permission.
    Export,
    /// Use the export API for streams never synced, falling back to paging without the
    /// permission.
    Auto,
}

/// An unknown `--backfill` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --backfill {0:?}: use none, export or auto")]
pub struct UnknownBackfillMode(pub String);

impl std::str::FromStr for BackfillMode {
    type Err = UnknownBackfillMode;
    fn from_str(s: &str) -> Result<Self, UnknownBackfillMode> {
        match s {
            "none" => Ok(BackfillMode::None),
            "export" => Ok(BackfillMode::Export),
            "auto" => Ok(BackfillMode::Auto),
            other => Err(UnknownBackfillMode(other.to_owned())),
        }
    }
}

/// How the backfill runs.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Account name in the database.
    pub account: String,
    /// Export, auto (or none: nothing to do).
    pub mode: BackfillMode,
    /// Retries of failed calls.
    pub retry: RetryPolicy,
    /// First wait between two ExportStatus calls; doubles up to `poll_max`.
    pub poll_first: Duration,
    /// Longest wait between two ExportStatus calls.
    pub poll_max: Duration,
    /// Stop waiting for Kraken after this instant (exit 75, the export id is kept).
    pub deadline: Option<Instant>,
}

impl BackfillOptions {
    /// Polls from 2 s doubling to 60 s.
    pub fn new(account: &str, mode: BackfillMode, retry: RetryPolicy) -> Self {
        BackfillOptions {
            account: account.to_owned(),
            mode,
            retry,
            poll_first: Duration::from_secs(2),
            poll_max: Duration::from_secs(60),
            deadline: None,
        }
    }
}

/// What the backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// The import of each exported stream.
    pub imported: Vec<FileReport>,
    /// Streams left to paging because they were synced already (`auto`).
    pub skipped: Vec<Stream>,
    /// `auto` without the permission: why it fell back to paging.
    pub fell_back: Option<String>,
    /// ExportStatus calls made.
    pub polls: u64,
}

/// Why the backfill stopped. What was imported stays; a pending export is resumed next run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// Kraken refused or could not be reached.
    #[error(transparent)]
    Kraken(#[from] KrakenError),
    /// The time budget ends before a failed call could be tried again; the next run resumes.
    #[error("the time budget is spent before Kraken could be asked again")]
    TimeBudget {
        /// The failure that would have been retried.
        #[source]
        last: KrakenError,
    },
    /// The export could not be imported.
    #[error("importing Kraken's export")]
    Import(#[from] ImportError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kraken is still preparing the export when the time budget ends.
    #[error(
        "Kraken is still preparing the {stream} export {id}; it is remembered, run sync again later to import it"
    )]
    NotReady {
        /// The stream.
        stream: Stream,
        /// The export id.
        id: String,
    },
    /// Kraken reported a status this version does not know.
    #[error(
        "Kraken's {stream} export {id} has status {status:?}; remove it on Kraken's site and retry"
    )]
    Failed {
        /// The stream.
        stream: Stream,
        /// The export id.
        id: String,
        /// The status.
        status: String,
    },
}

impl BackfillError {
    /// True when a later run can finish the job (exit 75).
    pub fn is_temporary(&self) -> bool {
        match self {
            BackfillError::Kraken(e) => e.is_temporary(),
            BackfillError::NotReady { .. } | BackfillError::TimeBudget { .. } => true,
            _ => false,
        }
    }
}

fn report_of(stream: Stream) -> ExportReport {
    match stream {
        Stream::Ledgers => ExportReport::Ledgers,
        Stream::Trades => ExportReport::Trades,
    }
}

impl From<RetryError> for BackfillError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::Failed(e) => BackfillError::Kraken(e),
            RetryError::Deadline { last } => BackfillError::TimeBudget { last },
        }
    }
}

/// The backfill's calls to Kraken, each retried by the run's one [`Retrier`].
struct Calls<'a> {
    client: &'a mut KrakenClient,
    retrier: Retrier,
}

impl Calls<'_> {
    /// Sends `call`, retrying transient failures as the policy says, within the deadline.
    async fn run<T>(
        &mut self,
        call: impl AsyncFnMut(&mut KrakenClient) -> Result<T, KrakenError>,
    ) -> Result<T, BackfillError> {
        let log = &mut |_: &KrakenError, _: &_| {};
        Ok(self.retrier.run(self.client, call, log).await?)
    }
}

/// Runs the backfill of `opts.account` (nothing for [`BackfillMode::None`]).
pub async fn backfill(
    store: &mut Store,
    client: &mut KrakenClient,
    opts: &BackfillOptions,
) -> Result<BackfillReport, BackfillError> {
    let mut report = BackfillReport::default();
    if opts.mode == BackfillMode::None {
        return Ok(report);
    }
    let account = opts.account.as_str();
    store.ensure_account(account)?;
    let mut calls = Calls {
        client,
        retrier: Retrier::new(opts.retry.clone(), opts.deadline),
    };
    // Request both reports first, so that Kraken prepares them side by side.
    let mut jobs: Vec<(Stream, PendingExport)> = Vec::new();
    for stream in Stream::ALL {
        if let Some(p) = store.pending_export(account, stream)? {
            tracing::info!("resuming the {stream} export {}", p.export_id);
            jobs.push((stream, p));
            continue;
        }
        let state = store.stream_state(account, stream)?;
        if opts.mode == BackfillMode::Auto && (state.synced_to.is_some() || state.window.is_some())
        {
            report.skipped.push(stream);
            continue;
        }
        match request(store, &mut calls, opts, stream).await {
            Ok(p) => jobs.push((stream, p)),
            Err(BackfillError::Kraken(e @ KrakenError::PermissionDenied { .. }))
                if opts.mode == BackfillMode::Auto =>
            {
                let why = format!("{e}; paging through the history instead");
                tracing::warn!("{why}");
                report.fell_back = Some(why);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    for (stream, job) in jobs {
        let id = wait_until_processed(store, &mut calls, opts, stream, job, &mut report).await?;
        let zip = calls.run(async |c| c.retrieve_export(&id).await).await?;
        let file = import_export(store, account, stream, &id, zip)?;
        report.imported.push(file);
        // The import is committed; a report left at Kraken only costs Kraken some storage.
        let removed = calls
            .run(async |c| c.remove_export(&id, RemoveKind::Delete).await)
            .await;
        if let Err(e) = removed {
            tracing::warn!("could not remove the {stream} export {id} at Kraken: {e}");
        }
    }
    Ok(report)
}

async fn request(
    store: &mut Store,
    calls: &mut Calls<'_>,
    opts: &BackfillOptions,
    stream: Stream,
) -> Result<PendingExport, BackfillError> {
    let endtm = Utc::now().timestamp();
    let desc = format!("kraken-tax backfill of {}", opts.account);
    // starttm 0: Kraken's default would be the first of the current month.
    let id = calls
        .run(async |c| c.add_export(report_of(stream), &desc, 0, endtm).await)
        .await?;
    let job = PendingExport {
        export_id: id,
        endtm,
    };
    store.save_pending_export(&opts.account, stream, &job)?;
    tracing::info!("requested the {stream} export {}", job.export_id);
    Ok(job)
}

/// Polls ExportStatus with a doubling wait until the report is processed; a report that
/// vanished (expired, removed on the website) is requested again, once.
async fn wait_until_processed(
    store: &mut Store,
    calls: &mut Calls<'_>,
    opts: &BackfillOptions,
    stream: Stream,
    mut job: PendingExport,
    report: &mut BackfillReport,
) -> Result<String, BackfillError> {
    let mut wait = opts.poll_first;
    let mut requested_again = false;
    loop {
        let list = calls
            .run(async |c| c.export_status(report_of(stream)).await)
            .await?;
        report.polls += 1;
        match list.into_iter().find(|j| j.id == job.export_id) {
            Some(j) if j.status == ExportState::Processed => return Ok(job.export_id),
            Some(j) => {
                if let ExportState::Other(status) = j.status {
                    return Err(BackfillError::Failed {
                        stream,
                        id: job.export_id,
                        status,
                    });
                }
            }
            None if !requested_again => {
                tracing::warn!(
                    "the {stream} export {} is gone at Kraken; requesting a new one",
                    job.export_id
                );
                store.clear_pending_export(&opts.account, stream)?;
                job = request(store, calls, opts, stream).await?;
                requested_again = true;
                wait = opts.poll_first;
            }
            None => {
                return Err(BackfillError::Failed {
                    stream,
                    id: job.export_id,
                    status: "missing".to_owned(),
                });
            }
        }
        if opts.deadline.is_some_and(|d| Instant::now() + wait >= d) {
            return Err(BackfillError::NotReady {
                stream,
                id: job.export_id,
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(opts.poll_max);
    }
}

/// Imports the export's zip in one transaction with the stream's new sync state and the end
/// of its pending record.
fn import_export(
    store: &mut Store,
    account: &str,
    stream: Stream,
    id: &str,
    zip: Vec<u8>,
) -> Result<FileReport, BackfillError> {
    let name = format!("export {id} ({stream})");
    let inputs = csv_import::inputs(&name, zip)?;
    let state = store.stream_state(account, stream)?;
    let opts = ImportOptions {
        skip_bad: false,
        source: Source::Export,
    };
    let mut last = None;
    for input in &inputs {
        let file = csv_import::import_input(store, account, input, opts, &mut |tx, rep| {
            if csv_import::stream_of(rep.kind) != stream {
                return Ok(());
            }
            if let Some(newest) = &rep.newest {
                let next = advance(&state, newest.clone());
                tx.set_stream_state(stream, &next)?;
            }
            tx.clear_pending_export(stream)
        })?;
        last = Some(file);
    }
    Ok(last.expect("inputs() returns at least one file"))
}

/// The state after importing everything up to `newest`: the sync continues above it.
fn advance(state: &StreamState, newest: crate::domain::SyncPoint) -> StreamState {
    let synced_to = match &state.synced_to {
        Some(s) if s.micros >= newest.micros => s.clone(),
        _ => newest.clone(),
    };
    // A window walking down to an older `lo` now stops at the export's newest entry; one that
    // lies wholly below it is covered by the export.
    // Its announced count then covers entries that are no longer its to fetch: dropped.
    let moved = state.synced_to.as_ref() != Some(&synced_to);
    let window = state
        .window
        .clone()
        .filter(|w| w.hi.micros > synced_to.micros)
        .map(|w| OpenWindow {
            expected: if moved { None } else { w.expected },
            ..w
        });
    StreamState {
        synced_to: Some(synced_to),
        window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SyncPoint;

    fn p(id: &str, micros: i64) -> SyncPoint {
        SyncPoint {
            id: id.into(),
            micros,
        }
    }

    #[test]
    fn the_sync_continues_above_the_newest_exported_entry() {
        let s = advance(&StreamState::default(), p("L9", 90));
        assert_eq!(s.synced_to, Some(p("L9", 90)));
        assert_eq!(s.window, None);
        // Never backwards.
        let synced = StreamState {
            synced_to: Some(p("L12", 120)),
            window: None,
        };
        assert_eq!(advance(&synced, p("L9", 90)), synced);
        // A window above the export is kept; its walk now ends at the export.
        let w = OpenWindow {
            hi: p("L20", 200),
            cursor: p("L15", 150),
            ofs: 0,
            expected: Some(30),
        };
        let open = StreamState {
            synced_to: None,
            window: Some(w.clone()),
        };
        assert_eq!(
            advance(&open, p("L9", 90)),
            StreamState {
                synced_to: Some(p("L9", 90)),
                window: Some(OpenWindow {
                    expected: None,
                    ..w
                })
            }
        );
        assert_eq!(advance(&open, p("L30", 300)).window, None);
    }
}
