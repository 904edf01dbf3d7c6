//! Raw ledger and trade rows: insert-or-ignore with conflict detection, and reading back.

use super::{Store, StoreError, now_text};
use crate::domain::{
    AssetCode, KrakenTime, LedgerEntry, LedgerFields, LedgerId, PositionClose, RawRecord, RefId,
    Stream, Trade, TradeId, TradeSide,
};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use rust_decimal::Decimal;

/// Where a raw row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The Ledgers / TradesHistory API.
    Api,
    /// A website CSV export imported by the user.
    Csv,
    /// The bulk export API.
    Export,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Csv => "csv",
            Source::Export => "export",
        }
    }
}

/// What storing one page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Rows that were new.
    pub inserted: u64,
    /// Rows already stored, identical.
    pub duplicates: u64,
    /// Rows already stored with different content: kept aside in `raw_conflicts`.
    pub conflicts: u64,
}

/// Counts and time span of one stream of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Rows stored.
    pub count: u64,
    /// Time of the oldest row.
    pub oldest: Option<DateTime<Utc>>,
    /// Time of the newest row.
    pub newest: Option<DateTime<Utc>>,
}

fn dec_text(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(Decimal::to_string)
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn insert_ledger_rows(
    tx: &Transaction<'_>,
    account: &str,
    rows: &[RawRecord<LedgerEntry>],
    source: Source,
) -> Result<PageOutcome, StoreError> {
    let mut out = PageOutcome::default();
    let seen = now_text();
    let mut insert = tx.prepare_cached(
        "INSERT INTO ledger_entries (account, ledger_id, refid, time_text, time_us, time_utc, type,
             subtype, aclass, subclass, asset, wallet, amount, fee, balance, raw, source, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT DO NOTHING",
    )?;
    for RawRecord { item: e, raw } in rows {
        let n = insert.execute(params![
            account,
            e.id.as_str(),
            e.refid.as_str(),
            e.time.text(),
            e.time.micros(),
            e.time
                .utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.kind,
            e.subtype,
            e.aclass,
            e.subclass,
            e.asset.as_str(),
            e.wallet,
            e.amount.to_string(),
            e.fee.to_string(),
            dec_text(&e.balance),
            raw,
            source.as_str(),
            seen,
        ])?;
        if n == 1 {
            out.inserted += 1;
            continue;
        }
        let existing = tx
            .prepare_cached(LEDGER_SELECT_BY_ID)?
            .query_row((account, e.id.as_str()), ledger_from_row)??;
        let same = same_ledger_entry(&existing, e);
        out.note_existing(
            tx,
            (account, Stream::Ledgers, source),
            e.id.as_str(),
            raw,
            same,
        )?;
    }
    Ok(out)
}

/// Equal in everything the sources agree on. CSV exports carry times to the second and may
/// name the wallet, so those are compared loosely.
fn same_ledger_entry(a: &LedgerEntry, b: &LedgerEntry) -> bool {
    a.refid == b.refid
        && a.kind == b.kind
        && a.asset == b.asset
        && a.amount == b.amount
        && a.fee == b.fee
        && (a.balance == b.balance || a.balance.is_none() || b.balance.is_none())
        && a.time.micros().div_euclid(1_000_000) == b.time.micros().div_euclid(1_000_000)
        // Old exports have no subtype column: an absent subtype agrees with any.
        && (a.subtype.is_none()
            || b.subtype.is_none()
            || a.subtype.as_deref().unwrap_or("") == b.subtype.as_deref().unwrap_or(""))
}

/// Equal in everything the sources agree on (CSV times carry whole seconds).
fn same_trade(a: &Trade, b: &Trade) -> bool {
    a.ordertxid == b.ordertxid
        && a.pair == b.pair
        && a.side == b.side
        && a.price == b.price
        && a.cost == b.cost
        && a.fee == b.fee
        && a.vol == b.vol
        && a.time.micros().div_euclid(1_000_000) == b.time.micros().div_euclid(1_000_000)
}

impl PageOutcome {
    /// Counts a row whose id was already stored: an identical duplicate, or a different
    /// version, kept aside in `raw_conflicts` and reported.
    fn note_existing(
        &mut self,
        tx: &Transaction<'_>,
        (account, stream, source): (&str, Stream, Source),
        id: &str,
        raw: &str,
        same: bool,
    ) -> Result<(), StoreError> {
        if same {
            self.duplicates += 1;
            return Ok(());
        }
        self.conflicts += 1;
        // Counted in the outcome and summed up by the caller: one line per row would flood
        // the terminal when a whole file conflicts.
        tracing::debug!(
            id,
            "a different version of a stored {stream} entry was kept aside"
        );
        tx.prepare_cached(
            "INSERT INTO raw_conflicts (account, stream, entry_id, raw, source, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            account,
            stream.as_str(),
            id,
            raw,
            source.as_str(),
            now_text()
        ])?;
        Ok(())
    }
}

