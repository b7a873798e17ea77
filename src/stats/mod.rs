//! Counters shared by the sessions, the runtime API and (later) the stats page: one
//! `Counters` per frontend, backend, server and listener, updated with relaxed atomics;
//! and the CSV rendering of `show stat` with HAProxy's exact columns (`csv`).

pub mod csv;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Traffic counters of one proxy, server or listener.
#[derive(Debug, Default)]
pub struct Counters {
    /// Current sessions.
    pub scur: AtomicU64,
    /// Highest `scur` seen.
    pub smax: AtomicU64,
    /// Total sessions.
    pub stot: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Requests / connections denied.
    pub denied_req: AtomicU64,
    pub denied_resp: AtomicU64,
    /// Request errors (frontend), connection errors and response errors (backend/server).
    pub err_req: AtomicU64,
    pub err_conn: AtomicU64,
    pub err_resp: AtomicU64,
    /// Retries and redispatches (warnings).
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// Times this server was selected by the balancer.
    pub lbtot: AtomicU64,
    /// Connections aborted by the client / by the server.
    pub cli_abort: AtomicU64,
    pub srv_abort: AtomicU64,
    /// Highest queue length seen.
    pub qmax: AtomicU64,
    /// Time spent in the queue: HAProxy's sliding sum over the last 1024 requests (its
    /// average is `qtime`), and the longest.
    pub qtime_sum: AtomicU64,
    pub qtime_max: AtomicU64,
    /// Sessions per second: the second they were counted in, and the count.
    rate_sec: AtomicU64,
    rate_cur: AtomicU64,
    rate_prev: AtomicU64,
    pub rate_max: AtomicU64,
}

/// Requests HAProxy averages `qtime`, `ctime`, `rtime`, `ttime` over.
const TIME_WINDOW: u64 = 1024;

impl Counters {
    /// One more request waited `ms` in a queue (0: it got a slot at once).
    pub fn note_queue_time(&self, ms: u64) {
        // HAProxy's swrate: sum - sum/n + v, without a lock.
        let _ = self
            .qtime_sum
            .fetch_update(Relaxed, Relaxed, |s| Some(s - s.div_ceil(TIME_WINDOW) + ms));
        self.qtime_max.fetch_max(ms, Relaxed);
    }

    /// The average queue time of the last 1024 requests (`qtime`).
    pub fn qtime(&self) -> u64 {
        self.qtime_sum.load(Relaxed).div_ceil(TIME_WINDOW)
    }

    /// A session starts.
    pub fn session_start(&self, now_sec: u64) {
        let cur = self.scur.fetch_add(1, Relaxed) + 1;
        self.smax.fetch_max(cur, Relaxed);
        self.stot.fetch_add(1, Relaxed);
        self.count_rate(now_sec);
    }

    /// A session ends.
    pub fn session_end(&self) {
        let _ = self
            .scur
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
    }

    fn count_rate(&self, now_sec: u64) {
        let sec = self.rate_sec.load(Relaxed);
        if sec != now_sec
            && self
                .rate_sec
                .compare_exchange(sec, now_sec, Relaxed, Relaxed)
                .is_ok()
        {
            let prev = self.rate_cur.swap(0, Relaxed);
            self.rate_prev
                .store(if now_sec == sec + 1 { prev } else { 0 }, Relaxed);
        }
        let r = self.rate_cur.fetch_add(1, Relaxed) + 1;
        self.rate_max.fetch_max(r, Relaxed);
    }

    /// Sessions over the last second.
    pub fn rate(&self, now_sec: u64) -> u64 {
        let sec = self.rate_sec.load(Relaxed);
        if sec == now_sec {
            self.rate_cur
                .load(Relaxed)
                .max(self.rate_prev.load(Relaxed))
        } else if sec + 1 == now_sec {
            self.rate_cur.load(Relaxed)
        } else {
            0
        }
    }

    pub fn note_queue(&self, len: u64) {
        self.qmax.fetch_max(len, Relaxed);
    }

    /// `clear counters`: the maxima.
    pub fn clear_max(&self) {
        self.smax.store(self.scur.load(Relaxed), Relaxed);
        self.qmax.store(0, Relaxed);
        self.rate_max.store(0, Relaxed);
    }
}

/// Seconds since the Unix epoch.
pub fn now_sec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
