//! Counters shared by the sessions, the runtime API and the stats page: one `Counters` per
//! frontend, backend, server and listener, updated with relaxed atomics, and their clearing
//! (`clear counters [all]`); the renderings live in `csv`, `typed`, `page`, `prometheus`.

pub mod csv;
pub mod errors;
pub mod page;
pub mod prometheus;
pub mod typed;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// `stats calculate-max-counters off` clears it: the maxima (`smax`, `qmax`, rate and
/// time maxima) are then not kept.
pub static CALC_MAX: AtomicBool = AtomicBool::new(true);

/// Raises the maximum `m` to `v` (unless `stats calculate-max-counters off`).
pub fn note_max(m: &AtomicU64, v: u64) {
    if CALC_MAX.load(Relaxed) {
        m.fetch_max(v, Relaxed);
    }
}

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
    /// Sessions per second.
    pub sess_rate: Rate,
    /// HTTP requests: total and per second (the per-second count is the frontend's).
    pub req_tot: AtomicU64,
    pub req_rate: Rate,
    /// HTTP responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub hrsp: [AtomicU64; 6],
    /// Requests answered by the proxy itself (stats page, `return`, redirects, monitor).
    pub intercepted: AtomicU64,
    /// Connect, response and total times: sliding sums over the last 1024 requests
    /// served (HAProxy's `ctime`, `rtime`, `ttime`), and the longest.
    pub ctime_sum: AtomicU64,
    pub rtime_sum: AtomicU64,
    pub ttime_sum: AtomicU64,
    pub ctime_max: AtomicU64,
    pub rtime_max: AtomicU64,
    pub ttime_max: AtomicU64,
    /// When the last session was sent here (Unix seconds, 0: never).
    pub last_sess: AtomicU64,
}

/// Events per second: the second they were counted in, its count, the previous second's,
/// and the highest count seen.
#[derive(Debug, Default)]
pub struct Rate {
    sec: AtomicU64,
    cur: AtomicU64,
    prev: AtomicU64,
    pub max: AtomicU64,
}

impl Rate {
    /// One more event in second `now_sec`.
    pub fn count(&self, now_sec: u64) {
        let sec = self.sec.load(Relaxed);
        if sec != now_sec
            && self
                .sec
                .compare_exchange(sec, now_sec, Relaxed, Relaxed)
                .is_ok()
        {
            let prev = self.cur.swap(0, Relaxed);
            self.prev
                .store(if now_sec == sec + 1 { prev } else { 0 }, Relaxed);
        }
        let r = self.cur.fetch_add(1, Relaxed) + 1;
        note_max(&self.max, r);
    }

    /// `clear counters all`: no event counted yet.
    pub fn clear(&self) {
        for v in [&self.sec, &self.cur, &self.prev, &self.max] {
            v.store(0, Relaxed);
        }
    }

    /// Events over the last second.
    pub fn get(&self, now_sec: u64) -> u64 {
        let sec = self.sec.load(Relaxed);
        if sec == now_sec {
            self.cur.load(Relaxed).max(self.prev.load(Relaxed))
        } else if sec + 1 == now_sec {
            self.cur.load(Relaxed)
        } else {
            0
        }
    }
}

/// One more sample `v` in a sliding sum over `TIME_WINDOW` values (HAProxy's swrate),
/// without a lock.
fn swrate_add(sum: &AtomicU64, v: u64) {
    let _ = sum.fetch_update(Relaxed, Relaxed, |s| Some(s - s.div_ceil(TIME_WINDOW) + v));
}

/// Requests HAProxy averages `qtime`, `ctime`, `rtime`, `ttime` over.
const TIME_WINDOW: u64 = 1024;

/// The byte counters one stream adds to (frontend, listener, backend, server), and what it added
/// so far: the stream adds at its end, and with `option contstats` also every
/// [`LiveBytes::PERIOD`] while it runs, so long transfers show in the stats as they go.
#[derive(Debug)]
pub struct LiveBytes<'a> {
    to: [Option<&'a Counters>; 4],
    added: (u64, u64),
}

impl<'a> LiveBytes<'a> {
    /// How often `option contstats` updates the counters of a running stream (HAProxy's
    /// "typically every 5 seconds").
    pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

