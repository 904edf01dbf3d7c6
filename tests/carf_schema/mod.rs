//! A strict model of the OECD CARF XML schema v1.5 (`CARFXML_v1.5.xsd` with
//! `oecdcarftypes_v5.0.xsd` and `isocarftypes_v1.1.xsd`), written from the schema's rules and
//! independent of the writer in `src/export/xml.rs`, to validate every CARF XML file the test
//! suite writes.
//!
//! Source: the bindings generated from the official XSDs (xsdata) that the `aeoi` package on
//! PyPI ships (`aeoi/schemas/carf_v1_5/*.py`, version 0.0.1): element names, namespaces, order
//! (every content model is an `xsd:sequence`), `minOccurs`/`maxOccurs`, string lengths,
//! enumerations (country and currency codes in `schemas/xml/`). Checked here:
//! - element order, required and repeated elements, no unknown element or attribute;
//! - namespaces: `urn:oecd:ties:carf:v1`, `DocSpec`'s children `urn:oecd:ties:carfstf:v5`;
//! - enumerations: `MessageType`, `MessageTypeIndic`, `DocTypeIndic`, `ExchangeType`,
//!   `TransferType` (in: CARF501-509, out: CARF601-606), `AltValuation`, `Nexus`, ISO 3166
//!   country codes (`ResCountryCode`, `CountryCode`, `issuedBy`, ...), ISO 4217 `currCode`;
//! - lexical forms: `xsd:date`, `xsd:dateTime`, `xsd:integer`, `xsd:decimal` (no exponent),
//!   `xsd:boolean`, and `Amount` (`MonAmnt_Type`: "full amounts and two decimals", checked as
//!   exactly 2 fraction digits, as carf.md requires);
//! - lengths: `StringMin1Max200_Type`, `StringMin1Max4000_Type`, `MessageRefId` 1 to 170
//!   characters, `TIN` 0 to 200.
//!
//! The generated bindings carry no pattern for `MessageRefId`; the OECD user guides
//! recommend starting it with the sending country, the year and the receiving country, then a
//! unique part. That recommendation is checked as [`MESSAGE_REF_ID`].

#![allow(dead_code)]

use std::collections::HashSet;

/// The CARF namespace.
pub const CARF: &str = "urn:oecd:ties:carf:v1";
/// The STF namespace (`DocSpec`'s children).
pub const STF: &str = "urn:oecd:ties:carfstf:v5";
/// `MessageRefId`: sending country, year, receiving country, then 1 to 162 characters of a
/// unique part (170 in all at most).
pub const MESSAGE_REF_ID: &str = r"^[A-Z]{2}[0-9]{4}[A-Z]{2}[A-Za-z0-9._:-]{1,162}$";

const COUNTRIES: &str = include_str!("../../schemas/xml/iso3166-countries.txt");
const CURRENCIES: &str = include_str!("../../schemas/xml/iso4217-currencies.txt");

/// A simple type.
#[derive(Debug, Clone, Copy)]
enum Simple {
    /// `xsd:string` with min/max length.
    Str(usize, usize),
    /// An enumeration.
    Enum(&'static [&'static str]),
    Country,
    Date,
    DateTime,
    Integer,
    Decimal,
    /// `MonAmnt_Type`: a decimal with 2 fraction digits and a `currCode`.
    Amount,
    /// `TIN_Type`: 0 to 200 characters, `issuedBy`, `unknown`.
    Tin,
    MessageRefId,
}

