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

/// Read by name (`"CryptoTransferIn"`), as config rules write it; any other name is refused
/// with the list of names.
impl<'de> serde::Deserialize<'de> for Element {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Element::parse(&name).ok_or_else(|| {
            let names: Vec<&str> = Element::ALL.iter().map(|e| e.as_str()).collect();
            serde::de::Error::custom(format!(
                "unknown element {name:?}: use one of {}",
                names.join(", ")
            ))
        })
    }
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

/// ISO 3166-1 alpha-2 codes of `iso:CountryCode_Type` (isocarftypes v1.1), sorted.
pub const ISO_COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// ISO 4217 codes of `iso:currCode_Type` (isocarftypes v1.1), sorted.
pub const ISO_CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BYR",
    "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP",
    "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF",
    "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LTL", "LVL", "LYD",
    "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRO", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG",
    "SEK", "SGD", "SHP", "SLL", "SOS", "SRD", "SSP", "STD", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "USS",
    "UYI", "UYU", "UYW", "UZS", "VEF", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA",
    "XBB", "XBC", "XBD", "XCD", "XDR", "XFU", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "XXX",
    "YER", "ZAR", "ZMW", "ZWL",
];

/// True when `code` is in the CARF schema's country code list.
pub fn is_iso_country(code: &str) -> bool {
    ISO_COUNTRIES.binary_search(&code).is_ok()
}

/// True when `code` is in the CARF schema's currency code list.
pub fn is_iso_currency(code: &str) -> bool {
    ISO_CURRENCIES.binary_search(&code).is_ok()
}

/// The first character XML 1.0 forbids in `text` (control characters other than tab, line
/// feed and carriage return, surrogates, U+FFFE and U+FFFF), if any.
pub fn forbidden_xml_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        !matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_and_xml_characters() {
        assert!(is_iso_country("DE") && is_iso_country("XK") && is_iso_country("GB"));
        assert!(!is_iso_country("XX") && !is_iso_country("de") && !is_iso_country("UK"));
        assert_eq!(ISO_COUNTRIES.len(), 250);
        assert!(is_iso_currency("EUR") && !is_iso_currency("XBT"));
        assert_eq!(forbidden_xml_char("Ada\tLovelace\n"), None);
        assert_eq!(forbidden_xml_char("a\u{0}b"), Some('\u{0}'));
        assert_eq!(forbidden_xml_char("\u{1b}[31m"), Some('\u{1b}'));
        assert_eq!(forbidden_xml_char("\u{FFFE}"), Some('\u{FFFE}'));
        assert_eq!(forbidden_xml_char("😀 ü"), None);
    }
}
