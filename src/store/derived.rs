//! Derived tables: each leg's event and classification, rebuildable from the raw rows.

use super::{Store, StoreError, now_text};
use crate::domain::Element;
use rusqlite::{OptionalExtension, params};

/// One classified leg, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedLeg {
    /// The ledger entry.
    pub ledger_id: String,
    /// Its event.
    pub event_id: String,
    /// Its time, microseconds.
    pub time_us: i64,
    /// Normalized asset.
    pub asset: String,
    /// The asset code was recognised.
    pub asset_known: bool,
    /// A fiat currency.
    pub is_fiat: bool,
    /// CARF element.
    pub element: Element,
    /// Type code, if any.
    pub type_code: Option<String>,
    /// Also reported as `TransferWallet`.
    pub transfer_wallet: bool,
    /// Why it was classified so.
    pub note: String,
    /// The asset it was exchanged against.
    pub counter_asset: Option<String>,
    /// That side's net signed amount, as text.
    pub counter_amount: Option<String>,
}

impl DerivedLeg {
    /// The leg, borrowed.
    pub fn as_ref(&self) -> DerivedLegRef<'_> {
        DerivedLegRef {
            ledger_id: &self.ledger_id,
            event_id: &self.event_id,
            time_us: self.time_us,
            asset: &self.asset,
            asset_known: self.asset_known,
            is_fiat: self.is_fiat,
            element: self.element,
            type_code: self.type_code.as_deref(),
            transfer_wallet: self.transfer_wallet,
            note: &self.note,
            counter_asset: self.counter_asset.as_deref(),
            counter_amount: self.counter_amount.as_deref(),
        }
    }
}

/// A [`DerivedLeg`], borrowed: what [`DerivedSink::insert`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are those of `DerivedLeg`.
pub struct DerivedLegRef<'a> {
    pub ledger_id: &'a str,
    pub event_id: &'a str,
    pub time_us: i64,
    pub asset: &'a str,
    pub asset_known: bool,
    pub is_fiat: bool,
    pub element: Element,
    pub type_code: Option<&'a str>,
    pub transfer_wallet: bool,
    pub note: &'a str,
    pub counter_asset: Option<&'a str>,
    pub counter_amount: Option<&'a str>,
}

/// Inserts derived legs inside [`Store::replace_derived_legs_with`]'s transaction.
pub struct DerivedSink<'a> {
    insert: rusqlite::CachedStatement<'a>,
    account: &'a str,
}

impl DerivedSink<'_> {
    /// Inserts one leg.
    pub fn insert(&mut self, l: &DerivedLegRef<'_>) -> Result<(), StoreError> {
        self.insert.execute(params![
            self.account,
            l.ledger_id,
            l.event_id,
            l.time_us,
            l.asset,
            l.asset_known,
            l.is_fiat,
            l.element.as_str(),
            l.type_code,
            l.transfer_wallet,
            l.note,
            l.counter_asset,
            l.counter_amount,
        ])?;
        Ok(())
    }
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
}

/// From this many legs on, a refresh rebuilds the indexes of `legs` rather than maintaining
/// them leg by leg (see [`Store::replace_derived_legs_with`]).
pub const BULK_LEGS: usize = 100_000;

