//! Kraken's error strings as a typed error, and the client's own failures.

use std::fmt;

/// One error string from Kraken's `error` array, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `EAPI:Invalid key`.
    InvalidKey,
    /// `EAPI:Invalid signature` (also what a 2FA key answers when `otp` is missing).
    InvalidSignature,
    /// `EAPI:Invalid nonce`.
    InvalidNonce,
    /// `EAPI:Rate limit exceeded`.
    RateLimitExceeded,
    /// `EGeneral:Permission denied`.
    PermissionDenied,
    /// `EGeneral:Invalid arguments[:detail]`.
    InvalidArguments(String),
    /// `EGeneral:Temporary lockout`.
    TemporaryLockout,
    /// `EGeneral:Internal error`.
    InternalError,
    /// `EService:Unavailable`.
    Unavailable,
    /// `EService:Busy`.
    Busy,
    /// `EService:Throttled:<unix time>`: retry after that time (when given).
    Throttled(Option<i64>),
    /// Any other string, kept verbatim.
    Other(String),
}

impl ApiError {
    /// Parses one of Kraken's error strings.
    pub fn parse(text: &str) -> ApiError {
        let text = text.trim();
        match text {
            "EAPI:Invalid key" => ApiError::InvalidKey,
            "EAPI:Invalid signature" => ApiError::InvalidSignature,
            "EAPI:Invalid nonce" => ApiError::InvalidNonce,
            "EAPI:Rate limit exceeded" => ApiError::RateLimitExceeded,
            "EGeneral:Permission denied" => ApiError::PermissionDenied,
            "EGeneral:Temporary lockout" => ApiError::TemporaryLockout,
            "EGeneral:Internal error" => ApiError::InternalError,
            "EService:Unavailable" => ApiError::Unavailable,
            "EService:Busy" => ApiError::Busy,
            _ => {
                if let Some(rest) = text.strip_prefix("EGeneral:Invalid arguments") {
                    ApiError::InvalidArguments(rest.trim_start_matches(':').to_owned())
                } else if let Some(rest) = text.strip_prefix("EService:Throttled") {
                    let when = rest.trim_start_matches(':').trim();
                    let secs = when.split('.').next().and_then(|s| s.parse().ok());
                    ApiError::Throttled(secs)
                } else {
                    ApiError::Other(text.to_owned())
                }
            }
        }
    }

    /// True when the same request may succeed later; retrying the others feeds Kraken's lockout.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimitExceeded
                | ApiError::InternalError
                | ApiError::Unavailable
                | ApiError::Busy
                | ApiError::Throttled(_)
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::InvalidKey => f.write_str("EAPI:Invalid key"),
            ApiError::InvalidSignature => f.write_str("EAPI:Invalid signature"),
            ApiError::InvalidNonce => f.write_str("EAPI:Invalid nonce"),
            ApiError::RateLimitExceeded => f.write_str("EAPI:Rate limit exceeded"),
            ApiError::PermissionDenied => f.write_str("EGeneral:Permission denied"),
            ApiError::InvalidArguments(d) if d.is_empty() => {
                f.write_str("EGeneral:Invalid arguments")
            }
            ApiError::InvalidArguments(d) => write!(f, "EGeneral:Invalid arguments:{d}"),
            ApiError::TemporaryLockout => f.write_str("EGeneral:Temporary lockout"),
            ApiError::InternalError => f.write_str("EGeneral:Internal error"),
            ApiError::Unavailable => f.write_str("EService:Unavailable"),
            ApiError::Busy => f.write_str("EService:Busy"),
            ApiError::Throttled(Some(t)) => write!(f, "EService:Throttled:{t}"),
            ApiError::Throttled(None) => f.write_str("EService:Throttled"),
            ApiError::Other(s) => f.write_str(s),
        }
    }
}

/// The permission to tick in Kraken's API key settings for a private method.
pub fn permission_for(method: &str) -> &'static str {
    match method {
        "Ledgers" | "QueryLedgers" => "Query Ledger Entries",
        "TradesHistory" | "QueryTrades" => "Query Closed Orders & Trades",
        "Balance" | "BalanceEx" => "Query Funds",
        "AddExport" | "ExportStatus" | "RetrieveExport" | "RemoveExport" => "Export Data",
        _ => "the permission this call needs",
    }
}

/// The key's nonce or rate-limit state could not be read or saved (see
/// [`super::KeyStateStore`]); the cause, such as the database's error, is its source.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} the API key's nonce or rate-limit state")]
pub struct KeyStateError {
    /// `read` or `record`.
    pub action: &'static str,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl KeyStateError {
    /// Loading the state failed.
    pub fn read(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            action: "read",
            source: source.into(),
        }
    }

    /// Saving a nonce or the counter failed.
    pub fn record(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            action: "record",
            source: source.into(),
        }
    }
}

