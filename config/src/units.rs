//! Time and size values (manual sections 2.5 and 2.6): parsing `10s`, `1500ms`, `4k`
//! the way HAProxy does (integers only, rounding up to the keyword's unit, timers capped
//! below 2^31), and printing a duration back in its shortest exact form.

/// HAProxy refuses any timer whose value, expressed in the keyword's own unit, reaches
/// 2^31 (timers are stored in signed 32-bit integers).
pub const MAX_TIMER: u64 = 0x7fff_ffff;

const US_PER_MS: u128 = 1_000;
const US_PER_S: u128 = 1_000_000;
const US_PER_M: u128 = 60 * US_PER_S;
const US_PER_H: u128 = 60 * US_PER_M;
const US_PER_D: u128 = 24 * US_PER_H;

/// Any number larger than this cannot produce a valid timer whatever its unit; it keeps
/// the arithmetic below far from `u128` overflow.
const MAX_DIGITS_VALUE: u128 = 10_000_000_000_000_000_000_000_000;

const TIME_UNITS_HINT: &str = "supported units are us, ms, s, m, h and d";
const SIZE_UNITS_HINT: &str = "supported units are k, m and g";

/// Parses a time in milliseconds: a bare number is in milliseconds; `us`, `ms`, `s`, `m`,
/// `h` and `d` suffixes are accepted (lower case only, as HAProxy). Microseconds are
/// rounded up to the next whole millisecond (`1us` is 1, `0us` is 0). Values of 2^31 ms
/// (~24.8 days) or more are refused, like HAProxy's timers.
pub fn parse_time_ms(s: &str) -> Result<u64, String> {
    parse_time_in(s, US_PER_MS, "ms or ~24.8 days")
}

/// Parses a time in microseconds, as HAProxy does for keywords whose unit is the
/// microsecond: a bare number is in microseconds, suffixes are accepted as for
/// [`parse_time_ms`]. Values of 2^31 us (~35.8 minutes) or more are refused.
pub fn parse_time_us(s: &str) -> Result<u64, String> {
    parse_time_in(s, 1, "us or ~35.8 minutes")
}

/// Parses a time for a keyword whose unit (the meaning of a bare number) is
/// `default_unit_ms` milliseconds, e.g. 1000 for a keyword counted in seconds. As in
/// HAProxy the value is converted into that unit rounding up (`1500ms` for a keyword in
/// seconds is 2 seconds) and must stay below 2^31 of that unit; the result is returned in
/// milliseconds (so `1500ms` with a unit of 1000 gives 2000).
pub fn parse_time_with_default(s: &str, default_unit_ms: u64) -> Result<u64, String> {
    if default_unit_ms == 0 {
        return Err(String::from("invalid time unit of 0 ms"));
    }
    let unit_name = match default_unit_ms {
        1 => String::from("ms or ~24.8 days"),
        1_000 => String::from("s"),
        60_000 => String::from("m"),
        3_600_000 => String::from("h"),
        86_400_000 => String::from("d"),
        n => format!("units of {n} ms"),
    };
    let units = parse_time_in(s, u128::from(default_unit_ms) * US_PER_MS, &unit_name)?;
    units
        .checked_mul(default_unit_ms)
        .ok_or_else(|| format!("timer overflow (maximum value is {MAX_TIMER} {unit_name})"))
}

/// Parses a size in bytes: a bare number is in bytes; `k`/`K`, `m`/`M` and `g`/`G`
/// multiply by 1024, 1024^2 and 1024^3. Only integers are accepted. The only limit is
/// `u64`; HAProxy 2.6 itself stores most sizes in 32 bits (4294967295 at most), a range
/// that keywords must check themselves.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(String::from("empty value (an integer is expected)"));
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(unexpected(s, 0, SIZE_UNITS_HINT));
    }
    let mut value: u64 = 0;
    for b in &bytes[..digits] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| String::from("value too large"))?;
    }
    let shift = match bytes.get(digits) {
        None => return Ok(value),
        Some(b'k' | b'K') => 10,
        Some(b'm' | b'M') => 20,
        Some(b'g' | b'G') => 30,
        Some(_) => return Err(unexpected(s, digits, SIZE_UNITS_HINT)),
    };
    if digits + 1 < bytes.len() {
        return Err(unexpected(s, digits + 1, SIZE_UNITS_HINT));
    }
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| String::from("value too large"))
}

/// Formats milliseconds in the shortest exact form HAProxy accepts back: the largest of
/// `d`, `h`, `m`, `s` that divides the value, otherwise `ms` (`0` is `"0ms"`).
pub fn format_time_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    if ms != 0 {
        for (size, name) in UNITS {
            if ms.is_multiple_of(size) {
                return format!("{}{name}", ms / size);
            }
        }
    }
    format!("{ms}ms")
}

