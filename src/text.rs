//! Small helpers for user-facing text.

/// `n` followed by the singular or the plural noun: "1 page", "2 pages", "0 pages".
pub fn plural(n: impl Into<u128>, one: &str, many: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `n` and the noun, with an "s" added unless `n` is 1: "1 warning", "3 warnings".
pub fn count(n: impl Into<u128>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(1u32, "page"), "1 page");
        assert_eq!(count(0u32, "page"), "0 pages");
        assert_eq!(count(2u64, "page"), "2 pages");
        assert_eq!(plural(1u8, "entry", "entries"), "1 entry");
        assert_eq!(plural(5usize as u64, "entry", "entries"), "5 entries");
    }
}
