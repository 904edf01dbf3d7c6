//! `carf-Y-CCY.xml`: the summary's figures as an OECD CARF XML Schema v1.5 message.
//!
//! Element names, nesting and order follow `CARFXML_v1.5.xsd` (namespace `urn:oecd:ties:carf:v1`)
//! with `DocSpec` from `oecdcarftypes_v5.0.xsd` (`urn:oecd:ties:carfstf:v5`). The XSD itself was
//! not at hand; the structure below was read from a model generated from it (xsdata, module
//! `carfxml_v1_5`) and from the published `oecdcarftypes_v5.0.xsd`:
//!
//! ```text
//! CARF_OECD @version
//!   MessageSpec: SendingEntityIN? TransmittingCountry ReceivingCountry MessageType Warning?
//!                Contact? MessageRefId MessageTypeIndic ReportingPeriod Timestamp
//!   CARFBody
//!     RCASP: RCASP_ID(Entity: ResCountryCode TIN Name Address) Nexus? DocSpec
//!     CryptoUsers*: UserID(Individual: ResCountryCode TIN Name Address BirthInfo)
//!                   RelevantTransactions+ DocSpec
//!       RelevantTransactions: CryptoAsset CryptoToCryptoIn* CryptoToCryptoOut* CryptoFiatIn*
//!                             CryptoFiatOut* CryptoTransferIn* CryptoTransferOut*
//!                             TransferWallet* RRPT*
//!         exchange elements: ExchangeType? NumberofTransactions Amount NumberofUnits
//!         transfer elements: TransferType NumberofTransactions Amount NumberofUnits AltValuation?
//!         TransferWallet:    Amount NumberofUnits AltValuation?
//! ```
//!
//! Note the schema's spelling `NumberofTransactions` / `NumberofUnits` (lower-case "of") and its
//! element order inside `RelevantTransactions` (crypto-to-crypto first), which differs from the
//! summary's sort order (carf.md's table); the writer reorders.
//!
//! The file is the user's own reconstruction, never a provider's filing: the `Warning` element
//! says so, and provider details not taken from the user's settings are marked as defaults.
//! A file is valid against the schema or not written: what it would need (the user's identity,
//! a value for every group) is an error listing it ([`missing`], [`XmlError::Missing`]),
//! unless a draft is asked for, which writes clearly marked placeholders instead (`Warning`
//! starting with `DRAFT`). Text XML 1.0 cannot carry is refused.

use super::rows::{FeeTreatment, SummaryRow};
use crate::domain::{Element, TYPE_CODES};
use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer, XmlVersion};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;

/// The CARF namespace (default namespace of the file).
pub const CARF_NS: &str = "urn:oecd:ties:carf:v1";
/// The CARF STF types namespace (`stf:`), holding `DocSpec`'s children.
pub const STF_NS: &str = "urn:oecd:ties:carfstf:v5";
/// The CARF ISO types namespace (`iso:`), declared as the schema's instances do.
pub const ISO_NS: &str = "urn:oecd:ties:isocarftypes:v1";
/// The schema version written in `CARF_OECD/@version`.
pub const SCHEMA_VERSION: &str = "1.5";
/// Start of every text standing in for identity data the user has not configured.
pub const PLACEHOLDER: &str = "PLACEHOLDER";
/// Appended to provider details that are the tool's defaults, not the user's settings.
pub const DEFAULT_MARK: &str = "[kraken-tax default]";
/// Country code written where none is configured: not an ISO code, so a validator flags it.
pub const PLACEHOLDER_COUNTRY: &str = "XX";

/// Order of the elements inside `RelevantTransactions_Type` in the schema.
const SCHEMA_ORDER: [Element; 7] = [
    Element::CryptoToCryptoIn,
    Element::CryptoToCryptoOut,
    Element::CryptoFiatIn,
    Element::CryptoFiatOut,
    Element::CryptoTransferIn,
    Element::CryptoTransferOut,
    Element::TransferWallet,
];

/// The XML could not be written, or read back.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Writing failed.
    #[error("cannot write the CARF XML")]
    Io(#[from] std::io::Error),
    /// The data does not fit the schema (a bug upstream or a bad setting).
    #[error("cannot express in CARF XML: {0}")]
    Invalid(String),
    /// A file being read back is not well-formed or not shaped as this module writes it.
    #[error("cannot read the CARF XML: {0}")]
    Parse(String),
    /// Values the schema requires are missing: no valid file can be written (a draft can).
    #[error("the CARF XML needs what is missing: {}", .0.join("; "))]
    Missing(Vec<String>),
}

/// Who reports and who is reported on. Every field may be missing: missing provider details
/// fall back to placeholders, missing user details are written as marked placeholders (and
/// listed by [`XmlIdentity::missing_user_fields`]) so the file stays complete but can't be
/// mistaken for real data. Country codes are ISO 3166-1 alpha-2, dates `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlIdentity {
    /// Reporting provider (RCASP): legal name.
    pub rcasp_name: Option<String>,
    /// Reporting provider: tax identification number.
    pub rcasp_tin: Option<String>,
    /// Reporting provider: country of residence (also the TIN's issuer and the address' country).
    pub rcasp_country: Option<String>,
    /// Reporting provider: street and number.
    pub rcasp_street: Option<String>,
    /// Reporting provider: post code.
    pub rcasp_post_code: Option<String>,
    /// Reporting provider: city.
    pub rcasp_city: Option<String>,
    /// User: first name.
    pub user_first_name: Option<String>,
    /// User: last name.
    pub user_last_name: Option<String>,
    /// User: tax identification number.
    pub user_tin: Option<String>,
    /// User: country of tax residence (also the TIN's issuer and the address' country).
    pub user_country: Option<String>,
    /// User: street and number.
    pub user_street: Option<String>,
    /// User: post code.
    pub user_post_code: Option<String>,
    /// User: city.
    pub user_city: Option<String>,
    /// User: date of birth, `YYYY-MM-DD`.
    pub user_birth_date: Option<String>,
    /// User: city of birth.
    pub user_birth_city: Option<String>,
    /// User: country of birth.
    pub user_birth_country: Option<String>,
    /// `MessageSpec/TransmittingCountry`; default: the provider's country.
    pub transmitting_country: Option<String>,
    /// `MessageSpec/ReceivingCountry`; default: the transmitting country (a provider reports
    /// to its own tax administration, which forwards to the user's).
    pub receiving_country: Option<String>,
}

impl Default for XmlIdentity {
    /// Kraken's EU operating entity as provider, no user details.
    fn default() -> Self {
        Self::kraken_eu()
    }
}

impl XmlIdentity {
    /// No details at all: everything becomes a placeholder.
    pub fn empty() -> Self {
        Self {
            rcasp_name: None,
            rcasp_tin: None,
            rcasp_country: None,
            rcasp_street: None,
            rcasp_post_code: None,
            rcasp_city: None,
            user_first_name: None,
            user_last_name: None,
            user_tin: None,
            user_country: None,
            user_street: None,
            user_post_code: None,
            user_city: None,
            user_birth_date: None,
            user_birth_city: None,
            user_birth_country: None,
            transmitting_country: None,
            receiving_country: None,
        }
    }

    /// Provider defaults for Kraken's EU entity (Payward Europe Solutions Ltd., Ireland), marked
    /// with [`DEFAULT_MARK`]. Only what is public and stable: no street, no TIN (written as
    /// unknown).
    pub fn kraken_eu() -> Self {
        Self {
            rcasp_name: Some(format!("Payward Europe Solutions Ltd. {DEFAULT_MARK}")),
            rcasp_country: Some("IE".to_owned()),
            rcasp_city: Some("Dublin".to_owned()),
            ..Self::empty()
        }
    }

    /// Provider defaults for Kraken's UK entity (Payward Ltd., United Kingdom), marked with
    /// [`DEFAULT_MARK`].
    pub fn kraken_uk() -> Self {
        Self {
            rcasp_name: Some(format!("Payward Ltd. {DEFAULT_MARK}")),
            rcasp_country: Some("GB".to_owned()),
            rcasp_city: Some("London".to_owned()),
            ..Self::empty()
        }
    }

    /// The likelier Kraken entity for a reporting currency: the UK one for GBP, else the EU one.
    pub fn kraken_for_currency(currency: &str) -> Self {
        if currency.eq_ignore_ascii_case("GBP") {
            Self::kraken_uk()
        } else {
            Self::kraken_eu()
        }
    }

    /// True when the provider's name is one of the tool's defaults.
    pub fn rcasp_is_default(&self) -> bool {
        given(&self.rcasp_name).is_some_and(|n| n.contains(DEFAULT_MARK))
    }

