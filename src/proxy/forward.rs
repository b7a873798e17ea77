//! Moving bytes both ways between a client and a server with HAProxy's timeouts: each side
//! has an inactivity timeout (`timeout client` / `timeout server`, or `timeout tunnel` for
//! both), a half-close is passed on (FIN → shutdown of the other side's write), and after a
//! side has closed its timeout becomes `timeout client-fin` / `server-fin`.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::proxy::conn::{Conn, Readable, give_buf, take_buf, take_bulk_buf};
use crate::stats::LiveBytes;

/// A pooled buffer, given back to the pool however the pump ends.
struct BufGuard(Vec<u8>);

impl Drop for BufGuard {
    fn drop(&mut self) {
        give_buf(std::mem::take(&mut self.0));
    }
}
use tokio::sync::Notify;
use tokio::time::Instant;

/// Timeouts of one forwarding, in ms (`None` = no limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeouts {
    pub client: Option<u64>,
    pub server: Option<u64>,
    pub client_fin: Option<u64>,
    pub server_fin: Option<u64>,
}

/// How the forwarding ended, and the byte counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Bytes read from the client (sent to the server).
    pub bytes_in: u64,
    /// Bytes read from the server (sent to the client).
    pub bytes_out: u64,
    pub client_timeout: bool,
    pub server_timeout: bool,
    pub client_error: bool,
    pub server_error: bool,
}

/// One side's activity. Atomics only because the future must be `Send`; both directions
/// run in the same task, so there is no contention.
struct Side {
    base: Instant,
    /// Last activity, in µs after `base`.
    last_us: AtomicU64,
    closed: AtomicBool,
}

