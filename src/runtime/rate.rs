//! Accept-rate limits: `maxconnrate` and `maxsessrate` (process-wide) and `rate-limit
//! sessions` (per frontend). A listener stops accepting while the rate over the last second
//! (HAProxy's freq counter: this second's events plus the share of the previous second still
//! in the window) has reached the limit, and resumes as soon as it falls below.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::stick::now_ms;

/// Events per second with a limit (0: none), counted without a lock: one word holds the
/// current second (24 bits, compared for equality only), its events and the previous
/// second's (20 bits each, saturating at about a million per second).
#[derive(Default)]
pub struct AcceptRate {
    limit: AtomicU32,
    /// The highest rate seen (`MaxConnRate`…).
    max: AtomicU32,
    state: AtomicU64,
}

const SEC_MASK: u64 = (1 << 24) - 1;
const CNT_MASK: u64 = (1 << 20) - 1;

/// The counts of `state` seen from second `now_sec`: (current, previous).
fn counts(state: u64, now_sec: u64) -> (u64, u64) {
    let (sec, curr, prev) = (state >> 40, (state >> 20) & CNT_MASK, state & CNT_MASK);
    match (now_sec & SEC_MASK).wrapping_sub(sec) & SEC_MASK {
        0 => (curr, prev),
        1 => (0, curr),
        _ => (0, 0),
    }
}

impl AcceptRate {
    pub fn new(limit: Option<u32>) -> AcceptRate {
        AcceptRate {
            limit: AtomicU32::new(limit.unwrap_or(0)),
            max: AtomicU32::new(0),
            state: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Relaxed)
    }

    /// `set rate-limit … global N` (0 lifts the limit).
    pub fn set_limit(&self, v: u32) {
        self.limit.store(v, Relaxed);
    }

    /// (ms into the current second, its events, the previous second's).
    fn now(&self) -> (u64, u64, u64) {
        let now = now_ms();
        let (curr, prev) = counts(self.state.load(Relaxed), now / 1000);
        (now % 1000, curr, prev)
    }

    /// The events of the last second, the previous second weighted by its part still in it.
    pub fn rate(&self) -> u32 {
        let (into, curr, prev) = self.now();
        (curr + prev * (1000 - into) / 1000) as u32
    }

    /// The highest rate seen.
    pub fn max(&self) -> u32 {
        self.max.load(Relaxed)
    }

    /// `clear counters`: the highest rate is forgotten.
    pub fn clear_max(&self) {
        self.max.store(0, Relaxed);
    }

    /// How long to wait before one more event fits under the limit (None: now).
    pub fn wait(&self) -> Option<Duration> {
        let limit = u64::from(self.limit());
        if limit == 0 {
            return None;
        }
        let (into, curr, prev) = self.now();
        if curr >= limit {
            // Not before the next second starts.
            return Some(Duration::from_millis((1000 - into).max(1)));
        }
        // The smallest t ≥ into with curr + prev·(1000 − t)/1000 < limit.
        let room = limit - curr;
        if prev * (1000 - into) < room * 1000 {
            return None;
        }
        let t = 1000 - (room * 1000).saturating_sub(1) / prev.max(1);
        Some(Duration::from_millis(t.saturating_sub(into).max(1)))
    }

    /// Counts one event.
    pub fn hit(&self) {
        let now_sec = now_ms() / 1000;
        let _ = self.state.fetch_update(Relaxed, Relaxed, |v| {
            let (curr, prev) = counts(v, now_sec);
            Some(((now_sec & SEC_MASK) << 40) | ((curr + 1).min(CNT_MASK) << 20) | prev)
        });
        if crate::stats::CALC_MAX.load(Relaxed) {
            self.max.fetch_max(self.rate(), Relaxed);
        }
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
