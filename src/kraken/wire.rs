//! Serde types that mirror Kraken's JSON exactly, and their conversion into domain types.
//!
//! Money stays text until converted (never `f64`); `time` is captured as raw JSON text so its
//! original digits survive. Unknown fields are ignored; unknown types and assets pass through.

use crate::domain::{
    AmountError, AssetCode, KrakenTime, LedgerEntry, LedgerId, PositionClose, RawRecord, RefId,
    Trade, TradeId, TradeSide, parse_amount,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The envelope of every answer: `{"error": [...], "result": ...}`.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Kraken's error strings; empty on success.
    #[serde(default)]
    pub error: Vec<String>,
    /// The method's result, left raw for the method's own type.
    pub result: Option<Box<RawValue>>,
}

/// A JSON value that Kraken sends as decimal text: a string (money) or a number (`time`).
/// Kept as its raw text so no digit is lost.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct DecimalText(Box<RawValue>);

impl DecimalText {
    /// The decimal text without JSON quotes.
    pub fn text(&self) -> Result<String, NotDecimalText> {
        let raw = self.0.get();
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).map_err(|_| NotDecimalText(raw.to_owned()))
        } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(raw.to_owned())
        } else {
            Err(NotDecimalText(raw.to_owned()))
        }
    }
}

/// A JSON value where Kraken sends decimal text: neither a string nor a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a decimal string or number, got {0}")]
pub struct NotDecimalText(pub String);

/// The reason text of a [`WireError`].
impl From<NotDecimalText> for String {
    fn from(e: NotDecimalText) -> String {
        e.to_string()
    }
}

/// `result` of `Ledgers` and `QueryLedgers` (the latter has no `ledger` wrapper).
#[derive(Debug, Deserialize)]
pub struct LedgersResult {
    /// Ledger id → entry.
    pub ledger: BTreeMap<String, Box<RawValue>>,
    /// Entries matching the whole query.
    pub count: Option<u64>,
}

/// `result` of `TradesHistory`.
#[derive(Debug, Deserialize)]
pub struct TradesResult {
    /// Trade id → trade.
    pub trades: BTreeMap<String, Box<RawValue>>,
    /// Trades matching the whole query.
    pub count: Option<u64>,
}

/// One ledger entry as Kraken sends it.
#[derive(Debug, Deserialize)]
pub struct WireLedgerEntry {
    /// `refid`.
    pub refid: String,
    /// `time` (Unix seconds, a JSON number).
    pub time: DecimalText,
    /// `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `subtype`, absent in old data.
    pub subtype: Option<String>,
    /// `aclass`.
    pub aclass: Option<String>,
    /// `subclass` (not in the API today; tolerated).
    pub subclass: Option<String>,
    /// `asset`.
    pub asset: String,
    /// `wallet` (not in the API today; tolerated).
    pub wallet: Option<String>,
    /// `amount`.
    pub amount: DecimalText,
    /// `fee`.
    pub fee: DecimalText,
    /// `balance`.
    pub balance: Option<DecimalText>,
}

/// One trade as Kraken sends it.
#[derive(Debug, Deserialize)]
pub struct WireTrade {
    /// `ordertxid`.
    pub ordertxid: String,
    /// `postxid`.
    pub postxid: Option<String>,
    /// `pair`.
    pub pair: String,
    /// `time`.
    pub time: DecimalText,
    /// `type` (buy or sell).
    #[serde(rename = "type")]
    pub side: String,
    /// `ordertype`.
    pub ordertype: String,
    /// `price`.
    pub price: DecimalText,
    /// `cost`.
    pub cost: DecimalText,
    /// `fee`.
    pub fee: DecimalText,
    /// `vol`.
    pub vol: DecimalText,
    /// `margin`.
    pub margin: Option<DecimalText>,
    /// `leverage`.
    pub leverage: Option<DecimalText>,
    /// `misc`.
    pub misc: Option<String>,
    /// `ledgers`.
    pub ledgers: Option<Vec<String>>,
    /// `trade_id`.
    pub trade_id: Option<i64>,
    /// `maker`.
    pub maker: Option<bool>,
    /// `posstatus`.
    pub posstatus: Option<String>,
    /// `cprice`.
    pub cprice: Option<DecimalText>,
    /// `ccost`.
    pub ccost: Option<DecimalText>,
    /// `cfee`.
    pub cfee: Option<DecimalText>,
    /// `cvol`.
    pub cvol: Option<DecimalText>,
    /// `cmargin`.
    pub cmargin: Option<DecimalText>,
    /// `net`.
    pub net: Option<DecimalText>,
    /// `trades`.
    pub trades: Option<Vec<String>>,
}