/// What was wrong with an answer, typed; its message names the field or entry where known.
/// Part of [`KrakenError::Decode`]'s message (not a separate source, so it is said once).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not Kraken's JSON envelope (truncated, an HTML error page, garbage).
    #[error("body is not Kraken's JSON envelope: {0}")]
    Envelope(serde_json::Error),
    /// The envelope holds neither a result nor an error.
    #[error("no `result` and no error")]
    NoResult,
    /// A part of the result (`result`, `last`, a pair) is not of the documented shape.
    #[error("{part}: {error}")]
    Json {
        /// Which part.
        part: String,
        /// serde's reason.
        error: serde_json::Error,
    },
    /// A ledger entry or trade could not be converted.
    #[error("{0}")]
    Entry(super::wire::WireError),
    /// A field of the `n`-th public trade of a pair could not be read.
    #[error("{pair}[{n}]: {reason}")]
    PublicTrade {
        /// The pair's key in the result.
        pair: String,
        /// The trade's position.
        n: usize,
        /// The field and what is wrong with it.
        reason: RowError,
    },
    /// A part that must be decimal text is not.
    #[error("{part}: {reason}")]
    Text {
        /// Which part.
        part: &'static str,
        /// What it is instead.
        reason: super::wire::NotDecimalText,
    },
    /// A part the method always returns is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// A balance is not decimal text.
    #[error("balance of {asset} is not a decimal: {text:?}")]
    Balance {
        /// The asset code.
        asset: String,
        /// What Kraken sent.
        text: String,
    },
    /// RetrieveExport's body is neither a zip archive nor Kraken's error envelope.
    #[error("the answer is neither a zip archive nor an error")]
    NotZip,
    /// A history page holds an entry outside the range asked for.
    #[error("the page holds {id}, {side} {bound} asked for")]
    OutOfRange {
        /// The entry.
        id: String,
        /// `older than the start` or `newer than the end`.
        side: &'static str,
        /// The bound's id.
        bound: String,
    },
    /// A history page is the previous answer again, for a different query (a stale cache).
    #[error("the answer repeats the previous page")]
    Replayed,
}

/// A failed call to Kraken. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum KrakenError {
    /// Kraken answered with an error string.
    #[error("Kraken refused {method}: {error}")]
    Api {
        /// The private or public method called.
        method: &'static str,
        /// The first error Kraken gave.
        error: ApiError,
    },
    /// The key lacks the permission for this method.
    #[error(
        "the API key lacks the permission for {method}: tick \"{permission}\" in Kraken's API key settings"
    )]
    PermissionDenied {
        /// The method called.
        method: &'static str,
        /// The permission to tick.
        permission: &'static str,
    },
    /// A non-200 HTTP status: the request did not reach the API.
    #[error("Kraken answered {method} with HTTP {status}; try again later")]
    HttpStatus {
        /// The method called.
        method: &'static str,
        /// The status code.
        status: u16,
    },
    /// Connection failure or timeout.
    #[error("could not reach Kraken for {method}: {detail}")]
    Transport {
        /// The method called.
        method: &'static str,
        /// What went wrong: timed out, connection failed, the answer was cut off.
        detail: &'static str,
    },
    /// The TLS handshake failed: the API URL does not speak HTTPS, or its certificate does
    /// not verify. A configuration error: retrying cannot help.
    #[error(
        "TLS with the API address failed for {method}: it serves no HTTPS there, or its certificate is not trusted; check --api-url (plain http:// is for the loopback emulator)"
    )]
    Tls {
        /// The method called.
        method: &'static str,
    },
    /// The API address answered with a redirect, which is never followed (a signed request
    /// must not go elsewhere). A configuration error.
    #[error(
        "the API address redirects {method} (HTTP {status}) to {}: --api-url must be the API itself, such as https://api.kraken.com",
        location.as_deref().unwrap_or("another address")
    )]
    Redirect {
        /// The method called.
        method: &'static str,
        /// The 3xx status.
        status: u16,
        /// Where it pointed, if it said.
        location: Option<String>,
    },
    /// The answer is larger than any answer of Kraken's API: refused before it fills memory.
    #[error("the answer to {method} is over {cap} bytes; refused, this is not Kraken's API")]
    TooLarge {
        /// The method called.
        method: &'static str,
        /// The limit, in bytes.
        cap: usize,
    },
    /// The HTTP client could not be set up (no request was sent).
    #[error("cannot set up the HTTP client")]
    Setup {
        /// reqwest's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The body was not the JSON Kraken documents (truncated, malformed, missing field).
    #[error("unexpected answer to {method}: {detail}")]
    Decode {
        /// The method called.
        method: &'static str,
        /// What could not be read, naming the field where known.
        detail: DecodeError,
    },
    /// The nonce or rate-limit state could not be read or persisted, so no request was sent.
    #[error(transparent)]
    KeyState(#[from] KeyStateError),
}

impl KrakenError {
    /// True when the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            KrakenError::Api { error, .. } => error.is_retryable(),
            KrakenError::HttpStatus { .. }
            | KrakenError::Transport { .. }
            | KrakenError::Decode { .. } => true,
            KrakenError::PermissionDenied { .. }
            | KrakenError::KeyState(_)
            | KrakenError::TooLarge { .. }
            | KrakenError::Tls { .. }
            | KrakenError::Redirect { .. }
            | KrakenError::Setup { .. } => false,
        }
    }

    /// True when the run should end with "temporary failure, retry later" (exit 75)
    /// rather than a configuration error: retryable errors and Kraken's temporary lockout.
    pub fn is_temporary(&self) -> bool {
        self.is_retryable()
            || matches!(
                self,
                KrakenError::Api {
                    error: ApiError::TemporaryLockout,
                    ..
                }
            )
    }

    /// True when the key, its settings or the API address are at fault (exit 2): invalid
    /// key or signature, missing permission, a URL that fails TLS or redirects.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            KrakenError::PermissionDenied { .. }
                | KrakenError::Tls { .. }
                | KrakenError::Redirect { .. }
                | KrakenError::Api {
                    error: ApiError::InvalidKey | ApiError::InvalidSignature,
                    ..
                }
        )
    }
}

