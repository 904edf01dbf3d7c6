//! Writes a generated account as Kraken's website exports, in each header version, for the
//! import tests, the export endpoints and the import benchmark. Independent of the importer on
//! purpose: one is checked against the other.

use super::generator::Dataset;
use crate::domain::{LedgerEntry, Trade};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A ledgers header version, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerCsvVersion {
    /// `txid,refid,time,type,aclass,asset,amount,fee,balance`.
    V1,
    /// V1 plus `subtype`.
    V2,
    /// V2 plus `wallet`; assets by display name (`BTC`, `EUR`).
    V3,
    /// V3 plus `subclass`.
    V4,
}

impl LedgerCsvVersion {
    /// Every version, oldest first.
    pub const ALL: [LedgerCsvVersion; 4] = [Self::V1, Self::V2, Self::V3, Self::V4];

    /// The header columns.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::V1 => &[
                "txid", "refid", "time", "type", "aclass", "asset", "amount", "fee", "balance",
            ],
            Self::V2 => &[
                "txid", "refid", "time", "type", "subtype", "aclass", "asset", "amount", "fee",
                "balance",
            ],
            Self::V3 => &[
                "txid", "refid", "time", "type", "subtype", "aclass", "asset", "wallet", "amount",
                "fee", "balance",
            ],
            Self::V4 => &[
                "txid", "refid", "time", "type", "subtype", "aclass", "subclass", "asset",
                "wallet", "amount", "fee", "balance",
            ],
        }
    }
}

/// A trades header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeCsvVersion {
    /// The older one with margin-position columns.
    V1,
    /// The current short one.
    V2,
}

impl TradeCsvVersion {
    /// Both versions, oldest first.
    pub const ALL: [TradeCsvVersion; 2] = [Self::V1, Self::V2];

    /// The header columns.
    pub fn columns(self) -> &'static [&'static str] {
        const SHORT: [&str; 13] = [
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
        ];
        match self {
            Self::V2 => &SHORT,
            Self::V1 => &[
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
        }
    }
}

/// The website's display name of an API asset code.
fn display(code: &str) -> &str {
    match code {
        "XXBT" => "BTC",
        "XETH" => "ETH",
        "XXDG" => "XDG",
        "ZEUR" => "EUR",
        "ZUSD" => "USD",
        other => other,
    }
}

/// `YYYY-MM-DD HH:MM:SS`, plus the time text's fraction digits when `fraction`.
fn time_text(t: &crate::domain::KrakenTime, fraction: bool) -> String {
    let mut s = t.utc().format("%Y-%m-%d %H:%M:%S").to_string();
    if fraction && let Some((_, f)) = t.text().split_once('.') {
        s.push('.');
        s.push_str(f);
    }
    s
}

struct Out {
    buf: String,
    delimiter: char,
}

impl Out {
    fn line(&mut self, fields: &[&str]) {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.buf.push(self.delimiter);
            }
            if self.delimiter == ',' {
                // Kraken quotes every field of its CSV files.
                self.buf.push('"');
                self.buf.push_str(&f.replace('"', "\"\""));
                self.buf.push('"');
            } else {
                self.buf.push_str(f);
            }
        }
        self.buf.push('\n');
    }
}

/// One ledger entry's fields in `version`'s column order.
fn ledger_fields(e: &LedgerEntry, v: LedgerCsvVersion) -> Vec<String> {
    let named = matches!(v, LedgerCsvVersion::V3 | LedgerCsvVersion::V4);
    let asset = if named {
        display(e.asset.as_str()).to_owned()
    } else {
        e.asset.as_str().to_owned()
    };
    let fiat = e.asset.as_str().starts_with('Z');
    v.columns()
        .iter()
        .map(|c| match *c {
            "txid" => e.id.to_string(),
            "refid" => e.refid.to_string(),
            "time" => time_text(&e.time, false),
            "type" => e.kind.clone(),
            "subtype" => e.subtype.clone().unwrap_or_default(),
            "aclass" => e.aclass.clone(),
            "subclass" => if fiat { "fiat" } else { "crypto" }.to_owned(),
            "asset" => asset.clone(),
            "wallet" => e.wallet.clone().unwrap_or_else(|| "spot / main".to_owned()),
            "amount" => e.amount.to_string(),
            "fee" => e.fee.to_string(),
            "balance" => e.balance.map(|b| b.to_string()).unwrap_or_default(),
            other => unreachable!("column {other}"),
        })
        .collect()
}

/// The ledger as a website export (`delimiter` `,` or tab), oldest first.
pub fn ledgers_csv(entries: &[LedgerEntry], v: LedgerCsvVersion, delimiter: char) -> String {
    let mut out = Out {
        buf: String::with_capacity(entries.len() * 160 + 200),
        delimiter,
    };
    out.line(v.columns());
    for e in entries {
        let f = ledger_fields(e, v);
        out.line(&f.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out.buf
}

/// The trades as a website export (`delimiter` `,` or tab), oldest first.
pub fn trades_csv(trades: &[Trade], v: TradeCsvVersion, delimiter: char) -> String {
    let mut out = Out {
        buf: String::with_capacity(trades.len() * 200 + 200),
        delimiter,
    };
    out.line(v.columns());
    let opt = |d: &Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    for t in trades {
        let join = |ids: Vec<&str>| ids.join(",");
        let p = &t.position;
        let f: Vec<String> = v
            .columns()
            .iter()
            .map(|c| match *c {
                "txid" => t.id.to_string(),
                "ordertxid" => t.ordertxid.clone(),
                "pair" => t.pair.clone(),
                "time" => time_text(&t.time, true),
                "type" => t.side.as_str().to_owned(),
                "ordertype" => t.ordertype.clone(),
                "price" => t.price.to_string(),
                "cost" => t.cost.to_string(),
                "fee" => t.fee.to_string(),
                "vol" => t.vol.to_string(),
                "margin" => opt(&t.margin),
                "misc" => t.misc.clone(),
                "ledgers" => join(t.ledgers.iter().map(|l| l.as_str()).collect()),
                "postxid" => t.postxid.clone().unwrap_or_default(),
                "posstatus" => p.posstatus.clone().unwrap_or_default(),
                "cprice" => opt(&p.cprice),
                "ccost" => opt(&p.ccost),
                "cfee" => opt(&p.cfee),
                "cvol" => opt(&p.cvol),
                "cmargin" => opt(&p.cmargin),
                "net" => opt(&p.net),
                "trades" => join(p.trades.iter().map(|l| l.as_str()).collect()),
                other => unreachable!("column {other}"),
            })
            .collect();
        out.line(&f.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out.buf
}

/// Writes `ledgers.csv` and `trades.csv` of `data` into `dir` in the given versions.
pub fn write_account_csv(
    data: &Dataset,
    dir: &Path,
    ledgers: LedgerCsvVersion,
    trades: TradeCsvVersion,
) -> std::io::Result<(PathBuf, PathBuf)> {
    let l = dir.join("ledgers.csv");
    let t = dir.join("trades.csv");
    std::fs::write(&l, ledgers_csv(&data.ledger, ledgers, ','))?;
    std::fs::write(&t, trades_csv(&data.trades, trades, ','))?;
    Ok((l, t))
}

/// A zip archive (deflate) holding `files` (name, content), as Kraken's downloads are.
pub fn zip_files(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            w.start_file(*name, opts).map_err(std::io::Error::other)?;
            w.write_all(content)?;
        }
        w.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}
