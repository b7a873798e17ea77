//! Logging end to end: `log` targets (UDP, UNIX datagram, stdout), the syslog header of each
//! `format`, facilities and levels, `len`, `log-tag`, `log-send-hostname`, `sample`, and the
//! traffic logs (`option httplog`, `httplog clf`, `httpslog`, `tcplog`, `log-format`), field by
//! field, for normal requests and for each termination state a client, a server or a rule can
//! cause; seeds 07 and 12 loaded unchanged.
//!
//! Every expectation here was recorded from HAProxy 2.6 (`HALO_BIN=/usr/sbin/haproxy`): the
//! values are HAProxy's, including its quirks (see the comments before each assertion block).
//! Timers are checked for shape only (an integer, `-1` where HAProxy gives -1), dates for
//! format, the PID against the started process, and the syslog tag against the basename of
//! the binary under test (`haproxy` or `halo`) unless `log-tag` sets it.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::http::{Client, HttpBackend};
use support::syslog::{
    self, Format, HttpLog, Line, Syslog, TcpLog, is_iso_date, is_log_date_ms, is_log_date_tz,
    is_timer, is_uint, pri,
};
use support::tls::{Out, Pki, run};
use support::*;

/// How long a log line may take to arrive.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// How long to watch for a line that must not come (after a later line that must did).
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The syslog tag HAProxy uses by default: the basename of its executable.
fn tag() -> String {
    halo_bin()
        .file_name()
        .expect("binary name")
        .to_string_lossy()
        .into_owned()
}

/// The system host name (what `log-send-hostname` without argument and `%H` use).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Checks the header of a line in the default (`local`) format: PRI for `fac.lvl`, the tag
/// of the binary, the PID of the process; returns the split line.
fn local(h: &Halo, line: &str, fac: &str, lvl: &str) -> Line {
    let l = syslog::header(Format::Local, line);
    assert_eq!(l.pri, Some(pri(fac, lvl)), "PRI of {line:?}");
    assert_eq!(l.tag, Some(tag()), "tag of {line:?}");
    assert_eq!(l.pid, Some(h.pid()), "pid of {line:?}");
    l
}

/// The httplog fields of a `local` line (facility local0, level info unless said).
fn http_fields(h: &Halo, line: &str) -> HttpLog {
    syslog::httplog(&local(h, line, "local0", "info").msg)
}

fn tcp_fields(h: &Halo, line: &str) -> TcpLog {
    syslog::tcplog(&local(h, line, "local0", "info").msg)
}

/// Asserts the shape of `TR/Tw/Tc/Tr/Ta`: `minus_one[i]` says where HAProxy gives -1.
fn assert_timers<const N: usize>(what: &str, t: &[String; N], minus_one: [bool; N]) {
    for (i, (v, m)) in t.iter().zip(minus_one).enumerate() {
        if m {
            assert_eq!(v, "-1", "{what}: timer #{i} of {t:?} should be -1");
        } else {
            assert!(
                is_timer(v, false),
                "{what}: timer #{i} of {t:?} should be >= 0"
            );
        }
    }
}

/// `actconn/feconn/beconn/srv_conn/retries` at log time: HAProxy 2.6 has already released the
/// server connection (beconn and srv_conn are 0) but still counts this client connection
/// (actconn and feconn are at least 1; they may count a neighbour still closing).
fn assert_conns(what: &str, c: &[String; 5], retries: &str) {
    for v in &c[..2] {
        assert!(
            is_uint(v) && v.parse::<u32>().unwrap() >= 1,
            "{what}: actconn/feconn {c:?}"
        );
    }
    assert_eq!(
        [c[2].as_str(), c[3].as_str(), c[4].as_str()],
        ["0", "0", retries],
        "{what}: beconn/srv_conn/retries"
    );
}

/// The size HAProxy 2.6 counts for an HTTP/1 message in `%B` (response) and `%U` (request):
/// not the bytes on the wire but the size of its internal HTX representation: 20 bytes of
/// start-line header plus the three start-line words, each header's name and value (without
/// `: ` and CRLF; `Connection` headers are consumed by the parser and do not count), 1 for the
/// end of headers, then the body bytes.
fn htx_size(start: [&str; 3], headers: &[(&str, &str)], body: usize) -> usize {
    20 + start.iter().map(|w| w.len()).sum::<usize>()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
        + 1
        + body
}

/// `%B` of a 200 from [`HttpBackend`] `name` for `target`: its answer is
/// `HTTP/1.1 200 OK`, `Content-Length`, `X-Server: name`, body `name target 0\n`.
fn backend_bytes(name: &str, target: &str) -> usize {
    let body = format!("{name} {target} 0\n");
    htx_size(
        ["HTTP/1.1", "200", "OK"],
        &[
            ("content-length", &body.len().to_string()),
            ("x-server", name),
        ],
        body.len(),
    )
}

/// `%U` of `GET target HTTP/1.1` sent by [`Client::get`] (`Host: test` and `extra`).
fn client_bytes(target: &str, extra: &[(&str, &str)]) -> usize {
    let mut h = vec![("host", "test")];
    h.extend_from_slice(extra);
    htx_size(["GET", target, "HTTP/1.1"], &h, 0)
}

/// HAProxy's own error answers as `%B` counts them (2.6's built-in pages: status line,
/// content-length, cache-control, content-type, body).
fn error_bytes(status: &str, reason: &str, body: &str) -> usize {
    htx_size(
        ["HTTP/1.1", status, reason],
        &[
            ("content-length", &body.len().to_string()),
            ("cache-control", "no-cache"),
            ("content-type", "text/html"),
        ],
        body.len(),
    )
}

const BODY_403: &str = "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
const BODY_503: &str = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const BODY_504: &str = "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";

/// A connection to `addr` with 5 s timeouts.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends `raw` on a new connection and reads until the proxy closes (5 s at most).
fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let out = read_to_close(&mut s, IO_TIMEOUT).unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

/// One `GET path` with `Connection: close` on a new connection: the status.
fn get_close(addr: SocketAddr, path: &str) -> u16 {
    let mut c = Client::connect(addr);
    c.get(path, "Connection: close\r\n").status
}

/// `global` with these lines, then `defaults` in HTTP mode with `log global`, `retries 0`
/// and short timeouts, then `rest`.
fn cfg(global: &[String], defaults: &str, rest: &str) -> String {
    let mut g = String::from("global\n");
    for l in global {
        g.push_str(&format!("    {l}\n"));
    }
    format!(
        "{g}
defaults
    mode http
    log global
    retries 0
    timeout connect 2s
    timeout client 5s
    timeout server 5s
{defaults}
{rest}"
    )
}

fn start(cfg: &str, addrs: &[SocketAddr]) -> Halo {
    Halo::builder(cfg).wait_for(addrs).start()
}