    /// `to`: the frontend's, its listener's, the backend's, the server's counters.
    pub fn new(to: [Option<&'a Counters>; 4]) -> LiveBytes<'a> {
        LiveBytes { to, added: (0, 0) }
    }

    /// Brings the counters to `bytes_in`/`bytes_out` in all (only what was not added yet).
    pub fn reach(&mut self, bytes_in: u64, bytes_out: u64) {
        let di = bytes_in.saturating_sub(self.added.0);
        let d_o = bytes_out.saturating_sub(self.added.1);
        if di == 0 && d_o == 0 {
            return;
        }
        for c in self.to.iter().flatten() {
            c.bytes_in.fetch_add(di, Relaxed);
            c.bytes_out.fetch_add(d_o, Relaxed);
        }
        self.added = (self.added.0.max(bytes_in), self.added.1.max(bytes_out));
    }
}

impl Counters {
    /// One more request waited `ms` in a queue (0: it got a slot at once).
    pub fn note_queue_time(&self, ms: u64) {
        swrate_add(&self.qtime_sum, ms);
        note_max(&self.qtime_max, ms);
    }

    /// The average queue time of the last 1024 requests (`qtime`).
    pub fn qtime(&self) -> u64 {
        self.qtime_sum.load(Relaxed).div_ceil(TIME_WINDOW)
    }

    /// A request served by a server: its connect, response and total times (ms).
    pub fn note_times(&self, connect: u64, response: Option<u64>, total: u64) {
        swrate_add(&self.ctime_sum, connect);
        note_max(&self.ctime_max, connect);
        if let Some(r) = response {
            swrate_add(&self.rtime_sum, r);
            note_max(&self.rtime_max, r);
        }
        swrate_add(&self.ttime_sum, total);
        note_max(&self.ttime_max, total);
    }

    /// Averages over the last 1024 requests: (`ctime`, `rtime`, `ttime`).
    pub fn times(&self) -> (u64, u64, u64) {
        let avg = |s: &AtomicU64| s.load(Relaxed).div_ceil(TIME_WINDOW);
        (
            avg(&self.ctime_sum),
            avg(&self.rtime_sum),
            avg(&self.ttime_sum),
        )
    }

    /// An HTTP response with `status` went out (`hrsp_*`).
    pub fn note_status(&self, status: u16) {
        let class = match status {
            100..=599 => (status / 100 - 1) as usize,
            _ => 5,
        };
        self.hrsp[class].fetch_add(1, Relaxed);
    }

    /// A session starts.
    pub fn session_start(&self, now_sec: u64) {
        let cur = self.scur.fetch_add(1, Relaxed) + 1;
        note_max(&self.smax, cur);
        self.stot.fetch_add(1, Relaxed);
        self.last_sess.store(now_sec, Relaxed);
        self.count_rate(now_sec);
    }

    /// A session ends.
    pub fn session_end(&self) {
        let _ = self
            .scur
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
    }

    fn count_rate(&self, now_sec: u64) {
        self.sess_rate.count(now_sec);
    }

    /// Sessions over the last second.
    pub fn rate(&self, now_sec: u64) -> u64 {
        self.sess_rate.get(now_sec)
    }

    /// The highest session rate seen.
    pub fn rate_max(&self) -> u64 {
        self.sess_rate.max.load(Relaxed)
    }

    pub fn note_queue(&self, len: u64) {
        note_max(&self.qmax, len);
    }

    /// `clear counters`: the maxima, set to 0 as HAProxy does (even while sessions are
    /// open: the next session sets `smax` again).
    pub fn clear_max(&self) {
        for m in [
            &self.smax,
            &self.qmax,
            &self.qtime_max,
            &self.ctime_max,
            &self.rtime_max,
            &self.ttime_max,
        ] {
            m.store(0, Relaxed);
        }
        self.sess_rate.max.store(0, Relaxed);
        self.req_rate.max.store(0, Relaxed);
    }

    /// `clear counters all`: every counter back to 0, as HAProxy's memset of its counters
    /// (the current session count `scur` is a state, not a counter: it stays).
    pub fn clear_all(&self) {
        let Counters {
            scur: _,
            smax,
            stot,
            bytes_in,
            bytes_out,
            denied_req,
            denied_resp,
            err_req,
            err_conn,
            err_resp,
            retries,
            redispatches,
            lbtot,
            cli_abort,
            srv_abort,
            qmax,
            qtime_sum,
            qtime_max,
            sess_rate,
            req_tot,
            req_rate,
            hrsp,
            intercepted,
            ctime_sum,
            rtime_sum,
            ttime_sum,
            ctime_max,
            rtime_max,
            ttime_max,
            last_sess,
        } = self;
        for v in [
            smax,
            stot,
            bytes_in,
            bytes_out,
            denied_req,
            denied_resp,
            err_req,
            err_conn,
            err_resp,
            retries,
            redispatches,
            lbtot,
            cli_abort,
            srv_abort,
            qmax,
            qtime_sum,
            qtime_max,
            req_tot,
            intercepted,
            ctime_sum,
            rtime_sum,
            ttime_sum,
            ctime_max,
            rtime_max,
            ttime_max,
            last_sess,
        ]
        .into_iter()
        .chain(hrsp.iter())
        {
            v.store(0, Relaxed);
        }
        sess_rate.clear();
        req_rate.clear();
    }
}

/// Seconds since the Unix epoch.
pub fn now_sec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
