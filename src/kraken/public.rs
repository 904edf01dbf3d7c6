//! Kraken's public market data: `Assets`, `AssetPairs` and `Trades`, for valuation.
//!
//! No key is involved. Calls are paced by a process-wide [`Pacer`] (Kraken allows about one
//! public call per second); the interval is configurable so tests run fast.

use super::error::{DecodeError, KrakenError, RowError};
use super::http::{self, decode};
use super::retry::{Resync, Retrier, RetryError, RetryPolicy};
use super::wire::DecimalText;
use crate::domain::{AssetInfo, KrakenTime, PairInfo};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Kraken's advice for public endpoints: one call per second.
pub const PUBLIC_INTERVAL: Duration = Duration::from_secs(1);

/// Spaces calls at least `interval` apart. Clones share the same clock.
#[derive(Debug, Clone)]
pub struct Pacer {
    last: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl Pacer {
    /// A pacer of its own (tests).
    pub fn new() -> Self {
        Self {
            last: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The pacer shared by every public client of this process.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Pacer> = OnceLock::new();
        GLOBAL.get_or_init(Pacer::new).clone()
    }

    /// Waits until `interval` has passed since the previous call; returns the time waited.
    pub async fn wait(&self, interval: Duration) -> Duration {
        let mut last = self.last.lock().await;
        let now = Instant::now();
        let waited = match *last {
            Some(prev) if prev + interval > now => {
                let until = prev + interval;
                tokio::time::sleep_until(until).await;
                until - now
            }
            _ => Duration::ZERO,
        };
        *last = Some(Instant::now());
        waited
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings of a [`PublicClient`].
#[derive(Debug, Clone)]
pub struct PublicConfig {
    /// Base URL (checked with [`super::parse_api_url`] by the caller).
    pub api_url: Url,
    /// Minimum time between two calls of this process.
    pub interval: Duration,
    /// Time allowed for a whole request.
    pub request_timeout: Duration,
    /// The largest answer read.
    pub max_body: usize,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
}

impl PublicConfig {
    /// One call per second, 30 s per request, answers up to [`http::MAX_BODY`], three
    /// attempts a call (1 s, then 2 s apart; a throttle is waited out up to a minute).
    pub fn new(api_url: Url) -> Self {
        Self {
            api_url,
            interval: PUBLIC_INTERVAL,
            request_timeout: Duration::from_secs(30),
            max_body: http::MAX_BODY,
            retry: RetryPolicy {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(4),
                max_attempts: 3,
                max_throttle_wait: Duration::from_secs(60),
            },
        }
    }
}

/// One public trade: `[price, volume, time, side, type, misc, trade_id]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicTrade {
    /// Price in the quote asset.
    pub price: Decimal,
    /// Volume in the base asset.
    pub volume: Decimal,
    /// Time, with Kraken's text.
    pub time: KrakenTime,
    /// `b` or `s`.
    pub side: String,
    /// `m` (market) or `l` (limit).
    pub order_type: String,
    /// Miscellaneous flags.
    pub misc: String,
    /// Kraken's trade id (absent in old answers).
    pub trade_id: Option<i64>,
}

/// An answer of `Trades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradesPage {
    /// The pair name Kraken answered under (`XXBTZEUR` even when asked for `XBTEUR`).
    pub pair: String,
    /// Trades, oldest first, at most 1000.
    pub trades: Vec<PublicTrade>,
    /// `last`: the `since` (nanoseconds) of the next page.
    pub last: String,
}

/// Calls made, per endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicStats {
    /// Requests sent, per endpoint (`Assets`, `AssetPairs`, `Trades`).
    pub calls: BTreeMap<&'static str, u64>,
    /// Time spent waiting for the pacer.
    pub paced: Duration,
}

/// A client for the public endpoints.
#[derive(Debug)]
pub struct PublicClient {
    http: reqwest::Client,
    config: PublicConfig,
    pacer: Pacer,
    stats: PublicStats,
}

#[derive(Deserialize)]
struct WireAsset {
    altname: String,
    decimals: Option<i64>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct WirePair {
    altname: String,
    wsname: Option<String>,
    base: String,
    quote: String,
}

impl PublicClient {
    /// A client paced by the process-wide [`Pacer::global`].
    pub fn new(config: PublicConfig) -> Result<Self, KrakenError> {
        Self::with_pacer(config, Pacer::global())
    }

    /// A client paced by `pacer`.
    pub fn with_pacer(config: PublicConfig, pacer: Pacer) -> Result<Self, KrakenError> {
        let http = http::client(None, config.request_timeout)?;
        Ok(Self {
            http,
            config,
            pacer,
            stats: PublicStats::default(),
        })
    }

