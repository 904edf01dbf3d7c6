//! Kraken's public market data, synthesized from the generator's own prices: `Assets`,
//! `AssetPairs` and `Trades`, so that valuations can be checked against ground truth.
//!
//! Each pair trades once at every generated event (at the generator's price of that moment,
//! rounded to the pair's decimals, time truncated to Kraken's 4 decimals) and, between
//! events, every [`FILLER_MINUTES`] minutes at the last event's price. Fiat currencies
//! other than EUR and USD have fixed EUR rates. Trades are computed on demand, not stored.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

/// Minutes between two synthetic trades when no event happens.
pub const FILLER_MINUTES: i64 = 15;
/// Trades per answer, as Kraken.
const PAGE: usize = 1000;

/// The generator's EUR prices over time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PricePath {
    /// Kraken asset codes priced (`XXBT`, `ZUSD`, ...), the columns of `points`.
    pub assets: Vec<String>,
    /// (time in microseconds, EUR price of each asset), one per event, in time order.
    pub points: Vec<(i64, Vec<Decimal>)>,
}

/// Fixed EUR rates of the fiat currencies the generator does not walk.
const FIXED_EUR: &[(&str, i64, u32)] = &[
    ("ZGBP", 117, 2),
    ("CHF", 105, 2),
    ("ZCAD", 68, 2),
    ("ZAUD", 61, 2),
    ("ZJPY", 62, 4),
];

/// Assets served by `Assets`: code, altname, decimals.
const ASSETS: &[(&str, &str, u32)] = &[
    ("XXBT", "XBT", 10),
    ("XETH", "ETH", 10),
    ("ETH2", "ETH2", 10),
    ("ETH2.S", "ETH2.S", 10),
    ("DOT", "DOT", 10),
    ("DOT.S", "DOT.S", 10),
    ("SOL", "SOL", 10),
    ("ADA", "ADA", 8),
    ("XXDG", "XDG", 8),
    ("USDT", "USDT", 8),
    ("USDC", "USDC", 8),
    ("KFEE", "FEE", 2),
    ("ZEUR", "EUR", 4),
    ("ZUSD", "USD", 4),
    ("ZGBP", "GBP", 4),
    ("CHF", "CHF", 4),
    ("ZCAD", "CAD", 4),
    ("ZAUD", "AUD", 4),
    ("ZJPY", "JPY", 2),
];

/// Pairs served: name, altname, base, quote, price decimals.
const PAIRS: &[(&str, &str, &str, &str, u32)] = &[
    ("XXBTZEUR", "XBTEUR", "XXBT", "ZEUR", 1),
    ("XXBTZUSD", "XBTUSD", "XXBT", "ZUSD", 1),
    ("XXBTZGBP", "XBTGBP", "XXBT", "ZGBP", 1),
    ("XBTCHF", "XBTCHF", "XXBT", "CHF", 1),
    ("XXBTZCAD", "XBTCAD", "XXBT", "ZCAD", 1),
    ("XBTAUD", "XBTAUD", "XXBT", "ZAUD", 1),
    ("XXBTZJPY", "XBTJPY", "XXBT", "ZJPY", 0),
    ("XETHZEUR", "ETHEUR", "XETH", "ZEUR", 2),
    ("XETHZUSD", "ETHUSD", "XETH", "ZUSD", 2),
    ("XETHXXBT", "ETHXBT", "XETH", "XXBT", 5),
    ("DOTUSD", "DOTUSD", "DOT", "ZUSD", 4),
    ("DOTXBT", "DOTXBT", "DOT", "XXBT", 8),
    ("DOTEUR", "DOTEUR", "DOT", "ZEUR", 4),
    ("SOLEUR", "SOLEUR", "SOL", "ZEUR", 2),
    ("SOLUSD", "SOLUSD", "SOL", "ZUSD", 2),
    ("SOLXBT", "SOLXBT", "SOL", "XXBT", 7),
    ("ADAEUR", "ADAEUR", "ADA", "ZEUR", 6),
    ("ADAUSD", "ADAUSD", "ADA", "ZUSD", 6),
    ("XDGEUR", "XDGEUR", "XXDG", "ZEUR", 7),
    ("XDGUSD", "XDGUSD", "XXDG", "ZUSD", 7),
    ("USDTZEUR", "USDTEUR", "USDT", "ZEUR", 4),
    ("USDTZUSD", "USDTUSD", "USDT", "ZUSD", 4),
    ("USDCEUR", "USDCEUR", "USDC", "ZEUR", 4),
    ("USDCUSD", "USDCUSD", "USDC", "ZUSD", 4),
    ("ZEURZUSD", "EURUSD", "ZEUR", "ZUSD", 5),
    ("ZGBPZUSD", "GBPUSD", "ZGBP", "ZUSD", 5),
    ("EURGBP", "EURGBP", "ZEUR", "ZGBP", 5),
    ("USDCHF", "USDCHF", "ZUSD", "CHF", 5),
    ("EURCHF", "EURCHF", "ZEUR", "CHF", 5),
    ("ZUSDZCAD", "USDCAD", "ZUSD", "ZCAD", 5),
    ("EURCAD", "EURCAD", "ZEUR", "ZCAD", 5),
    ("AUDUSD", "AUDUSD", "ZAUD", "ZUSD", 5),
    ("EURAUD", "EURAUD", "ZEUR", "ZAUD", 5),
    ("ZUSDZJPY", "USDJPY", "ZUSD", "ZJPY", 3),
    ("EURJPY", "EURJPY", "ZEUR", "ZJPY", 3),
];

