//! Log fields counted as HAProxy counts them: the cookie letters of the termination state
//! (`%tsc`, section 8.5: what the request's persistence cookie said, N I D V E O U, and what
//! happened to the server's, N I U P R D; `--` without a `cookie` line), `%B`/`%U` (bodies
//! without chunk framing, WebSocket tunnels) and `bin`/`bout`, `%sq`/`%bq` queue
//! positions, and `option contstats`. Log lines are received over UDP syslog. Passes
//! against HAProxy 2.6 too (`HALO_BIN=/usr/sbin/haproxy`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::http::Client;
use support::stats::StatCsv;
use support::syslog::Syslog;
use support::*;

const LOG_WAIT: Duration = Duration::from_secs(10);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A date as an insert-mode cookie carries it: seconds / 4 in 5 base64 digits.
fn cookie_date(secs: u64) -> String {
    let v = secs >> 2;
    (0..5)
        .rev()
        .map(|i| B64[((v >> (6 * i)) & 0x3f) as usize] as char)
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const CONFIG: &str = r#"
global
    log "${SYSLOG}" local0
defaults
    mode http
    log global
    log-format "%HP %tsc %s"
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind "${FE}"
    use_backend ins if { path_beg /ins }
    use_backend setck if { path_beg /setck }
    use_backend rw if { path_beg /rw }
    use_backend pfx if { path_beg /pfx }
    use_backend us if { path_beg /us }
    use_backend life if { path_beg /life }
    default_backend none

backend ins
    cookie SRV insert indirect nocache
    server a "${FE_APP}" cookie a
    server b 127.0.0.1:1 cookie b disabled

backend setck
    cookie SRV insert
    server a "${FE_APPSC}" cookie a

backend rw
    cookie SRV rewrite
    server a "${FE_APPSC}" cookie a

backend pfx
    cookie SRV prefix
    server a "${FE_APPSC}" cookie a

backend us
    cookie SRV insert indirect
    use-server a if { path_beg /us/a }
    server a "${FE_APP}" cookie a
    server b "${FE_APP}" cookie b

backend life
    cookie SRV insert indirect maxidle 1h maxlife 1d
    server a "${FE_APP}" cookie a

backend none
    server a "${FE_APP}"

# The servers: one answering plain 200s, one setting the application's own SRV cookie.
frontend app
    bind "${FE_APP}"
    log-format "app"
    no log
    http-request return status 200
frontend appsc
    bind "${FE_APPSC}"
    no log
    http-request return status 200 hdr Set-Cookie "SRV=app; path=/"
"#;

#[test]
fn cookie_letters_of_the_termination_state() {
    let sys = Syslog::udp();
    let fe = free_addr();
    let _h = Halo::builder(CONFIG)
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("FE_APP", haproxy_addr(free_addr()))
        .env("FE_APPSC", haproxy_addr(free_addr()))
        .start();
    // A few seconds ago: a date equal to now would need no update.
    let recent = cookie_date(now() - 8);
    let ancient = cookie_date(8);
    // (path, Cookie header or "", expected "%tsc %s" after "--").
    let cases: Vec<(&str, String, &str)> = vec![
        // No cookie: a new visitor, ours inserted.
        ("/ins", String::new(), "NI a"),
        // A valid cookie: sent to its server, nothing to insert (no dates).
        ("/ins", "SRV=a".into(), "VN a"),
        // A cookie naming no server: invalid, redispatched, inserted.
        ("/ins", "SRV=zz".into(), "II a"),
        // A cookie naming a server in maintenance: down, redispatched, inserted.
        ("/ins", "SRV=b".into(), "DI a"),
        // The server sets the cookie itself: in insert mode it is replaced by ours (I)...
        ("/setck", String::new(), "NI a"),
        // ...or only deleted when the client came with a valid one.
        ("/setck", "SRV=a".into(), "VD a"),
        // Rewrite and prefix modes change the server's cookie (R).
        ("/rw", String::new(), "NR a"),
        ("/rw", "SRV=a".into(), "VR a"),
        ("/pfx", String::new(), "NR a"),
        ("/pfx", "SRV=a~app".into(), "VR a"),
        // `use-server` chose: the cookie was not used (U); a server chosen by rule counts
        // as a direct hit, so nothing is inserted (N).
        ("/us/a", "SRV=b".into(), "UN a"),
        // maxidle: a last date too long ago is expired (E); maxlife: a first date too
        // long ago is too old (O); a fresh one is valid and its date updated (U).
        ("/life", format!("SRV=a|{ancient}|{recent}"), "EI a"),
        ("/life", format!("SRV=a|{recent}|{ancient}"), "OI a"),
        ("/life", format!("SRV=a|{recent}|{recent}"), "VU a"),
    ];
    for (i, (path, cookie, want)) in cases.iter().enumerate() {
        let mut c = Client::connect(fe);
        let extra = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        let r = c.get(path, &extra);
        assert_eq!(r.status, 200, "{path} {cookie}");
        drop(c);
        let lines = sys.expect_lines(i + 1, LOG_WAIT);
        assert_eq!(
            lines[i].rsplit(": ").next().unwrap_or(""),
            format!("{path} --{want}"),
            "{path} with {cookie:?}: {lines:?}"
        );
    }
    // Without a `cookie` line the letters do not apply.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/plain", "Cookie: SRV=a\r\n").status, 200);
    drop(c);
    let lines = sys.expect_lines(cases.len() + 1, LOG_WAIT);
    assert!(lines[cases.len()].ends_with("/plain ---- a"), "{lines:?}");
}

const BYTES_CONFIG: &str = r#"
global
    log "${SYSLOG}" local0
    stats socket "${DIR}/stats.sock" level admin
defaults
    mode http
    log global
    log-format "%HP %ST %B %U"
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout tunnel 10s

listen fe
    bind "${FE}"
    server s "${S}"
"#;

/// A server answering `/chunked` with a 3×100-byte chunked body (after reading a chunked or
/// sized request body), `/ws` with a WebSocket 101 and then twice each byte it receives,
/// anything else with a 500-byte body.
fn byte_server() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 65536];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    if let Some(cl) = head.split("content-length:").nth(1) {
                        let n: usize = cl.split("\r\n").next().unwrap().trim().parse().unwrap();
                        while buf.len() < n {
                            let Ok(k) = s.read(&mut tmp) else { return };
                            if k == 0 {
                                return;
                            }
                            buf.extend_from_slice(&tmp[..k]);
                        }
                        buf.drain(..n);
                    } else if head.contains("transfer-encoding: chunked") {
                        while !buf.ends_with(b"0\r\n\r\n") {
                            let Ok(k) = s.read(&mut tmp) else { return };
                            if k == 0 {
                                return;
                            }
                            buf.extend_from_slice(&tmp[..k]);
                        }
                        buf.clear();
                    }
                    if path == "/ws" {
                        let _ = s.write_all(
                            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                              Connection: Upgrade\r\n\
                              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                        );
                        loop {
                            match s.read(&mut tmp) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    let twice: Vec<u8> =
                                        tmp[..n].iter().chain(&tmp[..n]).copied().collect();
                                    if s.write_all(&twice).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    let res = if path == "/chunked" {
                        let chunk = format!("64\r\n{}\r\n", "b".repeat(100));
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
                            chunk.repeat(3)
                        )
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{}",
                            "c".repeat(500)
                        )
                    };
                    if s.write_all(res.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `raw` on a new connection and reads until the response of `len` bytes is in.
fn exchange(fe: std::net::SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut got = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let done = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|e| {
                let head = String::from_utf8_lossy(&got[..e]).to_ascii_lowercase();
                if head.contains("chunked") {
                    got.ends_with(b"0\r\n\r\n")
                } else {
                    got.len() >= e + 4 + 500
                }
            });
        if done {
            return got;
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&tmp[..n]),
        }
    }
}

