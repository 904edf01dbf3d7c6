//! Runs the window walk of [`super::planner`] against the Kraken client and the store.

use super::planner::{self, PageSummary, PlanError};
use crate::domain::StreamState;
use crate::domain::{LedgerEntry, RawRecord, Stream, SyncPoint, Trade, is_known_ledger_type};
use crate::kraken::retry::{Retrier, RetryError, RetryPolicy};
use crate::kraken::{DecodeError, HistoryQuery, KrakenClient, KrakenError, PAGE_SIZE};
use crate::store::{PageRows, Source, Store, StoreError};
use std::collections::BTreeMap;
use std::time::Instant;

/// What a sync should do.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Account name in the database.
    pub account: String,
    /// Stop (as if interrupted) after this many pages in total; for tests of resumption.
    pub stop_after_pages: Option<u64>,
    /// Stop between pages once this instant has passed (`--max-duration`).
    pub deadline: Option<Instant>,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
}

/// What happened to one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Pages fetched.
    pub pages: u64,
    /// New entries stored.
    pub new: u64,
    /// Entries fetched again (the inclusive cursor, overlaps).
    pub duplicates: u64,
    /// Entries whose stored version differs (kept aside).
    pub conflicts: u64,
    /// The stream is complete up to its newest entry.
    pub complete: bool,
    /// When a window closed with fewer stored entries than Kraken announced: (announced, stored).
    pub count_mismatch: Option<(u64, u64)>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Per stream.
    pub streams: BTreeMap<&'static str, StreamReport>,
    /// New ledger entries of types this version does not know: type → (count, first id).
    pub unknown_types: BTreeMap<String, (u64, String)>,
    /// Failed attempts that were retried or ended the run, by kind of failure.
    pub retries: BTreeMap<String, u64>,
}

impl SyncReport {
    /// New entries over both streams.
    pub fn new_entries(&self) -> u64 {
        self.streams.values().map(|s| s.new).sum()
    }

    /// Pages fetched over both streams.
    pub fn pages(&self) -> u64 {
        self.streams.values().map(|s| s.pages).sum()
    }
}

/// Why a sync stopped early. Everything committed before it stays.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Kraken refused or could not be reached.
    #[error(transparent)]
    Kraken(#[from] KrakenError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The walk could not continue.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Stopped on request (page limit) with progress saved.
    #[error("stopped after {} as requested; progress is saved", crate::text::count(*.0, "page"))]
    Stopped(u64),
    /// The time budget was spent; progress is saved.
    #[error(
        "time budget spent after {}; progress is saved, the next run resumes",
        crate::text::count(*.0, "page")
    )]
    TimeBudget(u64),
}

/// A sync that stopped early, with what it had done by then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SyncFailure {
    /// The cause.
    pub error: SyncError,
    /// Progress made before it.
    pub report: SyncReport,
}

/// Progress events for a bar or a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A page was stored.
    Page {
        /// Its stream.
        stream: Stream,
        /// New entries in the stream so far in this run.
        new: u64,
        /// Entries Kraken announced for the open window, if known.
        expected: Option<u64>,
    },
    /// A stream is complete.
    StreamDone(Stream),
}

fn point_of(id: &str, micros: i64) -> SyncPoint {
    SyncPoint {
        id: id.to_owned(),
        micros,
    }
}

fn summarize<'a>(keys: impl Iterator<Item = (&'a str, i64)>, count: Option<u64>) -> PageSummary {
    let mut len = 0;
    let mut newest: Option<(i64, &str)> = None;
    let mut oldest: Option<(i64, &str)> = None;
    for (id, micros) in keys {
        len += 1;
        if newest.is_none_or(|n| (micros, id) > n) {
            newest = Some((micros, id));
        }
        if oldest.is_none_or(|o| (micros, id) < o) {
            oldest = Some((micros, id));
        }
    }
    PageSummary {
        len,
        newest: newest.map(|(m, id)| point_of(id, m)),
        oldest: oldest.map(|(m, id)| point_of(id, m)),
        count,
    }
}

/// A fetched page of either stream.
enum Fetched {
    Ledgers(Vec<RawRecord<LedgerEntry>>),
    Trades(Vec<RawRecord<Trade>>),
}

/// Syncs both streams of one account until complete, or until an error; every page is
/// committed with its cursor, so a rerun resumes where this one stopped.
pub async fn sync_account(
    store: &mut Store,
    client: &mut KrakenClient,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(ProgressEvent),
) -> Result<SyncReport, SyncFailure> {
    let mut report = SyncReport::default();
    match sync_account_into(store, client, opts, progress, &mut report).await {
        Ok(()) => Ok(report),
        Err(error) => Err(SyncFailure { error, report }),
    }
}