/// A server that answers any request with a 100 MB body, written until the client goes
/// away (for aborts in the middle of a response).
struct BigBackend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl BigBackend {
    fn start() -> BigBackend {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let stop3 = stop2.clone();
                        thread::spawn(move || big_answer(s, &stop3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        BigBackend { addr, stop }
    }
    fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }
}

impl Drop for BigBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn big_answer(mut s: TcpStream, stop: &AtomicBool) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
    let chunk = vec![b'x'; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        if s.write_all(&chunk).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The parsers themselves, on lines HAProxy 2.6 produced
// ---------------------------------------------------------------------------

#[test]
fn syslog_parsers_split_reference_lines() {
    let l = syslog::header(
        Format::Local,
        "<134>Dec  4 18:22:15 haproxy[15332]: 127.0.0.1:33414 [04/Dec/2026:18:22:15.882] fe bk/s1 0/0/0/3/3 200 125 - - ---- 1/1/0/0/0 0/0 \"GET /ok HTTP/1.1\"",
    );
    assert_eq!(
        (l.pri, l.tag.as_deref(), l.pid),
        (Some(134), Some("haproxy"), Some(15332))
    );
    let h = syslog::httplog(&l.msg);
    assert_eq!(
        (h.frontend.as_str(), h.backend.as_str(), h.server.as_str()),
        ("fe", "bk", "s1")
    );
    assert_eq!(
        (h.request.as_str(), h.term.as_str()),
        ("GET /ok HTTP/1.1", "----")
    );
    assert!(is_log_date_ms(&h.date));
    let h = syslog::httplog(
        "::1:3 [04/Dec/2026:18:23:37.879] ft_http~ bk_http/srv1 0/0/0/4/4 200 128 - - ---- 1/1/0/0/0 0/0 {localhost:33211|my agent/1.0} \"GET /a?b=c HTTP/1.1\" 0/0000000000000000/0/0/0 localhost/TLSv1.3/TLS_AES_256_GCM_SHA384",
    );
    assert_eq!(h.client_ip, "::1");
    assert_eq!(h.captures, ["localhost:33211|my agent/1.0"]);
    assert_eq!(
        h.extra,
        "0/0000000000000000/0/0/0 localhost/TLSv1.3/TLS_AES_256_GCM_SHA384"
    );
    let l = syslog::header(
        Format::Rfc5424,
        "<158>1 2026-12-04T18:23:15.556820+00:00 - haproxy 17746 - - hello 200",
    );
    assert_eq!(
        (l.host.as_deref(), l.msg.as_str()),
        (Some("-"), "hello 200")
    );
    let t = syslog::tcplog(
        "127.0.0.1:52170 [04/Dec/2026:18:24:14.647] tcp tcp/s1 1/0/1 119 -- 2/1/0/0/0 0/0",
    );
    assert_eq!((t.bytes.as_str(), t.term.as_str()), ("119", "--"));
    assert_eq!(pri("local0", "info"), 134);
    assert_eq!(pri("local2", "info"), 150);
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

#[test]
fn seed07_ipv6_client_gets_one_httplog_line_per_request() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe6 = free_addr6();
    let h = Halo::builder(&seed_text("07-ipv6-to-ipv4-gateway.cfg"))
        .env("SYSLOG", sys.target())
        .env("FE6", haproxy_addr(fe6))
        .env("S1", be.cfg_addr())
        .start();

    // Two requests on one keep-alive connection from ::1, both served by the IPv4 server.
    let mut c = Client::connect(fe6);
    let r1 = c.get("/first", "");
    let r2 = c.get("/second?x=1", "");
    assert_eq!((r1.status, r2.status), (200, 200));
    assert_eq!(r1.body, "s1 /first 0\n");
    let local_port = c.w.local_addr().unwrap().port().to_string();
    drop(c);

    // Seed 07 logs through `log global` to `log "${SYSLOG}" local0`: PRI <134> (local0.info),
    // exactly one httplog line per request, client ::1 with the client's port.
    let lines = sys.expect_lines(2, LOG_WAIT);
    assert!(sys.stays_at(2, QUIET), "{:?}", sys.lines());
    for (line, target) in lines.iter().zip(["/first", "/second?x=1"]) {
        let f = http_fields(&h, line);
        assert_eq!(
            (f.client_ip.as_str(), f.client_port.as_str()),
            ("::1", local_port.as_str())
        );
        assert!(is_log_date_ms(&f.date), "{line}");
        assert_eq!(
            (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
            ("ft_myappli", "bk_myappli", "s1")
        );
        assert_timers(line, &f.timers, [false; 5]);
        assert_eq!(f.status, "200");
        assert_eq!(f.bytes, backend_bytes("s1", target).to_string(), "{line}");
        assert_eq!((f.req_cookie.as_str(), f.res_cookie.as_str()), ("-", "-"));
        assert_eq!(f.term, "----");
        assert_conns(line, &f.conns, "0");
        assert_eq!(f.queues, ["0", "0"]);
        assert!(f.captures.is_empty());
        assert_eq!(f.request, format!("GET {target} HTTP/1.1"));
        assert_eq!(f.extra, "");
    }
}

/// `curl` over HTTP/1.1 to `https://localhost:PORT` + each path, on one connection.
fn curl_tls(addr: SocketAddr, paths: &[&str], ca: &Path, extra: &[&str]) -> Out {
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = ca.to_string_lossy().into_owned();
    let urls: Vec<String> = paths
        .iter()
        .map(|p| format!("https://localhost:{}{p}", addr.port()))
        .collect();
    let mut args = vec![
        "-sS",
        "--http1.1",
        "--max-time",
        "5",
        "--cacert",
        ca.as_str(),
        "--resolve",
        resolve.as_str(),
    ];
    args.extend_from_slice(extra);
    args.extend(urls.iter().map(String::as_str));
    run("curl", &args, b"")
}

#[test]
fn seed12_tls_frontend_logs_tilde_and_captured_host_and_user_agent() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("srv1", Duration::ZERO);
    let pki = Pki::site();
    let fe = free_addr();
    let h = Halo::builder(&seed_text("12-syslog-readable-url.cfg"))
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("S1", be.cfg_addr())
        .env("DIR", pki.dir().to_string_lossy())
        .start();

    let out = curl_tls(
        fe,
        &["/index.html?lang=en", "/two"],
        &pki.path("ca.crt"),
        &["-A", "my agent/1.0"],
    );
    assert_eq!(out.code, 0, "curl: {}", out.all());
    assert_eq!(out.stdout, "srv1 /index.html?lang=en 0\nsrv1 /two 0\n");

    // One line per request (the backend's own `log global`/`option httplog` do not add a
    // second one), local2.info = <150>, `ft_http~` for TLS, `{Host|User-Agent}` captured.
    let lines = sys.expect_lines(2, LOG_WAIT);
    assert!(sys.stays_at(2, QUIET), "{:?}", sys.lines());
    let host = format!("localhost:{}", fe.port());
    for (line, target) in lines.iter().zip(["/index.html?lang=en", "/two"]) {
        let f = syslog::httplog(&local(&h, line, "local2", "info").msg);
        assert_eq!(f.client_ip, "127.0.0.1");
        assert_eq!(
            (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
            ("ft_http~", "bk_http", "srv1")
        );
        assert_timers(line, &f.timers, [false; 5]);
        assert_eq!(f.status, "200");
        // http-server-close: the request to the server carries `Connection: close`, and so
        // does the answer; neither counts in %B.
        assert_eq!(f.bytes, backend_bytes("srv1", target).to_string(), "{line}");
        assert_eq!(f.term, "----");
        assert_conns(line, &f.conns, "0");
        assert_eq!(f.captures, [format!("{host}|my agent/1.0")]);
        assert_eq!(f.request, format!("GET {target} HTTP/1.1"));
    }
}

// ---------------------------------------------------------------------------
// httplog, one termination state at a time
// ---------------------------------------------------------------------------

/// A frontend `fe` on `fe_addr` with `option httplog`, `rules`, and backends `bk` (server
/// `s1` at `s1`) and `bk_dead` (server `s1` on a port where nobody listens).
fn httplog_cfg(sys: &Syslog, fe_addr: SocketAddr, s1: &str, defaults: &str, rules: &str) -> String {
    cfg(
        &[sys.log_line("local0")],
        &format!("    option httplog\n{defaults}"),
        &format!(
            "frontend fe
    bind {fe}
{rules}
    use_backend bk_dead if {{ path_beg /dead }}
    default_backend bk

backend bk
    server s1 {s1}

backend bk_dead
    server s1 {dead}
",
            fe = haproxy_addr(fe_addr),
            dead = haproxy_addr(free_addr()),
        ),
    )
}

#[test]
fn httplog_normal_200_field_by_field() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", ""), &[fe]);

    let mut c = Client::connect(fe);
    let port = c.w.local_addr().unwrap().port().to_string();
    assert_eq!(c.get("/ok?a=b", "Connection: close\r\n").status, 200);

    let lines = sys.expect_lines(1, LOG_WAIT);
    let l = local(&h, &lines[0], "local0", "info");
    // `<134>Mmm dd hh:mm:ss TAG[PID]: 127.0.0.1:PORT [dd/Mmm/yyyy:hh:mm:ss.mmm] fe bk/s1
    //  TR/Tw/Tc/Tr/Ta 200 BYTES - - ---- 1/1/0/0/0 0/0 "GET /ok?a=b HTTP/1.1"`
    let f = syslog::httplog(&l.msg);
    assert_eq!(
        (f.client_ip.as_str(), f.client_port.as_str()),
        ("127.0.0.1", port.as_str())
    );
    assert!(is_log_date_ms(&f.date));
    assert_eq!(
        (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
        ("fe", "bk", "s1")
    );
    assert_timers(&lines[0], &f.timers, [false; 5]);
    assert_eq!(f.status, "200");
    assert_eq!(f.bytes, backend_bytes("s1", "/ok?a=b").to_string());
    assert_eq!((f.req_cookie.as_str(), f.res_cookie.as_str()), ("-", "-"));
    assert_eq!(f.term, "----");
    assert_conns(&lines[0], &f.conns, "0");
    assert_eq!(f.queues, ["0", "0"]);
    assert!(f.captures.is_empty());
    assert_eq!(f.request, "GET /ok?a=b HTTP/1.1");
    assert_eq!(f.extra, "");
    // The message is exactly these 15 space-separated fields (the header took the rest).
    assert_eq!(l.msg.split(' ').count(), 15, "{}", l.msg);
}

#[test]
fn httplog_server_refusing_connections_is_503_sc() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", ""), &[fe]);

    assert_eq!(get_close(fe, "/dead/x"), 503);
    let lines = sys.expect_lines(1, LOG_WAIT);
    let f = http_fields(&h, &lines[0]);
    // 2.6: `fe bk_dead/s1 0/0/-1/-1/Ta 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /dead/x HTTP/1.1"`:
    // the server is named, Tc and Tr are -1, retries 0, %B is the built-in 503 page.
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("bk_dead", "s1"));
    assert_timers(&lines[0], &f.timers, [false, false, true, true, false]);
    assert_eq!(f.status, "503");
    assert_eq!(
        f.bytes,
        error_bytes("503", "Service Unavailable", BODY_503).to_string()
    );
    assert_eq!(f.bytes, "217");
    assert_eq!(f.term, "SC--");
    assert_conns(&lines[0], &f.conns, "0");
    assert_eq!(f.request, "GET /dead/x HTTP/1.1");
}

#[test]
fn httplog_redispatch_shows_plus_before_retries() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("live", Duration::ZERO);
    let fe = free_addr();
    let cfg = cfg(
        &[sys.log_line("local0")],
        "    option httplog",
        &format!(
            "frontend fe
    bind {fe}
    default_backend bk

backend bk
    balance roundrobin
    retries 1
    option redispatch
    server dead {dead}
    server live {live}
",
            fe = haproxy_addr(fe),
            dead = haproxy_addr(free_addr()),
            live = be.cfg_addr()
        ),
    );
    let h = start(&cfg, &[fe]);
    assert_eq!(get_close(fe, "/r"), 200);
    let lines = sys.expect_lines(1, LOG_WAIT);
    let f = http_fields(&h, &lines[0]);
    // 2.6: the first connection (to `dead`) is refused; with one retry and redispatch the
    // retry goes to `live`: `bk/live 0/0/0/Tr/Ta 200 … ---- 1/1/0/0/+1 0/0`.
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("bk", "live"));
    assert_timers(&lines[0], &f.timers, [false; 5]);
    assert_eq!(f.status, "200");
    assert_eq!(f.term, "----");
    assert_conns(&lines[0], &f.conns, "+1");
}

