//! Accept-rate limits: `maxconnrate` and `maxsessrate` (process-wide) and `rate-limit
//! sessions` (per frontend). A listener stops accepting while the rate over the last second
//! (HAProxy's freq counter: this second's events plus the share of the previous second still
//! in the window) has reached the limit, and resumes as soon as it falls below.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use crate::stick::now_ms;

/// Events per second with a limit (0: none). Only accept loops touch it.
#[derive(Default)]
pub struct AcceptRate {
    limit: AtomicU32,
    /// The highest rate seen (`MaxConnRate`…).
    max: AtomicU32,
    /// Start of the current second (ms), events in it, events in the previous one.
    ctr: Mutex<(u64, u32, u32)>,
}

impl AcceptRate {
    pub fn new(limit: Option<u32>) -> AcceptRate {
        AcceptRate {
            limit: AtomicU32::new(limit.unwrap_or(0)),
            max: AtomicU32::new(0),
            ctr: Mutex::new((0, 0, 0)),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Relaxed)
    }

    /// `set rate-limit … global N` (0 lifts the limit).
    pub fn set_limit(&self, v: u32) {
        self.limit.store(v, Relaxed);
    }

    /// Moves the window to `now`; returns (ms into the current second, curr, prev).
    fn roll(c: &mut (u64, u32, u32), now: u64) -> (u64, u32, u32) {
        let elapsed = now.saturating_sub(c.0);
        if elapsed >= 2000 {
            *c = (now - now % 1000, 0, 0);
        } else if elapsed >= 1000 {
            *c = (c.0 + 1000, 0, c.1);
        }
        (now.saturating_sub(c.0), c.1, c.2)
    }

    /// The events of the last second, the previous second weighted by its part still in it.
    pub fn rate(&self) -> u32 {
        let mut c = self.ctr.lock().unwrap_or_else(|e| e.into_inner());
        Self::rate_of(&mut c)
    }

    fn rate_of(c: &mut (u64, u32, u32)) -> u32 {
        let (into, curr, prev) = Self::roll(c, now_ms());
        curr + (u64::from(prev) * (1000 - into.min(1000)) / 1000) as u32
    }

    /// The highest rate seen.
    pub fn max(&self) -> u32 {
        self.max.load(Relaxed)
    }

    /// How long to wait before one more event fits under the limit (None: now).
    pub fn wait(&self) -> Option<Duration> {
        let limit = self.limit();
        if limit == 0 {
            return None;
        }
        let mut c = self.ctr.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        let (into, curr, prev) = Self::roll(&mut c, now);
        if curr >= limit {
            // Not before the next second starts.
            return Some(Duration::from_millis((1000 - into).max(1)));
        }
        // The smallest t ≥ into with curr + prev·(1000 − t)/1000 < limit.
        let room = u64::from(limit - curr);
        let prev = u64::from(prev);
        if prev * (1000 - into) < room * 1000 {
            return None;
        }
        let t = 1000 - (room * 1000).saturating_sub(1) / prev.max(1);
        Some(Duration::from_millis(t.saturating_sub(into).max(1)))
    }

    /// Counts one event.
    pub fn hit(&self) {
        let mut c = self.ctr.lock().unwrap_or_else(|e| e.into_inner());
        Self::roll(&mut c, now_ms());
        c.1 = c.1.saturating_add(1);
        self.max.fetch_max(Self::rate_of(&mut c), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_a_second() {
        let r = AcceptRate::new(Some(3));
        for _ in 0..3 {
            assert!(r.wait().is_none());
            r.hit();
        }
        let w = r.wait().expect("limited");
        assert!(w <= Duration::from_millis(1000));
        assert_eq!(r.rate(), 3);
        let free = AcceptRate::new(None);
        free.hit();
        assert!(free.wait().is_none());
    }
}