    /// The provider details the schema needs that are missing (setting names).
    pub fn missing_rcasp_fields(&self) -> Vec<&'static str> {
        [
            ("rcasp_name", &self.rcasp_name),
            ("rcasp_country", &self.rcasp_country),
            ("rcasp_city", &self.rcasp_city),
        ]
        .into_iter()
        .filter(|(_, v)| blank(v))
        .map(|(k, _)| k)
        .collect()
    }

    /// The user details the schema needs that are not configured (setting names).
    pub fn missing_user_fields(&self) -> Vec<&'static str> {
        [
            ("user_first_name", &self.user_first_name),
            ("user_last_name", &self.user_last_name),
            ("user_tin", &self.user_tin),
            ("user_country", &self.user_country),
            ("user_city", &self.user_city),
            ("user_birth_date", &self.user_birth_date),
        ]
        .into_iter()
        .filter(|(_, v)| blank(v))
        .map(|(k, _)| k)
        .collect()
    }

    /// `MessageSpec/TransmittingCountry` as written.
    pub fn transmitting(&self) -> &str {
        given(&self.transmitting_country)
            .or(given(&self.rcasp_country))
            .unwrap_or(PLACEHOLDER_COUNTRY)
    }

    /// `MessageSpec/ReceivingCountry` as written.
    pub fn receiving(&self) -> &str {
        given(&self.receiving_country).unwrap_or(self.transmitting())
    }

    fn check(&self) -> Result<(), XmlError> {
        let countries = [
            ("rcasp_country", &self.rcasp_country),
            ("user_country", &self.user_country),
            ("user_birth_country", &self.user_birth_country),
            ("transmitting_country", &self.transmitting_country),
            ("receiving_country", &self.receiving_country),
        ];
        for (key, v) in countries {
            if let Some(c) = given(v)
                && !crate::domain::is_iso_country(c)
            {
                return Err(XmlError::Invalid(format!(
                    "{key} {c:?} is not an ISO 3166 two-letter country code"
                )));
            }
        }
        if let Some(d) = given(&self.user_birth_date)
            && NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
        {
            return Err(XmlError::Invalid(format!(
                "user_birth_date {d:?} is not a date YYYY-MM-DD"
            )));
        }
        Ok(())
    }
}

/// Refuses text XML 1.0 cannot carry (a NUL from the config or the data would make a file no
/// parser reads), naming where it came from.
fn check_characters(report: &XmlReport<'_>) -> Result<(), XmlError> {
    let id = report.identity;
    let bad = |what: &str, text: &str| match crate::domain::forbidden_xml_char(text) {
        Some(c) => Err(XmlError::Invalid(format!(
            "{what} contains the character U+{:04X}, which XML 1.0 forbids",
            c as u32
        ))),
        None => Ok(()),
    };
    for (key, v) in [
        ("rcasp_name", &id.rcasp_name),
        ("rcasp_tin", &id.rcasp_tin),
        ("rcasp_country", &id.rcasp_country),
        ("rcasp_street", &id.rcasp_street),
        ("rcasp_post_code", &id.rcasp_post_code),
        ("rcasp_city", &id.rcasp_city),
        ("user_first_name", &id.user_first_name),
        ("user_last_name", &id.user_last_name),
        ("user_tin", &id.user_tin),
        ("user_country", &id.user_country),
        ("user_street", &id.user_street),
        ("user_post_code", &id.user_post_code),
        ("user_city", &id.user_city),
        ("user_birth_date", &id.user_birth_date),
        ("user_birth_city", &id.user_birth_city),
        ("user_birth_country", &id.user_birth_country),
    ] {
        if let Some(text) = v {
            bad(&format!("identity setting {key}"), text)?;
        }
    }
    bad("the account name", report.account)?;
    bad("the MessageRefId", &report.message_ref_id)?;
    for r in report.rows {
        bad(&format!("asset code {:?}", r.crypto_asset), &r.crypto_asset)?;
        bad(
            &format!("the name of asset {:?}", r.crypto_asset),
            &r.asset_name,
        )?;
    }
    Ok(())
}

fn blank(v: &Option<String>) -> bool {
    given(v).is_none()
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Everything one XML file says.
#[derive(Debug, Clone)]
pub struct XmlReport<'a> {
    /// The calendar year reported.
    pub year: i32,
    /// Reporting currency (ISO 4217), the `currCode` of every `Amount`.
    pub currency: &'a str,
    /// The account's name (in the `Warning`, and part of the `DocRefId`s).
    pub account: &'a str,
    /// Fee treatment of the amounts.
    pub fees: FeeTreatment,
    /// The summary rows (reportable elements only); none makes a nil report (`CARF703`).
    pub rows: &'a [SummaryRow],
    /// Provider and user identity.
    pub identity: &'a XmlIdentity,
    /// `MessageSpec/Timestamp`: when the file was made.
    pub timestamp: DateTime<Utc>,
    /// `MessageSpec/MessageRefId`: unique per export (see [`message_ref_id`]).
    pub message_ref_id: String,
    /// A draft: missing values become marked placeholders (the file is then not valid against
    /// the schema, and says so); otherwise missing values are an error ([`XmlError::Missing`]).
    pub draft: bool,
}

