//! `peers` sections at run time: HAProxy's peers protocol 2.1 (handshake and status codes,
//! framing, encoded integers, table definitions, entry updates, acks, heartbeats), one
//! session per remote peer (tokio tasks, reconnects, newest connection wins), the resync on
//! start (from the old process on reload, then from the peers) and the hand-over at soft stop.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::{DataType, Key, KeyType, Table, now_ms};

const HEARTBEAT: Duration = Duration::from_secs(3);
/// A session that received nothing for this long is dead (HAProxy's peers do the same).
const IDLE: Duration = Duration::from_secs(5);
/// How long a new process waits for the old one to teach it, and then for a peer.
const RESYNC_WAIT: Duration = Duration::from_secs(5);
const MAX_MSG: usize = 1 << 16;
const HELLO: &str = "HAProxyS 2.1";

// Message classes and types.
const CTRL: u8 = 0;
const ERROR: u8 = 1;
const STKT: u8 = 10;
const RESYNC_REQ: u8 = 0;
const RESYNC_FINISHED: u8 = 1;
const RESYNC_PARTIAL: u8 = 2;
const RESYNC_CONFIRM: u8 = 3;
const HEARTBEAT_MSG: u8 = 4;
const ERR_PROTO: u8 = 0;
const ERR_SIZE: u8 = 1;
const UPDATE: u8 = 0x80;
const INC_UPDATE: u8 = 0x81;
const DEFINE: u8 = 0x82;
const SWITCH: u8 = 0x83;
const ACK: u8 = 0x84;
const UPDATE_TIMED: u8 = 0x85;
const INC_UPDATE_TIMED: u8 = 0x86;

/// Appends `v` as the protocol encodes integers (1 to 10 bytes, small values in one).
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < 240 {
        out.push(v as u8);
        return;
    }
    out.push((v as u8) | 240);
    let mut v = (v - 240) >> 4;
    while v >= 128 {
        out.push((v as u8) | 128);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
}

/// Reads an encoded integer at `*pos` (None when truncated or too large).
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let b = *buf.get(*pos)?;
    *pos += 1;
    let mut v = u64::from(b);
    if v < 240 {
        return Some(v);
    }
    let mut shift = 4u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift > 60 {
            return None;
        }
        v = v.checked_add(u64::from(b) << shift)?;
        shift += 7;
        if b < 128 {
            return Some(v);
        }
    }
}

