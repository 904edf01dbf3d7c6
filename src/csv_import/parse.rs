//! Reading one Kraken website export: header detection (every known version), then rows into
//! domain records that keep their original line as `raw`.

use super::assets::{asset_code, pair_code};
use crate::domain::{
    AssetCode, KrakenTime, LedgerEntry, LedgerId, PositionClose, RawRecord, RefId, Trade, TradeId,
    TradeSide, parse_amount,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Which history a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// `ledgers.csv`.
    Ledgers,
    /// `trades.csv`.
    Trades,
}

impl ExportKind {
    /// `ledgers` or `trades`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Ledgers => "ledgers",
            ExportKind::Trades => "trades",
        }
    }
}

/// The ledgers header versions Kraken has used, newest first.
pub const LEDGER_HEADERS: [&[&str]; 4] = [
    &[
        "txid", "refid", "time", "type", "subtype", "aclass", "subclass", "asset", "wallet",
        "amount", "fee", "balance",
    ],
    &[
        "txid", "refid", "time", "type", "subtype", "aclass", "asset", "wallet", "amount", "fee",
        "balance",
    ],
    &[
        "txid", "refid", "time", "type", "subtype", "aclass", "asset", "amount", "fee", "balance",
    ],
    &[
        "txid", "refid", "time", "type", "aclass", "asset", "amount", "fee", "balance",
    ],
];

/// The trades header versions: the current short one, then the older one with position columns.
pub const TRADE_HEADERS: [&[&str]; 2] = [
    &[
        "txid",
        "ordertxid",
        "pair",
        "time",
        "type",
        "ordertype",
        "price",
        "cost",
        "fee",
        "vol",
        "margin",
        "misc",
        "ledgers",
    ],
    &[
        "txid",
        "ordertxid",
        "pair",
        "time",
        "type",
        "ordertype",
        "price",
        "cost",
        "fee",
        "vol",
        "margin",
        "misc",
        "ledgers",
        "postxid",
        "posstatus",
        "cprice",
        "ccost",
        "cfee",
        "cvol",
        "cmargin",
        "net",
        "trades",
    ],
];

const LEDGER_REQUIRED: &[&str] = &[
    "txid", "refid", "time", "type", "aclass", "asset", "amount", "fee", "balance",
];
const TRADE_REQUIRED: &[&str] = &[
    "txid",
    "ordertxid",
    "pair",
    "time",
    "type",
    "ordertype",
    "price",
    "cost",
    "fee",
    "vol",
];

/// A problem at one place of a file (the file name is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {detail}", column.as_ref().map(|(n, name)| format!(", column {n} ({name})")).unwrap_or_default())]
pub struct RowError {
    /// 1-based line of the row.
    pub line: u64,
    /// 1-based column number and its header name, where one field is at fault.
    pub column: Option<(usize, String)>,
    /// What is wrong.
    pub detail: String,
}

/// The header of a file, resolved to column positions.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Ledgers or trades.
    pub kind: ExportKind,
    /// `v1` (oldest) .. `v4`; `custom` for an unknown but complete column set.
    pub version: String,
    /// `,` or tab.
    pub delimiter: u8,
    /// Header names, lower case, in file order.
    pub names: Vec<String>,
    /// Columns present that this version of kraken-tax does not read.
    pub ignored: Vec<String>,
}

