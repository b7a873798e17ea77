//! Byte-level scanning of one log line: fields separated by spaces, the `a/b/c` timers,
//! signed integers, the accept date (`[04/Dec/2026:20:00:01.123]`). A line is a byte slice
//! that ends at its first NUL; reading past its end yields 0, as a C string would.

/// Byte at `i`, or 0 past the end of the line.
#[inline(always)]
pub fn at(l: &[u8], i: usize) -> u8 {
    match l.get(i) {
        Some(&c) => c,
        None => 0,
    }
}

/// A timer or field separator: a space, a control character or the end of the line.
#[inline(always)]
pub fn is_sep(c: u8) -> bool {
    c <= b' '
}

/// Start of the `n`-th field (1 = the one at or after `p`), fields being separated by runs
/// of spaces (only spaces, like awk with FS=" " minus tabs). Returns `l.len()` when the line
/// ends first; `n <= 0` never matches.
#[inline]
pub fn field_start(l: &[u8], mut p: usize, mut n: i32) -> usize {
    let len = l.len();
    loop {
        while p < len && l[p] == b' ' {
            p += 1;
        }
        if p >= len {
            return len;
        }
        n = n.wrapping_sub(1);
        if n == 0 {
            return p;
        }
        p = next_space(l, p);
        if p >= len {
            return len;
        }
    }
}

/// First position at or after `p` holding a space or the end of the line.
#[inline]
pub fn field_stop(l: &[u8], p: usize) -> usize {
    next_space(l, p)
}