#[test]
fn httplog_deny_is_403_pr_nosrv_and_return_redirect_are_lr() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let rules = "    http-request deny if { path /deny }
    http-request return status 200 content-type text/plain string ok if { path /ret }
    http-request redirect location /x if { path /redir }";
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", rules), &[fe]);

    assert_eq!(get_close(fe, "/deny"), 403);
    sys.expect_lines(1, LOG_WAIT);
    assert_eq!(get_close(fe, "/ret"), 200);
    sys.expect_lines(2, LOG_WAIT);
    assert_eq!(get_close(fe, "/redir"), 302);
    let lines = sys.expect_lines(3, LOG_WAIT);
    assert!(be.seen().is_empty(), "nothing reaches the server");

    // 2.6: `fe fe/<NOSRV> 0/-1/-1/-1/0 403 192 - - PR-- 1/1/0/0/0 0/0 "GET /deny HTTP/1.1"`:
    // the backend is the frontend itself, no server, Tw/Tc/Tr -1, blocked by a Proxy rule
    // while waiting for the Request.
    let f = http_fields(&h, &lines[0]);
    assert_eq!(
        (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
        ("fe", "fe", "<NOSRV>")
    );
    assert_timers(&lines[0], &f.timers, [false, true, true, true, false]);
    assert_eq!(f.status, "403");
    assert_eq!(
        f.bytes,
        error_bytes("403", "Forbidden", BODY_403).to_string()
    );
    assert_eq!(f.bytes, "192");
    assert_eq!(f.term, "PR--");
    assert_conns(&lines[0], &f.conns, "0");
    assert_eq!(f.request, "GET /deny HTTP/1.1");

    // 2.6: `fe/<NOSRV> 0/-1/-1/-1/0 200 73 - - LR-- …`: a `return` is a Local answer
    // (status line, content-type, content-length, body "ok").
    let f = http_fields(&h, &lines[1]);
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("fe", "<NOSRV>"));
    assert_timers(&lines[1], &f.timers, [false, true, true, true, false]);
    assert_eq!(f.status, "200");
    let ret = htx_size(
        ["HTTP/1.1", "200", "OK"],
        &[("content-type", "text/plain"), ("content-length", "2")],
        2,
    );
    assert_eq!(f.bytes, ret.to_string());
    assert_eq!(f.term, "LR--");

    // 2.6: `fe/<NOSRV> 0/-1/-1/-1/0 302 83 - - LR-- …`: a redirect is Local too
    // (content-length 0, location, cache-control).
    let f = http_fields(&h, &lines[2]);
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("fe", "<NOSRV>"));
    assert_eq!(f.status, "302");
    let redir = htx_size(
        ["HTTP/1.1", "302", "Found"],
        &[
            ("content-length", "0"),
            ("location", "/x"),
            ("cache-control", "no-cache"),
        ],
        0,
    );
    assert_eq!(f.bytes, redir.to_string());
    assert_eq!(f.term, "LR--");
    assert_eq!(f.request, "GET /redir HTTP/1.1");
}

#[test]
fn httplog_malformed_requests_are_400_pr_badreq() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", ""), &[fe]);

    let bad: [&[u8]; 3] = [
        b"GET /a b c\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad header\r\n\r\n",
        b"\x01\x02garbage\r\n\r\n",
    ];
    for (i, req) in bad.iter().enumerate() {
        let answer = raw_exchange(fe, req);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let lines = sys.expect_lines(i + 1, LOG_WAIT);
        // 2.6 (H1 parser error): `fe fe/<NOSRV> -1/-1/-1/-1/Ta 400 0 - - PR-- 1/1/0/0/0 0/0
        // "<BADREQ>"`: TR is -1 too, the 400 page is sent by the connection layer so %B is 0,
        // and the request is replaced by <BADREQ>.
        let f = http_fields(&h, &lines[i]);
        assert_eq!(
            (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
            ("fe", "fe", "<NOSRV>")
        );
        assert_timers(&lines[i], &f.timers, [true, true, true, true, false]);
        assert_eq!(f.status, "400");
        assert_eq!(f.bytes, "0");
        assert_eq!(f.term, "PR--");
        assert_conns(&lines[i], &f.conns, "0");
        assert_eq!(f.request, "<BADREQ>");
    }
    assert!(be.seen().is_empty());
}

#[test]
fn httplog_client_closing_before_a_full_request_is_400_cr() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", ""), &[fe]);

    // A connection that sends nothing and closes, then one that sends half a request line.
    drop(connect(fe));
    sys.expect_lines(1, LOG_WAIT);
    let mut s = connect(fe);
    s.write_all(b"GET /half HTT").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let _ = read_to_close(&mut s, IO_TIMEOUT);
    let lines = sys.expect_lines(2, LOG_WAIT);
    // 2.6 logs both (without `option dontlognull`) as `fe/<NOSRV> -1/-1/-1/-1/Ta 400 0 - -
    // CR-- … "<BADREQ>"`: the Client closed while HAProxy waited for the Request.
    for line in &lines {
        let f = http_fields(&h, line);
        assert_eq!((f.backend.as_str(), f.server.as_str()), ("fe", "<NOSRV>"));
        assert_timers(line, &f.timers, [true, true, true, true, false]);
        assert_eq!((f.status.as_str(), f.bytes.as_str()), ("400", "0"));
        assert_eq!(f.term, "CR--");
        assert_eq!(f.request, "<BADREQ>");
    }

    // An idle keep-alive connection closed by the client after a complete exchange logs
    // nothing more than its one request.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/ka", "").status, 200);
    drop(c);
    let lines = sys.expect_lines(3, LOG_WAIT);
    assert!(sys.stays_at(3, QUIET), "{:?}", sys.lines());
    assert_eq!(http_fields(&h, &lines[2]).request, "GET /ka HTTP/1.1");
}

#[test]
fn httplog_partial_request_timing_out_is_408_cr() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let h = start(
        &httplog_cfg(&sys, fe, &be.cfg_addr(), "    timeout http-request 300", ""),
        &[fe],
    );

    let started = Instant::now();
    let answer = raw_exchange(fe, b"GET /partial HTTP/1.1\r\nHost");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // An empty connection that times out is logged the same way.
    let answer = raw_exchange(fe, b"");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let lines = sys.expect_lines(2, LOG_WAIT);
    // 2.6: `fe/<NOSRV> -1/-1/-1/-1/300 408 0 - - cR-- 1/1/0/0/0 0/0 "<BADREQ>"`: client-side
    // timeout while waiting for the Request; Ta is the time waited; %B is 0.
    for line in &lines {
        let f = http_fields(&h, line);
        assert_eq!((f.backend.as_str(), f.server.as_str()), ("fe", "<NOSRV>"));
        assert_timers(line, &f.timers, [true, true, true, true, false]);
        let ta: u64 = f.timers[4].parse().unwrap();
        assert!((250..2000).contains(&ta), "Ta {ta}: {line}");
        assert_eq!((f.status.as_str(), f.bytes.as_str()), ("408", "0"));
        assert_eq!(f.term, "cR--");
        assert_conns(line, &f.conns, "0");
        assert_eq!(f.request, "<BADREQ>");
    }
}

#[test]
fn httplog_server_not_answering_in_time_is_504_sh() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("slow", Duration::from_millis(2000));
    let fe = free_addr();
    let h = start(
        &httplog_cfg(&sys, fe, &be.cfg_addr(), "    timeout server 300", ""),
        &[fe],
    );

    assert_eq!(get_close(fe, "/slow"), 504);
    let lines = sys.expect_lines(1, LOG_WAIT);
    let f = http_fields(&h, &lines[0]);
    // 2.6: `fe bk/s1 0/0/0/-1/301 504 198 - - sH-- 1/1/0/0/0 0/0 "GET /slow HTTP/1.1"`:
    // server-side timeout while waiting for the response Headers, Tr -1, %B the 504 page.
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("bk", "s1"));
    assert_timers(&lines[0], &f.timers, [false, false, false, true, false]);
    let ta: u64 = f.timers[4].parse().unwrap();
    assert!((250..2000).contains(&ta), "Ta {ta}");
    assert_eq!(f.status, "504");
    assert_eq!(
        f.bytes,
        error_bytes("504", "Gateway Time-out", BODY_504).to_string()
    );
    assert_eq!(f.bytes, "198");
    assert_eq!(f.term, "sH--");
    assert_conns(&lines[0], &f.conns, "0");
    assert_eq!(f.request, "GET /slow HTTP/1.1");
}

#[test]
fn httplog_client_aborting_during_a_big_response_is_cd() {
    let sys = Syslog::udp();
    let big = BigBackend::start();
    let fe = free_addr();
    let h = start(&httplog_cfg(&sys, fe, &big.cfg_addr(), "", ""), &[fe]);

    let mut s = connect(fe);
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut b = [0u8; 65536];
    while got < 200_000 {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got >= 200_000, "only {got} bytes came");
    drop(s); // unread data: the close is a reset

    let lines = sys.expect_lines(1, LOG_WAIT);
    let f = http_fields(&h, &lines[0]);
    // 2.6: `fe bk/s1 0/0/0/Tr/Ta 200 BYTES - - CD-- 1/1/0/0/0 0/0 "GET /big HTTP/1.1"`: the
    // Client aborted during the Data phase; %B is what was forwarded so far.
    assert_eq!((f.backend.as_str(), f.server.as_str()), ("bk", "s1"));
    assert_timers(&lines[0], &f.timers, [false; 5]);
    assert_eq!(f.status, "200");
    let bytes: u64 = f.bytes.parse().unwrap();
    assert!((200_000..100_000_000).contains(&bytes), "{bytes}");
    assert_eq!(f.term, "CD--");
    assert_conns(&lines[0], &f.conns, "0");
}

