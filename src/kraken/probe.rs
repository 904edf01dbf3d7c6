//! Read-only probes for `kraken-tax doctor`: is the API reachable, and which permissions does
//! the key have. Every probe is a query Kraken documents as read-only or informational; none
//! can place, change or cancel an order, or move funds.

use super::client::KrakenClient;
use super::error::{ApiError, KrakenError};
use std::time::{Duration, Instant};
use url::Url;

/// A permission-revealing read-only call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `Ledgers` over an empty time range: needs Query Ledger Entries.
    Ledgers,
    /// `TradesHistory` over an empty time range: needs Query Closed Orders & Trades.
    Trades,
    /// `Balance`: needs Query Funds.
    Funds,
    /// `ExportStatus` for ledger reports (lists them; creates nothing): needs Export Data.
    Export,
    /// `WithdrawInfo` for a withdrawal key that cannot exist: a fee quote, never a withdrawal.
    /// Needs Query Funds and Withdraw Funds; with both, Kraken answers an `EFunding:` error
    /// about the unknown key instead of `EGeneral:Permission denied`.
    WithdrawInfo,
}

/// What a probe found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The call passed Kraken's permission check.
    Granted,
    /// Kraken answered `EGeneral:Permission denied`.
    Denied,
}

/// A withdrawal key name no account has: Kraken's names are user-chosen labels, and this one
/// is reserved-looking and long enough never to match by accident.
const NO_SUCH_WITHDRAW_KEY: &str = "kraken-tax-doctor-probe-no-such-key";

impl Probe {
    /// The private method called.
    pub fn method(self) -> &'static str {
        match self {
            Probe::Ledgers => "Ledgers",
            Probe::Trades => "TradesHistory",
            Probe::Funds => "Balance",
            Probe::Export => "ExportStatus",
            Probe::WithdrawInfo => "WithdrawInfo",
        }
    }

    fn params(self, now_unix: i64) -> Vec<(&'static str, String)> {
        // A range starting now holds no entry: the answer is one tiny page.
        let empty_range = vec![("start", now_unix.to_string())];
        match self {
            Probe::Ledgers => empty_range,
            Probe::Trades => empty_range,
            Probe::Funds => Vec::new(),
            Probe::Export => vec![("report", "ledgers".to_owned())],
            Probe::WithdrawInfo => vec![
                ("asset", "XBT".to_owned()),
                ("key", NO_SUCH_WITHDRAW_KEY.to_owned()),
                ("amount", "0.0001".to_owned()),
            ],
        }
    }
}

/// Maps a probe's answer to [`Access`]; other failures (authentication, transport) are
/// returned as they are.
fn access_of(probe: Probe, answer: Result<(), KrakenError>) -> Result<Access, KrakenError> {
    match answer {
        Ok(()) => Ok(Access::Granted),
        Err(KrakenError::PermissionDenied { .. }) => Ok(Access::Denied),
        // Past the permission check, the made-up withdrawal key is refused.
        Err(KrakenError::Api {
            error: ApiError::Other(e),
            ..
        }) if probe == Probe::WithdrawInfo && e.starts_with("EFunding:") => Ok(Access::Granted),
        Err(e) => Err(e),
    }
}

impl KrakenClient {
    /// Runs one read-only probe.
    pub async fn probe(&mut self, probe: Probe) -> Result<Access, KrakenError> {
        let now = chrono::Utc::now().timestamp();
        let answer = self
            .private(probe.method(), &probe.params(now))
            .await
            .map(drop);
        access_of(probe, answer)
    }
}

/// Sends an unauthenticated `GET /0/public/Time` to `api_url` and returns how long the answer
/// took. Any HTTP answer counts: it proves the address and TLS work.
pub async fn ping(api_url: &Url, timeout: Duration) -> Result<Duration, KrakenError> {
    let http = super::http::client(Some(timeout), timeout)?;
    // The path is absolute and the base URL was checked: joining cannot fail.
    let url = api_url
        .join("/0/public/Time")
        .unwrap_or_else(|_| api_url.clone());
    let started = Instant::now();
    match http.get(url).send().await {
        Ok(_) => Ok(started.elapsed()),
        Err(e) => Err(super::http::transport_err("Time", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_map_to_access() {
        let denied = || KrakenError::PermissionDenied {
            method: "WithdrawInfo",
            permission: "x",
        };
        let api = |s: &str| KrakenError::Api {
            method: "WithdrawInfo",
            error: ApiError::parse(s),
        };
        assert_eq!(access_of(Probe::Funds, Ok(())).unwrap(), Access::Granted);
        assert_eq!(
            access_of(Probe::Funds, Err(denied())).unwrap(),
            Access::Denied
        );
        assert_eq!(
            access_of(
                Probe::WithdrawInfo,
                Err(api("EFunding:Unknown withdraw key"))
            )
            .unwrap(),
            Access::Granted
        );
        // An EFunding error means something else for any other probe.
        assert!(access_of(Probe::Funds, Err(api("EFunding:Unknown withdraw key"))).is_err());
        assert!(access_of(Probe::WithdrawInfo, Err(api("EAPI:Invalid signature"))).is_err());
    }

    /// Names of private endpoints that place, change or cancel orders, or move funds. The
    /// client must never contain them, so that no future edit can add one silently.
    const FORBIDDEN: &[&str] = &[
        "AddOrder",
        "AddOrderBatch",
        "AmendOrder",
        "EditOrder",
        "CancelOrder",
        "CancelOrderBatch",
        "CancelAll",
        "CancelAllOrdersAfter",
        "Withdraw",
        "WithdrawCancel",
        "WalletTransfer",
        "DepositAddresses",
        "Stake",
        "Unstake",
        "Allocate",
        "Deallocate",
        "AccountTransfer",
        "CreateSubaccount",
        "GetWebSocketsToken",
    ];

    #[test]
    fn the_client_has_no_order_or_funding_endpoint() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kraken");
        let mut scanned = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Test modules may name such endpoints (Kraken's signing test vector is an
            // AddOrder); only the code before them can call anything.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for name in FORBIDDEN {
                for quoted in [
                    format!("\"{name}\""),
                    format!("/{name}\""),
                    format!("/{name}?"),
                ] {
                    assert!(
                        !code.contains(&quoted),
                        "{} names the forbidden endpoint {name}",
                        path.display()
                    );
                }
            }
            // Every private call goes through `private(...)` with a method name literal;
            // the only path built is `/0/private/{method}` there.
            assert_eq!(
                code.matches("\"/0/private/").count(),
                usize::from(path.ends_with("client.rs")),
                "{} builds a private path of its own",
                path.display()
            );
            scanned += 1;
        }
        assert!(scanned >= 5, "scanned {scanned} files of {}", dir.display());
        // The probes' methods are all informational.
        for p in [
            Probe::Ledgers,
            Probe::Trades,
            Probe::Funds,
            Probe::Export,
            Probe::WithdrawInfo,
        ] {
            assert!(!FORBIDDEN.contains(&p.method()), "{}", p.method());
        }
    }
}
