//! Integer patterns of the `int` and `len` match methods (configuration manual 7.1.2):
//! single values, ranges `lo:hi` with either bound left out, and the ACL operator words
//! `eq ge gt le lt` that HAProxy rewrites into ranges before storing the pattern text.

use std::fmt;

/// An integer pattern: an inclusive range, either bound open. A single value has both
/// bounds equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntPattern {
    /// Lowest matching value, `None` for no lower bound.
    pub min: Option<i64>,
    /// Highest matching value, `None` for no upper bound.
    pub max: Option<i64>,
}

impl IntPattern {
    /// A pattern matching exactly `v`.
    pub fn exact(v: i64) -> IntPattern {
        IntPattern {
            min: Some(v),
            max: Some(v),
        }
    }

    /// Whether `v` lies within the range.
    pub fn matches(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// The single value this pattern matches, if it is not a range.
    pub fn single(&self) -> Option<i64> {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for IntPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.single() {
            return write!(f, "{v}");
        }
        if let Some(m) = self.min {
            write!(f, "{m}")?;
        }
        f.write_str(":")?;
        if let Some(m) = self.max {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// The comparison operators accepted before integer values on an `acl` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOperator {
    /// `eq`: equal (the default).
    Eq,
    /// `ge`: greater than or equal.
    Ge,
    /// `gt`: greater than.
    Gt,
    /// `le`: less than or equal.
    Le,
    /// `lt`: less than.
    Lt,
}

impl IntOperator {
    /// The operator named by an ACL word, if it is one.
    pub fn from_word(w: &str) -> Option<IntOperator> {
        Some(match w {
            "eq" => IntOperator::Eq,
            "ge" => IntOperator::Ge,
            "gt" => IntOperator::Gt,
            "le" => IntOperator::Le,
            "lt" => IntOperator::Lt,
            _ => return None,
        })
    }
}

/// Rewrites an ACL value preceded by an operator into the pattern text HAProxy stores
/// (and shows in `show acl`): `gt 5` becomes `6:`, `ge 5` `5:`, `lt 5` `:4`, `le 5` `:5`.
/// As in HAProxy 2.6, only plain non-negative decimal values are rewritten; anything else
/// (a range, a negative number) is kept as written.
pub fn apply_int_operator(op: IntOperator, value: &str) -> String {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let v = match value.parse::<i64>() {
        Ok(v) if plain => v,
        _ => return value.to_string(),
    };
    let text = match op {
        IntOperator::Eq => return value.to_string(),
        IntOperator::Ge => Some(format!("{v}:")),
        IntOperator::Gt => v.checked_add(1).map(|w| format!("{w}:")),
        IntOperator::Le => Some(format!(":{v}")),
        IntOperator::Lt => v.checked_sub(1).map(|w| format!(":{w}")),
    };
    text.unwrap_or_else(|| value.to_string())
}

/// Parses an integer pattern, optionally preceded by an ACL operator word (`eq`, `ge`,
/// `gt`, `le`, `lt`). The grammar is HAProxy's: decimal digits for a single value, or
/// `[lo]SEP[hi]` where SEP is `:` or `-`, `lo` is unsigned and `hi` may be negative; so
/// `-3` means "up to 3" exactly as it does in HAProxy 2.6. Errors read like HAProxy's:
/// `'x' is not a number.` and `'5:3' is not a valid number range.`
pub fn parse_int_pattern(op: Option<&str>, s: &str) -> Result<IntPattern, String> {
    match op {
        None => parse_int_text(s),
        Some(w) => match IntOperator::from_word(w) {
            Some(o) => parse_int_text(&apply_int_operator(o, s)),
            None => Err(format!("'{w}' is not a valid integer operator.")),
        },
    }
}

/// Parses the stored text of an integer pattern (no operator).
pub(crate) fn parse_int_text(s: &str) -> Result<IntPattern, String> {
    let not_number = || format!("'{s}' is not a number.");
    let bad_range = || format!("'{s}' is not a valid number range.");
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == b.len() {
        if digits == 0 {
            return Err(not_number());
        }
        return s
            .parse::<i64>()
            .map(IntPattern::exact)
            .map_err(|_| not_number());
    }
    if b[digits] != b':' && b[digits] != b'-' {
        return Err(not_number());
    }
    let min = if digits == 0 {
        None
    } else {
        Some(s[..digits].parse::<i64>().map_err(|_| bad_range())?)
    };
    let rest = &s[digits + 1..];
    let max = if rest.is_empty() {
        None
    } else {
        let num = rest.strip_prefix('-').unwrap_or(rest);
        if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad_range());
        }
        Some(rest.parse::<i64>().map_err(|_| bad_range())?)
    };
    match (min, max) {
        (None, None) => Err(bad_range()),
        (Some(a), Some(b)) if a > b => Err(bad_range()),
        _ => Ok(IntPattern { min, max }),
    }
}

/// Converts a string sample to an integer the way HAProxy's cast does for matching: an
/// optional sign then decimal digits, stopping at the first other byte; no digits gives 0,
/// and values beyond 64 bits saturate.
pub fn cast_str_to_int(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = i64::from(c - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IntPattern {
        match parse_int_text(s) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn values_and_ranges() {
        assert_eq!(p("10"), IntPattern::exact(10));
        assert_eq!(p("010"), IntPattern::exact(10));
        assert!(p("1024:65535").matches(1024) && p("1024:65535").matches(65535));
        assert!(!p("1024:65535").matches(1023));
        assert!(p("1024:").matches(i64::MAX) && !p("1024:").matches(0));
        assert!(p(":1023").matches(-7) && !p(":1023").matches(1024));
        assert!(p("3-5").matches(4) && !p("3-5").matches(6));
        assert!(p("3:3").matches(3) && !p("3:3").matches(4));
        assert!(p("2147483648").matches(2147483648));
        assert_eq!(p("9223372036854775807"), IntPattern::exact(i64::MAX));
    }

    #[test]
    fn leading_dash_is_an_open_range_like_haproxy() {
        // HAProxy 2.6 reads "-3" as "up to 3", "--5" as "up to -5", ":-1" as "up to -1".
        let m = p("-3");
        assert!(m.matches(-100) && m.matches(3) && !m.matches(4));
        assert!(p("--5").matches(-5) && !p("--5").matches(-4));
        assert!(p(":-1").matches(-1) && !p(":-1").matches(0));
        assert!(p("0:-0").matches(0) && !p("0:-0").matches(1));
        assert!(p("1-").matches(1) && !p("1-").matches(0));
    }

    #[test]
    fn errors_read_like_haproxy() {
        for s in [
            "x1",
            "3.5",
            "+3",
            "0x10",
            "3abc",
            "99999999999999999999",
            "",
        ] {
            assert_eq!(
                parse_int_text(s),
                Err(format!("'{s}' is not a number.")),
                "{s}"
            );
        }
        for s in [
            "5:3", ":", "-", "1:2:3", "1:-5", "-1:5", "3--1", "5:+7", "-2-",
        ] {
            assert_eq!(
                parse_int_text(s),
                Err(format!("'{s}' is not a valid number range.")),
                "{s}"
            );
        }
    }

    #[test]
    fn operators_rewrite_the_text() {
        use IntOperator::*;
        assert_eq!(apply_int_operator(Gt, "5"), "6:");
        assert_eq!(apply_int_operator(Ge, "7"), "7:");
        assert_eq!(apply_int_operator(Lt, "3"), ":2");
        assert_eq!(apply_int_operator(Lt, "0"), ":-1");
        assert_eq!(apply_int_operator(Le, "2"), ":2");
        assert_eq!(apply_int_operator(Eq, "5"), "5");
        // Not rewritten, as in HAProxy: negative values and ranges.
        assert_eq!(apply_int_operator(Gt, "-3"), "-3");
        assert_eq!(apply_int_operator(Ge, "1:3"), "1:3");
        let lt0 = parse_int_pattern(Some("lt"), "0").ok();
        assert!(lt0.is_some_and(|m| m.matches(-1) && !m.matches(0)));
        assert!(parse_int_pattern(Some("gt"), "1").is_ok_and(|m| m.matches(2) && !m.matches(1)));
        assert!(parse_int_pattern(Some("ne"), "1").is_err());
        assert_eq!(p("6:").to_string(), "6:");
        assert_eq!(p(":-1").to_string(), ":-1");
        assert_eq!(p("4").to_string(), "4");
    }

    #[test]
    fn string_cast() {
        assert_eq!(cast_str_to_int(b"abc"), 0);
        assert_eq!(cast_str_to_int(b"5x"), 5);
        assert_eq!(cast_str_to_int(b"-5"), -5);
        assert_eq!(cast_str_to_int(b"+12"), 12);
        assert_eq!(cast_str_to_int(b"99999999999999999999"), i64::MAX);
    }
}
