//! The checks, as pure functions of the facts the command gathered.

use super::{Check, show_ms, show_path, show_time};
use crate::config::ConfigError;
use crate::kraken::KrakenError;
use crate::kraken::probe::Access;
use crate::secret::CredentialError;
use crate::store::{KeyRecord, RunOutcome, RunRecord};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::time::Duration;

/// Kraken's API secrets decode to 64 bytes.
pub const SECRET_LEN: usize = 64;

/// Days after a key's first use before the rotation reminder, unless configured.
pub use crate::config::DEFAULT_ROTATE_AFTER_DAYS;

/// A last sync older than this means the nightly cron job may have stopped.
pub const STALE_SYNC_HOURS: i64 = 48;

/// Invalid nonces within this many days count as "recent".
pub const NONCE_WINDOW_DAYS: i64 = 7;

/// Answers slower than this are worth a warning.
pub const SLOW_ANSWER: Duration = Duration::from_secs(5);

const ADVICE_KEY_FILE: &str = "put the key and secret on two lines of a file, `chmod 600` it and pass --key-file PATH (or set [sync] key_file)";

/// The config file: it must not hold credentials.
pub fn config_check(error: Option<&ConfigError>) -> Check {
    const NAME: &str = "config";
    match error {
        None => Check::ok(NAME, "no API key or secret in the config file"),
        Some(ConfigError::SecretInConfig(path)) => Check::problem(
            NAME,
            format!(
                "config file {} holds an API key or secret in clear text",
                show_path(path)
            ),
            format!(
                "remove it from the config file, {ADVICE_KEY_FILE}; then replace the key in Kraken, since others may have read it"
            ),
        ),
        Some(other) => Check::problem(
            NAME,
            other.to_string(),
            "fix the config file (or pass --config PATH)",
        ),
    }
}

/// What is known about credentials that loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFacts {
    /// Where they came from ("the environment", "key file /path").
    pub origin: String,
    /// True when the key file's path came from the config file.
    pub path_from_config: bool,
    /// The key file's permission bits, when read from a file.
    pub key_file_mode: Option<u32>,
    /// The decoded secret's length.
    pub secret_len: usize,
    /// The key's fingerprint.
    pub fingerprint: String,
}

/// Where the credentials come from and whether they are well-formed and private.
pub fn credentials_check(loaded: Result<&CredentialFacts, &CredentialError>) -> Check {
    const NAME: &str = "credentials";
    let facts = match loaded {
        Ok(f) => f,
        Err(CredentialError::Missing) => {
            return Check::problem(
                NAME,
                "no API key found",
                format!("set KRAKEN_API_KEY and KRAKEN_API_SECRET, or {ADVICE_KEY_FILE}"),
            );
        }
        Err(CredentialError::KeyFileMode { path, mode }) => {
            return Check::problem(
                NAME,
                format!(
                    "key file {} has mode {mode:04o}: other users can read it",
                    show_path(path)
                ),
                format!(
                    "run `chmod 600 {}`; replace the key in Kraken if others may have read it",
                    show_path(path)
                ),
            );
        }
        Err(CredentialError::NotBase64(origin)) => {
            return Check::problem(
                NAME,
                format!("the API secret from {origin} is not valid base64"),
                "copy the Private Key exactly as Kraken shows it (it ends with '==')",
            );
        }
        Err(other) => {
            return Check::problem(
                NAME,
                other.to_string(),
                "fix the credentials as the message says",
            );
        }
    };
    let mut detail = format!(
        "from {}{}",
        facts.origin,
        if facts.path_from_config {
            " (named in the config file)"
        } else {
            ""
        }
    );
    if let Some(mode) = facts.key_file_mode {
        detail.push_str(&format!(", mode {mode:04o}"));
    }
    detail.push_str(&format!(", key fingerprint {}", facts.fingerprint));
    if facts.secret_len != SECRET_LEN {
        return Check::warning(
            NAME,
            format!(
                "{detail}; the secret decodes to {} bytes, Kraken's have {SECRET_LEN}",
                facts.secret_len
            ),
            "copy the Private Key again, whole",
        );
    }
    Check::ok(NAME, format!("{detail}, secret well-formed"))
}

