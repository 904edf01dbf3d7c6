//! A seeded synthetic Kraken account: ledger entries and trades with consistent running
//! balances and trades that match their ledger legs. The same seed always gives the same data.

use super::wire::{ledger_entry_json, trade_json};
use crate::domain::{
    AssetCode, KrakenTime, LedgerEntry, LedgerId, PositionClose, RefId, Trade, TradeId, TradeSide,
};
use chrono::{DateTime, TimeZone, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of the random generator: the same seed gives the same account.
    pub seed: u64,
    /// Minimum number of ledger entries; generation stops right after reaching it.
    pub entries: usize,
    /// Earliest event time.
    pub start: DateTime<Utc>,
    /// Latest event time.
    pub end: DateTime<Utc>,
    /// When set, this many extra staking rewards on `DOT.S` share exactly one timestamp
    /// (on top of `entries`), to exercise paging through one time with `ofs`.
    pub same_time_burst: Option<usize>,
    /// Also generate what `gains` needs exercising (from a second random stream): margin
    /// positions (`margin` open and close entries with fees and a realised profit or loss in
    /// EUR, `rollover` fees, some closed by a `settled` entry) and own-wallet round trips (a
    /// withdrawal of BTC or ETH, then a deposit of exactly the withdrawn units). Off in
    /// [`GeneratorConfig::new`], so existing seeds keep their accounts; on in the demo's.
    pub gains_events: bool,
}

impl GeneratorConfig {
    /// Two years (2024-01-01 to 2025-12-31T23:59:59Z), no burst.
    pub fn new(seed: u64, entries: usize) -> Self {
        GeneratorConfig {
            seed,
            entries,
            start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap(),
            same_time_burst: None,
            gains_events: false,
        }
    }

    /// The demo account: seed 2024, about 2,000 entries over the same two years.
    pub fn demo() -> Self {
        Self::new(2024, 2000).with_gains_events()
    }

    /// The same, with [`GeneratorConfig::gains_events`] on.
    pub fn with_gains_events(mut self) -> Self {
        self.gains_events = true;
        self
    }
}

/// A generated account: the ground truth the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// Ledger entries, oldest first by (time, id).
    pub ledger: Vec<LedgerEntry>,
    /// Trades, oldest first by (time, id).
    pub trades: Vec<Trade>,
}

impl Dataset {
    /// The last balance of each asset code.
    pub fn final_balances(&self) -> BTreeMap<String, Decimal> {
        let mut out = BTreeMap::new();
        for e in &self.ledger {
            if let Some(b) = e.balance {
                out.insert(e.asset.as_str().to_owned(), b);
            }
        }
        out
    }

    /// Writes the ground truth as JSON: `{"ledger":{id:{..}},"trades":{id:{..}}}`, each object
    /// exactly as the emulator serves it.
    pub fn write_truth(&self, path: &Path) -> std::io::Result<()> {
        let mut out = String::from("{\"ledger\":{");
        for (i, e) in self.ledger.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&super::wire::json_str(e.id.as_str()));
            out.push(':');
            out.push_str(&ledger_entry_json(e));
        }
        out.push_str("},\"trades\":{");
        for (i, t) in self.trades.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&super::wire::json_str(t.id.as_str()));
            out.push(':');
            out.push_str(&trade_json(t));
        }
        out.push_str("}}\n");
        std::fs::write(path, out)
    }
}

/// Generates the account described by `cfg`.
pub fn generate(cfg: &GeneratorConfig) -> Dataset {
    generate_with_prices(cfg).0
}

/// Generates the account described by `cfg`, and the generator's EUR prices at each event
/// (what the emulator's public market data is synthesized from).
pub fn generate_with_prices(cfg: &GeneratorConfig) -> (Dataset, super::public::PricePath) {
    let mut g = Gen::new(cfg.seed);
    // A second stream for the gains events: the first one draws exactly as without them.
    let mut extra = cfg
        .gains_events
        .then(|| ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6741_494e_5345_5654));
    while g.n_entries < cfg.entries {
        g.step();
        if let Some(rng) = extra.as_mut() {
            g.gains_event(rng);
        }
    }
    if let Some(k) = cfg.same_time_burst.filter(|&k| k > 0) {
        g.insert_burst(k);
    }
    g.finish(cfg)
}

/// Fiat codes of this account (4 decimals).
fn is_fiat(asset: &str) -> bool {
    matches!(asset, "ZEUR" | "ZUSD")
}

/// Kraken's ledger scale of an asset.
fn scale(asset: &str) -> u32 {
    match asset {
        a if is_fiat(a) => 4,
        "KFEE" => 2,
        _ => 10,
    }
}

/// Precision of trade costs and fees in a quote asset (crypto quotes use 8 decimals).
fn trade_dp(quote: &str) -> u32 {
    if is_fiat(quote) { 4 } else { 8 }
}

fn rescaled(mut d: Decimal, s: u32) -> Decimal {
    d.rescale(s);
    d
}

fn down(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::ToZero)
}

