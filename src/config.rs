//! Settings resolved in one place: defaults → TOML file → environment → flags.
//!
//! clap already merges flags over environment variables; this module fills what both left
//! unset from the TOML file, then from the defaults.

use crate::domain::RateTier;
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
    pub max_duration: Option<String>,
    /// First retry backoff, e.g. "1s" (doubles per attempt).
    pub retry_base: Option<String>,
    /// Longest retry backoff, e.g. "60s".
    pub retry_cap: Option<String>,
    /// Attempts per call before the run ends with exit 75.
    pub retry_attempts: Option<u32>,
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
    /// The file holds credentials in clear text, which this tool refuses to read from it.
    #[error(
        "config file {0} must not contain the API key or secret; use a key file (mode 0600) or the environment"
    )]
    SecretInConfig(PathBuf),
    /// No home directory to place the default database in.
    #[error("cannot find a data directory for the database; pass --db PATH")]
    NoDataDir,
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
    let config: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    let invalid = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    config
        .classify
        .validate()
        .map_err(|e| invalid(format!("[classify] {e}")))?;
    config.identity.validate().map_err(invalid)?;
    Ok(config)
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
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in self.fields() {
            let Some(v) = value else { continue };
            if let Some(c) = crate::domain::forbidden_xml_char(v) {
                return Err(format!(
                    "[identity] {key} contains the character U+{:04X}, which XML 1.0 forbids: remove it",
                    c as u32
                ));
            }
            let n = v.trim().chars().count();
            if n == 0 {
                return Err(format!(
                    "[identity] {key} is empty: fill it in or remove the line"
                ));
            }
            if n > 200 {
                return Err(format!(
                    "[identity] {key} has {n} characters; the CARF schema allows at most 200"
                ));
            }
            if key.ends_with("country") && !crate::domain::is_iso_country(v.trim()) {
                return Err(format!(
                    "[identity] {key} {v:?} is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. DE, GB, FR)"
                ));
            }
        }
        if let Some(d) = &self.birth_date
            && chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").is_err()
        {
            return Err(format!(
                "[identity] birth_date {d:?} is not a date YYYY-MM-DD (e.g. 1985-03-15)"
            ));
        }
        Ok(())
    }
}

/// The retry policy: the file's `[sync]` settings over the defaults.
pub fn resolve_retry(file: &FileConfig) -> Result<crate::kraken::RetryPolicy, String> {
    let mut policy = crate::kraken::RetryPolicy::default();
    let dur = |name: &str, text: &str| {
        humantime::parse_duration(text)
            .map_err(|e| format!("invalid [sync] {name} {text:?} in the config file: {e}"))
    };
    if let Some(t) = &file.sync.retry_base {
        policy.base = dur("retry_base", t)?;
    }
    if let Some(t) = &file.sync.retry_cap {
        policy.cap = dur("retry_cap", t)?;
    }
    if let Some(n) = file.sync.retry_attempts {
        if n == 0 {
            return Err("[sync] retry_attempts must be at least 1".to_owned());
        }
        policy.max_attempts = n;
    }
    Ok(policy)
}

/// Resolves the tier: flag, then file, then Starter.
pub fn resolve_tier(
    flag: Option<&str>,
    file: &FileConfig,
) -> Result<RateTier, crate::domain::TierError> {
    match flag.or(file.sync.tier.as_deref()) {
        Some(t) => t.parse(),
        None => Ok(RateTier::STARTER),
    }
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
}
