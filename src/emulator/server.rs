//! A loopback HTTP server answering Kraken's private history endpoints with Kraken's
//! semantics, serving one [`Dataset`].

use super::generator::Dataset;
use super::rules::{
    AuthRequest, RateCounter, Timed, check_auth, parse_ids, parse_ofs, parse_params, resolve_bound,
    select_page,
};
use super::wire::{json_str, ledger_entry_json, trade_json};
use crate::domain::{RateTier, call_cost};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Rate-limit tier, already time-scaled by the caller.
    pub tier: RateTier,
    /// The only accepted `API-Key`.
    pub api_key: String,
    /// The key's secret, base64 as Kraken shows it.
    pub api_secret_b64: String,
    /// Entries per page (Kraken: 50).
    pub page_size: usize,
}

/// An injected answer for one private call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, as Kraken's edge does.
    HttpStatus(u16),
    /// Answer HTTP 200 with this Kraken error string, e.g. `EService:Unavailable`.
    KrakenError(String),
}

/// What the emulator has answered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Per method name, private requests answered with a result.
    pub by_method: BTreeMap<String, u64>,
    /// Requests refused with `EAPI:Rate limit exceeded`.
    pub rate_limited: u64,
    /// Private requests that got no result: any Kraken error (including rate limiting) or an
    /// injected fault.
    pub rejected: u64,
}

struct Shared {
    data: Dataset,
    ledger_index: HashMap<String, usize>,
    trade_index: HashMap<String, usize>,
    cfg: EmulatorConfig,
    secret: Vec<u8>,
    started: Instant,
    state: Mutex<ServerState>,
}

#[derive(Default)]
struct ServerState {
    last_nonce: Option<u64>,
    rate: RateCounter,
    visible_until: Option<i64>,
    reveal: Option<(u64, Option<i64>)>,
    private_calls: u64,
    faults: VecDeque<Fault>,
    denied: BTreeSet<String>,
    stats: CallStats,
    history_calls: u64,
}

enum Answer {
    Result(String),
    Error(String),
    Status(u16),
}

/// A running emulator. Usable from sync and async code on any thread; stops on
/// [`EmulatorHandle::shutdown`] or when dropped.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// Serves `dataset` on 127.0.0.1 on a free port (on the current Tokio runtime).
    pub async fn start(dataset: Dataset, cfg: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dataset, cfg).await
    }

    /// Serves `dataset` on `addr`, which must be a loopback address: the emulator accepts a
    /// throwaway key and must never be reachable from another machine.
    pub async fn start_on(
        addr: SocketAddr,
        mut dataset: Dataset,
        cfg: EmulatorConfig,
    ) -> std::io::Result<EmulatorHandle> {
        use std::io::{Error, ErrorKind};
        if !addr.ip().is_loopback() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("the emulator listens on loopback only, not {addr}"),
            ));
        }
        let secret = STANDARD.decode(cfg.api_secret_b64.trim()).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("API secret is not base64: {e}"),
            )
        })?;
        // Callers may append entries by hand: paging needs (time, id) order.
        dataset
            .ledger
            .sort_by(|a, b| (a.micros(), a.id_str()).cmp(&(b.micros(), b.id_str())));
        dataset
            .trades
            .sort_by(|a, b| (a.micros(), a.id_str()).cmp(&(b.micros(), b.id_str())));
        let ledger_index = index(&dataset.ledger);
        let trade_index = index(&dataset.trades);
        let shared = Arc::new(Shared {
            data: dataset,
            ledger_index,
            trade_index,
            cfg,
            secret,
            started: Instant::now(),
            state: Mutex::new(ServerState::default()),
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/0/private/{method}", post(private))
            .with_state(Arc::clone(&shared));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("emulator server stopped: {e}");
            }
        });
        Ok(EmulatorHandle {
            shared,
            addr,
            stop: Some(tx),
            task,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the call statistics.
    pub fn stats(&self) -> CallStats {
        self.shared.lock().stats.clone()
    }

    /// Ledgers, TradesHistory, QueryLedgers and QueryTrades calls answered with a result.
    pub fn history_calls(&self) -> u64 {
        self.shared.lock().history_calls
    }

    /// Hides entries (ledger and trades) with a time after `micros`; `None` shows all.
    pub fn set_visible_until(&self, micros: Option<i64>) {
        self.shared.lock().visible_until = micros;
    }

    /// Once `calls` private calls have been answered (counting all since the start), the
    /// visibility becomes `until`: entries "arrive" in the middle of a sync.
    pub fn reveal_after_calls(&self, calls: u64, until: Option<i64>) {
        let mut st = self.shared.lock();
        if st.private_calls >= calls {
            st.visible_until = until;
            st.reveal = None;
        } else {
            st.reveal = Some((calls, until));
        }
    }

    /// Queues `fault` as the answer to the next private call that passes authentication
    /// (and the rate limit and permission checks).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// From now on `method` answers `EGeneral:Permission denied`.
    pub fn deny(&self, method: &str) {
        self.shared.lock().denied.insert(method.to_owned());
    }

    /// Stops the server (dropping the handle does the same).
    pub fn shutdown(self) {}
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // Open keep-alive connections would delay a graceful stop; nobody needs one here.
        self.task.abort();
    }
}