/// What an element holds.
#[derive(Debug, Clone, Copy)]
enum Content {
    Text(Simple),
    /// A sequence of (name, namespace, min, max (0 = unbounded), content).
    Seq(&'static [Particle]),
    /// Exactly one of these, once.
    Choice(&'static [Particle]),
}

type Particle = (&'static str, &'static str, usize, usize, Content);

use Content::{Choice, Seq, Text};
use Simple::*;

const S200: Content = Text(Str(1, 200));
const S4000: Content = Text(Str(1, 4000));
const COUNTRY: Content = Text(Country);

const ADDRESS_FIX: &[Particle] = &[
    ("Street", CARF, 0, 1, S200),
    ("BuildingIdentifier", CARF, 0, 1, S200),
    ("SuiteIdentifier", CARF, 0, 1, S200),
    ("FloorIdentifier", CARF, 0, 1, S200),
    ("DistrictName", CARF, 0, 1, S200),
    ("POB", CARF, 0, 1, S200),
    ("PostCode", CARF, 0, 1, S200),
    ("City", CARF, 1, 1, S200),
    ("CountrySubentity", CARF, 0, 1, S200),
];
const ADDRESS: &[Particle] = &[
    ("CountryCode", CARF, 1, 1, COUNTRY),
    ("AddressFix", CARF, 1, 1, Seq(ADDRESS_FIX)),
    ("AdditionalAddressInfo", CARF, 0, 1, S4000),
];
const NAME_PERSON: &[Particle] = &[
    ("PrecedingTitle", CARF, 0, 1, S200),
    ("Title", CARF, 0, 0, S200),
    ("FirstName", CARF, 1, 1, S200),
    ("MiddleName", CARF, 0, 0, S200),
    ("NamePrefix", CARF, 0, 1, S200),
    ("LastName", CARF, 1, 1, S200),
    ("GenerationIdentifier", CARF, 0, 0, S200),
    ("Suffix", CARF, 0, 0, S200),
    ("GeneralSuffix", CARF, 0, 1, S200),
];
const COUNTRY_INFO: &[Particle] = &[
    ("CountryCode", CARF, 1, 1, COUNTRY),
    ("FormerCountryName", CARF, 1, 1, S200),
];
const BIRTH_PLACE: &[Particle] = &[
    ("City", CARF, 1, 1, S200),
    ("CitySubentity", CARF, 0, 1, S200),
    ("CountryInfo", CARF, 1, 1, Choice(COUNTRY_INFO)),
];
const BIRTH_INFO: &[Particle] = &[
    ("BirthDate", CARF, 1, 1, Text(Date)),
    ("BirthPlace", CARF, 0, 1, Seq(BIRTH_PLACE)),
];
const PERSON: &[Particle] = &[
    ("ResCountryCode", CARF, 1, 0, COUNTRY),
    ("TIN", CARF, 1, 0, Text(Tin)),
    ("IIN", CARF, 0, 0, S200),
    ("Name", CARF, 1, 0, Seq(NAME_PERSON)),
    ("Address", CARF, 1, 0, Seq(ADDRESS)),
    ("Nationality", CARF, 0, 0, COUNTRY),
    ("BirthInfo", CARF, 1, 1, Seq(BIRTH_INFO)),
];
const ORGANISATION: &[Particle] = &[
    ("ResCountryCode", CARF, 1, 0, COUNTRY),
    ("TIN", CARF, 1, 0, Text(Tin)),
    ("IN", CARF, 0, 0, S200),
    ("IIN", CARF, 0, 0, S200),
    ("Name", CARF, 1, 0, S200),
    ("Address", CARF, 1, 0, Seq(ADDRESS)),
];
const PARTY: &[Particle] = &[
    ("Individual", CARF, 1, 1, Seq(PERSON)),
    ("Entity", CARF, 1, 1, Seq(ORGANISATION)),
];
const DOC_SPEC: &[Particle] = &[
    (
        "DocTypeIndic",
        STF,
        1,
        1,
        Text(Enum(&[
            "OECD0", "OECD1", "OECD2", "OECD3", "OECD10", "OECD11", "OECD12", "OECD13",
        ])),
    ),
    ("DocRefId", STF, 1, 1, S200),
    ("CorrMessageRefId", STF, 0, 1, Text(Str(1, 170))),
    ("CorrDocRefId", STF, 0, 1, S200),
];
const NEXUS: Content = Text(Enum(&[
    "CARF901", "CARF902", "CARF903", "CARF904", "CARF905", "CARF906", "CARF907",
]));
const RCASP: &[Particle] = &[
    ("RCASP_ID", CARF, 1, 1, Choice(PARTY)),
    ("Nexus", CARF, 0, 1, NEXUS),
    ("OtherNexus", CARF, 0, 1, Seq(&[])),
    ("DocSpec", CARF, 1, 1, Seq(DOC_SPEC)),
];
const EXCHANGE_TYPE: Content = Text(Enum(&["CARF401", "CARF402", "CARF403", "CARF404"]));
const ALT_VALUATION: Content = Text(Enum(&["CARF1001", "CARF1002", "CARF1003", "CARF1004"]));
const EXCHANGE: &[Particle] = &[
    ("ExchangeType", CARF, 0, 1, EXCHANGE_TYPE),
    ("NumberofTransactions", CARF, 1, 1, Text(Integer)),
    ("Amount", CARF, 1, 1, Text(Amount)),
    ("NumberofUnits", CARF, 1, 1, Text(Decimal)),
];
const TRANSFER_IN: &[Particle] = &[
    (
        "TransferType",
        CARF,
        1,
        1,
        Text(Enum(&[
            "CARF501", "CARF502", "CARF503", "CARF504", "CARF505", "CARF506", "CARF507", "CARF508",
            "CARF509",
        ])),
    ),
    ("NumberofTransactions", CARF, 1, 1, Text(Integer)),
    ("Amount", CARF, 1, 1, Text(Amount)),
    ("NumberofUnits", CARF, 1, 1, Text(Decimal)),
    ("AltValuation", CARF, 0, 1, ALT_VALUATION),
];
const TRANSFER_OUT: &[Particle] = &[
    (
        "TransferType",
        CARF,
        1,
        1,
        Text(Enum(&[
            "CARF601", "CARF602", "CARF603", "CARF604", "CARF605", "CARF606",
        ])),
    ),
    ("NumberofTransactions", CARF, 1, 1, Text(Integer)),
    ("Amount", CARF, 1, 1, Text(Amount)),
    ("NumberofUnits", CARF, 1, 1, Text(Decimal)),
    ("AltValuation", CARF, 0, 1, ALT_VALUATION),
];
const TRANSFER_WALLET: &[Particle] = &[
    ("Amount", CARF, 1, 1, Text(Amount)),
    ("NumberofUnits", CARF, 1, 1, Text(Decimal)),
    ("AltValuation", CARF, 0, 1, ALT_VALUATION),
];
const RRPT: &[Particle] = &[
    ("NumberofTransactions", CARF, 1, 1, Text(Integer)),
    ("Amount", CARF, 1, 1, Text(Amount)),
    ("NumberofUnits", CARF, 1, 1, Text(Decimal)),
];
const RELEVANT: &[Particle] = &[
    ("CryptoAsset", CARF, 1, 1, S200),
    ("CryptoToCryptoIn", CARF, 0, 0, Seq(EXCHANGE)),
    ("CryptoToCryptoOut", CARF, 0, 0, Seq(EXCHANGE)),
    ("CryptoFiatIn", CARF, 0, 0, Seq(EXCHANGE)),
    ("CryptoFiatOut", CARF, 0, 0, Seq(EXCHANGE)),
    ("CryptoTransferIn", CARF, 0, 0, Seq(TRANSFER_IN)),
    ("CryptoTransferOut", CARF, 0, 0, Seq(TRANSFER_OUT)),
    ("TransferWallet", CARF, 0, 0, Seq(TRANSFER_WALLET)),
    ("RRPT", CARF, 0, 0, Seq(RRPT)),
];
const CONTROLLING_PERSON: &[Particle] = &[
    ("Individual", CARF, 1, 1, Seq(PERSON)),
    (
        "CtrlgPersonType",
        CARF,
        1,
        0,
        Text(Enum(&[
            "CARF801", "CARF802", "CARF803", "CARF804", "CARF805", "CARF806", "CARF807", "CARF808",
            "CARF809", "CARF810", "CARF811", "CARF812", "CARF813",
        ])),
    ),
];
const CRYPTO_USERS: &[Particle] = &[
    ("UserID", CARF, 1, 1, Choice(PARTY)),
    ("ControllingPerson", CARF, 0, 0, Seq(CONTROLLING_PERSON)),
    ("RelevantTransactions", CARF, 1, 0, Seq(RELEVANT)),
    ("DocSpec", CARF, 1, 1, Seq(DOC_SPEC)),
];
const BODY: &[Particle] = &[
    ("RCASP", CARF, 1, 1, Seq(RCASP)),
    ("CryptoUsers", CARF, 0, 0, Seq(CRYPTO_USERS)),
];
const MESSAGE_SPEC: &[Particle] = &[
    ("SendingEntityIN", CARF, 0, 1, S200),
    ("TransmittingCountry", CARF, 1, 1, COUNTRY),
    ("ReceivingCountry", CARF, 1, 1, COUNTRY),
    ("MessageType", CARF, 1, 1, Text(Enum(&["CARF"]))),
    ("Warning", CARF, 0, 1, S4000),
    ("Contact", CARF, 0, 1, S4000),
    ("MessageRefId", CARF, 1, 1, Text(MessageRefId)),
    (
        "MessageTypeIndic",
        CARF,
        1,
        1,
        Text(Enum(&["CARF701", "CARF702", "CARF703"])),
    ),
    ("ReportingPeriod", CARF, 1, 1, Text(Date)),
    ("Timestamp", CARF, 1, 1, Text(DateTime)),
];
const ROOT: &[Particle] = &[
    ("MessageSpec", CARF, 1, 1, Seq(MESSAGE_SPEC)),
    ("CARFBody", CARF, 0, 0, Seq(BODY)),
];

/// The attributes each element may carry (all optional unless listed in `required_attrs`).
fn allowed_attrs(name: &str) -> &'static [&'static str] {
    match name {
        "CARF_OECD" => &["version"],
        "TIN" => &["issuedBy", "unknown"],
        "IN" => &["issuedBy", "INType"],
        "IIN" => &["issuedBy"],
        "Amount" => &["currCode"],
        "Address" => &["legalAddressType"],
        "Name" => &["nameType"],
        "FirstName" | "MiddleName" | "NamePrefix" | "LastName" => &["xnlNameType"],
        "OtherNexus" => &["Nexus", "ResCountryCode"],
        _ => &[],
    }
}

struct Checker {
    countries: HashSet<&'static str>,
    currencies: HashSet<&'static str>,
    message_ref_id: regex::Regex,
    errors: Vec<String>,
}

/// Validates a CARF XML document; returns every violation found (empty: valid).
pub fn validate(xml: &str) -> Vec<String> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => return vec![format!("not well-formed XML 1.0: {e}")],
    };
    let mut c = Checker {
        countries: COUNTRIES.split_whitespace().collect(),
        currencies: CURRENCIES.split_whitespace().collect(),
        message_ref_id: regex::Regex::new(MESSAGE_REF_ID).unwrap(),
        errors: Vec::new(),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "CARF_OECD" || root.tag_name().namespace() != Some(CARF) {
        c.errors.push(format!(
            "root is {:?} in {:?}, not CARF_OECD in {CARF}",
            root.tag_name().name(),
            root.tag_name().namespace()
        ));
        return c.errors;
    }
    c.attrs(root, "/CARF_OECD");
    if let Some(v) = root.attribute("version")
        && !(1..=10).contains(&v.chars().count())
    {
        c.errors
            .push("/CARF_OECD/@version: 1 to 10 characters".into());
    }
    c.seq(root, ROOT, "/CARF_OECD");
    c.errors
}