/// The API address answers over HTTP(S), and how fast.
pub fn reachability_check(url: &str, answer: Result<Duration, &KrakenError>) -> Check {
    const NAME: &str = "api";
    match answer {
        Ok(d) if d > SLOW_ANSWER => Check::warning(
            NAME,
            format!("{url} answered in {}", show_ms(d)),
            "the connection is slow; syncs will take longer",
        ),
        Ok(d) => Check::ok(NAME, format!("{url} answered in {}", show_ms(d))),
        Err(e) => {
            let why = match e {
                KrakenError::Transport { detail, .. } => (*detail).to_owned(),
                other => other.to_string(),
            };
            Check::problem(
                NAME,
                format!("cannot reach {url}: {why}"),
                "check the network, a proxy or firewall, and --api-url / KRAKEN_API_URL; Kraken's status page is https://status.kraken.com",
            )
        }
    }
}

/// An invalid `--api-url`.
pub fn bad_url_check(error: &dyn std::fmt::Display) -> Check {
    Check::problem(
        "api",
        error.to_string(),
        "use https://api.kraken.com (the default) or leave --api-url out",
    )
}

/// How the first authenticated call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Kraken accepted the key and the signature.
    Accepted,
    /// `EAPI:Invalid key`.
    InvalidKey,
    /// `EAPI:Invalid signature` with a well-formed secret.
    InvalidSignature,
    /// `EAPI:Invalid nonce` again after moving the nonce ahead.
    InvalidNonce,
    /// `EGeneral:Temporary lockout`.
    Lockout,
    /// Anything else (transport, Kraken service errors), as text.
    Failed(String),
}

/// Authentication, and what an invalid signature on a well-formed setup hints at: 2FA.
pub fn authentication_check(outcome: &AuthOutcome) -> Check {
    const NAME: &str = "authentication";
    match outcome {
        AuthOutcome::Accepted => Check::ok(
            NAME,
            "Kraken accepted the key and signature; no 2FA password is required",
        ),
        AuthOutcome::InvalidSignature => Check::problem(
            NAME,
            "Kraken refused the signature of a well-formed secret: the key probably has 2FA (a password or OTP) enabled, or the secret belongs to another key",
            "kraken-tax cannot send a 2FA password: create a key without 2FA and restrict it to your IP addresses instead, or copy the Private Key of this key again",
        ),
        AuthOutcome::InvalidKey => Check::problem(
            NAME,
            "Kraken does not know this API key",
            "copy the API Key exactly as Kraken shows it; it may have been deleted or have expired",
        ),
        AuthOutcome::InvalidNonce => Check::problem(
            NAME,
            "Kraken refused the nonce even after moving it ahead",
            "another program seems to use this key with larger nonces: give kraken-tax a key of its own",
        ),
        AuthOutcome::Lockout => Check::problem(
            NAME,
            "Kraken has locked this key out for a while (too many failed calls)",
            "wait about 15 minutes, then run `kraken-tax doctor` again",
        ),
        AuthOutcome::Failed(why) => Check::warning(
            NAME,
            format!("not checked: {why}"),
            "run `kraken-tax doctor` again later",
        ),
    }
}

/// A permission this tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// Query Ledger Entries: `sync` of the ledger.
    Ledger,
    /// Query Closed Orders & Trades: `sync` of trades.
    Trades,
    /// Query Funds: `verify`'s balance comparison.
    Funds,
    /// Export Data: `sync --backfill export`.
    Export,
}

impl Needed {
    /// All four, in the order printed.
    pub const ALL: [Needed; 4] = [
        Needed::Ledger,
        Needed::Trades,
        Needed::Funds,
        Needed::Export,
    ];

    /// Kraken's name for the permission.
    pub fn label(self) -> &'static str {
        match self {
            Needed::Ledger => "Query Ledger Entries",
            Needed::Trades => "Query Closed Orders & Trades",
            Needed::Funds => "Query Funds",
            Needed::Export => "Export Data",
        }
    }

    /// What it enables here.
    fn enables(self) -> &'static str {
        match self {
            Needed::Ledger => "`sync` downloads the ledger",
            Needed::Trades => "`sync` downloads the trades",
            Needed::Funds => "`verify` compares with Kraken's balances",
            Needed::Export => "`sync --backfill export` can fetch the history in bulk",
        }
    }
}