#[test]
fn httplog_keep_alive_gives_one_line_per_request() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let fmt = "    log-format \"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %Tt %Tq %Ti %Th %Td %ST %B %U %tsc %rt %lc %{+Q}r\"";
    let h = start(&httplog_cfg(&sys, fe, &be.cfg_addr(), "", fmt), &[fe]);

    let mut c = Client::connect(fe);
    let port = c.w.local_addr().unwrap().port().to_string();
    for i in 0..3 {
        assert_eq!(c.get(&format!("/k{i}"), "").status, 200);
        if i == 1 {
            // Some idle time before the third request.
            thread::sleep(Duration::from_millis(150));
        }
    }
    let lines = sys.expect_lines(3, LOG_WAIT);
    drop(c);
    assert!(
        sys.stays_at(3, QUIET),
        "closing the idle connection logs nothing"
    );

    // 2.6, one line per request, same client port:
    // `127.0.0.1:P [date] fe bk/s1 0/0/0/Tr/Ta Tt Tq Ti Th Td 200 B U ---- RT LC "GET /kN HTTP/1.1"`
    // %rt (request counter) and %lc (frontend log counter) count 0, 1, 2; on a keep-alive
    // connection %Tt and %Tq include the idle time before the request (%Ti).
    for (i, line) in lines.iter().enumerate() {
        let l = local(&h, line, "local0", "info");
        let w: Vec<&str> = l.msg.splitn(17, ' ').collect();
        assert_eq!(w.len(), 17, "{line}");
        assert_eq!(w[0], format!("127.0.0.1:{port}"));
        let date = w[1].trim_start_matches('[').trim_end_matches(']');
        assert!(is_log_date_ms(date), "{line}");
        assert_eq!((w[2], w[3]), ("fe", "bk/s1"));
        let timers: [String; 5] = w[4]
            .split('/')
            .map(str::to_string)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        assert_timers(line, &timers, [false; 5]);
        for t in &w[5..10] {
            assert!(is_timer(t, false), "{t} in {line}");
        }
        let (tt, ti): (u64, u64) = (w[5].parse().unwrap(), w[7].parse().unwrap());
        assert!(tt >= ti, "Tt {tt} includes Ti {ti}: {line}");
        if i == 2 {
            assert!(
                ti >= 100,
                "Ti of the third request counts the idle time: {line}"
            );
        }
        assert_eq!(w[10], "200");
        let target = format!("/k{i}");
        assert_eq!(w[11], backend_bytes("s1", &target).to_string());
        assert_eq!(w[12], client_bytes(&target, &[]).to_string());
        assert_eq!(w[13], "----");
        assert_eq!(
            (w[14], w[15]),
            (i.to_string().as_str(), i.to_string().as_str())
        );
        assert_eq!(w[16], format!("\"GET {target} HTTP/1.1\""));
    }
}

// ---------------------------------------------------------------------------
// tcplog, clf, httpslog, log-format
// ---------------------------------------------------------------------------

#[test]
fn tcplog_fields_and_termination_states() {
    let sys = Syslog::udp();
    let be = TcpBackend::echo_named("alpha");
    let (fe, fe_dead, fe_plain) = (free_addr(), free_addr(), free_addr());
    let cfg = cfg(
        &[sys.log_line("local0")],
        "    timeout client 500",
        &format!(
            "listen tcp
    mode tcp
    option tcplog
    bind {fe}
    server s1 {s1}

listen tcpdead
    mode tcp
    option tcplog
    bind {fe_dead}
    server s1 {dead}

listen tcpdefault
    mode tcp
    bind {fe_plain}
    server s1 {s1}
",
            fe = haproxy_addr(fe),
            fe_dead = haproxy_addr(fe_dead),
            fe_plain = haproxy_addr(fe_plain),
            s1 = be.cfg_addr(),
            dead = haproxy_addr(free_addr()),
        ),
    );
    let h = start(&cfg, &[fe, fe_dead, fe_plain]);

    // A normal exchange: "HELLO\n" in, "alpha\n" out, the server closes.
    assert_eq!(request(fe).unwrap(), "alpha");
    let lines = sys.expect_lines(1, LOG_WAIT);
    let t = tcp_fields(&h, &lines[0]);
    // 2.6: `127.0.0.1:P [date] tcp tcp/s1 Tw/Tc/Tt 6 -- 1/1/0/0/0 0/0`: %B counts the bytes
    // from the server as sent (6), `--` is a normal end.
    assert_eq!(t.client_ip, "127.0.0.1");
    assert!(is_log_date_ms(&t.date));
    assert_eq!(
        (t.frontend.as_str(), t.backend.as_str(), t.server.as_str()),
        ("tcp", "tcp", "s1")
    );
    assert_timers(&lines[0], &t.timers, [false; 3]);
    assert_eq!(t.bytes, "6");
    assert_eq!(t.term, "--");
    assert_conns(&lines[0], &t.conns, "0");
    assert_eq!(t.queues, ["0", "0"]);

    // A server refusing the connection: `tcpdead/s1 Tw/-1/Tt 0 SC …`.
    let mut s = connect(fe_dead);
    let _ = s.write_all(b"HELLO\n");
    let _ = read_to_close(&mut s, IO_TIMEOUT);
    let lines = sys.expect_lines(2, LOG_WAIT);
    let t = tcp_fields(&h, &lines[1]);
    assert_eq!((t.backend.as_str(), t.server.as_str()), ("tcpdead", "s1"));
    assert_timers(&lines[1], &t.timers, [false, true, false]);
    assert_eq!((t.bytes.as_str(), t.term.as_str()), ("0", "SC"));
    assert_conns(&lines[1], &t.conns, "0");

    // A client that stays silent until `timeout client` (500 ms): `cD`, Tt about 500.
    let mut s = connect(fe);
    let _ = read_to_close(&mut s, IO_TIMEOUT);
    let lines = sys.expect_lines(3, LOG_WAIT);
    let t = tcp_fields(&h, &lines[2]);
    assert_timers(&lines[2], &t.timers, [false; 3]);
    let tt: u64 = t.timers[2].parse().unwrap();
    assert!((400..3000).contains(&tt), "Tt {tt}");
    assert_eq!((t.bytes.as_str(), t.term.as_str()), ("0", "cD"));

    // A client that connects and closes at once is still logged (no dontlognull): `--`, 0.
    drop(connect(fe));
    let lines = sys.expect_lines(4, LOG_WAIT);
    let t = tcp_fields(&h, &lines[3]);
    assert_eq!((t.bytes.as_str(), t.term.as_str()), ("0", "--"));

    // Without `option tcplog`, 2.6 logs the connection at accept in the old default format:
    // `Connect from 127.0.0.1:P to 127.0.0.1:FEPORT (tcpdefault/TCP)`.
    let mut s = connect(fe_plain);
    let port = s.local_addr().unwrap().port();
    s.write_all(b"HELLO\n").unwrap();
    let _ = read_to_close(&mut s, IO_TIMEOUT);
    let lines = sys.expect_lines(5, LOG_WAIT);
    let l = local(&h, &lines[4], "local0", "info");
    assert_eq!(
        l.msg,
        format!(
            "Connect from 127.0.0.1:{port} to {} (tcpdefault/TCP)",
            haproxy_addr(fe_plain)
        )
    );
}

#[test]
fn httplog_clf_fields() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = cfg(
        &[sys.log_line("local0")],
        "",
        &format!(
            "listen clf
    option httplog clf
    bind {fe}
    capture request header Host len 10
    server s1 {s1}
",
            fe = haproxy_addr(fe),
            s1 = be.cfg_addr()
        ),
    );
    let h = start(&cfg, &[fe]);
    let mut c = Client::connect(fe);
    let port = c.w.local_addr().unwrap().port();
    assert_eq!(c.get("/c", "Connection: close\r\n").status, 200);
    let lines = sys.expect_lines(1, LOG_WAIT);
    let l = local(&h, &lines[0], "local0", "info");

    // 2.6 `option httplog clf`:
    // `127.0.0.1 - - [dd/Mmm/yyyy:hh:mm:ss +0000] "GET /c HTTP/1.1" 200 B "" "" PORT MS
    //  "clf" "clf" "s1" TR Tw Tc Tr Ta ---- 1 1 0 0 0 0 0 "" "" "test" ` (trailing space):
    // CLF fields first, then every httplog field one per word, quoted strings, and the
    // request captures as a quoted list.
    let msg = &l.msg;
    let (head, rest) = msg.split_once(" [").unwrap();
    assert_eq!(head, "127.0.0.1 - -");
    let (date, rest) = rest.split_once("] ").unwrap();
    assert!(is_log_date_tz(date), "{date}");
    let w: Vec<&str> = rest.split(' ').collect();
    assert_eq!(w.len(), 29, "{msg:?}");
    assert_eq!(&w[0..3], ["\"GET", "/c", "HTTP/1.1\""]);
    assert_eq!(w[3], "200");
    assert_eq!(w[4], backend_bytes("s1", "/c").to_string());
    assert_eq!(&w[5..7], ["\"\"", "\"\""]);
    assert_eq!(w[7], port.to_string());
    assert!(is_uint(w[8]) && w[8].len() == 3, "milliseconds {}", w[8]);
    assert_eq!(&w[9..12], ["\"clf\"", "\"clf\"", "\"s1\""]);
    for t in &w[12..17] {
        assert!(is_timer(t, false), "{t}");
    }
    assert_eq!(w[17], "----");
    assert!(is_uint(w[18]) && is_uint(w[19]));
    assert_eq!(&w[20..25], ["0", "0", "0", "0", "0"]);
    assert_eq!(&w[25..29], ["\"\"", "\"\"", "\"test\"", ""]);
    assert!(msg.ends_with("\"test\" "), "{msg:?}");
}