pub(super) fn insert_trade_rows(
    tx: &Transaction<'_>,
    account: &str,
    rows: &[RawRecord<Trade>],
    source: Source,
) -> Result<PageOutcome, StoreError> {
    let mut out = PageOutcome::default();
    let seen = now_text();
    let mut insert = tx.prepare_cached(
        "INSERT INTO trades (account, trade_id, ordertxid, postxid, pair, time_text, time_us,
             time_utc, type, ordertype, price, cost, fee, vol, margin, leverage, misc, ledgers,
             kraken_trade_id, maker, posstatus, cprice, ccost, cfee, cvol, cmargin, net,
             closing_trades, raw, source, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
             ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)
         ON CONFLICT DO NOTHING",
    )?;
    for RawRecord { item: t, raw } in rows {
        let p = &t.position;
        let n = insert.execute(params![
            account,
            t.id.as_str(),
            t.ordertxid,
            t.postxid,
            t.pair,
            t.time.text(),
            t.time.micros(),
            t.time
                .utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            t.side.as_str(),
            t.ordertype,
            t.price.to_string(),
            t.cost.to_string(),
            t.fee.to_string(),
            t.vol.to_string(),
            dec_text(&t.margin),
            t.leverage,
            t.misc,
            join(&t.ledgers),
            t.trade_id,
            t.maker,
            p.posstatus,
            dec_text(&p.cprice),
            dec_text(&p.ccost),
            dec_text(&p.cfee),
            dec_text(&p.cvol),
            dec_text(&p.cmargin),
            dec_text(&p.net),
            join(&p.trades),
            raw,
            source.as_str(),
            seen,
        ])?;
        if n == 1 {
            out.inserted += 1;
            continue;
        }
        let existing = tx
            .prepare_cached(TRADE_SELECT_BY_ID)?
            .query_row((account, t.id.as_str()), trade_from_row)??;
        let same = same_trade(&existing, t);
        out.note_existing(
            tx,
            (account, Stream::Trades, source),
            t.id.as_str(),
            raw,
            same,
        )?;
    }
    Ok(out)
}

pub(super) const LEDGER_COLUMNS: &str =
    "ledger_id, refid, time_text, type, subtype, aclass, subclass, asset,
    wallet, amount, fee, balance";
const LEDGER_SELECT_BY_ID: &str = "SELECT ledger_id, refid, time_text, type, subtype, aclass,
    subclass, asset, wallet, amount, fee, balance FROM ledger_entries
    WHERE account = ?1 AND ledger_id = ?2";
pub(super) const TRADE_COLUMNS: &str =
    "trade_id, ordertxid, postxid, pair, time_text, type, ordertype,
    price, cost, fee, vol, margin, leverage, misc, ledgers, kraken_trade_id, maker, posstatus,
    cprice, ccost, cfee, cvol, cmargin, net, closing_trades";
const TRADE_SELECT_BY_ID: &str = "SELECT trade_id, ordertxid, postxid, pair, time_text, type,
    ordertype, price, cost, fee, vol, margin, leverage, misc, ledgers, kraken_trade_id, maker,
    posstatus, cprice, ccost, cfee, cvol, cmargin, net, closing_trades FROM trades
    WHERE account = ?1 AND trade_id = ?2";