/// Panics with every violation when `xml` is not valid.
pub fn assert_valid(xml: &str) {
    let errors = validate(xml);
    assert!(
        errors.is_empty(),
        "not valid against the CARF v1.5 model:\n  {}\n{xml}",
        errors.join("\n  ")
    );
}

impl Checker {
    fn attrs(&mut self, n: roxmltree::Node<'_, '_>, path: &str) {
        let allowed = allowed_attrs(n.tag_name().name());
        for a in n.attributes() {
            if a.namespace().is_some() || !allowed.contains(&a.name()) {
                self.errors
                    .push(format!("{path}: attribute {:?} not allowed", a.name()));
            }
        }
        let country_attr = |name: &str| matches!(name, "issuedBy" | "ResCountryCode");
        for a in n.attributes() {
            if country_attr(a.name()) && !self.countries.contains(a.value()) {
                self.errors.push(format!(
                    "{path}/@{}: {:?} is not an ISO 3166 country code",
                    a.name(),
                    a.value()
                ));
            }
            if a.name() == "unknown" && !matches!(a.value(), "true" | "false" | "1" | "0") {
                self.errors
                    .push(format!("{path}/@unknown: {:?} is not a boolean", a.value()));
            }
        }
    }

    fn seq(&mut self, parent: roxmltree::Node<'_, '_>, model: &[Particle], path: &str) {
        self.no_text(parent, path);
        let kids: Vec<_> = parent.children().filter(|k| k.is_element()).collect();
        let mut at = 0;
        for &(name, ns, min, max, content) in model {
            let mut n = 0;
            while at < kids.len()
                && kids[at].tag_name().name() == name
                && kids[at].tag_name().namespace() == Some(ns)
            {
                n += 1;
                let p = format!("{path}/{name}[{n}]");
                self.element(kids[at], content, &p);
                at += 1;
            }
            if n < min {
                self.errors.push(format!(
                    "{path}: {name} required (at least {min}){}",
                    kids.get(at)
                        .map(|k| format!(", found {}", k.tag_name().name()))
                        .unwrap_or_default()
                ));
            }
            if max > 0 && n > max {
                self.errors
                    .push(format!("{path}: {name} at most {max} time(s), found {n}"));
            }
        }
        for k in &kids[at..] {
            self.errors.push(format!(
                "{path}: unexpected element {:?} (namespace {:?}) here: wrong order or not in the schema",
                k.tag_name().name(),
                k.tag_name().namespace()
            ));
        }
    }

