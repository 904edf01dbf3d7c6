//! Kraken's website exports (`ledgers.csv`, `trades.csv`) in every header version, as CSV,
//! TSV or the downloaded `.zip`, into the raw tables.
//!
//! Rows keep their original line as `raw`; display names (`BTC`, `EUR`) become API codes
//! (`XXBT`, `ZEUR`); pending rows (empty txid) are skipped. An entry already stored from the
//! API is recognised by its id and stored once (times are compared to the second, as exports
//! have no fractions); a different version of an id is kept aside and reported.
//!
//! Errors name the file, the line the row starts on (as an editor counts lines: LF, CRLF or a
//! lone CR; blank lines and line breaks inside quoted fields included) and the column. Every
//! number is read with `domain::parse_amount`, which refuses numbers outside the documented
//! range (20 digits before the point, 18 after, 28 in all) before any sum could overflow.

mod assets;
mod parse;
pub mod run;

pub use assets::{asset_code, pair_code};
pub use parse::{
    ExportKind, LEDGER_HEADERS, Layout, Row, RowError, Rows, TRADE_HEADERS, parse_time,
    read_layout, strip_bom,
};

use crate::domain::{LedgerEntry, RawRecord, Stream, SyncPoint, Trade, is_known_ledger_type};
use crate::store::{ImportTx, PageOutcome, Source, Store, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;

/// Rows inserted per statement batch; the whole file is still one transaction.
const BATCH: usize = 4096;

/// Rows the parsing thread hands over at a time, and how many such batches it may be ahead.
const PARSED_BATCH: usize = 1024;
const PARSED_AHEAD: usize = 8;

/// Largest file accepted inside a zip once inflated, against zip bombs (a ledgers.csv of a
/// million rows is about 200 MB).
const MAX_ZIP_ENTRY: u64 = 1 << 30;
/// Largest total of the files taken from one zip once inflated (they are held in memory).
const MAX_ZIP_TOTAL: u64 = 2 << 30;

/// Why an import failed. Nothing of the file named is committed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{file}: cannot read")]
    Io {
        /// The file.
        file: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A zip that cannot be opened, or a member that cannot be inflated.
    #[error("{file}: not a readable zip archive")]
    Zip {
        /// The file (`archive.zip:member.csv` for a member).
        file: String,
        /// What went wrong: the zip library's error, or the inflating reader's.
        #[source]
        source: std::io::Error,
    },
    /// A file in a zip inflates beyond the cap: refused, never truncated.
    #[error(
        "{file}: inflates to more than {cap_mib} MiB{what}; refused as a possible zip bomb (unzip it yourself and import the CSV files one by one)"
    )]
    ZipTooLarge {
        /// The member (`archive.zip:member.csv`).
        file: String,
        /// The cap, in MiB.
        cap_mib: u64,
        /// Empty, or " with the files before it" for the total cap.
        what: &'static str,
    },
    /// A zip without any `.csv` or `.tsv` file.
    #[error(
        "{file}: the zip holds no .csv or .tsv file (found: {found}); download the export again"
    )]
    NoCsvInZip {
        /// The file.
        file: String,
        /// The names found, comma-separated.
        found: String,
    },
    /// A file that is not a Kraken export as a whole (empty, not UTF-8, a header without a
    /// needed column): nothing of it can be imported, with or without `--skip-bad`.
    #[error("{file}: {error}")]
    Header {
        /// The file (`archive.zip:ledgers.csv` inside a zip).
        file: String,
        /// Where and what.
        error: RowError,
    },
    /// A bad row: the import stops before committing anything of the file (`--skip-bad`
    /// skips such rows instead).
    #[error("{file}: {error}")]
    Bad {
        /// The file (`archive.zip:ledgers.csv` inside a zip).
        file: String,
        /// Where and what.
        error: RowError,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// True when the input is at fault (exit 1 "bad data"), not the database.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ImportError::Store(_))
    }

    /// True when `--skip-bad` would import the rest of the file: a bad row, not a file that
    /// is wrong as a whole.
    pub fn skip_bad_helps(&self) -> bool {
        matches!(self, ImportError::Bad { .. })
    }
}

