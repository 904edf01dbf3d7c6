//! The HTTP client for Kraken's private history endpoints: signing, nonces, pacing.

use super::error::{ApiError, DecodeError, KeyStateError, KrakenError};
use super::http::{self, decode};
use super::ratelimit::RateLimiter;
use super::sign::api_sign;
use super::wire::{self, LedgersResult, TradesResult};
use crate::domain::{LedgerEntry, RateTier, RawRecord, Trade, call_cost};
use crate::secret::Credentials;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use url::Url;

/// Kraken's production API.
pub const DEFAULT_API_URL: &str = "https://api.kraken.com";

/// Kraken's page size for Ledgers and TradesHistory.
pub const PAGE_SIZE: usize = 50;

/// What the client remembers about a key between runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyState {
    /// The last nonce sent with this key (0 when never used).
    pub last_nonce: u64,
    /// The rate counter's level and when it was measured, if known.
    pub counter: Option<(f64, DateTime<Utc>)>,
}

/// Where the client keeps its nonce and rate counter (the database, in production). Implemented
/// outside this module so that `kraken/` and `store/` stay independent.
pub trait KeyStateStore {
    /// Loads the state of the key this store was opened for.
    fn load(&mut self) -> Result<KeyState, KeyStateError>;
    /// Persists a nonce before it is sent, so that no later run can reuse it.
    fn save_nonce(&mut self, nonce: u64) -> Result<(), KeyStateError>;
    /// Persists the counter's level after a call.
    fn save_counter(&mut self, level: f64, at: DateTime<Utc>) -> Result<(), KeyStateError>;
}

/// A [`KeyStateStore`] in memory, for tests and throwaway runs.
#[derive(Debug, Default)]
pub struct MemoryKeyState(pub KeyState);

impl KeyStateStore for MemoryKeyState {
    fn load(&mut self) -> Result<KeyState, KeyStateError> {
        Ok(self.0.clone())
    }
    fn save_nonce(&mut self, nonce: u64) -> Result<(), KeyStateError> {
        self.0.last_nonce = nonce;
        Ok(())
    }
    fn save_counter(&mut self, level: f64, at: DateTime<Utc>) -> Result<(), KeyStateError> {
        self.0.counter = Some((level, at));
        Ok(())
    }
}

/// The next nonce: milliseconds since the epoch, but always above the last one used.
pub fn next_nonce(last_used: u64, now_ms: u64) -> u64 {
    now_ms.max(last_used.saturating_add(1))
}

/// Why an API URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API URL {url:?}: {reason}")]
pub struct ApiUrlError {
    /// The URL given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// True when `url`'s host is `localhost` or a loopback address (the built-in emulator).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Parses `--api-url`: `https://` anywhere, plain `http://` only for loopback hosts.
pub fn parse_api_url(text: &str) -> Result<Url, ApiUrlError> {
    let err = |reason| ApiUrlError {
        url: text.to_owned(),
        reason,
    };
    let url = Url::parse(text).map_err(|_| err("not a URL"))?;
    if url.host().is_none() {
        return Err(err("no host"));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) {
                return Err(err(
                    "plain http is only allowed for loopback addresses; use https",
                ));
            }
        }
        _ => return Err(err("the scheme must be https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("credentials do not belong in the URL"));
    }
    Ok(url)
}

/// Parameters of a history page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Exclusive lower bound: an id or a Unix time.
    pub start: Option<String>,
    /// Inclusive upper bound: an id or a Unix time.
    pub end: Option<String>,
    /// Offset into the result.
    pub ofs: u64,
}

/// One page of a history stream.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The entries, in the order Kraken sent them (map order; sort by time yourself).
    pub items: Vec<RawRecord<T>>,
    /// Kraken's `count`: entries matching the whole query.
    pub count: Option<u64>,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL (see [`parse_api_url`]).
    pub api_url: Url,
    /// The tier whose counter the client paces itself by.
    pub tier: RateTier,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request.
    pub request_timeout: Duration,
    /// The largest JSON answer read (RetrieveExport's zip has [`http::MAX_EXPORT_BODY`]).
    pub max_body: usize,
}

impl ClientConfig {
    /// Defaults for `api_url` and `tier`: 10 s to connect, 60 s per request, answers up to
    /// [`http::MAX_BODY`].
    pub fn new(api_url: Url, tier: RateTier) -> Self {
        Self {
            api_url,
            tier,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_body: http::MAX_BODY,
        }
    }
}

/// Counts of what the client did, for reports and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientStats {
    /// Requests sent, per method.
    pub calls: BTreeMap<&'static str, u64>,
    /// Total time spent waiting for the rate counter.
    pub paced: Duration,
}

/// A client for one API key. One request at a time (`&mut self`), as Kraken's nonces require.
pub struct KrakenClient {
    http: reqwest::Client,
    config: ClientConfig,
    credentials: Credentials,
    key_state: Box<dyn KeyStateStore + Send>,
    last_nonce: u64,
    limiter: RateLimiter,
    stats: ClientStats,
}

