//! Derived tables: each leg's event, classification and the facts its valuation needs,
//! rebuildable from the raw rows, keyed by (account, time, ledger id) so that a year is one
//! range of the table, read in step with the raw rows of the same range.

use super::{Store, StoreError, now_text};
use crate::domain::{Element, LedgerFields};
use rusqlite::{OptionalExtension, Row, params};
use rust_decimal::Decimal;
use std::str::FromStr;

/// One classified leg, as stored: owned (`DerivedLeg`, read back by tests and tools) or
/// borrowed (`DerivedLegRef`, what the refresh inserts and the export reads, no allocation
/// per leg). One type, two kinds of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedLeg<S = String> {
    /// The ledger entry.
    pub ledger_id: S,
    /// Its event.
    pub event_id: S,
    /// Its time, microseconds.
    pub time_us: i64,
    /// Normalized asset.
    pub asset: S,
    /// The asset code was recognised.
    pub asset_known: bool,
    /// A fiat currency.
    pub is_fiat: bool,
    /// CARF element.
    pub element: Element,
    /// Type code, if any.
    pub type_code: Option<S>,
    /// Also reported as `TransferWallet`.
    pub transfer_wallet: bool,
    /// Why it was classified so.
    pub note: S,
    /// The asset it was exchanged against.
    pub counter_asset: Option<S>,
    /// That side's net signed amount, as text.
    pub counter_amount: Option<S>,
    /// For a reportable leg of an exchange event: all sides of the event
    /// (`normalize::events::Exchange::encode`), what its valuation reads.
    pub sides: Option<S>,
    /// Kraken fee credits (KFEE) that paid this leg's fee, as text (none: zero).
    pub fee_credits: Option<S>,
}

impl<S: Default> Default for DerivedLeg<S> {
    fn default() -> Self {
        DerivedLeg {
            ledger_id: S::default(),
            event_id: S::default(),
            time_us: 0,
            asset: S::default(),
            asset_known: false,
            is_fiat: false,
            element: Element::Unclassified,
            type_code: None,
            transfer_wallet: false,
            note: S::default(),
            counter_asset: None,
            counter_amount: None,
            sides: None,
            fee_credits: None,
        }
    }
}

/// A [`DerivedLeg`], borrowed.
pub type DerivedLegRef<'a> = DerivedLeg<&'a str>;

impl<S: AsRef<str>> DerivedLeg<S> {
    /// The leg, borrowed.
    pub fn as_ref(&self) -> DerivedLegRef<'_> {
        fn opt<S: AsRef<str>>(o: &Option<S>) -> Option<&str> {
            o.as_ref().map(AsRef::as_ref)
        }
        DerivedLeg {
            ledger_id: self.ledger_id.as_ref(),
            event_id: self.event_id.as_ref(),
            time_us: self.time_us,
            asset: self.asset.as_ref(),
            asset_known: self.asset_known,
            is_fiat: self.is_fiat,
            element: self.element,
            type_code: opt(&self.type_code),
            transfer_wallet: self.transfer_wallet,
            note: self.note.as_ref(),
            counter_asset: opt(&self.counter_asset),
            counter_amount: opt(&self.counter_amount),
            sides: opt(&self.sides),
            fee_credits: opt(&self.fee_credits),
        }
    }
}

impl DerivedLegRef<'_> {
    /// The leg, owned.
    pub fn to_owned(&self) -> DerivedLeg {
        let opt = |o: Option<&str>| o.map(str::to_owned);
        DerivedLeg {
            ledger_id: self.ledger_id.to_owned(),
            event_id: self.event_id.to_owned(),
            time_us: self.time_us,
            asset: self.asset.to_owned(),
            asset_known: self.asset_known,
            is_fiat: self.is_fiat,
            element: self.element,
            type_code: opt(self.type_code),
            transfer_wallet: self.transfer_wallet,
            note: self.note.to_owned(),
            counter_asset: opt(self.counter_asset),
            counter_amount: opt(self.counter_amount),
            sides: opt(self.sides),
            fee_credits: opt(self.fee_credits),
        }
    }
}

