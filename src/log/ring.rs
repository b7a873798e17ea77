//! Rings (`ring` sections): bounded in-memory buffers of messages, the oldest overwritten
//! when full; `log ring@NAME` writes to them, `show events` reads them, and each `server`
//! of a ring receives its messages over TCP syslog (legacy or octet-count framing).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halo_config::logs::LogFraming;
use halo_config::rings::{LogProto, RingSection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes a message costs in a ring beyond its text (HAProxy stores a readers count and
/// the length before each message).
const OVERHEAD: usize = 2;

/// The name of HAProxy's built-in ring.
pub const BUF0: &str = "buf0";

/// One ring.
#[derive(Debug)]
pub struct Ring {
    pub name: String,
    /// `description`, or the name.
    pub description: String,
    /// How messages are stored (`format`).
    pub format: LogFraming,
    /// Longest message kept, header included (longer ones are cut).
    pub maxlen: usize,
    /// Bytes the ring holds.
    pub size: usize,
    /// Messages that could not be stored, or that a server lost because the ring turned
    /// over before it could send them (`show events`: `dropped`).
    pub dropped: AtomicU64,
    buf: Mutex<Buf>,
    /// Woken at each new message (`show events -w`, servers).
    notify: tokio::sync::Notify,
    servers: Vec<Server>,
    timeout_connect: Option<u64>,
    timeout_server: Option<u64>,
}

#[derive(Debug, Clone)]
struct Server {
    addr: SocketAddr,
    proto: LogProto,
}

#[derive(Debug, Default)]
struct Buf {
    msgs: VecDeque<Arc<[u8]>>,
    /// The sequence number of the oldest message kept.
    first: u64,
    bytes: usize,
}

/// What a reader gets from [`Ring::read`].
pub struct Read {
    pub msgs: Vec<Arc<[u8]>>,
    /// Where the next read starts.
    pub next: u64,
    /// Messages gone before the reader got them.
    pub lost: u64,
}

impl Ring {
    /// The ring of a section; `bufsize` is the default of `size` and `maxlen`. Errors name
    /// the server whose address does not resolve.
    pub fn new(r: &RingSection, bufsize: usize) -> Result<Ring, String> {
        let mut servers = Vec::new();
        for s in &r.servers {
            use std::net::ToSocketAddrs;
            let addr = s
                .addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| {
                    format!(
                        "ring '{}' : could not resolve address '{}' of server '{}'",
                        r.name, s.addr, s.name
                    )
                })?;
            servers.push(Server {
                addr,
                proto: s.proto,
            });
        }
        Ok(Ring::build(r, bufsize, servers))
    }

    fn build(r: &RingSection, bufsize: usize, servers: Vec<Server>) -> Ring {
        Ring {
            name: r.name.clone(),
            description: r.description.clone().unwrap_or_else(|| r.name.clone()),
            format: r.format,
            maxlen: r.maxlen.unwrap_or(bufsize),
            size: r.size.unwrap_or(bufsize),
            dropped: AtomicU64::new(0),
            buf: Mutex::new(Buf::default()),
            notify: tokio::sync::Notify::new(),
            servers,
            timeout_connect: r.timeout_connect,
            timeout_server: r.timeout_server,
        }
    }

    /// HAProxy's built-in ring `buf0` (1 MB, `timed` format): nothing of halo writes to
    /// it but `log ring@buf0` lines.
    pub fn buf0() -> Ring {
        let sec = RingSection {
            name: BUF0.into(),
            loc: halo_config::Loc::none(),
            description: Some("in-memory ring buffer".into()),
            format: LogFraming::Timed,
            maxlen: None,
            size: Some(1 << 20),
            servers: Vec::new(),
            timeout_connect: None,
            timeout_server: None,
        };
        let mut r = Ring::build(&sec, 1 << 20, Vec::new());
        r.maxlen = 16384;
        r
    }

    /// Stores a message (cut at `maxlen`), dropping the oldest ones to make room; a message
    /// that cannot fit at all is dropped and counted. Never waits beyond a short lock.
    pub fn write(&self, msg: &[u8]) {
        let msg = &msg[..msg.len().min(self.maxlen)];
        let cost = msg.len() + OVERHEAD;
        if cost > self.size {
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        {
            let Ok(mut b) = self.buf.lock() else {
                self.dropped.fetch_add(1, Relaxed);
                return;
            };
            while b.bytes + cost > self.size {
                let Some(old) = b.msgs.pop_front() else {
                    break;
                };
                b.bytes -= old.len() + OVERHEAD;
                b.first += 1;
            }
            b.msgs.push_back(Arc::from(msg));
            b.bytes += cost;
        }
        self.notify.notify_waiters();
    }

    /// The sequence number following the newest message (`show events -n`).
    pub fn end(&self) -> u64 {
        self.buf
            .lock()
            .map(|b| b.first + b.msgs.len() as u64)
            .unwrap_or(0)
    }

    /// The sequence number of the oldest message kept.
    pub fn first(&self) -> u64 {
        self.buf.lock().map(|b| b.first).unwrap_or(0)
    }

    /// The messages from sequence number `from` on (the oldest kept if older).
    pub fn read(&self, from: u64) -> Read {
        let Ok(b) = self.buf.lock() else {
            return Read {
                msgs: Vec::new(),
                next: from,
                lost: 0,
            };
        };
        let start = from.max(b.first);
        let skip = (start - b.first) as usize;
        Read {
            msgs: b.msgs.iter().skip(skip).cloned().collect(),
            next: b.first + b.msgs.len() as u64,
            lost: start - from,
        }
    }

    /// Waits for a message after sequence number `from` (returns at once if there is one).
    pub async fn wait(&self, from: u64) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.end() > from {
            return;
        }
        notified.await;
    }

    /// Starts the tasks sending the ring's messages to its servers.
    pub fn start(self: &Arc<Ring>) {
        for s in &self.servers {
            tokio::spawn(forward(self.clone(), s.clone()));
        }
    }
}

/// Sends the ring's messages to one server, from the oldest kept, reconnecting (every
/// second) when the connection fails or breaks; messages the ring drops meanwhile are
/// counted as dropped.
async fn forward(ring: Arc<Ring>, srv: Server) {
    let mut cursor = ring.first();
    let mut out = Vec::new();
    loop {
        let connect = tokio::net::TcpStream::connect(srv.addr);
        let conn = match ring.timeout_connect {
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms.max(1)), connect)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
            None => connect.await,
        };
        if let Ok(mut s) = conn {
            let _ = s.set_nodelay(true);
            let mut junk = [0u8; 256];
            'conn: loop {
                let r = ring.read(cursor);
                if r.lost > 0 {
                    ring.dropped.fetch_add(r.lost, Relaxed);
                }
                if !r.msgs.is_empty() {
                    out.clear();
                    for m in &r.msgs {
                        match srv.proto {
                            LogProto::OctetCount => {
                                out.extend_from_slice(format!("{} ", m.len()).as_bytes());
                                out.extend_from_slice(m);
                            }
                            LogProto::Legacy => {
                                out.extend_from_slice(m);
                                out.push(b'\n');
                            }
                        }
                    }
                    let sent = match ring.timeout_server {
                        Some(ms) => tokio::time::timeout(
                            Duration::from_millis(ms.max(1)),
                            s.write_all(&out),
                        )
                        .await
                        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                        None => s.write_all(&out).await,
                    };
                    if sent.is_err() {
                        break 'conn;
                    }
                    cursor = r.next;
                    continue;
                }
                cursor = r.next;
                // Wait for a message, watching the connection for its close.
                tokio::select! {
                    _ = ring.wait(cursor) => {}
                    n = s.read(&mut junk) => {
                        if !matches!(n, Ok(k) if k > 0) {
                            break 'conn;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(size: usize, maxlen: usize) -> Ring {
        let sec = RingSection {
            name: "r".into(),
            loc: halo_config::Loc::none(),
            description: None,
            format: LogFraming::Raw,
            maxlen: Some(maxlen),
            size: Some(size),
            servers: Vec::new(),
            timeout_connect: None,
            timeout_server: None,
        };
        Ring::new(&sec, 16384).unwrap()
    }

    #[test]
    fn wraps_and_cuts() {
        let r = ring(30, 8);
        r.write(b"0123456789");
        let got = r.read(0);
        assert_eq!(&*got.msgs[0], b"01234567");
        for i in 0..10u8 {
            r.write(&[b'a' + i; 4]);
        }
        // 30 bytes hold five messages of 4 + 2.
        let got = r.read(0);
        assert_eq!(got.msgs.len(), 5);
        assert_eq!(&*got.msgs[0], b"ffff");
        assert_eq!(got.next, 11);
        assert_eq!(got.lost, 6);
        assert_eq!(r.read(got.next).msgs.len(), 0);
        let big = ring(10, 100);
        big.write(&[b'x'; 20]);
        assert_eq!(big.dropped.load(Relaxed), 1);
    }
}
