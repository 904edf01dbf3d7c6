//! The only code that speaks HTTP to Kraken: signing, nonce, client, rate limiting, wire types.
//!
//! One request path: both clients ([`KrakenClient`], [`public::PublicClient`]) send through
//! [`http`] (no redirects, a body cap, the envelope and `decode` written once), history pages
//! are one generic call ([`KrakenClient::history`] over [`History`]), and every caller that
//! retries (sync, backfill, doctor, public prices) does so through [`Retrier::run`].
//!
//! The client only knows read-only endpoints; nothing here can place, change or cancel an
//! order, or move funds.

pub mod client;
pub mod error;
pub mod export;
pub mod http;
pub mod probe;
pub mod public;
pub mod ratelimit;
pub mod retry;
pub mod sign;
pub mod wire;

pub use client::{
    ClientConfig, DEFAULT_API_URL, History, HistoryQuery, KeyState, KeyStateStore, KrakenClient,
    MemoryKeyState, PAGE_SIZE, Page, is_loopback, parse_api_url,
};
pub use error::{ApiError, DecodeError, KeyStateError, KrakenError, permission_for};
pub use export::{ExportJob, ExportReport, ExportState, RemoveKind};
pub use retry::{Decision, Resync, Retrier, RetryError, RetryPolicy};