/// A field of a public trade row that could not be read; the message names the field and
/// its cause, once (the cause is part of the message, not a separate source).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// Too few fields.
    #[error("expected 6 or 7 fields, got {0}")]
    Arity(usize),
    /// Not the JSON type expected.
    #[error("{field}: {error}")]
    Json {
        /// The field.
        field: &'static str,
        /// serde's reason.
        error: serde_json::Error,
    },
    /// Neither a string nor a number where decimal text belongs.
    #[error("{field}: {reason}")]
    Text {
        /// The field.
        field: &'static str,
        /// What it is instead.
        reason: super::wire::NotDecimalText,
    },
    /// Decimal text that is not a decimal.
    #[error("{field} is not a decimal: {text:?}")]
    Decimal {
        /// The field.
        field: &'static str,
        /// The text.
        text: String,
    },
    /// A time Kraken's format does not allow.
    #[error("time: {0}")]
    Time(crate::domain::TimeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_krakens_error_strings() {
        assert_eq!(
            ApiError::parse("EAPI:Invalid nonce"),
            ApiError::InvalidNonce
        );
        assert_eq!(
            ApiError::parse("EGeneral:Invalid arguments:ofs"),
            ApiError::InvalidArguments("ofs".into())
        );
        assert_eq!(
            ApiError::parse("EService:Throttled:1700000000"),
            ApiError::Throttled(Some(1_700_000_000))
        );
        assert_eq!(
            ApiError::parse("EOrder:Insufficient funds"),
            ApiError::Other("EOrder:Insufficient funds".into())
        );
        for s in [
            "EAPI:Invalid key",
            "EAPI:Rate limit exceeded",
            "EGeneral:Permission denied",
            "EService:Throttled:1700000000",
            "EGeneral:Invalid arguments:ofs",
        ] {
            assert_eq!(ApiError::parse(s).to_string(), s);
        }
    }

    #[test]
    fn retryable_versus_fatal() {
        for s in [
            "EAPI:Rate limit exceeded",
            "EService:Unavailable",
            "EService:Busy",
            "EGeneral:Internal error",
            "EService:Throttled:1",
        ] {
            assert!(ApiError::parse(s).is_retryable(), "{s}");
        }
        for s in [
            "EAPI:Invalid key",
            "EAPI:Invalid signature",
            "EAPI:Invalid nonce",
            "EGeneral:Permission denied",
            "EGeneral:Invalid arguments",
            "EGeneral:Temporary lockout",
        ] {
            assert!(!ApiError::parse(s).is_retryable(), "{s}");
        }
    }

    #[test]
    fn permission_denied_names_the_permission() {
        let e = KrakenError::PermissionDenied {
            method: "TradesHistory",
            permission: permission_for("TradesHistory"),
        };
        assert_eq!(
            e.to_string(),
            "the API key lacks the permission for TradesHistory: tick \"Query Closed Orders & Trades\" in Kraken's API key settings"
        );
        assert!(e.is_configuration());
    }

    #[test]
    fn a_decode_error_names_the_method_and_its_cause_once() {
        let e = crate::kraken::http::envelope_result("Ledgers", b"<html>502</html>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected answer to Ledgers: body is not Kraken's JSON envelope: expected value at line 1 column 1"
        );
        assert!(std::error::Error::source(&e).is_none());
        let e = KrakenError::Decode {
            method: "TradesHistory",
            detail: DecodeError::OutOfRange {
                id: "T2".into(),
                side: "newer than the end",
                bound: "T1".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "unexpected answer to TradesHistory: the page holds T2, newer than the end T1 asked for"
        );
        assert!(e.is_retryable());
    }
}