impl Layout {
    fn col(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// What one data row is.
// Rows are handled one at a time and moved into batches, never kept as `Row`s.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A ledger entry.
    Ledger(RawRecord<LedgerEntry>),
    /// A trade.
    Trade(RawRecord<Trade>),
    /// A pending ledger row (empty txid): the settled row follows with the same refid.
    Pending,
}

/// Strips a UTF-8 byte order mark.
pub fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// Reads the header (the first non-blank line) and decides what the file is.
pub fn read_layout(data: &[u8]) -> Result<Layout, RowError> {
    let mut line_no = 1u64;
    let mut rest = data;
    // Blank lines before the header are tolerated.
    loop {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        if line.iter().all(|b| b.is_ascii_whitespace()) && end < rest.len() {
            rest = &rest[end + 1..];
            line_no += 1;
            continue;
        }
        break;
    }
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let first = &rest[..end];
    let err = |detail: String| RowError {
        line: line_no,
        column: None,
        detail,
    };
    if data.starts_with(b"\xFF\xFE") || data.starts_with(b"\xFE\xFF") || first.contains(&0) {
        return Err(err(
            "the file is UTF-16 text (or holds NUL bytes), not a Kraken export as downloaded: download it again, or save it as \"CSV UTF-8\"".into(),
        ));
    }
    if first.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(RowError {
            line: 1,
            column: None,
            detail: "the file is empty: expected a Kraken ledgers or trades header".into(),
        });
    }
    let text = std::str::from_utf8(first).map_err(|e| {
        let col = String::from_utf8_lossy(&first[..e.valid_up_to()])
            .chars()
            .count()
            + 1;
        RowError {
            line: line_no,
            column: Some((col, "header".into())),
            detail: "not UTF-8 text: this is not a Kraken CSV export".into(),
        }
    })?;
    let tabs = text.matches('\t').count();
    let commas = text.matches(',').count();
    let delimiter = if tabs > commas { b'\t' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rec = csv::StringRecord::new();
    reader
        .read_record(&mut rec)
        .map_err(|e| err(format!("unreadable header: {e}")))?;
    let names: Vec<String> = rec
        .iter()
        .map(|s| s.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let shown = || {
        let s = text.trim_end_matches('\r');
        let s: String = s.chars().take(120).collect();
        format!("{s:?}")
    };
    let (kind, versions, required): (ExportKind, &[&[&str]], &[&str]) = if names
        .iter()
        .any(|n| n == "ordertxid")
    {
        (ExportKind::Trades, &TRADE_HEADERS, TRADE_REQUIRED)
    } else if names.iter().any(|n| n == "refid") {
        (ExportKind::Ledgers, &LEDGER_HEADERS, LEDGER_REQUIRED)
    } else {
        return Err(err(format!(
            "not a Kraken ledgers or trades export: the header {} has neither a refid nor an ordertxid column",
            shown()
        )));
    };
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(RowError {
                line: line_no,
                column: Some((i + 1, n.clone())),
                detail: format!("column {n:?} appears twice in the header"),
            });
        }
    }
    if let Some(missing) = required.iter().find(|r| !names.iter().any(|n| n == *r)) {
        return Err(err(format!(
            "the {} header {} lacks the column {missing:?}",
            kind.as_str(),
            shown()
        )));
    }
    let version = versions
        .iter()
        .position(|v| v.len() == names.len() && v.iter().zip(&names).all(|(a, b)| a == b))
        .map_or_else(
            || "custom".to_owned(),
            |i| format!("v{}", versions.len() - i),
        );
    let ignored = names
        .iter()
        .filter(|n| !versions.iter().any(|v| v.contains(&n.as_str())))
        .cloned()
        .collect();
    Ok(Layout {
        kind,
        version,
        delimiter,
        names,
        ignored,
    })
}

/// Column positions of a ledgers file.
#[derive(Debug, Clone, Copy)]
struct LedgerCols {
    txid: usize,
    refid: usize,
    time: usize,
    kind: usize,
    subtype: Option<usize>,
    aclass: usize,
    subclass: Option<usize>,
    asset: usize,
    wallet: Option<usize>,
    amount: usize,
    fee: usize,
    balance: usize,
}