#[test]
fn httpslog_adds_the_tls_fields() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let pki = Pki::site();
    let fe = free_addr();
    let cfg = cfg(
        &[sys.log_line("local0")],
        "",
        &format!(
            "frontend https
    bind {fe} ssl crt {site}
    option httpslog
    default_backend bk

backend bk
    server s1 {s1}
",
            fe = haproxy_addr(fe),
            site = pki.p("site.pem"),
            s1 = be.cfg_addr()
        ),
    );
    let h = start(&cfg, &[fe]);
    let out = curl_tls(fe, &["/tls"], &pki.path("ca.crt"), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Without SNI (openssl s_client -noservername).
    let o = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &haproxy_addr(fe),
            "-noservername",
            "-ign_eof",
            "-tls1_3",
        ],
        b"GET /nosni HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(o.stdout.contains("s1 /nosni 0"), "{}", o.all());

    let lines = sys.expect_lines(2, LOG_WAIT);
    // 2.6 `option httpslog`: the httplog fields with `https~`, then
    // `0/0000000000000000/0/0/0 localhost/TLSv1.3/TLS_AES_256_GCM_SHA384`: fc_err,
    // ssl_fc_err as 16 hex digits, ssl_c_err, ssl_c_ca_err, ssl_fc_is_resumed, then the SNI
    // (`-` without), the protocol and the cipher (its IANA name).
    for (line, (target, sni)) in lines.iter().zip([("/tls", "localhost"), ("/nosni", "-")]) {
        let f = http_fields(&h, line);
        assert_eq!(
            (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
            ("https~", "bk", "s1")
        );
        assert_eq!(f.status, "200");
        assert_eq!(f.term, "----");
        assert_eq!(f.request, format!("GET {target} HTTP/1.1"));
        let (errs, names) = f.extra.split_once(' ').expect("two TLS fields");
        assert_eq!(errs, "0/0000000000000000/0/0/0", "{line}");
        let n: Vec<&str> = names.split('/').collect();
        assert_eq!(n.len(), 3, "{line}");
        assert_eq!((n[0], n[1]), (sni, "TLSv1.3"), "{line}");
        assert!(
            n[2].starts_with("TLS_AES_") || n[2].starts_with("TLS_CHACHA20_"),
            "{line}"
        );
    }
}

#[test]
fn log_format_aliases_and_sample_expressions() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let fmt = [
        "%HM",
        "%HP",
        "%HPO",
        "%HQ",
        "%HU",
        "%HV",
        "%ST",
        "%f",
        "%ft",
        "%b",
        "%s",
        "%ci",
        "%cp",
        "%fi",
        "%fp",
        "%si",
        "%sp",
        "%{+X}ci",
        "%{+X}cp",
        "%{+X}fp",
        "%{+Q}r",
        "%{+Q}HM",
        "%[var(txn.a)]",
        "%[var(txn.a),upper]",
        "%[str(lit)]",
        "%[int(5),add(2)]",
        "%[src]",
        "%[fe_name]",
        "%[capture.req.hdr(1)]",
        "%hr",
        "%hrl",
        "%hs",
        "%hsl",
        "%CC",
        "%CS",
        "%tsc",
        "%ts",
        "%pid",
        "%{+X}pid",
        "%rc",
        "%sq",
        "%bq",
        "%ms",
        "%Ts",
        "%{+X}Ts",
        "%T",
        "%Tl",
        "%tr",
        "%trg",
        "%trl",
        "%%",
        "%[var(txn.nope)]",
        "%{+Q}[var(txn.nope)]",
        "%bi",
        "%bp",
        "%H",
        "%ac",
        "%fc",
        "%bc",
        "%sc",
        "%lc",
        "%rt",
        "%U",
        "%B",
        "end",
    ]
    .join("|");
    let cfg = cfg(
        &[sys.log_line("local0")],
        "",
        &format!(
            "frontend fe
    bind {fe}
    capture request header Host len 5
    capture response header Content-Length len 10
    declare capture request len 20
    http-request capture req.hdr(x-cap) id 1
    http-request set-var(txn.a) req.hdr(x-a)
    log-format \"{fmt}\"
    default_backend bk

backend bk
    server s1 {s1}
",
            fe = haproxy_addr(fe),
            s1 = be.cfg_addr()
        ),
    );
    let h = start(&cfg, &[fe]);
    let mut c = Client::connect(fe);
    let port = c.w.local_addr().unwrap().port();
    c.send(b"GET /p/a.b?x=1&y=%20z HTTP/1.1\r\nHost: hostname.example\r\nX-A: value a\r\nX-Cap: cc\r\nConnection: close\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    let lines = sys.expect_lines(1, LOG_WAIT);
    let l = local(&h, &lines[0], "local0", "info");
    let v: Vec<&str> = l.msg.split('|').collect();
    let names: Vec<&str> = fmt.split('|').collect();
    // `%hr` is `{hostn|cc}`: it holds a `|`, so every later field is one further.
    assert_eq!(v.len(), names.len() + 1, "{}", l.msg);
    let get = |name: &str| -> String {
        let i = names.iter().position(|n| *n == name).unwrap();
        let i = if i > names.iter().position(|n| *n == "%hr").unwrap() {
            i + 1
        } else {
            i
        };
        v[i].to_string()
    };
    let body_len = "s1 /p/a.b?x=1&y=%20z 0\n".len().to_string();
    let fport = fe.port();
    let sport = be.addr.port();
    // 2.6 values, one alias at a time.
    let expect: Vec<(&str, String)> = vec![
        ("%HM", "GET".into()),
        ("%HP", "/p/a.b".into()),
        ("%HPO", "/p/a.b".into()),
        ("%HQ", "?x=1&y=%20z".into()),
        ("%HU", "/p/a.b?x=1&y=%20z".into()),
        ("%HV", "HTTP/1.1".into()),
        ("%ST", "200".into()),
        ("%f", "fe".into()),
        ("%ft", "fe".into()),
        ("%b", "bk".into()),
        ("%s", "s1".into()),
        ("%ci", "127.0.0.1".into()),
        ("%cp", port.to_string()),
        ("%fi", "127.0.0.1".into()),
        ("%fp", fport.to_string()),
        ("%si", "127.0.0.1".into()),
        ("%sp", sport.to_string()),
        // +X: IPv4 as 8 upper-case hex digits, ports as 4.
        ("%{+X}ci", "7F000001".into()),
        ("%{+X}cp", format!("{port:04X}")),
        ("%{+X}fp", format!("{fport:04X}")),
        ("%{+Q}r", "\"GET /p/a.b?x=1&y=%20z HTTP/1.1\"".into()),
        ("%{+Q}HM", "\"GET\"".into()),
        ("%[var(txn.a)]", "value a".into()),
        ("%[var(txn.a),upper]", "VALUE A".into()),
        ("%[str(lit)]", "lit".into()),
        ("%[int(5),add(2)]", "7".into()),
        ("%[src]", "127.0.0.1".into()),
        ("%[fe_name]", "fe".into()),
        ("%[capture.req.hdr(1)]", "cc".into()),
        // Captures: the Host truncated to `len 5`; %hr is `{hostn|cc}` (split above).
        ("%hrl", "hostn cc".into()),
        ("%hs", format!("{{{body_len}}}")),
        ("%hsl", body_len.clone()),
        ("%CC", "-".into()),
        ("%CS", "-".into()),
        ("%tsc", "----".into()),
        ("%ts", "--".into()),
        ("%pid", h.pid().to_string()),
        ("%{+X}pid", format!("{:X}", h.pid())),
        ("%rc", "0".into()),
        ("%sq", "0".into()),
        ("%bq", "0".into()),
        ("%%", "%".into()),
        // An unset variable is `-`, and `""` when quoted.
        ("%[var(txn.nope)]", "-".into()),
        ("%{+Q}[var(txn.nope)]", "\"\"".into()),
        ("%bi", "127.0.0.1".into()),
        ("%H", hostname()),
        ("%bc", "0".into()),
        ("%sc", "0".into()),
        ("%lc", "0".into()),
        ("%rt", "0".into()),
        (
            "%U",
            htx_size(
                ["GET", "/p/a.b?x=1&y=%20z", "HTTP/1.1"],
                &[
                    ("host", "hostname.example"),
                    ("x-a", "value a"),
                    ("x-cap", "cc"),
                ],
                0,
            )
            .to_string(),
        ),
        ("%B", backend_bytes("s1", "/p/a.b?x=1&y=%20z").to_string()),
        ("end", "end".into()),
    ];
    for (name, want) in &expect {
        assert_eq!(&get(name), want, "{name} in {}", l.msg);
    }
    let hr = format!(
        "{}|{}",
        get("%hr"),
        v[names.iter().position(|n| *n == "%hr").unwrap() + 1]
    );
    assert_eq!(hr, "{hostn|cc}");
    // Shapes: %ms three digits, %Ts a UNIX time (and its hex), dates with and without zone.
    assert!(is_uint(&get("%ms")) && get("%ms").len() == 3);
    let ts: u64 = get("%Ts").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts + 60 > now && ts <= now + 1, "%Ts {ts}");
    assert_eq!(get("%{+X}Ts"), format!("{ts:X}"));
    for d in ["%T", "%Tl", "%trg", "%trl"] {
        assert!(is_log_date_tz(&get(d)), "{d} = {}", get(d));
    }
    assert!(is_log_date_ms(&get("%tr")));
    assert!(is_uint(&get("%bp")) && is_uint(&get("%ac")) && is_uint(&get("%fc")));
}

