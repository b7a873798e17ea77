//! halo's runtime API `show stat` against Debian's HAProxy 2.6 (`/usr/sbin/haproxy`), column
//! by column: one configuration started twice (halo and haproxy side by side, each with its
//! own listening ports and stats socket, both in front of the same servers), the same
//! deterministic traffic sent to each, then every (pxname, svname) row and every column of
//! the two CSVs compared.
//!
//! - Which fields are empty and which are not must match everywhere: that is the shape
//!   scrapers rely on.
//! - Values must be equal, except where they depend on timing or on the process (see
//!   [`rule_of`]): the pid, times and rates, check durations; `bin`/`bout` only have to be
//!   both zero or both non-zero (header spelling changes byte counts); the `h1_*`, `h2_*`,
//!   `ssl_*` (and `quic_*`) module columns are compared by shape only. `iid` and `sid` are
//!   compared as values: halo numbers proxies and servers as 2.6 does on this
//!   configuration.
//!
//! Every mismatch is collected and printed as one table before the assertion, which allows
//! only what [`ALLOWED`] lists (the idle-connection retention, with its reason).
//!
//! The servers are a small HTTP/1.1 origin of this file rather than `support::http`'s
//! `HttpBackend`, because the traffic has HEAD requests and `HttpBackend` sends a body after
//! the head of a HEAD answer (a proxy then sees junk on the connection, which would make the
//! counters depend on how each side handles a broken server).
//!
//! The traffic goes one connection at a time, each waited for until its session has ended
//! (so maxima do not depend on how fast a close is noticed), and the configuration says
//! `nbthread 1` (so HAProxy's threads do not race to accept). With both,
//! `STATS_CSV_OTHER_BIN=/usr/sbin/haproxy` (haproxy compared with itself) found no mismatch
//! in 18 runs out of 18: what this test reports is behaviour, not noise.
//!
//! Skipped when `/usr/sbin/haproxy` is missing, or when `HALO_BIN` is haproxy itself (both
//! sides would be haproxy).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::http::Client;
use support::stats::StatCsv;
use support::*;

const HAPROXY: &str = "/usr/sbin/haproxy";

/// The configuration both binaries run. `${DIR}` is each process's own scratch directory;
/// the `FE_*` addresses are each process's own; the servers are shared.
const CFG: &str = r#"
global
    stats socket "${DIR}/s.sock" level admin
    # One thread: with several, HAProxy's threads race to accept a connection and the
    # frontend's smax counts the connections they reserved (2 for one connection).
    nbthread 1

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe_http
    bind "${FE_HTTP}"
    http-request deny if { path /deny }
    http-request return status 200 content-type text/plain string ok if { path /ret }
    default_backend be_http

backend be_http
    balance roundrobin
    cookie SRV insert indirect nocache
    server s1 "${S1}" check inter 500ms fall 1 rise 1 cookie s1 maxconn 10 maxqueue 5
    server s2 "${DEAD}" check inter 500ms fall 1 rise 1 cookie s2
    server bk "${S2}" check inter 500ms fall 1 rise 1 cookie bk backup

frontend fe_tcp
    mode tcp
    bind "${FE_TCP}"
    default_backend be_tcp

backend be_tcp
    mode tcp
    server echo "${ECHO}" check inter 500ms fall 1 rise 1

listen stats
    bind "${FE_STATS}"
    stats enable
    stats uri /st
"#;

/// Mismatches accepted, each with the reason: (pxname, svname, column). Every other
/// difference found is a bug to fix in halo.
const ALLOWED: &[(&str, &str, &str)] = &[
    // How many idle server connections are kept after one-request client connections:
    // HAProxy 2.6 closes those beyond its estimate of the server's need (here it keeps 1
    // of 9); halo keeps them up to the pool's limits (`pool-max-conn`, the fd ratios,
    // `pool-purge-delay` halving them). An attempt at HAProxy's rule broke the retention
    // of idle keep-alive clients' connections that tests/http_reuse.rs proves on 2.6, so
    // the difference stays, stated here.
    ("be_http", "s1", "srv_icur"),
    ("be_http", "s1", "idle_conn_cur"),
];

// ---------------------------------------------------------------------------
// A small HTTP/1.1 origin
// ---------------------------------------------------------------------------