/// Column positions of a trades file.
#[derive(Debug, Clone, Copy)]
struct TradeCols {
    txid: usize,
    ordertxid: usize,
    pair: usize,
    time: usize,
    side: usize,
    ordertype: usize,
    price: usize,
    cost: usize,
    fee: usize,
    vol: usize,
    margin: Option<usize>,
    misc: Option<usize>,
    ledgers: Option<usize>,
    postxid: Option<usize>,
    posstatus: Option<usize>,
    cprice: Option<usize>,
    ccost: Option<usize>,
    cfee: Option<usize>,
    cvol: Option<usize>,
    cmargin: Option<usize>,
    net: Option<usize>,
    trades: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Cols {
    Ledgers(LedgerCols),
    Trades(TradeCols),
}

impl Cols {
    fn of(layout: &Layout) -> Cols {
        // Required columns were checked by read_layout.
        let req = |n: &str| layout.col(n).expect("required column checked");
        let opt = |n: &str| layout.col(n);
        match layout.kind {
            ExportKind::Ledgers => Cols::Ledgers(LedgerCols {
                txid: req("txid"),
                refid: req("refid"),
                time: req("time"),
                kind: req("type"),
                subtype: opt("subtype"),
                aclass: req("aclass"),
                subclass: opt("subclass"),
                asset: req("asset"),
                wallet: opt("wallet"),
                amount: req("amount"),
                fee: req("fee"),
                balance: req("balance"),
            }),
            ExportKind::Trades => Cols::Trades(TradeCols {
                txid: req("txid"),
                ordertxid: req("ordertxid"),
                pair: req("pair"),
                time: req("time"),
                side: req("type"),
                ordertype: req("ordertype"),
                price: req("price"),
                cost: req("cost"),
                fee: req("fee"),
                vol: req("vol"),
                margin: opt("margin"),
                misc: opt("misc"),
                ledgers: opt("ledgers"),
                postxid: opt("postxid"),
                posstatus: opt("posstatus"),
                cprice: opt("cprice"),
                ccost: opt("ccost"),
                cfee: opt("cfee"),
                cvol: opt("cvol"),
                cmargin: opt("cmargin"),
                net: opt("net"),
                trades: opt("trades"),
            }),
        }
    }
}

/// The data rows of a file, one [`Row`] (or error) at a time, with their line numbers.
pub struct Rows<'a> {
    data: &'a [u8],
    layout: &'a Layout,
    cols: Cols,
    reader: csv::Reader<&'a [u8]>,
    rec: csv::ByteRecord,
    header_done: bool,
    /// A byte offset already counted and its 1-based line: line numbers are counted here,
    /// not taken from the CSV reader, which counts only `\n` and places a record after the
    /// empty lines and the `\n` of a CRLF it skipped before it.
    counted: (usize, u64),
}

/// Line breaks in `data[from..to]` as an editor counts them: `\n`, `\r\n` and a lone `\r`.
fn line_breaks(data: &[u8], from: usize, to: usize) -> u64 {
    let mut n = 0;
    for i in from..to {
        match data[i] {
            b'\n' => n += 1,
            b'\r' if data.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
    }
    n
}

impl<'a> Rows<'a> {
    /// Rows of `data` (BOM already stripped) laid out as `layout`.
    pub fn new(data: &'a [u8], layout: &'a Layout) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(layout.delimiter)
            .from_reader(data);
        Rows {
            data,
            layout,
            cols: Cols::of(layout),
            reader,
            rec: csv::ByteRecord::new(),
            header_done: false,
            counted: (0, 1),
        }
    }
}

impl Rows<'_> {
    /// The first byte of the record that starts at or after `offset` (past the empty lines
    /// the reader skips) and its line.
    fn locate(&mut self, offset: usize) -> (usize, u64) {
        let mut start = offset.min(self.data.len());
        while matches!(self.data.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        let (from, line) = self.counted;
        let line = if start >= from {
            line + line_breaks(self.data, from, start)
        } else {
            1 + line_breaks(self.data, 0, start)
        };
        self.counted = (start, line);
        (start, line)
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<(u64, Row), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.reader.read_byte_record(&mut self.rec) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| self.locate(p.byte() as usize).1);
                    return Some(Err(RowError {
                        line,
                        column: None,
                        detail: format!("unreadable CSV: {e}"),
                    }));
                }
            }
            let offset = self.rec.position().map_or(0, |p| p.byte() as usize);
            let (start, line) = self.locate(offset);
            let blank = self
                .rec
                .iter()
                .all(|f| f.iter().all(u8::is_ascii_whitespace));
            if blank {
                continue;
            }
            if !self.header_done {
                self.header_done = true;
                continue;
            }
            let end = (self.reader.position().byte() as usize).clamp(start, self.data.len());
            let mut raw = &self.data[start..end];
            while let [rest @ .., b'\n' | b'\r'] = raw {
                raw = rest;
            }
            return Some(
                parse_row(self.layout, self.cols, &self.rec, raw, line).map(|r| (line, r)),
            );
        }
    }
}

struct Fields<'a> {
    rec: &'a csv::ByteRecord,
    layout: &'a Layout,
    line: u64,
}

impl<'a> Fields<'a> {
    fn err(&self, i: usize, detail: String) -> RowError {
        RowError {
            line: self.line,
            column: Some((i + 1, self.layout.names[i].clone())),
            detail,
        }
    }