/// What a valid file would still need, in the words of the settings and commands that supply
/// it: the user's identity (`[identity]` keys), and a value for every group that has none.
pub fn missing(report: &XmlReport<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let id = report.identity;
    if !report.rows.is_empty() {
        let keys: Vec<String> = id
            .missing_user_fields()
            .iter()
            .map(|k| format!("[identity] {}", k.trim_start_matches("user_")))
            .collect();
        if !keys.is_empty() {
            out.push(format!(
                "the user's {} (set {} in the config file)",
                keys.join(", "),
                if keys.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    let provider: Vec<String> = id
        .missing_rcasp_fields()
        .iter()
        .map(|k| format!("[identity] {}", k.replace("rcasp_", "provider_")))
        .collect();
    if !provider.is_empty() {
        out.push(format!(
            "the provider's {} (set them in the config file)",
            provider.join(", ")
        ));
    }
    // One item for every group without a value, so a year of unpriced legs is one sentence.
    let groups: Vec<String> = report
        .rows
        .iter()
        .filter(|r| r.is_fully_unpriced())
        .map(|r| {
            format!(
                "{} {}{} ({} transaction{} without a price)",
                r.crypto_asset,
                r.element,
                r.type_code
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default(),
                r.unpriced_transactions,
                if r.unpriced_transactions == 1 {
                    ""
                } else {
                    "s"
                }
            )
        })
        .collect();
    if !groups.is_empty() {
        out.push(format!(
            "a value in {} for {}: import a price table with `kraken-tax prices import`, or export without --offline",
            report.currency,
            groups.join(", ")
        ));
    }
    out
}

/// A fresh `MessageRefId`: transmitting country, year and receiving country first (the OECD
/// schemes' recommended start), then the time and 64 random bits, so two exports never share one.
pub fn message_ref_id(identity: &XmlIdentity, year: i32, now: DateTime<Utc>) -> String {
    format!(
        "{}{year}{}-KT-{}-{:016x}",
        identity.transmitting(),
        identity.receiving(),
        now.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u64>()
    )
}

/// The `DocRefId` of one document (`part`: `RCASP` or `USER`) of a file: the file's
/// `MessageRefId` (unique per file written: time and 64 random bits) and the part, so every
/// document of every file has its own id (the schema allows 200 characters; a `MessageRefId`
/// has at most 170).
pub fn doc_ref_id(message_ref_id: &str, part: &str) -> String {
    format!("{message_ref_id}-{part}")
}

/// The `CryptoAsset` text of an asset: CARF asks for the full name; the code is added so the
/// text stays unambiguous and ties back to the CSV files (`Bitcoin (BTC)`, or just `XYZ`).
pub fn crypto_asset_text(code: &str, name: &str) -> String {
    let name = name.trim();
    if name.is_empty() || name == code {
        code.to_owned()
    } else {
        format!("{name} ({code})")
    }
}

/// The asset code in a `CryptoAsset` text written by [`crypto_asset_text`].
fn asset_code(text: &str) -> &str {
    text.strip_suffix(')')
        .and_then(|t| t.rsplit_once(" ("))
        .map_or(text, |(_, code)| code)
}

/// One asset's `RelevantTransactions`, rows in schema order.
struct AssetBlock<'r> {
    text: String,
    rows: Vec<&'r SummaryRow>,
}

fn schema_rank(e: Element) -> Option<usize> {
    SCHEMA_ORDER.iter().position(|x| *x == e)
}

fn code_in(code: &str, prefix: &str) -> bool {
    code.starts_with(prefix) && TYPE_CODES.iter().any(|(c, _)| *c == code)
}

fn check_row(r: &SummaryRow) -> Result<(), XmlError> {
    let what = || format!("{} {}", r.crypto_asset, r.element);
    if r.crypto_asset.trim().is_empty() {
        return Err(XmlError::Invalid("a summary row has no asset".to_owned()));
    }
    if crypto_asset_text(&r.crypto_asset, &r.asset_name)
        .chars()
        .count()
        > 200
    {
        return Err(XmlError::Invalid(format!(
            "asset {:?}: its CryptoAsset text is longer than the schema's 200 characters",
            r.crypto_asset
        )));
    }
    if schema_rank(r.element).is_none() {
        return Err(XmlError::Invalid(format!(
            "{} is not a CARF element",
            what()
        )));
    }
    let code = r.type_code.as_deref();
    let ok = match r.element {
        Element::CryptoTransferIn => code.is_some_and(|c| code_in(c, "CARF5")),
        Element::CryptoTransferOut => code.is_some_and(|c| code_in(c, "CARF6")),
        Element::TransferWallet => code.is_none(),
        _ => code.is_none_or(|c| code_in(c, "CARF4")),
    };
    if !ok {
        return Err(XmlError::Invalid(format!(
            "{}: type code {code:?} does not fit the element",
            what()
        )));
    }
    if r.element != Element::TransferWallet && r.number_of_transactions.is_none() {
        return Err(XmlError::Invalid(format!(
            "{}: no number of transactions",
            what()
        )));
    }
    if let Some(a) = r.alt_valuation {
        let fits = !r.element.is_exchange()
            && ["CARF1001", "CARF1002", "CARF1003", "CARF1004"].contains(&a);
        if !fits {
            return Err(XmlError::Invalid(format!(
                "{}: AltValuation {a:?} does not fit the element",
                what()
            )));
        }
    }
    Ok(())
}

/// Groups the rows by asset (sorted by code) and orders each group as the schema does.
fn plan(rows: &[SummaryRow]) -> Result<Vec<AssetBlock<'_>>, XmlError> {
    let mut by_asset: BTreeMap<&str, Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        check_row(r)?;
        by_asset.entry(r.crypto_asset.as_str()).or_default().push(r);
    }
    Ok(by_asset
        .into_iter()
        .map(|(code, mut rows)| {
            // Stable sort: rows of one (element, code) keep their order.
            rows.sort_by(|a, b| {
                (schema_rank(a.element), &a.type_code).cmp(&(schema_rank(b.element), &b.type_code))
            });
            AssetBlock {
                text: crypto_asset_text(code, &rows[0].asset_name),
                rows,
            }
        })
        .collect())
}

/// Thin layer over quick-xml's writer: every name and text goes through it, so escaping is
/// quick-xml's and never hand-made.
struct Out<W: Write> {
    w: Writer<W>,
}

impl<W: Write> Out<W> {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        self.w.write_event(Event::Start(
            BytesStart::new(name).with_attributes(attrs.iter().copied()),
        ))
    }

    fn end(&mut self, name: &str) -> std::io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> std::io::Result<()> {
        let el = BytesStart::new(name).with_attributes(attrs.iter().copied());
        if text.is_empty() {
            return self.w.write_event(Event::Empty(el));
        }
        self.w.write_event(Event::Start(el))?;
        // Only `<`, `>` and `&` need escaping in text; quotes stay readable.
        self.w
            .write_event(Event::Text(BytesText::from_escaped(partial_escape(text))))?;
        self.end(name)
    }

    /// A comment; only the tool's own fixed wording goes here, never user text.
    fn comment(&mut self, text: &str) -> std::io::Result<()> {
        let safe = text.replace("--", "- -");
        self.w
            .write_event(Event::Comment(BytesText::from_escaped(format!(" {safe} "))))
    }
}

fn or_placeholder<'s>(v: &'s Option<String>, what: &str) -> std::borrow::Cow<'s, str> {
    match given(v) {
        Some(s) => s.into(),
        None => format!("{PLACEHOLDER}: {what} not configured").into(),
    }
}

fn country(v: &Option<String>) -> &str {
    given(v).unwrap_or(PLACEHOLDER_COUNTRY)
}

fn write_tin<W: Write>(
    out: &mut Out<W>,
    tin: &Option<String>,
    issuer: &Option<String>,
) -> std::io::Result<()> {
    match (given(tin), given(issuer)) {
        (Some(t), Some(c)) => out.text("TIN", &[("issuedBy", c)], t),
        (Some(t), None) => out.text("TIN", &[], t),
        // The schema's own way of saying "no TIN known": an empty TIN with unknown="true".
        (None, _) => out.text("TIN", &[("unknown", "true")], ""),
    }
}

fn write_address<W: Write>(
    out: &mut Out<W>,
    country_code: &str,
    street: &Option<String>,
    post_code: &Option<String>,
    city: &str,
) -> std::io::Result<()> {
    out.start("Address", &[])?;
    out.text("CountryCode", &[], country_code)?;
    out.start("AddressFix", &[])?;
    if let Some(s) = given(street) {
        out.text("Street", &[], s)?;
    }
    if let Some(p) = given(post_code) {
        out.text("PostCode", &[], p)?;
    }
    out.text("City", &[], city)?;
    out.end("AddressFix")?;
    out.end("Address")
}

fn write_doc_spec<W: Write>(out: &mut Out<W>, doc_ref_id: &str) -> std::io::Result<()> {
    out.start("DocSpec", &[])?;
    // OECD1 (new data) also for the provider block of a nil report, as in CRS nil reports.
    out.text("stf:DocTypeIndic", &[], "OECD1")?;
    out.text("stf:DocRefId", &[], doc_ref_id)?;
    out.end("DocSpec")
}

fn warning_text(report: &XmlReport<'_>) -> String {
    let account: String = report.account.chars().take(200).collect();
    let mut w = format!(
        "Not a filing by a Reporting Crypto-Asset Service Provider: this file is the crypto-asset \
         user's own reconstruction of CARF figures from the history of their Kraken account \
         \"{account}\", made with kraken-tax {}, for information and reconciliation only. \
         Amounts in {} with fees {}.",
        env!("CARGO_PKG_VERSION"),
        report.currency,
        match report.fees {
            FeeTreatment::Net => "net (acquisitions excluding fees, disposals after fees)",
            FeeTreatment::Gross => "gross (acquisitions including fees, disposals before fees)",
        },
    );
    if report.identity.rcasp_is_default() {
        w.push_str(&format!(
            " Provider details are kraken-tax defaults marked {DEFAULT_MARK}, not confirmed."
        ));
    }
    let missing = report.identity.missing_rcasp_fields();
    if !missing.is_empty() {
        w.push_str(&format!(
            " Provider details missing ({}): {PLACEHOLDER} texts and {PLACEHOLDER_COUNTRY} country \
             codes stand in for them.",
            missing.join(", ")
        ));
    }
    let missing = report.identity.missing_user_fields();
    if !report.rows.is_empty() && !missing.is_empty() {
        w.push_str(&format!(
            " User identity incomplete ({}): {PLACEHOLDER} texts, {PLACEHOLDER_COUNTRY} country \
             codes and unknown TINs stand in for it.",
            missing.join(", ")
        ));
    }
    let unpriced: u64 = report.rows.iter().map(|r| r.unpriced_transactions).sum();
    if unpriced > 0 {
        w.push_str(&format!(
            " Transactions without a value in {}: {unpriced} (counted, not in the amounts):",
            report.currency
        ));
        for r in report.rows.iter().filter(|r| r.unpriced_transactions > 0) {
            w.push_str(&format!(
                " {} {}{}: {} of {};",
                r.crypto_asset,
                r.element,
                r.type_code
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default(),
                r.unpriced_transactions,
                r.number_of_transactions
                    .map_or_else(|| "its transfers".to_owned(), |n| n.to_string()),
            ));
        }
        w.pop();
        w.push('.');
    }
    if report.draft {
        w.insert_str(
            0,
            &format!(
                "DRAFT, not valid for filing: {PLACEHOLDER} texts, {PLACEHOLDER_COUNTRY} country codes and empty amounts mark what is missing. "
            ),
        );
    }
    // Warning is StringMin1Max4000_Type.
    w.chars().take(4000).collect()
}

