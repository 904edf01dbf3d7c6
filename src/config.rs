//! Settings resolved in one place: defaults → TOML file → environment → flags, into typed
//! plans ([`SyncPlan`], [`ExportPlan`], [`DoctorPlan`], [`VerifyPlan`], [`GainsPlan`]).
//!
//! clap merges flags over the environment variables it knows (`KRAKEN_KEY_FILE`,
//! `KRAKEN_API_URL`, ...) and checks the closed sets of values itself ([`clap::ValueEnum`] and
//! the value parsers here); the `*Flags` structs carry what it parsed, clap-free. This module
//! fills what both left unset from the TOML file, then from the defaults. The API credentials
//! come from a key file (flag, then file) or else from the environment, read through a lookup
//! function so that tests choose the environment. The plans are built here and nowhere else;
//! the library modules that run them ([`crate::sync`], [`crate::export`], [`crate::verify`],
//! [`crate::doctor`]) never import this module's resolution, so the dependencies point one way.

use crate::classify::RuleError;
use crate::domain::{RateTier, ReportCurrency, TierError};
use crate::export::FeeTreatment;
use crate::kraken::RetryPolicy;
use crate::kraken::client::ApiUrlError;
use crate::secret::{CredentialError, Credentials};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub use crate::emulator::serve::ServePlan;
pub use crate::export::run::{ExportFormat, ExportPlan};
pub use crate::gains::{
    Accounts, GainsPlan, LotPick, Method, Period, SwapFee, TaxYear, UnknownCost,
};
pub use crate::sync::{BackfillMode, SyncPlan};
pub use crate::verify::run::{BalanceSource, VerifyPlan};

/// The optional TOML file (`--config`, `KRAKEN_TAX_CONFIG`, or the XDG default).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Database path.
    pub db: Option<PathBuf>,
    /// Account name.
    pub account: Option<String>,
    /// `[sync]` settings.
    #[serde(default)]
    pub sync: SyncFileConfig,
    /// `[classify]` rules and labels.
    #[serde(default)]
    pub classify: crate::classify::Rules,
    /// `[identity]`: who the CARF XML names as user and provider.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// `[doctor]` settings.
    #[serde(default)]
    pub doctor: DoctorFileConfig,
    /// `[export]` defaults of `export` (flags win).
    #[serde(default)]
    pub export: ExportFileConfig,
    /// `[gains]` defaults of `gains` (flags win).
    #[serde(default)]
    pub gains: GainsFileConfig,
}

/// The `[export]` table: what `export --year Y` uses when a flag is not given.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExportFileConfig {
    /// Reporting currency (`--currency`).
    #[serde(default, deserialize_with = "de_from_str")]
    pub currency: Option<ReportCurrency>,
    /// `net` or `gross` (`--fees`).
    #[serde(default, deserialize_with = "de_fees")]
    pub fees: Option<FeeTreatment>,
    /// Files to write: `"csv,xml"` or `["csv", "xml"]` (`--format`).
    #[serde(default, deserialize_with = "de_formats")]
    pub format: Option<Vec<ExportFormat>>,
    /// Directory of the files (`--out`).
    pub out: Option<PathBuf>,
    /// Time zone of the year boundary (`--tz`).
    #[serde(default, deserialize_with = "de_tz")]
    pub tz: Option<Tz>,
}

/// The `[gains]` table: what `gains` uses when a flag is not given.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GainsFileConfig {
    /// Reporting currency (`--currency`).
    #[serde(default, deserialize_with = "de_from_str")]
    pub currency: Option<ReportCurrency>,
    /// Cost-basis method (`--method`).
    #[serde(default, deserialize_with = "de_value_enum")]
    pub method: Option<Method>,
    /// Kind of year of `--year` (`--period`).
    #[serde(default, deserialize_with = "de_value_enum")]
    pub period: Option<TaxYear>,
    /// Time zone of the calendar year or range (`--tz`).
    #[serde(default, deserialize_with = "de_tz")]
    pub tz: Option<Tz>,
    /// Directory of the files (`--out`).
    pub out: Option<PathBuf>,
}

fn de_from_str<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

fn de_tz<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    let text = String::deserialize(d)?;
    parse_tz(&text).map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown time zone {text:?}: use an IANA name such as Europe/Berlin, or UTC"
        ))
    })
}

/// A config value that is none of a value enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not one of {}", .names.join(", "))]
pub struct NotOneOf {
    /// The value given.
    pub text: String,
    /// The names accepted.
    pub names: Vec<String>,
}

/// One of the names of a clap value enum, as in the flag.
fn value_enum<T: clap::ValueEnum>(text: &str) -> Result<T, NotOneOf> {
    T::from_str(text.trim(), true).map_err(|_| NotOneOf {
        text: text.to_owned(),
        names: T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect(),
    })
}

fn de_value_enum<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: clap::ValueEnum,
{
    let text = String::deserialize(d)?;
    value_enum(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_fees<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<FeeTreatment>, D::Error> {
    match String::deserialize(d)?.trim() {
        "net" => Ok(Some(FeeTreatment::Net)),
        "gross" => Ok(Some(FeeTreatment::Gross)),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is not one of net, gross"
        ))),
    }
}

fn de_formats<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ExportFormat>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Formats {
        One(String),
        Many(Vec<String>),
    }
    let items: Vec<String> = match Formats::deserialize(d)? {
        Formats::One(text) => text.split(',').map(str::to_owned).collect(),
        Formats::Many(list) => list,
    };
    let formats = items
        .iter()
        .map(|i| value_enum::<ExportFormat>(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(serde::de::Error::custom)?;
    if formats.is_empty() {
        return Err(serde::de::Error::custom("give csv, xml or both"));
    }
    Ok(Some(formats))
}

/// The `[doctor]` table.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DoctorFileConfig {
    /// Days after a key's first use when `doctor` reminds to rotate it (default 180).
    pub rotate_after_days: Option<u32>,
}

/// The `[sync]` table.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncFileConfig {
    /// API base URL.
    pub api_url: Option<String>,
    /// Tier name or MAX:DECAY.
    pub tier: Option<String>,
    /// Key file path.
    pub key_file: Option<PathBuf>,
    /// Time budget per run, e.g. "20m".
    #[serde(default, with = "humantime_serde")]
    pub max_duration: Option<Duration>,
    /// First retry backoff, e.g. "1s" (doubles per attempt).
    #[serde(default, with = "humantime_serde")]
    pub retry_base: Option<Duration>,
    /// Longest retry backoff, e.g. "60s".
    #[serde(default, with = "humantime_serde")]
    pub retry_cap: Option<Duration>,
    /// Attempts per call before the run ends with exit 75.
    pub retry_attempts: Option<u32>,
    /// A temporary failure exits 0 while the last complete sync is younger than this, e.g. "2d".
    #[serde(default, with = "humantime_serde")]
    pub alert_after: Option<Duration>,
}

/// The `[identity]` table: the user's details for the CARF XML, and optionally the provider's
/// (defaults: Kraken's operating entity for the reporting currency, marked as defaults).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Tax identification number.
    pub tin: Option<String>,
    /// Country of tax residence, ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Street and number.
    pub street: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// City of birth.
    pub birth_city: Option<String>,
    /// Country of birth, ISO 3166-1 alpha-2.
    pub birth_country: Option<String>,
    /// Provider's legal name (default: Kraken's operating entity).
    pub provider_name: Option<String>,
    /// Provider's tax identification number.
    pub provider_tin: Option<String>,
    /// Provider's country, ISO 3166-1 alpha-2.
    pub provider_country: Option<String>,
    /// Provider's city (of its address).
    pub provider_city: Option<String>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly named config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        message: String,
    },
    /// A `[[classify.rules]]` entry cannot be used.
    #[error("config file {} is invalid: [classify] {source}", .path.display())]
    Rules {
        /// The file.
        path: PathBuf,
        /// The rule's problem.
        #[source]
        source: RuleError,
    },
    /// An `[identity]` value cannot go into the CARF XML.
    #[error("config file {} is invalid: {source}", .path.display())]
    Identity {
        /// The file.
        path: PathBuf,
        /// The value's problem.
        #[source]
        source: IdentityError,
    },
    /// The file holds credentials in clear text, which this tool refuses to read from it.
    #[error(
        "config file {0} must not contain the API key or secret; use a key file (mode 0600) or the environment"
    )]
    SecretInConfig(PathBuf),
    /// No home directory to place the default database in.
    #[error("cannot find a data directory for the database; pass --db PATH")]
    NoDataDir,
    /// The account name is empty, too long or holds control characters.
    #[error("invalid account name {0:?}: use 1 to 64 printable characters")]
    Account(String),
}

