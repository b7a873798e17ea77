//! What the runtime API changes in the running process: the limits `set maxconn
//! global|frontend` resize, the listeners `disable|enable|shutdown frontend` act on; and the
//! figures of `show info`/`show activity` kept by the accept loops and a sampler.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::compile::Runtime;

/// A connection limit that can change while connections hold its slots: lowering it takes
/// the free slots back at once and the others as their connections end.
pub struct Limit {
    sem: Arc<Semaphore>,
    /// The limit as set (0 allowed: it admits one connection, as a limit of 1).
    max: AtomicU32,
    /// Slots still to take back after the limit was lowered below the slots in use.
    owed: AtomicU32,
    /// Serializes changes of the limit.
    change: Mutex<()>,
}

/// One slot of a [`Limit`], given back when the connection ends (or kept, when the limit
/// was lowered meanwhile).
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    limit: Arc<Limit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let owed = self
            .limit
            .owed
            .fetch_update(Relaxed, Relaxed, |o| o.checked_sub(1));
        if let (Ok(_), Some(p)) = (owed, self.permit.take()) {
            p.forget();
        }
    }
}

impl Limit {
    pub fn new(max: u32) -> Arc<Limit> {
        Arc::new(Limit {
            sem: Arc::new(Semaphore::new(max.max(1) as usize)),
            max: AtomicU32::new(max),
            owed: AtomicU32::new(0),
            change: Mutex::new(()),
        })
    }

    /// The limit in force.
    pub fn get(&self) -> u32 {
        self.max.load(Relaxed)
    }

    /// Waits for a free slot (None: the limit is gone, which does not happen).
    pub async fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.sem.clone().acquire_owned().await.ok()?;
        Some(Slot {
            permit: Some(permit),
            limit: self.clone(),
        })
    }

    /// Changes the limit; connections waiting for a slot get the new ones at once.
    pub fn set(&self, max: u32) {
        let _g = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.max.swap(max, Relaxed).max(1);
        let new = max.max(1);
        if new > old {
            let mut more = new - old;
            // Slots still owed are cancelled first.
            let _ = self.owed.fetch_update(Relaxed, Relaxed, |o| {
                let paid = o.min(more);
                more -= paid;
                Some(o - paid)
            });
            self.sem.add_permits(more as usize);
        } else if new < old {
            let less = old - new;
            let taken = self.sem.forget_permits(less as usize) as u32;
            self.owed.fetch_add(less - taken, Relaxed);
        }
    }
}

/// A frontend's state as the runtime API sees it (`Frontend::state` holds it).
pub const FE_READY: u8 = 0;
/// `disable frontend`: listeners do not accept (TCP ones refuse connections).
pub const FE_PAUSED: u8 = 1;
/// `shutdown frontend`: listeners closed for good.
pub const FE_STOPPED: u8 = 2;

/// The runtime side of one frontend.
pub struct FrontendCtl {
    /// `maxconn` of the frontend (`set maxconn frontend`).
    pub limit: Arc<Limit>,
    /// Wakes its accept loops when its state changes.
    pub changed: Notify,
    /// Listening TCP sockets of its accept loops, by loop: HAProxy's pause on Linux
    /// (`shutdown(SHUT_RD)`: connections are refused, the port stays taken) is applied to
    /// them here, so that the answer of `disable frontend` comes once connections are
    /// refused. Each loop makes its socket listen again when it resumes (the reactor must
    /// forget the socket first: it would keep seeing it closed).
    fds: Mutex<Vec<(usize, RawFd)>>,
    /// Incremented by each pause: a loop that sees it change listens again on resume.
    pauses: AtomicU64,
    /// Listeners of the frontend (for `show info`'s `Listeners`).
    pub listeners: u32,
}

impl FrontendCtl {
    /// Registers the TCP socket accept loop `id` listens on (replacing an earlier one);
    /// a socket registered while the frontend is not ready is paused at once (true).
    pub fn register(&self, id: usize, fd: RawFd, state: &AtomicU8) -> bool {
        let mut fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        fds.retain(|(i, _)| *i != id);
        fds.push((id, fd));
        if state.load(Relaxed) != FE_READY {
            // SAFETY: the loop owns this open socket and unregisters it before closing it.
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
            return true;
        }
        false
    }

    /// Forgets the socket of accept loop `id`, before the loop closes it.
    pub fn unregister(&self, id: usize) {
        let mut fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        fds.retain(|(i, _)| *i != id);
    }

    /// How many times the frontend was paused.
    pub fn pauses(&self) -> u64 {
        self.pauses.load(Relaxed)
    }

    /// A resumed loop's socket listens again, unless the frontend was paused meanwhile
    /// (false: still paused, or `listen` failed).
    pub fn relisten(&self, fd: RawFd, backlog: i32, state: &AtomicU8) -> bool {
        let _fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the calling loop owns this open socket.
        state.load(Relaxed) == FE_READY && unsafe { libc::listen(fd, backlog) } == 0
    }

    /// Moves the frontend to `to` (one of the `FE_*` states): pausing or stopping shuts
    /// its TCP sockets down for reading at once; its loops follow.
    pub fn switch(&self, state: &AtomicU8, to: u8) {
        let fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        if to != FE_READY {
            for (_, fd) in fds.iter() {
                // SAFETY: registered sockets are open until their loop unregisters them,
                // which needs this lock.
                unsafe { libc::shutdown(*fd, libc::SHUT_RD) };
            }
            self.pauses.fetch_add(1, Relaxed);
        }
        state.store(to, Relaxed);
        drop(fds);
        self.changed.notify_waiters();
    }
}

