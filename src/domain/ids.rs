//! Validated identifier and code newtypes.

use std::fmt;

/// Why a text could not become an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {text:?}: {reason}")]
pub struct IdError {
    /// Which identifier was being built ("ledger id", "asset code", ...).
    pub kind: &'static str,
    /// The rejected text (identifiers are never secret).
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn validate(kind: &'static str, text: &str) -> Result<(), IdError> {
    let reason = if text.is_empty() {
        "empty"
    } else if text.len() > 64 {
        "longer than 64 characters"
    } else if !text.chars().all(|c| c.is_ascii_graphic()) {
        "contains whitespace or non-ASCII characters"
    } else {
        return Ok(());
    };
    Err(IdError {
        kind,
        text: text.to_owned(),
        reason,
    })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `text` (non-empty, at most 64 printable ASCII characters).
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                validate($kind, &text)?;
                Ok(Self(text))
            }

            /// The identifier as Kraken spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// A ledger entry id such as `L4UESK-KG3EQ-UFO4T5` (the key of Kraken's `ledger` map).
    LedgerId,
    "ledger id"
);
id_type!(
    /// A trade id such as `TBGB6I-IMYKU-WWA2SK` (the key of Kraken's `trades` map).
    TradeId,
    "trade id"
);
id_type!(
    /// The reference id that ties the legs of one event (a trade id, a deposit id, or
    /// Kraken's placeholder `Unknown`, which must never be used to group).
    RefId,
    "refid"
);
id_type!(
    /// A raw Kraken asset code as it appears in the ledger (`XXBT`, `ZEUR`, `DOT.S`, `KFEE`).
    AssetCode,
    "asset code"
);

impl RefId {
    /// True for Kraken's placeholder refid `Unknown`, which ties nothing together.
    pub fn is_placeholder(&self) -> bool {
        self.0 == "Unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kraken_ids_and_rejects_garbage() {
        assert_eq!(
            LedgerId::new("L4UESK-KG3EQ-UFO4T5").unwrap().as_str(),
            "L4UESK-KG3EQ-UFO4T5"
        );
        let err = LedgerId::new("L4 UESK").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ledger id \"L4 UESK\": contains whitespace or non-ASCII characters"
        );
        assert!(AssetCode::new("").is_err());
        assert!(RefId::new("Unknown").unwrap().is_placeholder());
    }
}