/// The default config path: `$XDG_CONFIG_HOME/kraken-tax/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("kraken-tax").join("config.toml"))
}

/// The default database path: `$XDG_DATA_HOME/kraken-tax/kraken-tax.sqlite`.
pub fn default_db_path() -> Result<PathBuf, ConfigError> {
    dirs::data_dir()
        .map(|d| d.join("kraken-tax").join("kraken-tax.sqlite"))
        .ok_or(ConfigError::NoDataDir)
}

/// The default locations (`kraken-tax paths`): on Linux `$XDG_DATA_HOME` (else
/// `~/.local/share`) and `$XDG_CONFIG_HOME` (else `~/.config`); on macOS both are
/// `~/Library/Application Support`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPaths {
    /// The database (`--db`, `KRAKEN_TAX_DB`, `db` override it).
    pub db: Option<PathBuf>,
    /// The config file (`--config`, `KRAKEN_TAX_CONFIG` override it).
    pub config: Option<PathBuf>,
    /// A suggested place for the key file (never read unless named).
    pub key_file: Option<PathBuf>,
}

/// The default locations on this system.
pub fn default_paths() -> DefaultPaths {
    DefaultPaths {
        db: default_db_path().ok(),
        config: default_config_path(),
        key_file: dirs::config_dir().map(|d| d.join("kraken-tax").join("kraken.key")),
    }
}

/// Loads the config file. An explicitly given file must exist; the default one may be absent.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(FileConfig::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    parse(&text, &path)
}

/// Parses config text (`path` is for messages).
pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    // Refuse secrets before anything else, without echoing them.
    if let Ok(value) = text.parse::<toml::Table>() {
        let has_secret = |t: &toml::Table| {
            ["api_key", "api_secret", "key", "secret"]
                .iter()
                .any(|k| t.contains_key(*k))
        };
        let sync_has = value
            .get("sync")
            .and_then(|v| v.as_table())
            .is_some_and(has_secret);
        if has_secret(&value) || sync_has {
            return Err(ConfigError::SecretInConfig(path.to_owned()));
        }
    }
    let config: FileConfig = toml::from_str(text).map_err(|e| {
        let message = suggest_key(e.message()).unwrap_or_else(|| e.message().to_owned());
        ConfigError::Parse {
            path: path.to_owned(),
            message: match e.span().and_then(|span| locate(text, span.start)) {
                Some(place) => format!("{place}: {message}"),
                None => message,
            },
        }
    })?;
    config
        .classify
        .validate()
        .map_err(|source| ConfigError::Rules {
            path: path.to_owned(),
            source,
        })?;
    config
        .identity
        .validate()
        .map_err(|source| ConfigError::Identity {
            path: path.to_owned(),
            source,
        })?;
    Ok(config)
}

/// serde's "unknown field `curency`, expected one of `currency`, ..." as a sentence naming
/// the nearest valid key; `None` for any other message.
fn suggest_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let valid: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let nearest = valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(unknown, v), *v))
        .min()
        .filter(|(d, v)| *d <= 2 || d * 3 <= unknown.len().max(v.len()));
    Some(match (nearest, valid.is_empty()) {
        (Some((_, v)), _) => format!("unknown key \"{unknown}\": did you mean \"{v}\"?"),
        (None, true) => format!("unknown key \"{unknown}\": this table takes no keys"),
        (None, false) => format!(
            "unknown key \"{unknown}\": valid keys are {}",
            valid.join(", ")
        ),
    })
}

/// "line N, column C, [table] key" of the byte offset `at`: where a value is wrong, without the
/// value (it may be personal data).
fn locate(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let n = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    let line = text.lines().nth(n - 1)?;
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(k, _)| format!(" {}", k.trim()))
        .unwrap_or_default();
    Some(
        format!("line {n}, column {column},{table}{key}")
            .trim_end_matches(',')
            .to_owned(),
    )
}

impl IdentityConfig {
    /// Every setting as (key, value), in the order of the `[identity]` table.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 13] {
        [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("tin", &self.tin),
            ("country", &self.country),
            ("street", &self.street),
            ("post_code", &self.post_code),
            ("city", &self.city),
            ("birth_date", &self.birth_date),
            ("birth_city", &self.birth_city),
            ("birth_country", &self.birth_country),
            ("provider_name", &self.provider_name),
            ("provider_tin", &self.provider_tin),
            ("provider_country", &self.provider_country),
        ]
    }

    /// Checks what the CARF XML schema requires of the values given (absent ones are the
    /// export's concern): no character XML 1.0 forbids, 1 to 200 characters, ISO 3166
    /// country codes, a real `YYYY-MM-DD` birth date. Values are never echoed (a TIN is
    /// personal data): the message names the key.
    pub fn validate(&self) -> Result<(), IdentityError> {
        for (key, value) in self.fields() {
            let Some(v) = value else { continue };
            if let Some(c) = crate::domain::forbidden_xml_char(v) {
                return Err(IdentityError::ForbiddenChar {
                    key,
                    code: c as u32,
                });
            }
            let n = v.trim().chars().count();
            if n == 0 {
                return Err(IdentityError::Empty { key });
            }
            if n > 200 {
                return Err(IdentityError::TooLong { key, chars: n });
            }
            if key.ends_with("country") && !crate::domain::is_iso_country(v.trim()) {
                return Err(IdentityError::Country {
                    key,
                    value: v.clone(),
                });
            }
        }
        if let Some(d) = &self.birth_date
            && chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").is_err()
        {
            return Err(IdentityError::BirthDate(d.clone()));
        }
        Ok(())
    }
}

/// Why an `[identity]` value cannot go into the CARF XML. Values are never echoed, except a
/// country code or date that is not one (a TIN is personal data): the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A character XML 1.0 forbids.
    #[error(
        "[identity] {key} contains the character U+{code:04X}, which XML 1.0 forbids: remove it"
    )]
    ForbiddenChar {
        /// The key.
        key: &'static str,
        /// The character's code point.
        code: u32,
    },
    /// Blank.
    #[error("[identity] {key} is empty: fill it in or remove the line")]
    Empty {
        /// The key.
        key: &'static str,
    },
    /// Over the schema's 200 characters.
    #[error("[identity] {key} has {chars} characters; the CARF schema allows at most 200")]
    TooLong {
        /// The key.
        key: &'static str,
        /// Its length.
        chars: usize,
    },
    /// Not an ISO 3166-1 alpha-2 code.
    #[error(
        "[identity] {key} {value:?} is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. DE, GB, FR)"
    )]
    Country {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// Not a real `YYYY-MM-DD` date.
    #[error("[identity] birth_date {0:?} is not a date YYYY-MM-DD (e.g. 1985-03-15)")]
    BirthDate(String),
}

/// Why the `[sync]` retry settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryConfigError {
    /// No attempt at all would never call Kraken.
    #[error("[sync] retry_attempts must be at least 1")]
    ZeroAttempts,
}

/// The retry policy: the file's `[sync]` settings over the defaults.
pub fn resolve_retry(file: &FileConfig) -> Result<RetryPolicy, RetryConfigError> {
    let mut policy = RetryPolicy::default();
    if let Some(d) = file.sync.retry_base {
        policy.base = d;
    }
    if let Some(d) = file.sync.retry_cap {
        policy.cap = d;
    }
    if let Some(n) = file.sync.retry_attempts {
        if n == 0 {
            return Err(RetryConfigError::ZeroAttempts);
        }
        policy.max_attempts = n;
    }
    Ok(policy)
}

/// Resolves the tier: flag, then file, then Starter.
pub fn resolve_tier(flag: Option<&str>, file: &FileConfig) -> Result<RateTier, TierError> {
    match flag.or(file.sync.tier.as_deref()) {
        Some(t) => t.parse(),
        None => Ok(RateTier::STARTER),
    }
}