impl Side {
    fn new(base: Instant) -> Side {
        Side {
            base,
            last_us: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }
    fn touch(&self) {
        self.last_us
            .store(self.base.elapsed().as_micros() as u64, Relaxed);
    }
    fn last(&self) -> Instant {
        self.base + Duration::from_micros(self.last_us.load(Relaxed))
    }
}

fn deadline(side: &Side, normal: Option<u64>, fin: Option<u64>) -> Option<Instant> {
    let t = if side.closed.load(Relaxed) {
        fin.or(normal)
    } else {
        normal
    };
    t.map(|ms| side.last() + Duration::from_millis(ms))
}

/// Forwards until both directions are closed, or a timeout or error ends it. With `live`
/// (`option contstats`), the byte counters are brought up to date every
/// [`LiveBytes::PERIOD`] while it runs; the caller adds the rest at the end.
pub async fn forward<C, S>(
    client: &mut C,
    server: &mut S,
    initial_to_server: &[u8],
    t: Timeouts,
    live: Option<&mut LiveBytes<'_>>,
) -> Outcome
where
    C: Conn,
    S: Conn,
{
    let (mut cr, mut cw) = client.halves();
    let (mut sr, mut sw) = server.halves();
    let now = Instant::now();
    let cside = Side::new(now);
    let sside = Side::new(now);
    let mut out = Outcome::default();
    let failed = AtomicBool::new(false);
    let stop = Notify::new();
    let c2s_bytes = AtomicU64::new(0);
    let s2c_bytes = AtomicU64::new(0);
    let flags = AtomicU8::new(0);

    let mark = |which: u8| {
        flags.fetch_or(1 << which, Relaxed);
        failed.store(true, Relaxed);
        stop.notify_waiters();
    };

    // One direction: read from `r` (side `from`), write to `w` (side `to`).
    #[allow(clippy::too_many_arguments)]
    async fn pump<R, W>(
        r: &mut R,
        w: &mut W,
        from: &Side,
        to: &Side,
        from_t: (Option<u64>, Option<u64>),
        to_t: (Option<u64>, Option<u64>),
        bytes: &AtomicU64,
        failed: &AtomicBool,
        stop: &Notify,
    ) -> Result<(), (bool, bool)>
    where
        R: Readable,
        W: AsyncWrite + Unpin,
    {
        // One timer per direction, armed at the earliest deadline of both sides and moved
        // only when it fires early (activity pushed the deadline): no timer churn per read.
        let earliest = || -> Option<Instant> {
            match (
                deadline(from, from_t.0, from_t.1),
                deadline(to, to_t.0, to_t.1),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let timer = tokio::time::sleep_until(earliest().unwrap_or(far));
        tokio::pin!(timer);
        // Set while reads fill whole buffers: bulk data moves in larger buffers.
        let mut bulk = false;
        loop {
            if failed.load(Relaxed) {
                return Ok(());
            }
            // Wait for data without holding a buffer: an idle connection costs no buffer.
            let ready = tokio::select! {
                res = r.wait_readable() => res,
                _ = &mut timer => {
                    let now = Instant::now();
                    let from_exp = deadline(from, from_t.0, from_t.1).map(|d| d <= now).unwrap_or(false);
                    let to_exp = deadline(to, to_t.0, to_t.1).map(|d| d <= now).unwrap_or(false);
                    if from_exp || to_exp {
                        return Err((from_exp, to_exp));
                    }
                    timer.as_mut().reset(earliest().unwrap_or(far));
                    continue;
                }
                _ = stop.notified() => return Ok(()),
            };
            if ready.is_err() {
                return Err((false, false));
            }
            let mut buf = BufGuard(if bulk { take_bulk_buf() } else { take_buf() });
            let n = match r.try_read_into(&mut buf.0) {
                // Readiness without data (a new socket starts "ready"): give the buffer
                // back and wait again.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => other,
            };
            match n {
                Ok(0) => {
                    from.closed.store(true, Relaxed);
                    // Pass the half-close on, unless the other side already closed its
                    // half too: both sockets are about to be closed anyway.
                    if !to.closed.load(Relaxed) {
                        let _ = w.shutdown().await;
                    }
                    return Ok(());
                }
                Ok(n) => {
                    bulk = n == buf.0.capacity();
                    from.touch();
                    // Write it all; a cancelled write is never retried from the start.
                    let mut off = 0;
                    while off < n {
                        tokio::select! {
                            res = w.write(&buf.0[off..n]) => match res {
                                Ok(0) | Err(_) => return Err((false, false)),
                                Ok(k) => off += k,
                            },
                            _ = &mut timer => {
                                // The peer does not read: give up once its deadline passed.
                                if earliest().map(|d| d <= Instant::now()).unwrap_or(false) {
                                    return Err((false, true));
                                }
                                timer.as_mut().reset(earliest().unwrap_or(far));
                            }
                        }
                    }
                    to.touch();
                    bytes.fetch_add(n as u64, Relaxed);
                }
                Err(_) => return Err((false, false)),
            }
        }
    }

    if !initial_to_server.is_empty() && sw.write_all(initial_to_server).await.is_err() {
        out.server_error = true;
        return out;
    }

    let c2s = async {
        let r = pump(
            &mut cr,
            &mut sw,
            &cside,
            &sside,
            (t.client, t.client_fin),
            (t.server, t.server_fin),
            &c2s_bytes,
            &failed,
            &stop,
        )
        .await;
        match r {
            Ok(()) => {}
            Err((true, _)) => mark(0),
            Err((_, true)) => mark(1),
            Err(_) => mark(2),
        }
    };
    let s2c = async {
        let r = pump(
            &mut sr,
            &mut cw,
            &sside,
            &cside,
            (t.server, t.server_fin),
            (t.client, t.client_fin),
            &s2c_bytes,
            &failed,
            &stop,
        )
        .await;
        match r {
            Ok(()) => {}
            Err((true, _)) => mark(1),
            Err((_, true)) => mark(0),
            Err(_) => mark(3),
        }
    };
    let ticker = async {
        let Some(live) = live else {
            return std::future::pending::<()>().await;
        };
        let mut every = tokio::time::interval_at(now + LiveBytes::PERIOD, LiveBytes::PERIOD);
        loop {
            every.tick().await;
            live.reach(c2s_bytes.load(Relaxed), s2c_bytes.load(Relaxed));
        }
    };
    tokio::select! {
        _ = async { tokio::join!(c2s, s2c) } => {}
        _ = ticker => {}
    }
    let f = flags.load(Relaxed);
    out.client_timeout = f & 1 != 0;
    out.server_timeout = f & 2 != 0;
    out.client_error = f & 4 != 0;
    out.server_error = f & 8 != 0;
    out.bytes_in = c2s_bytes.load(Relaxed);
    out.bytes_out = s2c_bytes.load(Relaxed);
    out
}
