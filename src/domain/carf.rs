//! CARF elements and codes (names exactly as in the CARF XML schema v1.5), plus the tool's own
//! non-reported categories, so that every ledger leg gets exactly one classification.

use std::fmt;

/// What a leg counts as in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// Acquisition of the asset against fiat.
    CryptoFiatIn,
    /// Disposal of the asset against fiat.
    CryptoFiatOut,
    /// Acquisition against another crypto-asset.
    CryptoToCryptoIn,
    /// Disposal against another crypto-asset.
    CryptoToCryptoOut,
    /// Other transfer to the user.
    CryptoTransferIn,
    /// Other transfer by the user.
    CryptoTransferOut,
    /// Transfer to a wallet not known to belong to a provider (also a `CryptoTransferOut`).
    TransferWallet,
    /// A move between the user's own wallets: listed, not reported.
    Internal,
    /// Not reportable (fiat movements, fee credits): listed with the reason.
    NotReportable,
    /// Not classified automatically: listed with a warning; a config rule can map it.
    Unclassified,
}

impl Element {
    /// Every element, in carf.md's table order (the sort order of the summary).
    pub const ALL: [Element; 10] = [
        Element::CryptoFiatIn,
        Element::CryptoFiatOut,
        Element::CryptoToCryptoIn,
        Element::CryptoToCryptoOut,
        Element::CryptoTransferIn,
        Element::CryptoTransferOut,
        Element::TransferWallet,
        Element::Internal,
        Element::NotReportable,
        Element::Unclassified,
    ];

    /// The name as written in reports and the XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Element::CryptoFiatIn => "CryptoFiatIn",
            Element::CryptoFiatOut => "CryptoFiatOut",
            Element::CryptoToCryptoIn => "CryptoToCryptoIn",
            Element::CryptoToCryptoOut => "CryptoToCryptoOut",
            Element::CryptoTransferIn => "CryptoTransferIn",
            Element::CryptoTransferOut => "CryptoTransferOut",
            Element::TransferWallet => "TransferWallet",
            Element::Internal => "Internal",
            Element::NotReportable => "NotReportable",
            Element::Unclassified => "Unclassified",
        }
    }

    /// Parses [`Element::as_str`].
    pub fn parse(s: &str) -> Option<Element> {
        Element::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// True for the elements that appear in CARF reports.
    pub fn is_reportable(self) -> bool {
        !matches!(
            self,
            Element::Internal | Element::NotReportable | Element::Unclassified
        )
    }

    /// True for acquisitions and disposals (valued at the exchange's price).
    pub fn is_exchange(self) -> bool {
        matches!(
            self,
            Element::CryptoFiatIn
                | Element::CryptoFiatOut
                | Element::CryptoToCryptoIn
                | Element::CryptoToCryptoOut
        )
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CARF type codes with their labels: `TransferType` in (CARF50x) and out (CARF60x),
/// `ExchangeType` (CARF40x).
pub const TYPE_CODES: &[(&str, &str)] = &[
    ("CARF401", "Staking"),
    ("CARF402", "Crypto Loan"),
    ("CARF403", "Wrapping"),
    ("CARF404", "Collateral"),
    ("CARF501", "Airdrop"),
    ("CARF502", "Staking income"),
    ("CARF503", "Mining income"),
    ("CARF504", "Crypto loan"),
    ("CARF505", "Transfer from another provider"),
    ("CARF506", "Sale of goods or services"),
    ("CARF507", "Collateral"),
    ("CARF508", "Other"),
    ("CARF509", "Unknown"),
    ("CARF601", "Transfer to another provider"),
    ("CARF602", "Crypto loan"),
    ("CARF603", "Purchase of goods or services"),
    ("CARF604", "Collateral"),
    ("CARF605", "Other"),
    ("CARF606", "Unknown"),
];

/// The label of a type code (`CARF502` → `Staking income`).
pub fn type_label(code: &str) -> Option<&'static str> {
    TYPE_CODES.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

/// The classification of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The element.
    pub element: Element,
    /// The type code, where the element takes one (`CARF502`).
    pub type_code: Option<&'static str>,
    /// Why: the rule that matched, or the reason it is not reportable / unclassified.
    pub note: String,
}

impl Classification {
    /// A classification without a type code.
    pub fn new(element: Element, note: impl Into<String>) -> Self {
        Self {
            element,
            type_code: None,
            note: note.into(),
        }
    }

    /// A classification with a type code.
    pub fn with_code(element: Element, code: &'static str, note: impl Into<String>) -> Self {
        Self {
            element,
            type_code: Some(code),
            note: note.into(),
        }
    }
}
