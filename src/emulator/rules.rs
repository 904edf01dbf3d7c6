//! Kraken's decisions as pure functions: authentication, the rate counter, page selection and
//! parameter parsing. The server only wires them to HTTP and shared state.

use crate::domain::{KrakenTime, LedgerEntry, RateTier, Trade};
use std::collections::HashMap;

/// Something served in time order with an id (ledger entries, trades).
pub(crate) trait Timed {
    /// Microseconds since the epoch.
    fn micros(&self) -> i64;
    /// The id as text.
    fn id_str(&self) -> &str;
}

impl Timed for LedgerEntry {
    fn micros(&self) -> i64 {
        self.time.micros()
    }
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
}

impl Timed for Trade {
    fn micros(&self) -> i64 {
        self.time.micros()
    }
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
}

/// The authentication-relevant parts of one private request.
pub(crate) struct AuthRequest<'a> {
    /// `API-Key` header.
    pub api_key: Option<&'a str>,
    /// `API-Sign` header.
    pub api_sign: Option<&'a str>,
    /// URI path, e.g. `/0/private/Ledgers`.
    pub path: &'a str,
    /// `nonce` parameter as sent.
    pub nonce: Option<&'a str>,
    /// Raw body bytes.
    pub body: &'a [u8],
}

/// Kraken's checks in Kraken's order: key, nonce, signature. On success returns the nonce,
/// which the caller then records; a bad signature therefore never advances the nonce.
pub(crate) fn check_auth(
    expected_key: &str,
    secret: &[u8],
    last_nonce: Option<u64>,
    req: &AuthRequest<'_>,
) -> Result<u64, &'static str> {
    if req.api_key != Some(expected_key) {
        return Err("EAPI:Invalid key");
    }
    let nonce_text = req.nonce.unwrap_or("");
    let nonce = (!nonce_text.is_empty() && nonce_text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| nonce_text.parse::<u64>().ok())
        .flatten()
        .ok_or("EAPI:Invalid nonce")?;
    if last_nonce.is_some_and(|last| nonce <= last) {
        return Err("EAPI:Invalid nonce");
    }
    // The emulator's own implementation of the signature, not the client's.
    let signed = req.api_sign.is_some_and(|sign| {
        super::signing::signature_matches(secret, req.path, nonce_text, req.body, sign)
    });
    if !signed {
        return Err("EAPI:Invalid signature");
    }
    Ok(nonce)
}

/// Kraken's per-key call counter, decaying continuously. Time is in seconds on any clock.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateCounter {
    level: f64,
    at: f64,
}

impl RateCounter {
    /// Decays to `now`, then admits the call (adding `cost`) unless that would exceed the
    /// tier's maximum; a refused call adds nothing.
    pub fn admit(&mut self, now: f64, cost: f64, tier: &RateTier) -> bool {
        let elapsed = (now - self.at).max(0.0);
        self.level = (self.level - tier.decay_per_sec * elapsed).max(0.0);
        self.at = self.at.max(now);
        // A hair of tolerance so a client modelling the same counter exactly is not refused
        // by floating-point noise.
        if self.level + cost > tier.max + 1e-9 {
            return false;
        }
        self.level += cost;
        true
    }

    /// The current counter value (after the last decay).
    #[cfg(test)]
    pub fn level(&self) -> f64 {
        self.level
    }
}

/// Selects one page: entries with `start < time <= end`, newest first by (time, id), skipping
/// `ofs`, at most `page_size`. `items` must be sorted oldest first by (time, id). Returns the
/// page and the number of matching entries.
pub(crate) fn select_page<T: Timed>(
    items: &[T],
    start: Option<i64>,
    end: Option<i64>,
    ofs: usize,
    page_size: usize,
) -> (Vec<&T>, usize) {
    let lo = start.map_or(0, |s| items.partition_point(|e| e.micros() <= s));
    let hi = end.map_or(items.len(), |e| items.partition_point(|x| x.micros() <= e));
    let count = hi.saturating_sub(lo);
    let page = items[lo..lo + count]
        .iter()
        .rev()
        .skip(ofs)
        .take(page_size)
        .collect();
    (page, count)
}

/// Resolves a `start`/`end` parameter: a Unix time (decimal text) or an id among the visible
/// entries (`index` maps id → position in `items`). An unknown id is Kraken's
/// `EGeneral:Invalid arguments:<name>`.
pub(crate) fn resolve_bound<T: Timed>(
    value: Option<&str>,
    name: &str,
    items: &[T],
    index: &HashMap<String, usize>,
    visible_until: Option<i64>,
) -> Result<Option<i64>, Refusal> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = KrakenTime::parse(v) {
        return Ok(Some(t.micros()));
    }
    index
        .get(v)
        .map(|&i| items[i].micros())
        .filter(|&t| visible_until.is_none_or(|vis| t <= vis))
        .map(Some)
        .ok_or_else(|| Refusal(format!("EGeneral:Invalid arguments:{name}")))
}