/// Common time parser: `target_us` is the size of the keyword's unit in microseconds,
/// which is also the unit of a bare number. Returns the value in that unit, rounded up.
fn parse_time_in(s: &str, target_us: u128, unit_name: &str) -> Result<u64, String> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(String::from("empty value (an integer is expected)"));
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(unexpected(s, 0, TIME_UNITS_HINT));
    }
    let overflow = || format!("timer overflow (maximum value is {MAX_TIMER} {unit_name})");
    let mut value: u128 = 0;
    for b in &bytes[..digits] {
        value = value * 10 + u128::from(b - b'0');
        if value > MAX_DIGITS_VALUE {
            return Err(overflow());
        }
    }
    let rest = &bytes[digits..];
    let (unit_us, unit_len) = match rest {
        [] => (None, 0),
        [b'u', b's', ..] => (Some(1), 2),
        [b'm', b's', ..] => (Some(US_PER_MS), 2),
        [b's', ..] => (Some(US_PER_S), 1),
        [b'm', ..] => (Some(US_PER_M), 1),
        [b'h', ..] => (Some(US_PER_H), 1),
        [b'd', ..] => (Some(US_PER_D), 1),
        _ => return Err(unexpected(s, digits, TIME_UNITS_HINT)),
    };
    // HAProxy 2.6 only warns about characters after a valid unit ("will be reported as an
    // error in next versions"); halo refuses them.
    if digits + unit_len < bytes.len() {
        return Err(unexpected(s, digits + unit_len, TIME_UNITS_HINT));
    }
    let result = match unit_us {
        None => value,
        Some(u) => value
            .checked_mul(u)
            .ok_or_else(overflow)?
            .div_ceil(target_us),
    };
    if result > u128::from(MAX_TIMER) {
        return Err(overflow());
    }
    u64::try_from(result).map_err(|_| overflow())
}