/// How many skipped rows and conflicting ids a report lists; the rest are counted.
pub const LISTED: usize = 20;

/// How to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Skip bad rows (listing them) instead of stopping at the first.
    pub skip_bad: bool,
    /// The source recorded for new rows: `csv` (user files) or `export` (the backfill).
    pub source: Source,
}

/// What importing one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file (`archive.zip:ledgers.csv` inside a zip).
    pub file: String,
    /// Ledgers or trades.
    pub kind: ExportKind,
    /// Header version (`v1` oldest .. `v4`; `custom`).
    pub version: String,
    /// Header columns that were not read.
    pub ignored_columns: Vec<String>,
    /// Data rows read (blank lines not counted).
    pub rows: u64,
    /// Insert, duplicate and conflict counts.
    pub outcome: PageOutcome,
    /// Pending rows skipped (empty txid).
    pub pending: u64,
    /// Bad rows skipped with `--skip-bad`.
    pub bad_rows: u64,
    /// The first [`LISTED`] of them.
    pub skipped: Vec<RowError>,
    /// The first [`LISTED`] ids whose stored version differs from this file's: kept aside,
    /// not merged (`outcome.conflicts` counts them all).
    pub conflicts: Vec<String>,
    /// The newest entry of the file, by time then id.
    pub newest: Option<SyncPoint>,
    /// New ledger entries of types this version does not know: type → (count, first id). An
    /// import keeps them in the database for `status`, as the sync does.
    pub unknown_types: BTreeMap<String, (u64, String)>,
}

impl FileReport {
    /// The warnings to show about this file, each bounded: skipped rows and conflicting ids
    /// are listed up to [`LISTED`], then counted ("and 999980 more").
    pub fn warnings(&self) -> Vec<String> {
        self.coded_warnings().into_iter().map(|(_, w)| w).collect()
    }

    /// [`FileReport::warnings`], each with a stable code for scripts (`import --json`):
    /// `bad_row_skipped`, `bad_rows_skipped`, `conflicts_kept_aside`, `columns_not_read`,
    /// `unknown_ledger_type`.
    pub fn coded_warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for s in &self.skipped {
            out.push(("bad_row_skipped", format!("{}: skipped {s}", self.file)));
        }
        let unlisted = self.bad_rows.saturating_sub(self.skipped.len() as u64);
        if unlisted > 0 {
            out.push((
                "bad_rows_skipped",
                format!(
                    "{}: skipped {unlisted} more bad row{} ({} in all)",
                    self.file,
                    if unlisted == 1 { "" } else { "s" },
                    self.bad_rows
                ),
            ));
        }
        let n = self.outcome.conflicts;
        if n > 0 {
            let more = n.saturating_sub(self.conflicts.len() as u64);
            out.push(("conflicts_kept_aside", format!(
                "{}: {n} entr{} differ from the stored version and were kept aside, not merged: {}{}",
                self.file,
                if n == 1 { "y" } else { "ies" },
                self.conflicts.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )));
        }
        if !self.ignored_columns.is_empty() {
            out.push((
                "columns_not_read",
                format!(
                    "{}: columns not read: {}",
                    self.file,
                    self.ignored_columns.join(", ")
                ),
            ));
        }
        for (kind, (n, example)) in &self.unknown_types {
            out.push((
                "unknown_ledger_type",
                format!(
                    "{}: {} of unknown type {kind:?} (e.g. {example}), reported as unclassified until a [classify] rule covers them",
                    self.file,
                    crate::text::plural(*n, "new ledger entry", "new ledger entries")
                ),
            ));
        }
        out
    }
}

/// One input: a name for messages and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `path` or `archive.zip:member.csv`.
    pub name: String,
    /// The file's content.
    pub data: Vec<u8>,
}

