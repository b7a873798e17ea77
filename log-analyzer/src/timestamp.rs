//! The `-time` filter's clock: accept dates turned into Unix timestamps in the local time
//! zone with the C library's mktime(), keeping halog's one-minute cache and its habit of
//! reusing the daylight-saving flag of the previous conversion (first: the current time's).

use crate::fields::DateParts;

/// Converts accept dates, remembering the last minute converted.
#[derive(Default)]
pub struct Clock {
    tm: Option<libc::tm>,
    last: i32,
}

impl Clock {
    /// Unix time of `date` (wrapping to 32 bits), 0xFFFFFFFF for an unreadable date.
    pub fn timestamp(&mut self, date: Option<DateParts>) -> u32 {
        let Some(d) = date else {
            return u32::MAX;
        };
        let tm = match &mut self.tm {
            Some(tm) => {
                if tm.tm_min as u32 == d.min
                    && tm.tm_hour as u32 == d.hour
                    && tm.tm_mday as u32 == d.day
                    && tm.tm_mon as u32 == d.month.wrapping_sub(1)
                    && tm.tm_year as u32 == d.year.wrapping_sub(1900)
                {
                    return (self.last as u32).wrapping_add(d.sec);
                }
                tm
            }
            None => self.tm.insert(now_local()),
        };
        tm.tm_sec = 0;
        tm.tm_min = d.min as i32;
        tm.tm_hour = d.hour as i32;
        tm.tm_mday = d.day as i32;
        tm.tm_mon = d.month.wrapping_sub(1) as i32;
        tm.tm_year = d.year.wrapping_sub(1900) as i32;
        // SAFETY: `tm` is a valid, initialised struct tm owned by us; mktime only reads and
        // normalises it.
        let t = unsafe { libc::mktime(tm) };
        self.last = t as i32;
        (self.last as u32).wrapping_add(d.sec)
    }
}

/// The current time broken down in the local time zone.
fn now_local() -> libc::tm {
    // SAFETY: an all-zero struct tm is a valid value (tm_zone is a nullable pointer);
    // time() accepts a null pointer; localtime_r writes only into the struct we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let now = libc::time(std::ptr::null_mut());
        libc::localtime_r(&now, &mut tm);
        tm
    }
}