impl std::fmt::Debug for KrakenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KrakenClient")
            .field("api_url", &self.config.api_url.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl KrakenClient {
    /// Builds a client; loads the key's last nonce and counter from `key_state`.
    pub fn new(
        config: ClientConfig,
        credentials: Credentials,
        mut key_state: Box<dyn KeyStateStore + Send>,
    ) -> Result<Self, KrakenError> {
        let http = http::client(Some(config.connect_timeout), config.request_timeout)?;
        let state = key_state.load()?;
        let (level, at) = state.counter.unwrap_or((0.0, Utc::now()));
        Ok(Self {
            http,
            limiter: RateLimiter::new(config.tier, level, at),
            config,
            credentials,
            key_state,
            last_nonce: state.last_nonce,
            stats: ClientStats::default(),
        })
    }

    /// What the client did so far.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Moves the nonce floor ten seconds ahead of the clock, after Kraken said a nonce was too
    /// small (another run or program used a larger one recently). Persisted like any nonce.
    pub fn raise_nonce_floor(&mut self) -> Result<(), KrakenError> {
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let floor = now_ms.saturating_add(10_000).max(self.last_nonce);
        self.key_state.save_nonce(floor)?;
        self.last_nonce = floor;
        Ok(())
    }

    /// One page of a history stream: `Ledgers` or `TradesHistory`.
    pub async fn history<T: History>(&mut self, q: &HistoryQuery) -> Result<Page<T>, KrakenError> {
        let mut params = history_params(q);
        params.extend(T::EXTRA.iter().map(|&(k, v)| (k, v.to_owned())));
        let result = self.private(T::METHOD, &params).await?;
        let (entries, count) = T::entries(decode(T::METHOD, &result)?);
        let items = convert_all::<T>(T::METHOD, &entries)?;
        Ok(Page { items, count })
    }

    /// Specific entries by id (`QueryLedgers` or `QueryTrades`), up to 20.
    pub async fn query<T: History>(
        &mut self,
        ids: &[&str],
    ) -> Result<Vec<RawRecord<T>>, KrakenError> {
        let mut params = vec![(T::QUERY_IDS, ids.join(","))];
        params.extend(T::EXTRA.iter().map(|&(k, v)| (k, v.to_owned())));
        let result = self.private(T::QUERY_METHOD, &params).await?;
        let entries: BTreeMap<String, Box<RawValue>> = decode(T::QUERY_METHOD, &result)?;
        convert_all::<T>(T::QUERY_METHOD, &entries)
    }

    /// `Balance`: asset code → balance.
    pub async fn balance(&mut self) -> Result<BTreeMap<String, Decimal>, KrakenError> {
        let result = self.private("Balance", &[]).await?;
        let map: BTreeMap<String, String> = decode("Balance", &result)?;
        map.into_iter()
            .map(|(asset, v)| match Decimal::from_str(&v) {
                Ok(d) => Ok((asset, d)),
                Err(_) => Err(KrakenError::Decode {
                    method: "Balance",
                    detail: DecodeError::Balance { asset, text: v },
                }),
            })
            .collect()
    }

    /// Sends one signed private call, paced by the rate counter, and returns its raw `result`.
    pub(super) async fn private(
        &mut self,
        method: &'static str,
        params: &[(&str, String)],
    ) -> Result<Box<RawValue>, KrakenError> {
        let bytes = self
            .private_body(method, params, self.config.max_body)
            .await?;
        self.envelope_result(method, &bytes)
    }

    /// [`Self::private`] up to the HTTP body (at most `cap` bytes), unparsed: RetrieveExport
    /// answers with a zip.
    pub(super) async fn private_body(
        &mut self,
        method: &'static str,
        params: &[(&str, String)],
        cap: usize,
    ) -> Result<Vec<u8>, KrakenError> {
        let cost = call_cost(method);
        let wait = self.limiter.delay_before(Utc::now(), cost);
        if !wait.is_zero() {
            tracing::debug!(method, wait_ms = wait.as_millis() as u64, "pacing");
            tokio::time::sleep(wait).await;
            self.stats.paced += wait;
        }

        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let nonce = next_nonce(self.last_nonce, now_ms);
        self.key_state.save_nonce(nonce)?;
        self.last_nonce = nonce;

        let nonce_text = nonce.to_string();
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.append_pair("nonce", &nonce_text);
        for (k, v) in params {
            body.append_pair(k, v);
        }
        let body = body.finish();
        let path = format!("/0/private/{method}");
        let signature = api_sign(
            self.credentials.secret_bytes(),
            &path,
            &nonce_text,
            body.as_bytes(),
        );
        // `path` is absolute and the base URL was checked: joining cannot fail.
        let url = self
            .config
            .api_url
            .join(&path)
            .unwrap_or_else(|_| self.config.api_url.clone());

        *self.stats.calls.entry(method).or_default() += 1;
        tracing::debug!(method, params = ?params, "request");
        let sent = self
            .http
            .post(url)
            .header("API-Key", self.credentials.api_key())
            .header("API-Sign", signature)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        // Count the call when its answer arrives: later than Kraken counted it, so the model
        // errs on the safe side.
        self.limiter.record(Utc::now(), cost);
        let (level, at) = self.limiter.snapshot();
        self.key_state.save_counter(level, at)?;

        let response = sent.map_err(|e| http::transport_err(method, &e))?;
        http::body(method, response, cap).await
    }

    /// The `result` of Kraken's JSON envelope, or its first error, typed; a rate-limit error
    /// fills the client's model of the counter.
    pub(super) fn envelope_result(
        &mut self,
        method: &'static str,
        bytes: &[u8],
    ) -> Result<Box<RawValue>, KrakenError> {
        let result = http::envelope_result(method, bytes);
        if let Err(KrakenError::Api {
            error: ApiError::RateLimitExceeded,
            ..
        }) = &result
        {
            self.limiter.assume_full(Utc::now());
        }
        result
    }
}

fn history_params(q: &HistoryQuery) -> Vec<(&'static str, String)> {
    let mut p = Vec::with_capacity(3);
    if let Some(s) = &q.start {
        p.push(("start", s.clone()));
    }
    if let Some(e) = &q.end {
        p.push(("end", e.clone()));
    }
    if q.ofs > 0 {
        p.push(("ofs", q.ofs.to_string()));
    }
    p
}

impl super::retry::Resync for KrakenClient {
    fn resync_nonce(&mut self) -> Result<bool, KrakenError> {
        self.raise_nonce_floor().map(|()| true)
    }
}

fn convert_all<T: History>(
    method: &'static str,
    entries: &BTreeMap<String, Box<RawValue>>,
) -> Result<Vec<RawRecord<T>>, KrakenError> {
    entries
        .iter()
        .map(|(id, raw)| T::convert(id, raw))
        .collect::<Result<_, _>>()
        .map_err(|e| KrakenError::Decode {
            method,
            detail: DecodeError::Entry(e),
        })
}

/// The entry type of a history stream: the methods that page it and query it by id, and how
/// one entry is read. Implemented for [`LedgerEntry`] and [`Trade`].
pub trait History: Sized {
    /// The paged method: `Ledgers` or `TradesHistory`.
    const METHOD: &'static str;
    /// The by-id method: `QueryLedgers` or `QueryTrades`.
    const QUERY_METHOD: &'static str;
    /// The by-id method's parameter holding the ids.
    const QUERY_IDS: &'static str;
    /// Parameters sent with every call of both methods.
    const EXTRA: &'static [(&'static str, &'static str)];
    /// The paged method's `result`.
    type Wire: serde::de::DeserializeOwned;
    /// The entries (id → raw JSON) and Kraken's `count` of a paged result.
    fn entries(result: Self::Wire) -> (BTreeMap<String, Box<RawValue>>, Option<u64>);
    /// Reads one entry, keeping its raw text.
    fn convert(id: &str, raw: &RawValue) -> Result<RawRecord<Self>, wire::WireError>;
}

impl History for LedgerEntry {
    const METHOD: &'static str = "Ledgers";
    const QUERY_METHOD: &'static str = "QueryLedgers";
    const QUERY_IDS: &'static str = "id";
    const EXTRA: &'static [(&'static str, &'static str)] = &[];
    type Wire = LedgersResult;
    fn entries(r: LedgersResult) -> (BTreeMap<String, Box<RawValue>>, Option<u64>) {
        (r.ledger, r.count)
    }
    fn convert(id: &str, raw: &RawValue) -> Result<RawRecord<Self>, wire::WireError> {
        wire::ledger_entry(id, raw)
    }
}

impl History for Trade {
    const METHOD: &'static str = "TradesHistory";
    const QUERY_METHOD: &'static str = "QueryTrades";
    const QUERY_IDS: &'static str = "txid";
    const EXTRA: &'static [(&'static str, &'static str)] = &[("trades", "true")];
    type Wire = TradesResult;
    fn entries(r: TradesResult) -> (BTreeMap<String, Box<RawValue>>, Option<u64>) {
        (r.trades, r.count)
    }
    fn convert(id: &str, raw: &RawValue) -> Result<RawRecord<Self>, wire::WireError> {
        wire::trade(id, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_monotonic_even_when_the_clock_steps_back() {
        assert_eq!(next_nonce(0, 1_700_000_000_000), 1_700_000_000_000);
        assert_eq!(
            next_nonce(1_700_000_000_000, 1_700_000_000_000),
            1_700_000_000_001
        );
        assert_eq!(
            next_nonce(1_700_000_000_500, 1_699_999_999_000),
            1_700_000_000_501
        );
    }

    #[test]
    fn api_url_allows_plain_http_only_on_loopback() {
        assert!(parse_api_url("https://api.kraken.com").is_ok());
        assert!(parse_api_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_api_url("http://localhost:1").is_ok());
        assert!(parse_api_url("http://[::1]:9").is_ok());
        let e = parse_api_url("http://api.kraken.com").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid API URL \"http://api.kraken.com\": plain http is only allowed for loopback addresses; use https"
        );
        assert!(parse_api_url("ftp://127.0.0.1").is_err());
        assert!(parse_api_url("nonsense").is_err());
    }
}