/// Reads one environment variable; the process environment is [`process_env`].
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`Env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The options every command shares, as the command line gave them (flags over environment).
#[derive(Debug, Clone, Default)]
pub struct CommonFlags {
    /// `--db` / `KRAKEN_TAX_DB`.
    pub db: Option<PathBuf>,
    /// `--account` / `KRAKEN_TAX_ACCOUNT`.
    pub account: Option<String>,
    /// `-q`.
    pub quiet: bool,
}

/// The settings every command shares, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// The database file.
    pub db: PathBuf,
    /// The account name.
    pub account: String,
    /// `-q`: nothing but errors.
    pub quiet: bool,
}

/// Account used when neither flag, environment nor file names one.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The database path as far as it is known (flag, file, default), for messages about it.
pub fn db_path(flags: &CommonFlags, file: &FileConfig) -> Result<PathBuf, ConfigError> {
    match flags.db.clone().or_else(|| file.db.clone()) {
        Some(p) => Ok(p),
        None => default_db_path(),
    }
}

/// Database and account: flag (or environment), then file, then the defaults.
pub fn resolve_common(flags: &CommonFlags, file: &FileConfig) -> Result<Common, ConfigError> {
    let db = db_path(flags, file)?;
    let account = flags
        .account
        .clone()
        .or_else(|| file.account.clone())
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
    if account.is_empty() || account.len() > 64 || account.chars().any(char::is_control) {
        return Err(ConfigError::Account(account));
    }
    Ok(Common {
        db,
        account,
        quiet: flags.quiet,
    })
}

/// The API URL text: flag (or `KRAKEN_API_URL`), else the file's `[sync] api_url`, else Kraken's.
pub fn api_url_text<'a>(flag: Option<&'a str>, file: &'a FileConfig) -> &'a str {
    flag.or(file.sync.api_url.as_deref())
        .unwrap_or(crate::kraken::DEFAULT_API_URL)
}

/// [`crate::kraken::parse_api_url`], also refusing a path, query or fragment (the client adds
/// `/0/private/...` itself: a path would be silently dropped or doubled).
pub fn parse_base_url(text: &str) -> Result<Url, ApiUrlError> {
    let url = crate::kraken::parse_api_url(text)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(ApiUrlError {
            url: text.to_owned(),
            reason: "give the base URL only, without a path, such as https://api.kraken.com",
        });
    }
    Ok(url)
}

/// [`api_url_text`], parsed with [`parse_base_url`].
pub fn resolve_api_url(flag: Option<&str>, file: &FileConfig) -> Result<Url, ApiUrlError> {
    parse_base_url(api_url_text(flag, file))
}

/// The key file (flag, then file) if any, else `KRAKEN_API_KEY` and `KRAKEN_API_SECRET`.
pub fn load_credentials(key_file: Option<&Path>, env: Env) -> Result<Credentials, CredentialError> {
    if let Some(path) = key_file {
        return Credentials::from_key_file(path);
    }
    Credentials::from_env_with(env)?.ok_or(CredentialError::Missing)
}

/// Why a plan cannot be built: each is a usage or configuration error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--tier` or `[sync] tier` is not a tier.
    #[error(transparent)]
    Tier(#[from] TierError),
    /// `--api-url` or `[sync] api_url` is not a usable base URL.
    #[error(transparent)]
    ApiUrl(#[from] ApiUrlError),
    /// The credentials are missing or unusable.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The `[sync]` retry settings.
    #[error(transparent)]
    Retry(#[from] RetryConfigError),
    /// A `[[classify.rules]]` entry.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// The year is outside what a report covers.
    #[error("invalid --year {0}: use a year from {MIN_YEAR} to {MAX_YEAR}")]
    Year(i32),
    /// `--out` names a file.
    #[error(
        "--out {} is a file, not a directory: give the directory for the report files",
        .0.display()
    )]
    OutIsFile(PathBuf),
    /// The year's boundaries do not exist in the time zone.
    #[error("invalid year {0}")]
    Bounds(i32),
    /// `gains` options that do not fit together.
    #[error(transparent)]
    Gains(#[from] GainsOptionError),
    /// Neither `--currency` nor the config's table gives the reporting currency.
    #[error(
        "no reporting currency: pass --currency CCY, or set currency in the [{0}] table of the config file"
    )]
    NoCurrency(&'static str),
    /// `emulator --time-scale` is not a positive number.
    #[error("--time-scale must be a positive number")]
    TimeScale,
}

/// Years a report accepts.
pub const MIN_YEAR: i32 = 1970;
/// Years a report accepts.
pub const MAX_YEAR: i32 = 2100;

/// `--out`: a directory, existing or not.
fn check_out(out: &Path) -> Result<(), PlanError> {
    if out.exists() && !out.is_dir() {
        return Err(PlanError::OutIsFile(out.to_owned()));
    }
    Ok(())
}

fn check_year(year: i32) -> Result<(), PlanError> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(PlanError::Year(year));
    }
    Ok(())
}

/// A `--tz` that is not an IANA time zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} for --tz: use an IANA name such as Europe/Berlin, or UTC")]
pub struct UnknownTimeZone(pub String);

/// Value parser of `--tz`: an IANA time zone name.
pub fn parse_tz(text: &str) -> Result<Tz, UnknownTimeZone> {
    text.parse().map_err(|_| UnknownTimeZone(text.to_owned()))
}

/// A `--max-duration` that is not a duration. clap prints only this message, so it says the
/// parser's reason itself (there is no further cause to name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}; use e.g. 20m or 1h30m")]
pub struct BadDuration(humantime::DurationError);

/// Value parser of `--max-duration`: a human duration such as `20m` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, BadDuration> {
    humantime::parse_duration(text).map_err(BadDuration)
}

/// Value parser of each `--format` item: `csv` or `xml`, spaces around ignored (`csv, xml`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatParser;

impl clap::builder::TypedValueParser for FormatParser {
    type Value = ExportFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ExportFormat, clap::Error> {
        let trimmed = value
            .to_str()
            .map_or(value, |v| std::ffi::OsStr::new(v.trim()));
        clap::builder::EnumValueParser::<ExportFormat>::new().parse_ref(cmd, arg, trimmed)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        use clap::ValueEnum as _;
        Some(Box::new(
            ExportFormat::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value()),
        ))
    }
}

/// Value parser of `--fees`: `net` or `gross`.
pub fn fees_parser() -> impl clap::builder::TypedValueParser<Value = FeeTreatment> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["net", "gross"]).map(|s| match s.as_str() {
        "gross" => FeeTreatment::Gross,
        _ => FeeTreatment::Net,
    })
}

/// `sync` options as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct SyncFlags {
    /// `--key-file` / `KRAKEN_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `--api-url` / `KRAKEN_API_URL`.
    pub api_url: Option<String>,
    /// `--tier`.
    pub tier: Option<String>,
    /// `--max-duration`.
    pub max_duration: Option<Duration>,
    /// `--backfill`.
    pub backfill: BackfillMode,
    /// `--alert-after`.
    pub alert_after: Option<Duration>,
}

/// The plan of a sync: flags, then `[sync]`, then the defaults; credentials from the key file
/// (flag, then `[sync] key_file`), else the environment.
pub fn sync_plan(
    common: &Common,
    file: &FileConfig,
    flags: SyncFlags,
    env: Env,
) -> Result<SyncPlan, PlanError> {
    let api_url = resolve_api_url(flags.api_url.as_deref(), file)?;
    let tier = resolve_tier(flags.tier.as_deref(), file)?;
    let max_duration = flags.max_duration.or(file.sync.max_duration);
    let key_file = flags.key_file.as_deref().or(file.sync.key_file.as_deref());
    let retry = resolve_retry(file)?;
    let credentials = load_credentials(key_file, env)?;
    Ok(SyncPlan {
        db: common.db.clone(),
        account: common.account.clone(),
        api_url,
        tier,
        credentials,
        max_duration,
        retry,
        backfill: flags.backfill,
        rules: file.classify.clone(),
        alert_after: flags.alert_after.or(file.sync.alert_after),
    })
}

/// `export` options as the command line gave them.
#[derive(Debug, Clone)]
pub struct ExportFlags {
    /// `--year`.
    pub year: i32,
    /// `--currency`, else `[export] currency`; required.
    pub currency: Option<ReportCurrency>,
    /// `--out`, else `[export] out`, else the current directory.
    pub out: Option<PathBuf>,
    /// `--fees`, else `[export] fees`, else net.
    pub fees: Option<FeeTreatment>,
    /// `--tz`, else `[export] tz`, else UTC.
    pub tz: Option<Tz>,
    /// `--format`, else `[export] format`, else csv and xml.
    pub formats: Option<Vec<ExportFormat>>,
    /// `--allow-empty`.
    pub allow_empty: bool,
    /// `--strict`.
    pub strict: bool,
    /// `--offline`.
    pub offline: bool,
    /// `--draft`.
    pub draft: bool,
    /// `--api-url` / `KRAKEN_API_URL`.
    pub api_url: Option<String>,
}