/// Everything the runtime API controls or reads, set once the listeners are bound.
pub struct Controls {
    /// The process-wide `maxconn` (`set maxconn global`), within `hard_maxconn`.
    pub global: Arc<Limit>,
    pub hard_maxconn: u32,
    /// By proxy index: the frontends' controls.
    pub frontends: Vec<Option<Arc<FrontendCtl>>>,
    /// Listening sockets open (frontends and stats sockets).
    pub listeners: AtomicU32,
    /// `-m` (MB), 0 when unset.
    pub memmax_mb: u64,
    /// Connections accepted by each worker thread (`show activity`'s `accepted`).
    pub accepted: Box<[AtomicU64]>,
    /// TLS connections accepted: open and since the start (`CurrSslConns`, `CumSslConns`).
    pub ssl_cur: AtomicU64,
    pub ssl_cum: AtomicU64,
    /// Sampled every second: the share of time the worker threads were idle, the bytes
    /// sent over the last second.
    pub idle_pct: AtomicU32,
    pub bytes_out_rate: AtomicU64,
}

static CONTROLS: OnceLock<Arc<Controls>> = OnceLock::new();

/// The process's controls (None before the listeners are set up).
pub fn get() -> Option<&'static Arc<Controls>> {
    CONTROLS.get()
}

pub(super) fn install(c: Arc<Controls>) -> Arc<Controls> {
    let _ = CONTROLS.set(c.clone());
    c
}

impl Controls {
    pub fn frontend(&self, px: usize) -> Option<&Arc<FrontendCtl>> {
        self.frontends.get(px).and_then(Option::as_ref)
    }

    /// One more connection accepted on this thread.
    pub fn note_accept(&self) {
        let i = thread_index().filter(|&i| i < self.accepted.len());
        if let Some(c) = self.accepted.get(i.unwrap_or(0)) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// `clear counters`: HAProxy resets its activity counters with the maxima.
    pub fn clear_activity(&self) {
        for c in self.accepted.iter() {
            c.store(0, Relaxed);
        }
    }

    pub(super) fn new_frontend(maxconn: u32, listeners: u32) -> Arc<FrontendCtl> {
        Arc::new(FrontendCtl {
            limit: Limit::new(maxconn),
            changed: Notify::new(),
            fds: Mutex::new(Vec::new()),
            pauses: AtomicU64::new(0),
            listeners,
        })
    }
}

/// The live `maxconn` of frontend `px` (for the stats renderings; None: not a frontend or
/// the process is not serving).
pub fn frontend_maxconn(px: usize) -> Option<u32> {
    get().and_then(|c| c.frontend(px)).map(|f| f.limit.get())
}

thread_local! {
    static THREAD_INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Numbers the runtime's threads as they start (its workers start first).
pub(super) fn on_thread_start() {
    let i = NEXT_THREAD.fetch_add(1, Relaxed);
    THREAD_INDEX.with(|t| t.set(Some(i)));
}

/// This thread's number (0 for the first worker), None outside the runtime's threads.
pub fn thread_index() -> Option<usize> {
    THREAD_INDEX.with(|t| t.get())
}

/// Once a second: the workers' idle share (from the runtime's busy time) and the bytes sent
/// to clients and servers over the last second.
pub(super) async fn sample_loop(rt: Arc<Runtime>, c: Arc<Controls>) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let busy = |m: &tokio::runtime::RuntimeMetrics| -> Duration {
        (0..m.num_workers())
            .map(|w| m.worker_total_busy_duration(w))
            .sum()
    };
    let mut last_busy = busy(&metrics);
    let mut last_out = total_bytes_out(&rt);
    let mut last = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(last).as_secs_f64() * metrics.num_workers().max(1) as f64;
        let b = busy(&metrics);
        let used = b.saturating_sub(last_busy).as_secs_f64();
        if elapsed > 0.0 {
            let idle = (100.0 - used * 100.0 / elapsed).clamp(0.0, 100.0);
            c.idle_pct.store(idle.round() as u32, Relaxed);
        }
        let out = total_bytes_out(&rt);
        let secs = now.duration_since(last).as_secs_f64().max(0.001);
        c.bytes_out_rate
            .store((out.saturating_sub(last_out) as f64 / secs) as u64, Relaxed);
        (last_busy, last_out, last) = (b, out, now);
    }
}

/// Bytes sent by the process: to clients (frontends' `bout`) and to servers (backends'
/// `bin`).
pub fn total_bytes_out(rt: &Runtime) -> u64 {
    rt.proxies
        .iter()
        .map(|p| {
            p.frontend
                .as_ref()
                .map_or(0, |f| f.counters.bytes_out.load(Relaxed))
                + p.backend
                    .as_ref()
                    .map_or(0, |b| b.counters.bytes_in.load(Relaxed))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_resizes() {
        let l = Limit::new(2);
        let a = l.acquire().await.unwrap();
        let b = l.acquire().await.unwrap();
        assert_eq!(l.sem.available_permits(), 0);
        // Lowered below the slots in use: one slot is owed and kept when `a` ends.
        l.set(1);
        drop(a);
        assert_eq!(l.sem.available_permits(), 0);
        drop(b);
        assert_eq!(l.sem.available_permits(), 1);
        // Raised: at once.
        l.set(3);
        assert_eq!(l.sem.available_permits(), 3);
        let _c = l.acquire().await.unwrap();
        l.set(1);
        assert_eq!(l.sem.available_permits(), 0);
        assert_eq!(l.owed.load(Relaxed), 0);
        // 0 admits one, as 1.
        l.set(0);
        assert_eq!(l.get(), 0);
        l.set(5);
        assert_eq!(l.sem.available_permits(), 4);
    }
}
