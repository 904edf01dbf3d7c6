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
        self.ensure_account(account)?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM legs WHERE account = ?1", [account])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO legs (account, ledger_id, event_id, time_us, asset, asset_known,
                     is_fiat, element, type_code, transfer_wallet, note, counter_asset,
                     counter_amount)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for l in legs {
                insert.execute(params![
                    account,
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
            }
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