/// The plan of an export: the flags checked, the year's bounds, the rules and identity of the
/// file, and where prices come from (none when offline).
pub fn export_plan(
    common: &Common,
    file: &FileConfig,
    flags: ExportFlags,
) -> Result<ExportPlan, PlanError> {
    check_year(flags.year)?;
    let d = &file.export;
    let currency = (flags.currency.or(d.currency)).ok_or(PlanError::NoCurrency("export"))?;
    let out = (flags.out.or_else(|| d.out.clone())).unwrap_or_else(|| PathBuf::from("."));
    let fees = flags.fees.or(d.fees).unwrap_or(FeeTreatment::Net);
    let tz = flags.tz.or(d.tz).unwrap_or(chrono_tz::UTC);
    let formats = (flags.formats.or_else(|| d.format.clone()))
        .unwrap_or_else(|| vec![ExportFormat::Csv, ExportFormat::Xml]);
    check_out(&out)?;
    let bounds = crate::export::year_bounds(flags.year, tz).ok_or(PlanError::Bounds(flags.year))?;
    file.classify.validate()?;
    let prices_from = match flags.offline {
        true => None,
        false => Some(resolve_api_url(flags.api_url.as_deref(), file)?),
    };
    Ok(ExportPlan {
        account: common.account.clone(),
        quiet: common.quiet,
        year: flags.year,
        currency,
        out,
        fees,
        tz,
        bounds,
        csv: formats.contains(&ExportFormat::Csv),
        xml: formats.contains(&ExportFormat::Xml),
        allow_empty: flags.allow_empty,
        strict: flags.strict,
        draft: flags.draft,
        prices_from,
        rules: file.classify.clone(),
        identity: xml_identity(&file.identity, currency),
    })
}

/// The identity the CARF XML names: Kraken's entity for the currency, overridden by `[identity]`.
pub fn xml_identity(
    id: &IdentityConfig,
    currency: ReportCurrency,
) -> crate::export::xml::XmlIdentity {
    let mut identity = crate::export::xml::XmlIdentity::kraken_for_currency(currency.as_str());
    let set = |slot: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            slot.clone_from(value);
        }
    };
    set(&mut identity.user_first_name, &id.first_name);
    set(&mut identity.user_last_name, &id.last_name);
    set(&mut identity.user_tin, &id.tin);
    set(&mut identity.user_country, &id.country);
    set(&mut identity.user_street, &id.street);
    set(&mut identity.user_post_code, &id.post_code);
    set(&mut identity.user_city, &id.city);
    set(&mut identity.user_birth_date, &id.birth_date);
    set(&mut identity.user_birth_city, &id.birth_city);
    set(&mut identity.user_birth_country, &id.birth_country);
    set(&mut identity.rcasp_name, &id.provider_name);
    set(&mut identity.rcasp_tin, &id.provider_tin);
    set(&mut identity.rcasp_country, &id.provider_country);
    identity
}

/// Days after a key's first use when `doctor` reminds to rotate it, unless configured.
pub const DEFAULT_ROTATE_AFTER_DAYS: u32 = 180;

/// The plan of `doctor`. Unlike the other plans it keeps what failed to resolve (the config
/// file, the credentials, the URL), because reporting those is its job.
#[derive(Debug)]
pub struct DoctorPlan {
    /// The database file (never created by doctor).
    pub db: PathBuf,
    /// The account whose last sync is checked.
    pub account: String,
    /// The config file's error, if it did not load.
    pub config_error: Option<ConfigError>,
    /// The credentials as loaded, or why not.
    pub credentials: Result<Credentials, CredentialError>,
    /// The key file the credentials were read from, if any.
    pub key_file: Option<PathBuf>,
    /// True when the key file's path came from the config file.
    pub key_file_from_config: bool,
    /// The API URL as given (parsed and probed by doctor).
    pub api_url: String,
    /// The account's rate-limit tier.
    pub tier: RateTier,
    /// Days after a key's first use before the rotation reminder.
    pub rotate_after_days: u32,
}

/// `doctor` options as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct DoctorFlags {
    /// `--key-file` / `KRAKEN_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `--api-url` / `KRAKEN_API_URL`.
    pub api_url: Option<String>,
    /// `--tier`.
    pub tier: Option<String>,
}

/// The plan of `doctor`; only a bad tier stops it before the checks.
pub fn doctor_plan(
    common: &Common,
    file: &FileConfig,
    config_error: Option<ConfigError>,
    flags: DoctorFlags,
    env: Env,
) -> Result<DoctorPlan, PlanError> {
    let tier = resolve_tier(flags.tier.as_deref(), file)?;
    let (key_file, from_config) = match flags.key_file {
        Some(p) => (Some(p), false),
        None => (file.sync.key_file.clone(), true),
    };
    Ok(DoctorPlan {
        db: common.db.clone(),
        account: common.account.clone(),
        config_error,
        credentials: load_credentials(key_file.as_deref(), env),
        key_file_from_config: from_config && key_file.is_some(),
        key_file,
        api_url: api_url_text(flags.api_url.as_deref(), file).to_owned(),
        tier,
        rotate_after_days: file
            .doctor
            .rotate_after_days
            .unwrap_or(DEFAULT_ROTATE_AFTER_DAYS),
    })
}

/// `verify` options as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct VerifyFlags {
    /// `--offline`.
    pub offline: bool,
    /// `--key-file` / `KRAKEN_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `--api-url` / `KRAKEN_API_URL`.
    pub api_url: Option<String>,
}

/// `emulator` options as the command line gave them.
#[derive(Debug, Clone)]
pub struct EmulatorFlags {
    /// `--port`.
    pub port: u16,
    /// `--seed`.
    pub seed: u64,
    /// `--entries`.
    pub entries: usize,
    /// `--tier`, before time scaling.
    pub tier: String,
    /// `--time-scale`.
    pub time_scale: f64,
    /// `--truth`.
    pub truth: Option<PathBuf>,
    /// `--key-file-out`.
    pub key_file_out: Option<PathBuf>,
}

/// The plan of `emulator`: its tier parsed and scaled in time (no config file applies).
pub fn emulator_plan(flags: EmulatorFlags) -> Result<ServePlan, PlanError> {
    let tier: RateTier = flags.tier.parse()?;
    if !(flags.time_scale.is_finite() && flags.time_scale > 0.0) {
        return Err(PlanError::TimeScale);
    }
    Ok(ServePlan {
        port: flags.port,
        seed: flags.seed,
        entries: flags.entries,
        tier: tier.scaled(flags.time_scale),
        truth: flags.truth,
        key_file_out: flags.key_file_out,
    })
}

/// The plan of `verify`: a bad URL is a usage error before anything is opened, as for sync;
/// the credentials and the tier are kept as loaded (missing credentials skip the comparison
/// with Kraken's balances, unusable ones are reported after the stored checks ran).
pub fn verify_plan(
    common: &Common,
    file: &FileConfig,
    flags: VerifyFlags,
    env: Env,
) -> Result<VerifyPlan, PlanError> {
    let balances = if flags.offline {
        BalanceSource::Offline
    } else {
        let api_url = resolve_api_url(flags.api_url.as_deref(), file)?;
        let credentials = match flags.key_file.as_deref().or(file.sync.key_file.as_deref()) {
            Some(path) => Credentials::from_key_file(path).map(Some),
            None => Credentials::from_env_with(env),
        };
        BalanceSource::Kraken {
            api_url,
            credentials,
            tier: resolve_tier(None, file),
        }
    };
    Ok(VerifyPlan {
        db: common.db.clone(),
        account: common.account.clone(),
        balances,
    })
}

/// `gains` options as the command line gave them (`None`: not given, the `[gains]` table or
/// the default decides).
#[derive(Debug, Clone, Default)]
pub struct GainsFlags {
    /// `--year`.
    pub year: Option<i32>,
    /// `--period`, else `[gains] period` (with `--year`), else `uk` for `--method uk`, else
    /// calendar.
    pub period: Option<TaxYear>,
    /// `--from` (inclusive).
    pub from: Option<NaiveDate>,
    /// `--to` (inclusive).
    pub to: Option<NaiveDate>,
    /// `--tz` of the calendar year or the range, else `[gains] tz`, else UTC.
    pub tz: Option<Tz>,
    /// `--currency`, else `[gains] currency`; required.
    pub currency: Option<ReportCurrency>,
    /// `--method`, else `[gains] method`, else fifo.
    pub method: Option<Method>,
    /// `--unknown-cost`.
    pub unknown_cost: UnknownCost,
    /// `--swap-fee`.
    pub swap_fee: SwapFee,
    /// `--lots` (method `us` only).
    pub lots: Option<LotPick>,
    /// `--offline`.
    pub offline: bool,
    /// `--out`, else `[gains] out`, else the current directory.
    pub out: Option<PathBuf>,
    /// `--all-accounts`.
    pub all_accounts: bool,
    /// `--api-url` / `KRAKEN_API_URL`.
    pub api_url: Option<String>,
}

