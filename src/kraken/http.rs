//! What every request to Kraken shares, private or public: the HTTP client's settings (no
//! redirects), reading a body under a size cap, naming a transport failure, and reading
//! Kraken's JSON envelope and its `result`.

use super::error::{ApiError, DecodeError, KrakenError, permission_for};
use super::wire::Envelope;
use serde_json::value::RawValue;
use std::time::Duration;

/// The largest answer read: a history page is about 20 KB, the asset pairs about 1 MB, so
/// anything near this is not an answer of Kraken's API and is refused before it fills memory.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The largest RetrieveExport zip read: a whole account's history, compressed.
pub const MAX_EXPORT_BODY: usize = 1024 * 1024 * 1024;

/// An HTTP client for Kraken: our user agent, the given timeouts, and no redirects (Kraken's
/// API does not redirect; following one would send a signed request elsewhere).
pub(super) fn client(
    connect_timeout: Option<Duration>,
    request_timeout: Duration,
) -> Result<reqwest::Client, KrakenError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("kraken-tax/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(request_timeout);
    if let Some(t) = connect_timeout {
        builder = builder.connect_timeout(t);
    }
    builder
        .build()
        .map_err(|source| KrakenError::Setup { source })
}

/// Why a request failed before an answer arrived, without the URL (reqwest's message names
/// it; it holds no secret, but says nothing the user does not know).
pub(super) fn transport_err(method: &'static str, e: &reqwest::Error) -> KrakenError {
    if is_tls_failure(e) {
        return KrakenError::Tls { method };
    }
    let detail = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    KrakenError::Transport { method, detail }
}

/// True when the connection failed in the TLS handshake (rustls reports every TLS failure as
/// an `InvalidData` I/O error): an `https://` URL to a plain-HTTP server, or a certificate that
/// does not verify. Retrying cannot help.
fn is_tls_failure(e: &reqwest::Error) -> bool {
    use std::error::Error as _;
    if !e.is_connect() {
        return false;
    }
    let mut cause = e.source();
    while let Some(c) = cause {
        let mut io = c.downcast_ref::<std::io::Error>();
        while let Some(err) = io {
            if err.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            io = err
                .get_ref()
                .and_then(|i| i.downcast_ref::<std::io::Error>());
        }
        cause = c.source();
    }
    false
}

/// The body of a successful answer, read up to `cap` bytes. A redirect and a non-2xx status
/// are errors; so is a body over the cap, announced or not.
pub(super) async fn body(
    method: &'static str,
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, KrakenError> {
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return Err(KrakenError::Redirect {
            method,
            status: status.as_u16(),
            location,
        });
    }
    if !status.is_success() {
        return Err(KrakenError::HttpStatus {
            method,
            status: status.as_u16(),
        });
    }
    let too_large = || KrakenError::TooLarge { method, cap };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_err(method, &e))?
    {
        if bytes.len() + chunk.len() > cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The `result` of Kraken's JSON envelope, or its first error, typed.
pub(super) fn envelope_result(
    method: &'static str,
    bytes: &[u8],
) -> Result<Box<RawValue>, KrakenError> {
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| KrakenError::Decode {
        method,
        detail: DecodeError::Envelope(e),
    })?;
    if let Some(first) = envelope.error.first() {
        let error = ApiError::parse(first);
        if error == ApiError::PermissionDenied {
            return Err(KrakenError::PermissionDenied {
                method,
                permission: permission_for(method),
            });
        }
        return Err(KrakenError::Api { method, error });
    }
    envelope.result.ok_or(KrakenError::Decode {
        method,
        detail: DecodeError::NoResult,
    })
}

/// A method's `result` as its wire type.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    method: &'static str,
    raw: &RawValue,
) -> Result<T, KrakenError> {
    serde_json::from_str(raw.get()).map_err(|error| KrakenError::Decode {
        method,
        detail: DecodeError::Json {
            part: "result".to_owned(),
            error,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers every connection with `answer`, verbatim.
    async fn serve(answer: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        format!("http://{addr}/")
    }

    async fn get(url: &str, cap: usize) -> Result<Vec<u8>, KrakenError> {
        let c = client(None, Duration::from_secs(5)).unwrap();
        let r = c.get(url).send().await.unwrap();
        body("Trades", r, cap).await
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_announced_or_not() {
        let payload = vec![b'x'; 3000];
        let mut announced = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n".to_vec();
        announced.extend_from_slice(&payload);
        let url = serve(announced).await;
        assert_eq!(get(&url, 3000).await.unwrap(), payload);
        let e = get(&url, 2999).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the answer to Trades is over 2999 bytes; refused, this is not Kraken's API"
        );
        assert!(!e.is_retryable());

        // Chunked, no length announced: counted while reading.
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            chunked.extend_from_slice(b"3e8\r\n");
            chunked.extend_from_slice(&payload[..1000]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let url = serve(chunked).await;
        assert_eq!(get(&url, 3000).await.unwrap().len(), 3000);
        assert!(matches!(
            get(&url, 2500).await,
            Err(KrakenError::TooLarge {
                method: "Trades",
                cap: 2500
            })
        ));
    }
}
