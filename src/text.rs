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

#[cfg(test)]
mod tests {
    use super::*;

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
