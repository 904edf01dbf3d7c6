//! What the user says about deposits and withdrawals, for `gains`: costs imported with
//! `kraken-tax basis import` and labels set with `kraken-tax label` (schema
//! `0012_gains_basis_labels.sql`).

use super::{Store, StoreError, now_text};
use rusqlite::params;
use rust_decimal::Decimal;
use std::str::FromStr;

/// One cost from a basis file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasisRecord {
    /// Ledger id or refid of the deposit, when given.
    pub ledger_ref: Option<String>,
    /// Reported asset (`BTC`), when the deposit is named by asset and time.
    pub asset: Option<String>,
    /// The deposit's time, microseconds since the epoch (with `asset`).
    pub time_us: Option<i64>,
    /// Units the cost is for.
    pub units: Decimal,
    /// Total cost of those units.
    pub cost: Decimal,
    /// Currency of the cost.
    pub currency: String,
    /// When the units were acquired, microseconds since the epoch.
    pub acquired_us: i64,
}

impl BasisRecord {
    /// The key that identifies the deposit (a later import of the same key replaces it).
    pub fn key(&self) -> String {
        match (&self.ledger_ref, &self.asset, self.time_us) {
            (Some(r), _, _) => format!("id:{r}"),
            (None, Some(a), Some(t)) => format!("at:{a}@{t}"),
            _ => String::new(),
        }
    }
}

/// What a ledger entry is, as the user labelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryLabel {
    /// A wallet of the user's own: a withdrawal there and back is a round trip.
    OwnWallet,
    /// Another exchange or custodial provider.
    Exchange,
    /// A private wallet of the user's (CARF `TransferWallet` for a withdrawal).
    PrivateWallet,
}

impl EntryLabel {
    /// `own-wallet`, `exchange`, `private-wallet`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryLabel::OwnWallet => "own-wallet",
            EntryLabel::Exchange => "exchange",
            EntryLabel::PrivateWallet => "private-wallet",
        }
    }

    /// Parses [`EntryLabel::as_str`].
    pub fn parse(s: &str) -> Option<EntryLabel> {
        [
            EntryLabel::OwnWallet,
            EntryLabel::Exchange,
            EntryLabel::PrivateWallet,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored {what} is not valid"))
}

impl Store {
    /// Stores the costs of a basis file for `account` in one transaction; a record with the
    /// key of an earlier one replaces it. Returns how many were stored.
    pub fn save_basis(
        &self,
        account: &str,
        source_file: &str,
        records: &[BasisRecord],
    ) -> Result<usize, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let now = now_text();
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO basis_entries
                 (account, key, ledger_ref, asset, time_us, units, cost, currency, acquired_us,
                  source_file, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for r in records {
                st.execute(params![
                    account,
                    r.key(),
                    r.ledger_ref,
                    r.asset,
                    r.time_us,
                    r.units.to_string(),
                    r.cost.to_string(),
                    r.currency,
                    r.acquired_us,
                    source_file,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(records.len())
    }

    /// The stored costs of `account`, in key order.
    pub fn basis_records(&self, account: &str) -> Result<Vec<BasisRecord>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT ledger_ref, asset, time_us, units, cost, currency, acquired_us
             FROM basis_entries WHERE account = ?1 ORDER BY key",
        )?;
        let rows = st.query_map([account], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (ledger_ref, asset, time_us, units, cost, currency, acquired_us) = row?;
            out.push(BasisRecord {
                ledger_ref,
                asset,
                time_us,
                units: Decimal::from_str(&units).map_err(|_| corrupt("basis units"))?,
                cost: Decimal::from_str(&cost).map_err(|_| corrupt("basis cost"))?,
                currency,
                acquired_us,
            });
        }
        Ok(out)
    }

    /// Labels a ledger entry (by ledger id or refid) of `account`; replaces an earlier label.
    pub fn set_label(
        &self,
        account: &str,
        reference: &str,
        label: EntryLabel,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO entry_labels (account, ref, label, labelled_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![account, reference, label.as_str(), now_text()],
        )?;
        Ok(())
    }

    /// The labels of `account`: (ledger id or refid, label), in reference order.
    pub fn labels(&self, account: &str) -> Result<Vec<(String, EntryLabel)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT ref, label FROM entry_labels WHERE account = ?1 ORDER BY ref")?;
        let rows = st.query_map([account], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (reference, label) = row?;
            out.push((
                reference,
                EntryLabel::parse(&label).ok_or_else(|| corrupt("label"))?,
            ));
        }
        Ok(out)
    }

    /// True when `account` has a ledger entry with this ledger id or refid.
    pub fn has_ledger_ref(&self, account: &str, reference: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM ledger_entries WHERE account = ?1 AND (ledger_id = ?2 OR refid = ?2)",
            params![account, reference],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_and_labels_round_trip_and_replace_by_key() {
        let store = Store::open_in_memory().unwrap();
        let a = BasisRecord {
            ledger_ref: Some("LAAAAA-AAAAA-AAAAAA".into()),
            asset: None,
            time_us: None,
            units: "0.5".parse().unwrap(),
            cost: "10000.00".parse().unwrap(),
            currency: "EUR".into(),
            acquired_us: 1_600_000_000_000_000,
        };
        let b = BasisRecord {
            ledger_ref: None,
            asset: Some("ETH".into()),
            time_us: Some(1_700_000_000_000_000),
            units: "2".parse().unwrap(),
            cost: "3000".parse().unwrap(),
            currency: "USD".into(),
            acquired_us: 1_650_000_000_000_000,
        };
        assert_eq!(
            store
                .save_basis("main", "b.csv", &[a.clone(), b.clone()])
                .unwrap(),
            2
        );
        let mut a2 = a.clone();
        a2.cost = "12000".parse().unwrap();
        store.save_basis("main", "b2.csv", &[a2.clone()]).unwrap();
        assert_eq!(store.basis_records("main").unwrap(), vec![b, a2]);
        assert!(store.basis_records("other").unwrap().is_empty());

        store.set_label("main", "LX", EntryLabel::Exchange).unwrap();
        store
            .set_label("main", "LX", EntryLabel::OwnWallet)
            .unwrap();
        store
            .set_label("main", "TY", EntryLabel::PrivateWallet)
            .unwrap();
        assert_eq!(
            store.labels("main").unwrap(),
            vec![
                ("LX".to_owned(), EntryLabel::OwnWallet),
                ("TY".to_owned(), EntryLabel::PrivateWallet)
            ]
        );
        assert_eq!(EntryLabel::parse("wallet"), None);
    }
}
