//! End-to-end tests of `peers` sections: two processes pushing their stick table updates to
//! each other, the tables kept across a reload (`-sf` with the local peer), halo and
//! Debian's haproxy 2.6 synchronising both ways, and the status codes of bad handshakes.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const T: Duration = Duration::from_secs(10);

const CONFIG: &str = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
peers mypeers
    peer a \"${PA}\"
    peer b \"${PB}\"
    table ti type integer size 10 store gpc0,http_req_rate(10s)
backend st
    stick-table type ip size 1k expire 10m peers mypeers store http_req_cnt,conn_rate(5s),gpc(2)
frontend fe
    bind \"${FE}\"
    http-request track-sc0 src table st
    http-request track-sc1 int(7) table mypeers/ti
    http-request sc-inc-gpc0(0)
    http-request sc-inc-gpc0(1)
    http-request sc-inc-gpc(1,0)
    http-request return status 200
";

fn sock(dir: &Path) -> PathBuf {
    let p = dir.join("admin.sock");
    assert!(
        wait_until(T, || cli(&p, "show table").is_ok()),
        "no stats socket"
    );
    p
}

fn show(sock: &Path, table: &str) -> String {
    cli(sock, &format!("show table {table}")).unwrap_or_default()
}

/// Waits until `show table NAME` on `sock` has a line containing every one of `want`.
fn wait_entry(sock: &Path, table: &str, want: &[&str]) -> bool {
    wait_until(T, || {
        show(sock, table)
            .lines()
            .any(|l| want.iter().all(|w| l.contains(w)))
    })
}

fn requests(fe: SocketAddr, n: usize) {
    let mut c = Client::connect(fe);
    for _ in 0..n {
        assert_eq!(c.get("/", "").status, 200);
    }
}

fn env(dir_fe: SocketAddr, pa: SocketAddr, pb: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("FE", haproxy_addr(dir_fe)),
        ("PA", haproxy_addr(pa)),
        ("PB", haproxy_addr(pb)),
    ]
}

#[test]
fn two_processes_push_their_updates() {
    let (pa, pb, fa, fb) = (free_addr(), free_addr(), free_addr(), free_addr());
    let a = Halo::builder(CONFIG)
        .envs(&env(fa, pa, pb))
        .arg("-L")
        .arg("a")
        .wait_for(&[fa, pa])
        .start();
    let b = Halo::builder(CONFIG)
        .envs(&env(fb, pa, pb))
        .arg("-L")
        .arg("b")
        .wait_for(&[fb, pb])
        .start();
    let (sa, sb) = (sock(a.dir()), sock(b.dir()));
    requests(fa, 3);
    assert!(
        wait_entry(
            &sb,
            "st",
            &["key=127.0.0.1", "http_req_cnt=3", "gpc0=3", "gpc1=3"]
        ),
        "B did not learn A's entry:\n{}",
        show(&sb, "st")
    );
    assert!(
        wait_entry(
            &sb,
            "mypeers/ti",
            &["key=7", "gpc0=3", "http_req_rate(10000)=3"]
        ),
        "B did not learn the peers section's table:\n{}",
        show(&sb, "mypeers/ti")
    );
    // The other way: traffic on B adds to what B learnt, and A learns the sum; an entry set
    // on B's runtime API reaches A too.
    requests(fb, 2);
    cli(&sb, "set table st key 10.9.9.9 data.http_req_cnt 7").unwrap();
    assert!(
        wait_entry(&sa, "st", &["key=127.0.0.1", "http_req_cnt=5", "gpc0=5"]),
        "A did not learn B's update:\n{}",
        show(&sa, "st")
    );
    assert!(
        wait_entry(&sa, "st", &["key=10.9.9.9", "http_req_cnt=7"]),
        "A did not learn the entry set on B:\n{}",
        show(&sa, "st")
    );
}

const RELOAD: &str = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
peers local
    peer me \"${PA}\"
backend be
    stick-table type ip size 1k expire 10m peers local store server_id,http_req_cnt,gpc0
    stick on src
    server s1 \"${S1}\"
frontend fe
    bind \"${FE}\"
    http-request track-sc0 src table be
    http-request sc-inc-gpc0(0)
    use_backend be
";