    fn text(&self, i: usize) -> Result<&'a str, RowError> {
        let bytes = self.rec.get(i).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| self.err(i, "not UTF-8 text".into()))
    }

    fn opt_text(&self, i: Option<usize>) -> Result<Option<&'a str>, RowError> {
        i.map(|i| self.text(i)).transpose()
    }

    fn decimal(&self, i: usize) -> Result<Decimal, RowError> {
        parse_amount(self.text(i)?).map_err(|e| self.err(i, e.to_string()))
    }

    fn opt_decimal(&self, i: Option<usize>) -> Result<Option<Decimal>, RowError> {
        match i {
            None => Ok(None),
            Some(i) if self.text(i)?.trim().is_empty() => Ok(None),
            Some(i) => self.decimal(i).map(Some),
        }
    }

    fn time(&self, i: usize) -> Result<KrakenTime, RowError> {
        let t = self.text(i)?;
        parse_time(t).ok_or_else(|| {
            self.err(
                i,
                format!("not a time of the form YYYY-MM-DD HH:MM:SS (UTC): {t:?}"),
            )
        })
    }

    fn id<T>(
        &self,
        i: usize,
        make: fn(String) -> Result<T, crate::domain::IdError>,
    ) -> Result<T, RowError> {
        let t = self.text(i)?.trim();
        make(t.to_owned()).map_err(|e| self.err(i, format!("invalid {}: {}", e.kind, e.reason)))
    }

    fn id_list<T>(
        &self,
        i: Option<usize>,
        make: fn(String) -> Result<T, crate::domain::IdError>,
    ) -> Result<Vec<T>, RowError> {
        let Some(i) = i else { return Ok(Vec::new()) };
        self.text(i)?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| make(s.to_owned()).map_err(|e| self.err(i, e.to_string())))
            .collect()
    }
}