/// The CSV/TSV files in `data`: the file itself, or each `.csv`/`.tsv` member of a zip.
pub fn inputs(name: &str, data: Vec<u8>) -> Result<Vec<Input>, ImportError> {
    inputs_capped(name, data, MAX_ZIP_ENTRY, MAX_ZIP_TOTAL)
}

/// [`inputs`] with the inflated-size caps given (bytes per member, bytes in all).
fn inputs_capped(
    name: &str,
    data: Vec<u8>,
    entry_cap: u64,
    total_cap: u64,
) -> Result<Vec<Input>, ImportError> {
    if !data.starts_with(b"PK\x03\x04") && !data.starts_with(b"PK\x05\x06") {
        return Ok(vec![Input {
            name: name.to_owned(),
            data,
        }]);
    }
    let zip_err = |e: zip::result::ZipError| ImportError::Zip {
        file: name.to_owned(),
        source: std::io::Error::other(e),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(zip_err)?;
    let mut out = Vec::new();
    let mut found = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        let member_name = member.name().map_err(zip_err)?.into_owned();
        let lower = member_name.to_ascii_lowercase();
        found.push(member_name.clone());
        if member.is_dir() || !(lower.ends_with(".csv") || lower.ends_with(".tsv")) {
            continue;
        }
        let full = format!("{name}:{member_name}");
        // The declared size may lie: what is read is capped, one byte over the cap tells.
        let cap = entry_cap.min(total_cap - total);
        let mut buf = Vec::with_capacity(member.size().min(cap).min(1 << 28) as usize);
        (&mut member)
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|source| ImportError::Zip {
                file: full.clone(),
                source,
            })?;
        if buf.len() as u64 > cap {
            let (cap_mib, what) = if cap < entry_cap {
                (total_cap >> 20, " with the files before it")
            } else {
                (entry_cap >> 20, "")
            };
            return Err(ImportError::ZipTooLarge {
                file: full,
                cap_mib,
                what,
            });
        }
        total += buf.len() as u64;
        out.push(Input {
            name: full,
            data: buf,
        });
    }
    if out.is_empty() {
        return Err(ImportError::NoCsvInZip {
            file: name.to_owned(),
            found: if found.is_empty() {
                "nothing".to_owned()
            } else {
                found.join(", ")
            },
        });
    }
    Ok(out)
}

/// Reads a file from disk into its inputs (see [`inputs`]).
pub fn read_inputs(path: &std::path::Path) -> Result<Vec<Input>, ImportError> {
    let name = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| ImportError::Io {
        file: name.clone(),
        source,
    })?;
    inputs(&name, data)
}

/// Parses a whole input without storing it (tests, dry runs): every row or the first error.
pub fn parse_all(input: &Input) -> Result<(Layout, Vec<(u64, Row)>), ImportError> {
    let bad = |error| ImportError::Bad {
        file: input.name.clone(),
        error,
    };
    let data = strip_bom(&input.data);
    let layout = read_layout(data).map_err(|error| ImportError::Header {
        file: input.name.clone(),
        error,
    })?;
    let rows = Rows::new(data, &layout)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    Ok((layout, rows))
}