fn get_u32(buf: &[u8], pos: &mut usize) -> Option<u32> {
    let b = buf.get(*pos..*pos + 4)?;
    *pos += 4;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The wire code of a key type and the key length a definition announces.
fn key_wire(k: KeyType) -> (u64, u64) {
    match k {
        KeyType::Integer => (2, 4),
        KeyType::Ip => (4, 4),
        KeyType::Ipv6 => (5, 16),
        // Strings count their terminating NUL.
        KeyType::String(l) => (6, l as u64 + 1),
        KeyType::Binary(l) => (7, l as u64),
    }
}

/// The data type with wire id `id` (its position in HAProxy's list).
fn data_type(id: u64) -> Option<DataType> {
    DataType::ALL.get(usize::try_from(id).ok()?).copied()
}

fn wire_id(t: DataType) -> u64 {
    t as u64
}

/// Where a table queues the keys that local traffic changed.
pub struct Hook {
    tx: mpsc::UnboundedSender<(u16, Key)>,
    idx: u16,
}

impl Hook {
    #[inline]
    pub fn notify(&self, key: &Key) {
        let _ = self.tx.send((self.idx, key.clone()));
    }
}

/// Recent local updates of a table, numbered: sessions send those after their cursor.
struct Log {
    next: u32,
    ring: VecDeque<(u32, Key)>,
    latest: HashMap<Key, u32>,
    cap: usize,
}

impl Log {
    fn push(&mut self, key: Key) {
        let id = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.latest.insert(key.clone(), id);
        self.ring.push_back((id, key));
        while self.ring.len() > self.cap {
            if let Some((old, k)) = self.ring.pop_front()
                && self.latest.get(&k) == Some(&old)
            {
                self.latest.remove(&k);
            }
        }
    }

    /// Keys updated after `cursor` (each once, at its latest update), at most `max`, and
    /// the new cursor.
    fn after(&self, cursor: u32, max: usize) -> (Vec<(u32, Key)>, u32) {
        let Some(&(first, _)) = self.ring.front() else {
            return (Vec::new(), cursor);
        };
        let start = (cursor.wrapping_add(1).wrapping_sub(first) as usize).min(self.ring.len());
        let mut out = Vec::new();
        let mut last = cursor;
        for (id, k) in self.ring.iter().skip(start) {
            if out.len() >= max {
                break;
            }
            last = *id;
            if self.latest.get(k) == Some(id) {
                out.push((*id, k.clone()));
            }
        }
        (out, last)
    }
}

struct TableSync {
    table: Arc<Table>,
    /// The name the table has on the wire (`/NAME` for a table of a peers section).
    wire: String,
    log: Mutex<Log>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `peers` section this process belongs to.
pub struct Section {
    pub name: String,
    local: String,
    local_addr: Option<String>,
    remotes: Vec<(String, String)>,
    /// `shards N` and each remote peer's `shard` (absent or 0: all keys).
    shards: u32,
    shard_of_peer: HashMap<String, u32>,
    tables: Vec<TableSync>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(u16, Key)>>>,
    max_updates: usize,
    /// Whether this process considers its tables complete (answers "finished").
    resync_done: AtomicBool,
    /// Still waiting for the old process to teach us (reload).
    local_wait: AtomicBool,
    updates: watch::Sender<u64>,
    stopping: watch::Sender<bool>,
    /// The session of each remote peer, and how to end it.
    active: Mutex<HashMap<String, (u64, Arc<Notify>)>>,
    /// Per peer and table, the last update sent on a session that ended.
    resume: Mutex<HashMap<(String, usize), u32>>,
    next_gen: AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Section {
    /// A section where this process is peer `local`, synchronising `tables` (with their
    /// wire names). Each table is told where to queue its changes.
    pub fn new(
        conf: &halo_config::peers::PeersSection,
        local: &str,
        tables: Vec<(Arc<Table>, String)>,
        max_updates: Option<u32>,
    ) -> Arc<Section> {
        let (tx, rx) = mpsc::unbounded_channel();
        let tables: Vec<TableSync> = tables
            .into_iter()
            .enumerate()
            .map(|(i, (t, wire))| {
                t.set_peers(Hook {
                    tx: tx.clone(),
                    idx: i as u16,
                });
                let cap = t.conf.size.clamp(1024, 1 << 20);
                TableSync {
                    table: t,
                    wire,
                    log: Mutex::new(Log {
                        next: 1,
                        ring: VecDeque::new(),
                        latest: HashMap::new(),
                        cap,
                    }),
                }
            })
            .collect();
        Arc::new(Section {
            name: conf.name.clone(),
            local: local.to_string(),
            local_addr: conf.local_addr(local),
            remotes: conf
                .peers
                .iter()
                .filter(|p| p.name != local)
                .filter_map(|p| Some((p.name.clone(), p.addr.clone()?)))
                .collect(),
            shards: conf.shards,
            shard_of_peer: conf
                .peers
                .iter()
                .filter(|p| p.name != local && p.shard > 0 && p.shard <= conf.shards)
                .map(|p| (p.name.clone(), p.shard))
                .collect(),
            tables,
            rx: Mutex::new(Some(rx)),
            max_updates: max_updates.unwrap_or(200).max(1) as usize,
            resync_done: AtomicBool::new(false),
            local_wait: AtomicBool::new(false),
            updates: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
            active: Mutex::new(HashMap::new()),
            resume: Mutex::new(HashMap::new()),
            next_gen: AtomicU64::new(1),

            listener: Mutex::new(None),
        })
    }

    /// Whether the updates of `key` go to this session's peer: all of them, unless the
    /// section has `shards` and the peer a `shard`, which then gets the keys of its shard
    /// only (shard = xxh32 of the key's bytes modulo `shards`, plus one).
    fn sends_to(&self, kind: &Kind, key: &Key) -> bool {
        if self.shard_of_peer.is_empty() {
            return true;
        }
        let Kind::Remote(name) = kind else {
            return true;
        };
        let Some(&shard) = self.shard_of_peer.get(name) else {
            return true;
        };
        let bytes: std::borrow::Cow<'_, [u8]> = match key {
            Key::V4(b) => b[..].into(),
            Key::V6(b) => b[..].into(),
            Key::Int(i) => i.to_be_bytes().to_vec().into(),
            Key::Bytes(b) => b[..].into(),
        };
        xxhash_rust::xxh32::xxh32(&bytes, 0) % self.shards + 1 == shard
    }

    fn knows(&self, name: &str) -> bool {
        name == self.local || self.remotes.iter().any(|(n, _)| n == name)
    }

    /// Starts the section: the listener, a connector per remote peer, the update log and
    /// the resync timers. `reloading`: an old process (-sf/-st) will teach us first.
    pub fn start(self: &Arc<Self>, reloading: bool, quiet: bool) {
        if let Some(rx) = lock(&self.rx).take() {
            tokio::spawn(hub(self.clone(), rx));
        }
        if let Some(addr) = &self.local_addr {
            match bind(addr) {
                Ok(l) => {
                    let h = tokio::spawn(accept_loop(self.clone(), l));
                    *lock(&self.listener) = Some(h);
                }
                Err(e) => crate::runtime::log::alert(
                    &format!(
                        "Peers section '{}': cannot bind local peer '{}' on {addr}: {e}",
                        self.name, self.local
                    ),
                    quiet,
                ),
            }
        }
        self.local_wait.store(reloading, Relaxed);
        let me = self.clone();
        tokio::spawn(async move {
            if reloading {
                sleep(RESYNC_WAIT).await;
                me.local_wait.store(false, Relaxed);
                me.updates.send_modify(|v| *v += 1);
            }
            sleep(RESYNC_WAIT).await;
            me.resync_done.store(true, Relaxed);
        });
        for (i, (name, addr)) in self.remotes.iter().enumerate() {
            tokio::spawn(connector(self.clone(), name.clone(), addr.clone(), i));
        }
    }

    /// Soft stop: close the listener and the sessions, then teach the whole tables to the
    /// new process listening on the local peer's address (bounded in time).
    pub async fn soft_stop(self: &Arc<Self>) {
        self.stopping.send_replace(true);
        let h = lock(&self.listener).take();
        if let Some(h) = h {
            h.abort();
            let _ = h.await;
        }
        let Some(addr) = self.local_addr.clone() else {
            return;
        };
        let me = self.clone();
        let _ = timeout(Duration::from_secs(5), async move {
            let Ok(Some(s)) = dial(&addr, &me.local, &me.local).await else {
                return;
            };
            let mut sess = Session::new(me.clone(), Kind::NewProcess, Arc::new(Notify::new()));
            let _ = sess.run(s, Vec::new()).await;
        })
        .await;
    }
}

fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let sa = resolve(addr)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad address"))?;
    let domain = if sa.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&sa.into())?;
    s.listen(128)?;
    TcpListener::from_std(s.into())
}

