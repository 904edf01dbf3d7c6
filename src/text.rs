//! Small helpers for user-facing text.

/// Whether `n` is exactly one.
fn is_one<N: TryInto<u128>>(n: N) -> bool {
    n.try_into().is_ok_and(|n| n == 1)
}

/// `n` followed by the singular or the plural noun: "1 entry", "0 entries", "2 entries".
pub fn plural<N: Copy + std::fmt::Display + TryInto<u128>>(n: N, one: &str, many: &str) -> String {
    if is_one(n) {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `n` and the noun, with an "s" added unless `n` is 1: "1 warning", "3 warnings".
pub fn count<N: Copy + std::fmt::Display + TryInto<u128>>(n: N, noun: &str) -> String {
    if is_one(n) {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `one` when `n` is 1, else `many` (verbs: "1 leg has", "2 legs have").
pub fn agree<N: TryInto<u128>>(n: N, one: &'static str, many: &'static str) -> &'static str {
    if is_one(n) { one } else { many }
}

/// An error and its causes on one line, for a log line: "cannot read X: cause: cause", each
/// said once (a cause whose text the line already holds is not repeated).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot write {0}")]
        struct Outer(&'static str, #[source] std::io::Error);
        let e = Outer("a.csv", std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "cannot write a.csv: disk full");
        // An io::Error wrapping an error shows it once, then the causes it has.
        let e = std::io::Error::other(Outer("b.csv", std::io::Error::other("gone")));
        assert_eq!(chain(&e), "cannot write b.csv: gone");
    }

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(1u32, "page"), "1 page");
        assert_eq!(count(0usize, "page"), "0 pages");
        assert_eq!(count(2u64, "page"), "2 pages");
        assert_eq!(count(-1i64, "day"), "-1 days");
        assert_eq!(plural(1u8, "entry", "entries"), "1 entry");
        assert_eq!(plural(5usize, "entry", "entries"), "5 entries");
        assert_eq!(agree(1usize, "has", "have"), "has");
        assert_eq!(agree(3usize, "has", "have"), "have");
    }
}
