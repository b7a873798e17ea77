//! Server state and the backend's assignment of connections to servers: administrative
//! and operational state, weights, `maxconn`/`minconn`/`fullconn` (dynamic limit of the
//! Architecture Guide, section 7), per-server and per-backend queues served in arrival order,
//! and the state-change messages in HAProxy's words. Health checks live in `check`.

pub mod check;
pub mod idle;
pub mod list;
pub mod resolve;
pub mod sessions;
pub mod state_file;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use halo_config::addr::PortSpec;
use halo_config::model::{self, Balance, HashMethod, HashType, Mode, ProxyProtocol, Source};
use tokio::sync::oneshot;

use crate::lb::{self, Candidate, LbState, Pick};
use crate::stats::{Counters, now_sec};

/// Administrative state, set by the runtime API (and later the stats page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// Where a server is: a resolved address and how to derive the port.
#[derive(Debug, Clone)]
pub struct ServerAddr {
    pub ip: std::net::IpAddr,
    pub port: PortSpec,
}

impl ServerAddr {
    /// The address to connect to for a client that reached `dst_port`.
    pub fn target(&self, dst_port: u16) -> SocketAddr {
        let port = match self.port {
            PortSpec::Fixed(p) => p,
            PortSpec::None | PortSpec::Range(..) => dst_port,
            PortSpec::Plus(n) => dst_port.wrapping_add(n),
            PortSpec::Minus(n) => dst_port.wrapping_sub(n),
        };
        SocketAddr::new(self.ip, port)
    }
}

/// A server's address, changed at runtime by `set server B/S addr`: connections read it
/// without a lock (arc-swap).
pub struct AddrCell(arc_swap::ArcSwap<ServerAddr>);

impl AddrCell {
    pub fn new(a: ServerAddr) -> AddrCell {
        AddrCell(arc_swap::ArcSwap::from_pointee(a))
    }

    pub fn get(&self) -> ServerAddr {
        (**self.0.load()).clone()
    }

    /// The address to connect to for a client that reached `dst_port`.
    pub fn target(&self, dst_port: u16) -> SocketAddr {
        self.0.load().target(dst_port)
    }

    pub fn set(&self, a: ServerAddr) {
        self.0.store(Arc::new(a));
    }
}

/// Result of the last health check, as `show stat` reports it.
#[derive(Debug, Clone, Default)]
pub struct CheckResult {
    /// HAProxy's short status, e.g. `L4OK`, `L4CON`, `L4TOUT`.
    pub status: &'static str,
    pub code: Option<u32>,
    pub duration_ms: Option<u64>,
    /// The status's description (`check_desc`), e.g. "Layer7 wrong status".
    pub desc: String,
    /// What the check found (`last_chk`, the `info: "…"` of messages), may be empty.
    pub info: String,
    /// A check is running now (`show stat` prefixes the last status with "* ").
    pub in_progress: bool,
    /// The status when the last result was applied (`option log-health-checks` logs
    /// status changes).
    pub reported: &'static str,
}

pub struct Server {
    pub name: String,
    pub id: u32,
    /// Its slot in the backend's server list (stable: deleted servers leave a tombstone).
    pub index: usize,
    /// Added by `add server` (cannot be tracked, as in HAProxy).
    pub dynamic: bool,
    /// Removed by `del server`: no longer listed, found or chosen.
    pub deleted: AtomicBool,
    /// Named by another part of the configuration (`use-server`, …): cannot be deleted.
    pub referenced: AtomicBool,
    pub backend_name: Arc<str>,
    pub addr: AddrCell,
    pub backup: bool,
    pub cfg: model::Server,
    /// Weight as configured or set at runtime (0..=256).
    pub uweight: AtomicU32,
    pub maxconn: AtomicU32,
    pub minconn: u32,
    pub maxqueue: u32,
    pub admin: AtomicU8,
    /// Operational state from health checks (true when no check is configured).
    pub up: AtomicBool,
    /// Running but excluded from load balancing (`http-check disable-on-404`: NOLB).
    pub nolb: AtomicBool,
    /// `disable health`: checks configured but not run.
    pub check_off: AtomicBool,
    /// In maintenance because its name does not resolve (HAProxy's RMAINT), and without
    /// any address yet (`init-addr none`, or the DNS said so).
    pub rmaint: AtomicBool,
    pub addr_none: AtomicBool,
    /// The target an SRV record gave this server (`srv_fqdn` of `show servers state`).
    pub srv_target: Mutex<Option<String>>,
    /// `observe`: consecutive errors seen in traffic, and whether the next check comes
    /// after `fastinter`.
    pub observed_errors: AtomicU32,
    pub force_fastinter: AtomicBool,
    /// `set server … check-port` (u32::MAX: the configured one).
    pub check_port_rt: AtomicU32,
    /// Connections being served.
    pub cur: AtomicU32,
    pub counters: Counters,
    pub check: Mutex<CheckResult>,
    pub chkfail: AtomicU64,
    pub chkdown: AtomicU64,
    /// Second of the last state change, total seconds spent DOWN, and since when DOWN.
    pub last_change: AtomicU64,
    pub downtime: AtomicU64,
    pub down_since: AtomicU64,
    /// Health counter, 0..rise+fall-1 (HAProxy's model).
    pub health: AtomicU32,
    pub source: Option<Source>,
    pub send_proxy: Option<ProxyProtocol>,
    /// Next port to try in a `source` port range.
    pub next_source_port: AtomicU32,
    /// Idle HTTP connections waiting for a next request.
    pub idle: idle::IdlePool,
    /// `pool-conn-name`: names the connections of a request (idle ones are only reused by
    /// requests with the same name).
    pub pool_conn_name: Option<crate::sample::Expr>,
    /// `ssl`, `check-ssl` and the other TLS options (None: neither traffic nor checks
    /// use TLS).
    pub tls: Option<Arc<crate::tls::server::ServerTls>>,
    /// `sni EXPR`: the name sent in the TLS handshake, per stream.
    pub sni: Option<crate::sample::Expr>,
    /// The sessions holding one of its slots, with their kill handles.
    pub sessions: sessions::Registry,
    /// `agent-check`: the agent's settings, health and last result.
    pub agent: check::agent::Agent,
    /// `track`: the server followed and the servers following this one.
    pub links: Links,
    /// `slowstart`: when (`now_ms`) the current ramp-up began, 0 when not ramping.
    pub ramp_since: AtomicU64,
}

/// A server tracking another one: its backend and index.
pub type TrackerRef = (Weak<Backend>, usize);