/// `gains` options that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GainsOptionError {
    /// Neither a year nor a range.
    #[error("give --year Y (with --period uk|au for a tax year), or --from DATE --to DATE")]
    NoPeriod,
    /// A year and a range.
    #[error("--from/--to and --year exclude each other: give one")]
    YearAndRange,
    /// Half a range.
    #[error("give both --from and --to")]
    HalfRange,
    /// `--period` without `--year`.
    #[error("--period needs --year Y (the tax year ending in Y)")]
    PeriodWithoutYear,
    /// The range ends before it starts.
    #[error("--to {to} is before --from {from}")]
    Reversed {
        /// `--from`.
        from: NaiveDate,
        /// `--to`.
        to: NaiveDate,
    },
    /// `--lots` belongs to the `us` method.
    #[error("--lots is for --method us only (the other methods fix their own lot order)")]
    LotsNeedUs,
    /// A boundary that does not exist in its time zone.
    #[error("the period has no valid boundary in its time zone")]
    Boundary,
}

/// The period of `gains`: `--year` (calendar in `--tz`, or `--period uk|au`; `--method uk`
/// implies `--period uk` unless told otherwise), or `--from --to` in `--tz`. `flags` are
/// those of the command line with the `[gains]` table already filled in.
pub fn gains_span(flags: &GainsFlags) -> Result<Period, PlanError> {
    use GainsOptionError as E;
    let tz = flags.tz.unwrap_or(chrono_tz::UTC);
    let period = match (flags.year, flags.from, flags.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(E::YearAndRange.into()),
        (None, Some(_), Some(_)) if flags.period.is_some() => {
            return Err(E::PeriodWithoutYear.into());
        }
        (None, Some(from), Some(to)) if to < from => return Err(E::Reversed { from, to }.into()),
        (None, Some(from), Some(to)) => Period::range(from, to, tz),
        (None, None, None) if flags.period.is_some() => return Err(E::PeriodWithoutYear.into()),
        (None, None, None) => return Err(E::NoPeriod.into()),
        (None, ..) => return Err(E::HalfRange.into()),
        (Some(year), None, None) => {
            check_year(year)?;
            match (flags.period, flags.method) {
                (Some(TaxYear::Uk), _) | (None, Some(Method::Uk)) => Period::uk_tax_year(year),
                (Some(TaxYear::Au), _) => Period::au_year(year),
                (Some(TaxYear::Calendar) | None, _) => Period::calendar_year(year, tz),
            }
        }
    };
    period.ok_or(E::Boundary.into())
}

/// The plan of `gains` (and of the gains half of `report`): flags, then the `[gains]` table,
/// then the defaults; the period, the method's lot order, the accounts, and where prices
/// come from.
pub fn gains_plan(
    common: &Common,
    file: &FileConfig,
    flags: GainsFlags,
) -> Result<GainsPlan, PlanError> {
    let g = &file.gains;
    let range = flags.from.is_some() || flags.to.is_some();
    let flags = GainsFlags {
        currency: flags.currency.or(g.currency),
        method: flags.method.or(g.method),
        // The table's period is a kind of year: it does not apply to a --from/--to range.
        period: flags.period.or(g.period.filter(|_| !range)),
        tz: flags.tz.or(g.tz),
        out: flags.out.or_else(|| g.out.clone()),
        ..flags
    };
    let currency = flags.currency.ok_or(PlanError::NoCurrency("gains"))?;
    let period = gains_span(&flags)?;
    let method = flags.method.unwrap_or(Method::Fifo);
    let lots = match (flags.lots, method) {
        (Some(_), m) if m != Method::Us => return Err(GainsOptionError::LotsNeedUs.into()),
        (lots, _) => lots.unwrap_or_default(),
    };
    let out = flags.out.unwrap_or_else(|| PathBuf::from("."));
    check_out(&out)?;
    file.classify.validate()?;
    let prices_from = match flags.offline {
        true => None,
        false => Some(resolve_api_url(flags.api_url.as_deref(), file)?),
    };
    Ok(GainsPlan {
        accounts: match flags.all_accounts {
            true => Accounts::All,
            false => Accounts::One(common.account.clone()),
        },
        period,
        currency,
        method,
        lots,
        unknown_cost: flags.unknown_cost,
        swap_fee: flags.swap_fee,
        prices_from,
        out,
        rules: file.classify.clone(),
    })
}

/// Where a resolved setting came from, for `kraken-tax config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The config file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One resolved setting: its name (`db`, `[export] currency`), its value, where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The setting's name as the config file spells it.
    pub key: String,
    /// Its value as text (secrets and personal data are never put here).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The shared settings as the command line or the environment gave them, with their origins.
#[derive(Debug, Clone, Default)]
pub struct GivenCommon {
    /// `--config` / `KRAKEN_TAX_CONFIG`.
    pub config: Option<(PathBuf, Origin)>,
    /// `--db` / `KRAKEN_TAX_DB`.
    pub db: Option<(PathBuf, Origin)>,
    /// `--account` / `KRAKEN_TAX_ACCOUNT`.
    pub account: Option<(String, Origin)>,
}