    /// What the client did so far.
    pub fn stats(&self) -> &PublicStats {
        &self.stats
    }

    /// `Assets`: every asset, sorted by code.
    pub async fn assets(&mut self) -> Result<Vec<AssetInfo>, KrakenError> {
        let raw = self.get("Assets", &[]).await?;
        let map: BTreeMap<String, WireAsset> = decode("Assets", &raw)?;
        Ok(map
            .into_iter()
            .map(|(code, a)| AssetInfo {
                code,
                altname: a.altname,
                decimals: a.decimals,
                status: a.status,
            })
            .collect())
    }

    /// `AssetPairs`: every pair, sorted by name.
    pub async fn asset_pairs(&mut self) -> Result<Vec<PairInfo>, KrakenError> {
        let raw = self.get("AssetPairs", &[]).await?;
        let map: BTreeMap<String, WirePair> = decode("AssetPairs", &raw)?;
        Ok(map
            .into_iter()
            .map(|(pair, p)| PairInfo {
                pair,
                altname: p.altname,
                wsname: p.wsname,
                base: p.base,
                quote: p.quote,
            })
            .collect())
    }

    /// `Trades` of `pair` after `since_ns` (nanoseconds since the epoch).
    pub async fn trades(&mut self, pair: &str, since_ns: i128) -> Result<TradesPage, KrakenError> {
        let raw = self
            .get(
                "Trades",
                &[("pair", pair.to_owned()), ("since", since_ns.to_string())],
            )
            .await?;
        parse_trades(&raw)
    }

    /// One call, retried as [`PublicConfig::retry`] says.
    async fn get(
        &mut self,
        method: &'static str,
        params: &[(&str, String)],
    ) -> Result<Box<RawValue>, KrakenError> {
        let mut retrier = Retrier::new(self.config.retry.clone(), None);
        retrier
            .run(
                self,
                async |c| c.get_once(method, params).await,
                &mut |_, _| {},
            )
            .await
            .map_err(RetryError::into_last)
    }