/// A field of an entry that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {id}: field `{field}`: {reason}")]
pub struct WireError {
    /// "ledger entry" or "trade".
    pub what: &'static str,
    /// The entry's id.
    pub id: String,
    /// The JSON field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

struct Ctx<'a> {
    what: &'static str,
    id: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &'static str, reason: impl Into<String>) -> WireError {
        WireError {
            what: self.what,
            id: self.id.to_owned(),
            field,
            reason: reason.into(),
        }
    }

    fn decimal(&self, field: &'static str, v: &DecimalText) -> Result<Decimal, WireError> {
        let text = v.text().map_err(|e| self.err(field, e))?;
        parse_amount(&text).map_err(|e| self.err(field, amount_reason(&text, e)))
    }

    fn opt_decimal(
        &self,
        field: &'static str,
        v: &Option<DecimalText>,
    ) -> Result<Option<Decimal>, WireError> {
        match v {
            None => Ok(None),
            Some(d) => {
                let text = d.text().map_err(|e| self.err(field, e))?;
                if text.trim().is_empty() {
                    return Ok(None);
                }
                parse_amount(&text)
                    .map(Some)
                    .map_err(|e| self.err(field, amount_reason(&text, e)))
            }
        }
    }

    fn time(&self, v: &DecimalText) -> Result<KrakenTime, WireError> {
        let text = v.text().map_err(|e| self.err("time", e))?;
        KrakenTime::parse(&text).map_err(|e| self.err("time", e.reason))
    }
}

/// Why `text` is not an amount in the range `domain::parse_amount` accepts, as a wire error
/// says it.
fn amount_reason(text: &str, e: AmountError) -> String {
    match e {
        AmountError::NotANumber(_) => format!("not a decimal: {text:?}"),
        e => e.to_string(),
    }
}

/// Converts one ledger map entry (`id` → raw JSON) into a domain entry, keeping the raw text.
pub fn ledger_entry(id: &str, raw: &RawValue) -> Result<RawRecord<LedgerEntry>, WireError> {
    let ctx = Ctx {
        what: "ledger entry",
        id,
    };
    let w: WireLedgerEntry =
        serde_json::from_str(raw.get()).map_err(|e| ctx.err("(entry)", e.to_string()))?;
    let item = LedgerEntry {
        id: LedgerId::new(id).map_err(|e| ctx.err("(id)", e.reason))?,
        refid: RefId::new(&w.refid).map_err(|e| ctx.err("refid", e.reason))?,
        time: ctx.time(&w.time)?,
        kind: w.kind,
        subtype: w.subtype,
        aclass: w.aclass.unwrap_or_else(|| "currency".to_owned()),
        subclass: w.subclass,
        asset: AssetCode::new(&w.asset).map_err(|e| ctx.err("asset", e.reason))?,
        wallet: w.wallet,
        amount: ctx.decimal("amount", &w.amount)?,
        fee: ctx.decimal("fee", &w.fee)?,
        balance: ctx.opt_decimal("balance", &w.balance)?,
    };
    Ok(RawRecord {
        item,
        raw: raw.get().to_owned(),
    })
}