/// The fields of a raw ledger entry that the derived stage reads, owned (the few rows an
/// incremental refresh reads again).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are those of `LedgerFields`.
pub struct OwnedFields {
    pub id: String,
    pub refid: String,
    pub time_us: i64,
    pub kind: String,
    pub subtype: Option<String>,
    pub asset: String,
    pub amount: Decimal,
    pub fee: Decimal,
}

impl From<LedgerFields<'_>> for OwnedFields {
    fn from(f: LedgerFields<'_>) -> Self {
        OwnedFields {
            id: f.id.to_owned(),
            refid: f.refid.to_owned(),
            time_us: f.time_us,
            kind: f.kind.to_owned(),
            subtype: f.subtype.map(str::to_owned),
            asset: f.asset.to_owned(),
            amount: f.amount,
            fee: f.fee,
        }
    }
}

impl OwnedFields {
    /// The fields, borrowed.
    pub fn fields(&self) -> LedgerFields<'_> {
        LedgerFields {
            id: &self.id,
            refid: &self.refid,
            time_us: self.time_us,
            kind: &self.kind,
            subtype: self.subtype.as_deref(),
            asset: &self.asset,
            amount: self.amount,
            fee: self.fee,
        }
    }
}

/// Inserts derived legs inside [`Store::replace_derived_legs_with`]'s or
/// [`Store::update_derived_legs_with`]'s transaction. Legs are copied into reused buffers and
/// written [`SINK_BATCH`] at a time by one multi-row statement: SQLite then keeps its cursor
/// on the table between rows, so a leg inserted in key order is appended without a search
/// from the root, and the statement's set-up is paid once per batch. For a full refresh the
/// batches go to the thread that holds the transaction, so classifying the next legs and
/// storing the last ones overlap.
pub struct DerivedSink<'a> {
    /// The legs waiting (the first `waiting` slots; the others are spare buffers).
    slots: Vec<DerivedLeg>,
    waiting: usize,
    out: Out<'a>,
}

enum Out<'a> {
    /// Written here.
    Write(Writer<'a>),
    /// Sent to the writing thread, which sends the emptied batches back for reuse.
    Send {
        batches: std::sync::mpsc::SyncSender<Vec<DerivedLeg>>,
        spare: std::sync::mpsc::Receiver<Vec<DerivedLeg>>,
    },
}

/// Writes batches of legs in one transaction.
struct Writer<'a> {
    conn: &'a rusqlite::Connection,
    /// `INSERT` or `INSERT OR REPLACE`.
    verb: &'static str,
    account: &'a str,
    /// The statement for a full batch, prepared at the first.
    full: Option<rusqlite::CachedStatement<'a>>,
}

/// Legs written per statement (15 parameters each: the account once, 14 per leg).
const SINK_BATCH: usize = 64;

/// Full batches that may wait for the writing thread.
const BATCHES_AHEAD: usize = 16;

/// Columns of a leg after the account, in [`INSERT_LEG`] order.
const LEG_PARAMS: usize = 14;

const INSERT_LEG: &str = "INTO legs (account, time_us, ledger_id, event_id, asset,
     asset_known, is_fiat, element, type_code, transfer_wallet, note, counter_asset,
     counter_amount, sides, fee_credits) VALUES ";

impl<'a> Writer<'a> {
    fn new(conn: &'a rusqlite::Connection, verb: &'static str, account: &'a str) -> Self {
        Writer {
            conn,
            verb,
            account,
            full: None,
        }
    }