fn resolve(addr: &str) -> Option<SocketAddr> {
    let a = addr.strip_prefix("ipv4@").unwrap_or(addr);
    let a = a.strip_prefix("ipv6@").unwrap_or(a);
    let a = if a.starts_with(':') {
        format!("0.0.0.0{a}")
    } else {
        a.to_string()
    };
    a.to_socket_addrs().ok()?.next()
}

/// Moves the queued changes into each table's log and wakes the sessions.
async fn hub(sec: Arc<Section>, mut rx: mpsc::UnboundedReceiver<(u16, Key)>) {
    let mut batch = Vec::new();
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, 4096).await == 0 {
            return;
        }
        for (i, k) in batch.drain(..) {
            if let Some(t) = sec.tables.get(i as usize) {
                lock(&t.log).push(k);
            }
        }
        sec.updates.send_modify(|v| *v += 1);
    }
}

async fn accept_loop(sec: Arc<Section>, l: TcpListener) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            sleep(Duration::from_millis(50)).await;
            continue;
        };
        let sec = sec.clone();
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            incoming(sec, s).await;
        });
    }
}

/// Checks the three lines of a hello as they arrive; the status code to answer, or the
/// sender's name.
fn check_hello(sec: &Section, lines: &[&[u8]]) -> Result<Option<String>, u16> {
    if let Some(l) = lines.first() {
        let l = std::str::from_utf8(l).map_err(|_| 501u16)?;
        let (proto, ver) = l.split_once(' ').ok_or(501u16)?;
        if proto != "HAProxyS" {
            return Err(501);
        }
        let (maj, min) = ver.split_once('.').ok_or(502u16)?;
        let ok = maj == "2" && min.parse::<u32>().is_ok_and(|m| m <= 1);
        if !ok {
            return Err(502);
        }
    }
    if let Some(l) = lines.get(1)
        && *l != sec.local.as_bytes()
    {
        return Err(503);
    }
    if let Some(l) = lines.get(2) {
        let l = std::str::from_utf8(l).map_err(|_| 501u16)?;
        let mut w = l.split(' ');
        let name = w.next().unwrap_or("");
        if w.next().is_none_or(|pid| pid.is_empty()) {
            return Err(501);
        }
        if !sec.knows(name) {
            return Err(504);
        }
        return Ok(Some(name.to_string()));
    }
    Ok(None)
}