#[test]
fn reload_keeps_the_table() {
    if skip_on_reference(
        "haproxy 2.6 (-db or -D, -sf, local peer) leaves the new process's table empty on this host, checked by hand",
    ) {
        return;
    }
    let s1 = HttpBackend::start("s1", Duration::ZERO);
    let (pa, fe) = (free_addr(), free_addr());
    let env = [
        ("FE", haproxy_addr(fe)),
        ("PA", haproxy_addr(pa)),
        ("S1", s1.cfg_addr()),
    ];
    let mut a = Halo::builder(RELOAD)
        .envs(&env)
        .arg("-L")
        .arg("me")
        .wait_for(&[fe, pa])
        .start();
    let sa = sock(a.dir());
    requests(fe, 2);
    cli(
        &sa,
        "set table be key 10.0.0.1 data.server_id 1 data.gpc0 42",
    )
    .unwrap();
    assert!(wait_entry(
        &sa,
        "be",
        &["key=127.0.0.1", "server_id=1", "http_req_cnt=2", "gpc0=2"]
    ));
    let b = Halo::builder(RELOAD)
        .envs(&env)
        .arg("-L")
        .arg("me")
        .arg("-sf")
        .arg(a.pid().to_string())
        .wait_for(&[fe, pa])
        .start();
    assert!(a.wait_exit(T).is_some(), "the old process is still running");
    let sb = sock(b.dir());
    assert!(
        wait_entry(
            &sb,
            "be",
            &["key=127.0.0.1", "server_id=1", "http_req_cnt=2", "gpc0=2"]
        ),
        "the new process did not learn the table:\n{}",
        show(&sb, "be")
    );
    assert!(
        wait_entry(&sb, "be", &["key=10.0.0.1", "server_id=1", "gpc0=42"]),
        "{}",
        show(&sb, "be")
    );
    // The new process goes on counting from there.
    requests(fe, 1);
    assert!(wait_entry(
        &sb,
        "be",
        &["key=127.0.0.1", "http_req_cnt=3", "gpc0=3"]
    ));
}

/// Debian's haproxy 2.6, started beside the binary under test.
struct Reference {
    child: Child,
    dir: tempfile::TempDir,
}

impl Reference {
    fn start(cfg: &str, env: &[(&str, String)], name: &str) -> Option<Reference> {
        let bin = Path::new("/usr/sbin/haproxy");
        if !bin.exists() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).ok()?;
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .arg("-L")
            .arg(name)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Reference { child, dir })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interoperates_with_haproxy_2_6() {
    let (pa, pb, fa, fb) = (free_addr(), free_addr(), free_addr(), free_addr());
    let Some(r) = Reference::start(CONFIG, &env(fb, pa, pb), "b") else {
        eprintln!("skipped: /usr/sbin/haproxy is not installed");
        return;
    };
    let a = Halo::builder(CONFIG)
        .envs(&env(fa, pa, pb))
        .arg("-L")
        .arg("a")
        .wait_for(&[fa, pa])
        .start();
    let (sa, sb) = (sock(a.dir()), sock(r.dir.path()));
    // haproxy → halo.
    requests(fb, 2);
    cli(&sb, "set table st key 10.1.2.3 data.http_req_cnt 4").unwrap();
    assert!(
        wait_entry(
            &sa,
            "st",
            &[
                "key=127.0.0.1",
                "conn_rate(5000)=1",
                "http_req_cnt=2",
                "gpc0=2",
                "gpc1=2"
            ]
        ),
        "halo did not learn haproxy's entry:\n{}",
        show(&sa, "st")
    );
    assert!(
        wait_entry(&sa, "st", &["key=10.1.2.3", "http_req_cnt=4"]),
        "{}",
        show(&sa, "st")
    );
    assert!(
        wait_entry(
            &sa,
            "mypeers/ti",
            &["key=7", "gpc0=2", "http_req_rate(10000)=2"]
        ),
        "{}",
        show(&sa, "mypeers/ti")
    );
    // halo → haproxy.
    requests(fa, 3);
    cli(&sa, "set table st key 10.3.2.1 data.http_req_cnt 11").unwrap();
    assert!(
        wait_entry(
            &sb,
            "st",
            &["key=127.0.0.1", "http_req_cnt=5", "gpc0=5", "gpc1=5"]
        ),
        "haproxy did not learn halo's update:\n{}",
        show(&sb, "st")
    );
    assert!(
        wait_entry(&sb, "st", &["key=10.3.2.1", "http_req_cnt=11"]),
        "{}",
        show(&sb, "st")
    );
    assert!(
        wait_entry(
            &sb,
            "mypeers/ti",
            &["key=7", "gpc0=5", "http_req_rate(10000)=5"]
        ),
        "{}",
        show(&sb, "mypeers/ti")
    );
}

