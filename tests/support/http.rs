//! An HTTP/1.1 backend that records what reaches it, and a raw HTTP client, shared by the
//! HTTP end-to-end tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::haproxy_addr;

/// What a request looked like when it reached a backend.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A small HTTP/1.1 server: answers `<name> <path>` with Content-Length, keeps the
/// connection alive unless asked to close, records every request, can be slow, and turns
/// `Upgrade: websocket` requests into a 101 followed by an echo.
pub struct HttpBackend {
    pub name: String,
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub conns: Arc<AtomicUsize>,
    pub current: Arc<AtomicUsize>,
    pub max_current: Arc<AtomicUsize>,
    pub stop: Arc<AtomicBool>,
}

impl HttpBackend {
    pub fn start(name: &str, delay: Duration) -> HttpBackend {
        HttpBackend::start_at(name, "127.0.0.1:0", delay)
    }

    /// Like [`HttpBackend::start`], listening on `addr` (e.g. `127.0.0.2:0`).
    pub fn start_at(name: &str, addr: &str, delay: Duration) -> HttpBackend {
        let l = TcpListener::bind(addr).unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let be = HttpBackend {
            name: name.to_string(),
            addr,
            seen: Arc::new(Mutex::new(Vec::new())),
            conns: Arc::new(AtomicUsize::new(0)),
            current: Arc::new(AtomicUsize::new(0)),
            max_current: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (seen, conns, cur, maxc, stop, nm) = (
            be.seen.clone(),
            be.conns.clone(),
            be.current.clone(),
            be.max_current.clone(),
            be.stop.clone(),
            be.name.clone(),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        conns.fetch_add(1, Ordering::Relaxed);
                        let (seen, cur, maxc, nm) =
                            (seen.clone(), cur.clone(), maxc.clone(), nm.clone());
                        thread::spawn(move || serve(s, &nm, delay, &seen, &cur, &maxc));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        be
    }
    pub fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    s: TcpStream,
    name: &str,
    delay: Duration,
    seen: &Mutex<Vec<Seen>>,
    cur: &AtomicUsize,
    maxc: &AtomicUsize,
) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if let Some(cl) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(cl, 0);
            r.read_exact(&mut body).unwrap();
        } else if get("transfer-encoding")
            .map(|v| v.contains("chunked"))
            .unwrap_or(false)
        {
            loop {
                let mut sz = String::new();
                r.read_line(&mut sz).unwrap();
                let n = usize::from_str_radix(sz.trim(), 16).unwrap();
                let mut chunk = vec![0u8; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let close = get("connection")
            .map(|v| v.eq_ignore_ascii_case("close"))
            .unwrap_or(false);
        let upgrade = get("upgrade").is_some();
        seen.lock().unwrap().push(Seen {
            method,
            target: target.clone(),
            headers: headers.clone(),
            body_len: body.len(),
        });
        // Requests in flight, health checks (`HEAD`, as the seeds send them) left out: they
        // are not proxied requests and no server `maxconn` limits them.
        let counted = seen
            .lock()
            .unwrap()
            .last()
            .is_none_or(|x| x.method != "HEAD");
        if counted {
            let now = cur.fetch_add(1, Ordering::SeqCst) + 1;
            maxc.fetch_max(now, Ordering::SeqCst);
        }
        thread::sleep(delay);
        if counted {
            cur.fetch_sub(1, Ordering::SeqCst);
        }
        if upgrade {
            let _ = w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
            // Echo whatever comes next.
            let mut buf = [0u8; 4096];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if w.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let text = format!("{name} {target} {}\n", body.len());
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Server: {name}\r\n{}\r\n{text}",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if w.write_all(resp.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// A raw HTTP/1.1 client on one connection: sends a request, reads one response.
pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    pub fn connect(a: SocketAddr) -> Client {
        let s = TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }
    pub fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }
    pub fn get(&mut self, path: &str, extra: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").as_bytes());
        self.read().expect("response")
    }
    pub fn read(&mut self) -> Option<Response> {
        let mut line = String::new();
        if self.r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let cl: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; cl];
        self.r.read_exact(&mut body).ok()?;
        Some(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
    /// Whether the proxy closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}