#[test]
fn bytes_count_bodies_without_framing_and_tunnels() {
    let sys = Syslog::udp();
    let fe = free_addr();
    let server = byte_server();
    let h = Halo::builder(BYTES_CONFIG)
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("S", server.to_string())
        .start();
    // HTX sizes: 20 + start-line words + each field's name and value + 1, then the body.
    let res_500 = 20 + 8 + 3 + 2 + 14 + 3 + 1 + 500; // Content-Length: 500
    let res_chunked = 20 + 8 + 3 + 2 + 17 + 7 + 1 + 300 + 1; // payload + end of trailers
    exchange(fe, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    exchange(
        fe,
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 1000))
            .collect::<Vec<u8>>()
            .as_slice(),
    );
    let mut chunked_req =
        b"POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        chunked_req.extend_from_slice(format!("64;ext=1\r\n{}\r\n", "a".repeat(100)).as_bytes());
    }
    chunked_req.extend_from_slice(b"0\r\n\r\n");
    exchange(fe, &chunked_req);
    let req_get = 20 + 3 + 2 + 8 + 4 + 1 + 1;
    let req_post = 20 + 4 + 2 + 8 + 4 + 1 + 14 + 4 + 1 + 1000;
    let req_chunked = 20 + 4 + 8 + 8 + 4 + 1 + 17 + 7 + 1 + 1000 + 1;
    let lines = sys.expect_lines(3, LOG_WAIT);
    let tail = |l: &str| l.rsplit(": ").next().unwrap_or("").to_string();
    assert_eq!(tail(&lines[0]), format!("/a 200 {res_500} {req_get}"));
    assert_eq!(tail(&lines[1]), format!("/p 200 {res_500} {req_post}"));
    assert_eq!(
        tail(&lines[2]),
        format!("/chunked 200 {res_chunked} {req_chunked}")
    );

    // A WebSocket tunnel: the 101 head, then every byte both ways, in the line and in the
    // counters (`Connection: Upgrade` is kept, so it counts).
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut tmp = [0u8; 65536];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&tmp[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s.write_all(&[b'w'; 3000]).unwrap();
    let mut echoed = 0;
    while echoed < 6000 {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        echoed += n;
    }
    drop(s);
    let req_ws = 20 + 3 + 3 + 8 + 4 + 1 + 10 + 7 + 7 + 9 + 17 + 24 + 21 + 2 + 1 + 3000;
    let res_ws = 20 + 8 + 3 + 19 + 7 + 9 + 10 + 7 + 20 + 28 + 1 + 6000;
    let lines = sys.expect_lines(4, LOG_WAIT);
    assert_eq!(tail(&lines[3]), format!("/ws 101 {res_ws} {req_ws}"));

    // `bin`/`bout` are the sums of `%U`/`%B`, on the frontend, backend and server rows.
    let st = StatCsv::show_stat(&h.dir().join("stats.sock"));
    let bin = req_get + req_post + req_chunked + req_ws;
    let bout = 2 * res_500 + res_chunked + res_ws;
    for sv in ["FRONTEND", "s", "BACKEND"] {
        assert_eq!(
            (st.get("fe", sv, "bin"), st.get("fe", sv, "bout")),
            (Some(bin.to_string()), Some(bout.to_string())),
            "{sv}"
        );
    }
}