    async fn get_once(
        &mut self,
        method: &'static str,
        params: &[(&str, String)],
    ) -> Result<Box<RawValue>, KrakenError> {
        self.stats.paced += self.pacer.wait(self.config.interval).await;
        // The path is absolute and the base URL was checked: joining cannot fail.
        let mut url = self
            .config
            .api_url
            .join(&format!("/0/public/{method}"))
            .unwrap_or_else(|_| self.config.api_url.clone());
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        *self.stats.calls.entry(method).or_default() += 1;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| http::transport_err(method, &e))?;
        let bytes = http::body(method, response, self.config.max_body).await?;
        http::envelope_result(method, &bytes)
    }
}

impl Resync for PublicClient {
    /// Public calls send no nonce: an invalid-nonce answer is final.
    fn resync_nonce(&mut self) -> Result<bool, KrakenError> {
        Ok(false)
    }
}

/// Parses the `result` of `Trades`: `{"<PAIR>": [[...], ...], "last": "<ns>"}`.
pub fn parse_trades(raw: &RawValue) -> Result<TradesPage, KrakenError> {
    let err = |detail| KrakenError::Decode {
        method: "Trades",
        detail,
    };
    let json = |part: &str| {
        let part = part.to_owned();
        move |error| err(DecodeError::Json { part, error })
    };
    let map: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(raw.get()).map_err(json("result"))?;
    let mut last = None;
    let mut page = None;
    for (key, value) in map {
        if key == "last" {
            let t: DecimalText = serde_json::from_str(value.get()).map_err(json("last"))?;
            last = Some(t.text().map_err(|reason| {
                err(DecodeError::Text {
                    part: "last",
                    reason,
                })
            })?);
        } else {
            let rows: Vec<Vec<Box<RawValue>>> =
                serde_json::from_str(value.get()).map_err(json(&key))?;
            let trades = rows
                .iter()
                .enumerate()
                .map(|(n, row)| {
                    public_trade(row).map_err(|reason| {
                        err(DecodeError::PublicTrade {
                            pair: key.clone(),
                            n,
                            reason,
                        })
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            page = Some((key, trades));
        }
    }
    let (pair, trades) = page.ok_or(err(DecodeError::Missing("no pair in the result")))?;
    Ok(TradesPage {
        pair,
        trades,
        last: last.ok_or(err(DecodeError::Missing("no `last`")))?,
    })
}

fn public_trade(row: &[Box<RawValue>]) -> Result<PublicTrade, RowError> {
    if row.len() < 6 {
        return Err(RowError::Arity(row.len()));
    }
    let json = |field| move |error| RowError::Json { field, error };
    let text = |i: usize, field: &'static str| -> Result<String, RowError> {
        let t: DecimalText = serde_json::from_str(row[i].get()).map_err(json(field))?;
        t.text().map_err(|reason| RowError::Text { field, reason })
    };
    let dec = |i: usize, field: &'static str| -> Result<Decimal, RowError> {
        let text = text(i, field)?;
        Decimal::from_str(&text).map_err(|_| RowError::Decimal { field, text })
    };
    let s = |i: usize, field: &'static str| -> Result<String, RowError> {
        serde_json::from_str(row[i].get()).map_err(json(field))
    };
    let time = KrakenTime::parse(&text(2, "time")?).map_err(RowError::Time)?;
    let trade_id = match row.get(6) {
        Some(v) => Some(serde_json::from_str::<i64>(v.get()).map_err(json("trade_id"))?),
        None => None,
    };
    Ok(PublicTrade {
        price: dec(0, "price")?,
        volume: dec(1, "volume")?,
        time,
        side: s(3, "side")?,
        order_type: s(4, "type")?,
        misc: s(5, "misc")?,
        trade_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_keep_decimal_text_and_time_text() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"XXBTZEUR":[["42000.10000","0.01000000",1688464484.1787,"b","l","",123],
                            ["42001.2","1.5",1688464485.0001,"s","m","",124]],
                "last":"1688464485000100000"}"#,
        )
        .unwrap();
        let p = parse_trades(&raw).unwrap();
        assert_eq!(p.pair, "XXBTZEUR");
        assert_eq!(p.last, "1688464485000100000");
        assert_eq!(p.trades.len(), 2);
        assert_eq!(p.trades[0].price.to_string(), "42000.10000");
        assert_eq!(p.trades[0].time.text(), "1688464484.1787");
        assert_eq!(p.trades[0].time.micros(), 1_688_464_484_178_700);
        assert_eq!(p.trades[1].trade_id, Some(124));
    }

    #[test]
    fn a_bad_trade_names_its_position_and_field() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"XXBTZEUR":[["x","1",1.5,"b","l",""]],"last":"1"}"#).unwrap();
        let e = parse_trades(&raw).unwrap_err().to_string();
        assert_eq!(
            e,
            "unexpected answer to Trades: XXBTZEUR[0]: price is not a decimal: \"x\""
        );
    }

    /// A loopback server answering its connections with `answers`, in order.
    async fn serve(answers: Vec<&'static str>) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for answer in answers {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        Url::parse(&format!("http://{addr}")).unwrap()
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_by_the_shared_rules() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 81\r\nConnection: close\r\n\r\n{\"error\":[],\"result\":{\"XXBT\":{\"altname\":\"XBT\",\"decimals\":10,\"status\":\"enabled\"}}}";
        let busy = "HTTP/1.1 200 OK\r\nContent-Length: 34\r\nConnection: close\r\n\r\n{\"error\":[\"EService:Unavailable\"]}";
        let down =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let mut cfg = PublicConfig::new(serve(vec![down, busy, ok]).await);
        cfg.interval = Duration::ZERO;
        cfg.retry.base = Duration::from_millis(1);
        let mut c = PublicClient::with_pacer(cfg, Pacer::new()).unwrap();
        let assets = c.assets().await.unwrap();
        assert_eq!(assets.len(), 1);
        assert_eq!(assets[0].altname, "XBT");
        assert_eq!(c.stats().calls.get("Assets"), Some(&3));
        // A fourth attempt is not made: three is the public policy.
        let mut cfg = PublicConfig::new(serve(vec![down, down, down, ok]).await);
        cfg.interval = Duration::ZERO;
        cfg.retry.base = Duration::from_millis(1);
        let mut c = PublicClient::with_pacer(cfg, Pacer::new()).unwrap();
        assert_eq!(
            c.assets().await.unwrap_err().to_string(),
            "Kraken answered Assets with HTTP 503; try again later"
        );
        assert_eq!(c.stats().calls.get("Assets"), Some(&3));
    }

    #[tokio::test]
    async fn pacer_spaces_calls() {
        let p = Pacer::new();
        let i = Duration::from_millis(30);
        assert_eq!(p.wait(i).await, Duration::ZERO);
        let t = std::time::Instant::now();
        p.wait(i).await;
        assert!(t.elapsed() >= Duration::from_millis(25));
    }
}