/// One needed permission: present, or missing with what that costs.
pub fn permission_check(needed: Needed, access: Result<Access, &str>) -> Check {
    let name = format!("permission {}", needed.label());
    let tick = format!("tick \"{}\" in Kraken's API key settings", needed.label());
    match access {
        Ok(Access::Granted) => Check::ok(name, format!("granted: {}", needed.enables())),
        Ok(Access::Denied) => match needed {
            Needed::Ledger | Needed::Trades => Check::problem(
                name,
                format!("missing: {} only with it", needed.enables()),
                tick,
            ),
            Needed::Funds | Needed::Export => Check::warning(
                name,
                format!("missing: only {} with it", needed.enables()),
                format!("{tick} if you want that"),
            ),
        },
        Err(why) => Check::not_checked(name, why),
    }
}

/// Withdraw Funds, which this tool never needs. Kraken's read-only withdrawal quote needs
/// Query Funds as well, so without Query Funds the answer tells nothing.
pub fn withdraw_check(funds: Result<Access, &str>, withdraw_info: Result<Access, &str>) -> Check {
    const NAME: &str = "permission Withdraw Funds";
    match (funds, withdraw_info) {
        (Err(why), _) | (_, Err(why)) => Check::not_checked(NAME, why),
        (Ok(Access::Denied), _) => Check::warning(
            NAME,
            "cannot be checked: Kraken's read-only withdrawal query also needs Query Funds",
            "make sure Withdraw Funds is unticked: kraken-tax never needs it",
        ),
        (Ok(Access::Granted), Ok(Access::Denied)) => {
            Check::ok(NAME, "not granted, as it should be")
        }
        (Ok(Access::Granted), Ok(Access::Granted)) => Check::problem(
            NAME,
            "granted: anyone holding this key can move your funds off Kraken",
            "untick Withdraw Funds in Kraken's API key settings (or create a new key without it): kraken-tax never needs it",
        ),
    }
}

/// Order and deposit permissions: no read-only call reveals them, so only a reminder.
pub fn trading_check() -> Check {
    Check::warning(
        "permissions for orders and deposits",
        "cannot be checked without placing or cancelling an order, so kraken-tax does not try",
        "make sure Create & Modify Orders, Cancel/Close Orders and Deposit Funds are unticked: kraken-tax never needs them",
    )
}

/// The key's nonce history in this database.
pub fn nonce_check(record: Option<&KeyRecord>, recent_invalid: u64) -> Check {
    const NAME: &str = "nonce";
    let last = match record {
        None => "no nonce recorded yet for this key".to_owned(),
        Some(r) if r.last_nonce == 0 => "no nonce recorded yet for this key".to_owned(),
        Some(r) => {
            let when = i64::try_from(r.last_nonce)
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(|t| format!(" ({})", show_time(t)))
                .unwrap_or_default();
            format!("last nonce {}{when}", r.last_nonce)
        }
    };
    if recent_invalid > 0 {
        return Check::warning(
            NAME,
            format!(
                "{last}; Kraken refused {} of this key in the last {NONCE_WINDOW_DAYS} days: another program seems to use the same key",
                crate::text::count(recent_invalid, "nonce")
            ),
            "give kraken-tax an API key of its own (one key per application)",
        );
    }
    Check::ok(NAME, last)
}

/// The key's age in this database, with a rotation reminder.
pub fn key_age_check(
    record: Option<&KeyRecord>,
    now: DateTime<Utc>,
    rotate_after_days: u32,
) -> Check {
    const NAME: &str = "key age";
    let Some(r) = record else {
        return Check::ok(NAME, "this key has not been used with this database yet");
    };
    let days = (now - r.first_used).num_days().max(0);
    let detail = format!(
        "first used with this database on {} ({} ago)",
        show_time(r.first_used),
        crate::text::count(days, "day")
    );
    if days > i64::from(rotate_after_days) {
        return Check::warning(
            NAME,
            format!(
                "{detail}, more than {}",
                crate::text::count(rotate_after_days, "day")
            ),
            "rotate it: create a new key in Kraken with the same permissions, write it to a new key file (chmod 600), point --key-file or [sync] key_file at it, run `kraken-tax doctor`, then delete the old key in Kraken; the history is kept per account, not per key",
        );
    }
    Check::ok(
        NAME,
        format!(
            "{detail}; rotation reminder after {}",
            crate::text::count(rotate_after_days, "day")
        ),
    )
}