fn index<T: Timed>(items: &[T]) -> HashMap<String, usize> {
    items
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id_str().to_owned(), i))
        .collect()
}

async fn private(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = shared.handle(&method, &headers, &body);
    let (status, content_type, text) = match answer {
        Answer::Result(r) => (
            StatusCode::OK,
            "application/json",
            format!("{{\"error\":[],\"result\":{r}}}"),
        ),
        Answer::Error(e) => (
            StatusCode::OK,
            "application/json",
            format!("{{\"error\":[{}]}}", json_str(&e)),
        ),
        Answer::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "text/html",
            format!("<html><body>error code: {code}</body></html>"),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(text))
        .expect("valid response")
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        // A panic in a handler must not take the whole emulator down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One private call, start to finish under the lock: Kraken serializes a key's calls.
    fn handle(&self, method: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
        let mut st = self.lock();
        st.private_calls += 1;
        let answer = self.answer(&mut st, method, headers, body);
        match &answer {
            Answer::Result(_) => {
                *st.stats.by_method.entry(method.to_owned()).or_default() += 1;
                if call_cost(method) >= 2.0 {
                    st.history_calls += 1;
                }
            }
            Answer::Error(_) | Answer::Status(_) => st.stats.rejected += 1,
        }
        if let Some((n, until)) = st.reveal
            && st.private_calls >= n
        {
            st.visible_until = until;
            st.reveal = None;
        }
        answer
    }

    fn answer(
        &self,
        st: &mut ServerState,
        method: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Answer {
        let hdr = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let json = hdr("content-type").is_some_and(|c| c.starts_with("application/json"));
        let params = parse_params(body, json);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let path = format!("/0/private/{method}");
        let req = AuthRequest {
            api_key: hdr("api-key"),
            api_sign: hdr("api-sign"),
            path: &path,
            nonce: get("nonce"),
            body,
        };
        match check_auth(&self.cfg.api_key, &self.secret, st.last_nonce, &req) {
            Ok(n) => st.last_nonce = Some(n),
            Err(e) => return Answer::Error(e.to_owned()),
        }
        let now = self.started.elapsed().as_secs_f64();
        if !st.rate.admit(now, call_cost(method), &self.cfg.tier) {
            st.stats.rate_limited += 1;
            return Answer::Error("EAPI:Rate limit exceeded".to_owned());
        }
        if st.denied.contains(method) {
            return Answer::Error("EGeneral:Permission denied".to_owned());
        }
        if let Some(f) = st.faults.pop_front() {
            return match f {
                Fault::HttpStatus(code) => Answer::Status(code),
                Fault::KrakenError(e) => Answer::Error(e),
            };
        }
        let vis = st.visible_until;
        let data = &self.data;
        let result = match method {
            "Ledgers" => self.history(
                &data.ledger,
                &self.ledger_index,
                vis,
                &get,
                "ledger",
                ledger_entry_json,
            ),
            "TradesHistory" => self.history(
                &data.trades,
                &self.trade_index,
                vis,
                &get,
                "trades",
                trade_json,
            ),
            "QueryLedgers" => query(
                &data.ledger,
                &self.ledger_index,
                vis,
                get("id"),
                "id",
                ledger_entry_json,
            ),
            "QueryTrades" => query(
                &data.trades,
                &self.trade_index,
                vis,
                get("txid"),
                "txid",
                trade_json,
            ),
            "Balance" => Ok(balance(data, vis)),
            _ => Err("EGeneral:Unknown method".to_owned()),
        };
        match result {
            Ok(r) => Answer::Result(r),
            Err(e) => Answer::Error(e),
        }
    }

    fn history<'a, T: Timed>(
        &self,
        items: &[T],
        index: &HashMap<String, usize>,
        vis: Option<i64>,
        get: &dyn Fn(&str) -> Option<&'a str>,
        key: &str,
        to_json: fn(&T) -> String,
    ) -> Result<String, String> {
        let start = resolve_bound(get("start"), "start", items, index, vis)?;
        let end = resolve_bound(get("end"), "end", items, index, vis)?;
        let ofs = parse_ofs(get("ofs"))?;
        let end = match (end, vis) {
            (Some(e), Some(v)) => Some(e.min(v)),
            (e, v) => e.or(v),
        };
        let (page, count) = select_page(items, start, end, ofs, self.cfg.page_size);
        let mut out = format!("{{\"{key}\":{{");
        for (i, e) in page.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_str(e.id_str()));
            out.push(':');
            out.push_str(&to_json(e));
        }
        out.push_str(&format!("}},\"count\":{count}}}"));
        Ok(out)
    }
}