    /// Inserts `legs` (at most [`SINK_BATCH`]) with one statement.
    fn write(&mut self, legs: &[DerivedLeg]) -> Result<(), StoreError> {
        let n = legs.len();
        if n == 0 {
            return Ok(());
        }
        let mut part;
        let stmt = match &mut self.full {
            Some(full) if n == SINK_BATCH => full,
            _ => {
                part = self.conn.prepare_cached(&insert_sql(self.verb, n))?;
                if n == SINK_BATCH {
                    self.full.insert(part)
                } else {
                    &mut part
                }
            }
        };
        stmt.raw_bind_parameter(1, self.account)?;
        for (r, l) in legs.iter().enumerate() {
            let p = 2 + r * LEG_PARAMS;
            stmt.raw_bind_parameter(p, l.time_us)?;
            stmt.raw_bind_parameter(p + 1, &l.ledger_id)?;
            stmt.raw_bind_parameter(p + 2, &l.event_id)?;
            stmt.raw_bind_parameter(p + 3, &l.asset)?;
            stmt.raw_bind_parameter(p + 4, l.asset_known)?;
            stmt.raw_bind_parameter(p + 5, l.is_fiat)?;
            stmt.raw_bind_parameter(p + 6, l.element.as_str())?;
            stmt.raw_bind_parameter(p + 7, &l.type_code)?;
            stmt.raw_bind_parameter(p + 8, l.transfer_wallet)?;
            stmt.raw_bind_parameter(p + 9, &l.note)?;
            stmt.raw_bind_parameter(p + 10, &l.counter_asset)?;
            stmt.raw_bind_parameter(p + 11, &l.counter_amount)?;
            stmt.raw_bind_parameter(p + 12, &l.sides)?;
            stmt.raw_bind_parameter(p + 13, &l.fee_credits)?;
        }
        stmt.raw_execute()?;
        Ok(())
    }
}

impl<'a> DerivedSink<'a> {
    fn new(out: Out<'a>) -> Self {
        DerivedSink {
            slots: Vec::new(),
            waiting: 0,
            out,
        }
    }

    /// Inserts one leg (replacing the stored leg of the same entry): it is written with the
    /// next batch, at the latest when the transaction's filling ends.
    pub fn insert(&mut self, l: &DerivedLegRef<'_>) -> Result<(), StoreError> {
        if self.waiting == self.slots.len() {
            self.slots.push(DerivedLeg::default());
        }
        copy_leg(&mut self.slots[self.waiting], l);
        self.waiting += 1;
        if self.waiting == SINK_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes (or sends) the legs waiting.
    fn flush(&mut self) -> Result<(), StoreError> {
        let n = self.waiting;
        if n == 0 {
            return Ok(());
        }
        match &mut self.out {
            Out::Write(w) => w.write(&self.slots[..n])?,
            Out::Send { batches, spare } => {
                let next = spare.try_recv().unwrap_or_default();
                let mut batch = std::mem::replace(&mut self.slots, next);
                batch.truncate(n);
                batches.send(batch).map_err(|_| WriterStopped)?;
            }
        }
        self.waiting = 0;
        Ok(())
    }
}

/// The writing thread stopped (its own error is the one reported).
#[derive(Debug)]
struct WriterStopped;

impl From<WriterStopped> for StoreError {
    fn from(_: WriterStopped) -> Self {
        StoreError::Corrupt("the derived legs' writer stopped".into())
    }
}

/// The statement inserting `n` legs: `VERB INTO legs (...) VALUES (?1, ?2, ..), (?1, ?16, ..)`.
fn insert_sql(verb: &str, n: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!("{verb} {INSERT_LEG}");
    for r in 0..n {
        let p = 2 + r * LEG_PARAMS;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?1");
        for k in 0..LEG_PARAMS {
            let _ = write!(sql, ", ?{}", p + k);
        }
        sql.push(')');
    }
    sql
}

/// Copies `l` into `buf`, reusing its strings.
fn copy_leg(buf: &mut DerivedLeg, l: &DerivedLegRef<'_>) {
    let set = |slot: &mut String, v: &str| {
        slot.clear();
        slot.push_str(v);
    };
    let set_opt = |slot: &mut Option<String>, v: Option<&str>| match v {
        None => *slot = None,
        Some(v) => {
            let s = slot.get_or_insert_with(String::new);
            s.clear();
            s.push_str(v);
        }
    };
    set(&mut buf.ledger_id, l.ledger_id);
    set(&mut buf.event_id, l.event_id);
    buf.time_us = l.time_us;
    set(&mut buf.asset, l.asset);
    buf.asset_known = l.asset_known;
    buf.is_fiat = l.is_fiat;
    buf.element = l.element;
    set_opt(&mut buf.type_code, l.type_code);
    buf.transfer_wallet = l.transfer_wallet;
    set(&mut buf.note, l.note);
    set_opt(&mut buf.counter_asset, l.counter_asset);
    set_opt(&mut buf.counter_amount, l.counter_amount);
    set_opt(&mut buf.sides, l.sides);
    set_opt(&mut buf.fee_credits, l.fee_credits);
}

/// What the derived tables were built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedStamp {
    /// `classify::CLASSIFIER_VERSION` at build time.
    pub classifier_version: i64,
    /// Hash of the user's classification rules.
    pub rules_hash: String,
    /// Raw ledger rows of the account at build time.
    pub raw_rows: u64,
    /// The largest rowid of those rows: rows above it arrived since (raw rows are only ever
    /// appended).
    pub max_rowid: i64,
}