/// Facts about a database that opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFacts {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// `PRAGMA user_version`.
    pub schema: i64,
    /// `PRAGMA integrity_check`.
    pub integrity: String,
    /// Permission bits.
    pub mode: u32,
    /// Free bytes on its file system, if known.
    pub free: Option<u64>,
}

/// What became of opening the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No file yet.
    Missing(PathBuf),
    /// The file exists but cannot be used.
    Unreadable(PathBuf, String),
    /// Open.
    Open(DbFacts),
}

/// Free space below this is a warning.
pub const LOW_DISK: u64 = 100 * 1024 * 1024;

fn show_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024 * 1024 * 1024 {
        format!("{:.1} GiB", n as f64 / (MIB * 1024.0))
    } else {
        format!("{:.1} MiB", n as f64 / MIB)
    }
}

/// The database: readable, intact, private, with room to grow.
pub fn database_check(state: &DbState) -> Check {
    const NAME: &str = "database";
    let f = match state {
        DbState::Missing(path) => {
            return Check::warning(
                NAME,
                format!("no database at {} yet", show_path(path)),
                "the first `kraken-tax sync` creates it (or pass --db PATH)",
            );
        }
        DbState::Unreadable(path, why) => {
            return Check::problem(
                NAME,
                format!("{} cannot be used: {why}", show_path(path)),
                "restore it from a backup, or move it aside and sync again (the whole history is downloaded again)",
            );
        }
        DbState::Open(f) => f,
    };
    let free = f
        .free
        .map(|b| format!(", {} free", show_bytes(b)))
        .unwrap_or_default();
    let detail = format!(
        "{}, {}, schema {}, integrity {}, mode {:04o}{free}",
        show_path(&f.path),
        show_bytes(f.size),
        f.schema,
        f.integrity,
        f.mode
    );
    if f.integrity != "ok" {
        return Check::problem(
            NAME,
            detail,
            "the file is damaged: restore it from a backup, or move it aside and sync again",
        );
    }
    if f.mode & 0o077 != 0 {
        return Check::warning(
            NAME,
            detail,
            format!(
                "other users can read your history: run `chmod 600 {}`",
                show_path(&f.path)
            ),
        );
    }
    if f.free.is_some_and(|b| b < LOW_DISK) {
        return Check::warning(NAME, detail, "free some disk space before the next sync");
    }
    Check::ok(NAME, detail)
}