async fn incoming(sec: Arc<Section>, mut s: TcpStream) {
    let mut buf = Vec::new();
    let deadline = Instant::now() + IDLE;
    let name = loop {
        let lines: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
        let complete = &lines[..lines.len() - 1];
        match check_hello(&sec, complete) {
            Err(code) => {
                let _ = s.write_all(format!("{code}\n").as_bytes()).await;
                return;
            }
            Ok(Some(n)) => break n,
            Ok(None) => {}
        }
        if buf.len() > 1024 {
            let _ = s.write_all(b"501\n").await;
            return;
        }
        let mut chunk = [0u8; 512];
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            s.read(&mut chunk),
        )
        .await
        {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    // Bytes after the hello belong to the session.
    let mut rest = Vec::new();
    let mut seen = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == 3 {
                rest = buf[i + 1..].to_vec();
                break;
            }
        }
    }
    if *sec.stopping.borrow() {
        let _ = s.write_all(b"300\n").await;
        return;
    }
    if s.write_all(b"200\n").await.is_err() {
        return;
    }
    if name == sec.local {
        let mut sess = Session::new(sec.clone(), Kind::OldProcess, Arc::new(Notify::new()));
        let _ = sess.run(s, rest).await;
        return;
    }
    run_registered(sec, name, s, rest).await;
}

/// Runs a session with remote peer `name`, ending the one it replaces.
async fn run_registered(sec: Arc<Section>, name: String, s: TcpStream, rest: Vec<u8>) {
    let kill = Arc::new(Notify::new());
    let generation = sec.next_gen.fetch_add(1, Relaxed);
    if let Some((_, old)) = lock(&sec.active).insert(name.clone(), (generation, kill.clone())) {
        old.notify_one();
    }
    let mut sess = Session::new(sec.clone(), Kind::Remote(name.clone()), kill);
    let _ = sess.run(s, rest).await;
    let mut a = lock(&sec.active);
    if a.get(&name).is_some_and(|(g, _)| *g == generation) {
        a.remove(&name);
    }
}

/// Connects to `addr` and says hello as `local` to `remote`: the stream once accepted.
async fn dial(addr: &str, remote: &str, local: &str) -> std::io::Result<Option<TcpStream>> {
    let sa = resolve(addr)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad address"))?;
    let mut s = timeout(IDLE, TcpStream::connect(sa))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = s.set_nodelay(true);
    let hello = format!("{HELLO}\n{remote}\n{local} {} 1\n", std::process::id());
    s.write_all(hello.as_bytes()).await?;
    // The status line, read byte by byte so that nothing after it is consumed.
    let mut line = Vec::new();
    let read = async {
        loop {
            let b = s.read_u8().await?;
            if b == b'\n' || line.len() > 16 {
                return Ok::<(), std::io::Error>(());
            }
            line.push(b);
        }
    };
    timeout(IDLE, read)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok((line == b"200").then_some(s))
}

async fn connector(sec: Arc<Section>, name: String, addr: String, i: usize) {
    let mut stop = sec.stopping.subscribe();
    sleep(Duration::from_millis(fastrand::u64(0..200) + 10 * i as u64)).await;
    loop {
        if *stop.borrow() {
            return;
        }
        let busy = lock(&sec.active).contains_key(&name);
        if !busy && let Ok(Some(s)) = dial(&addr, &name, &sec.local).await {
            run_registered(sec.clone(), name.clone(), s, Vec::new()).await;
        }
        tokio::select! {
            _ = sleep(Duration::from_millis(1000 + fastrand::u64(0..1000))) => {}
            _ = stop.changed() => {}
        }
    }
}

enum Kind {
    Remote(String),
    /// The old process teaching us its tables (reload).
    OldProcess,
    /// We are the old process teaching the new one.
    NewProcess,
}

/// A table as the other side defined it.
struct RemoteTable {
    local: Option<usize>,
    key: u64,
    keylen: usize,
    schema: Vec<(DataType, usize)>,
    last_id: u32,
}

enum Value {
    Int(u64),
    Rate(u64, u64, u64),
    Dict(Option<String>),
}

struct Session {
    sec: Arc<Section>,
    kind: Kind,
    kill: Arc<Notify>,
    out: Vec<u8>,
    // Receiving.
    remote: HashMap<u64, RemoteTable>,
    current: Option<u64>,
    dict_in: HashMap<u64, String>,
    acks: Vec<u64>,
    // Sending.
    cursors: Vec<u32>,
    defined: Vec<bool>,
    selected: Option<usize>,
    dict_out: HashMap<String, u64>,
    dict_ids: Vec<Option<String>>,
    dict_next: usize,
    teach_id: u32,
    done: bool,
}