    fn no_text(&mut self, n: roxmltree::Node<'_, '_>, path: &str) {
        if n.children()
            .any(|k| k.is_text() && !k.text().unwrap_or("").trim().is_empty())
        {
            self.errors.push(format!(
                "{path}: text in an element of element-only content"
            ));
        }
    }

    fn element(&mut self, n: roxmltree::Node<'_, '_>, content: Content, path: &str) {
        self.attrs(n, path);
        match content {
            Seq(model) => self.seq(n, model, path),
            Choice(options) => {
                self.no_text(n, path);
                let kids: Vec<_> = n.children().filter(|k| k.is_element()).collect();
                let chosen = kids.first().and_then(|k| {
                    options.iter().find(|o| {
                        o.0 == k.tag_name().name() && Some(o.1) == k.tag_name().namespace()
                    })
                });
                match (kids.len(), chosen) {
                    (1, Some(&(name, _, _, _, c))) => {
                        self.element(kids[0], c, &format!("{path}/{name}"))
                    }
                    _ => self.errors.push(format!(
                        "{path}: exactly one of {:?} required",
                        options.iter().map(|o| o.0).collect::<Vec<_>>()
                    )),
                }
            }
            Text(simple) => {
                if n.children().any(|k| k.is_element()) {
                    self.errors
                        .push(format!("{path}: elements in a simple-content element"));
                }
                let text: String = n.children().filter_map(|k| k.text()).collect();
                self.simple(n, simple, &text, path);
            }
        }
    }