/// The account's last sync: its outcome and age.
pub fn last_sync_check(account: &str, run: Option<&RunRecord>, now: DateTime<Utc>) -> Check {
    const NAME: &str = "last sync";
    let Some(run) = run else {
        return Check::warning(
            NAME,
            format!("no sync of account {account:?} recorded"),
            "run `kraken-tax sync`, then add it to cron (see the README)",
        );
    };
    let at = run.finished_at.as_deref().unwrap_or(&run.started_at);
    let Ok(at) = DateTime::parse_from_rfc3339(at) else {
        return Check::warning(
            NAME,
            format!("the last run's time {at:?} cannot be read"),
            "run `kraken-tax sync`",
        );
    };
    let at = at.with_timezone(&Utc);
    let hours = (now - at).num_hours().max(0);
    let detail = format!(
        "{} at {} ({hours} hours ago){}",
        run.outcome.label(),
        show_time(at),
        run.detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    if run.outcome == RunOutcome::Failed {
        return Check::warning(
            NAME,
            detail,
            "fix what the message says, then run `kraken-tax sync`",
        );
    }
    if hours > STALE_SYNC_HOURS {
        return Check::warning(
            NAME,
            detail,
            format!(
                "older than {STALE_SYNC_HOURS} hours: the cron job may have stopped; check `crontab -l` and its mail or log"
            ),
        );
    }
    Check::ok(NAME, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn withdraw_needs_funds_to_be_told() {
        use Access::{Denied, Granted};
        assert_eq!(withdraw_check(Ok(Granted), Ok(Denied)).status, Status::Ok);
        assert_eq!(
            withdraw_check(Ok(Granted), Ok(Granted)).status,
            Status::Problem
        );
        // Without Query Funds the quote is denied either way.
        assert_eq!(
            withdraw_check(Ok(Denied), Ok(Denied)).status,
            Status::Warning
        );
        assert_eq!(
            withdraw_check(Err("x"), Ok(Denied)).detail,
            "not checked: x"
        );
    }

    #[test]
    fn key_age_reminds_after_the_configured_days() {
        let rec = KeyRecord {
            last_nonce: 1,
            first_used: t("2026-01-01T00:00:00Z"),
        };
        let c = key_age_check(Some(&rec), t("2026-07-01T00:00:00Z"), 180);
        assert_eq!(c.status, Status::Warning);
        assert_eq!(
            c.detail,
            "first used with this database on 2026-01-01 00:00 UTC (181 days ago), more than 180 days"
        );
        let c = key_age_check(Some(&rec), t("2026-06-30T00:00:00Z"), 180);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(
            key_age_check(Some(&rec), t("2026-01-11T00:00:00Z"), 9).status,
            Status::Warning
        );
    }

    #[test]
    fn nonce_shows_the_last_one_and_warns_on_refusals() {
        let rec = KeyRecord {
            last_nonce: 1_767_225_600_000,
            first_used: t("2026-01-01T00:00:00Z"),
        };
        let c = nonce_check(Some(&rec), 0);
        assert_eq!(
            c.line(),
            "ok      nonce: last nonce 1767225600000 (2026-01-01 00:00 UTC)"
        );
        let c = nonce_check(Some(&rec), 3);
        assert_eq!(c.status, Status::Warning);
        assert!(c.detail.contains("refused 3 nonces"), "{}", c.detail);
    }

    #[test]
    fn last_sync_warns_when_stale_or_failed() {
        let run = |outcome, at: &str| RunRecord {
            started_at: at.to_owned(),
            finished_at: Some(at.to_owned()),
            outcome,
            detail: None,
            calls: 1,
            new_ledger: 0,
            new_trades: 0,
            waited_ms: 0,
            retries: None,
        };
        let now = t("2026-03-10T12:00:00Z");
        let fresh = run(RunOutcome::Ok, "2026-03-09T12:00:00Z");
        assert_eq!(
            last_sync_check("a", Some(&fresh), now).line(),
            "ok      last sync: complete at 2026-03-09 12:00 UTC (24 hours ago)"
        );
        let stale = run(RunOutcome::Ok, "2026-03-08T11:00:00Z");
        assert_eq!(
            last_sync_check("a", Some(&stale), now).status,
            Status::Warning
        );
        let failed = run(RunOutcome::Failed, "2026-03-10T11:00:00Z");
        assert_eq!(
            last_sync_check("a", Some(&failed), now).status,
            Status::Warning
        );
        assert_eq!(last_sync_check("a", None, now).status, Status::Warning);
    }

    #[test]
    fn database_flags_damage_mode_and_low_disk() {
        let facts = DbFacts {
            path: "/d/k.sqlite".into(),
            size: 2 * 1024 * 1024,
            schema: 7,
            integrity: "ok".into(),
            mode: 0o600,
            free: Some(20 * 1024 * 1024 * 1024),
        };
        assert_eq!(
            database_check(&DbState::Open(facts.clone())).line(),
            "ok      database: /d/k.sqlite, 2.0 MiB, schema 7, integrity ok, mode 0600, 20.0 GiB free"
        );
        let mut open = facts.clone();
        open.mode = 0o644;
        assert_eq!(database_check(&DbState::Open(open)).status, Status::Warning);
        let mut low = facts.clone();
        low.free = Some(1024);
        assert_eq!(database_check(&DbState::Open(low)).status, Status::Warning);
        let mut bad = facts;
        bad.integrity = "row 3 missing from index".into();
        assert_eq!(database_check(&DbState::Open(bad)).status, Status::Problem);
    }
}
