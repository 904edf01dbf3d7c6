//! Extra API keys for the emulator, each with its own permission set and optional 2FA, so
//! that tests can see what Kraken answers a restricted key. The key given in
//! [`super::EmulatorConfig`] keeps every permission and no 2FA.

use super::rules::{AuthRequest, check_auth};
use crate::emulator::rules::Refusal;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{BTreeSet, HashMap};

/// A permission in Kraken's API key settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Query Funds: Balance, BalanceEx, TradeBalance.
    QueryFunds,
    /// Deposit Funds.
    DepositFunds,
    /// Withdraw Funds.
    WithdrawFunds,
    /// Query Open Orders & Trades.
    QueryOpenOrders,
    /// Query Closed Orders & Trades: TradesHistory, QueryTrades.
    QueryClosedOrders,
    /// Create & Modify Orders.
    CreateOrders,
    /// Cancel/Close Orders.
    CancelOrders,
    /// Query Ledger Entries: Ledgers, QueryLedgers.
    QueryLedger,
    /// Export Data: AddExport, ExportStatus, RetrieveExport, RemoveExport.
    ExportData,
}

impl Permission {
    /// Every permission Kraken offers.
    pub const ALL: [Permission; 9] = [
        Permission::QueryFunds,
        Permission::DepositFunds,
        Permission::WithdrawFunds,
        Permission::QueryOpenOrders,
        Permission::QueryClosedOrders,
        Permission::CreateOrders,
        Permission::CancelOrders,
        Permission::QueryLedger,
        Permission::ExportData,
    ];

    /// The permissions a private method needs, all of them (Kraken's documentation).
    pub fn required_for(method: &str) -> &'static [Permission] {
        match method {
            "Ledgers" | "QueryLedgers" => &[Permission::QueryLedger],
            "TradesHistory" | "QueryTrades" => &[Permission::QueryClosedOrders],
            "Balance" | "BalanceEx" | "TradeBalance" => &[Permission::QueryFunds],
            "AddExport" | "ExportStatus" | "RetrieveExport" | "RemoveExport" => {
                &[Permission::ExportData]
            }
            "WithdrawInfo" => &[Permission::QueryFunds, Permission::WithdrawFunds],
            _ => &[],
        }
    }
}

/// How an extra key is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOptions {
    /// The ticked permissions; a call needing another one gets `EGeneral:Permission denied`.
    pub permissions: BTreeSet<Permission>,
    /// 2FA: every call must carry this `otp`, or gets `EAPI:Invalid signature` (as Kraken).
    pub otp: Option<String>,
}

impl Default for KeyOptions {
    /// Every permission, no 2FA: what the configured key has.
    fn default() -> Self {
        Self {
            permissions: Permission::ALL.into_iter().collect(),
            otp: None,
        }
    }
}

impl KeyOptions {
    /// Exactly `permissions`, no 2FA.
    pub fn with(permissions: &[Permission]) -> Self {
        Self {
            permissions: permissions.iter().copied().collect(),
            otp: None,
        }
    }
}

/// Why a key could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is not base64.
    #[error("the API secret of an emulator key must be base64")]
    SecretNotBase64,
}

struct KeyEntry {
    secret: Vec<u8>,
    options: KeyOptions,
    last_nonce: Option<u64>,
}

/// The extra keys, each with its own nonce sequence (Kraken keeps nonces per key).
#[derive(Default)]
pub(crate) struct KeyTable {
    keys: HashMap<String, KeyEntry>,
}

impl KeyTable {
    /// Adds (or replaces) `key`.
    pub fn insert(
        &mut self,
        key: &str,
        secret_b64: &str,
        options: KeyOptions,
    ) -> Result<(), KeyError> {
        let secret = STANDARD
            .decode(secret_b64.trim())
            .map_err(|_| KeyError::SecretNotBase64)?;
        self.keys.insert(
            key.to_owned(),
            KeyEntry {
                secret,
                options,
                last_nonce: None,
            },
        );
        Ok(())
    }