impl Session {
    fn new(sec: Arc<Section>, kind: Kind, kill: Arc<Notify>) -> Session {
        let n = sec.tables.len();
        let cursors = sec
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let log = lock(&t.log);
                let now = log.next.wrapping_sub(1);
                match &kind {
                    Kind::Remote(name) => {
                        // Resume after the last update sent to this peer, if still logged.
                        let r = lock(&sec.resume).get(&(name.clone(), i)).copied();
                        match (r, log.ring.front()) {
                            (Some(r), Some(&(first, _))) if r.wrapping_add(1) >= first => r,
                            _ => now,
                        }
                    }
                    _ => now,
                }
            })
            .collect();
        Session {
            sec,
            kind,
            kill,
            out: Vec::new(),
            remote: HashMap::new(),
            current: None,
            dict_in: HashMap::new(),
            acks: Vec::new(),
            cursors,
            defined: vec![false; n],
            selected: None,
            dict_out: HashMap::new(),
            dict_ids: vec![None; 128],
            dict_next: 0,
            teach_id: 0,
            done: false,
        }
    }

    fn msg(&mut self, class: u8, ty: u8, body: &[u8]) {
        self.out.push(class);
        self.out.push(ty);
        if ty >= 128 {
            put_varint(&mut self.out, body.len() as u64);
            self.out.extend_from_slice(body);
        }
    }

    async fn flush(&mut self, w: &mut tokio::net::tcp::OwnedWriteHalf) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        timeout(IDLE, w.write_all(&out))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    fn wants_resync(&self) -> bool {
        matches!(self.kind, Kind::Remote(_))
            && !self.sec.resync_done.load(Relaxed)
            && !self.sec.local_wait.load(Relaxed)
    }

    async fn run(&mut self, s: TcpStream, mut buf: Vec<u8>) -> std::io::Result<()> {
        let (mut r, mut w) = s.into_split();
        let mut updates = self.sec.updates.subscribe();
        let mut stop = self.sec.stopping.subscribe();
        let mut asked = false;
        if let Kind::NewProcess = self.kind {
            self.teach_all();
            self.msg(CTRL, RESYNC_FINISHED, &[]);
        } else if self.wants_resync() {
            self.msg(CTRL, RESYNC_REQ, &[]);
            asked = true;
        }
        self.flush(&mut w).await?;
        let mut last_rx = Instant::now();
        let mut next_hb = Instant::now() + HEARTBEAT;
        let mut chunk = vec![0u8; 16384];
        let res = loop {
            if !self.out.is_empty() {
                next_hb = Instant::now() + HEARTBEAT;
            }
            if let Err(e) = self.flush(&mut w).await {
                break Err(e);
            }
            if self.done {
                break Ok(());
            }
            let is_new = matches!(self.kind, Kind::NewProcess);
            tokio::select! {
                n = r.read(&mut chunk) => {
                    let n = match n { Ok(0) => break Ok(()), Ok(n) => n, Err(e) => break Err(e) };
                    last_rx = Instant::now();
                    buf.extend_from_slice(&chunk[..n]);
                    if !self.handle(&mut buf) {
                        let _ = self.flush(&mut w).await;
                        break Ok(());
                    }
                    self.send_acks();
                }
                _ = updates.changed(), if !is_new => {
                    if !asked && self.wants_resync() {
                        self.msg(CTRL, RESYNC_REQ, &[]);
                        asked = true;
                    }
                    self.teach_updates();
                    if self.has_more() {
                        updates.mark_changed();
                    }
                }
                _ = sleep_until(next_hb) => {
                    self.msg(CTRL, HEARTBEAT_MSG, &[]);
                }
                _ = sleep_until(last_rx + IDLE) => break Ok(()),
                _ = stop.changed(), if !is_new => break Ok(()),
                _ = self.kill.notified() => break Ok(()),
            }
        };
        if let Kind::Remote(name) = &self.kind {
            let mut resume = lock(&self.sec.resume);
            for (i, c) in self.cursors.iter().enumerate() {
                resume.insert((name.clone(), i), *c);
            }
        }
        res
    }

    fn has_more(&self) -> bool {
        self.sec
            .tables
            .iter()
            .zip(&self.cursors)
            .any(|(t, c)| lock(&t.log).next.wrapping_sub(1) != *c)
    }

    fn select_table(&mut self, i: usize) {
        if self.selected == Some(i) {
            return;
        }
        self.selected = Some(i);
        let mut b = Vec::new();
        put_varint(&mut b, i as u64 + 1);
        if self.defined[i] {
            self.msg(STKT, SWITCH, &b);
            return;
        }
        self.defined[i] = true;
        let t = &self.sec.tables[i];
        let conf = &t.table.conf;
        put_varint(&mut b, t.wire.len() as u64);
        b.extend_from_slice(t.wire.as_bytes());
        let (kt, kl) = key_wire(conf.key);
        put_varint(&mut b, kt);
        put_varint(&mut b, kl);
        let bits = conf
            .columns
            .iter()
            .fold(0u64, |a, c| a | 1 << wire_id(c.ty));
        put_varint(&mut b, bits);
        put_varint(&mut b, conf.expire.unwrap_or(0));
        for c in &conf.columns {
            if c.ty.is_array() || c.ty.is_rate() {
                put_varint(&mut b, wire_id(c.ty));
                if c.ty.is_array() {
                    put_varint(&mut b, c.count as u64);
                }
                if c.ty.is_rate() {
                    put_varint(&mut b, c.period);
                }
            }
        }
        self.msg(STKT, DEFINE, &b);
    }

    /// One update message for `key` of table `i` (nothing when the entry is gone).
    fn send_entry(&mut self, i: usize, id: u32, key: &Key, timed: bool) {
        let sec = self.sec.clone();
        let t = &sec.tables[i];
        let mut dict: Vec<Option<String>> = Vec::new();
        let Some((vals, exp)) = t.table.with(key, |e| {
            let mut vals: Vec<Value> = Vec::new();
            for c in &t.table.conf.columns {
                for n in 0..c.count {
                    if c.ty.is_rate() {
                        let (cur, prev, tick) = e.rate_raw(c.ty, n).unwrap_or((0, 0, 0));
                        let elapsed = if tick == 0 {
                            0
                        } else {
                            now_ms().saturating_sub(tick).min(1 << 31)
                        };
                        vals.push(Value::Rate(elapsed, cur, prev));
                    } else if c.ty == DataType::ServerKey {
                        dict.push(e.server_key().map(str::to_string));
                        vals.push(Value::Dict(None));
                    } else {
                        vals.push(Value::Int(e.get_at(c.ty, n).unwrap_or(0)));
                    }
                }
            }
            (vals, e.expires_in())
        }) else {
            return;
        };
        self.select_table(i);
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        if timed {
            b.extend_from_slice(&(exp.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        }
        match key {
            Key::V4(o) => b.extend_from_slice(o),
            Key::V6(o) => b.extend_from_slice(o),
            Key::Int(n) => b.extend_from_slice(&n.to_be_bytes()),
            Key::Bytes(k) => match t.table.conf.key {
                KeyType::String(_) => {
                    put_varint(&mut b, k.len() as u64);
                    b.extend_from_slice(k);
                }
                KeyType::Binary(l) => {
                    let mut k = k.to_vec();
                    k.resize(l, 0);
                    b.extend_from_slice(&k);
                }
                _ => return,
            },
        }
        let mut dict = dict.into_iter();
        for v in vals {
            match v {
                Value::Int(n) => put_varint(&mut b, n),
                Value::Rate(e, c, p) => {
                    put_varint(&mut b, e);
                    put_varint(&mut b, c);
                    put_varint(&mut b, p);
                }
                Value::Dict(_) => match dict.next().flatten() {
                    None => put_varint(&mut b, 0),
                    Some(s) => {
                        let mut d = Vec::new();
                        if let Some(&id) = self.dict_out.get(&s) {
                            put_varint(&mut d, id);
                        } else {
                            let slot = self.dict_next;
                            self.dict_next = (slot + 1) % self.dict_ids.len();
                            if let Some(old) = self.dict_ids[slot].replace(s.clone()) {
                                self.dict_out.remove(&old);
                            }
                            self.dict_out.insert(s.clone(), slot as u64 + 1);
                            put_varint(&mut d, slot as u64 + 1);
                            put_varint(&mut d, s.len() as u64);
                            d.extend_from_slice(s.as_bytes());
                        }
                        put_varint(&mut b, d.len() as u64);
                        b.extend_from_slice(&d);
                    }
                },
            }
        }
        self.msg(STKT, if timed { UPDATE_TIMED } else { UPDATE }, &b);
    }

    /// The local updates since the last call (a batch of `max-updates-at-once` per table).
    fn teach_updates(&mut self) {
        if matches!(self.kind, Kind::OldProcess) {
            return;
        }
        for i in 0..self.sec.tables.len() {
            let (keys, cur) =
                lock(&self.sec.tables[i].log).after(self.cursors[i], self.sec.max_updates);
            self.cursors[i] = cur;
            for (id, k) in keys {
                if self.sec.sends_to(&self.kind, &k) {
                    self.send_entry(i, id, &k, false);
                }
            }
        }
    }

    /// Every entry of every table (an answer to a resync request, or the hand-over).
    fn teach_all(&mut self) {
        for i in 0..self.sec.tables.len() {
            self.cursors[i] = lock(&self.sec.tables[i].log).next.wrapping_sub(1);
            let mut keys = Vec::new();
            self.sec.tables[i]
                .table
                .for_each_key(|k| keys.push(k.clone()));
            for k in keys {
                if !self.sec.sends_to(&self.kind, &k) {
                    continue;
                }
                self.teach_id = self.teach_id.wrapping_add(1);
                self.send_entry(i, self.teach_id, &k, true);
            }
        }
    }

    fn send_acks(&mut self) {
        for id in std::mem::take(&mut self.acks) {
            if let Some(rt) = self.remote.get(&id) {
                let mut b = Vec::new();
                put_varint(&mut b, id);
                b.extend_from_slice(&rt.last_id.to_be_bytes());
                self.msg(STKT, ACK, &b);
            }
        }
    }

    /// Handles the complete messages in `buf`; false to end the session.
    fn handle(&mut self, buf: &mut Vec<u8>) -> bool {
        let mut pos = 0;
        let ok = loop {
            if buf.len() - pos < 2 {
                break true;
            }
            let (class, ty) = (buf[pos], buf[pos + 1]);
            let mut p = pos + 2;
            let body = if ty >= 128 {
                let Some(len) = get_varint(buf, &mut p) else {
                    if buf.len() - pos > 12 {
                        self.msg(ERROR, ERR_PROTO, &[]);
                        break false;
                    }
                    break true;
                };
                if len as usize > MAX_MSG {
                    self.msg(ERROR, ERR_SIZE, &[]);
                    break false;
                }
                if buf.len() < p + len as usize {
                    break true;
                }
                let b = buf[p..p + len as usize].to_vec();
                p += len as usize;
                b
            } else {
                Vec::new()
            };
            pos = p;
            if !self.message(class, ty, &body) {
                break false;
            }
        };
        buf.drain(..pos);
        ok
    }

    fn message(&mut self, class: u8, ty: u8, body: &[u8]) -> bool {
        match (class, ty) {
            (CTRL, RESYNC_REQ) => {
                self.teach_all();
                let done = self.sec.resync_done.load(Relaxed);
                self.msg(
                    CTRL,
                    if done {
                        RESYNC_FINISHED
                    } else {
                        RESYNC_PARTIAL
                    },
                    &[],
                );
            }
            (CTRL, RESYNC_FINISHED) | (CTRL, RESYNC_PARTIAL) => {
                self.msg(CTRL, RESYNC_CONFIRM, &[]);
                if ty == RESYNC_FINISHED {
                    self.sec.resync_done.store(true, Relaxed);
                }
                if matches!(self.kind, Kind::OldProcess) {
                    self.sec.local_wait.store(false, Relaxed);
                    self.sec.updates.send_modify(|v| *v += 1);
                }
            }
            (CTRL, RESYNC_CONFIRM) => {
                if matches!(self.kind, Kind::NewProcess) {
                    self.done = true;
                }
            }
            (CTRL, HEARTBEAT_MSG) => {}
            (ERROR, _) => return false,
            (STKT, DEFINE) => self.define(body),
            (STKT, SWITCH) => {
                let mut p = 0;
                self.current = get_varint(body, &mut p).filter(|id| self.remote.contains_key(id));
            }
            (STKT, ACK) => {}
            (STKT, UPDATE | INC_UPDATE | UPDATE_TIMED | INC_UPDATE_TIMED) => {
                if self.update(ty, body).is_none() {
                    self.msg(ERROR, ERR_PROTO, &[]);
                    return false;
                }
            }
            _ if ty >= 128 => {}
            _ => {
                self.msg(ERROR, ERR_PROTO, &[]);
                return false;
            }
        }
        true
    }

    fn define(&mut self, b: &[u8]) {
        let parse = || -> Option<(u64, RemoteTable)> {
            let mut p = 0;
            let id = get_varint(b, &mut p)?;
            let nl = get_varint(b, &mut p)? as usize;
            let name = b.get(p..p.checked_add(nl)?)?;
            p += nl;
            let key = get_varint(b, &mut p)?;
            let keylen = get_varint(b, &mut p)? as usize;
            let bits = get_varint(b, &mut p)?;
            let _expire = get_varint(b, &mut p)?;
            let mut counts: HashMap<u64, usize> = HashMap::new();
            while p < b.len() {
                let t = get_varint(b, &mut p)?;
                let ty = data_type(t)?;
                if ty.is_array() {
                    counts.insert(t, get_varint(b, &mut p)? as usize);
                }
                if ty.is_rate() {
                    get_varint(b, &mut p)?;
                }
            }
            let mut schema = Vec::new();
            for bit in 0..64u64 {
                if bits & (1 << bit) != 0 {
                    let ty = data_type(bit)?;
                    let n = counts.get(&bit).copied().unwrap_or(1);
                    schema.push((ty, n.min(halo_config::stick::MAX_ARRAY)));
                }
            }
            let local = self.sec.tables.iter().position(|t| {
                t.wire.as_bytes() == name && key_wire(t.table.conf.key) == (key, keylen as u64)
            });
            Some((
                id,
                RemoteTable {
                    local,
                    key,
                    keylen,
                    schema,
                    last_id: 0,
                },
            ))
        };
        match parse() {
            Some((id, rt)) => {
                self.remote.insert(id, rt);
                self.current = Some(id);
            }
            None => self.current = None,
        }
    }

    /// Applies an update message; None when it cannot be parsed.
    fn update(&mut self, ty: u8, b: &[u8]) -> Option<()> {
        let Some(cur) = self.current else {
            return Some(());
        };
        let rt = self.remote.get(&cur)?;
        let mut p = 0;
        let id = if ty == UPDATE || ty == UPDATE_TIMED {
            get_u32(b, &mut p)?
        } else {
            rt.last_id.wrapping_add(1)
        };
        let expire = if ty == UPDATE_TIMED || ty == INC_UPDATE_TIMED {
            Some(u64::from(get_u32(b, &mut p)?))
        } else {
            None
        };
        let key = match rt.key {
            2 => Key::Int(get_u32(b, &mut p)?),
            4 => {
                let k = b.get(p..p + 4)?;
                p += 4;
                Key::V4([k[0], k[1], k[2], k[3]])
            }
            5 => {
                let k = b.get(p..p + 16)?;
                p += 16;
                let mut o = [0u8; 16];
                o.copy_from_slice(k);
                Key::V6(o)
            }
            6 => {
                let n = get_varint(b, &mut p)? as usize;
                let k = b.get(p..p.checked_add(n)?)?;
                p += n;
                Key::Bytes(k.into())
            }
            7 => {
                let k = b.get(p..p.checked_add(rt.keylen)?)?;
                p += rt.keylen;
                Key::Bytes(k.into())
            }
            _ => return None,
        };
        let mut vals: Vec<(DataType, usize, Value)> = Vec::new();
        for &(dt, n) in &rt.schema {
            for idx in 0..n {
                let v = if dt.is_rate() {
                    let e = get_varint(b, &mut p)?;
                    let c = get_varint(b, &mut p)?;
                    let pr = get_varint(b, &mut p)?;
                    Value::Rate(e, c, pr)
                } else if dt == DataType::ServerKey {
                    let len = get_varint(b, &mut p)? as usize;
                    if len == 0 {
                        Value::Dict(None)
                    } else {
                        let end = p.checked_add(len)?;
                        let d = b.get(p..end)?;
                        let mut q = 0;
                        let did = get_varint(d, &mut q)?;
                        if q < d.len() {
                            let sl = get_varint(d, &mut q)? as usize;
                            let s = d.get(q..q.checked_add(sl)?)?;
                            self.dict_in
                                .insert(did, String::from_utf8_lossy(s).into_owned());
                        }
                        p = end;
                        Value::Dict(self.dict_in.get(&did).cloned())
                    }
                } else {
                    Value::Int(get_varint(b, &mut p)?)
                };
                vals.push((dt, idx, v));
            }
        }
        let local = rt.local;
        if let Some(r) = self.remote.get_mut(&cur) {
            r.last_id = id;
        }
        if !self.acks.contains(&cur) {
            self.acks.push(cur);
        }
        let Some(li) = local else {
            return Some(());
        };
        let t = self.sec.tables[li].table.clone();
        let now = now_ms();
        let table_expire = t.conf.expire.unwrap_or(0);
        t.upsert(&key, |e| {
            if let Some(ms) = expire.filter(|&ms| ms > 0) {
                e.set_expires_in(ms.min(table_expire));
            }
            for (dt, idx, v) in vals {
                match v {
                    Value::Int(n) => {
                        if t.stores_at(dt, idx) {
                            e.set_at(dt, idx, n)
                        }
                    }
                    Value::Rate(el, c, pr) => {
                        let tick = now.saturating_sub(el).max(1);
                        e.set_rate_raw(dt, idx, (c, pr, tick));
                    }
                    Value::Dict(Some(s)) => e.set_server_key(&s),
                    Value::Dict(None) => {}
                }
            }
        });
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_haproxy() {
        for (v, bytes) in [
            (0u64, vec![0u8]),
            (239, vec![0xef]),
            (600000, vec![0xf0, 0xed, 0xa3, 0x01]),
            (5000, vec![0xf8, 0xa9, 0x01]),
            (512, vec![0xf0, 0x11]),
            (524289, vec![0xf1, 0xf1, 0xfe, 0x00]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            let mut p = 0;
            assert_eq!(get_varint(&bytes, &mut p), Some(v));
            assert_eq!(p, bytes.len());
        }
        for v in [
            240u64,
            2287,
            2288,
            264431,
            264432,
            u32::MAX as u64,
            u64::MAX >> 8,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut p = 0;
            assert_eq!(get_varint(&out, &mut p), Some(v));
        }
        assert_eq!(get_varint(&[0xf0], &mut 0), None);
    }
}