/// What the peer listener answers to `hello`, until it closes or 2 s pass.
fn answer(peer: SocketAddr, hello: &[u8]) -> String {
    let mut s = TcpStream::connect(peer).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let _ = s.write_all(hello);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let line = out.split(|&b| b == b'\n').next().unwrap_or(&[]);
    String::from_utf8_lossy(line).into_owned()
}

#[test]
fn bad_handshakes_get_the_status_codes() {
    let (pa, pb, fa) = (free_addr(), free_addr(), free_addr());
    let a = Halo::builder(CONFIG)
        .envs(&env(fa, pa, pb))
        .arg("-L")
        .arg("a")
        .wait_for(&[fa, pa])
        .start();
    for (hello, code) in [
        (&b"HAProxyS 3.0\na\nb 12 1\n"[..], "502"),
        (b"HAProxyS 2.9\na\nb 12 1\n", "502"),
        (b"HAProxyX 2.1\na\nb 12 1\n", "501"),
        (b"GET / HTTP/1.0\r\n\r\n", "501"),
        (b"\x00\x01\x02\xff\n\n\n", "501"),
        (b"HAProxyS 2.1\nnot-a\nb 12 1\n", "503"),
        (b"HAProxyS 2.1\na\nstranger 12 1\n", "504"),
        (b"HAProxyS 2.1\na\nb\n", "501"),
    ] {
        assert_eq!(
            answer(pa, hello),
            code,
            "for {:?}",
            String::from_utf8_lossy(hello)
        );
    }
    // A valid hello is accepted, then garbage messages end the session, not the process.
    let mut s = TcpStream::connect(pa).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"HAProxyS 2.1\na\nb 12 1\n").unwrap();
    let mut st = [0u8; 4];
    s.read_exact(&mut st).unwrap();
    assert_eq!(&st, b"200\n");
    let _ = s.write_all(&[0x0a, 0x80, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x33, 0x77, 0x05]);
    let _ = s.write_all(&[0x42; 64]);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    assert!(pid_alive(a.pid()));
    requests(fa, 1);
    assert_eq!(answer(pa, b"HAProxyS 2.1\na\nb 12 1\n"), "200");
}

#[test]
fn check_reports_unknown_sync_peers_and_accepts_the_section() {
    let good = "
global
    localpeer a
peers p1
    bind 127.0.0.1:1024
    default-server
    server a
    server b 127.0.0.1:1025
    table t1 type string len 8 size 10 store gpc0
backend st
    stick-table type ip size 1k peers p1
";
    let (code, _, err) = run_check(Cfg::Text(good), &[]);
    assert_eq!(code, 0, "{err}");
    let bad = good.replace("1k peers p1", "1k peers nosuch");
    let (code, _, err) = run_check(Cfg::Text(&bad), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Proxy 'st': unable to find sync peers 'nosuch'."),
        "{err}"
    );
}

const STICK: &str = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
peers mypeers
    peer a \"${PA}\"
    peer b \"${PB}\"
backend be
    stick-table type ip size 1k expire 10m peers mypeers store server_id,server_key
    stick on src
    server s1 \"${S1}\"
    server s2 \"${S2}\"
frontend fe
    bind \"${FE}\"
    use_backend be
";