/// `track` links, set once every backend exists (`link_tracks`).
#[derive(Default)]
pub struct Links {
    /// The server this one tracks.
    pub tracked: OnceLock<Arc<Server>>,
    /// The servers tracking this one: their backend and index.
    /// (`add server … track` appends, `del server` removes: a lock, taken on state changes only.)
    pub trackers: Mutex<Vec<TrackerRef>>,
    /// In maintenance because the tracked server is (HAProxy's inherited maintenance).
    pub maint_via: AtomicBool,
}

impl Links {
    /// A copy of the trackers (so no lock is held while their states change).
    pub fn trackers_list(&self) -> Vec<TrackerRef> {
        self.trackers.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Milliseconds since the first call (never 0), for ramp-up times.
pub fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Weights of non-hashed algorithms are scaled by this so a ramping server's share grows
/// smoothly even with small configured weights.
pub const WEIGHT_SCALE: u32 = 1000;

/// What a server is built from: its configuration line (with `default-server` applied)
/// and what the backend decided about it.
pub struct ServerInit {
    pub cfg: model::Server,
    pub id: u32,
    pub index: usize,
    pub backend_name: Arc<str>,
    pub addr: ServerAddr,
    /// Its name did not resolve (or `init-addr none`): starts in resolution maintenance.
    pub unresolved: bool,
    /// The backend's `source`, used when the server has none.
    pub backend_source: Option<Source>,
    pub pool_conn_name: Option<crate::sample::Expr>,
    pub dynamic: bool,
    /// `ssl`, `check-ssl` and the other TLS options.
    pub tls: Option<Arc<crate::tls::server::ServerTls>>,
    /// `sni EXPR`, compiled.
    pub sni: Option<crate::sample::Expr>,
}

impl Server {
    /// Traffic to it goes over TLS (`ssl`).
    pub fn uses_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.ssl)
    }

    pub fn new(i: ServerInit) -> Server {
        let srv = &i.cfg;
        Server {
            agent: check::agent::Agent::new(srv),
            pool_conn_name: i.pool_conn_name,
            tls: i.tls,
            sni: i.sni,
            name: srv.name.clone(),
            id: i.id,
            index: i.index,
            dynamic: i.dynamic,
            deleted: AtomicBool::new(false),
            referenced: AtomicBool::new(false),
            backend_name: i.backend_name,
            addr: AddrCell::new(i.addr),
            backup: srv.backup,
            uweight: AtomicU32::new(srv.weight),
            maxconn: AtomicU32::new(srv.maxconn),
            minconn: srv.minconn,
            maxqueue: srv.maxqueue,
            admin: AtomicU8::new(if srv.disabled { 2 } else { 0 }),
            // `init-state`: where checks start from (by default UP, down at the first
            // failure).
            up: AtomicBool::new(
                !srv.check || !matches!(srv.init_state.as_deref(), Some("down" | "fully-down")),
            ),
            nolb: AtomicBool::new(false),
            check_off: AtomicBool::new(false),
            rmaint: AtomicBool::new(i.unresolved),
            addr_none: AtomicBool::new(i.unresolved),
            srv_target: Mutex::new(None),
            observed_errors: AtomicU32::new(0),
            force_fastinter: AtomicBool::new(false),
            check_port_rt: AtomicU32::new(u32::MAX),
            cur: AtomicU32::new(0),
            counters: Counters::default(),
            check: Mutex::new(CheckResult::default()),
            chkfail: AtomicU64::new(0),
            chkdown: AtomicU64::new(0),
            last_change: AtomicU64::new(now_sec()),
            downtime: AtomicU64::new(0),
            down_since: AtomicU64::new(0),
            health: AtomicU32::new(match srv.init_state.as_deref() {
                _ if !srv.check => srv.rise,
                Some("fully-up") => srv.rise + srv.fall - 1,
                Some("down") => srv.rise.saturating_sub(1),
                Some("fully-down") => 0,
                _ => srv.rise,
            }),
            source: srv.source.clone().or(i.backend_source),
            send_proxy: srv.send_proxy,
            next_source_port: AtomicU32::new(fastrand::u32(..)),
            idle: idle::IdlePool::new(idle::PoolSettings {
                max_conn: srv.pool_max_conn,
                purge_delay: std::time::Duration::from_millis(srv.pool_purge_delay),
                low_conn: srv.pool_low_conn,
                max_reuse: srv.max_reuse,
            }),
            sessions: Default::default(),
            links: Default::default(),
            ramp_since: AtomicU64::new(0),
            cfg: i.cfg,
        }
    }

    /// `track`: "BACKEND/SERVER" of the tracked server.
    pub fn tracked_name(&self) -> Option<String> {
        let (b, s) = self.cfg.track.as_ref()?;
        Some(format!(
            "{}/{s}",
            b.as_deref().unwrap_or(&self.backend_name)
        ))
    }

    /// The end of the tracking chain: the server whose checks decide this one's state.
    pub fn check_ref(&self) -> &Server {
        let mut r = self;
        // Chains are loop-free (refused by the configuration check); bounded anyway.
        for _ in 0..64 {
            match r.links.tracked.get() {
                Some(t) => r = t,
                None => break,
            }
        }
        r
    }

    /// Starts a `slowstart` ramp-up (a server coming UP or leaving maintenance).
    pub fn start_ramp(&self) {
        if self.cfg.slowstart > 0 {
            self.ramp_since.store(now_ms(), Relaxed);
        }
    }

    /// `slowstart`: how far the ramp-up is, in thousandths (1..=999), None when not ramping.
    /// Read without a lock on every pick.
    pub fn ramp(&self) -> Option<u32> {
        let since = self.ramp_since.load(Relaxed);
        if since == 0 {
            return None;
        }
        let ss = self.cfg.slowstart;
        let el = now_ms().saturating_sub(since);
        if ss == 0 || el >= ss {
            let _ = self.ramp_since.compare_exchange(since, 0, Relaxed, Relaxed);
            return None;
        }
        Some(((el * 1000 / ss) as u32).clamp(1, 999))
    }

    /// `show stat` `throttle`: the percentage of the ramp-up reached, while ramping.
    pub fn throttle(&self) -> Option<u32> {
        if !self.is_up() || self.admin() == Admin::Drain {
            return None;
        }
        self.ramp().map(|r| r.div_ceil(10).clamp(1, 99))
    }

    /// The weight the balancer uses: `uweight`, reduced while ramping up. `scaled` weights
    /// (non-hashed algorithms) are multiplied by `WEIGHT_SCALE`.
    /// Only dynamic algorithms (`ramps`) see the weight grow; the others only the maxconn.
    pub fn effective_weight(&self, scaled: bool, ramps: bool) -> u32 {
        let w = self.uweight.load(Relaxed);
        let full = if scaled { w * WEIGHT_SCALE } else { w };
        match self.ramp() {
            Some(r) if w > 0 && ramps => {
                let per = if scaled { WEIGHT_SCALE as u64 } else { 1 };
                ((w as u64 * per * r as u64).div_ceil(1000) as u32).max(1)
            }
            _ => full,
        }
    }

