//! API credentials: redacted `Debug`, no `Serialize`, zeroized on drop.
//!
//! The secret is decoded once, kept only as bytes, and never formatted anywhere.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why credentials could not be loaded. Messages never contain the key or the secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Neither the environment nor a key file provided credentials.
    #[error(
        "no API credentials: set KRAKEN_API_KEY and KRAKEN_API_SECRET, or pass --key-file PATH (two lines: key, secret)"
    )]
    Missing,
    /// Only one of the two environment variables is set.
    #[error("{0} is set but {1} is not: set both, or use --key-file")]
    Incomplete(&'static str, &'static str),
    /// The key is empty or has characters Kraken never uses.
    #[error(
        "the API key from {0} is empty or contains spaces: copy the API Key exactly as Kraken shows it"
    )]
    BadKey(String),
    /// The secret is not base64.
    #[error(
        "the API secret from {0} is not valid base64: copy the Private Key exactly as Kraken shows it (it ends with '==')"
    )]
    NotBase64(String),
    /// The key file is readable or writable by other users.
    #[error(
        "refusing key file {path}: its mode is {mode:04o}, readable by others; run `chmod 600 {path}`"
    )]
    KeyFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold exactly a key line and a secret line.
    #[error("key file {0} must hold two lines: the API key, then the API secret")]
    KeyFileFormat(PathBuf),
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    KeyFileIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A Kraken API key pair.
pub struct Credentials {
    key: Zeroizing<String>,
    secret: Zeroizing<Vec<u8>>,
    origin: String,
}

impl Credentials {
    /// Builds credentials from the key and the base64 secret; `origin` names where they came
    /// from (for messages: "the environment", "key file /path").
    pub fn new(key: &str, secret_b64: &str, origin: &str) -> Result<Self, CredentialError> {
        let key = key.trim();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || !c.is_ascii()) {
            return Err(CredentialError::BadKey(origin.to_owned()));
        }
        let secret = STANDARD
            .decode(secret_b64.trim())
            .map_err(|_| CredentialError::NotBase64(origin.to_owned()))?;
        if secret.is_empty() {
            return Err(CredentialError::NotBase64(origin.to_owned()));
        }
        Ok(Self {
            key: Zeroizing::new(key.to_owned()),
            secret: Zeroizing::new(secret),
            origin: origin.to_owned(),
        })
    }

    /// Reads `KRAKEN_API_KEY` and `KRAKEN_API_SECRET` through `lookup` (the environment in
    /// production). `Ok(None)` when neither is set.
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, CredentialError> {
        let key = lookup("KRAKEN_API_KEY").map(Zeroizing::new);
        let secret = lookup("KRAKEN_API_SECRET").map(Zeroizing::new);
        match (key, secret) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(CredentialError::Incomplete(
                "KRAKEN_API_KEY",
                "KRAKEN_API_SECRET",
            )),
            (None, Some(_)) => Err(CredentialError::Incomplete(
                "KRAKEN_API_SECRET",
                "KRAKEN_API_KEY",
            )),
            (Some(k), Some(s)) => Self::new(&k, &s, "the environment").map(Some),
        }
    }

    /// Reads a key file: two lines, key then secret. Refused unless its mode is 0600 or stricter.
    pub fn from_key_file(path: &Path) -> Result<Self, CredentialError> {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| CredentialError::KeyFileIo {
            path: path.to_owned(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialError::KeyFileMode {
                path: path.to_owned(),
                mode,
            });
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let [key, secret] = lines[..] else {
            return Err(CredentialError::KeyFileFormat(path.to_owned()));
        };
        Self::new(key, secret, &format!("key file {}", path.display()))
    }

    /// The public API key, for the `API-Key` header only.
    pub fn api_key(&self) -> &str {
        &self.key
    }

    /// The decoded secret, for signing only.
    pub fn secret_bytes(&self) -> &[u8] {
        &self.secret
    }

    /// Where the credentials came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A stable, non-reversible name for this key: the first 16 hex digits of SHA-256 of the
    /// public key. Stored in the database instead of the key.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.key.as_bytes());
        crate::domain::hex(&digest[..8])
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &"<redacted>")
            .field("secret", &"<redacted>")
            .field("origin", &self.origin)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

    #[test]
    fn debug_never_shows_key_or_secret() {
        let c = Credentials::new("MYPUBLICKEY123", SECRET, "test").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("MYPUBLICKEY123"));
        assert!(!shown.contains("kQH5HW"));
        assert_eq!(c.fingerprint().len(), 16);
        assert!(!c.fingerprint().contains("MYPUBLIC"));
    }

    #[test]
    fn rejects_secret_that_is_not_base64() {
        let err = Credentials::new("KEY", "not base64!!", "the environment").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the API secret from the environment is not valid base64: copy the Private Key exactly as Kraken shows it (it ends with '==')"
        );
    }

    #[test]
    fn env_needs_both_variables() {
        let only_key = |n: &str| (n == "KRAKEN_API_KEY").then(|| "K".to_owned());
        assert!(matches!(
            Credentials::from_env_with(only_key),
            Err(CredentialError::Incomplete(..))
        ));
        assert!(Credentials::from_env_with(|_| None).unwrap().is_none());
    }

    #[test]
    fn key_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kraken.key");
        std::fs::write(&path, format!("KEY\n{SECRET}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::from_key_file(&path).unwrap_err();
        assert!(err.to_string().contains("its mode is 0644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Credentials::from_key_file(&path).unwrap();
        assert_eq!(c.api_key(), "KEY");
        std::fs::write(&path, "only-one-line\n").unwrap();
        assert!(matches!(
            Credentials::from_key_file(&path),
            Err(CredentialError::KeyFileFormat(_))
        ));
    }
}