    /// Kraken's checks for a request made with an extra key, then its 2FA; `None` when the
    /// request names no extra key (the configured key's checks apply).
    pub fn authenticate(
        &self,
        req: &AuthRequest<'_>,
        otp: Option<&str>,
    ) -> Option<Result<u64, &'static str>> {
        let key = req.api_key?;
        let entry = self.keys.get(key)?;
        Some(
            check_auth(key, &entry.secret, entry.last_nonce, req).and_then(|nonce| {
                match &entry.options.otp {
                    Some(want) if otp != Some(want.as_str()) => Err("EAPI:Invalid signature"),
                    _ => Ok(nonce),
                }
            }),
        )
    }

    /// Records `nonce` as used by `key`; false when `key` is not an extra key.
    pub fn consume_nonce(&mut self, key: Option<&str>, nonce: u64) -> bool {
        match key.and_then(|k| self.keys.get_mut(k)) {
            Some(entry) => {
                entry.last_nonce = Some(nonce);
                true
            }
            None => false,
        }
    }

    /// True when `key` is an extra key lacking a permission `method` needs.
    pub fn denies(&self, key: Option<&str>, method: &str) -> bool {
        key.and_then(|k| self.keys.get(k)).is_some_and(|entry| {
            Permission::required_for(method)
                .iter()
                .any(|p| !entry.options.permissions.contains(p))
        })
    }
}

/// Answers of read-only informational endpoints the server does not otherwise implement: the
/// emulated account has no withdrawal key, so `WithdrawInfo` fails the way Kraken's does
/// once the key's permissions were accepted; `ExportStatus` (when the export emulation is
/// absent) lists no report.
pub(crate) fn informational(method: &str) -> Option<Result<String, Refusal>> {
    match method {
        "WithdrawInfo" => Some(Err(Refusal::new("EFunding:Unknown withdraw key"))),
        "ExportStatus" => Some(Ok("[]".to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraken::sign::api_sign;

    const SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

    fn req<'a>(key: &'a str, nonce: &'a str, sign: &'a str, body: &'a [u8]) -> AuthRequest<'a> {
        AuthRequest {
            api_key: Some(key),
            api_sign: Some(sign),
            path: "/0/private/Balance",
            nonce: Some(nonce),
            body,
        }
    }

    #[test]
    fn extra_keys_have_their_own_nonces_permissions_and_2fa() {
        let mut t = KeyTable::default();
        let mut two_fa = KeyOptions::with(&[Permission::QueryLedger]);
        two_fa.otp = Some("123456".into());
        t.insert("K2FA", SECRET, two_fa).unwrap();
        t.insert("KRO", SECRET, KeyOptions::with(&[Permission::QueryFunds]))
            .unwrap();
        assert_eq!(
            t.insert("BAD", "not base64!", KeyOptions::default()),
            Err(KeyError::SecretNotBase64)
        );
        let secret = STANDARD.decode(SECRET).unwrap();
        let body = b"nonce=5";
        let sign = api_sign(&secret, "/0/private/Balance", "5", body);
        // Unknown key: the configured key's checks apply.
        assert!(
            t.authenticate(&req("OTHER", "5", &sign, body), None)
                .is_none()
        );
        assert_eq!(
            t.authenticate(&req("K2FA", "5", &sign, body), None),
            Some(Err("EAPI:Invalid signature"))
        );
        assert_eq!(
            t.authenticate(&req("K2FA", "5", &sign, body), Some("123456")),
            Some(Ok(5))
        );
        assert!(t.consume_nonce(Some("KRO"), 5));
        assert!(!t.consume_nonce(Some("OTHER"), 5));
        assert_eq!(
            t.authenticate(&req("KRO", "5", &sign, body), None),
            Some(Err("EAPI:Invalid nonce"))
        );
        // The other key's nonce sequence is untouched.
        assert_eq!(
            t.authenticate(&req("K2FA", "5", &sign, body), Some("123456")),
            Some(Ok(5))
        );
        assert!(t.denies(Some("KRO"), "Ledgers"));
        assert!(!t.denies(Some("KRO"), "Balance"));
        assert!(t.denies(Some("KRO"), "WithdrawInfo"));
        assert!(!t.denies(Some("OTHER"), "Ledgers"));
        assert!(!t.denies(Some("KRO"), "SomethingElse"));
    }
}