/// Writes the CARF XML of `report` to `out`. No rows make a nil report (`CARF703`, provider
/// block only). Rows with an element or code the schema can't carry are an error, not skipped,
/// so the file never silently differs from the summary.
pub fn write_carf_xml<W: Write>(report: &XmlReport<'_>, out: W) -> Result<(), XmlError> {
    let c = report.currency;
    if !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(XmlError::Invalid(format!(
            "currency {c:?} is not an ISO 4217 code"
        )));
    }
    if report.message_ref_id.is_empty() || report.message_ref_id.chars().count() > 170 {
        return Err(XmlError::Invalid(
            "MessageRefId must have 1 to 170 characters".to_owned(),
        ));
    }
    let id = report.identity;
    id.check()?;
    let blocks = plan(report.rows)?;
    check_characters(report)?;
    if !report.draft {
        let missing = missing(report);
        if !missing.is_empty() {
            return Err(XmlError::Missing(missing));
        }
    }
    let mut o = Out {
        w: Writer::new_with_indent(out, b' ', 2),
    };
    write_document(&mut o, report, &blocks)?;
    o.w.get_mut().write_all(b"\n")?;
    o.w.get_mut().flush()?;
    Ok(())
}

fn write_document<W: Write>(
    o: &mut Out<W>,
    report: &XmlReport<'_>,
    blocks: &[AssetBlock<'_>],
) -> std::io::Result<()> {
    let id = report.identity;
    let doc_id = |part| doc_ref_id(&report.message_ref_id, part);
    o.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    o.start(
        "CARF_OECD",
        &[
            ("xmlns", CARF_NS),
            ("xmlns:stf", STF_NS),
            ("xmlns:iso", ISO_NS),
            ("version", SCHEMA_VERSION),
        ],
    )?;

    o.start("MessageSpec", &[])?;
    if let Some(tin) = given(&id.rcasp_tin) {
        o.text("SendingEntityIN", &[], tin)?;
    }
    o.text("TransmittingCountry", &[], id.transmitting())?;
    o.text("ReceivingCountry", &[], id.receiving())?;
    o.text("MessageType", &[], "CARF")?;
    o.text("Warning", &[], &warning_text(report))?;
    o.text("MessageRefId", &[], &report.message_ref_id)?;
    let indic = if blocks.is_empty() {
        "CARF703"
    } else {
        "CARF701"
    };
    o.text("MessageTypeIndic", &[], indic)?;
    o.text("ReportingPeriod", &[], &format!("{:04}-12-31", report.year))?;
    o.text(
        "Timestamp",
        &[],
        &report.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )?;
    o.end("MessageSpec")?;

    o.start("CARFBody", &[])?;
    o.start("RCASP", &[])?;
    if id.rcasp_is_default() {
        o.comment(&format!(
            "Provider details marked {DEFAULT_MARK} are the tool's defaults for Kraken's \
             operating entity, not confirmed by the user's settings"
        ))?;
    }
    let missing = id.missing_rcasp_fields();
    if !missing.is_empty() {
        o.comment(&format!(
            "{PLACEHOLDER}: provider details not configured ({}); {PLACEHOLDER} texts and country \
             code {PLACEHOLDER_COUNTRY} stand in for them",
            missing.join(", ")
        ))?;
    }
    o.start("RCASP_ID", &[])?;
    o.start("Entity", &[])?;
    o.text("ResCountryCode", &[], country(&id.rcasp_country))?;
    write_tin(o, &id.rcasp_tin, &id.rcasp_country)?;
    o.text(
        "Name",
        &[],
        &or_placeholder(&id.rcasp_name, "provider name"),
    )?;
    write_address(
        o,
        country(&id.rcasp_country),
        &id.rcasp_street,
        &id.rcasp_post_code,
        &or_placeholder(&id.rcasp_city, "provider city"),
    )?;
    o.end("Entity")?;
    o.end("RCASP_ID")?;
    write_doc_spec(o, &doc_id("RCASP"))?;
    o.end("RCASP")?;

    // RelevantTransactions is required (1..n) in CryptoUsers, so a nil report has no user.
    if !blocks.is_empty() {
        write_user(o, report, blocks, &doc_id("USER"))?;
    }
    o.end("CARFBody")?;
    o.end("CARF_OECD")
}

fn write_user<W: Write>(
    o: &mut Out<W>,
    report: &XmlReport<'_>,
    blocks: &[AssetBlock<'_>],
    doc_ref_id: &str,
) -> std::io::Result<()> {
    let id = report.identity;
    o.start("CryptoUsers", &[])?;
    let missing = id.missing_user_fields();
    if !missing.is_empty() {
        o.comment(&format!(
            "{PLACEHOLDER}: user identity not configured ({}); {PLACEHOLDER} texts, country code \
             {PLACEHOLDER_COUNTRY} and unknown TINs stand in for it",
            missing.join(", ")
        ))?;
    }
    o.start("UserID", &[])?;
    o.start("Individual", &[])?;
    o.text("ResCountryCode", &[], country(&id.user_country))?;
    write_tin(o, &id.user_tin, &id.user_country)?;
    o.start("Name", &[])?;
    o.text(
        "FirstName",
        &[],
        &or_placeholder(&id.user_first_name, "first name"),
    )?;
    o.text(
        "LastName",
        &[],
        &or_placeholder(&id.user_last_name, "last name"),
    )?;
    o.end("Name")?;
    write_address(
        o,
        country(&id.user_country),
        &id.user_street,
        &id.user_post_code,
        &or_placeholder(&id.user_city, "city"),
    )?;
    // BirthDate is an xsd:date, which no placeholder text fits and no made-up date should fill:
    // without it BirthInfo is left out (the file then needs the date to validate).
    if let Some(date) = given(&id.user_birth_date) {
        o.start("BirthInfo", &[])?;
        o.text("BirthDate", &[], date)?;
        if let (Some(city), Some(cc)) = (given(&id.user_birth_city), given(&id.user_birth_country))
        {
            o.start("BirthPlace", &[])?;
            o.text("City", &[], city)?;
            o.start("CountryInfo", &[])?;
            o.text("CountryCode", &[], cc)?;
            o.end("CountryInfo")?;
            o.end("BirthPlace")?;
        }
        o.end("BirthInfo")?;
    }
    o.end("Individual")?;
    o.end("UserID")?;

    for block in blocks {
        o.start("RelevantTransactions", &[])?;
        o.text("CryptoAsset", &[], &block.text)?;
        for r in &block.rows {
            write_row(o, r, report.currency)?;
        }
        o.end("RelevantTransactions")?;
    }
    write_doc_spec(o, doc_ref_id)?;
    o.end("CryptoUsers")
}

fn write_row<W: Write>(o: &mut Out<W>, r: &SummaryRow, currency: &str) -> std::io::Result<()> {
    let name = r.element.as_str();
    o.start(name, &[])?;
    let unknown = r.is_fully_unpriced();
    if unknown {
        o.comment(&format!(
            "{PLACEHOLDER}: none of these transactions has a value in {currency}; Amount is left \
             empty (unknown, not zero), as in the summary CSV"
        ))?;
    } else if r.unpriced_transactions > 0 {
        o.comment(&format!(
            "transactions without a value in {currency}: {} (counted, not in Amount)",
            r.unpriced_transactions
        ))?;
    }
    if let Some(code) = &r.type_code {
        let tag = if r.element.is_exchange() {
            "ExchangeType"
        } else {
            "TransferType"
        };
        o.text(tag, &[], code)?;
    }
    if r.element != Element::TransferWallet
        && let Some(n) = r.number_of_transactions
    {
        o.text("NumberofTransactions", &[], &n.to_string())?;
    }
    // An empty Amount fails schema validation on purpose: the figure must be supplied, and a
    // made-up zero would pass unnoticed.
    let amount = if unknown {
        String::new()
    } else {
        r.amount().to_string()
    };
    o.text("Amount", &[("currCode", currency)], &amount)?;
    o.text("NumberofUnits", &[], &r.number_of_units.to_string())?;
    if let Some(a) = r.alt_valuation {
        o.text("AltValuation", &[], a)?;
    }
    o.end(name)
}

/// One figure read back from a file: (asset code, element, type code, amount, units, number of
/// transactions). The amount is `None` where the file leaves it empty (no transaction of the
/// group could be valued), as the summary CSV does.
pub type Figure = (
    String,
    String,
    Option<String>,
    Option<Decimal>,
    Decimal,
    Option<u64>,
);

/// The figures of a CARF XML file written by [`write_carf_xml`], in document order, to compare
/// with the summary rows: asset as `SummaryRow::crypto_asset`, amount as `SummaryRow::amount()`
/// (`None` when `SummaryRow::is_fully_unpriced()`).
pub fn figures(xml: &str) -> Result<Vec<Figure>, XmlError> {
    let root = parse_tree(xml)?;
    if root.ns != CARF_NS || root.name != "CARF_OECD" {
        return Err(XmlError::Parse(format!(
            "root is {{{}}}{}, not CARF_OECD",
            root.ns, root.name
        )));
    }
    let mut out = Vec::new();
    for body in root.children_named("CARFBody") {
        for user in body.children_named("CryptoUsers") {
            for rt in user.children_named("RelevantTransactions") {
                let asset = rt.child("CryptoAsset").ok_or_else(|| {
                    XmlError::Parse("RelevantTransactions without CryptoAsset".into())
                })?;
                let code = asset_code(asset.text.trim()).to_owned();
                for el in rt.children.iter().filter(|c| c.ns == CARF_NS) {
                    if Element::parse(&el.name).and_then(schema_rank).is_none() {
                        continue;
                    }
                    out.push(figure(&code, el)?);
                }
            }
        }
    }
    Ok(out)
}

fn figure(asset: &str, el: &Node) -> Result<Figure, XmlError> {
    let need = |name: &str| {
        el.child(name)
            .map(|n| n.text.trim())
            .ok_or_else(|| XmlError::Parse(format!("{asset} {}: no {name}", el.name)))
    };
    let dec = |name: &str| -> Result<Decimal, XmlError> {
        let t = need(name)?;
        t.parse().map_err(|_| {
            XmlError::Parse(format!("{asset} {}: {name} {t:?} is not a number", el.name))
        })
    };
    if el
        .child("Amount")
        .and_then(|a| a.attr("currCode"))
        .is_none()
    {
        return Err(XmlError::Parse(format!(
            "{asset} {}: Amount without currCode",
            el.name
        )));
    }
    let code = el
        .child("ExchangeType")
        .or_else(|| el.child("TransferType"))
        .map(|n| n.text.trim().to_owned());
    let count = match el.child("NumberofTransactions") {
        Some(n) => Some(n.text.trim().parse().map_err(|_| {
            XmlError::Parse(format!("{asset} {}: bad NumberofTransactions", el.name))
        })?),
        None => None,
    };
    Ok((
        asset.to_owned(),
        el.name.clone(),
        code,
        match need("Amount")? {
            "" => None,
            _ => Some(dec("Amount")?),
        },
        dec("NumberofUnits")?,
        count,
    ))
}

/// A parsed element: namespace, local name, attributes (qualified names), text and children.
#[derive(Debug, Default)]
struct Node {
    ns: String,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_err(e: impl std::fmt::Display) -> XmlError {
    XmlError::Parse(e.to_string())
}

/// Reads a whole document into a tree (the files are small: one node per figure).
fn parse_tree(xml: &str) -> Result<Node, XmlError> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(parse_err)?;
        let ns = match ns {
            ResolveResult::Bound(n) => n.0.to_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(XmlError::Parse(format!("unknown prefix {p}")));
            }
        };
        let open = |e: &BytesStart<'_>| -> Result<Node, XmlError> {
            let mut attrs = Vec::new();
            for a in e.attributes() {
                let a = a.map_err(parse_err)?;
                let v = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(parse_err)?;
                attrs.push((a.key.0.to_owned(), v.into_owned()));
            }
            Ok(Node {
                ns: ns.clone(),
                name: e.local_name().as_ref().to_owned(),
                attrs,
                ..Node::default()
            })
        };
        let done = match event {
            Event::Start(e) => {
                stack.push(open(&e)?);
                None
            }
            Event::Empty(e) => Some(open(&e)?),
            Event::End(_) => stack.pop(),
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(parse_err)? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_xml_entity(&r)
                        .ok_or_else(|| XmlError::Parse(format!("unknown entity &{};", &*r)))?
                        .to_owned(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
                None
            }
            Event::Eof => break,
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None if root.is_none() => root = Some(node),
                None => return Err(XmlError::Parse("more than one root element".into())),
            }
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Parse("unclosed elements at end of file".into()));
    }
    root.ok_or_else(|| XmlError::Parse("no root element".into()))
}