/// A stored value that cannot be read back (the file was edited or damaged); it becomes
/// [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
pub enum DamagedValue {
    /// An id that is not one.
    #[error(transparent)]
    Id(#[from] crate::domain::IdError),
    /// A time that Kraken's format does not allow.
    #[error(transparent)]
    Time(#[from] crate::domain::TimeError),
    /// A number outside the accepted range, or not a number.
    #[error("{field}: {reason}")]
    Amount {
        /// The column.
        field: &'static str,
        /// What is wrong with it.
        reason: crate::domain::AmountError,
    },
    /// A trade side other than buy or sell.
    #[error("trade type {0:?}")]
    Side(String),
}

impl From<DamagedValue> for StoreError {
    fn from(e: DamagedValue) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

fn dec(field: &'static str, text: String) -> Result<Decimal, DamagedValue> {
    crate::domain::parse_amount(&text).map_err(|reason| DamagedValue::Amount { field, reason })
}

fn opt_dec(field: &'static str, text: Option<String>) -> Result<Option<Decimal>, DamagedValue> {
    text.map(|t| dec(field, t)).transpose()
}

fn ids<T>(
    text: String,
    make: impl Fn(String) -> Result<T, crate::domain::IdError>,
) -> Result<Vec<T>, DamagedValue> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Ok(make(s.to_owned())?))
        .collect()
}

/// Reads a ledger row; the outer result is SQLite's, the inner one a damaged value.
pub(super) fn ledger_from_row(r: &Row<'_>) -> rusqlite::Result<Result<LedgerEntry, DamagedValue>> {
    let id: String = r.get(0)?;
    let refid: String = r.get(1)?;
    let time: String = r.get(2)?;
    let asset: String = r.get(7)?;
    let amount: String = r.get(9)?;
    let fee: String = r.get(10)?;
    let balance: Option<String> = r.get(11)?;
    let (kind, subtype, aclass, subclass, wallet) =
        (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(8)?);
    Ok((|| {
        Ok(LedgerEntry {
            id: LedgerId::new(id)?,
            refid: RefId::new(refid)?,
            time: KrakenTime::parse(&time)?,
            kind,
            subtype,
            aclass,
            subclass,
            asset: AssetCode::new(asset)?,
            wallet,
            amount: dec("amount", amount)?,
            fee: dec("fee", fee)?,
            balance: opt_dec("balance", balance)?,
        })
    })())
}

pub(super) fn trade_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Trade, DamagedValue>> {
    let id: String = r.get(0)?;
    let time: String = r.get(4)?;
    let side: String = r.get(5)?;
    let (price, cost, fee, vol): (String, String, String, String) =
        (r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?);
    let margin: Option<String> = r.get(11)?;
    let ledgers: String = r.get(14)?;
    let closing: String = r.get(24)?;
    let text = |i| r.get::<_, Option<String>>(i);
    let (cprice, ccost, cfee, cvol, cmargin, net) = (
        text(18)?,
        text(19)?,
        text(20)?,
        text(21)?,
        text(22)?,
        text(23)?,
    );
    let (ordertxid, postxid, pair, ordertype, leverage, misc, trade_id, maker, posstatus) = (
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(6)?,
        r.get(12)?,
        r.get(13)?,
        r.get(15)?,
        r.get(16)?,
        r.get(17)?,
    );
    Ok((|| {
        Ok(Trade {
            id: TradeId::new(id)?,
            ordertxid,
            postxid,
            pair,
            time: KrakenTime::parse(&time)?,
            side: TradeSide::parse(&side).ok_or_else(|| DamagedValue::Side(side.clone()))?,
            ordertype,
            price: dec("price", price)?,
            cost: dec("cost", cost)?,
            fee: dec("fee", fee)?,
            vol: dec("vol", vol)?,
            margin: opt_dec("margin", margin)?,
            leverage,
            misc,
            ledgers: ids(ledgers, LedgerId::new)?,
            trade_id,
            maker,
            position: PositionClose {
                posstatus,
                cprice: opt_dec("cprice", cprice)?,
                ccost: opt_dec("ccost", ccost)?,
                cfee: opt_dec("cfee", cfee)?,
                cvol: opt_dec("cvol", cvol)?,
                cmargin: opt_dec("cmargin", cmargin)?,
                net: opt_dec("net", net)?,
                trades: ids(closing, TradeId::new)?,
            },
        })
    })())
}

impl Store {
    /// Stores rows outside any sync walk (imports, tests), in one transaction.
    pub fn insert_ledger_entries(
        &mut self,
        account: &str,
        rows: &[RawRecord<LedgerEntry>],
        source: Source,
    ) -> Result<PageOutcome, StoreError> {
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        let out = insert_ledger_rows(&tx, account, rows, source)?;
        tx.commit()?;
        Ok(out)
    }