#[test]
fn log_format_absolute_uri_and_unique_id() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = cfg(
        &[sys.log_line("local0")],
        "",
        &format!(
            "frontend fe
    bind {fe}
    unique-id-format \"%{{+X}}o%ci:%cp_%fi:%fp_%rt\"
    unique-id-header X-Unique-ID
    log-format \"%ID %HM %HP %HPO %HQ %HU %{{+Q}}r %[unique-id]\"
    default_backend bk

backend bk
    server s1 {s1}
",
            fe = haproxy_addr(fe),
            s1 = be.cfg_addr()
        ),
    );
    let h = start(&cfg, &[fe]);
    let mut c = Client::connect(fe);
    let port = c.w.local_addr().unwrap().port();
    assert_eq!(c.get("/one", "").status, 200);
    c.send(b"GET http://abs.example/p?q HTTP/1.1\r\nHost: abs.example\r\n\r\n");
    assert_eq!(c.read().unwrap().status, 200);
    let lines = sys.expect_lines(2, LOG_WAIT);

    // `%{+X}o` makes every following alias hex: `7F000001:PPPP_7F000001:FFFF_0000`, with %rt
    // (the request counter) as 4 hex digits; the same id reaches the server in X-Unique-ID.
    let id = |rt: u32| format!("7F000001:{port:04X}_7F000001:{:04X}_{rt:04X}", fe.port());
    let seen = be.seen();
    assert_eq!(seen[0].header("x-unique-id"), Some(id(0).as_str()));
    assert_eq!(seen[1].header("x-unique-id"), Some(id(1).as_str()));
    let m0 = local(&h, &lines[0], "local0", "info").msg;
    // %HQ without a query is empty (not `-`).
    assert_eq!(
        m0,
        format!(
            "{} GET /one /one  /one \"GET /one HTTP/1.1\" {}",
            id(0),
            id(0)
        )
    );
    // An absolute URI: %HP and %HU keep the scheme and authority, %HPO is the path only,
    // %HQ the query with its `?`.
    let m1 = local(&h, &lines[1], "local0", "info").msg;
    assert_eq!(
        m1,
        format!(
            "{} GET http://abs.example/p /p ?q http://abs.example/p?q \"GET http://abs.example/p?q HTTP/1.1\" {}",
            id(1),
            id(1)
        )
    );
}

// ---------------------------------------------------------------------------
// The syslog line: formats, facility and level, len, tag, hostname
// ---------------------------------------------------------------------------

/// A frontend answering every request itself with `log-format "hello %ST"`.
fn hello_cfg(global: &[String], fe: SocketAddr, extra: &str) -> String {
    cfg(
        global,
        "",
        &format!(
            "frontend f
    bind {}
    log-format \"hello %ST\"
{extra}
    http-request return status 200
",
            haproxy_addr(fe)
        ),
    )
}

#[test]
fn every_log_format_writes_its_own_header() {
    let formats = [
        ("local", Format::Local),
        ("rfc3164", Format::Rfc3164),
        ("rfc5424", Format::Rfc5424),
        ("short", Format::Short),
        ("raw", Format::Raw),
        ("iso", Format::Iso),
        ("timed", Format::Timed),
        ("priority", Format::Priority),
    ];
    let sys: Vec<Syslog> = formats.iter().map(|_| Syslog::udp()).collect();
    let global: Vec<String> = formats
        .iter()
        .zip(&sys)
        .map(|((name, _), s)| s.log_line(&format!("format {name} local3")))
        .collect();
    let fe = free_addr();
    let h = start(&hello_cfg(&global, fe, ""), &[fe]);
    assert_eq!(get_close(fe, "/"), 200);

    let p = pri("local3", "info"); // 158
    let pid = Some(h.pid());
    let tag = Some(tag());
    for ((name, f), s) in formats.iter().zip(&sys) {
        let lines = s.expect_lines(1, LOG_WAIT);
        // Every datagram ends with one `\n`.
        let d = s.datagrams().remove(0);
        assert!(
            d.ends_with(b"0\n") && !d.ends_with(b"\n\n"),
            "{name}: {d:?}"
        );
        let l = syslog::header(*f, &lines[0]);
        assert_eq!(l.msg, "hello 200", "{name}: {}", lines[0]);
        match f {
            // `<158>Dec  4 18:23:15 TAG[PID]: hello 200`
            Format::Local => assert_eq!(
                (l.pri, l.host, l.tag, l.pid),
                (Some(p), None, tag.clone(), pid)
            ),
            // `<158>Dec  4 18:23:15 localhost TAG[PID]: hello 200`: without
            // log-send-hostname the mandatory host field is the literal `localhost` (not the
            // system name).
            Format::Rfc3164 => assert_eq!(
                (l.pri, l.host, l.tag, l.pid),
                (Some(p), Some("localhost".into()), tag.clone(), pid)
            ),
            // `<158>1 2026-12-04T18:23:15.556820+00:00 - TAG PID - - hello 200`: no host name
            // unless log-send-hostname.
            Format::Rfc5424 => assert_eq!(
                (l.pri, l.version, l.host, l.tag, l.pid),
                (Some(p), Some(1), Some("-".into()), tag.clone(), pid)
            ),
            // `<6>hello 200`: the severity alone.
            Format::Short => assert_eq!(l.pri, Some(6)),
            // `<6>2026-12-04T18:23:15.556859+00:00 hello 200`
            Format::Timed => assert_eq!(l.pri, Some(6)),
            // `2026-12-04T18:23:15.556853+00:00 hello 200`
            Format::Iso => assert!(is_iso_date(l.timestamp.as_deref().unwrap())),
            // `<158>hello 200`
            Format::Priority => assert_eq!(l.pri, Some(p)),
            // `hello 200`
            Format::Raw => assert_eq!(lines[0], "hello 200"),
        }
    }
}

#[test]
fn len_truncates_the_whole_line_and_1024_is_the_default() {
    let (short, dflt) = (Syslog::udp(), Syslog::udp());
    let fe = free_addr();
    let long = "0123456789".repeat(200);
    let cfg = cfg(
        &[short.log_line("len 80 local3"), dflt.log_line("local3")],
        "",
        &format!(
            "frontend f
    bind {}
    log-format \"hello %ST {long}\"
    http-request return status 200
",
            haproxy_addr(fe)
        ),
    );
    let h = start(&cfg, &[fe]);
    assert_eq!(get_close(fe, "/"), 200);

    // `len 80`: the line (header included) is cut to 80 bytes, then `\n` is added: an
    // 81-byte datagram. Without `len`, 1024 + `\n`.
    for (s, n) in [(&short, 80), (&dflt, 1024)] {
        s.expect_lines(1, LOG_WAIT);
        let d = s.datagrams().remove(0);
        assert_eq!(d.len(), n + 1, "{}", String::from_utf8_lossy(&d));
        assert_eq!(d[n], b'\n');
        let line = String::from_utf8_lossy(&d[..n]).into_owned();
        let l = local(&h, &line, "local3", "info");
        let full = format!("hello 200 {long}");
        assert!(full.starts_with(&l.msg), "{line}");
        assert!(l.msg.len() < full.len());
    }
}

#[test]
fn log_tag_and_log_send_hostname() {
    let names = ["g3164", "g5424", "p3164", "p5424"];
    let sys: Vec<Syslog> = names.iter().map(|_| Syslog::udp()).collect();
    let (fe, fe2) = (free_addr(), free_addr());
    let cfg = cfg(
        &[
            "log-send-hostname myhost".to_string(),
            "log-tag gtag".to_string(),
            sys[0].log_line("local3"),
            sys[1].log_line("format rfc5424 local3"),
        ],
        "",
        &format!(
            "frontend f
    bind {fe}
    log-format \"hello %ST\"
    http-request return status 200

frontend f2
    bind {fe2}
    no log
    log-tag ptag
    {l3}
    {l4}
    log-format \"hello %ST\"
    http-request return status 200
",
            fe = haproxy_addr(fe),
            fe2 = haproxy_addr(fe2),
            l3 = sys[2].log_line("local3"),
            l4 = sys[3].log_line("format rfc5424 local3"),
        ),
    );
    let h = start(&cfg, &[fe, fe2]);
    assert_eq!(get_close(fe, "/"), 200);
    assert_eq!(get_close(fe2, "/"), 200);

    // With `log-send-hostname NAME` the default format becomes rfc3164 with NAME as host,
    // and rfc5424 carries NAME too. The global `log-tag` replaces the program name; a
    // proxy's own `log-tag` wins for its logs.
    let expect = [
        ("gtag", Format::Rfc3164),
        ("gtag", Format::Rfc5424),
        ("ptag", Format::Rfc3164),
        ("ptag", Format::Rfc5424),
    ];
    for (s, (t, f)) in sys.iter().zip(expect) {
        let lines = s.expect_lines(1, LOG_WAIT);
        let l = syslog::header(f, &lines[0]);
        assert_eq!(l.pri, Some(pri("local3", "info")), "{}", lines[0]);
        assert_eq!(l.host.as_deref(), Some("myhost"), "{}", lines[0]);
        assert_eq!(l.tag.as_deref(), Some(t), "{}", lines[0]);
        assert_eq!(l.pid, Some(h.pid()));
        assert_eq!(l.msg, "hello 200");
    }
}

