//! End-to-end tests of cookie persistence (`cookie` in its insert, prefix, rewrite and passive
//! modes with their options, server `cookie`, `option persist`, `option redispatch`,
//! `force-persist`, `ignore-persist`) and of seeds 21, 22 (its cookie part) and 24, each
//! asserting the exact `Set-Cookie`/`Cookie` bytes HAProxy 2.6 produces.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::*;

// ---------------------------------------------------------------------------
// A backend that records raw request fields and answers with chosen Set-Cookie fields
// ---------------------------------------------------------------------------

/// The header fields of one request, values as sent.
type Fields = Vec<(String, String)>;

/// An HTTP/1.1 server named `name`: every `X-Set: V` field of a request becomes a
/// `Set-Cookie: V` field of its response (`X-Set: raw LINE` becomes LINE as is); it records
/// the header fields it received as `(name, value)` with the value's bytes as sent.
struct Web {
    name: String,
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Fields>>>,
    stop: Arc<AtomicBool>,
}

impl Web {
    fn start(name: &str) -> Web {
        Web::on(name, TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn on(name: &str, l: TcpListener) -> Web {
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let w = Web {
            name: name.to_string(),
            addr,
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let (seen, stop, nm) = (w.seen.clone(), w.stop.clone(), w.name.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let (seen, nm, stop) = (seen.clone(), nm.clone(), stop.clone());
                        thread::spawn(move || serve(s, &nm, &seen, &stop));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener closes here: connections are refused from now on.
        });
        w
    }

    fn cfg(&self) -> String {
        haproxy_addr(self.addr)
    }

    /// Closes the port (and the connections it serves): the server is dead.
    fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(5), || TcpStream::connect(self.addr)
                .is_err()),
            "{} still accepts connections",
            self.name
        );
    }

    /// The values of field `name` in the last request received.
    fn last(&self, name: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.last()
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(s: TcpStream, name: &str, seen: &Mutex<Vec<Fields>>, stop: &AtomicBool) {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        loop {
            match r.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => break,
                Err(_) if !stop.load(Ordering::Relaxed) && line.is_empty() => continue,
                Err(_) => return,
            }
        }
        let mut fields = Vec::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                // The value as sent, after the one space the proxies write.
                let v = v.strip_prefix(' ').unwrap_or(v);
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                fields.push((k.to_string(), v.to_string()));
            }
        }
        let mut body = vec![0u8; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let mut extra = String::new();
        for (k, v) in &fields {
            if k.eq_ignore_ascii_case("x-set") {
                match v.strip_prefix("raw ") {
                    Some(line) => extra.push_str(&format!("{line}\r\n")),
                    None => extra.push_str(&format!("Set-Cookie: {v}\r\n")),
                }
            }
        }
        seen.lock().unwrap().push(fields);
        let text = format!("{name}\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Server: {name}\r\n{extra}\r\n{text}",
            text.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A response as the client saw it.
struct Resp {
    status: u16,
    fields: Vec<(String, String)>,
}

impl Resp {
    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn server(&self) -> String {
        self.all("x-server").pop().unwrap_or_default()
    }
    fn set_cookies(&self) -> Vec<String> {
        self.all("set-cookie")
    }
}

/// One request on its own connection (`extra`: header lines, each ending in CRLF).
fn send(fe: SocketAddr, method: &str, extra: &str) -> Resp {
    let mut s = TcpStream::connect(fe).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let req =
        format!("{method} / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{body}{extra}\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let fields = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()))
        .collect();
    Resp { status, fields }
}

fn get(fe: SocketAddr, extra: &str) -> Resp {
    send(fe, "GET", extra)
}

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n";

/// A listen section on `${FE}` with the given body lines, after short `defaults`.
fn listen(body: &str) -> String {
    format!("{DEFAULTS}listen app\n    bind \"${{FE}}\"\n{body}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// HAProxy's cookie date: seconds / 4 as 5 base64 digits.
fn date(secs: u64) -> String {
    let mut v = secs >> 2;
    let mut out = [0u8; 5];
    for i in (0..5).rev() {
        out[i] = B64[(v & 63) as usize];
        v >>= 6;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

fn undate(s: &str) -> u64 {
    s.bytes().fold(0u64, |acc, c| {
        (acc << 6) | B64.iter().position(|&b| b == c).unwrap() as u64
    }) << 2
}

// ---------------------------------------------------------------------------
// Insert mode
// ---------------------------------------------------------------------------

#[test]
fn insert_sets_the_cookie_once_and_indirect_hides_it_from_the_server() {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let fe = free_addr();
    let cfg = listen(
        "    cookie SRV insert indirect nocache httponly secure domain .a.com domain .b.org attr SameSite=Lax attr x\n    server a \"${S1}\" cookie A\n    server b \"${S2}\" cookie B\n",
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    // First visit: the server's own SRV cookie goes, ours is inserted (with every option),
    // other cookies stay; no freshness information, so nothing to make private.
    let r = get(fe, "X-Set: SRV=zz; path=/x\r\nX-Set: other=1\r\n");
    assert_eq!(r.status, 200);
    let first = r.server();
    assert_eq!(
        r.set_cookies(),
        vec![
            "other=1".to_string(),
            format!(
                "SRV={first}; path=/; domain=.a.com; domain=.b.org; HttpOnly; Secure; SameSite=Lax; x"
            )
        ]
    );
    assert!(r.all("cache-control").is_empty());
    // A cacheable response (it has an expiry date) is marked private.
    let r = get(fe, "X-Set: raw Expires: Thu, 01 Jan 2037 00:00:00 GMT\r\n");
    assert_eq!(r.all("cache-control"), vec!["private"]);
    // Back with the cookie: same server, nothing set, the server never sees SRV, whatever
    // the spacing and however many Cookie fields.
    for _ in 0..3 {
        let r = get(
            fe,
            "Cookie: a=1; SRV=B; b=2\r\nX-Set: SRV=zz\r\nX-Set: raw Expires: Thu, 01 Jan 2037 00:00:00 GMT\r\n",
        );
        assert_eq!(r.server(), "B");
        assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
        assert!(r.all("cache-control").is_empty());
        assert_eq!(b.last("cookie"), vec!["a=1; b=2"]);
    }
    let r = get(
        fe,
        "Cookie: SRV=A\r\nCookie:  a = 1 ;SRV = B ; b=2 ,c=3\r\nCookie: $Version=1; SRV=A; $Path=/; d\r\nCookie: x=1;y;SRV=A\r\n",
    );
    assert_eq!(r.server(), "A");
    assert_eq!(
        a.last("cookie"),
        vec!["a=1; b=2 ,c=3", "$Version=1; d", "x=1;y"]
    );
    let r = get(
        fe,
        "Cookie: SRV=A;SRV=B; z=\"a;b\" ; SRV=A\r\nCookie: q=1,SRV=B\r\n",
    );
    assert_eq!(r.server(), "A");
    assert_eq!(a.last("cookie"), vec!["z=\"a;b\" ", "q=1"]);
    let r = get(
        fe,
        "Cookie: SRV=A, x=1\r\nCookie: y=2;;SRV=A;\r\nCookie: ;SRV=A\r\n",
    );
    assert_eq!(r.server(), "A");
    assert_eq!(a.last("cookie"), vec!["x=1", "y=2;; "]);
    // An unknown or empty value chooses nothing: balanced, and a new cookie.
    for bad in ["SRV=Z", "SRV="] {
        let r = get(fe, &format!("Cookie: {bad}\r\n"));
        let s = r.server();
        assert_eq!(r.set_cookies().len(), 1, "{bad}");
        assert!(r.set_cookies()[0].starts_with(&format!("SRV={s}; path=/")));
    }
}

#[test]
fn insert_without_indirect_postonly_preserve_and_cookieless_server() {
    let (a, c) = (Web::start("A"), Web::start("C"));
    let fe = free_addr();
    let fe2 = free_addr();
    let cfg = format!(
        "{}    cookie SRV insert postonly preserve\n    server a \"${{S1}}\" cookie A\n    server c \"${{S3}}\"\n\nlisten plain\n    bind \"${{FE_PLAIN}}\"\n    cookie SRV insert\n    server a \"${{S1}}\" cookie A\n",
        listen("")
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_PLAIN", haproxy_addr(fe2)),
            ("S1", a.cfg()),
            ("S3", c.cfg()),
        ],
    );
    // postonly: a GET gets nothing; preserve: the server's own cookie stays as it is.
    let r = get(fe, "X-Set: SRV=zz\r\n");
    assert_eq!(r.set_cookies(), vec!["SRV=zz"]);
    let r = send(fe, "POST", "X-Set: SRV=zz\r\n");
    assert_eq!(r.set_cookies(), vec!["SRV=zz"]);
    // A POST without the server's cookie gets ours; a server without cookie value gets
    // a deletion.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = send(fe, "POST", "");
        seen.push((r.server(), r.set_cookies()));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("A".to_string(), vec!["SRV=A; path=/".to_string()]),
            (
                "C".to_string(),
                vec!["SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/".to_string()]
            ),
        ]
    );
    // Without indirect the server sees the cookie; a client with a valid one gets none.
    let r = get(fe2, "Cookie: SRV=A; k=v\r\n");
    assert!(r.set_cookies().is_empty());
    assert_eq!(a.last("cookie"), vec!["SRV=A; k=v"]);
}

#[test]
fn maxidle_and_maxlife_dates() {
    let a = Web::start("A");
    let fe = free_addr();
    let cfg =
        listen("    cookie SRV insert maxidle 30m maxlife 8h\n    server a \"${S1}\" cookie A\n");
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", a.cfg())]);
    let check = |r: &Resp, first_expected: Option<u64>| {
        let sc = r.set_cookies();
        assert_eq!(sc.len(), 1, "{sc:?}");
        let v = sc[0].strip_prefix("SRV=A|").expect("SRV=A|dates");
        let (dates, rest) = v.split_once(';').unwrap();
        assert_eq!(rest, " path=/");
        let (last, first) = dates.split_once('|').unwrap();
        assert_eq!((last.len(), first.len()), (5, 5));
        let t = now();
        let l = undate(last);
        assert!(l + 8 >= t && l <= t + 8, "last {l} vs now {t}");
        match first_expected {
            Some(f) => assert_eq!(undate(first), f),
            None => assert_eq!(first, last),
        }
    };
    check(&get(fe, ""), None);
    // A cookie without dates is accepted and gets them.
    let r = get(fe, "Cookie: SRV=A\r\n");
    check(&r, None);
    // Last seen a minute ago, first seen an hour ago: valid; the first date is kept.
    let t = now();
    let (l, f) = (date(t - 60), date(t - 3600));
    let r = get(fe, &format!("Cookie: SRV=A|{l}|{f}\r\n"));
    assert_eq!(a.last("cookie"), vec![format!("SRV=A|{l}|{f}")]);
    check(&r, Some(undate(&f)));
    // Idle for an hour, or born 9 hours ago: ignored, a fresh cookie with new dates.
    for (l, f) in [
        (date(t - 3600), date(t - 3600)),
        (date(t - 60), date(t - 9 * 3600)),
    ] {
        check(&get(fe, &format!("Cookie: SRV=A|{l}|{f}\r\n")), None);
    }
}

#[test]
fn dynamic_cookies_hash_the_key_address_and_port() {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let fe = free_addr();
    let cfg = listen(
        "    cookie SRV insert indirect dynamic\n    dynamic-cookie-key s3cr3t\n    server a \"${S1}\"\n    server b \"${S2}\" cookie B\n",
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    // XXH64 (seed 0) of the key, the IPv4 address and the port as 4 big-endian bytes.
    let mut input = b"s3cr3t".to_vec();
    input.extend_from_slice(&[127, 0, 0, 1]);
    input.extend_from_slice(&u32::from(a.addr.port()).to_be_bytes());
    let value = format!("{:016x}", xxhash_rust::xxh64::xxh64(&input, 0));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = get(fe, "");
        seen.push((r.server(), first_cookie(&r, "SRV")));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![("A".into(), value.clone()), ("B".into(), "B".into())]
    );
    let r = get(fe, &format!("Cookie: SRV={value}\r\n"));
    assert_eq!(r.server(), "A");
    assert!(r.set_cookies().is_empty());
}

// ---------------------------------------------------------------------------
// Prefix, rewrite and passive modes
// ---------------------------------------------------------------------------

#[test]
fn prefix_adds_and_removes_the_server_value_everywhere() {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let fe = free_addr();
    let cfg = listen(
        "    cookie JS prefix\n    server a \"${S1}\" cookie A\n    server b \"${S2}\" cookie B\n",
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    let r = get(
        fe,
        "Cookie: JS=B~abc; o=1\r\nCookie: JS = A~x~y ; JS=zzz\r\nX-Set: JS=newval; path=/\r\nX-Set: JS = sp ; path=/\r\nX-Set: raw Set-Cookie: JS=q, JS=r; Max-Age=3\r\nX-Set: other=JS\r\n",
    );
    assert_eq!(r.server(), "B");
    assert_eq!(
        r.set_cookies(),
        vec![
            "JS=B~newval; path=/",
            "JS=B~sp ; path=/",
            "JS=B~q, JS=r; Max-Age=3",
            "other=JS"
        ]
    );
    // Spaces around '=' go from every Set-Cookie; each cookie of a Set-Cookie2 is prefixed.
    let r = get(
        fe,
        "Cookie: JS=A~1\r\nX-Set: other = 1 ; p\r\nX-Set: JS\r\nX-Set: JS=\r\nX-Set: raw Set-Cookie2: JS=a, JS=b\r\nX-Set:  JS=c\r\n",
    );
    assert_eq!(
        r.set_cookies(),
        vec!["other=1 ; p", "JS", "JS=A~", "JS=A~c"]
    );
    assert_eq!(r.all("set-cookie2"), vec!["JS=A~a, JS=A~b"]);
    assert_eq!(a.last("cookie"), vec!["JS=1"]);
    assert_eq!(b.last("cookie"), vec!["JS=abc; o=1", "JS=x~y ; JS=zzz"]);
    // Nothing set by the server: nothing added.
    let r = get(fe, "Cookie: JS=A~v\r\n");
    assert_eq!(r.server(), "A");
    assert!(r.set_cookies().is_empty());
    assert_eq!(a.last("cookie"), vec!["JS=v"]);
}

#[test]
fn rewrite_replaces_the_server_value() {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let fe = free_addr();
    let cfg = listen(
        "    cookie SRV rewrite\n    server a \"${S1}\" cookie A\n    server b \"${S2}\" cookie B\n",
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    let r = get(
        fe,
        "Cookie: SRV=B\r\nX-Set: SRV=v1; path=/\r\nX-Set: SRV = whatever ; path=/\r\n",
    );
    assert_eq!(r.server(), "B");
    assert_eq!(r.set_cookies(), vec!["SRV=B; path=/", "SRV=B ; path=/"]);
    assert_eq!(b.last("cookie"), vec!["SRV=B"]);
    // The server sets none: nothing is added.
    let r = get(fe, "");
    assert!(r.set_cookies().is_empty());
}

#[test]
fn passive_cookie_chooses_but_never_sets_nor_strips() {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let fe = free_addr();
    let cfg = listen(
        "    cookie SITE\n    server a \"${S1}\" cookie A\n    server b \"${S2}\" cookie B backup\n",
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    for _ in 0..2 {
        let r = get(fe, "Cookie: SITE=B\r\nX-Set: SITE=zz\r\n");
        assert_eq!(r.server(), "B", "a backup named by the cookie is used");
        assert_eq!(r.set_cookies(), vec!["SITE=zz"]);
        assert_eq!(b.last("cookie"), vec!["SITE=B"]);
        assert!(get(fe, "").set_cookies().is_empty());
        assert_eq!(get(fe, "").server(), "A");
    }
}

// ---------------------------------------------------------------------------
// Down servers, persist, redispatch, force-persist, ignore-persist
// ---------------------------------------------------------------------------

/// A port that accepts connections (a health-check target) until closed.
struct CheckPort {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl CheckPort {
    fn start() -> CheckPort {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop: Arc<AtomicBool> = Arc::default();
        let st = stop.clone();
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        CheckPort { addr, stop }
    }
    fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        assert!(wait_until(Duration::from_secs(5), || TcpStream::connect(
            self.addr
        )
        .is_err()));
    }
}

impl Drop for CheckPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A farm whose server `a` is checked on a port of its own: closing it marks `a` DOWN while
/// `a` itself still answers.
fn down_farm(extra: &str) -> (Web, Web, CheckPort, SocketAddr, Halo) {
    let (a, b) = (Web::start("A"), Web::start("B"));
    let cp = CheckPort::start();
    let fe = free_addr();
    let cfg = listen(&format!(
        "    retries 1\n    cookie SRV insert indirect\n{extra}    server a \"${{S1}}\" cookie A check port {} inter 100 rise 1 fall 1\n    server b \"${{S2}}\" cookie B\n",
        cp.addr.port()
    ));
    let h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", a.cfg()), ("S2", b.cfg())],
    );
    (a, b, cp, fe, h)
}

/// Closes the check port and waits until `a` is no longer balanced to (DOWN).
fn mark_a_down(cp: &CheckPort, fe: SocketAddr) {
    cp.close();
    // Two cookieless requests in a row both reaching B: A is out of the rotation.
    assert!(
        wait_until(Duration::from_secs(10), || {
            get(fe, "").server() == "B" && get(fe, "").server() == "B"
        }),
        "server a never went down"
    );
}

#[test]
fn a_cookie_naming_a_down_server_is_balanced_and_gets_a_new_cookie() {
    let (_a, _b, cp, fe, _h) = down_farm("");
    assert_eq!(get(fe, "Cookie: SRV=A\r\n").server(), "A");
    mark_a_down(&cp, fe);
    let r = get(fe, "Cookie: SRV=A\r\n");
    assert_eq!(r.server(), "B");
    assert_eq!(r.set_cookies(), vec!["SRV=B; path=/"]);
}

#[test]
fn option_persist_keeps_the_down_server_then_redispatch_moves_away() {
    let (a, _b, cp, fe, _h) = down_farm("    option persist\n    option redispatch\n");
    mark_a_down(&cp, fe);
    // DOWN for the checks but still answering: persistence holds, no new cookie.
    let r = get(fe, "Cookie: SRV=A\r\n");
    assert_eq!(r.server(), "A");
    assert!(r.set_cookies().is_empty());
    // Really dead: redispatched, with the cookie of the new server.
    a.kill();
    let r = get(fe, "Cookie: SRV=A\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.server(), "B");
    assert_eq!(r.set_cookies(), vec!["SRV=B; path=/"]);
}

#[test]
fn option_persist_without_redispatch_gives_503_for_a_dead_server() {
    let (a, b, cp, fe, _h) = down_farm("    option persist\n");
    mark_a_down(&cp, fe);
    a.kill();
    let before = b.count();
    let r = get(fe, "Cookie: SRV=A\r\n");
    assert_eq!(r.status, 503);
    assert_eq!(b.count(), before);
}

#[test]
fn force_persist_and_ignore_persist_conditions() {
    let (_a, b, cp, fe, _h) = down_farm(
        "    acl test hdr(x-test) -m found\n    acl bot hdr(user-agent) -m sub bot\n    force-persist if test\n    ignore-persist if bot\n",
    );
    mark_a_down(&cp, fe);
    // force-persist reaches the DOWN server.
    let r = get(fe, "Cookie: SRV=A\r\nX-Test: 1\r\n");
    assert_eq!(r.server(), "A");
    assert!(r.set_cookies().is_empty());
    // Without the condition the DOWN server is avoided.
    assert_eq!(get(fe, "Cookie: SRV=A\r\n").server(), "B");
    // ignore-persist: the cookie chooses nothing and none is set, but it is still stripped.
    let r = get(
        fe,
        "Cookie: SRV=B; k=v\r\nUser-Agent: a bot\r\nX-Set: SRV=mine\r\n",
    );
    assert_eq!(r.server(), "B");
    assert_eq!(r.set_cookies(), vec!["SRV=mine"]);
    assert_eq!(b.last("cookie"), vec!["k=v"]);
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn cookie_lines_are_checked() {
    for (body, ok) in [
        (
            "cookie SRV insert indirect nocache maxidle 30m maxlife 8h\n",
            true,
        ),
        (
            "cookie SRV insert postonly preserve domain .x.org attr SameSite=Strict\n",
            true,
        ),
        ("cookie\n", false),
        ("cookie SRV insert prefix\n", false),
        ("cookie SRV preserve\n", false),
        ("cookie SRV bogus\n", false),
        ("ignore-persist\n", false),
    ] {
        let cfg = listen(&format!("    {body}    server a 127.0.0.1:1 cookie A\n"));
        let (code, _, err) = run_check(Cfg::Text(&cfg), &[("FE", "127.0.0.1:1".into())]);
        assert_eq!(code == 0, ok, "{body}: {err}");
    }
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// The seed as the binary under test runs it: unchanged for halo; for HAProxy 2.6, which
/// refuses the 2006 syntax of seeds 21, 22 and 24, the same proxies in 2.6 words (address on
/// a `bind` line, `timeout connect|client|server`, `option redispatch`, no proxy `grace`,
/// no `reqidel`/`reqirep`),
/// and a global `maxconn` within the file descriptors this machine allows it.
fn seed_for_binary(name: &str) -> String {
    let text = seed_text(name);
    if !is_reference_haproxy() {
        return text;
    }
    let mut out = Vec::new();
    let mut global = false;
    for l in text.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        if !l.starts_with(' ') && !words.is_empty() {
            global = words[0] == "global";
        }
        match words.as_slice() {
            ["maxconn", _] if global => out.push("    maxconn 4000".to_string()),
            ["listen", name, addr] => {
                out.push(format!("listen {name}"));
                out.push(format!("    bind {addr}"));
            }
            ["contimeout", v] => out.push(format!("    timeout connect {v}")),
            ["clitimeout", v] => out.push(format!("    timeout client {v}")),
            ["srvtimeout", v] => out.push(format!("    timeout server {v}")),
            ["redispatch"] => out.push("    option redispatch".to_string()),
            ["grace", _] => {}
            // Seed 06's 1.x request rewriting (removed in 2.1), unrelated to cookies.
            [w, ..] if w.starts_with("reqi") => {}
            _ => out.push(l.to_string()),
        }
    }
    out.join("\n") + "\n"
}

fn first_cookie(r: &Resp, name: &str) -> String {
    let sc = r.set_cookies();
    assert_eq!(sc.len(), 1, "{sc:?}");
    let v = sc[0].strip_prefix(&format!("{name}=")).expect("our cookie");
    assert!(v.ends_with("; path=/"), "{v}");
    v.trim_end_matches("; path=/").to_string()
}

#[test]
fn seed06_prefix_cookie_of_the_application_backend() {
    let webs: Vec<Web> = ["app1", "app2", "cache1", "cache2"]
        .iter()
        .map(|n| Web::start(n))
        .collect();
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    for (i, k) in ["S1", "S2", "S3", "S4"].iter().enumerate() {
        env.push((k, webs[i].cfg()));
    }
    let _h = Halo::start(&seed_for_binary("06-news-content-switching.cfg"), &env);
    // A login (POST) reaches APPLICATION; its PHPSESSID comes back prefixed.
    let r = send(fe, "POST", "X-Set: PHPSESSID=x; path=/\r\n");
    let srv = r.server();
    assert!(srv.starts_with("app"), "{srv}");
    assert_eq!(r.set_cookies(), vec![format!("PHPSESSID={srv}~x; path=/")]);
    // The client's prefixed cookie reaches that server without the prefix.
    for _ in 0..3 {
        let r = get(fe, &format!("Cookie: PHPSESSID={srv}~x\r\n"));
        // GET /: the CACHE backend, which has no cookie: passed as is.
        assert!(r.server().starts_with("cache"));
        let w = webs.iter().find(|w| w.name == r.server()).unwrap();
        assert_eq!(w.last("cookie"), vec![format!("PHPSESSID={srv}~x")]);
        let mut s = TcpStream::connect(fe).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /user/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\nCookie: PHPSESSID={srv}~x\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(
            out.contains(&format!("X-Server: {srv}")) || out.contains(&format!("x-server: {srv}")),
            "{out}"
        );
        let w = webs.iter().find(|w| w.name == srv).unwrap();
        assert_eq!(w.last("cookie"), vec!["PHPSESSID=x"]);
    }
}

#[test]
fn seed21_insert_legacy_syntax() {
    let webs: Vec<Web> = ["A", "B", "C", "D"].iter().map(|n| Web::start(n)).collect();
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    for (i, k) in ["S1", "S2", "S3", "S4"].iter().enumerate() {
        env.push((k, webs[i].cfg()));
    }
    let _h = Halo::start(&seed_for_binary("21-cookie-insert-legacy.cfg"), &env);
    // Every new client gets one server's cookie; with it, it keeps reaching that server,
    // which never sees SERVERID but sees X-Forwarded-For and X-Original-To.
    let mut got = Vec::new();
    for _ in 0..4 {
        let r = get(fe, "Cookie: lang=fr\r\n");
        let v = first_cookie(&r, "SERVERID");
        assert_eq!(v, r.server());
        got.push(v);
    }
    got.sort();
    got.dedup();
    assert!(got.len() >= 2, "{got:?}");
    for v in &got {
        for _ in 0..3 {
            let r = get(fe, &format!("Cookie: SERVERID={v}; lang=fr\r\n"));
            assert_eq!(&r.server(), v);
            assert!(r.set_cookies().is_empty());
            let w = webs.iter().find(|w| &w.name == v).unwrap();
            assert_eq!(w.last("cookie"), vec!["lang=fr"]);
            assert_eq!(w.last("x-forwarded-for"), vec!["127.0.0.1"]);
            assert_eq!(w.last("x-original-to"), vec!["127.0.0.1"]);
        }
    }
    // A dead server's clients are moved and get a new cookie (once its checks fail).
    webs[0].kill();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let r = get(fe, "Cookie: SERVERID=A\r\n");
            r.status == 200 && r.server() != "A" && { first_cookie(&r, "SERVERID") == r.server() }
        }),
        "clients of the dead server were not moved"
    );
}

#[test]
fn seed22_prefix_cookie() {
    let webs: Vec<Web> = ["A", "B", "C"].iter().map(|n| Web::start(n)).collect();
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    for (i, k) in ["S1", "S2", "S3"].iter().enumerate() {
        env.push((k, webs[i].cfg()));
    }
    let _h = Halo::start(&seed_for_binary("22-cookie-prefix-minconn.cfg"), &env);
    let r = get(fe, "X-Set: JSESSIONID=s3ss10n; path=/\r\n");
    let srv = r.server();
    assert_eq!(
        r.set_cookies(),
        vec![format!("JSESSIONID={srv}~s3ss10n; path=/")]
    );
    for _ in 0..3 {
        let r = get(fe, &format!("Cookie: JSESSIONID={srv}~s3ss10n; x=1\r\n"));
        assert_eq!(r.server(), srv);
        let w = webs.iter().find(|w| w.name == srv).unwrap();
        assert_eq!(w.last("cookie"), vec!["JSESSIONID=s3ss10n; x=1"]);
    }
    // An application cookie without prefix is passed as is and balanced.
    let r = get(fe, "Cookie: JSESSIONID=plain\r\n");
    let w = webs.iter().find(|w| w.name == r.server()).unwrap();
    assert_eq!(w.last("cookie"), vec!["JSESSIONID=plain"]);
    // `option forwardfor except 127.0.0.9`: no X-Forwarded-For for that client, with
    // its cookie still followed.
    for (src, xff) in [("127.0.0.9", None), ("127.0.0.10", Some("127.0.0.10"))] {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(src.parse().unwrap(), 0).into())
            .unwrap();
        sock.connect(&fe.into()).unwrap();
        let mut s = TcpStream::from(sock);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nCookie: JSESSIONID={srv}~z\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{src}");
        let w = webs.iter().find(|w| w.name == srv).unwrap();
        assert_eq!(w.last("cookie"), vec!["JSESSIONID=z"], "{src}");
        let want: Vec<String> = xff.into_iter().map(String::from).collect();
        assert_eq!(w.last("x-forwarded-for"), want, "{src}");
    }
}

#[test]
fn seed24_backup_sharing_a_cookie_persist_redispatch_and_passive_cookie() {
    let ports: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let names = ["S1", "S2", "S3", "S4"];
    let webs: Vec<Web> = ports
        .into_iter()
        .zip(names)
        .map(|(l, n)| Web::on(n, l))
        .collect();
    let (c1, c2) = (CheckPort::start(), CheckPort::start());
    let (fe, office, checks) = (free_addr(), free_addr(), free_addr());
    let mut env = vec![
        ("FE", haproxy_addr(fe)),
        ("FE_OFFICE", haproxy_addr(office)),
        ("FE_CHECKS", haproxy_addr(checks)),
        ("S1_CHECK_PORT", c1.addr.port().to_string()),
        ("S2_CHECK_PORT", c2.addr.port().to_string()),
    ];
    for (i, k) in names.iter().enumerate() {
        env.push((k, webs[i].cfg()));
    }
    let _h = Halo::start(&seed_for_binary("24-soft-stop-backup-redispatch.cfg"), &env);
    // Office: the passive SITE cookie chooses the server (even the backup) and is never
    // set nor stripped.
    let r = get(office, "Cookie: SITE=SITE2\r\n");
    assert_eq!(r.server(), "S4");
    assert!(r.set_cookies().is_empty());
    assert_eq!(webs[3].last("cookie"), vec!["SITE=SITE2"]);
    let r = get(office, "");
    assert_eq!(r.server(), "S3");
    assert!(r.set_cookies().is_empty());
    // Webfarm: new clients get SERVERID, A on S1 or B on S2.
    let r = get(fe, "");
    let v = first_cookie(&r, "SERVERID");
    assert_eq!(r.server(), if v == "A" { "S1" } else { "S2" });
    // webA's check port closes (soft stop): new clients go to S2, clients holding A keep
    // reaching S1 without a new cookie.
    c1.close();
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (x, y) = (get(fe, ""), get(fe, ""));
            x.server() == "S2" && y.server() == "S2"
        }),
        "webA never went down"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    let r = get(fe, "Cookie: SERVERID=A\r\n");
    assert_eq!(r.server(), "S1");
    assert!(r.set_cookies().is_empty());
    assert!(webs[0].last("cookie").is_empty());
    // S1 really stops: its clients are redispatched and get B.
    webs[0].kill();
    let r = get(fe, "Cookie: SERVERID=A\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.server(), "S2");
    assert_eq!(first_cookie(&r, "SERVERID"), "B");
}

/// Seed 21's weights shape the share of new clients (each gets its server's cookie). The
/// file gives webC and webD `weight 26` and webA/webB none, so the default weight 1 (the
/// README's "12/12/26/26" is not what the file says; the file is loaded unchanged).
#[test]
fn seed21_weights_shape_the_share_of_new_clients() {
    let webs: Vec<Web> = ["A", "B", "C", "D"].iter().map(|n| Web::start(n)).collect();
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    for (i, k) in ["S1", "S2", "S3", "S4"].iter().enumerate() {
        env.push((k, webs[i].cfg()));
    }
    let _h = Halo::start(&seed_for_binary("21-cookie-insert-legacy.cfg"), &env);
    // Two full rounds of the weights (1 + 1 + 26 + 26 = 54).
    let mut count = std::collections::BTreeMap::new();
    for _ in 0..108 {
        let r = get(fe, "");
        assert_eq!(first_cookie(&r, "SERVERID"), r.server());
        *count.entry(r.server()).or_insert(0) += 1;
    }
    let got: Vec<(String, i32)> = count.into_iter().collect();
    assert_eq!(
        got,
        [
            ("A".to_string(), 2),
            ("B".to_string(), 2),
            ("C".to_string(), 52),
            ("D".to_string(), 52)
        ]
    );
}

/// Seed 22's dynamic limit: `minconn 4 maxconn 12 fullconn 100` keeps each server at 4
/// concurrent requests under light load and lets it rise toward 12 as the backend fills;
/// `option abortonclose` drops a queued request whose client left.
#[test]
fn seed22_concurrency_follows_the_load_and_abortonclose() {
    use std::sync::atomic::Ordering;
    use support::http::HttpBackend;
    let webs: Vec<HttpBackend> = ["A", "B", "C"]
        .iter()
        .map(|n| HttpBackend::start(n, Duration::from_millis(400)))
        .collect();
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    for (i, k) in ["S1", "S2", "S3"].iter().enumerate() {
        env.push((k, webs[i].cfg_addr()));
    }
    // A stats socket to see the queue.
    let cfg = format!(
        "global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n{}",
        seed_for_binary("22-cookie-prefix-minconn.cfg")
    );
    let h = Halo::start(&cfg, &env);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let burst = |n: usize| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = support::http::Client::connect(fe);
                    assert_eq!(c.get(&format!("/r{i}"), "").status, 200);
                })
            })
            .collect();
        hs
    };
    // Light load: 30 sessions, 12 % of fullconn: each server stays at minconn.
    for h in burst(30) {
        h.join().unwrap();
    }
    for w in &webs {
        let m = w.max_current.load(Ordering::SeqCst);
        assert!(m <= 4, "{} had {m} in flight under light load", w.name);
        w.max_current.store(0, Ordering::SeqCst);
    }
    // Heavy load: 100 sessions fill the backend: servers go up toward maxconn 12. A client
    // queued behind them hangs up: its request never reaches a server.
    let heavy = burst(100);
    // Once requests wait in the backend queue, a new one queues behind them.
    assert!(wait_until(Duration::from_secs(5), || {
        cli(&sock, "show stat")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("appfarm,BACKEND,"))
            .and_then(|l| l.split(',').nth(2).map(|q| q.parse::<u32>().unwrap_or(0)))
            .is_some_and(|q| q > 20)
    }));
    {
        let mut s = TcpStream::connect(fe).unwrap();
        s.write_all(b"GET /gone HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for h in heavy {
        h.join().unwrap();
    }
    for w in &webs {
        let m = w.max_current.load(Ordering::SeqCst);
        assert!(
            (9..=12).contains(&m),
            "{} had {m} in flight under full load",
            w.name
        );
        let seen: Vec<String> = w.seen().iter().map(|s| s.target.clone()).collect();
        assert!(
            !seen.contains(&"/gone".to_string()),
            "{} served a request whose client had left: {seen:?}",
            w.name
        );
    }
}