    /// Whether health checks run (configured and not disabled at runtime).
    pub fn checked(&self) -> bool {
        self.cfg.check && !self.check_off.load(Relaxed)
    }

    /// The port checks go to, unless their rule names one.
    pub fn check_port(&self) -> Option<u16> {
        match self.check_port_rt.load(Relaxed) {
            u32::MAX => self.cfg.check_port,
            p => Some(p as u16),
        }
    }

    pub fn admin(&self) -> Admin {
        if self.links.maint_via.load(Relaxed) {
            return Admin::Maint;
        }
        self.own_admin()
    }

    /// The administrative state set on this server itself (not inherited by `track`).
    pub fn own_admin(&self) -> Admin {
        match self.admin.load(Relaxed) {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed) && self.admin() != Admin::Maint && !self.rmaint.load(Relaxed)
    }
    /// Whether the balancer may choose it for a new connection.
    pub fn usable(&self) -> bool {
        self.is_up()
            && self.admin() == Admin::Ready
            && self.uweight.load(Relaxed) > 0
            && !self.nolb.load(Relaxed)
    }
    /// HAProxy's status word for `show stat`.
    pub fn status_word(&self) -> String {
        let up = self.up.load(Relaxed);
        // A tracking server shows the health of the end of its chain.
        let r = self.check_ref();
        let h = r.health.load(Relaxed);
        let rise = r.cfg.rise;
        let fall = r.cfg.fall;
        if self.rmaint.load(Relaxed) {
            return "MAINT (resolution)".into();
        }
        match self.admin() {
            Admin::Maint if self.links.maint_via.load(Relaxed) => match self.tracked_name() {
                Some(t) => format!("MAINT (via {t})"),
                None => "MAINT".into(),
            },
            Admin::Maint => "MAINT".into(),
            Admin::Drain if up && self.agent.active() => "DRAIN (agent)".into(),
            Admin::Drain if up => "DRAIN".into(),
            _ if !up && self.agent.active() && self.agent.health.load(Relaxed) == 0 => {
                "DOWN (agent)".into()
            }
            _ if up && self.nolb.load(Relaxed) => "NOLB".into(),
            _ if !r.checked() => {
                if up {
                    "no check".into()
                } else {
                    "DOWN".into()
                }
            }
            _ if up && h < rise + fall - 1 => format!("UP {}/{}", h + 1 - rise, fall),
            _ if up => "UP".into(),
            _ if h > 0 => format!("DOWN {h}/{rise}"),
            _ => "DOWN".into(),
        }
    }
}

tokio::task_local! {
    /// The queue priority of the request being served (`set-priority-class`,
    /// `set-priority-offset`): set around its server assignment by the HTTP stream.
    pub static QUEUE_PRIORITY: (i32, i32);
}

struct Waiter {
    seq: u64,
    /// Served in the order of (class, arrival time + offset in ms, arrival).
    key: (i32, i64),
    /// Its queue's dequeue count when it entered (for `%sq`/`%bq`).
    at: u64,
    tx: oneshot::Sender<Granted>,
}

/// A server slot handed over by a queue, with the number of requests the queue served
/// since this one entered, itself included (`%sq` for a server queue, `%bq` for the
/// backend's; HAProxy's count).
pub struct Granted {
    pub srv: Arc<Server>,
    pub srv_queue: u32,
    pub be_queue: u32,
}

impl Granted {
    fn on_server(srv: Arc<Server>, pos: u64) -> Granted {
        Granted {
            srv,
            srv_queue: pos as u32,
            be_queue: 0,
        }
    }
}

struct BackendState {
    lb: LbState,
    queue: VecDeque<Waiter>,
    server_queues: Vec<VecDeque<Waiter>>,
    seq: u64,
    /// Requests taken off the backend queue, and off each server's, so far.
    dequeued: u64,
    server_dequeued: Vec<u64>,
}

/// Runtime settings of a backend that sessions need.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    pub mode: Mode,
    /// `option abortonclose`: a client that leaves while its request waits for a server
    /// (queue, connection) takes the request with it.
    pub abortonclose: bool,
    pub balance: Balance,
    pub hash_type: HashType,
    pub fullconn: u32,
    pub retries: u32,
    /// `retry-on` (HTTP mode).
    pub retry_on: halo_config::model::RetryOn,
    pub redispatch: Option<i32>,
    pub persist: bool,
    /// `persist rdp-cookie(NAME)`: the name of the RDP cookie naming the server.
    pub persist_rdp_cookie: Option<String>,
    pub allbackups: bool,
    pub connect_timeout: Option<u64>,
    pub server_timeout: Option<u64>,
    pub queue_timeout: Option<u64>,
    pub tunnel_timeout: Option<u64>,
    pub server_fin_timeout: Option<u64>,
    pub check_timeout: Option<u64>,
    pub source: Option<Source>,
    /// `usesrc hdr_ip(H[,occ])` on the backend or one of its servers: the header and
    /// occurrence to read the source address from, per request.
    pub hdr_src: Option<(String, i32)>,
    pub dispatch: Option<SocketAddr>,
    /// `http-reuse`.
    pub http_reuse: halo_config::model::HttpReuse,
    /// `option prefer-last-server`, `max-keep-alive-queue`.
    pub prefer_last_server: bool,
    pub max_keep_alive_queue: Option<u32>,
    /// `option http-pretend-keepalive`: no `Connection: close` towards the server.
    pub pretend_keepalive: bool,
    /// `http-send-name-header`.
    pub send_name_header: Option<String>,
    /// `disabled`: content switching does not pick this backend (unless `force-be-switch`).
    pub disabled: bool,
    /// `be-unpublished`: starts unpublished (see `Backend::published`).
    pub unpublished: bool,
    /// The health-check rules run for each checked server.
    pub checks: Arc<check::rules::Plan>,
    /// `option log-health-checks`: every change of check status or health is logged.
    pub log_health_checks: bool,
    /// `hash-preserve-affinity`: 0 `always`, 1 `maxconn` (skip saturated servers along
    /// the hash ring), 2 `maxqueue` (skip servers whose queue is full).
    pub hash_affinity: u8,
    /// A `listen` section (HAProxy calls it a "proxy" in messages).
    pub is_listen: bool,
    /// The `default-server` settings, which servers added at runtime start from.
    pub default_server: Option<model::Server>,
    /// `option external-check`: checks run this program instead of their rules.
    pub external_check: Option<Arc<check::external::ExternalCheck>>,
}

