//! Dates as logs print them: syslog headers (`Dec  4 18:20:45`, ISO 8601 with
//! microseconds and the zone offset) and the `%t`/`%tr`/`%T`… log variables
//! (`04/Dec/2026:18:20:45.124`, `04/Dec/2026:18:20:45 +0000`), local time through the C
//! library, the broken-down second cached per thread.

use std::cell::Cell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (seconds, microseconds) since the epoch.
pub type Stamp = (i64, u32);

pub fn now() -> Stamp {
    of(SystemTime::now())
}

pub fn of(t: SystemTime) -> Stamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(_) => (0, 0),
    }
}

/// A broken-down time: year, month (0-11), day, hour, minute, second, offset from UTC in
/// seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tm {
    pub year: i32,
    pub mon: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub gmtoff: i64,
}

thread_local! {
    static LOCAL: Cell<(i64, Tm)> = const { Cell::new((i64::MIN, Tm { year: 0, mon: 0, day: 0, hour: 0, min: 0, sec: 0, gmtoff: 0 })) };
}

fn convert(secs: i64, local: bool) -> Tm {
    // SAFETY: `tm` is plain data filled by the C library from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = secs as libc::time_t;
    unsafe {
        if local {
            libc::localtime_r(&t, &mut tm);
        } else {
            libc::gmtime_r(&t, &mut tm);
        }
    }
    Tm {
        year: tm.tm_year + 1900,
        mon: tm.tm_mon.clamp(0, 11) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
        gmtoff: if local { tm.tm_gmtoff } else { 0 },
    }
}

/// The local time of `secs`.
pub fn local(secs: i64) -> Tm {
    LOCAL.with(|c| {
        let (s, tm) = c.get();
        if s == secs {
            return tm;
        }
        let tm = convert(secs, true);
        c.set((secs, tm));
        tm
    })
}

pub fn utc(secs: i64) -> Tm {
    convert(secs, false)
}

/// `Dec  4 18:20:45` (RFC 3164, local time).
pub fn rfc3164(out: &mut Vec<u8>, secs: i64) {
    let t = local(secs);
    let _ = write!(
        out,
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[t.mon as usize], t.day, t.hour, t.min, t.sec
    );
}

fn offset(out: &mut Vec<u8>, gmtoff: i64, colon: bool) {
    let sign = if gmtoff < 0 { '-' } else { '+' };
    let m = gmtoff.abs() / 60;
    if colon {
        let _ = write!(out, "{sign}{:02}:{:02}", m / 60, m % 60);
    } else {
        let _ = write!(out, "{sign}{:02}{:02}", m / 60, m % 60);
    }
}

/// `2026-12-04T18:22:15.714843+00:00` (RFC 5424, local time).
pub fn iso(out: &mut Vec<u8>, (secs, us): Stamp) {
    let t = local(secs);
    let _ = write!(
        out,
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{us:06}",
        t.year,
        t.mon + 1,
        t.day,
        t.hour,
        t.min,
        t.sec
    );
    offset(out, t.gmtoff, true);
}

/// `04/Dec/2026:18:20:45.124` (`%t`, `%tr`: local time, milliseconds).
pub fn log_ms(out: &mut Vec<u8>, (secs, us): Stamp) {
    let t = local(secs);
    let _ = write!(
        out,
        "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
        t.day,
        MONTHS[t.mon as usize],
        t.year,
        t.hour,
        t.min,
        t.sec,
        us / 1000
    );
}

/// `04/Dec/2026:18:20:45 +0000` (`%T`, `%trg`: UTC; `%Tl`, `%trl`: local).
pub fn log_zone(out: &mut Vec<u8>, secs: i64, is_local: bool) {
    let t = if is_local { local(secs) } else { utc(secs) };
    let _ = write!(
        out,
        "{:02}/{}/{}:{:02}:{:02}:{:02} ",
        t.day, MONTHS[t.mon as usize], t.year, t.hour, t.min, t.sec
    );
    offset(out, t.gmtoff, false);
}

/// A received syslog date (`Dec  4 18:20:45` or ISO 8601) written as RFC 3164 wants it
/// (an ISO date keeps its own wall-clock time, as HAProxy's log-forward). False when
/// `text` is neither.
pub fn received_as_rfc3164(out: &mut Vec<u8>, text: &[u8]) -> bool {
    if text.len() == 15 && MONTHS.iter().any(|m| text.starts_with(m.as_bytes())) {
        out.extend_from_slice(text);
        return true;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(text.get(r)?).ok()?.parse().ok()
    };
    if text.len() >= 19
        && text[10] == b'T'
        && let (Some(mon), Some(day)) = (num(5..7), num(8..10))
        && (1..=12).contains(&mon)
    {
        let _ = write!(out, "{} {day:>2} ", MONTHS[mon as usize - 1]);
        out.extend_from_slice(&text[11..19]);
        return true;
    }
    false
}

/// A received syslog date written as RFC 5424 wants it: an ISO date as is, an RFC 3164
/// one in this year with an unknown offset (`2026-12-04T18:20:45-00:00`). False when
/// `text` is neither.
pub fn received_as_iso(out: &mut Vec<u8>, text: &[u8]) -> bool {
    if text.len() >= 19 && text[10] == b'T' {
        out.extend_from_slice(text);
        return true;
    }
    if text.len() == 15
        && let Some(mon) = MONTHS.iter().position(|m| text.starts_with(m.as_bytes()))
    {
        let day = std::str::from_utf8(&text[4..6])
            .ok()
            .and_then(|d| d.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let year = local(now().0).year;
        let _ = write!(out, "{year}-{:02}-{day:02}T", mon + 1);
        out.extend_from_slice(&text[7..15]);
        out.extend_from_slice(b"-00:00");
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let s = 1_796_408_445; // 2026-12-04 18:20:45 UTC
        let mut o = Vec::new();
        log_zone(&mut o, s, false);
        assert_eq!(String::from_utf8(o).unwrap(), "04/Dec/2026:18:20:45 +0000");
        let t = utc(s);
        assert_eq!((t.year, t.mon, t.day, t.hour), (2026, 11, 4, 18));
    }
}