/// Every setting resolved as the commands resolve it, with its origin: given (flag or
/// environment), else the config file at `file_path`, else the default. Credentials are only
/// said to be set; `[identity]` values (personal data) only counted.
pub fn describe(
    given: &GivenCommon,
    file: &FileConfig,
    file_path: Option<&Path>,
    env: Env,
) -> Vec<Shown> {
    let from_file = || Origin::File(file_path.map(Path::to_owned).unwrap_or_default());
    let mut shown = Vec::new();
    let mut add = |key: &str, value: String, origin: Origin| {
        shown.push(Shown {
            key: key.to_owned(),
            value,
            origin,
        })
    };
    // given, else file, else default
    let pick = |given: Option<(String, Origin)>, in_file: Option<String>, default: &str| match (
        given, in_file,
    ) {
        (Some((v, o)), _) => (v, o),
        (None, Some(v)) => (v, from_file()),
        (None, None) => (default.to_owned(), Origin::Default),
    };
    let config = match (&given.config, file_path) {
        (Some((p, o)), _) => (p.display().to_string(), o.clone()),
        (None, Some(p)) => (p.display().to_string(), Origin::Default),
        (None, None) => ("(none)".to_owned(), Origin::Default),
    };
    add("config", config.0, config.1);
    let path_text = |p: &Path| p.display().to_string();
    let default_db = default_db_path().map_or_else(|_| "(none)".to_owned(), |p| path_text(&p));
    let (v, o) = pick(
        given.db.as_ref().map(|(p, o)| (path_text(p), o.clone())),
        file.db.as_deref().map(path_text),
        &default_db,
    );
    add("db", v, o);
    let (v, o) = pick(given.account.clone(), file.account.clone(), DEFAULT_ACCOUNT);
    add("account", v, o);
    let env_given = |name: &'static str| env(name).map(|v| (v, Origin::Env(name)));
    let sync = &file.sync;
    let (v, o) = pick(
        env_given("KRAKEN_API_URL"),
        sync.api_url.clone(),
        crate::kraken::DEFAULT_API_URL,
    );
    add("[sync] api_url", v, o);
    let (v, o) = pick(None, sync.tier.clone(), "starter");
    add("[sync] tier", v, o);
    let (v, o) = pick(
        env_given("KRAKEN_KEY_FILE"),
        sync.key_file.as_deref().map(path_text),
        "(none)",
    );
    let key_file_origin = o.clone();
    add("[sync] key_file", v, o);
    let has_key_file = key_file_origin != Origin::Default;
    let credentials = match (has_key_file, env("KRAKEN_API_KEY").is_some()) {
        (true, _) => ("from the key file (hidden)".to_owned(), key_file_origin),
        (false, true) => (
            "KRAKEN_API_KEY and KRAKEN_API_SECRET (hidden)".to_owned(),
            Origin::Env("KRAKEN_API_KEY"),
        ),
        (false, false) => ("(none)".to_owned(), Origin::Default),
    };
    add("credentials", credentials.0, credentials.1);
    let human = |d: Duration| humantime::format_duration(d).to_string();
    let retry = RetryPolicy::default();
    for (key, value, default) in [
        (
            "[sync] max_duration",
            sync.max_duration.map(human),
            "(none)".to_owned(),
        ),
        (
            "[sync] retry_base",
            sync.retry_base.map(human),
            human(retry.base),
        ),
        (
            "[sync] retry_cap",
            sync.retry_cap.map(human),
            human(retry.cap),
        ),
        (
            "[sync] retry_attempts",
            sync.retry_attempts.map(|n| n.to_string()),
            retry.max_attempts.to_string(),
        ),
    ] {
        let (v, o) = pick(None, value, &default);
        add(key, v, o);
    }
    let ex = &file.export;
    let formats = |f: &[ExportFormat]| {
        f.iter()
            .map(|f| match f {
                ExportFormat::Csv => "csv",
                ExportFormat::Xml => "xml",
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let not_set = "(none: --currency needed)";
    for (key, value, default) in [
        (
            "[export] currency",
            ex.currency.map(|c| c.as_str().to_owned()),
            not_set,
        ),
        (
            "[export] fees",
            ex.fees.map(|f| f.as_str().to_owned()),
            "net",
        ),
        (
            "[export] format",
            ex.format.as_deref().map(formats),
            "csv,xml",
        ),
        ("[export] out", ex.out.as_deref().map(path_text), "."),
        ("[export] tz", ex.tz.map(|t| t.name().to_owned()), "UTC"),
    ] {
        let (v, o) = pick(None, value, default);
        add(key, v, o);
    }
    let g = &file.gains;
    let name = |v: Option<clap::builder::PossibleValue>| v.map(|p| p.get_name().to_owned());
    use clap::ValueEnum as _;
    for (key, value, default) in [
        (
            "[gains] currency",
            g.currency.map(|c| c.as_str().to_owned()),
            not_set,
        ),
        (
            "[gains] method",
            g.method.and_then(|m| name(m.to_possible_value())),
            "fifo",
        ),
        (
            "[gains] period",
            g.period.and_then(|p| name(p.to_possible_value())),
            "calendar (uk with method uk)",
        ),
        ("[gains] tz", g.tz.map(|t| t.name().to_owned()), "UTC"),
        ("[gains] out", g.out.as_deref().map(path_text), "."),
    ] {
        let (v, o) = pick(None, value, default);
        add(key, v, o);
    }
    let (v, o) = pick(
        None,
        file.doctor.rotate_after_days.map(|d| d.to_string()),
        "180",
    );
    add("[doctor] rotate_after_days", v, o);
    let set = file
        .identity
        .fields()
        .iter()
        .filter(|(_, v)| v.is_some())
        .count();
    let (v, o) = match set {
        0 => ("(none set)".to_owned(), Origin::Default),
        n => (
            format!("{} set (values not shown)", crate::text::count(n, "field")),
            from_file(),
        ),
    };
    add("[identity]", v, o);
    let rules = file.classify.rules.len();
    let (v, o) = match rules {
        0 => ("(none)".to_owned(), Origin::Default),
        n => (crate::text::count(n, "rule"), from_file()),
    };
    add("[classify] rules", v, o);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings_and_refuses_secrets() {
        let c = parse(
            "account = \"main\"\n[sync]\ntier = \"pro\"\nkey_file = \"/k\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.account.as_deref(), Some("main"));
        assert_eq!(resolve_tier(None, &c).unwrap(), RateTier::PRO);
        assert_eq!(
            resolve_tier(Some("starter"), &c).unwrap(),
            RateTier::STARTER
        );
        let err = parse("[sync]\napi_secret = \"abc\"\n", Path::new("c.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config file c.toml must not contain the API key or secret; use a key file (mode 0600) or the environment"
        );
        assert!(!err.to_string().contains("abc"));
        assert!(parse("bogus = 1\n", Path::new("c.toml")).is_err());
        let c = parse(
            "[[classify.rules]]\ntype = \"voucher\"\nelement = \"CryptoTransferIn\"\ncode = \"CARF508\"\n[classify.labels]\nQ123 = \"private_wallet\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.classify.rules.len(), 1);
        assert_eq!(
            c.classify.labels["Q123"],
            crate::classify::Counterparty::PrivateWallet
        );
    }

    #[test]
    fn rules_and_identity_are_checked_when_the_config_is_read() {
        let err = |text: &str| parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert_eq!(
            err(
                "[[classify.rules]]\ntype = \"voucher\"\nasset = \"ZEUR\"\nelement = \"CryptoTransferIn\"\ncode = \"CARF508\"\n"
            ),
            "config file c.toml is invalid: [classify] classification rule 1 (type \"voucher\"): asset \"ZEUR\" is a fiat currency and can never be reported as a crypto-asset (CryptoTransferIn): use element NotReportable for it"
        );
        assert_eq!(
            err("[identity]\ntin = \"\\u0000\"\n"),
            "config file c.toml is invalid: [identity] tin contains the character U+0000, which XML 1.0 forbids: remove it"
        );
        assert_eq!(
            err("[identity]\ncountry = \"XX\"\n"),
            "config file c.toml is invalid: [identity] country \"XX\" is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. DE, GB, FR)"
        );
        assert_eq!(
            err("[identity]\nprovider_country = \"Germany\"\n"),
            "config file c.toml is invalid: [identity] provider_country \"Germany\" is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. DE, GB, FR)"
        );
        assert_eq!(
            err("[identity]\nbirth_date = \"1985-02-30\"\n"),
            "config file c.toml is invalid: [identity] birth_date \"1985-02-30\" is not a date YYYY-MM-DD (e.g. 1985-03-15)"
        );
        assert_eq!(
            err("[identity]\ncity = \"  \"\n"),
            "config file c.toml is invalid: [identity] city is empty: fill it in or remove the line"
        );
        assert!(
            err(&format!(
                "[identity]\nlast_name = \"{}\"\n",
                "a".repeat(201)
            ))
            .ends_with("has 201 characters; the CARF schema allows at most 200")
        );
        let ok = parse(
            "[identity]\nfirst_name = \"Zoë\"\ncountry = \"DE\"\nbirth_date = \"1985-03-15\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(ok.identity.country.as_deref(), Some("DE"));
    }

    #[test]
    fn the_readme_example_config_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + 8;
        let end = start + readme[start..].find("```").expect("closed");
        let c = parse(&readme[start..end], Path::new("README.md")).unwrap();
        c.classify.validate().unwrap();
        assert_eq!(c.sync.retry_attempts, Some(8));
        assert_eq!(c.identity.country.as_deref(), Some("GB"));
        assert_eq!(resolve_retry(&c).unwrap().max_attempts, 8);
    }

    fn common() -> Common {
        Common {
            db: PathBuf::from("/tmp/k.sqlite"),
            account: "main".to_owned(),
            quiet: false,
        }
    }

    /// `KRAKEN_API_KEY`/`KRAKEN_API_SECRET` as a test environment.
    fn env_with_key(name: &str) -> Option<String> {
        match name {
            "KRAKEN_API_KEY" => Some("ENVKEY".to_owned()),
            "KRAKEN_API_SECRET" => Some("c2VjcmV0".to_owned()),
            _ => None,
        }
    }

    fn key_file(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("key");
        std::fs::write(&path, "FILEKEY\nc2VjcmV0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn sync_settings_go_defaults_then_file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path());
        // Defaults, credentials from the environment.
        let none = FileConfig::default();
        let p = sync_plan(&common(), &none, SyncFlags::default(), &env_with_key).unwrap();
        assert_eq!(p.api_url.as_str(), "https://api.kraken.com/");
        assert_eq!(p.tier, RateTier::STARTER);
        assert_eq!(p.max_duration, None);
        assert_eq!(p.retry, RetryPolicy::default());
        assert_eq!(p.backfill, BackfillMode::None);
        assert_eq!(p.credentials.origin(), "the environment");
        assert_eq!(
            (p.db.as_path(), p.account.as_str()),
            (Path::new("/tmp/k.sqlite"), "main")
        );
        // The file over the defaults, and its key file over the environment.
        let file = parse(
            &format!(
                "[sync]\napi_url = \"http://127.0.0.1:9\"\ntier = \"pro\"\nmax_duration = \"20m\"\nretry_base = \"2ms\"\nretry_cap = \"1m 30s\"\nretry_attempts = 3\nalert_after = \"2d\"\nkey_file = {:?}\n",
                key.display().to_string()
            ),
            Path::new("c.toml"),
        )
        .unwrap();
        let p = sync_plan(&common(), &file, SyncFlags::default(), &env_with_key).unwrap();
        assert_eq!(p.api_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(p.tier, RateTier::PRO);
        assert_eq!(p.max_duration, Some(Duration::from_secs(1200)));
        assert_eq!(p.retry.base, Duration::from_millis(2));
        assert_eq!(p.retry.cap, Duration::from_secs(90));
        assert_eq!(p.retry.max_attempts, 3);
        assert_eq!(p.alert_after, Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(
            p.credentials.origin(),
            format!("key file {}", key.display())
        );
        // Flags (clap has merged KRAKEN_API_URL and KRAKEN_KEY_FILE into them) over the file.
        let other = dir.path().join("other");
        std::fs::copy(&key, &other).unwrap();
        let flags = SyncFlags {
            key_file: Some(other.clone()),
            api_url: Some("http://localhost:7".to_owned()),
            tier: Some("intermediate".to_owned()),
            max_duration: Some(Duration::from_secs(5)),
            backfill: BackfillMode::Auto,
            alert_after: Some(Duration::from_secs(3600)),
        };
        let p = sync_plan(&common(), &file, flags, &env_with_key).unwrap();
        assert_eq!(p.alert_after, Some(Duration::from_secs(3600)));
        assert_eq!(p.api_url.as_str(), "http://localhost:7/");
        assert_eq!(p.tier, RateTier::INTERMEDIATE);
        assert_eq!(p.max_duration, Some(Duration::from_secs(5)));
        assert_eq!(p.backfill, BackfillMode::Auto);
        assert_eq!(
            p.credentials.origin(),
            format!("key file {}", other.display())
        );
        // No credentials anywhere: the sentence `sync` prints.
        let err = sync_plan(&common(), &none, SyncFlags::default(), &|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no API credentials: set KRAKEN_API_KEY and KRAKEN_API_SECRET, or pass --key-file PATH (two lines: key, secret)"
        );
    }

    #[test]
    fn durations_and_attempts_in_the_file_are_checked_when_it_is_read() {
        let err = parse("[sync]\nretry_base = \"soon\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config file c.toml is invalid: line 2, column 14, [sync] retry_base: invalid value: string \"soon\", expected a duration"
        );
        let zero = parse("[sync]\nretry_attempts = 0\n", Path::new("c.toml")).unwrap();
        assert_eq!(resolve_retry(&zero), Err(RetryConfigError::ZeroAttempts));
        let err = sync_plan(&common(), &zero, SyncFlags::default(), &env_with_key).unwrap_err();
        assert_eq!(err.to_string(), "[sync] retry_attempts must be at least 1");
        assert_eq!(
            parse_duration("20").unwrap_err().to_string(),
            "time unit needed, for example 20sec or 20ms; use e.g. 20m or 1h30m"
        );
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn database_and_account_go_flag_then_file_then_default() {
        let file = parse(
            "db = \"/f.sqlite\"\naccount = \"filed\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let flags = CommonFlags::default();
        let c = resolve_common(&flags, &file).unwrap();
        assert_eq!(
            (c.db.as_path(), c.account.as_str()),
            (Path::new("/f.sqlite"), "filed")
        );
        let flags = CommonFlags {
            db: Some(PathBuf::from("/x.sqlite")),
            account: Some("flagged".to_owned()),
            quiet: true,
        };
        let c = resolve_common(&flags, &file).unwrap();
        assert_eq!(
            (c.db.as_path(), c.account.as_str(), c.quiet),
            (Path::new("/x.sqlite"), "flagged", true)
        );
        let c = resolve_common(
            &CommonFlags {
                db: Some("/d".into()),
                ..Default::default()
            },
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.account, DEFAULT_ACCOUNT);
        let bad = CommonFlags {
            db: Some("/d".into()),
            account: Some("a\tb".to_owned()),
            quiet: false,
        };
        assert_eq!(
            resolve_common(&bad, &file).unwrap_err().to_string(),
            "invalid account name \"a\\tb\": use 1 to 64 printable characters"
        );
    }

    fn export_flags() -> ExportFlags {
        ExportFlags {
            year: 2025,
            currency: Some(ReportCurrency::Gbp),
            out: Some(PathBuf::from("/nonexistent-out")),
            fees: Some(FeeTreatment::Net),
            tz: Some(chrono_tz::UTC),
            formats: Some(vec![ExportFormat::Csv]),
            allow_empty: false,
            strict: false,
            offline: false,
            draft: false,
            api_url: None,
        }
    }

    #[test]
    fn export_settings_come_from_flags_then_the_export_table_then_defaults() {
        let file = parse(
            "[export]\ncurrency = \"usd\"\nfees = \"gross\"\nformat = [\"xml\"]\nout = \"/nonexistent-a\"\ntz = \"America/New_York\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let bare = ExportFlags {
            currency: None,
            out: None,
            fees: None,
            tz: None,
            formats: None,
            offline: true,
            ..export_flags()
        };
        let p = export_plan(&common(), &file, bare.clone()).unwrap();
        assert_eq!(p.currency, ReportCurrency::Usd);
        assert_eq!(p.fees, FeeTreatment::Gross);
        assert_eq!((p.csv, p.xml), (false, true));
        assert_eq!(p.out, PathBuf::from("/nonexistent-a"));
        assert_eq!(p.tz, chrono_tz::America::New_York);
        let p = export_plan(
            &common(),
            &file,
            ExportFlags {
                offline: true,
                ..export_flags()
            },
        )
        .unwrap();
        assert_eq!(p.currency, ReportCurrency::Gbp);
        assert_eq!(p.fees, FeeTreatment::Net);
        assert_eq!((p.csv, p.xml), (true, false));
        assert_eq!(p.out, PathBuf::from("/nonexistent-out"));
        assert_eq!(p.tz, chrono_tz::UTC);
        let empty = FileConfig::default();
        let p = export_plan(
            &common(),
            &empty,
            ExportFlags {
                currency: Some(ReportCurrency::Eur),
                ..bare.clone()
            },
        )
        .unwrap();
        assert_eq!(
            (p.fees, p.csv, p.xml, p.out, p.tz),
            (
                FeeTreatment::Net,
                true,
                true,
                PathBuf::from("."),
                chrono_tz::UTC
            )
        );
        assert!(matches!(
            export_plan(&common(), &empty, bare),
            Err(PlanError::NoCurrency("export"))
        ));
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_name_or_the_list() {
        let err = |text: &str| parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert_eq!(
            err("[sync]\nretry_attemps = 3\n"),
            "config file c.toml is invalid: line 2, column 1, [sync] retry_attemps: unknown key \"retry_attemps\": did you mean \"retry_attempts\"?"
        );
        assert_eq!(
            err("[doctor]\nzzz = 1\n"),
            "config file c.toml is invalid: line 2, column 1, [doctor] zzz: unknown key \"zzz\": valid keys are rotate_after_days"
        );
        assert_eq!(
            err("[gains]\nperiod = \"uk\"\ntz = \"Mars/Olympus\"\n"),
            "config file c.toml is invalid: line 3, column 6, [gains] tz: unknown time zone \"Mars/Olympus\": use an IANA name such as Europe/Berlin, or UTC"
        );
        let ok = parse(
            "[gains]\nperiod = \"uk\"\nmethod = \"UK\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            (ok.gains.period, ok.gains.method),
            (Some(TaxYear::Uk), Some(Method::Uk))
        );
    }

    #[test]
    fn an_export_plan_holds_typed_values_and_its_prices_source() {
        let file = parse(
            "[sync]\napi_url = \"http://127.0.0.1:9\"\n[identity]\nfirst_name = \"Ada\"\nprovider_name = \"P Ltd\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let p = export_plan(&common(), &file, export_flags()).unwrap();
        assert_eq!(p.prices_from.unwrap().as_str(), "http://127.0.0.1:9/");
        assert_eq!((p.csv, p.xml), (true, false));
        assert_eq!(p.bounds, (1_735_689_600_000_000, 1_767_225_600_000_000));
        assert_eq!(p.identity.user_first_name.as_deref(), Some("Ada"));
        assert_eq!(p.identity.rcasp_name.as_deref(), Some("P Ltd"));
        // GBP: Kraken's UK entity, unless the file names the provider.
        let uk = crate::export::xml::XmlIdentity::kraken_uk();
        assert_eq!(p.identity.rcasp_country, uk.rcasp_country);
        let flags = ExportFlags {
            offline: true,
            api_url: Some("not a url".to_owned()),
            ..export_flags()
        };
        assert_eq!(
            export_plan(&common(), &file, flags).unwrap().prices_from,
            None
        );
        let flags = ExportFlags {
            api_url: Some("http://localhost:3".to_owned()),
            ..export_flags()
        };
        let p = export_plan(&common(), &file, flags).unwrap();
        assert_eq!(p.prices_from.unwrap().as_str(), "http://localhost:3/");
        let flags = ExportFlags {
            year: 1969,
            ..export_flags()
        };
        assert_eq!(
            export_plan(&common(), &file, flags)
                .unwrap_err()
                .to_string(),
            "invalid --year 1969: use a year from 1970 to 2100"
        );
    }

    fn gains_flags() -> GainsFlags {
        GainsFlags {
            year: Some(2025),
            currency: Some(ReportCurrency::Eur),
            method: Some(Method::Fifo),
            offline: true,
            out: Some(PathBuf::from("/nonexistent-out")),
            ..GainsFlags::default()
        }
    }

    fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn gains_periods_are_calendar_uk_au_or_a_range() {
        let span = |f: GainsFlags| gains_span(&f).map(|s| (s.start, s.end, s.label));
        assert_eq!(
            span(gains_flags()).unwrap(),
            (
                utc("2025-01-01T00:00:00Z"),
                utc("2026-01-01T00:00:00Z"),
                "2025".to_owned()
            )
        );
        let berlin = GainsFlags {
            tz: Some(chrono_tz::Europe::Berlin),
            ..gains_flags()
        };
        assert_eq!(span(berlin).unwrap().0, utc("2024-12-31T23:00:00Z"));
        // `--method uk` implies the UK tax year: 6 April 2024 to 5 April 2025, London time.
        let uk = GainsFlags {
            method: Some(Method::Uk),
            ..gains_flags()
        };
        assert_eq!(
            span(uk).unwrap(),
            (
                utc("2024-04-05T23:00:00Z"),
                utc("2025-04-05T23:00:00Z"),
                "2025-uk".to_owned()
            )
        );
        let uk_calendar = GainsFlags {
            method: Some(Method::Uk),
            period: Some(TaxYear::Calendar),
            ..gains_flags()
        };
        assert_eq!(span(uk_calendar).unwrap().2, "2025");
        let au = GainsFlags {
            period: Some(TaxYear::Au),
            ..gains_flags()
        };
        assert_eq!(
            span(au).unwrap(),
            (
                utc("2024-06-30T14:00:00Z"),
                utc("2025-06-30T14:00:00Z"),
                "2025-au".to_owned()
            )
        );
        let d = |t: &str| Some(t.parse::<NaiveDate>().unwrap());
        let range = GainsFlags {
            year: None,
            from: d("2025-01-01"),
            to: d("2025-03-31"),
            ..gains_flags()
        };
        assert_eq!(
            span(range).unwrap(),
            (
                utc("2025-01-01T00:00:00Z"),
                utc("2025-04-01T00:00:00Z"),
                "2025-01-01_2025-03-31".to_owned()
            )
        );
        let err = |f: GainsFlags| gains_span(&f).unwrap_err().to_string();
        assert_eq!(
            err(GainsFlags {
                year: None,
                ..gains_flags()
            }),
            "give --year Y (with --period uk|au for a tax year), or --from DATE --to DATE"
        );
        assert_eq!(
            err(GainsFlags {
                from: d("2025-01-01"),
                ..gains_flags()
            }),
            "--from/--to and --year exclude each other: give one"
        );
        assert_eq!(
            err(GainsFlags {
                year: None,
                from: d("2025-01-01"),
                ..gains_flags()
            }),
            "give both --from and --to"
        );
        assert_eq!(
            err(GainsFlags {
                year: None,
                from: d("2025-02-01"),
                to: d("2025-01-01"),
                ..gains_flags()
            }),
            "--to 2025-01-01 is before --from 2025-02-01"
        );
        assert_eq!(
            err(GainsFlags {
                year: None,
                period: Some(TaxYear::Uk),
                ..gains_flags()
            }),
            "--period needs --year Y (the tax year ending in Y)"
        );
        assert_eq!(
            err(GainsFlags {
                year: Some(1969),
                ..gains_flags()
            }),
            "invalid --year 1969: use a year from 1970 to 2100"
        );
    }

    #[test]
    fn a_gains_plan_checks_lots_and_pools_the_accounts_asked_for() {
        let file = FileConfig::default();
        let p = gains_plan(&common(), &file, gains_flags()).unwrap();
        assert_eq!(p.accounts, Accounts::One("main".to_owned()));
        assert_eq!((p.lots, p.prices_from), (LotPick::Fifo, None));
        let us = GainsFlags {
            method: Some(Method::Us),
            lots: Some(LotPick::Hifo),
            all_accounts: true,
            ..gains_flags()
        };
        let p = gains_plan(&common(), &file, us).unwrap();
        assert_eq!((p.accounts, p.lots), (Accounts::All, LotPick::Hifo));
        let lots = GainsFlags {
            lots: Some(LotPick::Hifo),
            ..gains_flags()
        };
        assert_eq!(
            gains_plan(&common(), &file, lots).unwrap_err().to_string(),
            "--lots is for --method us only (the other methods fix their own lot order)"
        );
        let nowhere = GainsFlags {
            currency: None,
            ..gains_flags()
        };
        assert_eq!(
            gains_plan(&common(), &file, nowhere)
                .unwrap_err()
                .to_string(),
            "no reporting currency: pass --currency CCY, or set currency in the [gains] table of the config file"
        );
        let file_out = tempfile::NamedTempFile::new().unwrap();
        let on_a_file = GainsFlags {
            out: Some(file_out.path().to_owned()),
            ..gains_flags()
        };
        assert_eq!(
            gains_plan(&common(), &file, on_a_file)
                .unwrap_err()
                .to_string(),
            format!(
                "--out {} is a file, not a directory: give the directory for the report files",
                file_out.path().display()
            )
        );
    }

    #[test]
    fn gains_settings_come_from_flags_then_the_gains_table_then_defaults() {
        let file = parse(
            "[gains]\ncurrency = \"gbp\"\nmethod = \"uk\"\ntz = \"Europe/Berlin\"\nout = \"/nonexistent-g\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        // Only --year: currency, method (and its UK tax year) and out from the table.
        let year_only = GainsFlags {
            year: Some(2025),
            offline: true,
            ..GainsFlags::default()
        };
        let p = gains_plan(&common(), &file, year_only.clone()).unwrap();
        assert_eq!(
            (p.currency, p.method, p.period.label.as_str(), p.out),
            (
                ReportCurrency::Gbp,
                Method::Uk,
                "2025-uk",
                PathBuf::from("/nonexistent-g")
            )
        );
        // Flags win over the table; the table's tz applies to the calendar year.
        let flagged = GainsFlags {
            currency: Some(ReportCurrency::Usd),
            method: Some(Method::Hifo),
            out: Some(PathBuf::from("/nonexistent-f")),
            ..year_only.clone()
        };
        let p = gains_plan(&common(), &file, flagged).unwrap();
        assert_eq!(
            (p.currency, p.method, p.period.label.as_str(), p.out),
            (
                ReportCurrency::Usd,
                Method::Hifo,
                "2025",
                PathBuf::from("/nonexistent-f")
            )
        );
        assert_eq!(p.period.start, utc("2024-12-31T23:00:00Z"));
        // The table's period applies to --year, never to a --from/--to range.
        let au = parse(
            "[gains]\ncurrency = \"AUD\"\nperiod = \"au\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let p = gains_plan(&common(), &au, year_only.clone()).unwrap();
        assert_eq!(
            (p.period.label.as_str(), p.method),
            ("2025-au", Method::Fifo)
        );
        let d = |t: &str| Some(t.parse::<NaiveDate>().unwrap());
        let range = GainsFlags {
            year: None,
            from: d("2025-02-01"),
            to: d("2025-02-28"),
            ..year_only.clone()
        };
        let p = gains_plan(&common(), &au, range).unwrap();
        assert_eq!(p.period.label, "2025-02-01_2025-02-28");
        // No table: the defaults (fifo, calendar year in UTC, the current directory).
        let p = gains_plan(
            &common(),
            &FileConfig::default(),
            GainsFlags {
                currency: Some(ReportCurrency::Eur),
                ..year_only
            },
        )
        .unwrap();
        assert_eq!(
            (p.method, p.period.label.as_str(), p.period.start, p.out),
            (
                Method::Fifo,
                "2025",
                utc("2025-01-01T00:00:00Z"),
                PathBuf::from(".")
            )
        );
    }

    #[test]
    fn config_errors_keep_the_rule_or_identity_problem_as_their_source() {
        use std::error::Error as _;
        let e = parse("[identity]\ncity = \" \"\n", Path::new("c.toml")).unwrap_err();
        assert!(matches!(
            &e,
            ConfigError::Identity {
                source: IdentityError::Empty { key: "city" },
                ..
            }
        ));
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("[identity] city is empty: fill it in or remove the line")
        );
        // An unknown element is refused while the file is read (rules hold the element type).
        let e = parse(
            "[[classify.rules]]\ntype = \"voucher\"\nelement = \"Bogus\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config file c.toml is invalid: line 3, column 11, [[classify.rules]] element: unknown element \"Bogus\": use one of CryptoFiatIn, CryptoFiatOut, CryptoToCryptoIn, CryptoToCryptoOut, CryptoTransferIn, CryptoTransferOut, TransferWallet, Internal, NotReportable, Unclassified"
        );
        // A rule that reads but cannot be used keeps its problem as the source.
        let e = parse(
            "[[classify.rules]]\ntype = \"voucher\"\nelement = \"CryptoTransferIn\"\ncode = \"CARF601\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        let why = "classification rule 1 (type \"voucher\"): code \"CARF601\" does not fit element CryptoTransferIn (CryptoTransferIn takes CARF5xx, CryptoTransferOut CARF6xx, the four exchange elements CARF4xx, the others none)";
        assert_eq!(
            e.to_string(),
            format!("config file c.toml is invalid: [classify] {why}")
        );
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some(why));
    }
}
