//! Amounts as Kraken writes them, and the range kraken-tax accepts.
//!
//! Kraken writes every amount, fee, balance, price and cost as plain decimal text: an optional
//! minus, digits, and a fraction of at most 10 digits for amounts (an asset's `decimals`) and
//! a few more for prices of tiny-cap pairs. Sums of a whole history and products of an amount
//! and a price must stay inside a [`Decimal`] (at most 79,228,162,514,264,337,593,543,950,335),
//! and a value must never be rounded silently while it is read. So every such field, from the
//! API and from the website exports alike, is accepted only as
//!
//! - plain decimal text: `-?DIGITS(.DIGITS)?` (no `+`, exponent, `_` or spaces inside);
//! - less than 10^20 in magnitude: at most [`MAX_INTEGER_DIGITS`] digits before the point
//!   (leading zeros not counted);
//! - at most [`MAX_FRACTION_DIGITS`] digits after the point;
//! - at most [`MAX_DIGITS`] digits in all (leading zeros not counted), so the text is held
//!   exactly, digit for digit.
//!
//! That is ten thousand times the supply of any asset Kraken lists and eight more fraction
//! digits than any asset has; a sum of a hundred million such amounts still fits.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Digits allowed before the point (leading zeros not counted): magnitudes below 10^20.
pub const MAX_INTEGER_DIGITS: usize = 20;
/// Digits allowed after the point.
pub const MAX_FRACTION_DIGITS: usize = 18;
/// Digits allowed in all (leading zeros of the integer part not counted).
pub const MAX_DIGITS: usize = 28;

/// Why a text is not an accepted amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not plain decimal text.
    #[error("not a decimal number: {0:?}")]
    NotANumber(String),
    /// A number outside the accepted range.
    #[error(
        "out of range: {text:?} has {reason}; amounts are limited to 20 digits before the point, 18 after it and 28 in all"
    )]
    OutOfRange {
        /// The text (cut to 60 characters).
        text: String,
        /// What exceeds the range.
        reason: String,
    },
}

/// Parses an amount (see the module docs for what is accepted). Surrounding whitespace is
/// ignored.
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let t = text.trim();
    let shown = || t.chars().take(60).collect::<String>();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::NotANumber(shown()));
    }
    let int_digits = int.trim_start_matches('0').len();
    let frac_digits = frac.map_or(0, str::len);
    let out = |reason: String| AmountError::OutOfRange {
        text: shown(),
        reason,
    };
    if int_digits > MAX_INTEGER_DIGITS {
        return Err(out(format!("{int_digits} digits before the point")));
    }
    if frac_digits > MAX_FRACTION_DIGITS {
        return Err(out(format!("{frac_digits} digits after the point")));
    }
    if int_digits + frac_digits > MAX_DIGITS {
        return Err(out(format!("{} digits", int_digits + frac_digits)));
    }
    // Within the range the text is exact in a Decimal; from_str cannot fail or round.
    Decimal::from_str(t).map_err(|_| AmountError::NotANumber(shown()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn kraken_amounts_are_read_exactly() {
        assert_eq!(parse_amount("-24.5000").unwrap().to_string(), "-24.5000");
        assert_eq!(parse_amount(" 0.7812500000 ").unwrap(), dec!(0.78125));
        assert_eq!(parse_amount("0").unwrap(), dec!(0));
        assert_eq!(parse_amount("-0.0000").unwrap(), dec!(0));
        // The limits themselves.
        let big = "99999999999999999999.99999999";
        assert_eq!(parse_amount(big).unwrap().to_string(), big);
        let small = "0.000000000000000001";
        assert_eq!(parse_amount(small).unwrap().to_string(), small);
        assert_eq!(
            parse_amount("000000000000000000000000000001.5").unwrap(),
            dec!(1.5)
        );
    }

    #[test]
    fn out_of_range_and_malformed_numbers_are_refused() {
        for (text, want) in [
            (
                "79228162514264337593543950335",
                "out of range: \"79228162514264337593543950335\" has 29 digits before the point; amounts are limited to 20 digits before the point, 18 after it and 28 in all",
            ),
            (
                "100000000000000000000",
                "out of range: \"100000000000000000000\" has 21 digits before the point; amounts are limited to 20 digits before the point, 18 after it and 28 in all",
            ),
            (
                "0.0000000000000000000000000001",
                "out of range: \"0.0000000000000000000000000001\" has 28 digits after the point; amounts are limited to 20 digits before the point, 18 after it and 28 in all",
            ),
            (
                "12345678901234567890.123456789",
                "out of range: \"12345678901234567890.123456789\" has 29 digits; amounts are limited to 20 digits before the point, 18 after it and 28 in all",
            ),
            ("5e28", "not a decimal number: \"5e28\""),
            ("1e-28", "not a decimal number: \"1e-28\""),
            ("+1", "not a decimal number: \"+1\""),
            ("1_000", "not a decimal number: \"1_000\""),
            (".5", "not a decimal number: \".5\""),
            ("5.", "not a decimal number: \"5.\""),
            ("-", "not a decimal number: \"-\""),
            ("", "not a decimal number: \"\""),
            ("--1", "not a decimal number: \"--1\""),
            ("1.2.3", "not a decimal number: \"1.2.3\""),
            ("١٢", "not a decimal number: \"١٢\""),
        ] {
            assert_eq!(parse_amount(text).unwrap_err().to_string(), want, "{text}");
        }
    }
}
