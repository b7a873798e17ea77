//! Idle server connections (`http-reuse`, `pool-max-conn`, `pool-purge-delay`,
//! `pool-low-conn`, `max-reuse`): a server's HTTP connections left open after a response,
//! kept in one small list per thread (a thread takes from its own list first and steals from
//! the others only when the server has more than `pool-low-conn` idle), checked alive with
//! a peek before reuse, and closed by the purge task once unused for the purge delay.

use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Lists per server; threads map onto them by their index.
const SHARDS: usize = 16;

/// Idle connections of the whole process, and the most it keeps (a fifth of the sockets
/// `maxconn` allows, as HAProxy's `tune.pool-low-fd-ratio`).
static TOTAL: AtomicU64 = AtomicU64::new(0);
static TOTAL_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// `tune.pool-low-fd-ratio` (20% by default) of the sockets the process may use (two per
/// `maxconn` connection): above that many sockets in use, no connection is kept idle any
/// more; above `tune.pool-high-fd-ratio` (25%) the idle ones are closed too, as in
/// HAProxy (a crowd of idle clients then pins no server connection). Checked about once
/// a second by the purge task from the process's counts.
static LOW_FDS: AtomicU64 = AtomicU64::new(u64::MAX);
static HIGH_FDS: AtomicU64 = AtomicU64::new(u64::MAX);
static FDS_BUSY: AtomicBool = AtomicBool::new(false);

/// Sets the process-wide limits on idle server connections from the global `maxconn` and
/// the two ratios (percent).
pub fn set_process_limit(maxconn: u64, low_ratio: u32, high_ratio: u32) {
    TOTAL_LIMIT.store((maxconn * 2 / 5).max(1), Relaxed);
    let sockets = maxconn * 2;
    LOW_FDS.store(sockets * u64::from(low_ratio) / 100, Relaxed);
    HIGH_FDS.store(sockets * u64::from(high_ratio) / 100, Relaxed);
}

/// Records how many sockets the process uses (client connections, server connections
/// serving a request, idle ones); true when idle connections must be closed.
pub fn note_sockets_in_use(n: u64) -> bool {
    FDS_BUSY.store(n > LOW_FDS.load(Relaxed), Relaxed);
    n > HIGH_FDS.load(Relaxed)
}

/// Idle server connections of the whole process.
pub fn total_idle() -> u64 {
    TOTAL.load(Relaxed)
}

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Relaxed) as usize) % SHARDS
    };
}

fn my_shard() -> usize {
    SHARD.with(|s| *s)
}

/// A connection waiting in a pool.
pub struct IdleConn {
    pub stream: crate::proxy::connect::ServerStream,
    /// Requests it carried so far.
    pub uses: u32,
    /// Hash of its `pool-conn-name` (0 without one): only requests with the same name
    /// take it.
    pub name: u64,
    since: Instant,
}

/// Pool settings of one server.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// `pool-max-conn`: idle connections kept at most (-1: no own limit, 0: none).
    pub max_conn: i64,
    /// `pool-purge-delay`.
    pub purge_delay: Duration,
    /// `pool-low-conn`: below this many idle, a thread does not take other threads' ones.
    pub low_conn: u32,
    /// `max-reuse`: requests a connection may carry after its first (-1: unlimited).
    pub max_reuse: i64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_conn: -1,
            purge_delay: Duration::from_secs(5),
            low_conn: 0,
            max_reuse: -1,
        }
    }
}

pub struct IdlePool {
    pub settings: PoolSettings,
    shards: [Mutex<Vec<IdleConn>>; SHARDS],
    /// Connections idle now.
    pub count: AtomicU64,
    /// Connections made, and requests sent over an existing one (stats `connect`, `reuse`).
    pub connects: AtomicU64,
    pub reuses: AtomicU64,
    last_purge: Mutex<Instant>,
    /// HAProxy's estimate of the connections the server needs (`need_conn_est`): the
    /// most used at once, smoothed every purge period; and the most used in this period.
    est_need: AtomicU64,
    max_used: AtomicU64,
}