/// Imports one input in one transaction. `before_commit` runs inside the transaction after
/// the last row (the backfill moves the sync state there); an error from it, or a bad row
/// without `skip_bad`, rolls everything of this input back.
pub fn import_input(
    store: &mut Store,
    account: &str,
    input: &Input,
    opts: ImportOptions,
    before_commit: &mut dyn FnMut(&mut ImportTx<'_>, &FileReport) -> Result<(), StoreError>,
) -> Result<FileReport, ImportError> {
    import_or_preview(store, account, input, opts, Some(before_commit))
}

/// What [`import_input`] would store, skip or keep aside as conflicts, against the database
/// as it is: the same work in a transaction that is rolled back, so nothing changes (the
/// conflicts are counted, not listed).
pub fn preview_input(
    store: &mut Store,
    account: &str,
    input: &Input,
    opts: ImportOptions,
) -> Result<FileReport, ImportError> {
    import_or_preview(store, account, input, opts, None)
}

/// Runs inside an import's transaction after its last row (see [`import_input`]).
pub type BeforeCommit<'a> =
    dyn FnMut(&mut ImportTx<'_>, &FileReport) -> Result<(), StoreError> + 'a;

/// [`import_input`] with `before_commit`, else [`preview_input`].
fn import_or_preview(
    store: &mut Store,
    account: &str,
    input: &Input,
    opts: ImportOptions,
    before_commit: Option<&mut BeforeCommit<'_>>,
) -> Result<FileReport, ImportError> {
    let bad = |error| ImportError::Bad {
        file: input.name.clone(),
        error,
    };
    let data = strip_bom(&input.data);
    let layout = read_layout(data).map_err(|error| ImportError::Header {
        file: input.name.clone(),
        error,
    })?;
    let mut report = FileReport {
        file: input.name.clone(),
        kind: layout.kind,
        version: layout.version.clone(),
        ignored_columns: layout.ignored.clone(),
        rows: 0,
        outcome: PageOutcome::default(),
        pending: 0,
        bad_rows: 0,
        skipped: Vec::new(),
        conflicts: Vec::new(),
        newest: None,
        unknown_types: BTreeMap::new(),
    };
    let conflicts_before = store.last_conflict_id()?;
    {
        let mut tx = store.begin_import(account)?;
        let mut ledgers: Vec<RawRecord<LedgerEntry>> = Vec::with_capacity(BATCH);
        let mut trades: Vec<RawRecord<Trade>> = Vec::with_capacity(BATCH);
        let mut newest: Option<(i64, String)> = None;
        let mut unknown = UnknownTypes::default();
        let mut note = |micros: i64, id: &str| {
            if newest
                .as_ref()
                .is_none_or(|(m, i)| (micros, id) > (*m, i.as_str()))
            {
                newest = Some((micros, id.to_owned()));
            }
        };
        let (parsed, rows) = std::sync::mpsc::sync_channel(PARSED_AHEAD);
        let layout = &layout;
        std::thread::scope(|scope| -> Result<(), ImportError> {
            scope.spawn(move || parse_ahead(data, layout, opts.skip_bad, &parsed));
            // Owned here, so that returning early drops it and the parsing thread stops.
            let rows = rows;
            for row in rows.iter().flatten() {
                match row {
                    Err(e) if opts.skip_bad => {
                        report.rows += 1;
                        report.bad_rows += 1;
                        if report.skipped.len() < LISTED {
                            report.skipped.push(e);
                        }
                    }
                    Err(e) => return Err(bad(e)),
                    Ok((_, Row::Pending)) => {
                        report.rows += 1;
                        report.pending += 1;
                    }
                    Ok((_, Row::Ledger(r))) => {
                        report.rows += 1;
                        note(r.item.time.micros(), r.item.id.as_str());
                        if !is_known_ledger_type(&r.item.kind) {
                            unknown.note(&tx, &r.item)?;
                        }
                        ledgers.push(r);
                        if ledgers.len() >= BATCH {
                            add(&mut report.outcome, tx.ledgers(&ledgers, opts.source)?);
                            ledgers.clear();
                        }
                    }
                    Ok((_, Row::Trade(r))) => {
                        report.rows += 1;
                        note(r.item.time.micros(), r.item.id.as_str());
                        trades.push(r);
                        if trades.len() >= BATCH {
                            add(&mut report.outcome, tx.trades(&trades, opts.source)?);
                            trades.clear();
                        }
                    }
                }
            }
            Ok(())
        })?;
        add(&mut report.outcome, tx.ledgers(&ledgers, opts.source)?);
        add(&mut report.outcome, tx.trades(&trades, opts.source)?);
        report.unknown_types = unknown.by_kind;
        if let Some((micros, id)) = newest {
            let stream = stream_of(layout.kind);
            let micros = tx.stored_micros(stream, &id)?.unwrap_or(micros);
            report.newest = Some(SyncPoint { id, micros });
        }
        match before_commit {
            Some(before_commit) => {
                // Kept for `status` with the rows they are about, whatever the log level.
                for (kind, (n, example)) in &report.unknown_types {
                    tx.note_unknown_type(kind, *n, example)?;
                }
                before_commit(&mut tx, &report)?;
                tx.commit()?;
            }
            // Dropped uncommitted: rolled back.
            None => return Ok(report),
        }
    }
    report.conflicts = store
        .conflicts_after(account, conflicts_before, LISTED)?
        .into_iter()
        .map(|c| c.entry_id)
        .collect();
    Ok(report)
}

/// New ledger entries of unknown types in one file, counted as the sync counts them: an id
/// already stored, or met before in the file, is not new. Such entries are rare, so the
/// lookup per entry costs nothing on an ordinary file.
#[derive(Debug, Default)]
struct UnknownTypes {
    seen: HashSet<String>,
    by_kind: BTreeMap<String, (u64, String)>,
}

impl UnknownTypes {
    fn note(&mut self, tx: &ImportTx<'_>, e: &LedgerEntry) -> Result<(), StoreError> {
        let id = e.id.as_str();
        if !self.seen.insert(id.to_owned()) || tx.stored_micros(Stream::Ledgers, id)?.is_some() {
            return Ok(());
        }
        self.by_kind
            .entry(e.kind.clone())
            .or_insert((0, id.to_owned()))
            .0 += 1;
        Ok(())
    }
}

/// Parses `data` on its own thread while the caller stores what is already parsed: rows go
/// out in file order, in batches of [`PARSED_BATCH`]. Without `skip_bad` the first bad row is
/// the last one sent (the import stops there); when the receiver stops listening (an error on
/// its side), so does this.
fn parse_ahead(
    data: &[u8],
    layout: &Layout,
    skip_bad: bool,
    out: &std::sync::mpsc::SyncSender<Vec<Result<(u64, Row), RowError>>>,
) {
    let mut batch = Vec::with_capacity(PARSED_BATCH);
    for row in Rows::new(data, layout) {
        let stop = row.is_err() && !skip_bad;
        batch.push(row);
        if stop || batch.len() == PARSED_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(PARSED_BATCH));
            if out.send(full).is_err() || stop {
                return;
            }
        }
    }
    if !batch.is_empty() {
        // A receiver that has stopped listening needs nothing more.
        let _ = out.send(batch);
    }
}