#[test]
fn log_send_hostname_without_a_name_sends_the_system_host_name() {
    let (a, b) = (Syslog::udp(), Syslog::udp());
    let fe = free_addr();
    let global = [
        "log-send-hostname".to_string(),
        a.log_line("local0"),
        b.log_line("format rfc5424 local0"),
    ];
    let h = start(&hello_cfg(&global, fe, ""), &[fe]);
    assert_eq!(get_close(fe, "/"), 200);
    // `log-send-hostname` alone: gethostname(), in rfc3164 (now the default) and rfc5424.
    for (s, f) in [(&a, Format::Rfc3164), (&b, Format::Rfc5424)] {
        let lines = s.expect_lines(1, LOG_WAIT);
        let l = syslog::header(f, &lines[0]);
        assert_eq!(l.host, Some(hostname()), "{}", lines[0]);
        assert_eq!((l.tag, l.pid), (Some(tag()), Some(h.pid())));
        assert_eq!(l.msg, "hello 200");
    }
}

#[test]
fn facility_and_levels_make_the_pri_filter_and_cap() {
    let names = ["notice", "debugcap", "user_err", "daemon"];
    let sys: Vec<Syslog> = names.iter().map(|_| Syslog::udp()).collect();
    let fe = free_addr();
    let cfg = cfg(
        &[
            sys[0].log_line("local0 notice"),
            sys[1].log_line("local0 debug debug"),
        ],
        "",
        &format!(
            "frontend f
    bind {fe}
    {l2}
    {l3}
    option httplog
    option log-separate-errors
    http-request return status 503 if {{ path /e }}
    http-request return status 200
",
            fe = haproxy_addr(fe),
            l2 = sys[2].log_line("user err"),
            l3 = sys[3].log_line("daemon"),
        ),
    );
    let h = start(&cfg, &[fe]);
    assert_eq!(get_close(fe, "/"), 200);
    assert_eq!(get_close(fe, "/e"), 503);

    // `daemon` (no level): everything, info = <30>; with log-separate-errors the 503 is
    // raised to err = <27>.
    let d = sys[3].expect_lines(2, LOG_WAIT);
    let ok = d.iter().find(|l| l.contains("\"GET / HTTP/1.1\"")).unwrap();
    let err = d
        .iter()
        .find(|l| l.contains("\"GET /e HTTP/1.1\""))
        .unwrap();
    local(&h, ok, "daemon", "info");
    let f = syslog::httplog(&local(&h, err, "daemon", "err").msg);
    assert_eq!((f.status.as_str(), f.term.as_str()), ("503", "LR--"));
    // `user err`: only the error line, <11>.
    let u = sys[2].expect_lines(1, LOG_WAIT);
    local(&h, &u[0], "user", "err");
    assert!(u[0].contains("\"GET /e HTTP/1.1\""));
    // `local0 debug debug`: the minimum level caps info and err to debug: <135> twice.
    let c = sys[1].expect_lines(2, LOG_WAIT);
    for l in &c {
        local(&h, l, "local0", "debug");
    }
    // `local0 notice`: the info line is filtered out, the err one passes at err = <131>.
    let n = sys[0].expect_lines(1, LOG_WAIT);
    local(&h, &n[0], "local0", "err");
    assert!(n[0].contains("\"GET /e HTTP/1.1\""));
    assert!(sys[0].stays_at(1, QUIET) && sys[2].stays_at(1, QUIET));
}

#[test]
fn log_global_adds_to_a_proxys_own_lines_and_backend_lines_are_not_used() {
    let (g, own, bel) = (Syslog::udp(), Syslog::udp(), Syslog::udp());
    let ux = Syslog::unix();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let (fe, fe_own) = (free_addr(), free_addr());
    let cfg = format!(
        "global
    {gl}

defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend both
    bind {fe}
    log global
    {ownl}
    {uxl}
    log-format \"both %b\"
    default_backend bk

frontend ownonly
    bind {fe_own}
    {ownl}
    log-format \"own %b\"
    default_backend bk

backend bk
    {bel}
    server s1 {s1}
",
        gl = g.log_line("local0"),
        fe = haproxy_addr(fe),
        fe_own = haproxy_addr(fe_own),
        ownl = own.log_line("local1"),
        uxl = ux.log_line("local2"),
        bel = bel.log_line("local3"),
        s1 = be.cfg_addr()
    );
    let h = start(&cfg, &[fe, fe_own]);
    assert_eq!(get_close(fe, "/"), 200);
    assert_eq!(get_close(fe_own, "/"), 200);

    // `log global` plus the proxy's own `log` lines: the line goes to each, with each
    // target's facility (the UNIX datagram socket included).
    let gl = g.expect_lines(1, LOG_WAIT);
    assert_eq!(local(&h, &gl[0], "local0", "info").msg, "both bk");
    let ul = ux.expect_lines(1, LOG_WAIT);
    assert_eq!(local(&h, &ul[0], "local2", "info").msg, "both bk");
    let ol = own.expect_lines(2, LOG_WAIT);
    let mut msgs: Vec<String> = ol
        .iter()
        .map(|l| local(&h, l, "local1", "info").msg)
        .collect();
    msgs.sort();
    assert_eq!(msgs, ["both bk", "own bk"]);
    // The frontend decides where traffic is logged: the backend's `log` line gets nothing,
    // and a proxy without `log global` does not reach the global target.
    assert!(g.stays_at(1, QUIET), "{:?}", g.lines());
    assert_eq!(bel.count(), 0, "{:?}", bel.lines());
}

#[test]
fn no_log_dontlognull_and_dontlog_normal() {
    let (a, b, c) = (Syslog::udp(), Syslog::udp(), Syslog::udp());
    let (fe_nolog, fe_null, fe_normal, fe_tcp) =
        (free_addr(), free_addr(), free_addr(), free_addr());
    let be = TcpBackend::echo_named("alpha");
    let cfg = cfg(
        &[a.log_line("local0")],
        "    option httplog",
        &format!(
            "frontend nolog
    bind {fe_nolog}
    no log
    http-request return status 200

frontend null
    bind {fe_null}
    option dontlognull
    http-request return status 200

frontend normal
    bind {fe_normal}
    no log
    {cl}
    option dontlog-normal
    http-request return status 500 if {{ path /e }}
    http-request return status 200

listen tcpnull
    mode tcp
    bind {fe_tcp}
    no log
    {bl}
    option tcplog
    option dontlognull
    server s1 {s1}
",
            fe_nolog = haproxy_addr(fe_nolog),
            fe_null = haproxy_addr(fe_null),
            fe_normal = haproxy_addr(fe_normal),
            fe_tcp = haproxy_addr(fe_tcp),
            cl = c.log_line("local0"),
            bl = b.log_line("local0"),
            s1 = be.cfg_addr(),
        ),
    );
    let h = start(&cfg, &[fe_nolog, fe_null, fe_normal, fe_tcp]);

    // `no log` in a proxy: nothing, even though defaults say `log global`.
    assert_eq!(get_close(fe_nolog, "/"), 200);
    // dontlognull: a connection that sends nothing is not logged (it would be a 400 CR--
    // without the option), the next real request is.
    drop(connect(fe_null));
    assert_eq!(get_close(fe_null, "/after-null"), 200);
    let lines = a.expect_lines(1, LOG_WAIT);
    assert!(a.stays_at(1, QUIET), "{:?}", a.lines());
    assert_eq!(
        http_fields(&h, &lines[0]).request,
        "GET /after-null HTTP/1.1"
    );

    // The same in TCP mode.
    drop(connect(fe_tcp));
    assert_eq!(request(fe_tcp).unwrap(), "alpha");
    let lines = b.expect_lines(1, LOG_WAIT);
    assert!(b.stays_at(1, QUIET), "{:?}", b.lines());
    assert_eq!(tcp_fields(&h, &lines[0]).bytes, "6");

    // dontlog-normal: the 200 is not logged, the 500 is (a 5xx is not "normal").
    assert_eq!(get_close(fe_normal, "/"), 200);
    assert_eq!(get_close(fe_normal, "/e"), 500);
    let lines = c.expect_lines(1, LOG_WAIT);
    assert!(c.stays_at(1, QUIET), "{:?}", c.lines());
    let f = http_fields(&h, &lines[0]);
    assert_eq!(
        (f.status.as_str(), f.term.as_str(), f.request.as_str()),
        ("500", "LR--", "GET /e HTTP/1.1")
    );
}

#[test]
fn log_sample_keeps_the_chosen_lines() {
    let sys = Syslog::udp();
    let fe = free_addr();
    let h = start(
        &hello_cfg(
            &[],
            fe,
            &format!("    no log\n    {}", sys.log_line("sample 1:3 local0")),
        ),
        &[fe],
    );
    // `sample 1:3`: the 1st of every 3 lines: requests 1, 4 and 7 of 7.
    for i in 1..=7 {
        let mut c = Client::connect(fe);
        assert_eq!(c.get(&format!("/{i}"), "Connection: close\r\n").status, 200);
    }
    let lines = sys.expect_lines(3, LOG_WAIT);
    assert!(sys.stays_at(3, QUIET), "{:?}", sys.lines());
    for l in &lines {
        assert_eq!(local(&h, l, "local0", "info").msg, "hello 200");
    }
}