fn query<T: Timed>(
    items: &[T],
    index: &HashMap<String, usize>,
    vis: Option<i64>,
    ids: Option<&str>,
    name: &str,
    to_json: fn(&T) -> String,
) -> Result<String, String> {
    let ids = parse_ids(ids, name)?;
    let mut out = String::from("{");
    for id in ids {
        let Some(&i) = index.get(id) else { continue };
        let e = &items[i];
        if vis.is_some_and(|v| e.micros() > v) {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&json_str(id));
        out.push(':');
        out.push_str(&to_json(e));
    }
    out.push('}');
    Ok(out)
}

/// The newest visible balance of each asset.
fn balance(data: &Dataset, vis: Option<i64>) -> String {
    let hi = vis.map_or(data.ledger.len(), |v| {
        data.ledger.partition_point(|e| e.micros() <= v)
    });
    let mut last: BTreeMap<&str, String> = BTreeMap::new();
    for e in &data.ledger[..hi] {
        if let Some(b) = e.balance {
            last.insert(e.asset.as_str(), b.to_string());
        }
    }
    let fields: Vec<String> = last
        .iter()
        .map(|(a, b)| format!("{}:{}", json_str(a), json_str(b)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::{GeneratorConfig, generate};
    use crate::kraken::sign::api_sign;
    use std::io::{Read, Write};

    const KEY: &str = "TESTKEY";
    const SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

    fn cfg() -> EmulatorConfig {
        EmulatorConfig {
            tier: RateTier::PRO.scaled(1000.0),
            api_key: KEY.to_owned(),
            api_secret_b64: SECRET.to_owned(),
            page_size: 50,
        }
    }

    /// Sends one signed form request with a hand-written HTTP/1.1 exchange; returns the
    /// status code and body.
    async fn call(url: &str, method: &str, body: String) -> (u16, String) {
        let addr = url.trim_start_matches("http://").to_owned();
        let method = method.to_owned();
        tokio::task::spawn_blocking(move || {
            let nonce = form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "nonce")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let path = format!("/0/private/{method}");
            let secret = STANDARD.decode(SECRET).unwrap();
            let sign = api_sign(&secret, &path, &nonce, body.as_bytes());
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAPI-Key: {KEY}\r\nAPI-Sign: {sign}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut resp = String::new();
            s.read_to_string(&mut resp).unwrap();
            let (head, body) = resp.split_once("\r\n\r\n").unwrap();
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            (status, body.to_owned())
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_a_signed_ledgers_call_over_http() {
        let data = generate(&GeneratorConfig::new(3, 300));
        let n = data.ledger.len();
        let newest = data.ledger.last().unwrap().id.as_str().to_owned();
        let emu = EmulatorHandle::start(data, cfg()).await.unwrap();
        assert!(emu.url().starts_with("http://127.0.0.1:"));

        let (status, body) = call(&emu.url(), "Ledgers", "nonce=1&ofs=0".into()).await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"].as_array().unwrap().len(), 0, "{body}");
        assert_eq!(v["result"]["ledger"].as_object().unwrap().len(), 50);
        assert_eq!(v["result"]["count"].as_u64().unwrap() as usize, n);
        assert!(v["result"]["ledger"].get(&newest).is_some(), "newest first");

        // The same nonce again is refused and counted.
        let (_, body) = call(&emu.url(), "Ledgers", "nonce=1".into()).await;
        assert_eq!(body, r#"{"error":["EAPI:Invalid nonce"]}"#);

        emu.push_fault(Fault::HttpStatus(502));
        let (status, _) = call(&emu.url(), "Balance", "nonce=2".into()).await;
        assert_eq!(status, 502);
        emu.deny("TradesHistory");
        let (_, body) = call(&emu.url(), "TradesHistory", "nonce=3".into()).await;
        assert_eq!(body, r#"{"error":["EGeneral:Permission denied"]}"#);
        let (_, body) = call(&emu.url(), "Nope", "nonce=4".into()).await;
        assert_eq!(body, r#"{"error":["EGeneral:Unknown method"]}"#);

        let q = format!("nonce=5&id={newest}");
        let (_, body) = call(&emu.url(), "QueryLedgers", q).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"].as_object().unwrap().len(), 1, "{body}");

        let stats = emu.stats();
        assert_eq!(stats.by_method.get("Ledgers"), Some(&1));
        assert_eq!(stats.by_method.get("QueryLedgers"), Some(&1));
        assert_eq!(stats.rejected, 4);
        assert_eq!(emu.history_calls(), 2);
        emu.shutdown();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_non_loopback_and_bad_secret() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(
            EmulatorHandle::start_on(addr, Dataset::default(), cfg())
                .await
                .is_err()
        );
        let mut c = cfg();
        c.api_secret_b64 = "not base64!".into();
        assert!(EmulatorHandle::start(Dataset::default(), c).await.is_err());
    }

    fn signed(sh: &Shared, method: &str, body: &str) -> Answer {
        let path = format!("/0/private/{method}");
        let nonce = form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert("API-Key", KEY.parse().unwrap());
        let sign = api_sign(&sh.secret, &path, &nonce, body.as_bytes());
        h.insert("API-Sign", sign.parse().unwrap());
        sh.handle(method, &h, body.as_bytes())
    }

    fn shared(data: Dataset, tier: RateTier) -> Shared {
        Shared {
            ledger_index: index(&data.ledger),
            trade_index: index(&data.trades),
            data,
            cfg: EmulatorConfig { tier, ..cfg() },
            secret: STANDARD.decode(SECRET).unwrap(),
            started: Instant::now(),
            state: Mutex::new(ServerState::default()),
        }
    }

    fn result(a: Answer) -> serde_json::Value {
        match a {
            Answer::Result(r) => serde_json::from_str(&r).unwrap(),
            Answer::Error(e) => panic!("error {e}"),
            Answer::Status(s) => panic!("status {s}"),
        }
    }

    #[test]
    fn visibility_reveal_and_rate_limit() {
        let data = generate(&GeneratorConfig::new(4, 200));
        let cut = data.ledger[99].time.micros();
        let visible = data.ledger.iter().filter(|e| e.micros() <= cut).count();
        let all = data.ledger.len();
        let balances = data.final_balances();
        let sh = shared(data, RateTier::PRO.scaled(1e6));
        sh.lock().visible_until = Some(cut);
        sh.lock().reveal = Some((2, None));
        let v = result(signed(&sh, "Ledgers", "nonce=1"));
        assert_eq!(v["count"].as_u64().unwrap() as usize, visible);
        let v = result(signed(&sh, "Ledgers", "nonce=2&end=9999999999"));
        assert_eq!(v["count"].as_u64().unwrap() as usize, visible);
        let v = result(signed(&sh, "Ledgers", "nonce=3&ofs=10"));
        assert_eq!(
            v["count"].as_u64().unwrap() as usize,
            all,
            "revealed after call 2"
        );
        let v = result(signed(&sh, "Balance", "nonce=4"));
        for (asset, b) in balances {
            assert_eq!(v[&asset].as_str().unwrap(), b.to_string());
        }

        // Starter without decay: 7 history calls fit, the 8th is refused.
        let sh = shared(
            Dataset::default(),
            RateTier {
                max: 15.0,
                decay_per_sec: 0.0,
            },
        );
        for n in 1..=7 {
            result(signed(&sh, "TradesHistory", &format!("nonce={n}")));
        }
        assert!(matches!(
            signed(&sh, "TradesHistory", "nonce=8"),
            Answer::Error(e) if e == "EAPI:Rate limit exceeded"
        ));
        // A bad signature does not consume the nonce.
        let mut h = HeaderMap::new();
        h.insert("API-Key", KEY.parse().unwrap());
        h.insert("API-Sign", "bad".parse().unwrap());
        assert!(matches!(
            sh.handle("Balance", &h, b"nonce=9"),
            Answer::Error(e) if e == "EAPI:Invalid signature"
        ));
        result(signed(&sh, "Balance", "nonce=9"));
        let st = sh.lock().stats.clone();
        assert_eq!((st.rate_limited, st.rejected), (1, 2));
        assert_eq!(st.by_method.get("TradesHistory"), Some(&7));
    }

    #[test]
    fn bad_arguments_are_krakens_errors() {
        let sh = shared(
            generate(&GeneratorConfig::new(5, 60)),
            RateTier::PRO.scaled(1e6),
        );
        let err = |a: Answer| match a {
            Answer::Error(e) => e,
            _ => panic!("expected an error"),
        };
        assert_eq!(
            err(signed(&sh, "Ledgers", "nonce=1&start=LNOPE-NOPE-NOPE")),
            "EGeneral:Invalid arguments:start"
        );
        assert_eq!(
            err(signed(&sh, "TradesHistory", "nonce=2&end=TNOPE")),
            "EGeneral:Invalid arguments:end"
        );
        assert_eq!(
            err(signed(&sh, "Ledgers", "nonce=3&ofs=-1")),
            "EGeneral:Invalid arguments:ofs"
        );
        assert_eq!(
            err(signed(&sh, "QueryTrades", "nonce=4")),
            "EGeneral:Invalid arguments:txid"
        );
        // JSON bodies are accepted too.
        let body = r#"{"nonce":"5","ofs":0}"#;
        let mut h = HeaderMap::new();
        h.insert("API-Key", KEY.parse().unwrap());
        h.insert("Content-Type", "application/json".parse().unwrap());
        let sign = api_sign(&sh.secret, "/0/private/Ledgers", "5", body.as_bytes());
        h.insert("API-Sign", sign.parse().unwrap());
        result(sh.handle("Ledgers", &h, body.as_bytes()));
    }
}