/// The stream a kind of export fills.
pub fn stream_of(kind: ExportKind) -> Stream {
    match kind {
        ExportKind::Ledgers => Stream::Ledgers,
        ExportKind::Trades => Stream::Trades,
    }
}

fn add(total: &mut PageOutcome, o: PageOutcome) {
    total.inserted += o.inserted;
    total.duplicates += o.duplicates;
    total.conflicts += o.conflicts;
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod zip_cap_tests {
    use super::*;

    fn zip_of(members: &[(&str, usize)]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            for (name, len) in members {
                w.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, &vec![b'a'; *len]).unwrap();
            }
            w.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn a_member_that_inflates_beyond_the_cap_is_refused_not_truncated() {
        let data = zip_of(&[("ledgers.csv", 3 << 20)]);
        assert!(data.len() < 100_000, "compresses well: {}", data.len());
        let e = inputs_capped("export.zip", data.clone(), 2 << 20, 8 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "export.zip:ledgers.csv: inflates to more than 2 MiB; refused as a possible zip bomb (unzip it yourself and import the CSV files one by one)"
        );
        // Exactly at the cap is accepted, whole.
        let ok = inputs_capped("export.zip", data, 3 << 20, 8 << 20).unwrap();
        assert_eq!(ok[0].data.len(), 3 << 20);
    }

    #[test]
    fn members_that_together_inflate_beyond_the_total_cap_are_refused() {
        let data = zip_of(&[("ledgers.csv", 2 << 20), ("trades.csv", 2 << 20)]);
        let e = inputs_capped("export.zip", data, 3 << 20, 3 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "export.zip:trades.csv: inflates to more than 3 MiB with the files before it; refused as a possible zip bomb (unzip it yourself and import the CSV files one by one)"
        );
    }
}