impl Store {
    /// What the account's derived tables were built from, if they were.
    pub fn derived_stamp(&self, account: &str) -> Result<Option<DerivedStamp>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT classifier_version, rules_hash, raw_rows FROM derived_state WHERE account = ?1",
                [account],
                |r| {
                    Ok(DerivedStamp {
                        classifier_version: r.get(0)?,
                        rules_hash: r.get(1)?,
                        raw_rows: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Replaces the account's derived legs in one transaction.
    pub fn replace_derived_legs(
        &mut self,
        account: &str,
        legs: &[DerivedLeg],
        stamp: &DerivedStamp,
    ) -> Result<(), StoreError> {
        self.replace_derived_legs_with(account, stamp, legs.len() >= BULK_LEGS, |sink| {
            legs.iter().try_for_each(|l| sink.insert(&l.as_ref()))
        })
    }

    /// Replaces the account's derived legs in one transaction with those `fill` inserts, one
    /// at a time (so a million legs need not be held at once). Nothing changes when `fill`
    /// fails. Legs inserted in ledger-id order append to the table's key instead of landing
    /// on random pages.
    ///
    /// With `bulk` (a large account), the indexes of `legs` are dropped for the transaction
    /// and rebuilt from their own stored definitions at the end: one sort instead of a random
    /// index page per leg, which with SQLite's small page cache cost most of a million-leg
    /// refresh in page reads and writes.
    pub fn replace_derived_legs_with(
        &mut self,
        account: &str,
        stamp: &DerivedStamp,
        bulk: bool,
        fill: impl FnOnce(&mut DerivedSink<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        let mut indexes: Vec<(String, String)> = Vec::new();
        if bulk {
            let mut stmt = tx.prepare(
                "SELECT name, sql FROM sqlite_master
                 WHERE type = 'index' AND tbl_name = 'legs' AND sql IS NOT NULL",
            )?;
            indexes = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (name, _) in &indexes {
                tx.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
            }
        }
        tx.execute("DELETE FROM legs WHERE account = ?1", [account])?;
        {
            let insert = tx.prepare_cached(
                "INSERT INTO legs (account, ledger_id, event_id, time_us, asset, asset_known,
                     is_fiat, element, type_code, transfer_wallet, note, counter_asset,
                     counter_amount)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut sink = DerivedSink { insert, account };
            fill(&mut sink)?;
        }
        for (_, sql) in &indexes {
            tx.execute_batch(sql)?;
        }
        tx.execute(
            "INSERT INTO derived_state (account, classifier_version, rules_hash, raw_rows, built_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account) DO UPDATE SET classifier_version = excluded.classifier_version,
                 rules_hash = excluded.rules_hash, raw_rows = excluded.raw_rows,
                 built_at = excluded.built_at",
            params![
                account,
                stamp.classifier_version,
                stamp.rules_hash,
                stamp.raw_rows as i64,
                now_text()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The account's derived legs, oldest first.
    pub fn derived_legs(&self, account: &str) -> Result<Vec<DerivedLeg>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT ledger_id, event_id, time_us, asset, asset_known, is_fiat, element, type_code,
                    transfer_wallet, note, counter_asset, counter_amount
             FROM legs WHERE account = ?1 ORDER BY time_us, ledger_id",
        )?;
        let rows = stmt.query_map([account], |r| {
            let element: String = r.get(6)?;
            Ok((
                element,
                DerivedLeg {
                    ledger_id: r.get(0)?,
                    event_id: r.get(1)?,
                    time_us: r.get(2)?,
                    asset: r.get(3)?,
                    asset_known: r.get(4)?,
                    is_fiat: r.get(5)?,
                    element: Element::Unclassified,
                    type_code: r.get(7)?,
                    transfer_wallet: r.get(8)?,
                    note: r.get(9)?,
                    counter_asset: r.get(10)?,
                    counter_amount: r.get(11)?,
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (element, mut leg) = row?;
            leg.element = Element::parse(&element)
                .ok_or_else(|| StoreError::Corrupt(format!("legs.element {element:?}")))?;
            out.push(leg);
        }
        Ok(out)
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
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM ledger_entries WHERE account = ?1",
            [account],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
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
    fn a_bulk_refresh_rebuilds_the_indexes_and_a_failed_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("d.sqlite")).unwrap();
        let data = generate(&GeneratorConfig::new(3, 300));
        store_dataset(&mut store, "a", &data).unwrap();
        let entries = store.ledger_entries("a").unwrap();
        let rules = Rules::default();
        let legs = derive(&entries, &AssetTable::default(), &rules).unwrap();
        let stamp = stamp_for(&rules, entries.len() as u64);
        let indexes = index_sql(&store);
        assert_eq!(indexes.len(), 1, "{indexes:?}");
        store.replace_derived_legs("a", &legs, &stamp).unwrap();
        store
            .replace_derived_legs_with("a", &stamp, true, |sink| {
                legs.iter().try_for_each(|l| sink.insert(&l.as_ref()))
            })
            .unwrap();
        assert_eq!(store.derived_legs("a").unwrap(), legs);
        assert_eq!(index_sql(&store), indexes);
        // A failure part-way rolls back the deletion, the inserts and the dropped index.
        let err = store
            .replace_derived_legs_with("a", &stamp, true, |sink| {
                sink.insert(&legs[0].as_ref())?;
                Err(StoreError::Corrupt("stop".into()))
            })
            .unwrap_err();
        assert!(err.to_string().contains("stop"), "{err}");
        assert_eq!(store.derived_legs("a").unwrap(), legs);
        assert_eq!(index_sql(&store), indexes);
    }
}
