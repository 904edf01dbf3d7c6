//! Kraken's JSON for ledger entries and trades, written by hand so that money keeps its exact
//! decimal text and `time` is a JSON number with exactly Kraken's digits.

use crate::domain::{LedgerEntry, Trade};
use rust_decimal::Decimal;

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

struct Obj(String);

impl Obj {
    fn new() -> Self {
        Obj(String::from("{"))
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(k);
        self.0.push_str("\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.0.push_str(&json_str(v));
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.0.push_str(v);
    }
    fn dec(&mut self, k: &str, v: &Decimal) {
        // Display keeps the scale: "0.7812500000", "-24.5000".
        self.str(k, &v.to_string());
    }
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }
    fn opt_dec(&mut self, k: &str, v: Option<&Decimal>) {
        if let Some(v) = v {
            self.dec(k, v);
        }
    }
    fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Kraken's JSON object for one ledger entry (without its id, which is the map key).
/// Optional fields that are `None` are omitted.
pub fn ledger_entry_json(e: &LedgerEntry) -> String {
    let mut o = Obj::new();
    o.str("refid", e.refid.as_str());
    o.raw("time", e.time.text());
    o.str("type", &e.kind);
    o.opt_str("subtype", e.subtype.as_deref());
    o.str("aclass", &e.aclass);
    o.opt_str("subclass", e.subclass.as_deref());
    o.str("asset", e.asset.as_str());
    o.opt_str("wallet", e.wallet.as_deref());
    o.dec("amount", &e.amount);
    o.dec("fee", &e.fee);
    o.opt_dec("balance", e.balance.as_ref());
    o.done()
}

/// Kraken's JSON object for one trade (without its id, which is the map key).
/// Optional fields that are `None` (and empty position lists) are omitted.
pub fn trade_json(t: &Trade) -> String {
    let mut o = Obj::new();
    o.str("ordertxid", &t.ordertxid);
    o.opt_str("postxid", t.postxid.as_deref());
    o.str("pair", &t.pair);
    o.raw("time", t.time.text());
    o.str("type", t.side.as_str());
    o.str("ordertype", &t.ordertype);
    o.dec("price", &t.price);
    o.dec("cost", &t.cost);
    o.dec("fee", &t.fee);
    o.dec("vol", &t.vol);
    o.opt_dec("margin", t.margin.as_ref());
    o.opt_str("leverage", t.leverage.as_deref());
    o.str("misc", &t.misc);
    let ids: Vec<String> = t.ledgers.iter().map(|l| json_str(l.as_str())).collect();
    o.raw("ledgers", &format!("[{}]", ids.join(",")));
    if let Some(n) = t.trade_id {
        o.raw("trade_id", &n.to_string());
    }
    if let Some(m) = t.maker {
        o.raw("maker", if m { "true" } else { "false" });
    }
    let p = &t.position;
    o.opt_str("posstatus", p.posstatus.as_deref());
    o.opt_dec("cprice", p.cprice.as_ref());
    o.opt_dec("ccost", p.ccost.as_ref());
    o.opt_dec("cfee", p.cfee.as_ref());
    o.opt_dec("cvol", p.cvol.as_ref());
    o.opt_dec("cmargin", p.cmargin.as_ref());
    o.opt_dec("net", p.net.as_ref());
    if !p.trades.is_empty() {
        let ids: Vec<String> = p.trades.iter().map(|l| json_str(l.as_str())).collect();
        o.raw("trades", &format!("[{}]", ids.join(",")));
    }
    o.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetCode, KrakenTime, LedgerId, RefId, TradeId, TradeSide};

    #[test]
    fn ledger_entry_json_matches_krakens_shape() {
        let e = LedgerEntry {
            id: LedgerId::new("L4UESK-KG3EQ-UFO4T5").unwrap(),
            refid: RefId::new("TJKLXF-PGMUI-4NTLXU").unwrap(),
            time: KrakenTime::parse("1688464484.1787").unwrap(),
            kind: "trade".into(),
            subtype: Some("".into()),
            aclass: "currency".into(),
            subclass: None,
            asset: AssetCode::new("ZGBP").unwrap(),
            wallet: None,
            amount: Decimal::new(-245000, 4),
            fee: Decimal::new(490, 4),
            balance: Some(Decimal::new(4595679171, 4)),
        };
        assert_eq!(
            ledger_entry_json(&e),
            r#"{"refid":"TJKLXF-PGMUI-4NTLXU","time":1688464484.1787,"type":"trade","subtype":"","aclass":"currency","asset":"ZGBP","amount":"-24.5000","fee":"0.0490","balance":"459567.9171"}"#
        );
        let old = LedgerEntry {
            subtype: None,
            balance: None,
            ..e
        };
        let v: serde_json::Value = serde_json::from_str(&ledger_entry_json(&old)).unwrap();
        assert!(v.get("subtype").is_none() && v.get("balance").is_none());
    }

    #[test]
    fn trade_json_has_every_field() {
        let t = Trade {
            id: TradeId::new("TBGB6I-IMYKU-WWA2SK").unwrap(),
            ordertxid: "OQCLML-BW3P3-BUCMWZ".into(),
            postxid: Some("TKH2SE-M7IF5-CFI7LT".into()),
            pair: "XXBTZEUR".into(),
            time: KrakenTime::parse("1718000000.123456").unwrap(),
            side: TradeSide::Buy,
            ordertype: "limit".into(),
            price: Decimal::new(600001, 1),
            cost: Decimal::new(600001000, 5),
            fee: Decimal::new(15000, 5),
            vol: Decimal::new(10000000, 8),
            margin: Some(Decimal::new(0, 5)),
            leverage: Some("0".into()),
            misc: String::new(),
            ledgers: vec![LedgerId::new("LAAAAA-BBBBB-CCCCCC").unwrap()],
            trade_id: Some(123),
            maker: Some(true),
            position: Default::default(),
        };
        assert_eq!(
            trade_json(&t),
            r#"{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZEUR","time":1718000000.123456,"type":"buy","ordertype":"limit","price":"60000.1","cost":"6000.01000","fee":"0.15000","vol":"0.10000000","margin":"0.00000","leverage":"0","misc":"","ledgers":["LAAAAA-BBBBB-CCCCCC"],"trade_id":123,"maker":true}"#
        );
    }
}