/// `stick on src` learnt on one side sends the client to the same server on the other:
/// `server_id` and `server_key` (a dictionary entry on the wire) cross both ways.
#[test]
fn stickiness_crosses_to_haproxy_and_back() {
    let (s1, s2) = (
        HttpBackend::start("s1", Duration::ZERO),
        HttpBackend::start("s2", Duration::ZERO),
    );
    let (pa, pb, fa, fb) = (free_addr(), free_addr(), free_addr(), free_addr());
    let env = |fe: SocketAddr| {
        let mut e = env(fe, pa, pb);
        e.push(("S1", s1.cfg_addr()));
        e.push(("S2", s2.cfg_addr()));
        e
    };
    let Some(r) = Reference::start(STICK, &env(fb), "b") else {
        eprintln!("skipped: /usr/sbin/haproxy is not installed");
        return;
    };
    let a = Halo::builder(STICK)
        .envs(&env(fa))
        .arg("-L")
        .arg("a")
        .wait_for(&[fa, pa])
        .start();
    let (sa, sb) = (sock(a.dir()), sock(r.dir.path()));
    // Learnt on halo (first server of the round robin), known to haproxy.
    requests(fa, 1);
    assert!(
        wait_entry(
            &sb,
            "be",
            &["key=127.0.0.1", "server_id=1", "server_key=s1"]
        ),
        "haproxy did not learn halo's stickiness:\n{}",
        show(&sb, "be")
    );
    // haproxy's round robin sends its second client (127.0.0.2) to s2; halo learns it, and
    // sends that client to s2 too although its own round robin would pick s1.
    assert_eq!(get_from(fb, "127.0.0.3"), 200);
    assert_eq!(get_from(fb, "127.0.0.2"), 200);
    assert!(
        wait_entry(
            &sa,
            "be",
            &["key=127.0.0.2", "server_id=2", "server_key=s2"]
        ),
        "halo did not learn haproxy's stickiness:\n{}",
        show(&sa, "be")
    );
    let before = s2.seen().len();
    assert_eq!(get_from(fa, "127.0.0.2"), 200);
    assert_eq!(s2.seen().len(), before + 1, "halo did not stick to s2");
}

/// One request from source address `src`: the status.
fn get_from(fe: SocketAddr, src: &str) -> u16 {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{src}:0").parse().unwrap();
    s.bind(&src.into()).unwrap();
    s.connect(&fe.into()).unwrap();
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

const SHARDED: &str = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
peers mypeers
    shards 2
    peer a \"${PA}\"
    peer b \"${PB}\" shard 1
    peer c \"${PC}\" shard 2
backend st
    stick-table type ip size 1k expire 10m peers mypeers store gpc0
";

/// The keys (`key=…`) of a `show table` answer.
fn keys_of(out: &str) -> Vec<String> {
    let mut k: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(' ').find(|w| w.starts_with("key=")))
        .map(String::from)
        .collect();
    k.sort();
    k
}

#[test]
fn shards_split_the_updates_between_peers() {
    if skip_on_reference("shards and shard are HAProxy 2.9+ keywords") {
        return;
    }
    let (pa, pb, pc) = (free_addr(), free_addr(), free_addr());
    let env = vec![
        ("PA", haproxy_addr(pa)),
        ("PB", haproxy_addr(pb)),
        ("PC", haproxy_addr(pc)),
    ];
    let start = |name: &str, addr: SocketAddr| {
        Halo::builder(SHARDED)
            .envs(&env)
            .arg("-L")
            .arg(name)
            .wait_for(&[addr])
            .start()
    };
    let (a, b, c) = (start("a", pa), start("b", pb), start("c", pc));
    let (sa, sb, sc) = (sock(a.dir()), sock(b.dir()), sock(c.dir()));
    let n = 24;
    for i in 0..n {
        cli(&sa, &format!("set table st key 10.0.0.{i} data.gpc0 1")).unwrap();
    }
    // B and C each learn their shard's keys: together all of them, none twice.
    assert!(
        wait_until(T, || keys_of(&show(&sb, "st")).len()
            + keys_of(&show(&sc, "st")).len()
            == n),
        "B:\n{}\nC:\n{}",
        show(&sb, "st"),
        show(&sc, "st")
    );
    let (kb, kc) = (keys_of(&show(&sb, "st")), keys_of(&show(&sc, "st")));
    assert!(!kb.is_empty() && !kc.is_empty(), "{kb:?} {kc:?}");
    assert!(kb.iter().all(|k| !kc.contains(k)), "{kb:?} {kc:?}");
    let mut all: Vec<String> = kb.iter().chain(kc.iter()).cloned().collect();
    all.sort();
    assert_eq!(all, keys_of(&show(&sa, "st")));
}
