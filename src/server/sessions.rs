//! Kill handles of sessions: every client session gets an id and a handle that ends it, and
//! each server keeps the handles of the sessions holding one of its slots, so that
//! `shutdown sessions server`, `on-marked-down shutdown-sessions` and `on-marked-up
//! shutdown-backup-sessions` can end them (both connections closed at once); and the
//! process-wide list of sessions that `show sess` prints and `shutdown session` ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Why a session was ended from outside (HAProxy's termination codes: `K` killed by the
/// runtime API, `D` server down, `U` an active server came up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KillReason {
    Killed = 1,
    Down = 2,
    Up = 3,
}

/// Where a session comes from, for `show sess`.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub src: std::net::SocketAddr,
    pub dst: std::net::SocketAddr,
    /// The frontend (index in the runtime's proxies).
    pub frontend: usize,
    /// Accepted on a UNIX socket.
    pub unix: bool,
}

/// One session's kill switch, and what `show sess` says of it.
pub struct SessionHandle {
    pub id: u64,
    /// 0 while alive, else a `KillReason`.
    killed: std::sync::atomic::AtomicU8,
    notify: Notify,
    pub origin: Option<Origin>,
    pub started: (std::time::Instant, std::time::SystemTime),
    /// The server the session holds a slot on (its latest).
    pub server: Mutex<Option<Arc<super::Server>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Every session of the process (`show sess`, `shutdown session`).
pub static ALL: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(Registry::default);

impl SessionHandle {
    pub fn new() -> Arc<SessionHandle> {
        Self::with_origin(None)
    }

    fn with_origin(origin: Option<Origin>) -> Arc<SessionHandle> {
        Arc::new(SessionHandle {
            id: NEXT_ID.fetch_add(1, Relaxed),
            killed: std::sync::atomic::AtomicU8::new(0),
            notify: Notify::new(),
            origin,
            started: (std::time::Instant::now(), std::time::SystemTime::now()),
            server: Mutex::new(None),
        })
    }

    /// Notes the server the session now holds a slot on.
    pub fn set_server(&self, srv: &Arc<super::Server>) {
        if let Ok(mut s) = self.server.lock() {
            *s = Some(srv.clone());
        }
    }

    /// Ends the session: its task stops at its next poll and drops both connections (in
    /// HTTP, a request waiting for its response gets a 502 instead, see `proxy::http`).
    pub fn kill(&self, why: KillReason) {
        if self
            .killed
            .compare_exchange(0, why as u8, Relaxed, Relaxed)
            .is_ok()
        {
            self.notify.notify_waiters();
        }
    }

    pub fn kill_reason(&self) -> Option<KillReason> {
        match self.killed.load(Relaxed) {
            1 => Some(KillReason::Killed),
            2 => Some(KillReason::Down),
            3 => Some(KillReason::Up),
            _ => None,
        }
    }

    /// Takes a kill back once the session has dealt with it (an HTTP session answering
    /// the request in progress and going on with the next one). Returns the reason.
    pub fn take_kill(&self) -> Option<KillReason> {
        let r = self.kill_reason();
        self.killed.store(0, Relaxed);
        r
    }

    /// Resolves once the session is killed (and the kill not taken back meanwhile).
    pub async fn killed(&self) {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            // Registered before the flag is read: a kill in between still wakes it.
            n.as_mut().enable();
            if self.killed.load(Relaxed) != 0 {
                return;
            }
            n.await;
        }
    }
}

tokio::task_local! {
    static CURRENT: Arc<SessionHandle>;
}

/// The handle of the session the calling task runs, if any.
pub fn current() -> Option<Arc<SessionHandle>> {
    CURRENT.try_with(|h| h.clone()).ok()
}

/// Keeps a session in `ALL` while it lives.
struct Listed(u64);

impl Drop for Listed {
    fn drop(&mut self) {
        ALL.remove(self.0);
    }
}

fn listed(origin: Origin) -> (Arc<SessionHandle>, Listed) {
    let h = SessionHandle::with_origin(Some(origin));
    ALL.add(&h);
    let l = Listed(h.id);
    (h, l)
}

/// Runs a TCP session's future under a new handle; a kill drops the future (and with it
/// the client and server connections) at once.
pub async fn run<F: Future<Output = ()>>(origin: Origin, f: F) {
    let (h, _listed) = listed(origin);
    let h2 = h.clone();
    CURRENT
        .scope(h, async move {
            tokio::select! {
                biased;
                _ = f => {}
                _ = h2.killed() => {}
            }
        })
        .await
}

/// Runs a session's future under a new handle that the session watches itself (HTTP:
/// what a kill does depends on where the request is).
pub async fn run_watched<F: Future<Output = ()>>(origin: Origin, f: F) {
    let (h, _listed) = listed(origin);
    CURRENT.scope(h, f).await
}

/// The session `id`, if alive.
pub fn find(id: u64) -> Option<Arc<SessionHandle>> {
    ALL.lock(id).get(&id).cloned()
}

/// Every live session, oldest first.
pub fn all() -> Vec<Arc<SessionHandle>> {
    let mut v: Vec<_> = (0..SHARDS)
        .flat_map(|i| ALL.lock(i as u64).values().cloned().collect::<Vec<_>>())
        .collect();
    v.sort_by_key(|h| h.id);
    v
}

/// Shards of a server's registry: a session registers in the shard of its id, so the
/// threads serving a busy server rarely wait on the same lock.
const SHARDS: usize = 16;

/// The sessions holding a slot on one server.
pub struct Registry {
    shards: [Mutex<HashMap<u64, Arc<SessionHandle>>>; SHARDS],
    /// Sessions registered (a fast path for `kill_all` on a server nobody uses).
    count: AtomicUsize,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            count: AtomicUsize::new(0),
        }
    }
}

impl Registry {
    fn lock(&self, id: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<SessionHandle>>> {
        self.shards[id as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a session; a session holding several slots on the server (which does not
    /// happen today) is registered once per id.
    pub fn add(&self, h: &Arc<SessionHandle>) {
        if self.lock(h.id).insert(h.id, h.clone()).is_none() {
            self.count.fetch_add(1, Relaxed);
        }
    }

    pub fn remove(&self, id: u64) {
        if self.lock(id).remove(&id).is_some() {
            self.count.fetch_sub(1, Relaxed);
        }
    }

    /// Kills every registered session; returns how many.
    pub fn kill_all(&self, why: KillReason) -> usize {
        if self.count.load(Relaxed) == 0 {
            return 0;
        }
        let mut n = 0;
        for i in 0..SHARDS {
            let m = self.lock(i as u64);
            for h in m.values() {
                h.kill(why);
            }
            n += m.len();
        }
        n
    }

    /// Ids of the registered sessions.
    pub fn ids(&self) -> Vec<u64> {
        (0..SHARDS)
            .flat_map(|i| self.lock(i as u64).keys().copied().collect::<Vec<_>>())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.count.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kill_ends_the_session_future() {
        let reg = Arc::new(Registry::default());
        let r2 = reg.clone();
        let origin = Origin {
            src: ([127, 0, 0, 1], 1).into(),
            dst: ([127, 0, 0, 1], 2).into(),
            frontend: 0,
            unix: false,
        };
        let task = tokio::spawn(run(origin, async move {
            let h = current().unwrap();
            r2.add(&h);
            std::future::pending::<()>().await;
        }));
        crate_wait(|| reg.len() == 1).await;
        assert_eq!(reg.kill_all(KillReason::Killed), 1);
        tokio::time::timeout(std::time::Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
    }

    async fn crate_wait(f: impl Fn() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("condition not reached");
    }
}