const CONTSTATS_CONFIG: &str = r#"
global
    stats socket "${DIR}/stats.sock" level admin
defaults
    mode tcp
    option contstats
    timeout connect 2s
    timeout client 30s
    timeout server 30s

listen fe
    bind "${FE}"
    server s "${S}"
"#;

/// `option contstats`: a long TCP stream's bytes show in `show stat` while it still runs
/// (HAProxy updates them about every 5 s), not only when it ends.
#[test]
fn contstats_counts_bytes_of_running_streams() {
    let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s_addr = sink.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in sink.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut tmp = [0u8; 65536];
                while matches!(s.read(&mut tmp), Ok(n) if n > 0) {}
            });
        }
    });
    let fe = free_addr();
    let h = Halo::builder(CONTSTATS_CONFIG)
        .env("FE", haproxy_addr(fe))
        .env("S", s_addr.to_string())
        .start();
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(&[b'x'; 100_000]).unwrap();
    let sock = h.dir().join("stats.sock");
    let bin = |sv: &str| -> String {
        StatCsv::show_stat(&sock)
            .get("fe", sv, "bin")
            .unwrap_or_default()
    };
    // The stream stays open: the counters still reach 100000 within a period or two.
    assert!(
        wait_until(Duration::from_secs(12), || bin("FRONTEND") == "100000"),
        "bin {}",
        bin("FRONTEND")
    );
    assert_eq!(bin("s"), "100000");
    assert_eq!(bin("BACKEND"), "100000");
    // When it ends nothing is counted twice.
    drop(c);
    assert!(
        wait_until(Duration::from_secs(5), || StatCsv::show_stat(&sock)
            .get("fe", "FRONTEND", "scur")
            .is_some_and(|v| v == "0")),
        "the stream did not end"
    );
    assert_eq!(bin("FRONTEND"), "100000");
}

const QUEUE_CONFIG: &str = r#"
global
    log "${SYSLOG}" local0
    stats socket "${DIR}/stats.sock" level admin
defaults
    mode http
    log global
    log-format "%HP %sq %bq"
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout queue 10s

listen fe
    bind "${FE}"
    cookie SRV insert indirect
    server s "${S}" maxconn 1 cookie s
"#;