/// A raw ledger row and its derived leg, borrowed from the two rows read in step.
#[derive(Debug, Clone, Copy)]
pub struct YearLeg<'a> {
    /// The raw entry.
    pub raw: LedgerFields<'a>,
    /// Its derived leg; `None` when the derived table lacks it (raw rows written after the
    /// refresh, by another process).
    pub derived: Option<DerivedLegRef<'a>>,
}

const FIELDS: &str = "ledger_id, refid, time_us, type, subtype, asset, amount, fee";

/// The [`LedgerFields`] of a row selected with [`FIELDS`] first.
fn fields_of<'r>(r: &'r Row<'_>) -> Result<LedgerFields<'r>, StoreError> {
    let damaged = |i: usize, e: rusqlite::types::FromSqlError| {
        StoreError::Corrupt(format!("ledger_entries column {i}: {e}"))
    };
    let text = |i: usize| -> Result<&'r str, StoreError> {
        r.get_ref(i)?.as_str().map_err(|e| damaged(i, e))
    };
    let number = |i: usize, field: &str| -> Result<Decimal, StoreError> {
        let t = text(i)?;
        Decimal::from_str(t)
            .map_err(|_| StoreError::Corrupt(format!("{field} {t:?} is not a decimal")))
    };
    let time_us: i64 = r.get(2)?;
    if chrono::DateTime::from_timestamp_micros(time_us).is_none() {
        return Err(StoreError::Corrupt(format!(
            "time_us {time_us} out of range"
        )));
    }
    Ok(LedgerFields {
        id: text(0)?,
        refid: text(1)?,
        time_us,
        kind: text(3)?,
        subtype: r.get_ref(4)?.as_str_or_null().map_err(|e| damaged(4, e))?,
        asset: text(5)?,
        amount: number(6, "amount")?,
        fee: number(7, "fee")?,
    })
}

const LEG_COLUMNS: &str = "ledger_id, event_id, time_us, asset, asset_known, is_fiat, element,
    type_code, transfer_wallet, note, counter_asset, counter_amount, sides, fee_credits";

/// The leg of a row selected with [`LEG_COLUMNS`] first.
fn leg_of<'r>(r: &'r Row<'_>) -> Result<DerivedLegRef<'r>, StoreError> {
    let text = |i: usize| -> Result<&'r str, StoreError> {
        r.get_ref(i)?
            .as_str()
            .map_err(|e| StoreError::Corrupt(format!("legs column {i}: {e}")))
    };
    let opt = |i: usize| -> Result<Option<&'r str>, StoreError> {
        r.get_ref(i)?
            .as_str_or_null()
            .map_err(|e| StoreError::Corrupt(format!("legs column {i}: {e}")))
    };
    let element = text(6)?;
    Ok(DerivedLeg {
        ledger_id: text(0)?,
        event_id: text(1)?,
        time_us: r.get(2)?,
        asset: text(3)?,
        asset_known: r.get(4)?,
        is_fiat: r.get(5)?,
        element: Element::parse(element)
            .ok_or_else(|| StoreError::Corrupt(format!("legs.element {element:?}")))?,
        type_code: opt(7)?,
        transfer_wallet: r.get(8)?,
        note: text(9)?,
        counter_asset: opt(10)?,
        counter_amount: opt(11)?,
        sides: opt(12)?,
        fee_credits: opt(13)?,
    })
}