/// Converts one trade map entry into a domain trade, keeping the raw text.
pub fn trade(id: &str, raw: &RawValue) -> Result<RawRecord<Trade>, WireError> {
    let ctx = Ctx { what: "trade", id };
    let w: WireTrade =
        serde_json::from_str(raw.get()).map_err(|e| ctx.err("(trade)", e.to_string()))?;
    let ids = |field, list: Option<Vec<String>>| -> Result<Vec<String>, WireError> {
        let list = list.unwrap_or_default();
        for s in &list {
            if s.is_empty() || s.contains(char::is_whitespace) {
                return Err(ctx.err(field, format!("bad id {s:?}")));
            }
        }
        Ok(list)
    };
    let leverage = match &w.leverage {
        None => None,
        Some(l) => Some(l.text().map_err(|e| ctx.err("leverage", e))?),
    };
    let item = Trade {
        id: TradeId::new(id).map_err(|e| ctx.err("(id)", e.reason))?,
        ordertxid: w.ordertxid.clone(),
        postxid: w.postxid.clone(),
        pair: w.pair.clone(),
        time: ctx.time(&w.time)?,
        side: TradeSide::parse(&w.side)
            .ok_or_else(|| ctx.err("type", format!("expected buy or sell, got {:?}", w.side)))?,
        ordertype: w.ordertype.clone(),
        price: ctx.decimal("price", &w.price)?,
        cost: ctx.decimal("cost", &w.cost)?,
        fee: ctx.decimal("fee", &w.fee)?,
        vol: ctx.decimal("vol", &w.vol)?,
        margin: ctx.opt_decimal("margin", &w.margin)?,
        leverage,
        misc: w.misc.clone().unwrap_or_default(),
        ledgers: ids("ledgers", w.ledgers)?
            .into_iter()
            .map(|s| LedgerId::new(s).map_err(|e| ctx.err("ledgers", e.reason)))
            .collect::<Result<_, _>>()?,
        trade_id: w.trade_id,
        maker: w.maker,
        position: PositionClose {
            posstatus: w.posstatus.clone(),
            cprice: ctx.opt_decimal("cprice", &w.cprice)?,
            ccost: ctx.opt_decimal("ccost", &w.ccost)?,
            cfee: ctx.opt_decimal("cfee", &w.cfee)?,
            cvol: ctx.opt_decimal("cvol", &w.cvol)?,
            cmargin: ctx.opt_decimal("cmargin", &w.cmargin)?,
            net: ctx.opt_decimal("net", &w.net)?,
            trades: ids("trades", w.trades)?
                .into_iter()
                .map(|s| TradeId::new(s).map_err(|e| ctx.err("trades", e.reason)))
                .collect::<Result<_, _>>()?,
        },
    };
    Ok(RawRecord {
        item,
        raw: raw.get().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn ledger_entry_keeps_exact_decimals_and_time_text() {
        let r = ledger_entry(
            "L4UESK-KG3EQ-UFO4T5",
            &raw(r#"{"refid":"TJKLXF-PGMUI-4NTLXU","time":1688464484.1787,"type":"trade","subtype":"","aclass":"currency","asset":"ZGBP","amount":"-24.5000","fee":"0.0490","balance":"459567.9171","newfield":[1,2]}"#),
        )
        .unwrap();
        let e = r.item;
        assert_eq!(e.amount, dec!(-24.5000));
        assert_eq!(e.amount.to_string(), "-24.5000");
        assert_eq!(e.fee, dec!(0.0490));
        assert_eq!(e.balance, Some(dec!(459567.9171)));
        assert_eq!(e.time.text(), "1688464484.1787");
        assert_eq!(e.subtype.as_deref(), Some(""));
        assert!(r.raw.contains("newfield"));
    }

    #[test]
    fn old_entries_without_subtype_and_unknown_types_are_accepted() {
        let e = ledger_entry(
            "LGBRJU-SQZ4L-5HLS3C",
            &raw(r#"{"refid":"QGBCOYA-UNP53O-F2JDNS","time":1546992921.8426,"type":"voucher","aclass":"currency","asset":"NEWCOIN.X","amount":"0.7812500000","fee":"0.0000000000","balance":"5.4687500000"}"#),
        )
        .unwrap()
        .item;
        assert_eq!(e.subtype, None);
        assert_eq!(e.kind, "voucher");
        assert_eq!(e.asset.as_str(), "NEWCOIN.X");
    }

    #[test]
    fn a_bad_field_is_named() {
        let err = ledger_entry(
            "L1",
            &raw(r#"{"refid":"R","time":1.5,"type":"trade","asset":"XXBT","amount":"1.2.3","fee":"0"}"#),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ledger entry L1: field `amount`: not a decimal: \"1.2.3\""
        );
        let err = ledger_entry("L1", &raw(r#"{"refid":"R","type":"trade"}"#)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ledger entry L1: field `(entry)`: missing field")
        );
    }

    #[test]
    fn out_of_range_amounts_are_refused_naming_the_entry_and_field() {
        let err = ledger_entry(
            "L1",
            &raw(r#"{"refid":"R","time":1.5,"type":"trade","asset":"XXBT","amount":"79228162514264337593543950335","fee":"0"}"#),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ledger entry L1: field `amount`: out of range: \"79228162514264337593543950335\" has 29 digits before the point; amounts are limited to 20 digits before the point, 18 after it and 28 in all"
        );
        let err = trade(
            "T1",
            &raw(r#"{"ordertxid":"O","pair":"XXBTZEUR","time":1.5,"type":"buy","ordertype":"limit","price":"1","cost":"1","fee":"0.0000000000000000000000000001","vol":"1"}"#),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("trade T1: field `fee`: out of range: \"0.0000000000000000000000000001\" has 28 digits after the point"),
            "{err}"
        );
    }

    #[test]
    fn trade_with_position_fields() {
        let t = trade(
            "TBGB6I-IMYKU-WWA2SK",
            &raw(r#"{"ordertxid":"OJTVFU-UWBXK-7AC6ML","postxid":"TKH1SE-X7IF5-CKI7JT","pair":"XXBTZUSD","time":1428084298.0986,"type":"sell","ordertype":"limit","price":"9.25000","cost":"0.92500","fee":"0.00296","vol":"0.10000000","margin":"0.61667","leverage":"0","misc":"","trade_id":2560488,"posstatus":"closed","cprice":"9.2","ccost":"0.9","cfee":"0","cvol":"0.10000000","cmargin":"0.9","net":"-0.0070","trades":["TSOROF-PFCET-MPJ7ZY"]}"#),
        )
        .unwrap()
        .item;
        assert_eq!(t.side, TradeSide::Sell);
        assert_eq!(t.cost, dec!(0.92500));
        assert_eq!(t.position.net, Some(dec!(-0.0070)));
        assert_eq!(t.position.trades[0].as_str(), "TSOROF-PFCET-MPJ7ZY");
        assert_eq!(t.trade_id, Some(2560488));
        assert_eq!(t.leverage.as_deref(), Some("0"));
    }
}
