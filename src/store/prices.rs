//! Market data caches: Kraken's public assets and pairs, prices (Kraken trades and imported
//! candles) and the time ranges of public trades already fetched.

use super::{Store, StoreError, now_text};
use crate::domain::{AssetInfo, PairInfo};
use rusqlite::params;
use rust_decimal::Decimal;
use std::str::FromStr;

/// One cached price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    /// `kraken` or `import:<file name>`.
    pub source: String,
    /// The pair's name.
    pub pair: String,
    /// Reported base code (`BTC`).
    pub base: String,
    /// Reported quote code (`EUR`).
    pub quote: String,
    /// Price of one base in quote.
    pub price: Decimal,
    /// Exact time of the price used, microseconds since the epoch.
    pub time_us: i64,
    /// The same time as Kraken (or the file) wrote it.
    pub time_text: String,
}

/// Minutes since the epoch: the cache keeps one price per pair and minute.
pub fn minute_bucket(time_us: i64) -> i64 {
    time_us.div_euclid(60_000_000)
}

impl Store {
    /// Replaces the cached asset list.
    pub fn save_market_assets(&self, assets: &[AssetInfo]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM market_assets", [])?;
        let now = now_text();
        {
            let mut st = tx.prepare(
                "INSERT INTO market_assets (code, altname, decimals, status, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for a in assets {
                st.execute(params![a.code, a.altname, a.decimals, a.status, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached asset list (empty when never fetched).
    pub fn market_assets(&self) -> Result<Vec<AssetInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT code, altname, decimals, status FROM market_assets ORDER BY code")?;
        let rows = st.query_map([], |r| {
            Ok(AssetInfo {
                code: r.get(0)?,
                altname: r.get(1)?,
                decimals: r.get(2)?,
                status: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the cached pair list.
    pub fn save_market_pairs(&self, pairs: &[PairInfo]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM market_pairs", [])?;
        let now = now_text();
        {
            let mut st = tx.prepare(
                "INSERT INTO market_pairs (pair, altname, wsname, base, quote, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for p in pairs {
                st.execute(params![p.pair, p.altname, p.wsname, p.base, p.quote, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached pair list (empty when never fetched).
    pub fn market_pairs(&self) -> Result<Vec<PairInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT pair, altname, wsname, base, quote FROM market_pairs ORDER BY pair")?;
        let rows = st.query_map([], |r| {
            Ok(PairInfo {
                pair: r.get(0)?,
                altname: r.get(1)?,
                wsname: r.get(2)?,
                base: r.get(3)?,
                quote: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores prices in one transaction; a later price for the same (source, pair, minute)
    /// replaces the earlier one only when it is later in time (the minute's last trade wins).
    pub fn save_prices(&self, rows: &[PriceRow]) -> Result<u64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO prices (source, pair, base, quote, bucket, price, price_time_us,
                                     price_time_text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (source, pair, bucket) DO UPDATE SET
                     price = excluded.price, price_time_us = excluded.price_time_us,
                     price_time_text = excluded.price_time_text
                 WHERE excluded.price_time_us >= prices.price_time_us",
            )?;
            for p in rows {
                n += st.execute(params![
                    p.source,
                    p.pair,
                    p.base,
                    p.quote,
                    minute_bucket(p.time_us),
                    p.price.to_string(),
                    p.time_us,
                    p.time_text
                ])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Every cached price whose source is `source`, or starts with `source` when it ends
    /// with `:` (`import:` selects every imported file), ordered by pair and time.
    pub fn prices_from(&self, source: &str) -> Result<Vec<PriceRow>, StoreError> {
        let (sql, arg) = if source.ends_with(':') {
            (
                "SELECT source, pair, base, quote, price, price_time_us, price_time_text
                 FROM prices WHERE substr(source, 1, length(?1)) = ?1
                 ORDER BY pair, price_time_us",
                source,
            )
        } else {
            (
                "SELECT source, pair, base, quote, price, price_time_us, price_time_text
                 FROM prices WHERE source = ?1 ORDER BY pair, price_time_us",
                source,
            )
        };
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map([arg], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (source, pair, base, quote, price, time_us, time_text) = row?;
            let price = Decimal::from_str(&price).map_err(|_| {
                StoreError::Corrupt(format!("price {price:?} of {pair} is not a decimal"))
            })?;
            out.push(PriceRow {
                source,
                pair,
                base,
                quote,
                price,
                time_us,
                time_text,
            });
        }
        Ok(out)
    }

    /// Records that Kraken's public trades of `pair` in `[from_us, to_us]` were fetched.
    pub fn add_price_coverage(
        &self,
        pair: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO price_coverage (pair, from_us, to_us, fetched_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pair, from_us) DO UPDATE SET to_us = max(to_us, excluded.to_us)",
            params![pair, from_us, to_us, now_text()],
        )?;
        Ok(())
    }

    /// Every fetched range: (pair, from, to) in microseconds.
    pub fn price_coverage(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT pair, from_us, to_us FROM price_coverage ORDER BY pair, from_us")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, us: i64, price: i64) -> PriceRow {
        PriceRow {
            source: source.into(),
            pair: "XXBTZEUR".into(),
            base: "BTC".into(),
            quote: "EUR".into(),
            price: Decimal::from(price),
            time_us: us,
            time_text: us.to_string(),
        }
    }

    #[test]
    fn one_price_per_minute_the_last_trade_wins() {
        let s = Store::open_in_memory().unwrap();
        s.save_prices(&[row("kraken", 60_000_000, 1), row("kraken", 90_000_000, 2)])
            .unwrap();
        s.save_prices(&[
            row("kraken", 70_000_000, 3),
            row("import:a.csv", 61_000_000, 4),
        ])
        .unwrap();
        let k = s.prices_from("kraken").unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!((k[0].price, k[0].time_us), (Decimal::from(2), 90_000_000));
        let i = s.prices_from("import:").unwrap();
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].source, "import:a.csv");
        s.add_price_coverage("XXBTZEUR", 1, 5).unwrap();
        s.add_price_coverage("XXBTZEUR", 1, 9).unwrap();
        assert_eq!(
            s.price_coverage().unwrap(),
            vec![("XXBTZEUR".to_owned(), 1, 9)]
        );
    }

    #[test]
    fn pairs_and_assets_round_trip() {
        let s = Store::open_in_memory().unwrap();
        let p = PairInfo {
            pair: "XXBTZEUR".into(),
            altname: "XBTEUR".into(),
            wsname: Some("XBT/EUR".into()),
            base: "XXBT".into(),
            quote: "ZEUR".into(),
        };
        s.save_market_pairs(std::slice::from_ref(&p)).unwrap();
        assert_eq!(s.market_pairs().unwrap(), vec![p]);
        let a = AssetInfo {
            code: "XXBT".into(),
            altname: "XBT".into(),
            decimals: Some(10),
            status: Some("enabled".into()),
        };
        s.save_market_assets(std::slice::from_ref(&a)).unwrap();
        s.save_market_assets(std::slice::from_ref(&a)).unwrap();
        assert_eq!(s.market_assets().unwrap(), vec![a]);
    }
}