/// A request the emulated Kraken refuses, in Kraken's own words (`EGeneral:Invalid
/// arguments:ofs`): the text goes into the answer's `error` list as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

impl Refusal {
    /// A refusal with Kraken's error text.
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Refusal(text.into())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ofs`: absent or empty = 0, otherwise a non-negative integer.
pub(crate) fn parse_ofs(value: Option<&str>) -> Result<usize, Refusal> {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        return Ok(0);
    }
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::new("EGeneral:Invalid arguments:ofs"));
    }
    // Larger than any page count: an empty page, as Kraken gives.
    Ok(v.parse::<usize>().unwrap_or(usize::MAX))
}

/// A comma-separated id list of 1 to 20 ids (QueryLedgers `id`, QueryTrades `txid`).
pub(crate) fn parse_ids<'a>(value: Option<&'a str>, name: &str) -> Result<Vec<&'a str>, Refusal> {
    let mut ids: Vec<&str> = Vec::new();
    for id in value.unwrap_or("").split(',').map(str::trim) {
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > 20 {
        return Err(Refusal(format!("EGeneral:Invalid arguments:{name}")));
    }
    Ok(ids)
}

/// Request parameters, from a form body or a JSON object body.
pub(crate) fn parse_params(body: &[u8], json: bool) -> Vec<(String, String)> {
    if json {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
            return Vec::new();
        };
        map.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    }
}

/// The time in `EService:Throttled:<time>`: one second after `now_unix` (seconds since the
/// epoch), rounded up to whole seconds.
pub(crate) fn throttled_until(now_unix: f64) -> u64 {
    (now_unix + 1.0).ceil().max(0.0) as u64
}

/// The new visibility limit after revealing about `n` more entries of `a` and `b` together
/// (both sorted oldest first), or `None` when nothing is hidden. Entries with the same time
/// are revealed together: at most `n` entries, unless the first hidden time alone has more.
pub(crate) fn reveal_more<A: Timed, B: Timed>(
    a: &[A],
    b: &[B],
    visible_until: i64,
    n: usize,
) -> Option<i64> {
    let a = &a[a.partition_point(|e| e.micros() <= visible_until)..];
    let b = &b[b.partition_point(|e| e.micros() <= visible_until)..];
    // Hidden times, oldest first, merged; only the first n + 1 are needed.
    let mut times = Vec::with_capacity(n + 1);
    let (mut i, mut j) = (0, 0);
    while times.len() <= n && (i < a.len() || j < b.len()) {
        let take_a = j >= b.len() || (i < a.len() && a[i].micros() <= b[j].micros());
        if take_a {
            times.push(a[i].micros());
            i += 1;
        } else {
            times.push(b[j].micros());
            j += 1;
        }
    }
    let first = *times.first()?;
    if times.len() <= n {
        return times.last().copied();
    }
    // times[n] stays hidden: reveal up to the newest time before it.
    let next = times[n];
    Some(
        times[..n]
            .iter()
            .rev()
            .find(|&&t| t < next)
            .copied()
            .unwrap_or(first),
    )
}

/// The first half of `text` (at a character boundary): never the whole text, so a JSON
/// object cut this way is never valid JSON.
pub(crate) fn truncate_body(text: &str) -> &str {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct E(i64, &'static str);
    impl Timed for E {
        fn micros(&self) -> i64 {
            self.0
        }
        fn id_str(&self) -> &str {
            self.1
        }
    }

    /// Oldest first by (time, id); three entries share time 20.
    fn items() -> Vec<E> {
        vec![
            E(10, "A"),
            E(20, "B"),
            E(20, "C"),
            E(20, "D"),
            E(30, "E"),
            E(40, "F"),
        ]
    }

    fn ids(page: &[&E]) -> Vec<&'static str> {
        page.iter().map(|e| e.1).collect()
    }

    fn index(items: &[E]) -> HashMap<String, usize> {
        items
            .iter()
            .enumerate()
            .map(|(i, e)| (e.1.to_owned(), i))
            .collect()
    }

    #[test]
    fn select_page_is_newest_first_with_count() {
        let it = items();
        let (p, n) = select_page(&it, None, None, 0, 50);
        assert_eq!(ids(&p), ["F", "E", "D", "C", "B", "A"]);
        assert_eq!(n, 6);
        let (p, n) = select_page(&it, None, None, 0, 2);
        assert_eq!((ids(&p), n), (vec!["F", "E"], 6));
    }

    #[test]
    fn select_page_start_exclusive_end_inclusive_by_time() {
        let it = items();
        let (p, n) = select_page(&it, Some(20), Some(40), 0, 50);
        assert_eq!((ids(&p), n), (vec!["F", "E"], 2));
        let (p, n) = select_page(&it, Some(10), Some(20), 0, 50);
        assert_eq!((ids(&p), n), (vec!["D", "C", "B"], 3));
        let (p, n) = select_page(&it, Some(40), None, 0, 50);
        assert_eq!((ids(&p), n), (vec![], 0));
        let (p, n) = select_page(&it, Some(30), Some(10), 0, 50);
        assert_eq!((ids(&p), n), (vec![], 0));
    }

    #[test]
    fn select_page_ofs_and_same_time_ties() {
        let it = items();
        let (p, n) = select_page(&it, None, Some(20), 1, 2);
        assert_eq!((ids(&p), n), (vec!["C", "B"], 4));
        let (p, n) = select_page(&it, None, Some(20), 4, 2);
        assert_eq!((ids(&p), n), (vec![], 4));
        let (p, _) = select_page(&it, None, None, usize::MAX, 2);
        assert!(p.is_empty());
    }

    #[test]
    fn bounds_resolve_by_time_or_id() {
        let it = items();
        let ix = index(&it);
        // An id means its time: end=C includes all of time 20, start=C excludes them.
        let end = resolve_bound(Some("C"), "end", &it, &ix, None).unwrap();
        assert_eq!(end, Some(20));
        let (p, _) = select_page(&it, None, end, 0, 50);
        assert_eq!(ids(&p), ["D", "C", "B", "A"]);
        let start = resolve_bound(Some("C"), "start", &it, &ix, None).unwrap();
        let (p, _) = select_page(&it, start, None, 0, 50);
        assert_eq!(ids(&p), ["F", "E"]);
        // Unix seconds (decimal text) compare by micros.
        assert_eq!(
            resolve_bound(Some("1.5"), "start", &it, &ix, None).unwrap(),
            Some(1_500_000)
        );
        assert_eq!(
            resolve_bound(Some(""), "end", &it, &ix, None).unwrap(),
            None
        );
        assert_eq!(resolve_bound(None, "end", &it, &ix, None).unwrap(), None);
        assert_eq!(
            resolve_bound(Some("ZZZ"), "start", &it, &ix, None).unwrap_err(),
            Refusal::new("EGeneral:Invalid arguments:start")
        );
        // A hidden entry's id is unknown to the outside.
        assert_eq!(
            resolve_bound(Some("F"), "end", &it, &ix, Some(30)).unwrap_err(),
            Refusal::new("EGeneral:Invalid arguments:end")
        );
    }

    #[test]
    fn ofs_and_id_lists_are_validated() {
        assert_eq!(parse_ofs(None), Ok(0));
        assert_eq!(parse_ofs(Some("50")), Ok(50));
        for bad in ["-1", "1.5", "x"] {
            assert_eq!(
                parse_ofs(Some(bad)),
                Err(Refusal::new("EGeneral:Invalid arguments:ofs"))
            );
        }
        assert_eq!(parse_ids(Some("A, B,A"), "id").unwrap(), ["A", "B"]);
        let many = (0..21)
            .map(|i| format!("L{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_ids(Some(&many), "id").is_err());
        assert_eq!(
            parse_ids(None, "txid").unwrap_err(),
            Refusal::new("EGeneral:Invalid arguments:txid")
        );
    }

    #[test]
    fn params_from_form_or_json() {
        let p = parse_params(b"nonce=12&start=L1-2&ofs=50", false);
        assert_eq!(p[0], ("nonce".into(), "12".into()));
        assert_eq!(p[1], ("start".into(), "L1-2".into()));
        let p = parse_params(br#"{"nonce":12,"end":"T1"}"#, true);
        assert!(p.contains(&("nonce".into(), "12".into())));
        assert!(p.contains(&("end".into(), "T1".into())));
        assert!(parse_params(b"not json", true).is_empty());
    }

    #[test]
    fn auth_checks_key_then_nonce_then_signature() {
        // Signed by the client's implementation: the emulator's own one must agree with it.
        use crate::kraken::sign::api_sign;
        let secret = b"secret bytes";
        let path = "/0/private/Ledgers";
        let body = b"nonce=5&ofs=0";
        let good = api_sign(secret, path, "5", body);
        let req = |key, sign, nonce| AuthRequest {
            api_key: key,
            api_sign: sign,
            path,
            nonce,
            body,
        };
        let ok = req(Some("K"), Some(good.as_str()), Some("5"));
        assert_eq!(check_auth("K", secret, None, &ok), Ok(5));
        assert_eq!(check_auth("K", secret, Some(4), &ok), Ok(5));
        assert_eq!(
            check_auth("K", secret, None, &req(Some("X"), Some(&good), Some("5"))),
            Err("EAPI:Invalid key")
        );
        assert_eq!(
            check_auth("K", secret, None, &req(None, Some(&good), Some("5"))),
            Err("EAPI:Invalid key")
        );
        assert_eq!(
            check_auth("K", secret, Some(5), &ok),
            Err("EAPI:Invalid nonce")
        );
        for bad in [
            None,
            Some(""),
            Some("-5"),
            Some("5x"),
            Some("99999999999999999999"),
        ] {
            assert_eq!(
                check_auth("K", secret, None, &req(Some("K"), Some(&good), bad)),
                Err("EAPI:Invalid nonce")
            );
        }
        assert_eq!(
            check_auth("K", secret, None, &req(Some("K"), Some("AAAA"), Some("5"))),
            Err("EAPI:Invalid signature")
        );
        assert_eq!(
            check_auth("K", b"other", None, &ok),
            Err("EAPI:Invalid signature")
        );
        // The key is checked before the nonce: a stale nonce with a wrong key is a key error.
        assert_eq!(
            check_auth(
                "K",
                secret,
                Some(9),
                &req(Some("X"), Some(&good), Some("5"))
            ),
            Err("EAPI:Invalid key")
        );
    }

    #[test]
    fn rate_counter_decays_continuously_and_refuses_overflow() {
        let tier = RateTier::STARTER; // 15, 0.33/s
        let mut c = RateCounter::default();
        for _ in 0..7 {
            assert!(c.admit(0.0, 2.0, &tier));
        }
        assert!(!c.admit(0.0, 2.0, &tier), "7 history calls fill Starter");
        assert_eq!(c.level(), 14.0, "a refused call adds nothing");
        assert!(c.admit(0.0, 1.0, &tier), "a cost-1 call still fits");
        assert!(!c.admit(1.0, 2.0, &tier), "15 - 0.33 + 2 > 15");
        assert!(c.admit(10.0, 2.0, &tier), "decayed by 3.3 since t=0");
        assert!((c.level() - (15.0 - 3.3 + 2.0)).abs() < 1e-9);
        assert!(c.admit(1000.0, 2.0, &tier));
        assert_eq!(c.level(), 2.0, "never below zero");
        // A clock going backwards does not decay.
        assert!(c.admit(500.0, 2.0, &tier));
        assert_eq!(c.level(), 4.0);
    }

    #[test]
    fn throttled_time_is_one_second_later_rounded_up() {
        assert_eq!(throttled_until(100.0), 101);
        assert_eq!(throttled_until(100.3), 102);
        assert_eq!(throttled_until(1_700_000_000.999), 1_700_000_002);
    }

    #[test]
    fn reveal_more_merges_ledger_and_trades_and_keeps_ties_together() {
        let a = vec![E(10, "A"), E(20, "B"), E(20, "C"), E(40, "D"), E(60, "E")];
        let b = vec![E(15, "t1"), E(20, "t2"), E(50, "t3")];
        // Hidden after 10: 15, 20, 20, 20, 40, 50, 60.
        assert_eq!(reveal_more(&a, &b, 10, 1), Some(15));
        // The second entry is at 20, shared by three: not split, so only 15.
        assert_eq!(reveal_more(&a, &b, 10, 2), Some(15));
        assert_eq!(reveal_more(&a, &b, 10, 4), Some(20));
        assert_eq!(reveal_more(&a, &b, 10, 5), Some(40));
        assert_eq!(reveal_more(&a, &b, 10, 60), Some(60));
        // A first group larger than n is revealed whole.
        assert_eq!(reveal_more(&a, &b, 15, 1), Some(20));
        assert_eq!(reveal_more(&a, &b, 60, 5), None);
        assert_eq!(reveal_more(&a, &[] as &[E], 40, 5), Some(60));
    }

    #[test]
    fn truncated_body_is_never_valid_json() {
        for text in [r#"{"error":[],"result":{}}"#, "{}", r#"{"a":"ééé"}"#] {
            let cut = truncate_body(text);
            assert!(cut.len() < text.len() && text.starts_with(cut));
            assert!(
                serde_json::from_str::<serde_json::Value>(cut).is_err(),
                "{cut}"
            );
        }
    }
}