pub struct Backend {
    pub name: Arc<str>,
    pub id: u32,
    pub settings: BackendSettings,
    pub servers: list::ServerList,
    state: Mutex<BackendState>,
    /// Sessions in this backend (queued or served): drives the dynamic maxconn.
    pub beconn: AtomicU32,
    pub counters: Counters,
    pub last_change: AtomicU64,
    pub was_available: AtomicBool,
    /// Content switching may pick it: false after `be-unpublished` or `unpublish backend`.
    pub published: AtomicBool,
    /// The proxy's log targets, for its events (set once compiled).
    pub events: std::sync::OnceLock<crate::log::Loggers>,
}

/// How a connection got its server.
pub enum Assign {
    Server(Arc<Server>),
    Queued(oneshot::Receiver<Granted>),
    NoServer,
}

impl Backend {
    pub fn new(
        name: Arc<str>,
        id: u32,
        settings: BackendSettings,
        servers: Vec<Arc<Server>>,
    ) -> Backend {
        let n = servers.len();
        let published = AtomicBool::new(!settings.unpublished);
        Backend {
            name,
            id,
            settings,
            servers: list::ServerList::new(servers),
            state: Mutex::new(BackendState {
                lb: LbState::new(n),
                queue: VecDeque::new(),
                server_queues: (0..n).map(|_| VecDeque::new()).collect(),
                seq: 0,
                dequeued: 0,
                server_dequeued: vec![0; n],
            }),
            beconn: AtomicU32::new(0),
            counters: Counters::default(),
            last_change: AtomicU64::new(now_sec()),
            was_available: AtomicBool::new(true),
            published,
            events: std::sync::OnceLock::new(),
        }
    }

    /// Sends an event of this backend (a server's state, a health check) to its log
    /// targets at syslog `level`.
    pub fn log_event(&self, level: u8, msg: &str) {
        if let Some(l) = self.events.get() {
            l.send(level, msg.as_bytes());
        }
    }