/// The strict model of the CARF schema the test suite validates every file with.
#[cfg(test)]
#[path = "../../tests/carf_schema/mod.rs"]
mod carf_schema;

#[cfg(test)]
mod tests {
    use super::carf_schema;
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn row(
        asset: &str,
        name: &str,
        element: Element,
        code: Option<&str>,
        count: Option<u64>,
        units: Decimal,
        amount: Decimal,
    ) -> SummaryRow {
        SummaryRow {
            crypto_asset: asset.to_owned(),
            asset_name: name.to_owned(),
            element,
            type_code: code.map(str::to_owned),
            number_of_transactions: count,
            number_of_units: units,
            amount_unrounded: amount,
            unpriced_transactions: 0,
            alt_valuation: None,
        }
    }

    /// Rows in the summary's order (carf.md), spanning every element.
    fn rows() -> Vec<SummaryRow> {
        let mut staking = row(
            "ETH",
            "Ethereum",
            Element::CryptoTransferIn,
            Some("CARF502"),
            Some(12),
            dec!(0.0123456789),
            dec!(31.415),
        );
        staking.alt_valuation = Some("CARF1003");
        let mut lost = row(
            "ETH",
            "Ethereum",
            Element::CryptoTransferOut,
            Some("CARF606"),
            Some(2),
            dec!(0.3),
            dec!(0),
        );
        lost.unpriced_transactions = 2;
        let mut wallet = row(
            "BTC",
            "Bitcoin",
            Element::TransferWallet,
            None,
            None,
            dec!(0.5),
            dec!(20000.005),
        );
        wallet.alt_valuation = Some("CARF1003");
        wallet.unpriced_transactions = 1;
        vec![
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoFiatIn,
                None,
                Some(3),
                dec!(1.25000000),
                dec!(50000.125),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoFiatOut,
                None,
                Some(1),
                dec!(0.1),
                dec!(4000.135),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoToCryptoOut,
                None,
                Some(1),
                dec!(0.05),
                dec!(2000),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoTransferOut,
                Some("CARF606"),
                Some(2),
                dec!(0.5),
                dec!(20000.005),
            ),
            wallet,
            row(
                "ETH",
                "Ethereum",
                Element::CryptoToCryptoIn,
                None,
                Some(1),
                dec!(0.8),
                dec!(2000),
            ),
            staking,
            lost,
        ]
    }

    fn identity() -> XmlIdentity {
        XmlIdentity {
            user_first_name: Some("Ada".into()),
            user_last_name: Some("Lovelace".into()),
            user_tin: Some("12345678901".into()),
            user_country: Some("DE".into()),
            user_street: Some("Hauptstr. 1".into()),
            user_post_code: Some("10115".into()),
            user_city: Some("Berlin".into()),
            user_birth_date: Some("1985-03-15".into()),
            user_birth_city: Some("Munich".into()),
            user_birth_country: Some("DE".into()),
            ..XmlIdentity::default()
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, 0).unwrap()
    }

    fn write(rows: &[SummaryRow], id: &XmlIdentity, account: &str, when: DateTime<Utc>) -> String {
        let mut report = XmlReport {
            year: 2025,
            currency: "EUR",
            account,
            fees: FeeTreatment::Net,
            rows,
            identity: id,
            timestamp: when,
            message_ref_id: message_ref_id(id, 2025, when),
            draft: false,
        };
        // A draft where values are missing, so that the placeholders can be looked at.
        report.draft = !missing(&report).is_empty();
        let mut buf = Vec::new();
        write_carf_xml(&report, &mut buf).unwrap();
        let xml = String::from_utf8(buf).unwrap();
        // Every file: valid against the schema, or a draft that is not (and says so).
        let errors = super::carf_schema::validate(&xml);
        if report.draft {
            assert!(!errors.is_empty(), "a draft that validates:\n{xml}");
            assert!(
                !errors.iter().any(|e| e.contains("not well-formed")),
                "{errors:?}"
            );
            assert!(xml.contains("DRAFT, not valid for filing"));
        } else {
            assert!(errors.is_empty(), "{errors:#?}\n{xml}");
        }
        xml
    }

    fn names(n: &Node) -> Vec<&str> {
        n.children.iter().map(|c| c.name.as_str()).collect()
    }

    fn path<'n>(n: &'n Node, p: &[&str]) -> &'n Node {
        p.iter().fold(n, |n, name| {
            n.child(name)
                .unwrap_or_else(|| panic!("no {name} in {}", n.name))
        })
    }

    fn users_rts(root: &Node) -> Vec<&Node> {
        path(root, &["CARFBody", "CryptoUsers"])
            .children_named("RelevantTransactions")
            .collect()
    }

    fn all<'n>(n: &'n Node, acc: &mut Vec<&'n Node>) {
        acc.push(n);
        for c in &n.children {
            all(c, acc);
        }
    }

    #[test]
    fn root_version_and_namespaces() {
        let xml = write(&rows(), &identity(), "main", at());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        let root = parse_tree(&xml).unwrap();
        assert_eq!(
            (root.ns.as_str(), root.name.as_str()),
            (CARF_NS, "CARF_OECD")
        );
        assert_eq!(root.attr("version"), Some("1.5"));
        assert_eq!(root.attr("xmlns"), Some(CARF_NS));
        assert_eq!(root.attr("xmlns:stf"), Some(STF_NS));
        assert_eq!(root.attr("xmlns:iso"), Some(ISO_NS));
        assert_eq!(names(&root), ["MessageSpec", "CARFBody"]);
        // Every element is in the CARF namespace except DocSpec's children, which are stf:.
        let mut nodes = Vec::new();
        all(&root, &mut nodes);
        for n in nodes {
            let want = if matches!(n.name.as_str(), "DocTypeIndic" | "DocRefId") {
                STF_NS
            } else {
                CARF_NS
            };
            assert_eq!(n.ns, want, "{}", n.name);
        }
    }

    #[test]
    fn message_spec_in_schema_order() {
        let id = XmlIdentity {
            rcasp_tin: Some("IE1234567X".into()),
            ..identity()
        };
        let xml = write(&rows(), &id, "main", at());
        let root = parse_tree(&xml).unwrap();
        let spec = path(&root, &["MessageSpec"]);
        assert_eq!(
            names(spec),
            [
                "SendingEntityIN",
                "TransmittingCountry",
                "ReceivingCountry",
                "MessageType",
                "Warning",
                "MessageRefId",
                "MessageTypeIndic",
                "ReportingPeriod",
                "Timestamp"
            ]
        );
        let text = |n| path(spec, &[n]).text.as_str();
        assert_eq!(text("SendingEntityIN"), "IE1234567X");
        assert_eq!(text("TransmittingCountry"), "IE");
        assert_eq!(text("ReceivingCountry"), "IE");
        assert_eq!(text("MessageType"), "CARF");
        assert_eq!(text("MessageTypeIndic"), "CARF701");
        assert_eq!(text("ReportingPeriod"), "2025-12-31");
        assert_eq!(text("Timestamp"), "2026-02-01T12:00:00Z");
        assert!(text("MessageRefId").starts_with("IE2025IE-KT-20260201T120000Z-"));
        let warning = text("Warning");
        // (A draft: one group has no value at all.)
        assert!(warning.starts_with("DRAFT, not valid for filing: PLACEHOLDER texts, XX country codes and empty amounts mark what is missing. Not a filing by a Reporting Crypto-Asset Service Provider"), "{warning}");
        assert!(warning.contains("own reconstruction"));
        assert!(warning.contains("Kraken account \"main\""));
        // Partly and wholly unvalued groups, by count.
        assert!(
            warning.ends_with(" Transactions without a value in EUR: 3 (counted, not in the amounts): BTC TransferWallet: 1 of its transfers; ETH CryptoTransferOut CARF606: 2 of 2."),
            "{warning}"
        );
        assert!(warning.len() <= 4000);
    }

    #[test]
    fn no_rows_make_a_nil_report() {
        let xml = write(&[], &identity(), "main", at());
        let root = parse_tree(&xml).unwrap();
        assert_eq!(
            path(&root, &["MessageSpec", "MessageTypeIndic"]).text,
            "CARF703"
        );
        assert_eq!(
            path(&root, &["MessageSpec", "ReportingPeriod"]).text,
            "2025-12-31"
        );
        let body = path(&root, &["CARFBody"]);
        assert_eq!(names(body), ["RCASP"]);
        assert_eq!(
            path(body, &["RCASP", "DocSpec", "DocTypeIndic"]).text,
            "OECD1"
        );
        assert!(figures(&xml).unwrap().is_empty());
    }

    #[test]
    fn body_elements_in_schema_order() {
        let xml = write(&rows(), &identity(), "main", at());
        let root = parse_tree(&xml).unwrap();
        let body = path(&root, &["CARFBody"]);
        assert_eq!(names(body), ["RCASP", "CryptoUsers"]);
        let rcasp = path(body, &["RCASP"]);
        assert_eq!(names(rcasp), ["RCASP_ID", "DocSpec"]);
        assert_eq!(
            names(path(rcasp, &["RCASP_ID", "Entity"])),
            ["ResCountryCode", "TIN", "Name", "Address"]
        );
        assert_eq!(
            names(path(rcasp, &["DocSpec"])),
            ["DocTypeIndic", "DocRefId"]
        );
        let users = path(body, &["CryptoUsers"]);
        assert_eq!(
            names(users),
            [
                "UserID",
                "RelevantTransactions",
                "RelevantTransactions",
                "DocSpec"
            ]
        );
        let person = path(users, &["UserID", "Individual"]);
        assert_eq!(
            names(person),
            ["ResCountryCode", "TIN", "Name", "Address", "BirthInfo"]
        );
        assert_eq!(names(path(person, &["Name"])), ["FirstName", "LastName"]);
        assert_eq!(
            names(path(person, &["Address"])),
            ["CountryCode", "AddressFix"]
        );
        assert_eq!(
            names(path(person, &["Address", "AddressFix"])),
            ["Street", "PostCode", "City"]
        );
        assert_eq!(
            names(path(person, &["BirthInfo"])),
            ["BirthDate", "BirthPlace"]
        );
        assert_eq!(path(person, &["TIN"]).attr("issuedBy"), Some("DE"));
    }

    #[test]
    fn one_relevant_transactions_per_asset_in_schema_order() {
        let xml = write(&rows(), &identity(), "main", at());
        let root = parse_tree(&xml).unwrap();
        let users = path(&root, &["CARFBody", "CryptoUsers"]);
        let rts: Vec<&Node> = users.children_named("RelevantTransactions").collect();
        assert_eq!(rts.len(), 2);
        assert_eq!(path(rts[0], &["CryptoAsset"]).text, "Bitcoin (BTC)");
        assert_eq!(path(rts[1], &["CryptoAsset"]).text, "Ethereum (ETH)");
        // The summary gives FiatIn, FiatOut, ToCryptoOut, ...; the schema wants crypto-to-crypto first.
        assert_eq!(
            names(rts[0]),
            [
                "CryptoAsset",
                "CryptoToCryptoOut",
                "CryptoFiatIn",
                "CryptoFiatOut",
                "CryptoTransferOut",
                "TransferWallet"
            ]
        );
        assert_eq!(
            names(rts[1]),
            [
                "CryptoAsset",
                "CryptoToCryptoIn",
                "CryptoTransferIn",
                "CryptoTransferOut"
            ]
        );
        assert_eq!(
            names(path(rts[0], &["CryptoFiatIn"])),
            ["NumberofTransactions", "Amount", "NumberofUnits"]
        );
        assert_eq!(
            names(path(rts[0], &["CryptoTransferOut"])),
            [
                "TransferType",
                "NumberofTransactions",
                "Amount",
                "NumberofUnits"
            ]
        );
        assert_eq!(
            names(path(rts[1], &["CryptoTransferIn"])),
            [
                "TransferType",
                "NumberofTransactions",
                "Amount",
                "NumberofUnits",
                "AltValuation"
            ]
        );
        // TransferWallet has no count in CARF.
        assert_eq!(
            names(path(rts[0], &["TransferWallet"])),
            ["Amount", "NumberofUnits", "AltValuation"]
        );
    }

    #[test]
    fn exchange_type_is_written_where_the_row_has_one() {
        let rows = [row(
            "ETH",
            "Ethereum",
            Element::CryptoToCryptoOut,
            Some("CARF403"),
            Some(1),
            dec!(1),
            dec!(10),
        )];
        let xml = write(&rows, &identity(), "main", at());
        let root = parse_tree(&xml).unwrap();
        let el = path(
            &root,
            &[
                "CARFBody",
                "CryptoUsers",
                "RelevantTransactions",
                "CryptoToCryptoOut",
            ],
        );
        assert_eq!(
            names(el),
            [
                "ExchangeType",
                "NumberofTransactions",
                "Amount",
                "NumberofUnits"
            ]
        );
        assert_eq!(path(el, &["ExchangeType"]).text, "CARF403");
    }

    #[test]
    fn figures_equal_the_summary_rows() {
        let rows = rows();
        let xml = write(&rows, &identity(), "main", at());
        let mut got = figures(&xml).unwrap();
        let mut want: Vec<Figure> = rows
            .iter()
            .map(|r| {
                (
                    r.crypto_asset.clone(),
                    r.element.to_string(),
                    r.type_code.clone(),
                    (!r.is_fully_unpriced()).then(|| r.amount()),
                    r.number_of_units,
                    r.number_of_transactions,
                )
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // Exact texts: amounts rounded half to even at 2 dp, units at full precision.
        let root = parse_tree(&xml).unwrap();
        let btc = path(&root, &["CARFBody", "CryptoUsers", "RelevantTransactions"]);
        let amount = path(btc, &["CryptoFiatIn", "Amount"]);
        assert_eq!(amount.text, "50000.12");
        assert_eq!(amount.attr("currCode"), Some("EUR"));
        assert_eq!(path(btc, &["CryptoFiatOut", "Amount"]).text, "4000.14");
        assert_eq!(path(btc, &["CryptoToCryptoOut", "Amount"]).text, "2000.00");
        assert_eq!(
            path(btc, &["CryptoFiatIn", "NumberofUnits"]).text,
            "1.25000000"
        );
        let wallet = figures(&xml)
            .unwrap()
            .into_iter()
            .find(|f| f.1 == "TransferWallet")
            .unwrap();
        assert_eq!(wallet.5, None);
        // Nothing of the group could be valued: the amount is empty (unknown), not 0.00.
        let eth = users_rts(&root)[1];
        let lost = path(eth, &["CryptoTransferOut", "Amount"]);
        assert_eq!(
            (lost.text.as_str(), lost.attr("currCode")),
            ("", Some("EUR"))
        );
        assert!(xml.contains("PLACEHOLDER: none of these transactions has a value in EUR"));
    }

    #[test]
    fn doc_ref_ids_unique_in_a_file_and_across_files() {
        let ids = |xml: &str| {
            let mut nodes = Vec::new();
            let root = parse_tree(xml).unwrap();
            all(&root, &mut nodes);
            nodes
                .into_iter()
                .filter(|n| n.name == "DocRefId" || n.name == "MessageRefId")
                .map(|n| n.text.clone())
                .collect::<Vec<_>>()
        };
        // Same year, account, currency, fees and time: every id still differs between files
        // (two people's files with the default account name, or a re-export, never share one).
        let a = ids(&write(&rows(), &identity(), "default", at()));
        let b = ids(&write(&rows(), &identity(), "default", at()));
        assert_eq!((a.len(), b.len()), (3, 3));
        let mut every: Vec<&String> = a.iter().chain(&b).collect();
        every.sort();
        every.dedup();
        assert_eq!(every.len(), 6, "{a:?} {b:?}");
        // Derived from the file's MessageRefId.
        assert_eq!(a[1], format!("{}-RCASP", a[0]));
        assert_eq!(a[2], format!("{}-USER", a[0]));
        assert!(a.iter().all(|i| !i.is_empty() && i.len() <= 200));
    }

    #[test]
    fn missing_identity_is_marked() {
        let xml = write(&rows(), &XmlIdentity::default(), "main", at());
        let root = parse_tree(&xml).unwrap();
        let person = path(&root, &["CARFBody", "CryptoUsers", "UserID", "Individual"]);
        assert!(
            path(person, &["Name", "FirstName"])
                .text
                .starts_with(PLACEHOLDER)
        );
        assert!(
            path(person, &["Name", "LastName"])
                .text
                .starts_with(PLACEHOLDER)
        );
        assert!(
            path(person, &["Address", "AddressFix", "City"])
                .text
                .starts_with(PLACEHOLDER)
        );
        assert_eq!(path(person, &["ResCountryCode"]).text, PLACEHOLDER_COUNTRY);
        let tin = path(person, &["TIN"]);
        assert_eq!((tin.attr("unknown"), tin.text.as_str()), (Some("true"), ""));
        assert!(person.child("BirthInfo").is_none());
        assert!(xml.contains("<!-- PLACEHOLDER: user identity not configured (user_first_name, user_last_name, user_tin, user_country, user_city, user_birth_date)"));
        // The provider defaults are marked as such, in the data, a comment and the Warning.
        let name = path(&root, &["CARFBody", "RCASP", "RCASP_ID", "Entity", "Name"]);
        assert_eq!(
            name.text,
            format!("Payward Europe Solutions Ltd. {DEFAULT_MARK}")
        );
        assert!(xml.contains("are the tool's defaults for Kraken's operating entity"));
        let warning = &path(&root, &["MessageSpec", "Warning"]).text;
        assert!(warning.contains("Provider details are kraken-tax defaults"));
        assert!(warning.contains("User identity incomplete (user_first_name,"));
        // No provider details at all: placeholders, marked the same way.
        let xml = write(&rows(), &XmlIdentity::empty(), "main", at());
        let root = parse_tree(&xml).unwrap();
        let entity = path(&root, &["CARFBody", "RCASP", "RCASP_ID", "Entity"]);
        assert!(path(entity, &["Name"]).text.starts_with(PLACEHOLDER));
        assert_eq!(path(entity, &["ResCountryCode"]).text, PLACEHOLDER_COUNTRY);
        assert_eq!(
            path(&root, &["MessageSpec", "TransmittingCountry"]).text,
            PLACEHOLDER_COUNTRY
        );
        assert!(xml.contains("<!-- PLACEHOLDER: provider details not configured (rcasp_name, rcasp_country, rcasp_city)"));
        assert!(!xml.contains(DEFAULT_MARK));
        // A configured provider is not marked.
        let own = XmlIdentity {
            rcasp_name: Some("Payward Ltd.".into()),
            rcasp_country: Some("GB".into()),
            rcasp_city: Some("London".into()),
            ..identity()
        };
        // (Leaving out the group without any value, whose empty Amount is marked too.)
        let valued: Vec<SummaryRow> = rows()
            .into_iter()
            .filter(|r| !r.is_fully_unpriced())
            .collect();
        let xml = write(&valued, &own, "main", at());
        assert!(!xml.contains(DEFAULT_MARK) && !xml.contains(PLACEHOLDER));
    }

    #[test]
    fn names_are_escaped() {
        let id = XmlIdentity {
            user_last_name: Some("Smith & <Jones>".into()),
            ..identity()
        };
        let rows = [row(
            "AT&T",
            "A & <B> \"coin\"",
            Element::CryptoFiatIn,
            None,
            Some(1),
            dec!(1),
            dec!(1),
        )];
        let xml = write(&rows, &id, "acc & <1>", at());
        assert!(xml.contains("Smith &amp; &lt;Jones&gt;"));
        assert!(!xml.contains("<Jones>") && !xml.contains("<B>") && !xml.contains("<1>"));
        let root = parse_tree(&xml).unwrap();
        let person = path(&root, &["CARFBody", "CryptoUsers", "UserID", "Individual"]);
        assert_eq!(path(person, &["Name", "LastName"]).text, "Smith & <Jones>");
        let rt = path(&root, &["CARFBody", "CryptoUsers", "RelevantTransactions"]);
        assert_eq!(path(rt, &["CryptoAsset"]).text, "A & <B> \"coin\" (AT&T)");
        assert!(
            path(&root, &["MessageSpec", "Warning"])
                .text
                .contains("\"acc & <1>\"")
        );
        assert_eq!(figures(&xml).unwrap()[0].0, "AT&T");
    }

    #[test]
    fn rows_the_schema_cannot_carry_are_refused() {
        let bad = [
            row(
                "BTC",
                "Bitcoin",
                Element::Internal,
                None,
                Some(1),
                dec!(1),
                dec!(1),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoTransferIn,
                None,
                Some(1),
                dec!(1),
                dec!(1),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoTransferIn,
                Some("CARF601"),
                Some(1),
                dec!(1),
                dec!(1),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoFiatIn,
                Some("CARF502"),
                Some(1),
                dec!(1),
                dec!(1),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::TransferWallet,
                Some("CARF606"),
                None,
                dec!(1),
                dec!(1),
            ),
            row(
                "BTC",
                "Bitcoin",
                Element::CryptoFiatIn,
                None,
                None,
                dec!(1),
                dec!(1),
            ),
        ];
        for r in bad {
            let id = identity();
            let report = XmlReport {
                year: 2025,
                currency: "EUR",
                account: "main",
                fees: FeeTreatment::Gross,
                rows: std::slice::from_ref(&r),
                identity: &id,
                timestamp: at(),
                message_ref_id: "X".into(),
                draft: false,
            };
            let err = write_carf_xml(&report, Vec::new()).unwrap_err();
            assert!(matches!(err, XmlError::Invalid(_)), "{r:?}");
        }
        let id = XmlIdentity {
            user_country: Some("Germany".into()),
            ..identity()
        };
        let report = XmlReport {
            year: 2025,
            currency: "EUR",
            account: "main",
            fees: FeeTreatment::Net,
            rows: &rows(),
            identity: &id,
            timestamp: at(),
            message_ref_id: "X".into(),
            draft: false,
        };
        assert!(matches!(
            write_carf_xml(&report, Vec::new()),
            Err(XmlError::Invalid(_))
        ));
    }

    /// Rows that all have a value.
    fn valued() -> Vec<SummaryRow> {
        rows()
            .into_iter()
            .filter(|r| !r.is_fully_unpriced())
            .collect()
    }

    fn report<'a>(rows: &'a [SummaryRow], id: &'a XmlIdentity, draft: bool) -> XmlReport<'a> {
        XmlReport {
            year: 2025,
            currency: "EUR",
            account: "main",
            fees: FeeTreatment::Net,
            rows,
            identity: id,
            timestamp: at(),
            message_ref_id: message_ref_id(id, 2025, at()),
            draft,
        }
    }

    #[test]
    fn the_schema_model_refuses_what_the_schema_refuses() {
        let (rows, id) = (valued(), identity());
        let xml = write(&rows, &id, "main", at());
        carf_schema::assert_valid(&xml);
        let broken = |from: &str, to: &str, want: &str| {
            assert!(xml.contains(from), "{from}");
            let bad = xml.replacen(from, to, 1);
            let errors = carf_schema::validate(&bad);
            assert!(
                errors.iter().any(|e| e.contains(want)),
                "{from} -> {to}: {errors:#?}"
            );
        };
        broken(
            "<ResCountryCode>DE<",
            "<ResCountryCode>XX<",
            "\"XX\" is not an ISO 3166",
        );
        broken(
            "<Amount currCode=\"EUR\">50000.12<",
            "<Amount currCode=\"EUR\">50000.125<",
            "2 fraction digits",
        );
        broken(
            "<Amount currCode=\"EUR\">50000.12</Amount>",
            "<Amount currCode=\"EUR\"/>",
            "2 fraction digits",
        );
        broken(
            "currCode=\"EUR\"",
            "currCode=\"XBT\"",
            "not an ISO 4217 code",
        );
        broken(
            "<TransferType>CARF502<",
            "<TransferType>CARF602<",
            "is not one of",
        );
        broken(
            "<NumberofUnits>1.25000000<",
            "<NumberofUnits>1.25e0<",
            "is not an xsd:decimal",
        );
        let (a, b) = (
            xml.find("<BirthInfo>").unwrap(),
            xml.find("</BirthInfo>").unwrap(),
        );
        let no_birth = format!("{}{}", &xml[..a], &xml[b + "</BirthInfo>".len()..]);
        assert!(
            carf_schema::validate(&no_birth)
                .iter()
                .any(|e| e.contains("BirthInfo required"))
        );
        broken(
            "<MessageRefId>IE",
            "<MessageRefId>ie",
            "is not a MessageRefId",
        );
        broken("<MessageType>CARF<", "<MessageType>CRS<", "is not one of");
        broken(
            "<ReportingPeriod>2025-12-31<",
            "<ReportingPeriod>2025-12-32<",
            "xsd:date",
        );
        broken(
            "<stf:DocTypeIndic>OECD1<",
            "<stf:DocTypeIndic>OECD9<",
            "is not one of",
        );
        // DocRefId in the CARF namespace instead of stf:.
        let wrong_ns = xml.replacen("<stf:DocRefId>", "<DocRefId>", 1).replacen(
            "</stf:DocRefId>",
            "</DocRefId>",
            1,
        );
        assert!(
            carf_schema::validate(&wrong_ns)
                .iter()
                .any(|e| e.contains("DocRefId required"))
        );
        broken("<City>Berlin<", "<City><", "0 characters");
        broken("<TIN issuedBy=\"DE\"", "<TIN issuedBy=\"XX\"", "@issuedBy");
        broken(
            "<TIN issuedBy=\"DE\"",
            "<TIN colour=\"DE\"",
            "attribute \"colour\" not allowed",
        );
        // Order: crypto-to-crypto before fiat in RelevantTransactions.
        let (a, b) = (
            xml.find("<CryptoToCryptoOut>").unwrap(),
            xml.find("</CryptoToCryptoOut>").unwrap(),
        );
        let block = &xml[a..b + "</CryptoToCryptoOut>".len()];
        let moved = xml.replacen(block, "", 1).replacen(
            "</CryptoFiatOut>",
            &format!("</CryptoFiatOut>{block}"),
            1,
        );
        assert!(
            carf_schema::validate(&moved)
                .iter()
                .any(|e| e.contains("unexpected element \"CryptoToCryptoOut\""))
        );
        // A NUL is not XML 1.0 at all.
        assert!(
            carf_schema::validate(&xml.replacen("Ada", "A&#0;da", 1))[0]
                .contains("not well-formed")
        );
    }

    #[test]
    fn missing_values_refuse_the_file_and_say_which() {
        let rows = rows();
        // Identity from the tool's defaults only, one group without any value.
        let id = XmlIdentity::default();
        let err = write_carf_xml(&report(&rows, &id, false), Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CARF XML needs what is missing: the user's [identity] first_name, [identity] last_name, [identity] tin, [identity] country, [identity] city, [identity] birth_date (set them in the config file); a value in EUR for ETH CryptoTransferOut CARF606 (2 transactions without a price): import a price table with `kraken-tax prices import`, or export without --offline"
        );
        let one = XmlIdentity {
            user_tin: None,
            ..identity()
        };
        let valued = valued();
        assert_eq!(
            missing(&report(&valued, &one, false)),
            ["the user's [identity] tin (set it in the config file)"]
        );
        // No provider at all.
        let mut none = identity();
        none.rcasp_name = None;
        none.rcasp_country = None;
        none.rcasp_city = None;
        assert_eq!(
            missing(&report(&valued, &none, false)),
            [
                "the provider's [identity] provider_name, [identity] provider_country, [identity] provider_city (set them in the config file)"
            ]
        );
        // A draft is written, with the placeholders, and is not valid.
        let mut buf = Vec::new();
        write_carf_xml(&report(&rows, &id, true), &mut buf).unwrap();
        let xml = String::from_utf8(buf).unwrap();
        assert!(xml.contains("<ResCountryCode>XX</ResCountryCode>"));
        assert!(xml.contains("<Amount currCode=\"EUR\"/>"));
        let errors = carf_schema::validate(&xml);
        assert!(
            errors.iter().any(|e| e.contains("BirthInfo required")),
            "{errors:?}"
        );
        // A nil report needs no user.
        let mut buf = Vec::new();
        write_carf_xml(&report(&[], &id, false), &mut buf).unwrap();
        carf_schema::assert_valid(&String::from_utf8(buf).unwrap());
    }

    #[test]
    fn characters_xml_forbids_are_refused_with_their_origin() {
        let rows = valued();
        let id = XmlIdentity {
            user_tin: Some("12\u{0}34".into()),
            ..identity()
        };
        let err = write_carf_xml(&report(&rows, &id, true), Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot express in CARF XML: identity setting user_tin contains the character U+0000, which XML 1.0 forbids"
        );
        let mut rows = valued();
        rows[0].asset_name = "Bit\u{1b}coin".into();
        let id = identity();
        let err = write_carf_xml(&report(&rows, &id, false), Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot express in CARF XML: the name of asset \"BTC\" contains the character U+001B, which XML 1.0 forbids"
        );
    }

    #[test]
    fn asset_texts_round_trip() {
        for (code, name) in [
            ("BTC", "Bitcoin"),
            ("XYZ", "XYZ"),
            ("W", "Wrapped (old) coin"),
            ("Q", ""),
        ] {
            assert_eq!(asset_code(&crypto_asset_text(code, name)), code);
        }
    }

    #[test]
    fn figures_refuses_other_documents() {
        assert!(matches!(figures("<a/>"), Err(XmlError::Parse(_))));
        assert!(matches!(
            figures("<CARF_OECD xmlns=\"urn:oecd:ties:carf:v1\">"),
            Err(XmlError::Parse(_))
        ));
    }
}