#[test]
fn log_stdout_format_raw_writes_to_standard_output() {
    let fe = free_addr();
    let cfg = cfg(
        &["log stdout format raw local0".to_string()],
        "    option httplog",
        &format!(
            "frontend f
    bind {}
    http-request return status 200
",
            haproxy_addr(fe)
        ),
    );
    let h = start(&cfg, &[fe]);
    assert_eq!(get_close(fe, "/out"), 200);
    // `-db` keeps stdout: the bare httplog message, one line ending in `\n`.
    assert!(
        wait_until(LOG_WAIT, || h
            .stdout_text()
            .contains("\"GET /out HTTP/1.1\"\n")),
        "stdout: {:?}",
        h.stdout_text()
    );
    let out = h.stdout_text();
    let line = out.lines().find(|l| l.contains("GET /out")).unwrap();
    let f = syslog::httplog(line);
    assert_eq!(
        (f.frontend.as_str(), f.backend.as_str(), f.server.as_str()),
        ("f", "f", "<NOSRV>")
    );
    assert_eq!((f.status.as_str(), f.term.as_str()), ("200", "LR--"));
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[test]
fn bad_log_lines_are_refused_with_their_line() {
    // (line, words the message must name): 2.6's wording is asserted loosely.
    let mut cases: Vec<(&str, &[&str])> = vec![
        ("log 127.0.0.1:514 local9", &["local9", "facility"]),
        ("log 127.0.0.1:514 format foo local0", &["foo", "format"]),
        ("log 127.0.0.1:514 len 10 local0", &["10", "80", "65535"]),
        ("log 127.0.0.1:514 local0 bogus", &["bogus", "level"]),
        ("log 127.0.0.1:514 local0 info bogus", &["bogus", "level"]),
        ("log 127.0.0.1:514", &["log", "facility"]),
        ("log-format \"%ci %zz\"", &["zz"]),
        ("log-format \"%[nosuchfetch]\"", &["nosuchfetch"]),
        ("log-format \"%[src\"", &["]"]),
        ("option httplog foo", &["httplog", "clf"]),
    ];
    if is_reference_haproxy() {
        // 2.6 has no `option tcplog clf` (the 3.5 manual, which halo follows, has it), and
        // refuses request fetches at log time (halo evaluates them on the request).
        cases.push(("option tcplog clf", &["tcplog", "clf"]));
        cases.push(("log-format \"%[req.hdr(host)]\"", &["req.hdr"]));
    }
    for (bad, words) in cases {
        let text = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\nfrontend f\n    bind 127.0.0.1:1\n    log global\n    {bad}\n    http-request return status 200\n"
        );
        let (code, stdout, stderr) = run_check(Cfg::Text(&text), &[]);
        assert_eq!(
            code, 1,
            "{bad}: exit code\nstdout: {stdout}\nstderr: {stderr}"
        );
        let alert = stderr
            .lines()
            .find(|l| l.contains(":10]"))
            .unwrap_or_else(|| panic!("{bad}: no message naming line 10:\n{stderr}"));
        for w in words {
            assert!(alert.contains(w), "{bad}: {w:?} not in {alert:?}");
        }
    }
}

/// Server state changes and, with `option log-health-checks`, health check results go to
/// the backend's log targets (`log global` here), at HAProxy's levels: a server going
/// DOWN and a backend losing its last server are alerts (`local0.alert` = <129>,
/// `local0.emerg` = <128>), a server coming UP and check results are notices (<133>).
#[test]
fn server_state_changes_and_health_checks_go_to_the_backend_log() {
    let sys = Syslog::udp();
    let dead = free_addr();
    let live = HttpBackend::start("live", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "global\n    {}\n    stats socket \"${{DIR}}/admin.sock\" level admin\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend web\n    bind {}\n    default_backend app\n\
         backend app\n    option log-health-checks\n    server gone {} check inter 200ms fall 1 rise 1\n\
         backend solo\n    server only {} check inter 200ms fall 1 rise 1\n",
        sys.log_line("local0"),
        haproxy_addr(fe),
        haproxy_addr(dead),
        live.cfg_addr()
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let has = |needle: &str| sys.lines().iter().any(|l| l.contains(needle));
    assert!(
        wait_until(Duration::from_secs(10), || has("Server app/gone is DOWN")
            && has("backend app has no server available!")
            && has("Health check for server app/gone failed")),
        "{:#?}",
        sys.lines()
    );
    let line = |needle: &str| {
        sys.lines()
            .into_iter()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
    };
    assert!(
        line("Server app/gone is DOWN").starts_with("<129>"),
        "{}",
        line("is DOWN")
    );
    assert!(line("has no server available!").starts_with("<128>"));
    assert!(line("Health check for server app/gone failed").starts_with("<133>"));
    // Maintenance and back, through the runtime API: the backend `solo` logs both, and
    // has no `log-health-checks`, so no check result of its own.
    let sock = h.dir().join("admin.sock");
    cli(&sock, "set server solo/only state maint").unwrap();
    cli(&sock, "set server solo/only state ready").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || has(
            "Server solo/only is going DOWN for maintenance"
        ) && has(
            "Server solo/only is UP/READY (leaving forced maintenance)"
        )),
        "{:#?}",
        sys.lines()
    );
    assert!(line("solo/only is going DOWN for maintenance").starts_with("<129>"));
    assert!(line("solo/only is UP/READY").starts_with("<133>"));
    assert!(!has("Health check for server solo/only"));
}

/// `option logasap`: the HTTP line leaves once the response head is in, before a slow body
/// ends (`Ta` and the bytes prefixed with `+`); the TCP line once the server is connected,
/// while the connection is still open (`Tt` and bytes with `+`).
#[test]
fn logasap_logs_before_the_end() {
    let sys = Syslog::udp();
    // A server sending its head at once and its body 1.5 s later.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = l.local_addr().unwrap();
    let t = thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
            thread::sleep(Duration::from_millis(1500));
            let _ = s.write_all(b"body");
        }
    });
    let echo_l = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo = echo_l.local_addr().unwrap();
    let t2 = thread::spawn(move || {
        if let Ok((mut s, _)) = echo_l.accept() {
            let mut b = [0u8; 1024];
            while let Ok(n) = s.read(&mut b) {
                if n == 0 || s.write_all(&b[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let (fe, fe_tcp) = (free_addr(), free_addr());
    let cfg = format!(
        "global\n    {}\n\
         defaults\n    log global\n    option logasap\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend web\n    mode http\n    option httplog\n    bind {}\n    default_backend app\n\
         backend app\n    mode http\n    server s1 {}\n\
         listen relay\n    mode tcp\n    option tcplog\n    bind {}\n    server e1 {}\n",
        sys.log_line("local0"),
        haproxy_addr(fe),
        haproxy_addr(slow),
        haproxy_addr(fe_tcp),
        haproxy_addr(echo)
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe, fe_tcp]).start();
    let mut c = Client::connect(fe);
    c.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    // The line arrives while the body is still on its way.
    let lines = sys.expect_lines(1, Duration::from_millis(1200));
    let f = syslog::httplog(&lines[0][lines[0].find("]: ").unwrap() + 3..]);
    assert_eq!(f.status, "200");
    assert!(
        f.bytes.starts_with('+'),
        "bytes {:?} in {}",
        f.bytes,
        lines[0]
    );
    assert!(
        f.timers[4].starts_with('+'),
        "Ta {:?} in {}",
        f.timers[4],
        lines[0]
    );
    let r = c.read().expect("response");
    assert_eq!(r.body, "body");
    // No second line at the end of the transaction.
    assert!(sys.stays_at(1, QUIET), "{:?}", sys.lines());
    t.join().unwrap();

    let mut tc = TcpStream::connect(fe_tcp).unwrap();
    tc.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tc.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    tc.read_exact(&mut b).unwrap();
    let lines = sys.expect_lines(2, LOG_WAIT);
    let f = syslog::tcplog(&lines[1][lines[1].find("]: ").unwrap() + 3..]);
    assert_eq!(f.server, "e1");
    assert!(
        f.timers[2].starts_with('+'),
        "Tt {:?} in {}",
        f.timers[2],
        lines[1]
    );
    assert!(
        f.bytes.starts_with('+'),
        "bytes {:?} in {}",
        f.bytes,
        lines[1]
    );
    drop(tc);
    assert!(sys.stays_at(2, QUIET), "{:?}", sys.lines());
    t2.join().unwrap();
}

/// `tune.http.logurilen N`: `%r` keeps the first N bytes of the request line (the version
/// goes first when the URI is long), as HAProxy captures it.
#[test]
fn logurilen_cuts_the_request_line() {
    let sys = Syslog::udp();
    let fe = free_addr();
    let cfg = format!(
        "global\n    {}\n    tune.http.logurilen 40\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend f\n    bind {}\n    http-request return status 200\n",
        sys.log_line("local0"),
        haproxy_addr(fe)
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/short", "").status, 200);
    assert_eq!(
        c.get("/aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd/eeeee?x=1", "")
            .status,
        200
    );
    let lines = sys.expect_lines(2, LOG_WAIT);
    assert!(
        lines[0].ends_with(" \"GET /short HTTP/1.1\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(" \"GET /aaaaaaaaaabbbbbbbbbbccccccccccddddd\""),
        "{}",
        lines[1]
    );
}