impl Store {
    /// What the account's derived tables were built from, if they were.
    pub fn derived_stamp(&self, account: &str) -> Result<Option<DerivedStamp>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT classifier_version, rules_hash, raw_rows, max_rowid FROM derived_state
                 WHERE account = ?1",
                [account],
                |r| {
                    Ok(DerivedStamp {
                        classifier_version: r.get(0)?,
                        rules_hash: r.get(1)?,
                        raw_rows: r.get::<_, i64>(2)? as u64,
                        max_rowid: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Replaces the account's derived legs in one transaction with those `fill` inserts, one
    /// at a time (so a million legs need not be held at once). Nothing changes when `fill`
    /// fails. Legs inserted in key order (time, then ledger id) append to the table, which has
    /// no other index to maintain.
    pub fn replace_derived_legs_with(
        &mut self,
        account: &str,
        stamp: &DerivedStamp,
        fill: impl FnOnce(&mut DerivedSink<'_>) -> Result<(), StoreError> + Send,
    ) -> Result<(), StoreError> {
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM legs WHERE account = ?1", [account])?;
        let mut writer = Writer::new(&tx, "INSERT", account);
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<DerivedLeg>>(BATCHES_AHEAD);
        let (give_back, spare) = std::sync::mpsc::channel::<Vec<DerivedLeg>>();
        let (filled, written) = std::thread::scope(|scope| {
            let filler = scope.spawn(move || {
                let mut sink = DerivedSink::new(Out::Send { batches, spare });
                fill(&mut sink)?;
                sink.flush()
                // Dropping the sink ends the writer's loop.
            });
            let mut written = Ok(());
            for batch in received.iter() {
                if let Err(e) = writer.write(&batch) {
                    written = Err(e);
                    break;
                }
                // The filler may have ended: then the buffers are not needed.
                let _ = give_back.send(batch);
            }
            // A filler still sending after a failed write stops at its next batch.
            drop(received);
            match filler.join() {
                Ok(filled) => (filled, written),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        // The writer's failure first: the filler's is then only that it had to stop.
        drop(writer);
        written?;
        filled?;
        set_stamp(&tx, account, stamp)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::replace_derived_legs_with`] for a dry run: the same work in a transaction
    /// that is rolled back, so the stored legs and the stamp stay as they are.
    pub fn preview_derived_legs_with(
        &mut self,
        account: &str,
        fill: impl FnOnce(&mut DerivedSink<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM legs WHERE account = ?1", [account])?;
        {
            let mut sink = DerivedSink::new(Out::Write(Writer::new(&tx, "INSERT", account)));
            fill(&mut sink)?;
            sink.flush()?;
        }
        tx.rollback()?;
        Ok(())
    }

    /// Inserts or replaces the legs `fill` inserts, keeping the account's other legs, and
    /// stamps the table, in one transaction (an incremental refresh).
    pub fn update_derived_legs_with(
        &mut self,
        account: &str,
        stamp: &DerivedStamp,
        fill: impl FnOnce(&mut DerivedSink<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        {
            let mut sink =
                DerivedSink::new(Out::Write(Writer::new(&tx, "INSERT OR REPLACE", account)));
            fill(&mut sink)?;
            sink.flush()?;
        }
        set_stamp(&tx, account, stamp)?;
        tx.commit()?;
        Ok(())
    }

    /// The account's derived legs, oldest first (ties by ledger id).
    pub fn derived_legs(&self, account: &str) -> Result<Vec<DerivedLeg>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {LEG_COLUMNS} FROM legs WHERE account = ?1 ORDER BY time_us, ledger_id"
        ))?;
        let mut rows = stmt.query([account])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(leg_of(r)?.to_owned());
        }
        Ok(out)
    }

    /// Calls `f` with every raw ledger entry of `account` with `start <= time < end`, oldest
    /// first (ties by id), each with its derived leg: the raw rows from the covering index
    /// `ledger_entries_scan` and the legs from their table, both one range read in the same
    /// order and matched in step (no lookup per leg).
    pub fn for_each_year_leg<E: From<StoreError>>(
        &self,
        account: &str,
        (start, end): (i64, i64),
        mut f: impl FnMut(YearLeg<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut raw = self
            .conn
            .prepare(&format!(
                "SELECT {FIELDS} FROM ledger_entries
             WHERE account = ?1 AND time_us >= ?2 AND time_us < ?3 ORDER BY time_us, ledger_id"
            ))
            .map_err(StoreError::from)?;
        let mut derived = self
            .conn
            .prepare(&format!(
                "SELECT {LEG_COLUMNS} FROM legs
             WHERE account = ?1 AND time_us >= ?2 AND time_us < ?3 ORDER BY time_us, ledger_id"
            ))
            .map_err(StoreError::from)?;
        let mut raw_rows = raw
            .query(params![account, start, end])
            .map_err(StoreError::from)?;
        let mut legs = derived
            .query(params![account, start, end])
            .map_err(StoreError::from)?;
        // The current leg, borrowed from its cursor's row: SQLite keeps a row's text until
        // its own statement steps again, whatever the other cursor does.
        let mut cur = next_leg(&mut legs)?;
        let mut n = 0;
        while let Some(r) = raw_rows.next().map_err(StoreError::from)? {
            let fields = fields_of(r)?;
            let key = (fields.time_us, fields.id);
            // Skip legs of no raw row in range (none, as raw rows are never deleted).
            while cur.is_some_and(|l| (l.time_us, l.ledger_id) < key) {
                cur = next_leg(&mut legs)?;
            }
            let found = cur.filter(|l| (l.time_us, l.ledger_id) == key);
            f(YearLeg {
                raw: fields,
                derived: found,
            })?;
            if found.is_some() {
                cur = next_leg(&mut legs)?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// True when the account has a raw ledger entry with `start <= time < end`.
    pub fn has_ledger_entries_in(
        &self,
        account: &str,
        (start, end): (i64, i64),
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM ledger_entries
                 WHERE account = ?1 AND time_us >= ?2 AND time_us < ?3 LIMIT 1",
                params![account, start, end],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Kraken's signed amount of ledger entry `id` of `account` (`None`: not stored), found
    /// through the id index: for the few entries whose sign a reader needs.
    pub fn ledger_amount(&self, account: &str, id: &str) -> Result<Option<Decimal>, StoreError> {
        let text: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT amount FROM ledger_entries WHERE account = ?1 AND ledger_id = ?2",
            )?
            .query_row(params![account, id], |r| r.get(0))
            .optional()?;
        text.map(|t| {
            Decimal::from_str(&t)
                .map_err(|_| StoreError::Corrupt(format!("amount {t:?} is not a decimal")))
        })
        .transpose()
    }

    /// Calls `f` with the fields of every raw ledger entry of `account` stored after rowid
    /// `after` (rows are appended: the entries that arrived since), in rowid order.
    pub fn for_each_ledger_fields_after(
        &self,
        account: &str,
        after: i64,
        mut f: impl FnMut(LedgerFields<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // `+account`: walk the rowid range, not the account's whole id index.
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FIELDS} FROM ledger_entries WHERE rowid > ?2 AND +account = ?1
             ORDER BY rowid"
        ))?;
        let mut rows = stmt.query(params![account, after])?;
        while let Some(r) = rows.next()? {
            f(fields_of(r)?)?;
        }
        Ok(())
    }

    /// Calls `f` with the fields of every raw ledger entry of `account` whose refid is one of
    /// `refids`, oldest first (ties by id): one pass over the covering index.
    pub fn for_each_ledger_fields_with_refids(
        &self,
        account: &str,
        refids: &std::collections::BTreeSet<String>,
        mut f: impl FnMut(LedgerFields<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS refresh_refids (refid TEXT PRIMARY KEY) WITHOUT ROWID;
             DELETE FROM temp.refresh_refids;",
        )?;
        {
            let mut insert = self
                .conn
                .prepare_cached("INSERT OR IGNORE INTO temp.refresh_refids (refid) VALUES (?1)")?;
            for r in refids {
                insert.execute([r])?;
            }
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FIELDS} FROM ledger_entries
             WHERE account = ?1 AND refid IN (SELECT refid FROM temp.refresh_refids)
             ORDER BY time_us, ledger_id"
        ))?;
        let mut rows = stmt.query([account])?;
        while let Some(r) = rows.next()? {
            f(fields_of(r)?)?;
        }
        drop(rows);
        drop(stmt);
        self.conn.execute_batch("DELETE FROM temp.refresh_refids")?;
        Ok(())
    }

    /// Calls `f` with the fields of every raw ledger entry of `account` whose subtype is one
    /// of `subtypes`, oldest first (ties by id).
    pub fn for_each_ledger_fields_with_subtypes(
        &self,
        account: &str,
        subtypes: &[&str],
        mut f: impl FnMut(LedgerFields<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FIELDS} FROM ledger_entries
             WHERE account = ?1 AND subtype IN (SELECT value FROM json_each(?2))
             ORDER BY time_us, ledger_id"
        ))?;
        let list = serde_json::to_string(subtypes)
            .map_err(|e| StoreError::Corrupt(format!("subtype list: {e}")))?;
        let mut rows = stmt.query(params![account, list])?;
        while let Some(r) = rows.next()? {
            f(fields_of(r)?)?;
        }
        Ok(())
    }

    /// Derived legs per element for the account: (element, count).
    pub fn derived_counts(&self, account: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT element, count(*) FROM legs WHERE account = ?1 GROUP BY element ORDER BY element",
        )?;
        let rows = stmt.query_map([account], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Raw ledger rows of the account.
    pub fn raw_ledger_count(&self, account: &str) -> Result<u64, StoreError> {
        Ok(self.raw_ledger_stamp(account)?.0)
    }

    /// Raw ledger rows of the account and the largest rowid among them (0 when none).
    pub fn raw_ledger_stamp(&self, account: &str) -> Result<(u64, i64), StoreError> {
        let (n, max): (i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), max(rowid) FROM ledger_entries WHERE account = ?1",
            [account],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u64, max.unwrap_or(0)))
    }
}

/// The next leg of `rows`, borrowed from its row; `None` at the end.
fn next_leg<'r>(rows: &'r mut rusqlite::Rows<'_>) -> Result<Option<DerivedLegRef<'r>>, StoreError> {
    match rows.next()? {
        None => Ok(None),
        Some(r) => leg_of(r).map(Some),
    }
}

fn set_stamp(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    stamp: &DerivedStamp,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO derived_state (account, classifier_version, rules_hash, raw_rows, max_rowid,
             built_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (account) DO UPDATE SET classifier_version = excluded.classifier_version,
             rules_hash = excluded.rules_hash, raw_rows = excluded.raw_rows,
             max_rowid = excluded.max_rowid, built_at = excluded.built_at",
        params![
            account,
            stamp.classifier_version,
            stamp.rules_hash,
            stamp.raw_rows as i64,
            stamp.max_rowid,
            now_text()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Rules;
    use crate::classify::build::{derive, stamp_for};

    use crate::emulator::{GeneratorConfig, generate, store_dataset};
    use crate::normalize::assets::AssetTable;

    fn index_sql(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'legs' AND type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_refresh_replaces_the_legs_and_a_failed_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("d.sqlite")).unwrap();
        let data = generate(&GeneratorConfig::new(3, 300));
        store_dataset(&mut store, "a", &data).unwrap();
        let entries = store.ledger_entries("a").unwrap();
        let rules = Rules::default();
        let legs = derive(&entries, &AssetTable::default(), &rules).unwrap();
        let stamp = stamp_for(&rules, store.raw_ledger_stamp("a").unwrap());
        // The key is the time order: no index to maintain.
        assert_eq!(index_sql(&store), Vec::<String>::new());
        for _ in 0..2 {
            store
                .replace_derived_legs_with("a", &stamp, |sink| {
                    legs.iter().try_for_each(|l| sink.insert(&l.as_ref()))
                })
                .unwrap();
        }
        assert_eq!(store.derived_legs("a").unwrap(), legs);
        assert_eq!(store.derived_stamp("a").unwrap(), Some(stamp.clone()));
        // A failure part-way rolls back the deletion and the inserts.
        let err = store
            .replace_derived_legs_with("a", &stamp, |sink| {
                sink.insert(&legs[0].as_ref())?;
                Err(StoreError::Corrupt("stop".into()))
            })
            .unwrap_err();
        assert!(err.to_string().contains("stop"), "{err}");
        assert_eq!(store.derived_legs("a").unwrap(), legs);
        // The year's raw rows come with their legs, in step; a leg missing is said so.
        let bounds = (i64::MIN / 2, i64::MAX / 2);
        let mut seen = Vec::new();
        store
            .for_each_year_leg("a", bounds, |y| -> Result<(), StoreError> {
                seen.push((y.raw.id.to_owned(), y.derived.map(|d| d.to_owned())));
                Ok(())
            })
            .unwrap();
        let want: Vec<(String, Option<DerivedLeg>)> = legs
            .iter()
            .map(|l| (l.ledger_id.clone(), Some(l.clone())))
            .collect();
        assert_eq!(seen, want);
        store
            .replace_derived_legs_with("a", &stamp, |sink| {
                legs[1..].iter().try_for_each(|l| sink.insert(&l.as_ref()))
            })
            .unwrap();
        let mut first = None;
        store
            .for_each_year_leg("a", bounds, |y| -> Result<(), StoreError> {
                first.get_or_insert((y.raw.id.to_owned(), y.derived.is_some()));
                Ok(())
            })
            .unwrap();
        assert_eq!(first, Some((legs[0].ledger_id.clone(), false)));
    }

    #[test]
    fn a_full_refresh_reports_the_writers_failure_before_the_fillers_stop() {
        let mut store = Store::open_in_memory().unwrap();
        let data = generate(&GeneratorConfig::new(3, 300));
        store_dataset(&mut store, "a", &data).unwrap();
        let entries = store.ledger_entries("a").unwrap();
        let rules = Rules::default();
        let legs = derive(&entries, &AssetTable::default(), &rules).unwrap();
        let stamp = stamp_for(&rules, store.raw_ledger_stamp("a").unwrap());
        let before = (
            store.derived_legs("a").unwrap(),
            store.derived_stamp("a").unwrap(),
        );
        // The same leg twice: the table's key refuses the second, and the filler, still
        // sending batches, has to stop; the key's refusal is what is reported.
        let err = store
            .replace_derived_legs_with("a", &stamp, |sink| {
                sink.insert(&legs[0].as_ref())?;
                legs.iter()
                    .cycle()
                    .take(20_000)
                    .try_for_each(|l| sink.insert(&l.as_ref()))
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("UNIQUE constraint failed: legs.account, legs.time_us, legs.ledger_id"),
            "{err}"
        );
        // Nothing changed.
        assert_eq!(
            (
                store.derived_legs("a").unwrap(),
                store.derived_stamp("a").unwrap()
            ),
            before
        );
    }
}