fn lock(m: &Mutex<Vec<IdleConn>>) -> std::sync::MutexGuard<'_, Vec<IdleConn>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether an idle connection can still carry a request: open, nothing unread.
pub fn alive(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: recv on a socket this process owns, into a one-byte stack buffer.
    let r = unsafe {
        libc::recv(
            s.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

impl IdlePool {
    pub fn new(settings: PoolSettings) -> IdlePool {
        IdlePool {
            settings,
            shards: std::array::from_fn(|_| Mutex::new(Vec::new())),
            count: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            reuses: AtomicU64::new(0),
            last_purge: Mutex::new(Instant::now()),
            est_need: AtomicU64::new(0),
            max_used: AtomicU64::new(0),
        }
    }

    /// The estimated need of connections (`need_conn_est`, at least 1 as HAProxy shows).
    pub fn need(&self) -> u64 {
        self.est_need.load(Relaxed).max(1)
    }

    /// One more connection in use, `used` now: the period's peak and the estimate follow.
    pub fn note_used(&self, used: u64) {
        self.max_used.fetch_max(used, Relaxed);
        self.est_need.fetch_max(used, Relaxed);
    }

    /// Idle connections not yet reused and already reused (stats `idle_conn_cur`,
    /// `safe_conn_cur`).
    pub fn counts(&self) -> (u64, u64) {
        let (mut fresh, mut safe) = (0, 0);
        for shard in &self.shards {
            for c in lock(shard).iter() {
                if c.uses > 1 {
                    safe += 1;
                } else {
                    fresh += 1;
                }
            }
        }
        (fresh, safe)
    }

    /// Whether connections may wait idle at all (`pool-max-conn 0` or `pool-purge-delay 0`
    /// keep none: a shared connection then closes after its response).
    pub fn enabled(&self) -> bool {
        self.settings.max_conn != 0 && !self.settings.purge_delay.is_zero()
    }

    /// Whether a connection that carried `uses` requests may carry another one.
    pub fn may_reuse(&self, uses: u32) -> bool {
        self.settings.max_reuse < 0 || (uses as i64) <= self.settings.max_reuse
    }

    /// Keeps a connection for later requests; false (and the connection closed) when the
    /// pool or the process is full.
    /// Keeps a connection for later requests; false (and the connection closed) when the
    /// pool or the process is full.
    pub fn park(&self, stream: crate::proxy::connect::ServerStream, uses: u32, name: u64) -> bool {
        let max = self.settings.max_conn;
        if !self.enabled()
            || (max > 0 && self.count.load(Relaxed) >= max as u64)
            || TOTAL.load(Relaxed) >= TOTAL_LIMIT.load(Relaxed)
            || FDS_BUSY.load(Relaxed)
            || !self.may_reuse(uses)
        {
            return false;
        }
        self.count.fetch_add(1, Relaxed);
        TOTAL.fetch_add(1, Relaxed);
        lock(&self.shards[my_shard()]).push(IdleConn {
            stream,
            uses,
            name,
            since: Instant::now(),
        });
        true
    }

    fn took(&self) {
        self.count.fetch_sub(1, Relaxed);
        TOTAL.fetch_sub(1, Relaxed);
    }

    /// A live idle connection (the most recently parked first), if any; `proven` asks for
    /// one that has already carried a request after its first (`http-reuse aggressive`);
    /// `name` is the request's `pool-conn-name` hash (0: none). `check` peeks at the
    /// connection first (one system call) to skip one the server closed meanwhile; a
    /// request that can be sent again elsewhere does without.
    pub fn take(&self, proven: bool, name: u64, check: bool) -> Option<IdleConn> {
        if self.count.load(Relaxed) == 0 {
            return None;
        }
        let me = my_shard();
        if let Some(c) = self.take_from(me, proven, name, check) {
            return Some(c);
        }
        if self.count.load(Relaxed) <= self.settings.low_conn as u64 {
            return None;
        }
        (1..SHARDS).find_map(|i| self.take_from((me + i) % SHARDS, proven, name, check))
    }

    fn take_from(&self, shard: usize, proven: bool, name: u64, check: bool) -> Option<IdleConn> {
        loop {
            let c = {
                let mut list = lock(&self.shards[shard]);
                let pos = list
                    .iter()
                    .rposition(|c| c.name == name && (!proven || c.uses > 1))?;
                list.swap_remove(pos)
            };
            self.took();
            if !check || c.stream.alive() {
                return Some(c);
            }
            // Closed by the server while idle: drop it and look again.
        }
    }

    /// Every `pool-purge-delay`, closes half of the connections idle for that long (and,
    /// at any time, those the server closed); all of them when `all` (the server went down
    /// or into maintenance). Called about once a second.
    pub fn purge(&self, all: bool, used: u64) {
        let delay = self.settings.purge_delay;
        let due = {
            let mut last = self.last_purge.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= delay {
                *last = Instant::now();
                true
            } else {
                false
            }
        };
        if due {
            // HAProxy's smoothing: half-way towards the period's peak, never below it.
            let peak = self.max_used.swap(used, Relaxed);
            let est = self.est_need.load(Relaxed);
            self.est_need.store(((est + peak) / 2).max(peak), Relaxed);
        }
        if self.count.load(Relaxed) == 0 {
            return;
        }
        for shard in &self.shards {
            let closed: Vec<IdleConn> = {
                let mut list = lock(shard);
                let mut closed = Vec::new();
                // Oldest first: the list is in parking order.
                let mut half = list
                    .iter()
                    .filter(|c| c.since.elapsed() >= delay)
                    .count()
                    .div_ceil(2);
                let mut i = 0;
                while i < list.len() {
                    let aged = list[i].since.elapsed() >= delay;
                    let drop_it = all || !list[i].stream.alive() || (due && aged && half > 0);
                    if drop_it {
                        if due && aged && half > 0 {
                            half -= 1;
                        }
                        closed.push(list.remove(i));
                    } else {
                        i += 1;
                    }
                }
                closed
            };
            for _ in &closed {
                self.took();
            }
        }
    }
}