/// [`sync_account`], filling a report owned by the caller, so that the progress made is known
/// even when the future is dropped (on a signal).
pub async fn sync_account_into(
    store: &mut Store,
    client: &mut KrakenClient,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(ProgressEvent),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    run(store, client, opts, progress, report).await
}

async fn run(
    store: &mut Store,
    client: &mut KrakenClient,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(ProgressEvent),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let account = opts.account.as_str();
    store.ensure_account(account)?;
    let mut pages_total = 0u64;
    let mut retry = RetryState {
        retrier: Retrier::new(opts.retry.clone(), opts.deadline),
        last_page: None,
    };
    for stream in Stream::ALL {
        let mut sr = report.streams.entry(stream.as_str()).or_default().clone();
        let result = loop {
            if opts.stop_after_pages.is_some_and(|max| pages_total >= max) {
                break Err(SyncError::Stopped(pages_total));
            }
            if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(SyncError::TimeBudget(pages_total));
            }
            let state = store.stream_state(account, stream)?;
            let query = planner::next_query(&state);
            let (fetched, summary) =
                fetch_with_retry(client, stream, &query, &state, &mut retry, report).await?;
            let step = planner::advance(&state, &summary, PAGE_SIZE)?;
            let unknown = match &fetched {
                Fetched::Ledgers(rows) => unknown_types(store, account, rows)?,
                Fetched::Trades(_) => BTreeMap::new(),
            };
            let rows = match &fetched {
                Fetched::Ledgers(r) => PageRows::Ledgers(r),
                Fetched::Trades(r) => PageRows::Trades(r),
            };
            let outcome = store.commit_page(account, rows, Source::Api, &step.state)?;
            // Kept for `status` as soon as stored, whatever the log level (no await between
            // the commit and this, so a signal cannot come between them).
            for (kind, (n, example)) in unknown {
                store.note_unknown_type(account, &kind, n, &example)?;
                report.unknown_types.entry(kind).or_insert((0, example)).0 += n;
            }
            pages_total += 1;
            sr.pages += 1;
            sr.new += outcome.inserted;
            sr.duplicates += outcome.duplicates;
            sr.conflicts += outcome.conflicts;
            // Counted as soon as committed: the run record must hold what was stored even when
            // this future is dropped (a signal) or an error returns early.
            report.streams.insert(stream.as_str(), sr.clone());
            let expected = step
                .state
                .window
                .as_ref()
                .and_then(|w| w.expected)
                .or(summary.count);
            progress(ProgressEvent::Page {
                stream,
                new: sr.new,
                expected,
            });
            if step.closed {
                if let Some(w) = step.closed_window {
                    let stored = store.count_between(account, stream, w.lo_micros, w.hi_micros)?;
                    if let Some(expected) = w.expected.filter(|&e| stored < e) {
                        tracing::warn!(
                            "{stream}: Kraken announced {} for this sync but {stored} {} stored; run `kraken-tax verify`",
                            crate::text::plural(expected, "entry", "entries"),
                            crate::text::agree(stored, "is", "are")
                        );
                        sr.count_mismatch = Some((expected, stored));
                    }
                }
                sr.complete = true;
                progress(ProgressEvent::StreamDone(stream));
                break Ok(());
            }
        };
        report.streams.insert(stream.as_str(), sr);
        result?;
    }
    Ok(())
}

/// Retry bookkeeping across one run.
struct RetryState {
    /// The run's retry rules and whether the nonce floor was raised already.
    retrier: Retrier,
    /// The previous successful page: its query and its ids, to detect a replayed answer.
    last_page: Option<(HistoryQuery, Vec<String>)>,
}

impl Fetched {
    fn keys(&self) -> Vec<(&str, i64)> {
        match self {
            Fetched::Ledgers(rows) => rows
                .iter()
                .map(|r| (r.item.id.as_str(), r.item.time.micros()))
                .collect(),
            Fetched::Trades(rows) => rows
                .iter()
                .map(|r| (r.item.id.as_str(), r.item.time.micros()))
                .collect(),
        }
    }
}

