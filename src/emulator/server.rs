//! A loopback HTTP server answering Kraken's private history endpoints with Kraken's
//! semantics, serving one [`Dataset`].
//!
//! # Faults
//!
//! Faults (queued with [`EmulatorHandle::push_fault`] or drawn from a [`FaultPlan`]) apply
//! only to calls that passed the key, nonce and signature checks. Then, in order:
//!
//! 1. A fault is drawn from the plan for every such call, so the schedule depends only on the
//!    sequence of calls. If a queued fault is waiting, it takes precedence: the drawn one is
//!    discarded.
//! 2. Edge faults (HTTP 5xx, [`FaultKind::ConnectionReset`]) answer now: as on Kraken, a
//!    non-200 means the request never reached the API, so the nonce is **not** consumed and
//!    the counter is not charged.
//! 3. The nonce is consumed. During a lockout window every call gets
//!    `EGeneral:Temporary lockout` (before the counter: no cost).
//! 4. [`FaultKind::SpuriousRateLimit`] answers `EAPI:Rate limit exceeded` without charging
//!    the counter (and is not counted in [`CallStats::rate_limited`], which counts only
//!    genuine refusals).
//! 5. The counter is charged (a genuine refusal answers now), then permissions are checked.
//!    A drawn fault pre-empted by a lockout, rate-limit or permission error is dropped.
//! 6. A queued fault answers (after charging the counter, as before).
//! 7. Drawn Kraken errors (`EService:Unavailable`, `EService:Busy`, `EService:Throttled:<t>`,
//!    `EGeneral:Temporary lockout`) answer, having charged the counter.
//! 8. Otherwise the call is answered for real, then altered: a replayed previous body, a
//!    drifted `count`, entries revealed afterwards, or a delivery fault (a delayed answer, a
//!    truncated body, a dropped connection) — all of which charged the counter.
//!
//! [`CallStats::by_method`] counts every call the API answered with a result, also when the
//! answer was then delayed, truncated, lost, stale or had a drifted count: the server did
//! the work. [`CallStats::faults`] counts faults that took effect (a drawn fault that was
//! pre-empted, or that had nothing to alter, is not counted).

use super::faults::{Drawn, FaultKind, FaultPlan, FaultSchedule};
use super::generator::Dataset;
use super::rules::{
    AuthRequest, RateCounter, Timed, check_auth, parse_ids, parse_ofs, parse_params, resolve_bound,
    reveal_more, select_page, throttled_until, truncate_body,
};
use super::wire::{json_str, ledger_entry_json, trade_json};
use crate::domain::{RateTier, call_cost};
use crate::emulator::rules::Refusal;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use axum::serve::{IncomingStream, Listener};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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

impl Fault {
    /// The name used in [`CallStats::faults`]: `HttpStatus(502)` or the error string.
    fn name(&self) -> String {
        match self {
            Fault::HttpStatus(code) => format!("HttpStatus({code})"),
            Fault::KrakenError(e) => e.clone(),
        }
    }
}

/// What the emulator has answered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Per method name, private requests answered with a result — including results that an
    /// injected fault then delayed, truncated, lost, replaced by a stale one or altered.
    pub by_method: BTreeMap<String, u64>,
    /// Requests refused with `EAPI:Rate limit exceeded` because the counter was full
    /// (injected [`FaultKind::SpuriousRateLimit`] answers are not counted here).
    pub rate_limited: u64,
    /// Private requests that got no result: any Kraken error (including rate limiting), an
    /// HTTP error status or a reset connection.
    pub rejected: u64,
    /// Injected faults that took effect, by name: a [`FaultKind::name`] for the plan's
    /// (`"Http500"`), `"HttpStatus(502)"` or the error string for queued [`Fault`]s.
    pub faults: BTreeMap<String, u64>,
}

struct Shared {
    data: Dataset,
    ledger_index: HashMap<String, usize>,
    trade_index: HashMap<String, usize>,
    cfg: EmulatorConfig,
    secret: Vec<u8>,
    started: Instant,
    state: Mutex<ServerState>,
    /// Set when the handle is dropped: ends hanging answers.
    closing: tokio::sync::watch::Sender<bool>,
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
    /// Keys added with [`EmulatorHandle::add_key`].
    keys: super::keys::KeyTable,
    stats: CallStats,
    history_calls: u64,
    schedule: Option<FaultSchedule>,
    lockout_until: Option<Instant>,
    /// The last body answered per history method, for [`FaultKind::ReplayPrevious`].
    last_results: HashMap<String, String>,
    /// Bulk export reports (AddExport and co.).
    exports: super::export::Exports,
    /// Added to every history `count` (see [`EmulatorHandle::set_count_offset`]).
    count_offset: i64,
}