    fn simple(&mut self, n: roxmltree::Node<'_, '_>, t: Simple, text: &str, path: &str) {
        let len = text.chars().count();
        let bad = |what: &str| format!("{path}: {text:?} is not {what}");
        let err = match t {
            Str(min, max) => (len < min || len > max)
                .then(|| format!("{path}: {len} characters, allowed {min} to {max}")),
            Enum(values) => (!values.contains(&text)).then(|| bad(&format!("one of {values:?}"))),
            Country => (!self.countries.contains(text)).then(|| bad("an ISO 3166 country code")),
            Date => (!is_date(text)).then(|| bad("an xsd:date")),
            DateTime => (!is_date_time(text)).then(|| bad("an xsd:dateTime")),
            Integer => (!is_integer(text)).then(|| bad("a non-negative xsd:integer")),
            Decimal => (!is_decimal(text)).then(|| bad("an xsd:decimal")),
            Amount => {
                let cur = n.attribute("currCode");
                if cur.is_none_or(|c| !self.currencies.contains(c)) {
                    Some(format!("{path}/@currCode: {cur:?} is not an ISO 4217 code"))
                } else if !is_decimal(text)
                    || text.split_once('.').is_none_or(|(_, f)| f.len() != 2)
                {
                    Some(bad("a decimal amount with 2 fraction digits"))
                } else {
                    None
                }
            }
            Tin => (len > 200).then(|| format!("{path}: {len} characters, at most 200")),
            MessageRefId => (!(1..=170).contains(&len) || !self.message_ref_id.is_match(text))
                .then(|| bad(&format!("a MessageRefId ({MESSAGE_REF_ID})"))),
        };
        self.errors.extend(err);
    }
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

fn is_date_time(s: &str) -> bool {
    let re = regex::Regex::new(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$",
    )
    .unwrap();
    re.is_match(s) && is_date(&s[..10])
}

fn is_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal(s: &str) -> bool {
    regex::Regex::new(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
        .unwrap()
        .is_match(s)
}