/// The public market the emulator serves (no trades until [`PublicMarket::set_prices`]),
/// and the calls it answered.
#[derive(Debug, Default)]
pub struct PublicMarket {
    market: RwLock<Market>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl PublicMarket {
    /// Serves the market synthesized from `path` from now on.
    pub fn set_prices(&self, path: &PricePath) {
        *self.market.write().unwrap_or_else(|e| e.into_inner()) = Market::new(path);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Market> {
        self.market.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Public calls answered so far, per endpoint (`Assets`, `AssetPairs`, `Trades`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, method: &str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(method.to_owned())
            .or_default() += 1;
    }

    /// The price of the public trade of `pair` at exactly `time_us`, if one happened then:
    /// what a valuation from Kraken's trades should have used.
    pub fn trade_price_at(&self, pair: &str, time_us: i64) -> Option<Decimal> {
        self.read().trade_price_at(pair, time_us)
    }
}

/// Synthesized trades of every pair.
#[derive(Debug, Default)]
struct Market {
    /// Per pair (index in `PAIRS`): price at each point.
    prices: Vec<Vec<Decimal>>,
    /// Point times truncated to 100 µs (Kraken's 4 decimals).
    times: Vec<i64>,
    /// Pair name and altname → index in `PAIRS`.
    by_name: HashMap<&'static str, usize>,
}

impl Market {
    /// Synthesizes the market of `path`.
    fn new(path: &PricePath) -> Self {
        let col = |code: &str| path.assets.iter().position(|a| a == code);
        let eur = |code: &str, point: &[Decimal]| -> Option<Decimal> {
            if code == "ZEUR" {
                return Some(Decimal::ONE);
            }
            if let Some(&(_, m, s)) = FIXED_EUR.iter().find(|f| f.0 == code) {
                return Some(Decimal::new(m, s));
            }
            col(code).map(|i| point[i])
        };
        let prices = PAIRS
            .iter()
            .map(|&(_, _, base, quote, dp)| {
                path.points
                    .iter()
                    .map(|(_, p)| match (eur(base, p), eur(quote, p)) {
                        (Some(b), Some(q)) if !q.is_zero() => (b / q).round_dp(dp),
                        _ => Decimal::ZERO,
                    })
                    .collect()
            })
            .collect();
        let mut by_name = HashMap::new();
        for (i, p) in PAIRS.iter().enumerate() {
            by_name.insert(p.0, i);
            by_name.insert(p.1, i);
        }
        Market {
            prices,
            times: path
                .points
                .iter()
                .map(|(t, _)| t - t.rem_euclid(100))
                .collect(),
            by_name,
        }
    }

    fn trade_price_at(&self, pair: &str, time_us: i64) -> Option<Decimal> {
        let &i = self.by_name.get(pair)?;
        let k = self.times.partition_point(|&t| t <= time_us);
        let last = k.checked_sub(1)?;
        let is_event = self.times[last] == time_us;
        let is_filler = time_us % (FILLER_MINUTES * 60_000_000) == 0;
        (is_event || is_filler)
            .then_some(self.prices[i][last])
            .filter(|p| !p.is_zero())
    }

    /// Up to [`PAGE`] trades of pair `i` strictly after `since_us`: (time, price).
    fn trades_after(&self, i: usize, since_us: i64) -> Vec<(i64, Decimal)> {
        let mut out = Vec::new();
        let Some(&end) = self.times.last() else {
            return out;
        };
        let step = FILLER_MINUTES * 60_000_000;
        let mut k = self.times.partition_point(|&t| t <= since_us);
        let mut filler = (since_us.div_euclid(step) + 1) * step;
        // Fillers only start once the market opened (at the first event).
        filler = filler.max((self.times[0].div_euclid(step) + 1) * step);
        while out.len() < PAGE {
            let next_event = self.times.get(k).copied();
            let take_event = match next_event {
                Some(t) => t <= filler,
                None => false,
            };
            let (t, price_idx) = if take_event {
                let t = next_event.expect("checked");
                k += 1;
                if t == filler {
                    filler += step;
                }
                (t, k - 1)
            } else {
                if filler > end {
                    break;
                }
                let t = filler;
                filler += step;
                (t, k.saturating_sub(1))
            };
            let p = self.prices[i][price_idx];
            if !p.is_zero() {
                out.push((t, p));
            }
        }
        out
    }
}

impl Market {
    fn assets_json() -> String {
        let body: Vec<String> = ASSETS
            .iter()
            .map(|(code, alt, dp)| {
                format!(
                    "\"{code}\":{{\"aclass\":\"currency\",\"altname\":\"{alt}\",\"decimals\":{dp},\"display_decimals\":5,\"status\":\"enabled\"}}"
                )
            })
            .collect();
        format!("{{\"error\":[],\"result\":{{{}}}}}", body.join(","))
    }

    fn pairs_json() -> String {
        let body: Vec<String> = PAIRS
            .iter()
            .map(|(name, alt, base, quote, dp)| {
                let ws = |c: &str| {
                    ASSETS
                        .iter()
                        .find(|a| a.0 == c)
                        .map_or(c.to_owned(), |a| a.1.to_owned())
                };
                format!(
                    "\"{name}\":{{\"altname\":\"{alt}\",\"wsname\":\"{}/{}\",\"aclass_base\":\"currency\",\"base\":\"{base}\",\"aclass_quote\":\"currency\",\"quote\":\"{quote}\",\"pair_decimals\":{dp},\"status\":\"online\"}}",
                    ws(base),
                    ws(quote)
                )
            })
            .collect();
        format!("{{\"error\":[],\"result\":{{{}}}}}", body.join(","))
    }

    fn trades_json(&self, params: &HashMap<String, String>) -> String {
        let Some(&i) = params
            .get("pair")
            .and_then(|p| self.by_name.get(p.as_str()))
        else {
            return "{\"error\":[\"EQuery:Unknown asset pair\"]}".to_owned();
        };
        let since_ns: i128 = match params.get("since").map(|s| s.parse::<i128>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return "{\"error\":[\"EGeneral:Invalid arguments:since\"]}".to_owned(),
        };
        let since_us = i64::try_from(since_ns.div_euclid(1000)).unwrap_or(i64::MAX);
        let trades = self.trades_after(i, since_us);
        let mut rows = Vec::with_capacity(trades.len());
        for (n, (t, p)) in trades.iter().enumerate() {
            let time = crate::domain::KrakenTime::from_micros(*t, 4);
            let side = if n % 2 == 0 { "b" } else { "s" };
            rows.push(format!(
                "[\"{p}\",\"0.10000000\",{time},\"{side}\",\"l\",\"\",{}]",
                t / 100
            ));
        }
        let last = trades
            .last()
            .map_or(since_ns, |(t, _)| i128::from(*t) * 1000);
        format!(
            "{{\"error\":[],\"result\":{{\"{}\":[{}],\"last\":\"{last}\"}}}}",
            PAIRS[i].0,
            rows.join(",")
        )
    }
}

fn json(body: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("valid response")
}

async fn assets(State(m): State<Arc<PublicMarket>>) -> Response {
    m.count("Assets");
    json(Market::assets_json())
}

async fn asset_pairs(State(m): State<Arc<PublicMarket>>) -> Response {
    m.count("AssetPairs");
    json(Market::pairs_json())
}

async fn trades(State(m): State<Arc<PublicMarket>>, uri: Uri) -> Response {
    m.count("Trades");
    let params: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    json(m.read().trades_json(&params))
}

/// The routes `GET /0/public/{Assets,AssetPairs,Trades}`.
pub fn router(market: Arc<PublicMarket>) -> Router {
    Router::new()
        .route("/0/public/Assets", get(assets))
        .route("/0/public/AssetPairs", get(asset_pairs))
        .route("/0/public/Trades", get(trades))
        .with_state(market)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PricePath {
        PricePath {
            assets: vec!["XXBT".into(), "ZUSD".into()],
            points: vec![
                (
                    1_000_000_000_000,
                    vec![Decimal::from(40000), Decimal::new(90, 2)],
                ),
                (
                    1_003_600_000_000,
                    vec![Decimal::from(41000), Decimal::new(92, 2)],
                ),
            ],
        }
    }

    #[test]
    fn trades_follow_the_path_with_fillers_between_events() {
        let m = Market::new(&path());
        let i = m.by_name["XBTEUR"];
        let t = m.trades_after(i, 0);
        assert_eq!(t.first(), Some(&(1_000_000_000_000, Decimal::from(40000))));
        assert_eq!(t.last(), Some(&(1_003_600_000_000, Decimal::from(41000))));
        // One hour: 4 fillers at the first event's price, then the second event.
        assert_eq!(t.len(), 6);
        assert!(t[1..5].iter().all(|x| x.1 == Decimal::from(40000)));
        let usd = m.by_name["ZEURZUSD"];
        // 1 EUR = 1 / 0.90 USD, 5 decimals.
        assert_eq!(m.trades_after(usd, 0)[0].1, Decimal::new(111111, 5));
        assert_eq!(
            m.trade_price_at("XXBTZEUR", 1_003_600_000_000),
            Some(Decimal::from(41000))
        );
        assert_eq!(m.trade_price_at("XXBTZEUR", 1_000_003_600_001), None);
        let body = m.trades_json(&HashMap::from([
            ("pair".to_owned(), "XBTEUR".to_owned()),
            ("since".to_owned(), "1003599999000000".to_owned()),
        ]));
        assert_eq!(
            body,
            "{\"error\":[],\"result\":{\"XXBTZEUR\":[[\"41000\",\"0.10000000\",1003600.0000,\"b\",\"l\",\"\",10036000000]],\"last\":\"1003600000000000\"}}"
        );
    }
}