/// "unexpected character 'x' (hint)" for the character starting at byte `at` of `s`.
fn unexpected(s: &str, at: usize, hint: &str) -> String {
    let c = s.get(at..).and_then(|r| r.chars().next()).unwrap_or('?');
    format!("unexpected character '{c}' ({hint})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_milliseconds() {
        assert_eq!(parse_time_ms("0"), Ok(0));
        assert_eq!(parse_time_ms("1"), Ok(1));
        assert_eq!(parse_time_ms("5000"), Ok(5000));
        assert_eq!(parse_time_ms("007"), Ok(7));
    }

    #[test]
    fn every_time_unit() {
        assert_eq!(parse_time_ms("1000us"), Ok(1));
        assert_eq!(parse_time_ms("15ms"), Ok(15));
        assert_eq!(parse_time_ms("10s"), Ok(10_000));
        assert_eq!(parse_time_ms("2m"), Ok(120_000));
        assert_eq!(parse_time_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_time_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_time_ms("24d"), Ok(24 * 86_400_000));
        assert_eq!(parse_time_ms("596h"), Ok(596 * 3_600_000));
    }

    #[test]
    fn microseconds_round_up_to_whole_milliseconds() {
        assert_eq!(parse_time_ms("0us"), Ok(0));
        assert_eq!(parse_time_ms("1us"), Ok(1));
        assert_eq!(parse_time_ms("999us"), Ok(1));
        assert_eq!(parse_time_ms("1000us"), Ok(1));
        assert_eq!(parse_time_ms("1001us"), Ok(2));
        assert_eq!(parse_time_ms("1500us"), Ok(2));
        assert_eq!(parse_time_ms("0s"), Ok(0));
        assert_eq!(parse_time_ms("0d"), Ok(0));
    }

    #[test]
    fn timer_limit_is_two_to_the_31() {
        assert_eq!(parse_time_ms("2147483647"), Ok(2_147_483_647));
        assert!(parse_time_ms("2147483648").is_err());
        assert!(parse_time_ms("4294967296").is_err());
        assert!(parse_time_ms("25d").is_err());
        assert!(parse_time_ms("2147484s").is_err());
        assert_eq!(parse_time_ms("2147483s"), Ok(2_147_483_000));
        let e = parse_time_ms("25d").unwrap_err();
        assert!(e.contains("timer overflow"), "{e}");
        assert!(e.contains("2147483647 ms"), "{e}");
    }

    #[test]
    fn huge_numbers_are_overflows_not_wraps() {
        // HAProxy 2.6 silently wraps 18446744073709551616 to 0; halo refuses it.
        assert!(parse_time_ms("18446744073709551616").is_err());
        assert!(parse_time_ms("99999999999999999999").is_err());
        assert!(parse_time_ms("1000000000000000000000us").is_err());
        let long = "9".repeat(200);
        assert!(parse_time_ms(&long).unwrap_err().contains("overflow"));
        assert!(parse_time_ms(&format!("{long}us")).is_err());
        assert!(parse_size(&long).is_err());
    }

    #[test]
    fn time_errors_name_the_character() {
        let e = parse_time_ms("10x").unwrap_err();
        assert!(e.starts_with("unexpected character 'x'"), "{e}");
        assert!(parse_time_ms("-1").unwrap_err().contains("'-'"));
        assert!(parse_time_ms("+1").unwrap_err().contains("'+'"));
        assert!(parse_time_ms(" 1").unwrap_err().contains("' '"));
        assert!(parse_time_ms("1.5s").unwrap_err().contains("'.'"));
        assert!(parse_time_ms("x").unwrap_err().contains("'x'"));
        assert!(parse_time_ms("10é").unwrap_err().contains("'é'"));
        assert!(parse_time_ms("").unwrap_err().contains("empty"));
    }

    #[test]
    fn time_units_are_lower_case_and_exact() {
        for bad in [
            "10S", "10MS", "10Us", "10u", "10sx", "10mss", "10ms ", "10 s", "1h1m", "10D",
        ] {
            assert!(parse_time_ms(bad).is_err(), "{bad}");
        }
        assert!(parse_time_ms("10MS").unwrap_err().contains("'M'"));
        assert!(parse_time_ms("10sx").unwrap_err().contains("'x'"));
        assert!(parse_time_ms("10mss").unwrap_err().contains("'s'"));
    }

    #[test]
    fn microsecond_keywords() {
        assert_eq!(parse_time_us("0"), Ok(0));
        assert_eq!(parse_time_us("250"), Ok(250));
        assert_eq!(parse_time_us("250us"), Ok(250));
        assert_eq!(parse_time_us("3ms"), Ok(3000));
        assert_eq!(parse_time_us("2s"), Ok(2_000_000));
        assert_eq!(parse_time_us("35m"), Ok(2_100_000_000));
        assert!(parse_time_us("36m").is_err());
        assert!(parse_time_us("1h").is_err());
        assert!(parse_time_us("2147483648").is_err());
        assert!(parse_time_us("5x").is_err());
        assert!(parse_time_us("").is_err());
    }

    #[test]
    fn keywords_counted_in_seconds() {
        assert_eq!(parse_time_with_default("10", 1000), Ok(10_000));
        assert_eq!(parse_time_with_default("10s", 1000), Ok(10_000));
        assert_eq!(parse_time_with_default("2m", 1000), Ok(120_000));
        assert_eq!(parse_time_with_default("1500ms", 1000), Ok(2000));
        assert_eq!(parse_time_with_default("1ms", 1000), Ok(1000));
        assert_eq!(parse_time_with_default("1us", 1000), Ok(1000));
        assert_eq!(parse_time_with_default("0ms", 1000), Ok(0));
        // The limit is 2^31 of the keyword's unit, so 30 days are fine in seconds.
        assert_eq!(parse_time_with_default("30d", 1000), Ok(30 * 86_400_000));
        assert!(parse_time_with_default("2147483648", 1000).is_err());
        assert!(parse_time_with_default("10x", 1000).is_err());
        assert!(parse_time_with_default("10", 0).is_err());
    }

    #[test]
    fn other_default_units() {
        assert_eq!(parse_time_with_default("5", 1), Ok(5));
        assert_eq!(parse_time_with_default("1500us", 1), Ok(2));
        assert_eq!(parse_time_with_default("3", 60_000), Ok(180_000));
        assert_eq!(parse_time_with_default("90s", 60_000), Ok(120_000));
        assert_eq!(parse_time_with_default("1", 86_400_000), Ok(86_400_000));
        assert_eq!(parse_time_with_default("7", 250), Ok(1750));
        assert!(parse_time_with_default("3", u64::MAX).is_err());
        assert_eq!(
            parse_time_with_default("2147483647", 1),
            parse_time_ms("2147483647")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("16k"), Ok(16 * 1024));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("3g"), Ok(3 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert_eq!(parse_size("4294967296"), Ok(1 << 32));
    }

    #[test]
    fn size_errors() {
        assert!(parse_size("").unwrap_err().contains("empty"));
        assert!(parse_size("10kb").unwrap_err().contains("'b'"));
        assert!(parse_size("10x").unwrap_err().contains("'x'"));
        assert!(parse_size("1.5k").unwrap_err().contains("'.'"));
        assert!(parse_size("-1").unwrap_err().contains("'-'"));
        assert!(parse_size("k").unwrap_err().contains("'k'"));
        assert!(parse_size("1t").is_err());
        assert!(parse_size("1 k").is_err());
        assert!(parse_size("18446744073709551615").is_ok());
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("17179869184g").is_err());
        assert_eq!(parse_size("17179869183g"), Ok(17_179_869_183u64 << 30));
    }

    #[test]
    fn formatting_is_shortest_exact() {
        assert_eq!(format_time_ms(0), "0ms");
        assert_eq!(format_time_ms(1), "1ms");
        assert_eq!(format_time_ms(1500), "1500ms");
        assert_eq!(format_time_ms(30_000), "30s");
        assert_eq!(format_time_ms(90_000), "90s");
        assert_eq!(format_time_ms(60_000), "1m");
        assert_eq!(format_time_ms(5_400_000), "90m");
        assert_eq!(format_time_ms(3_600_000), "1h");
        assert_eq!(format_time_ms(86_400_000), "1d");
        assert_eq!(format_time_ms(2 * 86_400_000 + 3_600_000), "49h");
        assert_eq!(format_time_ms(u64::MAX), format!("{}ms", u64::MAX));
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [0, 1, 999, 1000, 1500, 30_000, 61_000, 3_600_000, 86_400_000] {
            assert_eq!(parse_time_ms(&format_time_ms(ms)), Ok(ms), "{ms}");
        }
    }
}