/// A tradable pair: Kraken's name, base, quote, price decimals.
struct Pair(&'static str, &'static str, &'static str, u32);

const FIAT_PAIRS: &[Pair] = &[
    Pair("XXBTZEUR", "XXBT", "ZEUR", 1),
    Pair("XXBTZUSD", "XXBT", "ZUSD", 1),
    Pair("XETHZEUR", "XETH", "ZEUR", 2),
    Pair("XETHZUSD", "XETH", "ZUSD", 2),
    Pair("DOTEUR", "DOT", "ZEUR", 4),
    Pair("SOLEUR", "SOL", "ZEUR", 2),
    Pair("ADAEUR", "ADA", "ZEUR", 6),
    Pair("XDGEUR", "XXDG", "ZEUR", 7),
];
const STABLE_PAIRS: &[Pair] = &[
    Pair("USDTZEUR", "USDT", "ZEUR", 4),
    Pair("USDCUSD", "USDC", "ZUSD", 4),
];
const CRYPTO_PAIRS: &[Pair] = &[
    Pair("XETHXXBT", "XETH", "XXBT", 5),
    Pair("DOTXBT", "DOT", "XXBT", 8),
    Pair("SOLXBT", "SOL", "XXBT", 7),
];

/// Starting prices in EUR (mantissa, scale); they random-walk around these.
const PRICES: &[(&str, i64, u32)] = &[
    ("XXBT", 42000, 0),
    ("XETH", 2300, 0),
    ("DOT", 70, 1),
    ("SOL", 95, 0),
    ("ADA", 55, 2),
    ("XXDG", 8, 2),
    ("USDT", 92, 2),
    ("USDC", 92, 2),
    ("ZUSD", 92, 2),
];

/// Event kinds with their relative weights (roughly what an active retail account shows).
#[derive(Clone, Copy)]
enum Kind {
    FiatDeposit,
    FiatTrade,
    StableTrade,
    CryptoTrade,
    KfeeDeposit,
    BuyCrypto,
    StakeIn,
    StakeReward,
    StakeOut,
    EarnReward,
    CryptoDeposit,
    Withdrawal,
    Voucher,
}

const WEIGHTS: &[(Kind, u32)] = &[
    (Kind::FiatDeposit, 70),
    (Kind::FiatTrade, 380),
    (Kind::StableTrade, 50),
    (Kind::CryptoTrade, 70),
    (Kind::KfeeDeposit, 6),
    (Kind::BuyCrypto, 20),
    (Kind::StakeIn, 25),
    (Kind::StakeReward, 120),
    (Kind::StakeOut, 12),
    (Kind::EarnReward, 70),
    (Kind::CryptoDeposit, 30),
    (Kind::Withdrawal, 30),
    (Kind::Voucher, 5),
];

/// A ledger entry before times and balances are known.
struct Proto {
    id: String,
    refid: String,
    kind: &'static str,
    subtype: Option<&'static str>,
    asset: &'static str,
    amount: Decimal,
    fee: Decimal,
    /// Booked a few seconds after the event's time (the second half of a staking transfer).
    delayed: bool,
}

/// A trade before its time is known.
struct ProtoTrade {
    id: String,
    ordertxid: String,
    pair: &'static str,
    side: TradeSide,
    ordertype: &'static str,
    price: Decimal,
    cost: Decimal,
    fee: Decimal,
    vol: Decimal,
    ledgers: Vec<String>,
    trade_id: i64,
    maker: bool,
    quote_fiat: bool,
}

struct Event {
    entries: Vec<Proto>,
    trade: Option<ProtoTrade>,
}

struct Gen {
    rng: ChaCha8Rng,
    ids: HashSet<String>,
    balances: BTreeMap<&'static str, Decimal>,
    /// (asset, start price, current price) in EUR.
    prices: Vec<(&'static str, Decimal, Decimal)>,
    events: Vec<Event>,
    n_entries: usize,
    next_trade_id: i64,
    deposits: usize,
    /// EUR prices when each event happened (same order as `events`); drawn from no RNG.
    snapshots: Vec<Vec<Decimal>>,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            ids: HashSet::new(),
            balances: BTreeMap::new(),
            prices: PRICES
                .iter()
                .map(|&(a, m, s)| (a, Decimal::new(m, s), Decimal::new(m, s)))
                .collect(),
            events: Vec::new(),
            n_entries: 0,
            next_trade_id: 10_000_000,
            deposits: 0,
            snapshots: Vec::new(),
        }
    }

    /// A Kraken-looking id: prefix + 5, dash, 5, dash, 6 uppercase alphanumerics; unique.
    fn new_id(&mut self, prefix: char) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        loop {
            let mut s = String::with_capacity(19);
            s.push(prefix);
            for i in 0..18 {
                if i == 5 || i == 11 {
                    s.push('-');
                } else {
                    s.push(ALNUM[self.rng.random_range(0..ALNUM.len())] as char);
                }
            }
            if self.ids.insert(s.clone()) {
                return s;
            }
        }
    }

    fn bal(&self, asset: &str) -> Decimal {
        self.balances.get(asset).copied().unwrap_or(Decimal::ZERO)
    }

    fn eur(&self, asset: &str) -> Decimal {
        if asset == "ZEUR" {
            return Decimal::ONE;
        }
        self.prices
            .iter()
            .find(|p| p.0 == asset)
            .map(|p| p.2)
            .expect("priced asset")
    }

    fn entry(
        &mut self,
        refid: &str,
        kind: &'static str,
        subtype: &'static str,
        asset: &'static str,
        amount: Decimal,
        fee: Decimal,
    ) -> Proto {
        let s = scale(asset);
        Proto {
            id: self.new_id('L'),
            refid: refid.to_owned(),
            kind,
            subtype: Some(subtype),
            asset,
            amount: rescaled(amount, s),
            fee: rescaled(fee, s),
            delayed: false,
        }
    }

    fn push(&mut self, ev: Event) {
        for e in &ev.entries {
            let b = self.balances.entry(e.asset).or_insert(Decimal::ZERO);
            *b += e.amount - e.fee;
            debug_assert!(!b.is_sign_negative(), "{} went negative", e.asset);
        }
        self.n_entries += ev.entries.len();
        self.events.push(ev);
        self.snapshots
            .push(self.prices.iter().map(|p| p.2).collect());
    }

    /// Prices drift a little between events, pulled back when far from where they started.
    fn walk_prices(&mut self) {
        for i in 0..self.prices.len() {
            let (asset, base, cur) = self.prices[i];
            let stable = matches!(asset, "USDT" | "USDC" | "ZUSD");
            let mut bp: i64 = if stable {
                self.rng.random_range(-5..=5)
            } else {
                self.rng.random_range(-120..=120)
            };
            if cur > base * Decimal::new(25, 1) || (stable && cur > base * Decimal::new(105, 2)) {
                bp -= 60;
            } else if cur * Decimal::new(25, 1) < base
                || (stable && cur * Decimal::new(105, 2) < base)
            {
                bp += 60;
            }
            let next = cur * Decimal::new(10_000 + bp, 4);
            self.prices[i].2 = next.round_dp(10);
        }
    }

    /// Cash on the account, in EUR.
    fn fiat_eur(&self) -> Decimal {
        self.bal("ZEUR") + self.bal("ZUSD") * self.eur("ZUSD")
    }

    /// A trade size in EUR: mostly small, sometimes large.
    fn value_eur(&mut self) -> Decimal {
        let v: i64 = match self.rng.random_range(0..10) {
            0..=5 => self.rng.random_range(20..300),
            6..=8 => self.rng.random_range(300..2000),
            _ => self.rng.random_range(2000..10000),
        };
        Decimal::from(v)
    }

    fn pct(&mut self, lo: i64, hi: i64) -> Decimal {
        Decimal::new(self.rng.random_range(lo..=hi), 2)
    }

    fn step(&mut self) {
        self.walk_prices();
        let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
        let mut pick = self.rng.random_range(0..total);
        let mut kind = Kind::FiatDeposit;
        for &(k, w) in WEIGHTS {
            if pick < w {
                kind = k;
                break;
            }
            pick -= w;
        }
        let ev = match kind {
            // Users top up when their cash runs low, not forever: keep fiat balances plausible.
            Kind::FiatDeposit if self.fiat_eur() > Decimal::from(3000) => self.trade(FIAT_PAIRS),
            Kind::FiatDeposit => None,
            Kind::FiatTrade => self.trade(FIAT_PAIRS),
            Kind::StableTrade => self.trade(STABLE_PAIRS),
            Kind::CryptoTrade => self.trade(CRYPTO_PAIRS),
            Kind::KfeeDeposit => Some(self.kfee_deposit()),
            Kind::BuyCrypto => self.buy_crypto(),
            Kind::StakeIn => self.stake_in(),
            Kind::StakeReward => self.stake_reward(),
            Kind::StakeOut => self.stake_out(),
            Kind::EarnReward => self.earn_reward(),
            Kind::CryptoDeposit => Some(self.crypto_deposit()),
            Kind::Withdrawal => self.withdrawal(),
            Kind::Voucher => Some(self.voucher()),
        };
        // Whatever cannot happen for lack of funds becomes a top-up, as a real user would do.
        let ev = match ev {
            Some(ev) => ev,
            None => self.fiat_deposit(),
        };
        self.push(ev);
    }

    fn fiat_deposit(&mut self) -> Event {
        let asset = if self.rng.random_bool(0.75) {
            "ZEUR"
        } else {
            "ZUSD"
        };
        let amount = Decimal::new(self.rng.random_range(100..=5000) * 100, 2)
            + Decimal::new(self.rng.random_range(0..100), 2);
        let fee = if self.rng.random_bool(0.15) {
            Decimal::new(self.rng.random_range(1..=500), 2)
        } else {
            Decimal::ZERO
        };
        let refid = self.new_id('Q');
        let mut e = self.entry(&refid, "deposit", "", asset, amount, fee);
        // Older exports carry no subtype: the account's first deposits look like that.
        if self.deposits < 3 {
            e.subtype = None;
        }
        self.deposits += 1;
        Event {
            entries: vec![e],
            trade: None,
        }
    }

    fn kfee_deposit(&mut self) -> Event {
        let amount = if self.rng.random_bool(0.5) {
            Decimal::from(1000)
        } else {
            Decimal::from(500)
        };
        let refid = self.new_id('Q');
        let e = self.entry(&refid, "deposit", "", "KFEE", amount, Decimal::ZERO);
        Event {
            entries: vec![e],
            trade: None,
        }
    }

    fn trade(&mut self, pairs: &'static [Pair]) -> Option<Event> {
        let &Pair(name, base, quote, price_dp) = &pairs[self.rng.random_range(0..pairs.len())];
        let price = (self.eur(base) / self.eur(quote)).round_dp(price_dp);
        if price.is_zero() {
            return None;
        }
        let buy = self.bal(base).is_zero() || self.rng.random_bool(0.55);
        let (ordertype, maker) = if self.rng.random_bool(0.6) {
            ("limit", self.rng.random_bool(0.7))
        } else {
            ("market", false)
        };
        let rate = if maker {
            Decimal::new(25, 4)
        } else {
            Decimal::new(40, 4)
        };
        let qdp = trade_dp(quote);
        let vol = if buy {
            let budget = self.bal(quote) * Decimal::new(95, 2) / (Decimal::ONE + rate);
            let target = self.value_eur() / self.eur(quote);
            down(budget.min(target) / price, 8)
        } else {
            let frac = self.pct(15, 100);
            down(self.bal(base) * frac, 8)
        };
        if vol.is_zero() {
            return None;
        }
        let cost = (price * vol).round_dp(qdp);
        if cost * self.eur(quote) < Decimal::from(5) {
            return None;
        }
        let fee = (cost * rate).round_dp(qdp);
        if buy && self.bal(quote) < cost + fee {
            return None;
        }
        // 1,000 KFEE pay 10 USD of fees.
        let kfee = (fee * self.eur(quote) / self.eur("ZUSD") * Decimal::from(100)).round_dp(2);
        let use_kfee = is_fiat(quote)
            && kfee > Decimal::ZERO
            && self.bal("KFEE") >= kfee
            && self.rng.random_bool(0.5);

        let tid = self.new_id('T');
        let ordertxid = self.new_id('O');
        let sign = if buy { Decimal::ONE } else { -Decimal::ONE };
        let base_leg = self.entry(&tid, "trade", "tradespot", base, sign * vol, Decimal::ZERO);
        let quote_fee = if use_kfee { Decimal::ZERO } else { fee };
        let quote_leg = self.entry(&tid, "trade", "tradespot", quote, -sign * cost, quote_fee);
        let mut entries = vec![base_leg, quote_leg];
        if use_kfee {
            let leg = self.entry(&tid, "trade", "tradespot", "KFEE", Decimal::ZERO, kfee);
            entries.push(leg);
        }
        self.next_trade_id += self.rng.random_range(1..500);
        let trade = ProtoTrade {
            id: tid,
            ordertxid,
            pair: name,
            side: if buy { TradeSide::Buy } else { TradeSide::Sell },
            ordertype,
            price: rescaled(price, price_dp),
            cost,
            fee,
            vol: rescaled(vol, 8),
            ledgers: entries.iter().map(|e| e.id.clone()).collect(),
            trade_id: self.next_trade_id,
            maker,
            quote_fiat: is_fiat(quote),
        };
        Some(Event {
            entries,
            trade: Some(trade),
        })
    }

    /// Buy Crypto: a `spend` of euros and a `receive` of bitcoin under one refid, no trade.
    fn buy_crypto(&mut self) -> Option<Event> {
        let spend = Decimal::from(self.rng.random_range(50..1000));
        let fee = (spend * Decimal::new(15, 3)).round_dp(4);
        if self.bal("ZEUR") < spend + fee {
            return None;
        }
        let btc = down(spend / self.eur("XXBT"), 8);
        let refid = self.new_id('A');
        let a = self.entry(&refid, "spend", "", "ZEUR", -spend, fee);
        let b = self.entry(&refid, "receive", "", "XXBT", btc, Decimal::ZERO);
        Some(Event {
            entries: vec![a, b],
            trade: None,
        })
    }

    fn staking_pair(&mut self) -> (&'static str, &'static str) {
        if self.rng.random_bool(0.8) {
            ("DOT", "DOT.S")
        } else {
            ("XETH", "ETH2.S")
        }
    }

    /// Two legs with different refids, the second a few seconds later, as Kraken books them.
    fn transfer(
        &mut self,
        from: (&'static str, &'static str),
        to: (&'static str, &'static str),
        x: Decimal,
    ) -> Event {
        let (r1, r2) = (self.new_id('R'), self.new_id('R'));
        let a = self.entry(&r1, "transfer", from.1, from.0, -x, Decimal::ZERO);
        let mut b = self.entry(&r2, "transfer", to.1, to.0, x, Decimal::ZERO);
        b.delayed = true;
        Event {
            entries: vec![a, b],
            trade: None,
        }
    }

    fn stake_in(&mut self) -> Option<Event> {
        let (spot, staked) = self.staking_pair();
        let frac = self.pct(30, 100);
        let x = down(self.bal(spot) * frac, 8);
        if x.is_zero() {
            return None;
        }
        Some(self.transfer((spot, "spottostaking"), (staked, "stakingfromspot"), x))
    }

    fn stake_out(&mut self) -> Option<Event> {
        let (spot, staked) = self.staking_pair();
        let frac = self.pct(30, 100);
        let x = down(self.bal(staked) * frac, 8);
        if x.is_zero() {
            return None;
        }
        Some(self.transfer((staked, "stakingtospot"), (spot, "spotfromstaking"), x))
    }

    fn stake_reward(&mut self) -> Option<Event> {
        let (_, staked) = self.staking_pair();
        let rate = Decimal::new(self.rng.random_range(3..=15), 4);
        let x = down(self.bal(staked) * rate, 10);
        if x.is_zero() {
            return None;
        }
        let refid = self.new_id('R');
        let e = self.entry(&refid, "staking", "", staked, x, Decimal::ZERO);
        Some(Event {
            entries: vec![e],
            trade: None,
        })
    }

    fn earn_reward(&mut self) -> Option<Event> {
        let asset = if self.rng.random_bool(0.5) {
            "USDC"
        } else {
            "XETH"
        };
        let rate = Decimal::new(self.rng.random_range(2..=10), 4);
        let x = down(self.bal(asset) * rate, 10);
        if x.is_zero() {
            return None;
        }
        let refid = self.new_id('R');
        let e = self.entry(&refid, "earn", "reward", asset, x, Decimal::ZERO);
        Some(Event {
            entries: vec![e],
            trade: None,
        })
    }

    fn crypto_deposit(&mut self) -> Event {
        let asset = if self.rng.random_bool(0.6) {
            "XXBT"
        } else {
            "XETH"
        };
        let value = Decimal::from(self.rng.random_range(100..5000));
        let x = down(value / self.eur(asset), 8);
        let refid = self.new_id('Q');
        let e = self.entry(&refid, "deposit", "", asset, x, Decimal::ZERO);
        Event {
            entries: vec![e],
            trade: None,
        }
    }

    fn withdrawal(&mut self) -> Option<Event> {
        let (asset, fee) = if self.rng.random_bool(0.6) {
            ("XXBT", Decimal::new(25, 5))
        } else {
            ("XETH", Decimal::new(35, 4))
        };
        let frac = self.pct(20, 100);
        let x = down((self.bal(asset) - fee) * frac, 8);
        if x * self.eur(asset) < Decimal::from(10) {
            return None;
        }
        let refid = self.new_id('Q');
        let e = self.entry(&refid, "withdrawal", "", asset, -x, fee);
        Some(Event {
            entries: vec![e],
            trade: None,
        })
    }

    /// Sometimes (about one step in 25) a margin position or an own-wallet round trip,
    /// drawn from `rng`; ids still come from the main stream's generator of unique ids.
    fn gains_event(&mut self, rng: &mut ChaCha8Rng) {
        match rng.random_range(0..50) {
            0 => self.margin_position(rng),
            1 => self.round_trip(rng),
            _ => {}
        }
    }

    /// A margin position in EUR: opened (`margin`, amount 0, opening fee), rolled over once
    /// or twice (`rollover`, amount 0, fee), closed with its realised profit or loss
    /// (`margin`, or `settled` when settled with cash), fee on close. Only when the EUR
    /// balance covers the fees and the worst loss.
    fn margin_position(&mut self, rng: &mut ChaCha8Rng) {
        let notional = Decimal::from(rng.random_range(500..5000));
        let fee = (notional * Decimal::new(2, 4)).round_dp(4);
        let rollover = (notional * Decimal::new(1, 4)).round_dp(4);
        let pnl = (notional * Decimal::new(rng.random_range(-500..=800), 4)).round_dp(4);
        let rolls = rng.random_range(1..=2);
        let worst =
            fee * Decimal::TWO + rollover * Decimal::from(rolls) + pnl.min(Decimal::ZERO).abs();
        if self.bal("ZEUR") < worst {
            return;
        }
        let refid = self.new_id('T');
        let open = self.entry(&refid, "margin", "", "ZEUR", Decimal::ZERO, fee);
        self.push(Event {
            entries: vec![open],
            trade: None,
        });
        for _ in 0..rolls {
            let r = self.entry(&refid, "rollover", "", "ZEUR", Decimal::ZERO, rollover);
            self.push(Event {
                entries: vec![r],
                trade: None,
            });
        }
        let kind = if rng.random_bool(0.25) {
            "settled"
        } else {
            "margin"
        };
        let close = self.entry(&refid, kind, "", "ZEUR", pnl, fee);
        self.push(Event {
            entries: vec![close],
            trade: None,
        });
    }

    /// An own-wallet round trip: BTC or ETH withdrawn (with Kraken's fee), then exactly the
    /// withdrawn units deposited back, as a separate later event.
    fn round_trip(&mut self, rng: &mut ChaCha8Rng) {
        let (asset, fee) = if rng.random_bool(0.6) {
            ("XXBT", Decimal::new(25, 5))
        } else {
            ("XETH", Decimal::new(35, 4))
        };
        let frac = Decimal::new(rng.random_range(10..=90), 2);
        let x = down((self.bal(asset) - fee) * frac, 8);
        if x.is_sign_negative() || x * self.eur(asset) < Decimal::from(10) {
            return;
        }
        let out_ref = self.new_id('Q');
        let w = self.entry(&out_ref, "withdrawal", "", asset, -x, fee);
        self.push(Event {
            entries: vec![w],
            trade: None,
        });
        let in_ref = self.new_id('Q');
        let d = self.entry(&in_ref, "deposit", "", asset, x, Decimal::ZERO);
        self.push(Event {
            entries: vec![d],
            trade: None,
        });
    }

    /// A type this tool does not know, to exercise "store and report, never fail".
    fn voucher(&mut self) -> Event {
        let x = Decimal::new(self.rng.random_range(100..=1000), 2);
        let refid = self.new_id('Q');
        let e = self.entry(&refid, "voucher", "", "ZEUR", x, Decimal::ZERO);
        Event {
            entries: vec![e],
            trade: None,
        }
    }

    /// `k` rewards with one timestamp, inserted anywhere: only credits, so no balance can go
    /// negative whatever comes after.
    fn insert_burst(&mut self, k: usize) {
        let mut entries = Vec::with_capacity(k);
        for _ in 0..k {
            let x = Decimal::new(self.rng.random_range(1..=100_000), 7);
            let refid = self.new_id('R');
            entries.push(self.entry(&refid, "staking", "", "DOT.S", x, Decimal::ZERO));
        }
        let at = self.rng.random_range(0..=self.events.len());
        self.n_entries += k;
        let snapshot = self.prices.iter().map(|p| p.2).collect();
        self.snapshots.insert(at, snapshot);
        self.events.insert(
            at,
            Event {
                entries,
                trade: None,
            },
        );
    }

    fn finish(mut self, cfg: &GeneratorConfig) -> (Dataset, super::public::PricePath) {
        let times = self.event_times(cfg);
        let cutoff = Utc
            .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
            .unwrap()
            .timestamp_micros();
        let ktime = |us: i64| KrakenTime::from_micros(us, if us < cutoff { 4 } else { 6 });
        let mut ledger = Vec::with_capacity(self.n_entries);
        let mut trades = Vec::new();
        let events = std::mem::take(&mut self.events);
        for (i, ev) in events.into_iter().enumerate() {
            let t = times[i];
            let next = times.get(i + 1).copied().unwrap_or(t);
            // A few seconds, but never past the next event, so per-asset order is kept.
            let delay = self
                .rng
                .random_range(2_000_000..=9_000_000i64)
                .min((next - t) / 2);
            for p in ev.entries {
                let us = if p.delayed { t + delay.max(0) } else { t };
                ledger.push(LedgerEntry {
                    id: LedgerId::new(p.id).expect("generated id"),
                    refid: RefId::new(p.refid).expect("generated refid"),
                    time: ktime(us),
                    kind: p.kind.to_owned(),
                    subtype: p.subtype.map(str::to_owned),
                    aclass: "currency".to_owned(),
                    subclass: None,
                    asset: AssetCode::new(p.asset).expect("asset code"),
                    wallet: None,
                    amount: p.amount,
                    fee: p.fee,
                    balance: None,
                });
            }
            if let Some(pt) = ev.trade {
                let (cost_scale, margin_scale) = if pt.quote_fiat { (5, 5) } else { (8, 8) };
                trades.push(Trade {
                    id: TradeId::new(pt.id).expect("generated id"),
                    ordertxid: pt.ordertxid,
                    // Kraken puts this constant placeholder on every spot trade.
                    postxid: Some("TKH2SE-M7IF5-CFI7LT".to_owned()),
                    pair: pt.pair.to_owned(),
                    time: ktime(t),
                    side: pt.side,
                    ordertype: pt.ordertype.to_owned(),
                    price: pt.price,
                    cost: rescaled(pt.cost, cost_scale),
                    fee: rescaled(pt.fee, cost_scale),
                    vol: pt.vol,
                    margin: Some(Decimal::new(0, margin_scale)),
                    leverage: Some("0".to_owned()),
                    misc: String::new(),
                    ledgers: pt
                        .ledgers
                        .into_iter()
                        .map(|l| LedgerId::new(l).expect("generated id"))
                        .collect(),
                    trade_id: Some(pt.trade_id),
                    maker: Some(pt.maker),
                    position: PositionClose::default(),
                });
            }
        }
        ledger.sort_by(|a, b| {
            (a.time.micros(), a.id.as_str()).cmp(&(b.time.micros(), b.id.as_str()))
        });
        trades.sort_by(|a, b| {
            (a.time.micros(), a.id.as_str()).cmp(&(b.time.micros(), b.id.as_str()))
        });
        // Balances follow the served order; equal to the generation order per asset.
        let mut running: BTreeMap<String, Decimal> = BTreeMap::new();
        for e in &mut ledger {
            let s = scale(e.asset.as_str());
            let b = running
                .entry(e.asset.as_str().to_owned())
                .or_insert_with(|| Decimal::new(0, s));
            *b += e.amount - e.fee;
            e.balance = Some(rescaled(*b, s));
        }
        let prices = super::public::PricePath {
            assets: PRICES.iter().map(|p| p.0.to_owned()).collect(),
            points: times.into_iter().zip(self.snapshots).collect(),
        };
        (Dataset { ledger, trades }, prices)
    }

    /// One time per event, increasing, spread over [start, end] with uneven gaps.
    fn event_times(&mut self, cfg: &GeneratorConfig) -> Vec<i64> {
        let n = self.events.len();
        let start = cfg.start.timestamp_micros();
        let end = cfg.end.timestamp_micros().max(start);
        let cutoff = Utc
            .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
            .unwrap()
            .timestamp_micros();
        let weights: Vec<u64> = (0..=n).map(|_| self.rng.random_range(50..=1000)).collect();
        let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let span = (end - start) as u128;
        let mut cum: u128 = 0;
        let mut prev = i64::MIN;
        let mut out = Vec::with_capacity(n);
        for w in &weights[..n] {
            cum += u128::from(*w);
            let mut t = start + (span * cum / total) as i64;
            // Before the cutoff Kraken wrote 4 decimals: keep the instant representable.
            let unit = if t < cutoff { 100 } else { 1 };
            t -= t.rem_euclid(unit);
            if prev != i64::MIN && t <= prev && prev + unit <= end {
                t = prev + unit;
            }
            out.push(t);
            prev = t;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check_balances(d: &Dataset) {
        let mut last: HashMap<&str, Decimal> = HashMap::new();
        for e in &d.ledger {
            let prev = last.get(e.asset.as_str()).copied().unwrap_or(Decimal::ZERO);
            let b = e.balance.expect("balance");
            assert_eq!(b, prev + e.amount - e.fee, "{}", e.id);
            assert!(!b.is_sign_negative(), "{} negative balance {b}", e.id);
            assert_eq!(b.scale(), scale(e.asset.as_str()), "{}", e.id);
            assert_eq!(e.amount.scale(), scale(e.asset.as_str()), "{}", e.id);
            last.insert(e.asset.as_str(), b);
        }
        assert_eq!(
            d.final_balances().len(),
            last.len(),
            "one final balance per asset"
        );
    }

    #[test]
    fn same_seed_same_dataset_other_seed_other_dataset() {
        let a = generate(&GeneratorConfig::new(42, 300));
        let b = generate(&GeneratorConfig::new(42, 300));
        let c = generate(&GeneratorConfig::new(43, 300));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn balances_are_consistent_and_never_negative() {
        for (seed, n) in [(1, 10), (2, 500), (3, 5000), (4, 500), (5, 2000)] {
            let d = generate(&GeneratorConfig::new(seed, n));
            check_balances(&d);
        }
        let mut cfg = GeneratorConfig::new(6, 400);
        cfg.same_time_burst = Some(130);
        check_balances(&generate(&cfg));
    }

    #[test]
    fn gains_events_give_margin_positions_and_round_trips_with_consistent_balances() {
        for seed in [7, 2024] {
            let plain = generate(&GeneratorConfig::new(seed, 3000));
            let d = generate(&GeneratorConfig::new(seed, 3000).with_gains_events());
            check_balances(&d);
            let count = |kind: &str| d.ledger.iter().filter(|e| e.kind == kind).count();
            assert_eq!(
                plain.ledger.iter().filter(|e| e.kind == "margin").count(),
                0
            );
            assert!(
                count("margin") >= 4,
                "seed {seed}: {} margin",
                count("margin")
            );
            assert!(count("rollover") >= 2, "seed {seed}");
            // Every position: one opening margin entry with amount 0, and one close (margin
            // or settled) with the realised profit or loss, all under one refid.
            let mut positions: HashMap<&str, Vec<&LedgerEntry>> = HashMap::new();
            for e in d
                .ledger
                .iter()
                .filter(|e| matches!(e.kind.as_str(), "margin" | "rollover" | "settled"))
            {
                assert_eq!(e.asset.as_str(), "ZEUR");
                positions.entry(e.refid.as_str()).or_default().push(e);
            }
            for (refid, legs) in &positions {
                assert!(
                    (3..=4).contains(&legs.len()),
                    "{refid}: {} entries",
                    legs.len()
                );
                assert_eq!(legs[0].kind, "margin");
                assert!(legs[0].amount.is_zero());
                assert!(matches!(
                    legs.last().unwrap().kind.as_str(),
                    "margin" | "settled"
                ));
            }
            // Round trips: a withdrawal, then a deposit of exactly its units, next in the
            // asset's ledger.
            let mut trips = 0;
            for (i, w) in d.ledger.iter().enumerate() {
                if w.kind != "withdrawal" {
                    continue;
                }
                let back = d.ledger[i + 1..]
                    .iter()
                    .find(|e| e.asset == w.asset)
                    .filter(|e| e.kind == "deposit" && e.amount == -w.amount);
                if back.is_some() {
                    trips += 1;
                }
            }
            assert!(trips >= 2, "seed {seed}: {trips} round trips");
        }
    }

    #[test]
    fn entries_count_is_respected() {
        for n in [0, 1, 10, 99, 1000] {
            let d = generate(&GeneratorConfig::new(n as u64, n));
            assert!(
                d.ledger.len() >= n && d.ledger.len() < n + 3,
                "{n}: {}",
                d.ledger.len()
            );
        }
        let mut cfg = GeneratorConfig::new(7, 100);
        cfg.same_time_burst = Some(60);
        let d = generate(&cfg);
        assert!(d.ledger.len() >= 160 && d.ledger.len() < 163);
        let mut by_time: HashMap<i64, usize> = HashMap::new();
        for e in &d.ledger {
            *by_time.entry(e.time.micros()).or_default() += 1;
        }
        assert!(by_time.values().any(|&n| n >= 60));
    }

    #[test]
    fn every_trade_matches_its_legs() {
        let d = generate(&GeneratorConfig::new(11, 3000));
        let by_id: HashMap<&str, &LedgerEntry> =
            d.ledger.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut kfee_trades = 0;
        for t in &d.trades {
            let legs: Vec<&LedgerEntry> = d
                .ledger
                .iter()
                .filter(|e| e.refid.as_str() == t.id.as_str())
                .collect();
            assert!(legs.len() == 2 || legs.len() == 3, "{}", t.id);
            let pair = FIAT_PAIRS
                .iter()
                .chain(STABLE_PAIRS)
                .chain(CRYPTO_PAIRS)
                .find(|p| p.0 == t.pair)
                .expect("known pair");
            let base = legs.iter().find(|e| e.asset.as_str() == pair.1).unwrap();
            let quote = legs.iter().find(|e| e.asset.as_str() == pair.2).unwrap();
            assert_eq!(base.amount.abs(), t.vol);
            assert_eq!(quote.amount.abs(), t.cost);
            assert_eq!(base.amount.is_sign_positive(), t.side == TradeSide::Buy);
            assert_eq!(quote.amount.is_sign_negative(), t.side == TradeSide::Buy);
            assert!(base.fee.is_zero());
            if let Some(k) = legs.iter().find(|e| e.asset.as_str() == "KFEE") {
                kfee_trades += 1;
                assert!(k.amount.is_zero() && k.fee > Decimal::ZERO);
                assert!(quote.fee.is_zero());
            } else {
                assert_eq!(quote.fee, t.fee);
            }
            for e in &legs {
                assert_eq!(e.time, t.time);
                assert_eq!(e.kind, "trade");
                assert_eq!(e.subtype.as_deref(), Some("tradespot"));
                assert!(t.ledgers.contains(&e.id));
                assert!(by_id.contains_key(e.id.as_str()));
            }
            assert_eq!(t.ledgers.len(), legs.len());
            let diff = (t.price * t.vol - t.cost).abs();
            assert!(
                diff <= t.cost * Decimal::new(1, 3) + Decimal::new(1, 4),
                "{}",
                t.id
            );
        }
        assert!(kfee_trades > 0, "some trades pay their fee in KFEE");
        let ids: Vec<i64> = d.trades.iter().map(|t| t.trade_id.unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "trade_id increases");
    }

    #[test]
    fn ids_are_unique_and_look_like_krakens() {
        let d = generate(&GeneratorConfig::new(12, 3000));
        let mut seen = HashSet::new();
        let shape = |s: &str, p: char| {
            let b = s.as_bytes();
            s.len() == 19
                && s.starts_with(p)
                && b[6] == b'-'
                && b[12] == b'-'
                && s.chars()
                    .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        for e in &d.ledger {
            assert!(shape(e.id.as_str(), 'L'), "{}", e.id);
            assert!(seen.insert(e.id.as_str().to_owned()));
        }
        for t in &d.trades {
            assert!(shape(t.id.as_str(), 'T'), "{}", t.id);
            assert!(shape(&t.ordertxid, 'O'));
            assert!(seen.insert(t.id.as_str().to_owned()));
        }
    }

    #[test]
    fn realistic_mix_times_and_sorting() {
        let cfg = GeneratorConfig::demo();
        let d = generate(&cfg);
        let kinds: HashSet<(&str, Option<&str>)> = d
            .ledger
            .iter()
            .map(|e| (e.kind.as_str(), e.subtype.as_deref()))
            .collect();
        for k in [
            ("deposit", None),
            ("deposit", Some("")),
            ("withdrawal", Some("")),
            ("trade", Some("tradespot")),
            ("spend", Some("")),
            ("receive", Some("")),
            ("transfer", Some("spottostaking")),
            ("transfer", Some("stakingfromspot")),
            ("transfer", Some("stakingtospot")),
            ("transfer", Some("spotfromstaking")),
            ("staking", Some("")),
            ("earn", Some("reward")),
            ("voucher", Some("")),
        ] {
            assert!(kinds.contains(&k), "missing {k:?}");
        }
        let assets: HashSet<&str> = d.ledger.iter().map(|e| e.asset.as_str()).collect();
        for a in [
            "ZEUR", "ZUSD", "XXBT", "XETH", "DOT", "DOT.S", "USDT", "USDC", "KFEE",
        ] {
            assert!(assets.contains(a), "missing {a}");
        }
        let (lo, hi) = (cfg.start.timestamp_micros(), cfg.end.timestamp_micros());
        let cutoff = Utc
            .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
            .unwrap()
            .timestamp_micros();
        for w in d.ledger.windows(2) {
            assert!((w[0].time.micros(), &w[0].id) < (w[1].time.micros(), &w[1].id));
        }
        for e in &d.ledger {
            let us = e.time.micros();
            assert!(us >= lo && us <= hi);
            let decimals = e.time.text().split_once('.').unwrap().1.len();
            assert_eq!(decimals, if us < cutoff { 4 } else { 6 }, "{}", e.time);
            assert_eq!(KrakenTime::parse(e.time.text()).unwrap(), e.time);
        }
        assert!(d.ledger.len() >= 2000 && d.ledger.len() < 2003);
    }

    #[test]
    fn truth_file_is_json_with_every_id() {
        let d = generate(&GeneratorConfig::new(13, 50));
        let dir = std::env::temp_dir().join(format!("emu-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("truth.json");
        d.write_truth(&path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["ledger"].as_object().unwrap().len(), d.ledger.len());
        assert_eq!(v["trades"].as_object().unwrap().len(), d.trades.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