fn parse_row(
    layout: &Layout,
    cols: Cols,
    rec: &csv::ByteRecord,
    raw: &[u8],
    line: u64,
) -> Result<Row, RowError> {
    if rec.len() != layout.names.len() {
        return Err(RowError {
            line,
            column: None,
            detail: format!(
                "expected {} columns as in the header, found {}",
                layout.names.len(),
                rec.len()
            ),
        });
    }
    let raw = std::str::from_utf8(raw).map_err(|e| RowError {
        line,
        column: None,
        detail: format!(
            "not UTF-8 text at character {}",
            String::from_utf8_lossy(&raw[..e.valid_up_to()])
                .chars()
                .count()
                + 1
        ),
    })?;
    let f = Fields { rec, layout, line };
    match cols {
        Cols::Ledgers(c) => {
            if f.text(c.txid)?.trim().is_empty() {
                return Ok(Row::Pending);
            }
            let asset_text = f.text(c.asset)?.trim();
            let asset = AssetCode::new(asset_code(asset_text))
                .map_err(|e| f.err(c.asset, format!("invalid asset: {}", e.reason)))?;
            Ok(Row::Ledger(RawRecord {
                item: LedgerEntry {
                    id: f.id(c.txid, LedgerId::new)?,
                    refid: f.id(c.refid, RefId::new)?,
                    time: f.time(c.time)?,
                    kind: f.text(c.kind)?.to_owned(),
                    subtype: f.opt_text(c.subtype)?.map(str::to_owned),
                    aclass: f.text(c.aclass)?.to_owned(),
                    subclass: f.opt_text(c.subclass)?.map(str::to_owned),
                    asset,
                    wallet: f.opt_text(c.wallet)?.map(str::to_owned),
                    amount: f.decimal(c.amount)?,
                    fee: f.decimal(c.fee)?,
                    balance: f.opt_decimal(Some(c.balance))?,
                },
                raw: raw.to_owned(),
            }))
        }
        Cols::Trades(c) => {
            let side_text = f.text(c.side)?.trim();
            let side = TradeSide::parse(side_text).ok_or_else(|| {
                f.err(c.side, format!("expected buy or sell, found {side_text:?}"))
            })?;
            let nonempty = |i: Option<usize>| -> Result<Option<String>, RowError> {
                Ok(f.opt_text(i)?
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned))
            };
            Ok(Row::Trade(RawRecord {
                item: Trade {
                    id: f.id(c.txid, TradeId::new)?,
                    ordertxid: f.text(c.ordertxid)?.trim().to_owned(),
                    postxid: nonempty(c.postxid)?,
                    pair: pair_code(f.text(c.pair)?.trim()),
                    time: f.time(c.time)?,
                    side,
                    ordertype: f.text(c.ordertype)?.to_owned(),
                    price: f.decimal(c.price)?,
                    cost: f.decimal(c.cost)?,
                    fee: f.decimal(c.fee)?,
                    vol: f.decimal(c.vol)?,
                    margin: f.opt_decimal(c.margin)?,
                    leverage: None,
                    misc: f.opt_text(c.misc)?.unwrap_or_default().to_owned(),
                    ledgers: f.id_list(c.ledgers, LedgerId::new)?,
                    trade_id: None,
                    maker: None,
                    position: PositionClose {
                        posstatus: nonempty(c.posstatus)?,
                        cprice: f.opt_decimal(c.cprice)?,
                        ccost: f.opt_decimal(c.ccost)?,
                        cfee: f.opt_decimal(c.cfee)?,
                        cvol: f.opt_decimal(c.cvol)?,
                        cmargin: f.opt_decimal(c.cmargin)?,
                        net: f.opt_decimal(c.net)?,
                        trades: f.id_list(c.trades, TradeId::new)?,
                    },
                },
                raw: raw.to_owned(),
            }))
        }
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction]` (UTC; up to 6 fraction digits) into a Kraken time
/// whose text is the Unix seconds with the same fraction digits.
pub fn parse_time(text: &str) -> Option<KrakenTime> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &b[r];
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.iter().try_fold(0u32, |acc, d| {
            acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &t[19..];
    let frac = match rest.strip_prefix('.') {
        None if rest.is_empty() => "",
        Some(f) if (1..=6).contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()) => f,
        _ => return None,
    };
    let dt = NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_opt(h, mi, s)?;
    let secs = dt.and_utc().timestamp();
    if secs < 0 {
        return None;
    }
    let mut micros = secs.checked_mul(1_000_000)?;
    for (i, c) in frac.bytes().enumerate() {
        micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
    }
    Some(KrakenTime::from_micros(micros, frac.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_to_the_second_and_with_fractions() {
        let t = parse_time("2023-07-04 09:54:44").unwrap();
        assert_eq!(t.text(), "1688464484");
        let t = parse_time("2023-07-04 09:54:44.1787").unwrap();
        assert_eq!(t.text(), "1688464484.1787");
        assert_eq!(t.micros(), 1_688_464_484_178_700);
        for bad in [
            "",
            "2023-07-04",
            "2023-13-04 09:54:44",
            "2023-07-04 25:54:44",
            "2023-07-04 09:54:44.",
            "2023-07-04 09:54:44.1234567",
            "2023-07-04 09:54:44Z",
            "1688464484",
            "２０２３-07-04 09:54:44",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_header_version_is_recognised() {
        for (i, h) in LEDGER_HEADERS.iter().enumerate() {
            let line = h
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(",");
            let l = read_layout(line.as_bytes()).unwrap();
            assert_eq!(l.kind, ExportKind::Ledgers);
            assert_eq!(l.version, format!("v{}", 4 - i));
            assert!(l.ignored.is_empty());
        }
        for (i, h) in TRADE_HEADERS.iter().enumerate() {
            let line = h.join("\t");
            let l = read_layout(line.as_bytes()).unwrap();
            assert_eq!(l.kind, ExportKind::Trades);
            assert_eq!(l.delimiter, b'\t');
            assert_eq!(l.version, format!("v{}", 2 - i));
        }
    }

    #[test]
    fn a_wrong_header_is_named() {
        let e = read_layout(b"\"txid\",\"refid\",\"time\",\"type\",\"asset\",\"amount\"\n")
            .unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(
            e.detail,
            "the ledgers header \"\\\"txid\\\",\\\"refid\\\",\\\"time\\\",\\\"type\\\",\\\"asset\\\",\\\"amount\\\"\" lacks the column \"aclass\""
        );
        let e = read_layout(b"date,open,high,low,close\n").unwrap_err();
        assert!(
            e.detail
                .starts_with("not a Kraken ledgers or trades export"),
            "{e}"
        );
    }
}