    /// Every ledger entry of `account`, oldest first (ties by id).
    pub fn ledger_entries(&self, account: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE account = ?1");
        let mut out = self.read_all(&sql, account, ledger_from_row)?;
        out.sort_unstable_by(|a, b| (a.time.micros(), &a.id).cmp(&(b.time.micros(), &b.id)));
        Ok(out)
    }

    /// Calls `f` with the fields of every ledger entry of `account` that grouping,
    /// classification and reports need, oldest first (ties by id), borrowed from the row: no
    /// allocation per entry. Reads the covering index `ledger_entries_scan` in its order, so
    /// neither the table (with its raw text) nor a sort is needed. An error from `f`, or a
    /// damaged value, stops the walk as [`StoreError::Corrupt`].
    pub fn for_each_ledger_fields<E: std::fmt::Display>(
        &self,
        account: &str,
        mut f: impl FnMut(LedgerFields<'_>) -> Result<(), E>,
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT ledger_id, refid, time_us, type, subtype, asset, amount, fee
             FROM ledger_entries WHERE account = ?1 ORDER BY time_us, ledger_id",
        )?;
        let mut rows = stmt.query([account])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let damaged = |i: usize, e: rusqlite::types::FromSqlError| {
                StoreError::Corrupt(format!("ledger_entries column {i}: {e}"))
            };
            let text = |i: usize| -> Result<&str, StoreError> {
                r.get_ref(i)?.as_str().map_err(|e| damaged(i, e))
            };
            let number = |i: usize, field: &str| -> Result<Decimal, StoreError> {
                let t = text(i)?;
                crate::domain::parse_amount(t)
                    .map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))
            };
            let time_us: i64 = r.get(2)?;
            if DateTime::from_timestamp_micros(time_us).is_none() {
                return Err(StoreError::Corrupt(format!(
                    "time_us {time_us} out of range"
                )));
            }
            let fields = LedgerFields {
                id: text(0)?,
                refid: text(1)?,
                time_us,
                kind: text(3)?,
                subtype: r.get_ref(4)?.as_str_or_null().map_err(|e| damaged(4, e))?,
                asset: text(5)?,
                amount: number(6, "amount")?,
                fee: number(7, "fee")?,
            };
            f(fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every trade of `account`, oldest first (ties by id).
    pub fn trades(&self, account: &str) -> Result<Vec<Trade>, StoreError> {
        let sql = format!("SELECT {TRADE_COLUMNS} FROM trades WHERE account = ?1");
        let mut out = self.read_all(&sql, account, trade_from_row)?;
        out.sort_unstable_by(|a, b| (a.time.micros(), &a.id).cmp(&(b.time.micros(), &b.id)));
        Ok(out)
    }

    /// Reads every row of `sql` (one `account` parameter) in whatever order SQLite's plan
    /// gives (for ledger entries it reads the covering index `ledger_entries_scan`). Callers
    /// sort in memory rather than ask for an order the plan would have to look rows up for.
    fn read_all<T>(
        &self,
        sql: &str,
        account: &str,
        from_row: fn(&Row<'_>) -> rusqlite::Result<Result<T, DamagedValue>>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([account], from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Whether an entry with this id is stored.
    pub fn contains(&self, account: &str, stream: Stream, id: &str) -> Result<bool, StoreError> {
        let sql = match stream {
            Stream::Ledgers => "SELECT 1 FROM ledger_entries WHERE account = ?1 AND ledger_id = ?2",
            Stream::Trades => "SELECT 1 FROM trades WHERE account = ?1 AND trade_id = ?2",
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row((account, id), |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Entries of a stream with `lo < time_us <= hi` (`lo = None`: from the beginning).
    pub fn count_between(
        &self,
        account: &str,
        stream: Stream,
        lo_exclusive: Option<i64>,
        hi_inclusive: i64,
    ) -> Result<u64, StoreError> {
        let table = table(stream);
        let sql = format!(
            "SELECT count(*) FROM {table} WHERE account = ?1 AND time_us > ?2 AND time_us <= ?3"
        );
        let n: i64 = self.conn.query_row(
            &sql,
            params![account, lo_exclusive.unwrap_or(i64::MIN), hi_inclusive],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Count and time span of a stream.
    pub fn stream_summary(
        &self,
        account: &str,
        stream: Stream,
    ) -> Result<StreamSummary, StoreError> {
        let sql = format!(
            "SELECT count(*), min(time_us), max(time_us) FROM {} WHERE account = ?1",
            table(stream)
        );
        let (count, lo, hi): (i64, Option<i64>, Option<i64>) =
            self.conn
                .query_row(&sql, [account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let at = |us: Option<i64>| us.and_then(|us| Utc.timestamp_micros(us).single());
        Ok(StreamSummary {
            count: count as u64,
            oldest: at(lo),
            newest: at(hi),
        })
    }

    /// Ledger entry counts grouped by `column` (`type` or `asset`), largest first.
    pub fn ledger_counts_by(
        &self,
        account: &str,
        column: LedgerGrouping,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let col = match column {
            LedgerGrouping::Type => "type",
            LedgerGrouping::Asset => "asset",
        };
        let sql = format!(
            "SELECT {col}, count(*) AS n FROM ledger_entries WHERE account = ?1
             GROUP BY {col} ORDER BY n DESC, {col}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([account], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Conflicting versions kept aside for `account`.
    pub fn conflict_count(&self, account: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM raw_conflicts WHERE account = ?1",
            [account],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

/// How [`Store::ledger_counts_by`] groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerGrouping {
    /// By ledger type.
    Type,
    /// By raw asset code.
    Asset,
}

fn table(stream: Stream) -> &'static str {
    match stream {
        Stream::Ledgers => "ledger_entries",
        Stream::Trades => "trades",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RawRecord;
    use crate::emulator::{GeneratorConfig, generate};
    use crate::store::Store;

    fn insert(store: &mut Store, rows: &[RawRecord<Trade>], source: Source) -> PageOutcome {
        let mut tx = store.begin_import("a").unwrap();
        let out = tx.trades(rows, source).unwrap();
        tx.commit().unwrap();
        out
    }

    /// A second, different version of a stored trade is kept aside as a conflict; the stored
    /// trade (its fields and its raw text) stays as it was. The same trade again is a
    /// duplicate, also when it comes with whole seconds only (a CSV export).
    #[test]
    fn a_conflicting_trade_is_kept_aside_and_the_stored_one_is_unchanged() {
        let data = generate(&GeneratorConfig::new(9, 60));
        let original = data.trades[0].clone();
        let mut store = Store::open_in_memory().unwrap();
        let first = RawRecord {
            item: original.clone(),
            raw: "{\"version\":1}".to_owned(),
        };
        let out = insert(&mut store, std::slice::from_ref(&first), Source::Api);
        assert_eq!((out.inserted, out.duplicates, out.conflicts), (1, 0, 0));

        let mut changed = original.clone();
        changed.cost += Decimal::new(1, 2);
        changed.fee += Decimal::new(1, 4);
        let second = RawRecord {
            item: changed,
            raw: "{\"version\":2}".to_owned(),
        };
        let out = insert(&mut store, std::slice::from_ref(&second), Source::Csv);
        assert_eq!((out.inserted, out.duplicates, out.conflicts), (0, 0, 1));
        assert_eq!(store.trades("a").unwrap(), vec![original.clone()]);
        let raw: String = store
            .conn
            .query_row(
                "SELECT raw FROM trades WHERE account = 'a' AND trade_id = ?1",
                [original.id.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(raw, "{\"version\":1}");
        let kept = store.conflicts_after("a", 0, 10).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (
                kept[0].stream,
                kept[0].entry_id.as_str(),
                kept[0].raw.as_str()
            ),
            (Stream::Trades, original.id.as_str(), "{\"version\":2}")
        );

        // The stored version again, to the second: a duplicate, nothing kept aside.
        let mut whole_seconds = original.clone();
        whole_seconds.time = crate::domain::KrakenTime::from_micros(
            original.time.micros() / 1_000_000 * 1_000_000,
            0,
        );
        let out = insert(
            &mut store,
            &[RawRecord {
                item: whole_seconds,
                raw: "csv row".to_owned(),
            }],
            Source::Csv,
        );
        assert_eq!((out.inserted, out.duplicates, out.conflicts), (0, 1, 0));
        assert_eq!(store.conflict_count("a").unwrap(), 1);
        assert_eq!(store.trades("a").unwrap(), vec![original]);
    }
}