/// Checks that a page can be the answer to `query` in `state`: every entry newer than the
/// synced point and not newer than the cursor, and not a repeat of the previous answer to a
/// different query. A page that fails is treated like a garbled answer: fetched again.
fn check_page(
    stream: Stream,
    query: &HistoryQuery,
    state: &StreamState,
    keys: &[(&str, i64)],
    sorted_ids: &[String],
    last_page: &Option<(HistoryQuery, Vec<String>)>,
) -> Result<(), KrakenError> {
    let method = match stream {
        Stream::Ledgers => "Ledgers",
        Stream::Trades => "TradesHistory",
    };
    let bad = |detail| KrakenError::Decode { method, detail };
    for &(id, micros) in keys {
        if let Some(lo) = &state.synced_to
            && micros < lo.micros
        {
            return Err(bad(DecodeError::OutOfRange {
                id: id.to_owned(),
                side: "older than the start",
                bound: lo.id.clone(),
            }));
        }
        if let Some(w) = &state.window
            && micros > w.cursor.micros
        {
            return Err(bad(DecodeError::OutOfRange {
                id: id.to_owned(),
                side: "newer than the end",
                bound: w.cursor.id.clone(),
            }));
        }
    }
    if let Some((last_query, last_ids)) = last_page
        && last_query != query
        && !keys.is_empty()
        && sorted_ids == last_ids.as_slice()
    {
        return Err(bad(DecodeError::Replayed));
    }
    Ok(())
}

/// Fetches one page, retrying transient failures as the retry policy says. Waits respect the
/// run's deadline.
async fn fetch_with_retry(
    client: &mut KrakenClient,
    stream: Stream,
    query: &HistoryQuery,
    state: &StreamState,
    retry: &mut RetryState,
    report: &mut SyncReport,
) -> Result<(Fetched, PageSummary), SyncError> {
    let last_page = &retry.last_page;
    let fetched = retry
        .retrier
        .run(
            client,
            async |client| {
                let (page, count) = match stream {
                    Stream::Ledgers => client
                        .history::<LedgerEntry>(query)
                        .await
                        .map(|p| (Fetched::Ledgers(p.items), p.count)),
                    Stream::Trades => client
                        .history::<Trade>(query)
                        .await
                        .map(|p| (Fetched::Trades(p.items), p.count)),
                }?;
                let keys = page.keys();
                let mut ids: Vec<String> = keys.iter().map(|k| k.0.to_owned()).collect();
                ids.sort_unstable();
                check_page(stream, query, state, &keys, &ids, last_page)?;
                let summary = summarize(keys.into_iter(), count);
                Ok((page, summary, ids))
            },
            &mut |error, _| *report.retries.entry(error_kind(error)).or_default() += 1,
        )
        .await;
    match fetched {
        Ok((page, summary, ids)) => {
            retry.last_page = Some((query.clone(), ids));
            Ok((page, summary))
        }
        Err(RetryError::Deadline { .. }) => Err(SyncError::TimeBudget(report.pages())),
        Err(RetryError::Failed(e)) => Err(e.into()),
    }
}

/// A short name for a failure, for the run's retry counts.
fn error_kind(e: &KrakenError) -> String {
    match e {
        KrakenError::Api { error, .. } => match error {
            crate::kraken::ApiError::Throttled(_) => "EService:Throttled".to_owned(),
            other => other.to_string(),
        },
        KrakenError::PermissionDenied { .. } => "EGeneral:Permission denied".to_owned(),
        KrakenError::HttpStatus { status, .. } => format!("HTTP {status}"),
        KrakenError::Transport { detail, .. } => (*detail).to_owned(),
        KrakenError::Decode { .. } => "malformed answer".to_owned(),
        KrakenError::KeyState(_) => "key state".to_owned(),
        KrakenError::TooLarge { .. } => "answer too large".to_owned(),
        KrakenError::Tls { .. } => "TLS".to_owned(),
        KrakenError::Redirect { status, .. } => format!("redirect {status}"),
        KrakenError::Setup { .. } => "client setup".to_owned(),
    }
}

/// New entries of the page whose type this version does not know: type → (count, first id).
fn unknown_types(
    store: &Store,
    account: &str,
    rows: &[RawRecord<LedgerEntry>],
) -> Result<BTreeMap<String, (u64, String)>, StoreError> {
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for r in rows {
        let e = &r.item;
        if !is_known_ledger_type(&e.kind)
            && !store.contains(account, Stream::Ledgers, e.id.as_str())?
        {
            found
                .entry(e.kind.clone())
                .or_insert((0, e.id.to_string()))
                .0 += 1;
        }
    }
    Ok(found)
}