enum Answer {
    Result(String),
    Error(String),
    Status(u16),
    /// No HTTP answer at all: the connection is reset.
    Reset,
    /// A binary result (RetrieveExport's zip) instead of JSON.
    Binary(Vec<u8>),
}

/// How an answer reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Normal,
    /// Sent after this delay.
    Delay(Duration),
    /// HTTP 200 with the body cut in the middle.
    Truncate,
    /// Not sent: the connection is dropped.
    Drop,
}

struct Reply {
    answer: Answer,
    delivery: Delivery,
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Self {
        Reply {
            answer,
            delivery: Delivery::Normal,
        }
    }
}

/// A running emulator. Usable from sync and async code on any thread; stops on
/// [`EmulatorHandle::shutdown`] or when dropped.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    public: Arc<super::public::PublicMarket>,
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
        let public = Arc::new(super::public::PublicMarket::default());
        let shared = Arc::new(Shared::new(dataset, cfg, secret));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/0/private/{method}", post(private))
            .with_state(Arc::clone(&shared))
            .merge(super::public::router(Arc::clone(&public)))
            .into_make_service_with_connect_info::<Conn>();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(Killable(listener), app).with_graceful_shutdown(async {
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
            public,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The public market served (its call counts, its trades' prices).
    pub fn public(&self) -> &super::public::PublicMarket {
        &self.public
    }

    /// A snapshot of the call statistics.
    pub fn stats(&self) -> CallStats {
        self.shared.lock().stats.clone()
    }

    /// Ledgers, TradesHistory, QueryLedgers and QueryTrades calls answered with a result.
    pub fn history_calls(&self) -> u64 {
        self.shared.lock().history_calls
    }

    /// Announces every history page's `count` (Ledgers, TradesHistory) off by `offset`, on
    /// every call until changed: a Kraken that counts entries it does not serve (positive) or
    /// serves more than it counts (negative). 0 is the truth.
    pub fn set_count_offset(&self, offset: i64) {
        self.shared.lock().count_offset = offset;
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
    /// (and the rate limit and permission checks). Queued faults take precedence over the
    /// [`FaultPlan`].
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Injects faults on a seeded schedule from now on (`None`: no more scheduled faults).
    /// The random sequence restarts from the plan's seed. A lockout window already started
    /// runs its course, as Kraken's would.
    pub fn set_fault_plan(&self, plan: Option<FaultPlan>) {
        self.shared.lock().schedule = plan.map(FaultSchedule::new);
    }

    /// From now on `method` answers `EGeneral:Permission denied`.
    pub fn deny(&self, method: &str) {
        self.shared.lock().denied.insert(method.to_owned());
    }

    /// Accepts another API key, with its own permissions, 2FA and nonce sequence.
    pub fn add_key(
        &self,
        key: &str,
        secret_b64: &str,
        options: super::keys::KeyOptions,
    ) -> Result<(), super::keys::KeyError> {
        self.shared.lock().keys.insert(key, secret_b64, options)
    }

    /// Time from AddExport until the report is `Processed` (default 2 s).
    pub fn set_export_delay(&self, delay: Duration) {
        self.shared.lock().exports.delay = delay;
    }

    /// Stops the server (dropping the handle does the same).
    pub fn shutdown(self) {}
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // Hanging answers end now, with a dropped connection.
        self.shared.closing.send_replace(true);
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

/// A TCP listener whose connections the handler can kill (see [`Conn`]).
struct Killable(TcpListener);

/// One accepted connection, as seen by the handler: [`Conn::kill`] makes its next write
/// fail, so the connection is reset (`SO_LINGER` 0) instead of answered.
#[derive(Debug, Clone)]
struct Conn {
    kill: Arc<AtomicBool>,
}

impl Conn {
    fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        let killed = self.kill.load(Ordering::SeqCst);
        if killed {
            // Dropping the socket then sends RST rather than FIN.
            let _ = self.inner.set_zero_linger();
        }
        killed
    }
}

fn reset_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection killed by an injected fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Listener for Killable {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, _peer)) => {
                    let _ = inner.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    let conn = Conn {
                        kill: Arc::clone(&kill),
                    };
                    return (KillableStream { inner, kill }, conn);
                }
                // Like axum's own listener: per-connection errors are skipped, others (too
                // many open files) get a pause.
                Err(e) => {
                    tracing::debug!("emulator accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        // Only there to satisfy the trait: the handle knows its address.
        Ok(Conn {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, Killable>> for Conn {
    fn connect_info(stream: IncomingStream<'_, Killable>) -> Self {
        stream.remote_addr().clone()
    }
}

async fn private(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The state lock is held only inside `handle`, never across an await.
    let reply = shared.handle(&method, &headers, &body);
    let killed = || {
        conn.kill();
        Response::new(Body::empty())
    };
    match reply.delivery {
        Delivery::Normal | Delivery::Truncate => {}
        Delivery::Drop => return killed(),
        Delivery::Delay(d) => {
            let mut closing = shared.closing.subscribe();
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                _ = closing.wait_for(|c| *c) => return killed(),
            }
        }
    }
    let (status, content_type, text) = match reply.answer {
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
        Answer::Reset => return killed(),
        Answer::Binary(bytes) => {
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/zip")
                .body(Body::from(bytes))
                .expect("valid response");
        }
    };
    let text = if reply.delivery == Delivery::Truncate {
        // Body::from a String sets a Content-Length equal to what is sent.
        truncate_body(&text).to_owned()
    } else {
        text
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(text))
        .expect("valid response")
}

/// Unix time now, in seconds.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn count_fault(st: &mut ServerState, name: &str) {
    *st.stats.faults.entry(name.to_owned()).or_default() += 1;
}

impl Shared {
    fn new(data: Dataset, cfg: EmulatorConfig, secret: Vec<u8>) -> Self {
        Shared {
            ledger_index: index(&data.ledger),
            trade_index: index(&data.trades),
            data,
            cfg,
            secret,
            started: Instant::now(),
            state: Mutex::new(ServerState::default()),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        // A panic in a handler must not take the whole emulator down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One private call, start to finish under the lock: Kraken serializes a key's calls.
    /// (Only the delivery — a hang — happens later, outside the lock.)
    fn handle(&self, method: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
        let mut st = self.lock();
        st.private_calls += 1;
        let reply = self.answer(&mut st, method, headers, body);
        match &reply.answer {
            Answer::Result(_) | Answer::Binary(_) => {
                *st.stats.by_method.entry(method.to_owned()).or_default() += 1;
                if call_cost(method) >= 2.0 {
                    st.history_calls += 1;
                }
            }
            Answer::Error(_) | Answer::Status(_) | Answer::Reset => st.stats.rejected += 1,
        }
        if let Some((n, until)) = st.reveal
            && st.private_calls >= n
        {
            st.visible_until = until;
            st.reveal = None;
        }
        reply
    }

    fn answer(
        &self,
        st: &mut ServerState,
        method: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
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
        let auth = st.keys.authenticate(&req, get("otp"));
        let auth = auth
            .unwrap_or_else(|| check_auth(&self.cfg.api_key, &self.secret, st.last_nonce, &req));
        let nonce = match auth {
            Ok(n) => n,
            Err(e) => return Answer::Error(e.to_owned()).into(),
        };

        // Every authenticated call draws, so that the schedule depends only on the sequence
        // of calls; a queued fault wins over the drawn one.
        let drawn = st.schedule.as_mut().and_then(FaultSchedule::draw);
        let drawn: Option<Drawn> = drawn.filter(|_| st.faults.is_empty());
        let kind = drawn.as_ref().map(|d| d.kind);

        // Edge faults: the request never reached the API, so the nonce is not consumed and
        // the counter not charged (Kraken: a non-200 means the request did not reach it).
        let edge = match kind {
            Some(FaultKind::Http500) => Some(Answer::Status(500)),
            Some(FaultKind::Http502) => Some(Answer::Status(502)),
            Some(FaultKind::Http503) => Some(Answer::Status(503)),
            Some(FaultKind::ConnectionReset) => Some(Answer::Reset),
            _ => None,
        };
        if let (Some(answer), Some(k)) = (edge, kind) {
            count_fault(st, k.name());
            return answer.into();
        }

        if !st.keys.consume_nonce(req.api_key, nonce) {
            st.last_nonce = Some(nonce);
        }
        let now = Instant::now();
        if st.lockout_until.is_some_and(|until| now < until) {
            return Answer::Error("EGeneral:Temporary lockout".to_owned()).into();
        }
        st.lockout_until = None;
        if kind == Some(FaultKind::SpuriousRateLimit) {
            count_fault(st, FaultKind::SpuriousRateLimit.name());
            return Answer::Error("EAPI:Rate limit exceeded".to_owned()).into();
        }
        let clock = self.started.elapsed().as_secs_f64();
        if !st.rate.admit(clock, call_cost(method), &self.cfg.tier) {
            st.stats.rate_limited += 1;
            return Answer::Error("EAPI:Rate limit exceeded".to_owned()).into();
        }
        if st.denied.contains(method) || st.keys.denies(req.api_key, method) {
            return Answer::Error("EGeneral:Permission denied".to_owned()).into();
        }
        if let Some(f) = st.faults.pop_front() {
            count_fault(st, &f.name());
            return match f {
                Fault::HttpStatus(code) => Answer::Status(code),
                Fault::KrakenError(e) => Answer::Error(e),
            }
            .into();
        }

        // Faults that reached the API: the counter was charged above.
        let Some(drawn) = drawn else {
            return self.real_answer(st, method, &get, 0).into();
        };
        let kraken_error = match drawn.kind {
            FaultKind::Unavailable => Some("EService:Unavailable".to_owned()),
            FaultKind::Busy => Some("EService:Busy".to_owned()),
            FaultKind::Throttled => Some(format!(
                "EService:Throttled:{}",
                throttled_until(unix_now())
            )),
            FaultKind::Lockout => {
                st.lockout_until = Some(now + drawn.lockout);
                Some("EGeneral:Temporary lockout".to_owned())
            }
            _ => None,
        };
        if let Some(e) = kraken_error {
            count_fault(st, drawn.kind.name());
            return Answer::Error(e).into();
        }
        if drawn.kind == FaultKind::ReplayPrevious
            && let Some(prev) = st.last_results.get(method).cloned()
        {
            count_fault(st, drawn.kind.name());
            return Answer::Result(prev).into();
        }
        let drifts = matches!(method, "Ledgers" | "TradesHistory");
        let drift = if drawn.kind == FaultKind::CountDrift && drifts {
            drawn.drift
        } else {
            0
        };
        let answer = self.real_answer(st, method, &get, drift);
        let delivery = match drawn.kind {
            FaultKind::Hang => Delivery::Delay(drawn.hang),
            FaultKind::TruncatedJson => Delivery::Truncate,
            FaultKind::AnswerLost => Delivery::Drop,
            _ => Delivery::Normal,
        };
        let took_effect = match drawn.kind {
            FaultKind::CountDrift => drift != 0 && matches!(answer, Answer::Result(_)),
            FaultKind::NewEntries => {
                let more = st.visible_until.and_then(|v| {
                    reveal_more(&self.data.ledger, &self.data.trades, v, drawn.reveal)
                });
                if more.is_some() {
                    st.visible_until = more;
                }
                more.is_some()
            }
            _ => delivery != Delivery::Normal,
        };
        if took_effect {
            count_fault(st, drawn.kind.name());
        }
        Reply { answer, delivery }
    }

    /// The call's real answer (with `count` off by `drift` for history pages); remembers a
    /// history result for [`FaultKind::ReplayPrevious`].
    fn real_answer<'a>(
        &self,
        st: &mut ServerState,
        method: &str,
        get: &dyn Fn(&str) -> Option<&'a str>,
        drift: i64,
    ) -> Answer {
        let vis = st.visible_until;
        let drift = drift.saturating_add(st.count_offset);
        let data = &self.data;
        let result = match method {
            "Ledgers" => self.history(
                &data.ledger,
                &self.ledger_index,
                vis,
                get,
                ("ledger", drift),
                ledger_entry_json,
            ),
            "TradesHistory" => self.history(
                &data.trades,
                &self.trade_index,
                vis,
                get,
                ("trades", drift),
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
            "AddExport" | "ExportStatus" | "RetrieveExport" | "RemoveExport" => {
                return match st.exports.answer(method, get, data, vis) {
                    Ok(super::export::ExportAnswer::Json(r)) => Answer::Result(r),
                    Ok(super::export::ExportAnswer::Zip(z)) => Answer::Binary(z),
                    Err(e) => Answer::Error(e.0),
                };
            }
            _ => super::keys::informational(method)
                .unwrap_or_else(|| Err(Refusal::new("EGeneral:Unknown method"))),
        };
        match result {
            Ok(r) => {
                if call_cost(method) >= 2.0 {
                    st.last_results.insert(method.to_owned(), r.clone());
                }
                Answer::Result(r)
            }
            Err(e) => Answer::Error(e.0),
        }
    }

    /// One history page under `key` (`ledger`, `trades`), its `count` off by `drift`.
    fn history<'a, T: Timed>(
        &self,
        items: &[T],
        index: &HashMap<String, usize>,
        vis: Option<i64>,
        get: &dyn Fn(&str) -> Option<&'a str>,
        (key, drift): (&str, i64),
        to_json: fn(&T) -> String,
    ) -> Result<String, Refusal> {
        let start = resolve_bound(get("start"), "start", items, index, vis)?;
        let end = resolve_bound(get("end"), "end", items, index, vis)?;
        let ofs = parse_ofs(get("ofs"))?;
        let end = match (end, vis) {
            (Some(e), Some(v)) => Some(e.min(v)),
            (e, v) => e.or(v),
        };
        let (page, count) = select_page(items, start, end, ofs, self.cfg.page_size);
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let count = count.saturating_add(drift).max(0);
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
) -> Result<String, Refusal> {
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
        assert_eq!(stats.faults.get("HttpStatus(502)"), Some(&1));
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
        sh.handle(method, &h, body.as_bytes()).answer
    }

    fn shared(data: Dataset, tier: RateTier) -> Shared {
        let cfg = EmulatorConfig { tier, ..cfg() };
        Shared::new(data, cfg, STANDARD.decode(SECRET).unwrap())
    }

    fn result(a: Answer) -> serde_json::Value {
        match a {
            Answer::Result(r) => serde_json::from_str(&r).unwrap(),
            Answer::Error(e) => panic!("error {e}"),
            Answer::Status(s) => panic!("status {s}"),
            Answer::Reset => panic!("reset"),
            Answer::Binary(b) => panic!("{} binary bytes", b.len()),
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
            sh.handle("Balance", &h, b"nonce=9").answer,
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
        result(sh.handle("Ledgers", &h, body.as_bytes()).answer);
    }

    fn only(kind: FaultKind) -> FaultPlan {
        FaultPlan {
            seed: 1,
            rate: 1.0,
            kinds: vec![kind],
            hang: Duration::from_millis(300),
            lockout: Duration::from_millis(200),
        }
    }

    fn set_plan(sh: &Shared, plan: Option<FaultPlan>) {
        sh.lock().schedule = plan.map(FaultSchedule::new);
    }

    /// A short description of an answer, for comparing runs.
    fn describe(r: Reply) -> String {
        let a = match r.answer {
            Answer::Result(b) => format!("result {b}"),
            Answer::Error(e) if e.starts_with("EService:Throttled:") => "throttled".to_owned(),
            Answer::Error(e) => e,
            Answer::Status(s) => format!("status {s}"),
            Answer::Reset => "reset".to_owned(),
            Answer::Binary(b) => format!("{} binary bytes", b.len()),
        };
        format!("{a} {:?}", r.delivery)
    }

    fn signed_reply(sh: &Shared, method: &str, body: &str) -> Reply {
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

    #[test]
    fn same_seed_and_calls_give_the_same_faults() {
        let data = generate(&GeneratorConfig::new(6, 400));
        let cut = data.ledger[150].micros();
        let run = |seed: u64| {
            let sh = shared(data.clone(), RateTier::PRO.scaled(1e6));
            sh.lock().visible_until = Some(cut);
            set_plan(
                &sh,
                Some(FaultPlan {
                    lockout: Duration::ZERO,
                    ..FaultPlan::new(seed, 0.5)
                }),
            );
            let methods = ["Ledgers", "TradesHistory", "Balance"];
            let answers: Vec<String> = (1..=90)
                .map(|n| {
                    let m = methods[n % 3];
                    describe(signed_reply(
                        &sh,
                        m,
                        &format!("nonce={n}&ofs={}", n % 4 * 50),
                    ))
                })
                .collect();
            let stats = sh.lock().stats.clone();
            (answers, stats)
        };
        let (a, stats) = run(5);
        assert_eq!((a.clone(), stats.clone()), run(5));
        assert_ne!(a, run(6).0);
        let faults: u64 = stats.faults.values().sum();
        assert!((20..=60).contains(&faults), "{stats:?}");
    }

    #[test]
    fn rate_zero_no_faults_rate_one_every_call_queued_faults_first() {
        let sh = shared(
            generate(&GeneratorConfig::new(2, 100)),
            RateTier::PRO.scaled(1e6),
        );
        set_plan(&sh, Some(FaultPlan::new(3, 0.0)));
        for n in 1..=30 {
            result(signed(&sh, "Ledgers", &format!("nonce={n}")));
        }
        assert!(sh.lock().stats.faults.is_empty());

        let kinds = vec![
            FaultKind::Http500,
            FaultKind::Http503,
            FaultKind::Unavailable,
            FaultKind::Busy,
            FaultKind::SpuriousRateLimit,
        ];
        set_plan(
            &sh,
            Some(FaultPlan {
                kinds,
                ..FaultPlan::new(3, 1.0)
            }),
        );
        for n in 31..=70 {
            let a = signed(&sh, "Ledgers", &format!("nonce={n}"));
            assert!(!matches!(a, Answer::Result(_)), "call {n} not faulted");
        }
        let st = sh.lock().stats.clone();
        assert_eq!(st.faults.values().sum::<u64>(), 40, "{st:?}");
        assert_eq!(st.rejected, 40);
        assert_eq!(
            st.rate_limited, 0,
            "spurious rate limits are not genuine ones"
        );

        // A queued fault wins over the plan.
        sh.lock()
            .faults
            .push_back(Fault::KrakenError("EGeneral:Internal error".into()));
        assert!(matches!(
            signed(&sh, "Ledgers", "nonce=71"),
            Answer::Error(e) if e == "EGeneral:Internal error"
        ));
        let st = sh.lock().stats.clone();
        assert_eq!(st.faults.get("EGeneral:Internal error"), Some(&1));
        assert_eq!(st.faults.values().sum::<u64>(), 41);
    }

    #[test]
    fn faults_consume_the_nonce_and_charge_the_counter_as_documented() {
        let sh = shared(
            generate(&GeneratorConfig::new(2, 100)),
            RateTier {
                max: 1e9,
                decay_per_sec: 0.0,
            },
        );
        sh.lock().visible_until = Some(0);
        let level = |sh: &Shared| sh.lock().rate.level();
        let mut nonce = 0;
        // Edge faults: nonce and counter untouched.
        for kind in [
            FaultKind::Http500,
            FaultKind::Http502,
            FaultKind::Http503,
            FaultKind::ConnectionReset,
        ] {
            nonce += 1;
            set_plan(&sh, Some(only(kind)));
            let before = level(&sh);
            let r = signed_reply(&sh, "Ledgers", &format!("nonce={nonce}"));
            assert!(
                matches!(r.answer, Answer::Status(_) | Answer::Reset),
                "{kind}"
            );
            assert_eq!(level(&sh), before, "{kind} charged the counter");
            set_plan(&sh, None);
            result(signed(&sh, "Ledgers", &format!("nonce={nonce}")));
        }
        // Faults that reached the API: nonce consumed, cost added (except the spurious
        // rate limit).
        for kind in [
            FaultKind::Hang,
            FaultKind::TruncatedJson,
            FaultKind::Unavailable,
            FaultKind::Busy,
            FaultKind::Throttled,
            FaultKind::SpuriousRateLimit,
            FaultKind::CountDrift,
            FaultKind::NewEntries,
            FaultKind::AnswerLost,
            FaultKind::ReplayPrevious,
            FaultKind::Lockout,
        ] {
            nonce += 1;
            set_plan(
                &sh,
                Some(FaultPlan {
                    lockout: Duration::ZERO,
                    ..only(kind)
                }),
            );
            let before = level(&sh);
            signed_reply(&sh, "Ledgers", &format!("nonce={nonce}"));
            let cost = if kind == FaultKind::SpuriousRateLimit {
                0.0
            } else {
                2.0
            };
            assert_eq!(level(&sh) - before, cost, "{kind}");
            set_plan(&sh, None);
            assert!(matches!(
                signed(&sh, "Ledgers", &format!("nonce={nonce}")),
                Answer::Error(e) if e == "EAPI:Invalid nonce"
            ));
        }
        let st = sh.lock().stats.clone();
        // Each took effect once (everything hidden at first: NewEntries reveals some).
        for kind in FaultPlan::all_kinds() {
            assert_eq!(st.faults.get(kind.name()), Some(&1), "{kind}");
        }
        assert_eq!(st.rate_limited, 0);
        // Answered with a result: 4 after the edge faults, the hang, the truncated body,
        // the drift, the reveal, the lost answer and the replay.
        assert_eq!(st.by_method.get("Ledgers"), Some(&10));
    }

    async fn send(
        client: &reqwest::Client,
        url: &str,
        method: &str,
        body: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let nonce = form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let path = format!("/0/private/{method}");
        let sign = api_sign(
            &STANDARD.decode(SECRET).unwrap(),
            &path,
            &nonce,
            body.as_bytes(),
        );
        client
            .post(format!("{url}{path}"))
            .header("API-Key", KEY)
            .header("API-Sign", sign)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
    }

    /// One call with reqwest: status and body text.
    async fn rq(
        client: &reqwest::Client,
        url: &str,
        method: &str,
        body: &str,
    ) -> reqwest::Result<(u16, String)> {
        let resp = send(client, url, method, body).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    fn client(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder().timeout(timeout).build().unwrap()
    }

    fn json(body: &str) -> serde_json::Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_and_error_faults_over_http() {
        let emu = EmulatorHandle::start(generate(&GeneratorConfig::new(3, 100)), cfg())
            .await
            .unwrap();
        let c = client(Duration::from_secs(5));
        let url = emu.url();
        for (n, (kind, code)) in [
            (FaultKind::Http500, 500),
            (FaultKind::Http502, 502),
            (FaultKind::Http503, 503),
        ]
        .into_iter()
        .enumerate()
        {
            emu.set_fault_plan(Some(only(kind)));
            let (status, body) = rq(&c, &url, "Ledgers", &format!("nonce={}", n + 1))
                .await
                .unwrap();
            assert_eq!(status, code);
            assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        }
        for (n, (kind, err)) in [
            (FaultKind::Unavailable, "EService:Unavailable"),
            (FaultKind::Busy, "EService:Busy"),
            (FaultKind::SpuriousRateLimit, "EAPI:Rate limit exceeded"),
        ]
        .into_iter()
        .enumerate()
        {
            emu.set_fault_plan(Some(only(kind)));
            let (status, body) = rq(&c, &url, "Ledgers", &format!("nonce={}", n + 10))
                .await
                .unwrap();
            assert_eq!(status, 200);
            assert_eq!(body, format!(r#"{{"error":["{err}"]}}"#));
        }
        emu.set_fault_plan(Some(only(FaultKind::Throttled)));
        let (_, body) = rq(&c, &url, "Balance", "nonce=20").await.unwrap();
        let err = json(&body)["error"][0].as_str().unwrap().to_owned();
        let t: u64 = err
            .strip_prefix("EService:Throttled:")
            .unwrap_or_else(|| panic!("{err}"))
            .parse()
            .unwrap();
        let now = unix_now();
        assert!(t as f64 > now && t as f64 <= now + 2.0, "{t} vs {now}");

        let st = emu.stats();
        assert_eq!(st.rejected, 7);
        assert_eq!(st.rate_limited, 0);
        for name in ["Http500", "Http502", "Http503", "Unavailable", "Busy"] {
            assert_eq!(st.faults.get(name), Some(&1), "{name}");
        }
        assert_eq!(st.faults.get("SpuriousRateLimit"), Some(&1));
        assert_eq!(st.faults.get("Throttled"), Some(&1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_and_lost_answers_are_connection_errors() {
        let emu = EmulatorHandle::start(generate(&GeneratorConfig::new(3, 100)), cfg())
            .await
            .unwrap();
        let c = client(Duration::from_secs(5));
        let url = emu.url();
        // A first call so that the next ones may reuse a pooled connection.
        rq(&c, &url, "Balance", "nonce=1").await.unwrap();

        emu.set_fault_plan(Some(only(FaultKind::ConnectionReset)));
        let e = rq(&c, &url, "Ledgers", "nonce=2").await.unwrap_err();
        assert!(!e.is_timeout() && !e.is_status(), "{e:?}");
        emu.set_fault_plan(None);
        // The request never reached the API: its nonce is still free.
        let (_, body) = rq(&c, &url, "Ledgers", "nonce=2").await.unwrap();
        assert_eq!(json(&body)["error"].as_array().unwrap().len(), 0, "{body}");

        emu.set_fault_plan(Some(only(FaultKind::AnswerLost)));
        let e = rq(&c, &url, "Ledgers", "nonce=3").await.unwrap_err();
        assert!(!e.is_timeout() && !e.is_status(), "{e:?}");
        emu.set_fault_plan(None);
        // The call was processed: its nonce is used up.
        let (_, body) = rq(&c, &url, "Ledgers", "nonce=3").await.unwrap();
        assert_eq!(body, r#"{"error":["EAPI:Invalid nonce"]}"#);
        rq(&c, &url, "Ledgers", "nonce=4").await.unwrap();

        let st = emu.stats();
        assert_eq!(st.by_method.get("Ledgers"), Some(&3), "{st:?}");
        assert_eq!(st.faults.get("ConnectionReset"), Some(&1));
        assert_eq!(st.faults.get("AnswerLost"), Some(&1));
        assert_eq!(st.rejected, 2, "the reset and the reused nonce");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncated_json_is_a_prefix_with_a_matching_length() {
        let emu = EmulatorHandle::start(generate(&GeneratorConfig::new(3, 100)), cfg())
            .await
            .unwrap();
        let c = client(Duration::from_secs(5));
        let url = emu.url();
        emu.set_fault_plan(Some(only(FaultKind::TruncatedJson)));
        let resp = send(&c, &url, "Ledgers", "nonce=1").await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let length = resp.content_length();
        let cut = resp.text().await.unwrap();
        assert_eq!(length, Some(cut.len() as u64));
        assert!(!cut.is_empty());
        assert!(serde_json::from_str::<serde_json::Value>(&cut).is_err());
        emu.set_fault_plan(None);
        let (_, full) = rq(&c, &url, "Ledgers", "nonce=2").await.unwrap();
        json(&full);
        assert!(full.starts_with(&cut) && full.len() > cut.len());
        assert_eq!(emu.stats().faults.get("TruncatedJson"), Some(&1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hang_outlasts_a_short_timeout_without_blocking_others() {
        let emu = EmulatorHandle::start(generate(&GeneratorConfig::new(3, 100)), cfg())
            .await
            .unwrap();
        let url = emu.url();
        emu.set_fault_plan(Some(only(FaultKind::Hang)));
        let e = rq(
            &client(Duration::from_millis(100)),
            &url,
            "Ledgers",
            "nonce=1",
        )
        .await
        .unwrap_err();
        assert!(e.is_timeout(), "{e:?}");

        // A hanging answer does not hold up another call.
        let c = client(Duration::from_secs(5));
        let started = Instant::now();
        emu.set_fault_plan(Some(FaultPlan {
            hang: Duration::from_millis(600),
            ..only(FaultKind::Hang)
        }));
        let slow = {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { rq(&c, &url, "Ledgers", "nonce=2").await })
        };
        while emu.stats().by_method.get("Ledgers") != Some(&2) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        emu.set_fault_plan(None);
        let (_, body) = rq(&c, &url, "Balance", "nonce=3").await.unwrap();
        json(&body);
        assert!(!slow.is_finished(), "the hang is still going");
        let (status, body) = slow.await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(600));
        assert_eq!(status, 200);
        assert_eq!(
            json(&body)["result"]["ledger"].as_object().unwrap().len(),
            50
        );
        assert_eq!(emu.stats().faults.get("Hang"), Some(&2));

        // Nor does it hold up the shutdown: the hanging call ends with an error at once.
        emu.set_fault_plan(Some(FaultPlan {
            hang: Duration::from_secs(30),
            ..only(FaultKind::Hang)
        }));
        let slow = {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { rq(&c, &url, "Ledgers", "nonce=4").await })
        };
        while emu.stats().by_method.get("Ledgers") != Some(&3) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let started = Instant::now();
        emu.shutdown();
        let r = tokio::time::timeout(Duration::from_secs(3), slow)
            .await
            .expect("the hang ends with the shutdown")
            .unwrap();
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lockout_refuses_calls_then_expires() {
        let emu = EmulatorHandle::start(generate(&GeneratorConfig::new(3, 100)), cfg())
            .await
            .unwrap();
        let c = client(Duration::from_secs(5));
        let url = emu.url();
        let lockout = r#"{"error":["EGeneral:Temporary lockout"]}"#;
        emu.set_fault_plan(Some(only(FaultKind::Lockout)));
        let started = Instant::now();
        assert_eq!(rq(&c, &url, "Ledgers", "nonce=1").await.unwrap().1, lockout);
        emu.set_fault_plan(None);
        for n in 2..=3 {
            let body = rq(&c, &url, "Balance", &format!("nonce={n}"))
                .await
                .unwrap()
                .1;
            assert_eq!(body, lockout);
        }
        assert!(started.elapsed() < Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, body) = rq(&c, &url, "Balance", "nonce=4").await.unwrap();
        assert_eq!(json(&body)["error"].as_array().unwrap().len(), 0, "{body}");
        let st = emu.stats();
        assert_eq!(st.faults.get("Lockout"), Some(&1));
        assert_eq!(st.rejected, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drifted_counts_new_entries_and_replayed_pages() {
        let data = generate(&GeneratorConfig::new(3, 300));
        let all = data.ledger.len() as i64;
        let cut = data.ledger[99].micros();
        let emu = EmulatorHandle::start(data, cfg()).await.unwrap();
        let c = client(Duration::from_secs(5));
        let url = emu.url();
        let mut nonce = 0;
        let mut call = async |method: &str, params: &str| {
            nonce += 1;
            let (_, body) = rq(&c, &url, method, &format!("nonce={nonce}{params}"))
                .await
                .unwrap();
            body
        };
        let count = |body: &str| json(body)["result"]["count"].as_i64().unwrap();

        // Count drift: the page is real, the count is off by 1 to 3.
        emu.set_fault_plan(Some(only(FaultKind::CountDrift)));
        for _ in 0..5 {
            let body = call("Ledgers", "").await;
            assert_eq!(
                json(&body)["result"]["ledger"].as_object().unwrap().len(),
                50
            );
            let drift = count(&body) - all;
            assert!(drift != 0 && drift.abs() <= 3, "{drift}");
        }

        // New entries arrive after the answer.
        emu.set_fault_plan(None);
        emu.set_visible_until(Some(cut));
        let (l0, t0) = (
            count(&call("Ledgers", "").await),
            count(&call("TradesHistory", "").await),
        );
        emu.set_fault_plan(Some(only(FaultKind::NewEntries)));
        assert_eq!(
            count(&call("Ledgers", "").await),
            l0,
            "answered before the arrival"
        );
        emu.set_fault_plan(None);
        let (l1, t1) = (
            count(&call("Ledgers", "").await),
            count(&call("TradesHistory", "").await),
        );
        let more = (l1 - l0) + (t1 - t0);
        assert!((1..=60).contains(&more), "{more} new entries");

        // A replayed page is the previous answer, byte for byte.
        let first = call("Ledgers", "&ofs=0").await;
        let second = call("Ledgers", "&ofs=50").await;
        assert_ne!(first, second);
        emu.set_fault_plan(Some(only(FaultKind::ReplayPrevious)));
        assert_eq!(call("Ledgers", "&ofs=100").await, second);
        // Nothing to replay: a normal answer.
        let balance = call("Balance", "").await;
        assert_eq!(json(&balance)["error"].as_array().unwrap().len(), 0);

        let st = emu.stats();
        assert_eq!(st.faults.get("CountDrift"), Some(&5));
        assert_eq!(st.faults.get("NewEntries"), Some(&1));
        assert_eq!(st.faults.get("ReplayPrevious"), Some(&1));
        assert_eq!(st.rejected, 0);
    }
}