/// Answers every request `200` with the body `<name> <METHOD> <path> <body length>\n`
/// (no body for HEAD), keeps connections alive unless `Connection: close`, and takes
/// health checks (connect, close) silently.
struct Origin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Origin {
    fn start(name: &str) -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an origin");
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, name) = (stop.clone(), name.to_string());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let (name, stop3) = (name.clone(), stop2.clone());
                        thread::spawn(move || serve_origin(s, &name, &stop3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Origin { addr, stop }
    }

    fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_origin(s: TcpStream, name: &str, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    while !stop.load(Ordering::Relaxed) {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (mut len, mut close) = (0usize, false);
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
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("connection") {
                    close = v.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let text = format!("{name} {method} {target} {len}\n");
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if method != "HEAD" {
            resp.push_str(&text);
        }
        if w.write_all(resp.as_bytes()).is_err() || close {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The two processes
// ---------------------------------------------------------------------------

/// One side: a running process and its listening addresses.
struct Side {
    name: &'static str,
    proc: Halo,
    http: SocketAddr,
    tcp: SocketAddr,
    stats: SocketAddr,
}

impl Side {
    fn start(name: &'static str, bin: PathBuf, servers: &[(&str, String)]) -> Side {
        let (http, tcp, stats) = (free_addr(), free_addr(), free_addr());
        let mut env = vec![
            ("FE_HTTP", haproxy_addr(http)),
            ("FE_TCP", haproxy_addr(tcp)),
            ("FE_STATS", haproxy_addr(stats)),
        ];
        env.extend(servers.iter().cloned());
        let proc = Halo::builder(CFG).bin(bin).envs(&env).start();
        assert!(
            wait_cli(&proc.dir().join("s.sock"), Duration::from_secs(5)),
            "{name}: the stats socket does not answer"
        );
        Side {
            name,
            proc,
            http,
            tcp,
            stats,
        }
    }

    fn sock(&self) -> PathBuf {
        self.proc.dir().join("s.sock")
    }

    fn show_stat_text(&self) -> String {
        cli(&self.sock(), "show stat").unwrap_or_else(|e| panic!("{}: show stat: {e}", self.name))
    }

    fn show_stat(&self) -> StatCsv {
        StatCsv::parse(&self.show_stat_text())
    }

    /// Waits (10 s at most) until every server is in the state the configuration leads to.
    fn wait_states(&self) {
        let want = [
            ("be_http", "s1", "UP"),
            ("be_http", "s2", "DOWN"),
            ("be_http", "bk", "UP"),
            ("be_tcp", "echo", "UP"),
        ];
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(10), || {
            let csv = self.show_stat();
            last = want
                .iter()
                .map(|(px, sv, _)| format!("{px}/{sv}={:?}", csv.get(px, sv, "status")))
                .collect::<Vec<_>>()
                .join(" ");
            want.iter()
                .all(|(px, sv, st)| csv.get(px, sv, "status").as_deref() == Some(*st))
        });
        assert!(ok, "{}: servers not settled after 10 s: {last}", self.name);
    }

    /// Waits (5 s at most) until no row has a session (`scur` 0 or empty), so that the
    /// next connection of the traffic never overlaps the end of the previous one and the
    /// maxima (`smax`...) do not depend on how fast a close is noticed. False if some
    /// session stayed.
    fn wait_idle(&self) -> bool {
        wait_until(Duration::from_secs(5), || {
            let csv = self.show_stat();
            let c = csv.col("scur");
            csv.rows.iter().all(|r| {
                let v = r.get(c).map(String::as_str).unwrap_or("");
                v.is_empty() || v == "0"
            })
        })
    }

    /// Waits (10 s at most) until `stot`, `req_tot` and `scur` of every row stay the same
    /// over three reads 200 ms apart, with no session left (`scur` 0 or empty). False if
    /// they did not settle.
    fn wait_settled(&self) -> bool {
        let snapshot = || -> Vec<Vec<String>> {
            let csv = self.show_stat();
            let cols = ["stot", "req_tot", "scur"].map(|c| csv.col(c));
            csv.rows
                .iter()
                .map(|r| {
                    let mut v = vec![r[0].clone(), r[1].clone()];
                    v.extend(cols.iter().map(|&c| r.get(c).cloned().unwrap_or_default()));
                    v
                })
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut prev, mut same) = (snapshot(), 0);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
            let now = snapshot();
            let idle = now.iter().all(|r| r[4].is_empty() || r[4] == "0");
            same = if now == prev && idle { same + 1 } else { 0 };
            if same >= 2 {
                return true;
            }
            prev = now;
        }
        false
    }
}

// ---------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------

/// Sends `raw` on a new connection and reads until the peer closes: (status, body).
fn once(addr: SocketAddr, raw: &[u8]) -> Result<(u16, String), String> {
    let mut s = connect_from(None, addr).map_err(|e| format!("connect: {e}"))?;
    s.write_all(raw).map_err(|e| format!("write: {e}"))?;
    let out = read_to_close(&mut s, IO_TIMEOUT).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// A request with `Connection: close`.
fn req(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

/// Records in `wrong` an answer that is not `status` with a body starting with `body`.
fn check_answer(
    wrong: &mut Vec<String>,
    what: &str,
    got: Result<(u16, String), String>,
    status: u16,
    body: &str,
) {
    match got {
        Ok((st, b)) if st == status && b.starts_with(body) => {}
        other => wrong.push(format!("{what}: want {status} {body:?}, got {other:?}")),
    }
}

/// Waits for the end of every session of `side` (see [`Side::wait_idle`]).
fn check_idle(side: &Side, wrong: &mut Vec<String>, what: &str) {
    if !side.wait_idle() {
        wrong.push(format!("{what}: sessions still open 5 s after the close"));
    }
}

/// Sends the traffic of the test to `side`, always the same, one connection at a time.
/// Returns what went differently from what HAProxy answers (empty when all is as expected).
fn send_traffic(side: &Side) -> Vec<String> {
    let mut wrong = Vec::new();
    let w = &mut wrong;
    // A request on its own connection, its answer checked, then the end of its session.
    let mut one = |what: &str, addr: SocketAddr, raw: &[u8], status: u16, body: &str| {
        check_answer(w, what, once(addr, raw), status, body);
        check_idle(side, w, what);
    };
    let fe = side.http;

    // 5 GETs / on new connections, the last one with the persistence cookie of s1.
    for i in 0..4 {
        one(
            &format!("GET / #{i}"),
            fe,
            &req("GET", "/", ""),
            200,
            "s1 GET / 0",
        );
    }
    let with_cookie = req("GET", "/", "Cookie: SRV=s1\r\n");
    one("GET / with SRV=s1", fe, &with_cookie, 200, "s1 GET / 0");
    // 3 denied, 2 answered by the proxy itself.
    for i in 0..3 {
        one(
            &format!("GET /deny #{i}"),
            fe,
            &req("GET", "/deny", ""),
            403,
            "",
        );
    }
    for i in 0..2 {
        one(
            &format!("GET /ret #{i}"),
            fe,
            &req("GET", "/ret", ""),
            200,
            "ok",
        );
    }
    // 1 malformed request.
    one("GARBAGE", fe, b"GARBAGE\r\n\r\n", 400, "");
    // 2 HEAD (no body).
    for i in 0..2 {
        one(&format!("HEAD / #{i}"), fe, &req("HEAD", "/", ""), 200, "");
    }
    // 1 POST with a 100-byte body.
    let mut post = req(
        "POST",
        "/post",
        "Content-Type: text/plain\r\nContent-Length: 100\r\n",
    );
    post.extend_from_slice(&[b'x'; 100]);
    one("POST /post", fe, &post, 200, "s1 POST /post 100");
    // 1 GET of the stats page.
    one("GET /st", side.stats, &req("GET", "/st", ""), 200, "");

    // 5 GETs / on one keep-alive connection.
    {
        let mut c = Client::connect(fe);
        for i in 0..5 {
            c.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
            let got = c
                .read()
                .map(|r| (r.status, r.body))
                .ok_or_else(|| "no response".to_string());
            check_answer(w, &format!("keep-alive GET / #{i}"), got, 200, "s1 GET / 0");
        }
    }
    check_idle(side, w, "keep-alive GETs");

    // 5 TCP connections, a few bytes echoed on each.
    for i in 0..5 {
        let r = hold(side.tcp).and_then(|mut h| {
            let back = h.echo(&format!("ping {i}"))?;
            h.close();
            Ok(back)
        });
        match r {
            Ok(back) if back == format!("ping {i}") => {}
            other => w.push(format!("TCP #{i}: want the echo, got {other:?}")),
        }
        check_idle(side, w, &format!("TCP #{i}"));
    }
    wrong
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// How a column is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// Same value.
    Exact,
    /// Same shape (both empty or both not), any value: timing, process, modules.
    Shape,
    /// Both zero or both non-zero (byte counts).
    NonZero,
    /// Same text once every number is replaced by `N` (check texts with timings).
    Text,
}

/// Columns whose values depend on timing or on the process.
const TIMING: &[&str] = &[
    "pid",
    "lastchg",
    "downtime",
    "lastsess",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "check_duration",
    "agent_duration",
    "rate",
    "rate_max",
    "req_rate",
    "req_rate_max",
    "conn_rate",
    "conn_rate_max",
];

/// Prefixes of the stats modules' columns (HTTP/1, HTTP/2, SSL, QUIC), compared by shape.
const MODULES: &[&str] = &["h1_", "h2_", "ssl_", "quic_"];

fn rule_of(column: &str) -> Rule {
    let module = MODULES.iter().any(|p| column.starts_with(p));
    if TIMING.contains(&column) || column.ends_with("time_max") || module {
        Rule::Shape
    } else if column == "bin" || column == "bout" {
        Rule::NonZero
    } else if column == "last_chk" || column == "last_agt" {
        Rule::Text
    } else {
        Rule::Exact
    }
}

fn digits_as_n(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            out.push(c);
            in_num = false;
        }
    }
    out
}

/// True if `a` and `b` agree under `rule` (the shape has been checked already).
fn agree(rule: Rule, a: &str, b: &str) -> bool {
    match rule {
        Rule::Exact => a == b,
        Rule::Shape => true,
        Rule::NonZero => (a.parse::<u64>().unwrap_or(0) > 0) == (b.parse::<u64>().unwrap_or(0) > 0),
        Rule::Text => a == b || digits_as_n(a) == digits_as_n(b),
    }
}

#[derive(Debug)]
struct Mismatch {
    row: String,
    column: String,
    haproxy: String,
    halo: String,
    what: &'static str,
}

impl Mismatch {
    fn allowed(&self) -> bool {
        ALLOWED
            .iter()
            .any(|(px, sv, col)| format!("{px},{sv}") == self.row && *col == self.column)
    }
}

/// Every difference between the two CSVs.
fn compare(reference: &StatCsv, halo: &StatCsv) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mm = |row: &str, column: &str, haproxy: &str, halo: &str, what| Mismatch {
        row: row.to_string(),
        column: column.to_string(),
        haproxy: haproxy.to_string(),
        halo: halo.to_string(),
        what,
    };

    // The header: same columns in the same order.
    if reference.columns != halo.columns {
        let (hs, ls): (BTreeSet<_>, BTreeSet<_>) = (
            reference.columns.iter().collect(),
            halo.columns.iter().collect(),
        );
        for c in hs.difference(&ls) {
            out.push(mm("(header)", c, "present", "absent", "column"));
        }
        for c in ls.difference(&hs) {
            out.push(mm("(header)", c, "absent", "present", "column"));
        }
        let common_ref: Vec<_> = reference
            .columns
            .iter()
            .filter(|c| ls.contains(c))
            .collect();
        let common_halo: Vec<_> = halo.columns.iter().filter(|c| hs.contains(c)).collect();
        if common_ref != common_halo {
            let first = common_ref
                .iter()
                .zip(&common_halo)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            out.push(mm(
                "(header)",
                "(order)",
                &format!("#{first} {}", common_ref[first]),
                &format!("#{first} {}", common_halo[first]),
                "column order",
            ));
        }
    }

    // The rows: same (pxname, svname) in the same order.
    let (rk, lk) = (reference.keys(), halo.keys());
    let (rs, ls): (BTreeSet<_>, BTreeSet<_>) = (rk.iter().collect(), lk.iter().collect());
    for k in rs.difference(&ls) {
        out.push(mm(
            &format!("{},{}", k.0, k.1),
            "(row)",
            "present",
            "absent",
            "row",
        ));
    }
    for k in ls.difference(&rs) {
        out.push(mm(
            &format!("{},{}", k.0, k.1),
            "(row)",
            "absent",
            "present",
            "row",
        ));
    }
    let order_ref: Vec<_> = rk.iter().filter(|k| ls.contains(k)).collect();
    let order_halo: Vec<_> = lk.iter().filter(|k| rs.contains(k)).collect();
    if order_ref != order_halo {
        let show = |v: &[&(String, String)]| {
            v.iter()
                .map(|(p, s)| format!("{p}/{s}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push(mm(
            "(rows)",
            "(order)",
            &show(&order_ref),
            &show(&order_halo),
            "row order",
        ));
    }

    // Every field of the rows both have, by column name.
    let index = |csv: &StatCsv| -> BTreeMap<(String, String), Vec<String>> {
        csv.rows
            .iter()
            .map(|r| {
                (
                    (r[0].clone(), r.get(1).cloned().unwrap_or_default()),
                    r.clone(),
                )
            })
            .collect()
    };
    let (ri, li) = (index(reference), index(halo));
    for key in order_ref {
        let (rrow, lrow) = (&ri[key], &li[key]);
        let row = format!("{},{}", key.0, key.1);
        for (c, column) in reference.columns.iter().enumerate() {
            let Some(lc) = halo.columns.iter().position(|x| x == column) else {
                continue;
            };
            let a = rrow.get(c).map(String::as_str).unwrap_or("");
            let b = lrow.get(lc).map(String::as_str).unwrap_or("");
            if a.is_empty() != b.is_empty() {
                out.push(mm(&row, column, a, b, "shape"));
                continue;
            }
            let rule = rule_of(column);
            if !agree(rule, a, b) {
                let what = match rule {
                    Rule::NonZero => "zero vs non-zero",
                    Rule::Text => "text",
                    _ => "value",
                };
                out.push(mm(&row, column, a, b, what));
            }
        }
    }
    out
}

fn table(mismatches: &[Mismatch]) -> String {
    let head = ["row", "column", "haproxy 2.6", "halo", "kind"];
    let rows: Vec<[String; 5]> = mismatches
        .iter()
        .map(|m| {
            [
                m.row.clone(),
                m.column.clone(),
                format!("{:?}", m.haproxy),
                format!("{:?}", m.halo),
                format!("{}{}", m.what, if m.allowed() { " (allowed)" } else { "" }),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, f) in width.iter_mut().zip(r) {
            *w = (*w).max(f.len());
        }
    }
    let line = |f: &[String]| {
        f.iter()
            .zip(width)
            .map(|(f, w)| format!("{f:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&head.map(String::from));
    out.push('\n');
    out.push_str(&"-".repeat(width.iter().sum::<usize>() + 3 * (width.len() - 1)));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn show_stat_matches_haproxy_column_by_column() {
    if !Path::new(HAPROXY).exists() {
        eprintln!("skipped: no {HAPROXY} to compare with");
        return;
    }
    if is_reference_haproxy() {
        eprintln!("skipped: HALO_BIN is haproxy, both sides would be haproxy");
        return;
    }

    let s1 = Origin::start("s1");
    let bk = Origin::start("bk");
    let echo = TcpBackend::echo_named("echo");
    let servers = [
        ("S1", s1.cfg_addr()),
        ("S2", bk.cfg_addr()),
        ("DEAD", haproxy_addr(free_addr())),
        ("ECHO", echo.cfg_addr()),
    ];
    let reference = Side::start("haproxy", PathBuf::from(HAPROXY), &servers);
    // STATS_CSV_OTHER_BIN=/usr/sbin/haproxy compares the reference with itself.
    let other = std::env::var_os("STATS_CSV_OTHER_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(halo_bin);
    let halo = Side::start("halo", other, &servers);
    reference.wait_states();
    halo.wait_states();

    let ref_wrong = send_traffic(&reference);
    assert!(
        ref_wrong.is_empty(),
        "haproxy did not answer the traffic as this test expects: {ref_wrong:#?}"
    );
    let halo_wrong = send_traffic(&halo);

    assert!(
        reference.wait_settled(),
        "haproxy's counters did not settle in 10 s:\n{}",
        reference.show_stat_text()
    );
    let halo_settled = halo.wait_settled();

    let (ref_text, halo_text) = (reference.show_stat_text(), halo.show_stat_text());
    let mut mismatches = compare(&StatCsv::parse(&ref_text), &StatCsv::parse(&halo_text));
    for w in &halo_wrong {
        mismatches.push(Mismatch {
            row: "(traffic)".into(),
            column: "-".into(),
            haproxy: "as expected".into(),
            halo: w.clone(),
            what: "answer",
        });
    }
    if !halo_settled {
        mismatches.push(Mismatch {
            row: "(settle)".into(),
            column: "stot/req_tot/scur".into(),
            haproxy: "settled".into(),
            halo: "still moving or sessions left after 10 s".into(),
            what: "settle",
        });
    }

    eprintln!("haproxy 2.6 show stat:\n{ref_text}\nhalo show stat:\n{halo_text}");
    eprintln!(
        "{} mismatch(es) between haproxy 2.6 and halo:\n{}",
        mismatches.len(),
        table(&mismatches)
    );
    let left: Vec<&Mismatch> = mismatches.iter().filter(|m| !m.allowed()).collect();
    assert!(
        left.is_empty(),
        "{} mismatch(es) outside the allow-list (table above)",
        left.len()
    );
}