/// First space at or after `p`, or `l.len()`; 8 bytes at a time.
#[inline(always)]
fn next_space(l: &[u8], mut p: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const SPACES: u64 = LO * b' ' as u64;
    while let Some(w) = l.get(p..p + 8) {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ SPACES;
        // exact for the lowest zero byte, which is the one wanted
        let m = x.wrapping_sub(LO) & !x & HI;
        if m != 0 {
            return p + (m.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    while p < l.len() && l[p] != b' ' {
        p += 1;
    }
    p.min(l.len())
}

/// Moves past the next `c`, or stops on the first separator (not consumed).
#[inline]
pub fn skip_char(l: &[u8], mut p: usize, c: u8) -> usize {
    loop {
        let ch = at(l, p);
        p += 1;
        if ch == c {
            return p;
        }
        if is_sep(ch) {
            return p - 1;
        }
    }
}

/// Integer at `p`: an optional `-` then digits, stopping at the first other byte (0 when
/// there is no digit). Overflow wraps like the 32-bit arithmetic of the logs' producers.
#[inline]
pub fn int_at(l: &[u8], mut p: usize) -> i32 {
    let neg = at(l, p) == b'-';
    if neg {
        p += 1;
    }
    let mut v: i32 = 0;
    loop {
        let d = at(l, p).wrapping_sub(b'0');
        if d > 9 {
            return v;
        }
        v = v.wrapping_mul(10);
        v = if neg {
            v.wrapping_sub(d as i32)
        } else {
            v.wrapping_add(d as i32)
        };
        p += 1;
    }
}

/// The `a/b/c/d/e` timers field parsed up to `max` values.
pub struct Timers {
    /// How many values were seen (at most `max`).
    pub count: usize,
    /// The values, negative ones as they were written.
    pub val: [i32; 5],
    /// Position of the last value read (the start of the 5th one when 5 were read).
    pub last: usize,
}

/// Parses up to `max` (≤ 5) slash-separated values starting at `p`.
#[inline]
pub fn timers(l: &[u8], mut p: usize, max: usize) -> Timers {
    let mut t = Timers {
        count: 0,
        val: [0; 5],
        last: p,
    };
    while !is_sep(at(l, p)) {
        t.val[t.count] = int_at(l, p);
        t.last = p;
        t.count += 1;
        if t.count == max {
            break;
        }
        p = skip_char(l, p, b'/');
    }
    t
}

/// Milliseconds since midnight of an accept date such as `[04/Dec/2026:20:00:01.123]`
/// starting at `p`, or -1 when it cannot be read (the line ends inside it).
pub fn day_ms(l: &[u8], mut p: usize) -> i32 {
    // the date itself is skipped up to the first ':'
    loop {
        let c = at(l, p);
        p += 1;
        if c == b':' {
            break;
        }
        if c == 0 {
            return -1;
        }
    }
    let mut part = [0u32; 4];
    for (i, slot) in part.iter_mut().enumerate() {
        let (v, stop, next) = digits(l, p);
        *slot = v;
        p = next;
        if stop == 0 {
            return -1;
        }
        // hours and minutes end on anything; seconds may be followed by '.' + milliseconds
        if i == 2 && stop != b'.' {
            break;
        }
    }
    let [h, m, s, ms] = part;
    let v = h
        .wrapping_mul(60)
        .wrapping_add(m)
        .wrapping_mul(60)
        .wrapping_add(s)
        .wrapping_mul(1000)
        .wrapping_add(ms);
    v as i32
}

/// Decimal digits at `p`: (value, the byte that stopped them, position after that byte).
#[inline]
fn digits(l: &[u8], mut p: usize) -> (u32, u8, usize) {
    let mut v: u32 = 0;
    loop {
        let c = at(l, p);
        p += 1;
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return (v, c, p);
        }
        v = v.wrapping_mul(10).wrapping_add(d as u32);
    }
}

/// The calendar parts of an accept date, as read by the `-time` filter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DateParts {
    pub day: u32,
    pub month: u32,
    pub year: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

/// Reads `[dd/Mon/yyyy:hh:mm:ss` at `p` (which holds the '['). The month is recognised by
/// its first letters and its name skipped blindly (`Ju` followed by anything but `n`/`l`
/// reads as month 0). `None` for an unknown month or when the line ends inside the hour or
/// the minute.
///
/// halog reads this with no regard for the end of the line (a truncated date continues
/// into the next line), so the bytes come from `byte`, which can look past the line.
pub fn date_parts(byte: impl Fn(usize) -> u8, p: usize) -> Option<DateParts> {
    let digits = |mut p: usize| -> (u32, u8, usize) {
        let mut v: u32 = 0;
        loop {
            let c = byte(p);
            p += 1;
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return (v, c, p);
            }
            v = v.wrapping_mul(10).wrapping_add(d as u32);
        }
    };
    let (day, _, mut e) = digits(p + 1);
    let c = byte(e);
    e += 1;
    let month = match c {
        b'F' => 2,
        b'S' => 9,
        b'O' => 10,
        b'N' => 11,
        b'D' => 12,
        b'A' => {
            e += 1;
            match byte(e - 1) {
                b'p' => 4,
                b'u' => 8,
                _ => return None,
            }
        }
        b'J' => {
            e += 1;
            match byte(e - 1) {
                b'a' => 1,
                b'u' => {
                    e += 1;
                    match byte(e - 1) {
                        b'n' => 6,
                        b'l' => 7,
                        _ => 0,
                    }
                }
                _ => return None,
            }
        }
        b'M' => {
            e += 2;
            match byte(e - 1) {
                b'r' => 3,
                b'y' => 5,
                _ => return None,
            }
        }
        _ => return None,
    };
    // what is left of the month name and its '/'
    e += match month {
        2 | 9 | 10 | 11 | 12 => 3,
        1 | 4 | 8 => 2,
        3 | 5 | 6 | 7 => 1,
        _ => 0,
    };
    let (year, _, e) = digits(e);
    let (hour, stop, e) = digits(e);
    if stop == 0 {
        return None;
    }
    let (min, stop, e) = digits(e);
    if stop == 0 {
        return None;
    }
    let (sec, _, _) = digits(e);
    Some(DateParts {
        day,
        month,
        year,
        hour,
        min,
        sec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_space_separated() {
        let l = b"a  bb c";
        assert_eq!(field_start(l, 0, 1), 0);
        assert_eq!(field_start(l, 0, 2), 3);
        assert_eq!(field_start(l, 0, 3), 6);
        assert_eq!(field_start(l, 0, 4), l.len());
        assert_eq!(field_start(l, 0, 0), l.len());
        assert_eq!(field_stop(l, 3), 5);
    }

    #[test]
    fn ints_and_timers() {
        assert_eq!(int_at(b"-12x", 0), -12);
        assert_eq!(int_at(b"503 ", 0), 503);
        assert_eq!(int_at(b"-", 0), 0);
        let t = timers(b"0/-1/2/3/40 200", 0, 5);
        assert_eq!(t.count, 5);
        assert_eq!(t.val, [0, -1, 2, 3, 40]);
        assert_eq!(t.last, 9);
        assert_eq!(timers(b"0/5/100 12", 0, 5).count, 3);
    }

    #[test]
    fn dates() {
        assert_eq!(day_ms(b"[04/Dec/2026:20:00:01.123]", 0), 72_001_123);
        assert_eq!(day_ms(b"[04/Dec/2026:20:00:01]", 0), 72_001_000);
        assert_eq!(day_ms(b"[04/Dec/2026:20:00", 0), -1);
        let l = b"[04/Jul/2026:20:01:02.123]";
        let d = date_parts(|i| at(l, i), 0);
        assert_eq!(
            d,
            Some(DateParts {
                day: 4,
                month: 7,
                year: 2026,
                hour: 20,
                min: 1,
                sec: 2
            })
        );
    }
}