/// `%sq`/`%bq`: how many requests the server's or the backend's queue served while this
/// one waited, itself included (0 when it did not wait). Requests without a cookie wait
/// in the backend queue; those whose cookie names the server wait in the server's.
#[test]
fn queue_positions_in_the_log() {
    let sys = Syslog::udp();
    let be = support::http::HttpBackend::start("s", Duration::from_millis(300));
    let fe = free_addr();
    let h = Halo::builder(QUEUE_CONFIG)
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("S", be.cfg_addr())
        .start();
    let sock = h.dir().join("stats.sock");
    // Requests in the proxy: waiting (the backend's `qcur` plus the server's) and served
    // (the server's `scur`).
    let queued = || -> usize {
        let st = StatCsv::show_stat(&sock);
        let n = |sv: &str, k: &str| -> usize {
            st.get("fe", sv, k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        n("s", "qcur") + n("s", "scur") + n("BACKEND", "qcur")
    };
    // Each request is in place before the next one arrives (the first one is served).
    let wave = |requests: [(&'static str, &'static str); 4]| {
        let mut threads = Vec::new();
        for (i, (path, extra)) in requests.into_iter().enumerate() {
            threads.push(std::thread::spawn(move || {
                let mut c = Client::connect(fe);
                assert_eq!(c.get(path, extra).status, 200, "{path}");
            }));
            assert!(
                wait_until(Duration::from_secs(5), || queued() == i + 1),
                "{path}: {} queued",
                queued()
            );
        }
        for t in threads {
            t.join().unwrap();
        }
    };
    wave([("/b1", ""), ("/b2", ""), ("/b3", ""), ("/b4", "")]);
    let ck = "Cookie: SRV=s\r\n";
    wave([("/s1", ck), ("/s2", ck), ("/s3", ck), ("/s4", ck)]);
    let lines = sys.expect_lines(8, LOG_WAIT);
    let mut got: Vec<String> = lines
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap_or("").to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "/b1 0 0", "/b2 0 1", "/b3 0 2", "/b4 0 3", "/s1 0 0", "/s2 1 0", "/s3 2 0", "/s4 3 0"
        ],
        "{lines:?}"
    );
}

const LOG_FETCHES_CONFIG: &str = r#"
global
    log "${SYSLOG}" local0
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind "${FE}"
    log-format "Ta=%[txn.timer.total] TR=%[req.timer.hdr] Tc=%[bc.timer.connect] Tr=%[res.timer.hdr] Tt=%[fc.timer.total] Th=%[fc.timer.handshake] Tw=%[req.timer.queue] Tq=%[req.timer.tq] Ti=%[req.timer.idle] U=%[bytes_in] B=%[bytes_out] ST=%[txn.status] ts=%[txn.sess_term_state] rc=%[txn.conn_retries] Ts=%[accept_date] | %Ta %TR %Tc %Tr %Tt %Th %Tw %Tq %Ti %U %B %ST %ts %rc %Ts | %[txn.redispatched] %[fc_err_str] %[bc_err] %[bc_err_str] %[accept_date(ms)] %[request_date(us)]"
    use_backend dead if { path /dead }
    default_backend be
backend be
    server s "${S}"
backend dead
    server s 127.0.0.1:1
"#;

/// The 3.x fetches of what the log line knows (`txn.timer.total`, `bytes_in`,
/// `txn.status`, `accept_date`…) give in `%[…]` the values of their `%` variables in the
/// same line; `bc_err` is 0 once the server connection was made, absent when it failed.
#[test]
fn log_fetches_equal_their_log_variables() {
    if skip_on_reference("timer, byte and txn fetches (HAProxy 3.x)") {
        return;
    }
    let sys = Syslog::udp();
    let be = support::http::HttpBackend::start("s", Duration::from_millis(30));
    let fe = free_addr();
    let _h = Halo::builder(LOG_FETCHES_CONFIG)
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("S", be.cfg_addr())
        .start();
    for path in ["/ok", "/dead"] {
        let mut c = Client::connect(fe);
        c.get(path, "");
    }
    let lines = sys.expect_lines(2, LOG_WAIT);
    for (line, path) in lines.iter().zip(["/ok", "/dead"]) {
        let msg = line.split_once("]: ").map_or("", |(_, m)| m);
        let parts: Vec<&str> = msg.split(" | ").collect();
        assert_eq!(parts.len(), 3, "{line}");
        let fetched: Vec<&str> = parts[0]
            .split(' ')
            .map(|kv| kv.split_once('=').map_or("", |(_, v)| v))
            .collect();
        let vars: Vec<&str> = parts[1].split(' ').collect();
        assert_eq!(fetched, vars, "{path}: {line}");
        let rest: Vec<&str> = parts[2].split(' ').collect();
        assert_eq!(rest[1], "Success", "{line}");
        let accept_s: i64 = vars[14].parse().unwrap();
        let accept_ms: i64 = rest[4].parse().unwrap();
        let request_us: i64 = rest[5].parse().unwrap();
        assert_eq!(accept_ms / 1000, accept_s, "{line}");
        assert!(request_us / 1000 >= accept_ms, "{line}");
        if path == "/ok" {
            assert_eq!(vars[11], "200");
            assert!(vars[2].parse::<i64>().unwrap() >= 0 && vars[3].parse::<i64>().unwrap() >= 30);
            assert_eq!((rest[0], rest[2], rest[3]), ("0", "0", "Success"), "{line}");
        } else {
            assert_eq!(vars[11], "503");
            assert_eq!(vars[12], "SC");
            // No server connection: no error code of it either.
            assert_eq!((rest[2], rest[3]), ("-", "-"), "{line}");
        }
    }
}