    /// Whether `use_backend`/`default_backend` may send streams here without
    /// `force-be-switch`.
    pub fn switchable(&self) -> bool {
        !self.settings.disabled && self.published.load(Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, BackendState> {
        // A panic while holding the lock cannot leave the queues inconsistent in a way
        // worse than refusing service, so a poisoned lock is simply taken over.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The dynamic connection limit of a server (minconn/fullconn), 0 = unlimited.
    pub fn effective_maxconn(&self, s: &Server) -> u32 {
        let max = self.dynamic_maxconn(s);
        // `slowstart`: the limit ramps up with the weight.
        match s.ramp() {
            Some(r) if max > 0 => ((max as u64 * r as u64 / 1000) as u32).max(1),
            _ => max,
        }
    }

    fn dynamic_maxconn(&self, s: &Server) -> u32 {
        let max = s.maxconn.load(Relaxed);
        if max == 0 || s.minconn == 0 || self.settings.fullconn == 0 {
            return max;
        }
        let be = self.beconn.load(Relaxed);
        if be >= self.settings.fullconn {
            return max;
        }
        let dynamic = (max as u64 * be as u64 / self.settings.fullconn as u64) as u32;
        dynamic.max(s.minconn).min(max)
    }

    fn has_room(&self, s: &Server) -> bool {
        let max = self.effective_maxconn(s);
        max == 0 || s.cur.load(Relaxed) < max
    }

    fn candidates(&self, backup: bool, scaled: bool) -> Vec<Candidate> {
        // `slowstart` ramps the weight of dynamic algorithms only (not `static-rr` nor
        // map-based hashing).
        let ramps = match self.settings.balance {
            Balance::StaticRr => false,
            _ if !scaled => self.settings.hash_type.method == HashMethod::Consistent,
            _ => true,
        };
        let mut out: Vec<Candidate> = Vec::with_capacity(self.servers.slots());
        for (i, s) in self.servers.iter().map(|s| (s.index, s)) {
            if s.backup != backup {
                continue;
            }
            out.push(Candidate {
                index: i,
                weight: s.effective_weight(scaled, ramps),
                cur: s.cur.load(Relaxed),
                has_room: self.has_room(s),
                usable: s.usable(),
            });
        }
        if backup && !self.settings.allbackups {
            // Only the first usable backup server is used.
            let mut seen = false;
            for c in out.iter_mut() {
                if c.usable && c.weight > 0 {
                    if seen {
                        c.usable = false;
                    }
                    seen = true;
                }
            }
        }
        out
    }

    /// Number of usable active and backup servers.
    pub fn usable_counts(&self) -> (usize, usize) {
        let mut a = 0;
        let mut b = 0;
        for s in self.servers.iter() {
            if s.usable() {
                if s.backup {
                    b += 1;
                } else {
                    a += 1;
                }
            }
        }
        (a, b)
    }

    /// `be_conn_free`: connection slots left on the usable active servers (backup servers
    /// when no active one is usable); -1 when one of them has no `maxconn`.
    pub fn conn_free(&self) -> i64 {
        let (active, _) = self.usable_counts();
        let mut free = 0i64;
        for s in self.servers.iter() {
            if !s.usable() || s.backup != (active == 0) {
                continue;
            }
            let max = self.effective_maxconn(s);
            if max == 0 {
                return -1;
            }
            free += (max as i64 - s.cur.load(Relaxed) as i64).max(0);
        }
        free
    }

    /// Whether any server may take traffic (for `nbsrv` and the "no server available" alert).
    pub fn nbsrv(&self) -> usize {
        let (a, b) = self.usable_counts();
        if a > 0 { a } else { b }
    }

    fn pick_locked(&self, st: &mut BackendState, key: Option<u32>, avoid: Option<usize>) -> Pick {
        let hashed = key.is_some() && self.settings.balance.is_hashed();
        for backup in [false, true] {
            let mut cands = self.candidates(backup, !hashed);
            if let Some(a) = avoid
                && cands.iter().filter(|c| c.usable).count() > 1
            {
                for c in cands.iter_mut() {
                    if c.index == a {
                        c.has_room = false;
                    }
                }
            }
            let p = match key {
                Some(k) if self.settings.balance.is_hashed() => {
                    let mut p = lb::pick_hashed(
                        self.settings.hash_type.method,
                        &mut st.lb,
                        &cands,
                        backup,
                        k,
                    );
                    // `hash-preserve-affinity maxconn|maxqueue`: a saturated server is
                    // skipped, following the hash ring; when all are, the request waits
                    // on the last one tried.
                    while let Pick::QueueOn(i) = p
                        && self.settings.hash_affinity > 0
                    {
                        let s = &self.servers[i];
                        let saturated = match self.settings.hash_affinity {
                            1 => s.maxconn.load(Relaxed) > 0,
                            _ => s.maxqueue > 0 && st.server_queues[i].len() >= s.maxqueue as usize,
                        };
                        if !saturated {
                            break;
                        }
                        if let Some(c) = cands.iter_mut().find(|c| c.index == i) {
                            c.usable = false;
                        }
                        match lb::pick_hashed(
                            self.settings.hash_type.method,
                            &mut st.lb,
                            &cands,
                            backup,
                            k,
                        ) {
                            Pick::None => break,
                            next => p = next,
                        }
                    }
                    p
                }
                _ => lb::pick(&self.settings.balance, &mut st.lb, &cands),
            };
            if p != Pick::None {
                return p;
            }
        }
        Pick::None
    }

    /// Assigns a server to a new connection, or queues it. `key` is the hash of the
    /// balancing key for hashed algorithms; `avoid` a server that just failed (redispatch).
    pub fn assign(&self, key: Option<u32>, avoid: Option<usize>) -> Assign {
        let mut st = self.lock();
        // Connections already waiting go first: a newcomer queues behind them even when
        // a slot just opened (a dynamic limit rising with the backend's load), and the
        // queue is served in order.
        let pick = match self.pick_locked(&mut st, key, avoid) {
            Pick::Server(_) | Pick::QueueOn(_) if key.is_none() && !st.queue.is_empty() => {
                Pick::QueueBackend
            }
            p => p,
        };
        match pick {
            Pick::Server(i) if !st.server_queues[i].is_empty() => self.enqueue(&mut st, Some(i)),
            Pick::Server(i) => {
                let s = &self.servers[i];
                s.cur.fetch_add(1, Relaxed);
                s.counters.lbtot.fetch_add(1, Relaxed);
                Assign::Server(s.clone())
            }
            Pick::QueueOn(i) => {
                let s = &self.servers[i];
                let qlen = st.server_queues[i].len() as u32;
                if s.maxqueue > 0 && qlen >= s.maxqueue {
                    // Its queue is full: any other server, else the backend queue.
                    match self.pick_locked(&mut st, None, Some(i)) {
                        Pick::Server(j) => {
                            let s = &self.servers[j];
                            s.cur.fetch_add(1, Relaxed);
                            s.counters.lbtot.fetch_add(1, Relaxed);
                            return Assign::Server(s.clone());
                        }
                        Pick::None => return Assign::NoServer,
                        _ => return self.enqueue(&mut st, None),
                    }
                }
                self.enqueue(&mut st, Some(i))
            }
            Pick::QueueBackend => self.enqueue(&mut st, None),
            Pick::None => Assign::NoServer,
        }
    }

    /// A slot on a preferred server (`option prefer-last-server`): at once when it has
    /// room, queued on it while its queue is shorter than `max_queue`; None when it is not
    /// usable or its queue is too long (the request is then balanced as usual).
    pub fn assign_preferred(&self, srv: &Arc<Server>, max_queue: Option<u32>) -> Option<Assign> {
        let idx = self.index_of(srv)?;
        if !srv.usable() || srv.uweight.load(Relaxed) == 0 {
            return None;
        }
        let mut st = self.lock();
        if self.has_room(srv) && st.server_queues[idx].is_empty() {
            srv.cur.fetch_add(1, Relaxed);
            return Some(Assign::Server(srv.clone()));
        }
        if max_queue.is_some_and(|m| st.server_queues[idx].len() as u32 >= m) {
            return None;
        }
        Some(self.enqueue(&mut st, Some(idx)))
    }

    /// Queues on a given server (persistence: the connection must reach that one).
    pub fn assign_to(&self, idx: usize) -> Assign {
        let mut st = self.lock();
        let s = &self.servers[idx];
        if self.has_room(s) && st.server_queues[idx].is_empty() {
            s.cur.fetch_add(1, Relaxed);
            return Assign::Server(s.clone());
        }
        self.enqueue(&mut st, Some(idx))
    }

    fn enqueue(&self, st: &mut BackendState, on: Option<usize>) -> Assign {
        let (tx, rx) = oneshot::channel();
        st.seq += 1;
        let (class, offset) = QUEUE_PRIORITY.try_with(|p| *p).unwrap_or((0, 0));
        let key = (class, crate::stick::now_ms() as i64 + i64::from(offset));
        let w = Waiter {
            seq: st.seq,
            key,
            at: match on {
                Some(i) => st.server_dequeued[i],
                None => st.dequeued,
            },
            tx,
        };
        // In priority order (arrival order among equals).
        let insert = |q: &mut VecDeque<Waiter>, w: Waiter| {
            let at = q.partition_point(|x| (x.key, x.seq) <= (w.key, w.seq));
            q.insert(at, w);
        };
        match on {
            Some(i) => {
                insert(&mut st.server_queues[i], w);
                let l = st.server_queues[i].len() as u64;
                self.servers[i].counters.note_queue(l);
            }
            None => {
                insert(&mut st.queue, w);
                self.counters.note_queue(st.queue.len() as u64);
            }
        }
        // Queuing raised beconn, which may have raised dynamic limits.
        self.process_queue_locked(st);
        Assign::Queued(rx)
    }

    /// Gives a server's slot back; the slot goes to the oldest waiter that can use it.
    pub fn release(&self, srv: &Arc<Server>) {
        let mut st = self.lock();
        srv.cur.fetch_sub(1, Relaxed);
        self.process_queue_locked(&mut st);
    }

    /// Serves queued connections while servers have room (after a release, a server
    /// coming UP, a weight or maxconn change).
    pub fn process_queue(&self) {
        let mut st = self.lock();
        self.process_queue_locked(&mut st);
    }

    fn process_queue_locked(&self, st: &mut BackendState) {
        loop {
            // Oldest waiter among the backend queue and the server queues whose server
            // has room.
            type Rank = ((i32, i64), u64);
            let mut best: Option<(Rank, Option<usize>)> = None;
            for (i, q) in st.server_queues.iter().enumerate() {
                if let Some(w) = q.front() {
                    let s = &self.servers[i];
                    let r = (w.key, w.seq);
                    if s.is_up() && self.has_room(s) && best.map(|b| r < b.0).unwrap_or(true) {
                        best = Some((r, Some(i)));
                    }
                }
            }
            if let Some(w) = st.queue.front()
                && best.map(|b| (w.key, w.seq) < b.0).unwrap_or(true)
            {
                best = Some(((w.key, w.seq), None));
            }
            let Some((_, which)) = best else { return };
            match which {
                Some(i) => {
                    let Some(w) = st.server_queues[i].pop_front() else {
                        return;
                    };
                    let s = self.servers[i].clone();
                    s.cur.fetch_add(1, Relaxed);
                    st.server_dequeued[i] += 1;
                    let pos = st.server_dequeued[i] - w.at;
                    if w.tx.send(Granted::on_server(s.clone(), pos)).is_err() {
                        s.cur.fetch_sub(1, Relaxed);
                    }
                }
                None => {
                    let pick = self.pick_locked(st, None, None);
                    match pick {
                        Pick::Server(i) => {
                            let Some(w) = st.queue.pop_front() else {
                                return;
                            };
                            let s = self.servers[i].clone();
                            s.cur.fetch_add(1, Relaxed);
                            s.counters.lbtot.fetch_add(1, Relaxed);
                            st.dequeued += 1;
                            let pos = st.dequeued - w.at;
                            let g = Granted {
                                srv: s.clone(),
                                srv_queue: 0,
                                be_queue: pos as u32,
                            };
                            if w.tx.send(g).is_err() {
                                s.cur.fetch_sub(1, Relaxed);
                            }
                        }
                        Pick::None => {
                            // Nothing usable: waiters stay until a server comes back
                            // or their queue timeout fires.
                            return;
                        }
                        _ => {
                            // Backend queue head cannot be served; a server queue
                            // might be, if its server has room.
                            let mut served = false;
                            for i in 0..st.server_queues.len() {
                                let s = &self.servers[i];
                                if !st.server_queues[i].is_empty()
                                    && s.is_up()
                                    && self.has_room(s)
                                    && let Some(w) = st.server_queues[i].pop_front()
                                {
                                    let s = s.clone();
                                    s.cur.fetch_add(1, Relaxed);
                                    st.server_dequeued[i] += 1;
                                    let pos = st.server_dequeued[i] - w.at;
                                    if w.tx.send(Granted::on_server(s.clone(), pos)).is_err() {
                                        s.cur.fetch_sub(1, Relaxed);
                                    }
                                    served = true;
                                    break;
                                }
                            }
                            if !served {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A server went down: its queued connections move to the backend queue (they will be
    /// served by another server). Returns how many moved.
    pub fn requeue_from(&self, idx: usize) -> usize {
        let mut st = self.lock();
        let moved: Vec<Waiter> = st.server_queues[idx].drain(..).collect();
        let n = moved.len();
        for mut w in moved {
            // Counted from here in the backend queue.
            w.at = st.dequeued;
            st.queue.push_back(w);
        }
        // Keep priority and arrival order.
        st.queue.make_contiguous().sort_by_key(|w| (w.key, w.seq));
        self.process_queue_locked(&mut st);
        n
    }

    /// Current queue lengths: the backend's and each server's.
    pub fn queue_lengths(&self) -> (usize, Vec<usize>) {
        let st = self.lock();
        (
            st.queue.iter().filter(|w| !w.tx.is_closed()).count(),
            st.server_queues
                .iter()
                .map(|q| q.iter().filter(|w| !w.tx.is_closed()).count())
                .collect(),
        )
    }

    /// Drops waiters whose client has gone (timeouts), keeping lengths honest.
    pub fn prune_queue(&self) {
        let mut st = self.lock();
        st.queue.retain(|w| !w.tx.is_closed());
        for q in st.server_queues.iter_mut() {
            q.retain(|w| !w.tx.is_closed());
        }
    }

    /// Weights changed: consistent-hash rings must be rebuilt; waiting connections may fit.
    pub fn weights_changed(&self) {
        let mut st = self.lock();
        st.lb.invalidate();
        self.process_queue_locked(&mut st);
    }

    /// "proxy" for a `listen` section, "backend" otherwise (HAProxy's messages).
    pub fn type_word(&self) -> &'static str {
        if self.settings.is_listen {
            "proxy"
        } else {
            "backend"
        }
    }

    pub fn find_server(&self, name: &str) -> Option<(usize, &Arc<Server>)> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.index, s))
    }

    /// Whether `add server` may add to it: HAProxy refuses backends balanced by a static
    /// algorithm (`static-rr`, map-based hashing), whose server set is fixed at start-up.
    pub fn accepts_dynamic_servers(&self) -> bool {
        match self.settings.balance {
            Balance::StaticRr => false,
            ref b if b.is_hashed() => self.settings.hash_type.method == HashMethod::Consistent,
            _ => true,
        }
    }

    /// `add server`: appends the server `make` builds for the next index; it takes traffic
    /// at once (its queue exists before the balancer can see it).
    pub fn add_server(&self, make: impl FnOnce(usize) -> Server) -> Arc<Server> {
        let mut st = self.lock();
        let idx = self.servers.slots();
        let srv = Arc::new(make(idx));
        st.server_queues.push(VecDeque::new());
        st.server_dequeued.push(0);
        let at = self.servers.push(srv.clone());
        debug_assert_eq!(at, idx);
        st.lb.invalidate();
        self.process_queue_locked(&mut st);
        srv
    }

    /// `del server`: why the server cannot be removed now (HAProxy's answers), or None once
    /// it is removed: it must be in maintenance, followed by no other server, and hold no
    /// connection (active, queued or idle).
    pub fn delete_server(&self, idx: usize) -> Option<&'static str> {
        let srv = &self.servers[idx];
        if srv.own_admin() != Admin::Maint && !srv.links.maint_via.load(Relaxed) {
            return Some("Only servers in maintenance mode can be deleted.");
        }
        if srv.referenced.load(Relaxed) || !srv.links.trackers_list().is_empty() {
            return Some(
                "This server cannot be removed at runtime due to other configuration elements pointing to it.",
            );
        }
        // Idle connections carry nothing: they are closed (HAProxy closes them when the
        // server enters maintenance).
        srv.idle.purge(true, u64::from(srv.cur.load(Relaxed)));
        let st = self.lock();
        if srv.cur.load(Relaxed) > 0 || st.server_queues[idx].iter().any(|w| !w.tx.is_closed()) {
            return Some("Server still has connections attached to it, cannot remove it.");
        }
        srv.deleted.store(true, Relaxed);
        drop(st);
        // No longer a tracker of the server it followed.
        if let Some(t) = srv.links.tracked.get()
            && let Ok(mut g) = t.links.trackers.lock()
        {
            g.retain(|(b, j)| !(*j == idx && std::ptr::eq(b.as_ptr(), self)));
        }
        self.weights_changed();
        None
    }

    /// The index of a server of this backend (None for another backend's server).
    pub fn index_of(&self, srv: &Server) -> Option<usize> {
        self.servers
            .get(srv.index)
            .filter(|s| std::ptr::eq(&***s, srv))
            .map(|_| srv.index)
    }
}

/// A backend event, as HAProxy reports it: on stderr (`[WARNING]`, or `[ALERT]` when
/// `alert`) and to the backend's log targets at syslog `level`.
pub fn announce(be: &Backend, level: u8, alert: bool, msg: &str, quiet: bool) {
    if alert {
        crate::runtime::log::alert(msg, quiet);
    } else {
        crate::runtime::log::warning(msg, quiet);
    }
    be.log_event(level, msg);
}

/// The alert of a backend losing its last server: HAProxy quotes the name on stderr, not
/// in the log line.
fn announce_no_server(be: &Backend, quiet: bool) {
    crate::runtime::log::alert(
        &format!("{} '{}' has no server available!", be.type_word(), be.name),
        quiet,
    );
    be.log_event(
        crate::log::LOG_EMERG,
        &format!("{} {} has no server available!", be.type_word(), be.name),
    );
}

/// Process id for the messages.
pub fn pid() -> u32 {
    std::process::id()
}

/// Builds and prints the message of a server state change, HAProxy style, and the
/// backend-level alert when it loses its last server.
pub fn report_state_change(be: &Backend, idx: usize, up: bool, reason: &str, quiet: bool) {
    let srv = &be.servers[idx];
    let (a, b) = be.usable_counts();
    let (qlen, squeues) = be.queue_lengths();
    let sq = squeues.iter().sum::<usize>();
    let msg = if up {
        format!(
            "Server {}/{} is UP{reason}. {a} active and {b} backup servers online. 0 sessions requeued, {} total in queue.",
            be.name,
            srv.name,
            qlen + sq
        )
    } else {
        format!(
            "Server {}/{} is DOWN{reason}. {a} active and {b} backup servers left. {} sessions active, 0 requeued, {} remaining in queue.",
            be.name,
            srv.name,
            srv.cur.load(Relaxed),
            squeues.get(idx).copied().unwrap_or(0)
        )
    };
    use crate::log::{LOG_ALERT, LOG_NOTICE};
    announce(
        be,
        if up { LOG_NOTICE } else { LOG_ALERT },
        false,
        &msg,
        quiet,
    );
    let available = a + b > 0;
    let was = be.was_available.swap(available, Relaxed);
    if was && !available {
        announce_no_server(be, quiet);
        be.last_change.store(now_sec(), Relaxed);
    } else if !was && available {
        be.last_change.store(now_sec(), Relaxed);
    }
}

/// The message of a running server leaving load balancing (`disable-on-404`).
pub fn report_stopping(be: &Backend, idx: usize, reason: &str, quiet: bool) {
    let srv = &be.servers[idx];
    let (a, b) = be.usable_counts();
    let (qlen, squeues) = be.queue_lengths();
    let sq = squeues.iter().sum::<usize>();
    announce(
        be,
        crate::log::LOG_NOTICE,
        false,
        &format!(
            "Server {}/{} is stopping{reason}. {a} active and {b} backup servers online. 0 sessions requeued, {} total in queue.",
            be.name,
            srv.name,
            qlen + sq
        ),
        quiet,
    );
    let available = a + b > 0;
    let was = be.was_available.swap(available, Relaxed);
    if was && !available {
        announce_no_server(be, quiet);
        be.last_change.store(now_sec(), Relaxed);
    }
}

/// `track`: the servers tracking `be/idx` take its operational state (UP, DOWN, NOLB),
/// down the chains, with HAProxy's "… via B/S" messages.
pub fn propagate(be: &Backend, idx: usize, quiet: bool) {
    let srv = &be.servers[idx];
    let trackers = srv.links.trackers_list();
    let via = format!(" via {}/{}", be.name, srv.name);
    let up = srv.up.load(Relaxed);
    let nolb = up && srv.nolb.load(Relaxed);
    for (wb, j) in trackers {
        let Some(tb) = wb.upgrade() else { continue };
        let t = &tb.servers[j];
        let was_up = t.up.load(Relaxed);
        let was_nolb = t.nolb.swap(nolb, Relaxed);
        if was_up == up && was_nolb == nolb {
            continue;
        }
        let show = t.admin() != Admin::Maint;
        if was_up != up {
            set_operational(&tb, j, up);
        } else {
            tb.weights_changed();
        }
        if show {
            if nolb {
                report_stopping(&tb, j, &via, quiet);
            } else {
                report_state_change(&tb, j, up, &via, quiet);
            }
        }
        propagate(&tb, j, quiet);
    }
}

/// `track`: the servers tracking `be/idx` enter or leave maintenance with it, down the
/// chains, with HAProxy's messages.
pub fn propagate_maint(be: &Backend, idx: usize, quiet: bool) {
    let srv = &be.servers[idx];
    let trackers = srv.links.trackers_list();
    let maint = srv.admin() == Admin::Maint;
    for (wb, j) in trackers {
        let Some(tb) = wb.upgrade() else { continue };
        let t = &tb.servers[j];
        let own = t.own_admin() == Admin::Maint;
        if t.links.maint_via.swap(maint, Relaxed) == maint {
            continue;
        }
        t.last_change.store(now_sec(), Relaxed);
        if !own {
            if maint {
                let (a, b) = tb.usable_counts();
                announce(
                    &tb,
                    crate::log::LOG_ALERT,
                    false,
                    &format!(
                        "Server {}/{} is going DOWN for maintenance via {}/{}. {a} active and {b} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                        tb.name,
                        t.name,
                        be.name,
                        srv.name,
                        t.cur.load(Relaxed)
                    ),
                    quiet,
                );
                note_availability(&tb, quiet);
                tb.requeue_from(j);
            } else {
                t.start_ramp();
                if t.up.load(Relaxed) {
                    announce(
                        &tb,
                        crate::log::LOG_NOTICE,
                        false,
                        &format!(
                            "Server {}/{} is UP/READY (leaving maintenance).",
                            tb.name, t.name
                        ),
                        quiet,
                    );
                }
                note_availability(&tb, quiet);
            }
            tb.weights_changed();
        }
        propagate_maint(&tb, j, quiet);
    }
}

/// The backend-level alert when a backend loses its last server.
pub fn note_availability(be: &Backend, quiet: bool) {
    let (a, b) = be.usable_counts();
    let available = a + b > 0;
    let was = be.was_available.swap(available, Relaxed);
    if was && !available {
        announce_no_server(be, quiet);
        be.last_change.store(now_sec(), Relaxed);
    } else if !was && available {
        be.last_change.store(now_sec(), Relaxed);
    }
}

/// Builds the `track` links once every backend exists: each tracking server learns the
/// server it follows (and starts in its state), each tracked server its trackers.
pub fn link_tracks(backends: &[Arc<Backend>]) {
    let mut trackers: Vec<Vec<Vec<TrackerRef>>> = backends
        .iter()
        .map(|b| vec![Vec::new(); b.servers.slots()])
        .collect();
    for be in backends {
        for (j, s) in be.servers.iter().map(|s| (s.index, s)) {
            let Some((tb, ts)) = &s.cfg.track else {
                continue;
            };
            let tb_name = tb.as_deref().unwrap_or(&be.name);
            let Some(bi) = backends.iter().position(|b| &*b.name == tb_name) else {
                continue;
            };
            let Some((si, t)) = backends[bi].find_server(ts) else {
                continue;
            };
            let _ = s.links.tracked.set(t.clone());
            trackers[bi][si].push((Arc::downgrade(be), j));
        }
    }
    for (be, per) in backends.iter().zip(trackers) {
        for (s, list) in be.servers.iter().zip(per) {
            if !list.is_empty()
                && let Ok(mut g) = s.links.trackers.lock()
            {
                *g = list;
            }
        }
    }
    // Initial states down the chains (a tracked server may start in maintenance).
    for be in backends {
        for (i, s) in be.servers.iter().map(|s| (s.index, s)) {
            if s.links.tracked.get().is_none() {
                propagate_maint(be, i, true);
            }
        }
    }
}

/// Marks a server up or down, with the bookkeeping of times and queues.
pub fn set_operational(be: &Backend, idx: usize, up: bool) {
    let srv = &be.servers[idx];
    let was = srv.up.swap(up, Relaxed);
    if was == up {
        return;
    }
    let now = now_sec();
    srv.last_change.store(now, Relaxed);
    if up {
        srv.start_ramp();
        let since = srv.down_since.swap(0, Relaxed);
        if since > 0 {
            srv.downtime.fetch_add(now.saturating_sub(since), Relaxed);
        }
        be.weights_changed();
        on_marked_up(be, idx);
    } else {
        srv.down_since.store(now, Relaxed);
        srv.chkdown.fetch_add(1, Relaxed);
        on_marked_down(be, idx);
        be.requeue_from(idx);
    }
}

/// `on-marked-down shutdown-sessions`: a server going down (checks, `observe`, the runtime
/// API) ends the sessions it serves. Returns how many.
pub fn on_marked_down(be: &Backend, idx: usize) -> usize {
    let srv = &be.servers[idx];
    // A server in maintenance had its sessions ended when it entered it.
    if !srv.cfg.on_marked_down_shutdown || srv.admin() == Admin::Maint {
        return 0;
    }
    srv.sessions.kill_all(sessions::KillReason::Down)
}

/// `on-marked-up shutdown-backup-sessions`: an active server with a weight coming up ends
/// the sessions of the backend's backup servers. Returns how many.
pub fn on_marked_up(be: &Backend, idx: usize) -> usize {
    let srv = &be.servers[idx];
    // Only a server that takes traffic again: not one in maintenance or stopping (NOLB).
    if !srv.cfg.on_marked_up_shutdown_backup
        || srv.backup
        || srv.uweight.load(Relaxed) == 0
        || !srv.is_up()
        || srv.nolb.load(Relaxed)
    {
        return 0;
    }
    be.servers
        .iter()
        .filter(|s| s.backup)
        .map(|s| s.sessions.kill_all(sessions::KillReason::Up))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo_config::diag::Loc;

    fn server(maxconn: u32, minconn: u32) -> Arc<Server> {
        let mut cfg = model::Server::template(Loc::none());
        cfg.maxconn = maxconn;
        cfg.minconn = minconn;
        Arc::new(Server::new(ServerInit {
            cfg,
            id: 1,
            index: 0,
            backend_name: Arc::from("b"),
            addr: ServerAddr {
                ip: "127.0.0.1".parse().unwrap(),
                port: PortSpec::Fixed(1),
            },
            unresolved: false,
            backend_source: None,
            pool_conn_name: None,
            dynamic: false,
            tls: None,
            sni: None,
        }))
    }

    fn backend(servers: Vec<Arc<Server>>, fullconn: u32) -> Backend {
        Backend::new(
            Arc::from("b"),
            1,
            BackendSettings {
                mode: Mode::Tcp,
                abortonclose: false,
                balance: Balance::RoundRobin,
                hash_type: HashType::default(),
                fullconn,
                retries: 3,
                retry_on: Default::default(),
                redispatch: None,
                persist: false,
                persist_rdp_cookie: None,
                allbackups: false,
                connect_timeout: None,
                server_timeout: None,
                queue_timeout: None,
                tunnel_timeout: None,
                server_fin_timeout: None,
                check_timeout: None,
                source: None,
                hdr_src: None,
                dispatch: None,
                http_reuse: Default::default(),
                prefer_last_server: false,
                max_keep_alive_queue: None,
                pretend_keepalive: false,
                send_name_header: None,
                disabled: false,
                unpublished: false,
                checks: Default::default(),
                log_health_checks: false,
                external_check: None,
                is_listen: false,
                hash_affinity: 0,
                default_server: None,
            },
            servers,
        )
    }

    #[test]
    fn dynamic_maxconn_follows_backend_load() {
        // Architecture Guide section 7: minconn 4, maxconn 12, fullconn 100.
        let be = backend(vec![server(12, 4)], 100);
        let s = be.servers[0].clone();
        be.beconn.store(0, Relaxed);
        assert_eq!(be.effective_maxconn(&s), 4);
        be.beconn.store(50, Relaxed);
        assert_eq!(be.effective_maxconn(&s), 6);
        be.beconn.store(90, Relaxed);
        assert_eq!(be.effective_maxconn(&s), 10);
        be.beconn.store(100, Relaxed);
        assert_eq!(be.effective_maxconn(&s), 12);
        be.beconn.store(500, Relaxed);
        assert_eq!(be.effective_maxconn(&s), 12);
        // Without minconn the limit is static.
        let be2 = backend(vec![server(12, 0)], 100);
        assert_eq!(be2.effective_maxconn(&be2.servers[0]), 12);
    }

    #[test]
    fn queue_hands_slots_over_in_order() {
        let be = Arc::new(backend(vec![server(1, 0)], 10));
        let first = match be.assign(None, None) {
            Assign::Server(s) => s,
            _ => panic!("first connection must get the server"),
        };
        let mut waiters = Vec::new();
        for _ in 0..3 {
            match be.assign(None, None) {
                Assign::Queued(rx) => waiters.push(rx),
                _ => panic!("a full server must queue"),
            }
        }
        assert_eq!(be.queue_lengths().0, 3);
        be.release(&first);
        // The oldest waiter got the slot; the others still wait.
        let mut got = waiters.remove(0);
        assert!(got.try_recv().is_ok());
        for w in waiters.iter_mut() {
            assert!(w.try_recv().is_err());
        }
        assert_eq!(be.servers[0].cur.load(Relaxed), 1);
        // A waiter that gave up is skipped.
        drop(waiters.remove(0));
        be.release(&be.servers[0].clone());
        assert!(waiters[0].try_recv().is_ok());
    }
}
