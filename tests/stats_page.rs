//! The stats page (`stats enable`, `uri`, `realm`, `auth`, `hide-version`, `refresh`,
//! `admin`, `scope`, `show-node`, `show-desc`, `show-legends`, `http-request`), end to end:
//! seeds 16 and 17 as written, the `;csv`, `;json`, `;up` and `;norefresh` variants against
//! the runtime API's `show stat`, the admin form's POSTs against `show servers state`, and a
//! headless Chromium rendering. Every test was run against Debian's HAProxy 2.6
//! (`HALO_BIN=/usr/sbin/haproxy`) unless it says it is halo-only.
//!
//! What 2.6 answered where the manual is silent, and is asserted here for both:
//! - 401 pages carry `WWW-Authenticate: Basic realm="<realm>"`; `stats http-request deny`
//!   answers 403.
//! - `Refresh: N` is on the HTML page unless `;norefresh`; `;csv` is `text/plain`, `;json`
//!   `application/json`.
//! - Without `stats show-legends` the page (HTML and `;csv`) shows no server address,
//!   cookie nor balance algorithm; the runtime API's `show stat` does.
//! - `stats auth` (or `realm`) and `stats http-request` in one proxy is a configuration
//!   error; `stats http-request allow` ends the rules before a later `auth`.
//! - A server appears on the HTML page with its anchor `<a name="PROXY/SERVER">`, so a page
//!   is checked for the text `PROXY/SERVER` (server names alone, like `s1`, prove nothing).
//! - Admin POSTs answer `303 See Other` with `Location: <stats uri>;st=CODE`: `DONE` when
//!   every named server changed, `PART` when some did, `ERRP` for an unknown server (alone),
//!   an unknown action or an unknown backend, `NONE` when no server is named, and `DENY`
//!   when the page has no `stats admin` (after the credentials, which still give 401).
//! - The admin form is `<input type="checkbox" name="s" value=SERVER>`, `<select
//!   name=action>` and `<input type="hidden" name="b" value="#IID">`, present only when
//!   `stats admin` allows it.
//! - With `stats hide-version` the page still shows the branch in its "Updates (v2.6)" link,
//!   so the version looked for is the full word `-v` prints (`2.6.12-1+deb12u4`, `0.1.0`).
//! - `stats uri` is a prefix: `/mystatsx` is the page too; other paths go to the servers.
//!
//! Where the 3.5 manual (halo's reference) differs from 2.6, the test follows the manual
//! and is halo-only for that part:
//! - `stats hide-version` "is the default" in 3.5 and `stats show-version` shows it; 2.6
//!   shows the version unless hidden and rejects `show-version`. So without either keyword
//!   the version is asserted shown on 2.6 and hidden on halo.
//! - 3.5 checks that the Origin (or the Referer when there is no Origin) of an admin POST
//!   matches Host; 2.6 does not. halo answers `;st=DENY` and changes nothing.
//! - With `stats scope`, 3.5 rejects state changes to proxies out of scope; 2.6 applies
//!   them (`;st=DONE`). halo answers `;st=DENY` and changes nothing.
//! - halo's page adds live charts per backend (`class="halo-chart" data-proxy="NAME"`).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::http::HttpBackend;
use support::stats::*;
use support::syslog::Syslog;
use support::*;

const REALM: &str = "Basic realm=\"HAProxy Statistics\"";

fn sock(h: &Halo) -> PathBuf {
    h.dir().join("admin.sock")
}

/// `show stat` on the stats socket, parsed.
fn show_stat(h: &Halo) -> StatCsv {
    let text = cli(&sock(h), "show stat").expect("show stat");
    StatCsv::parse(&text)
}

/// The status column of `px/sv` in `show stat`.
fn status(h: &Halo, px: &str, sv: &str) -> String {
    show_stat(h)
        .get(px, sv, "status")
        .unwrap_or_else(|| panic!("no row {px},{sv} in show stat"))
}

/// Waits until `show stat` reports `want` for `px/sv`.
fn wait_status(h: &Halo, px: &str, sv: &str, want: &str) {
    let ok = wait_until(Duration::from_secs(10), || status(h, px, sv) == want);
    assert!(
        ok,
        "{px}/{sv} is {:?}, not {want:?}, after 10 s",
        status(h, px, sv)
    );
}

/// `(srv_op_state, srv_admin_state)` of `be/srv` in `show servers state`.
fn server_state(h: &Halo, be: &str, srv: &str) -> (u32, u32) {
    let text = cli(&sock(h), &format!("show servers state {be}")).expect("show servers state");
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() > 6 && w[1] == be && w[3] == srv {
            return (w[5].parse().unwrap(), w[6].parse().unwrap());
        }
    }
    panic!("no {be}/{srv} in show servers state:\n{text}");
}

/// The `iid` of proxy `px` as `show stat` reports it.
fn iid(h: &Halo, px: &str) -> String {
    show_stat(h)
        .get(px, "BACKEND", "iid")
        .unwrap_or_else(|| panic!("no backend {px} in show stat"))
}

/// True if a header of the answer is named `name`.
fn has_header(a: &Answer, name: &str) -> bool {
    a.header(name).is_some()
}

/// Asserts a 401 asking for Basic credentials in `realm_header`.
fn assert_401(a: &Answer, realm_header: &str, what: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    assert_eq!(
        a.header("www-authenticate"),
        Some(realm_header),
        "{what}: WWW-Authenticate"
    );
}

/// Asserts an HTML stats page (200, text/html).
fn assert_page(a: &Answer, what: &str) {
    assert_eq!(a.status, 200, "{what}: {a:?}");
    assert_eq!(a.content_type(), "text/html", "{what}: Content-Type");
    assert!(
        a.body.contains("<html") || a.body.contains("<HTML"),
        "{what}: not an HTML page: {:.300}",
        a.body
    );
}

/// The 303 of an admin POST: its `;st=` code, after checking the Location is `uri;st=CODE`.
fn st_code(a: &Answer, uri: &str) -> String {
    assert_eq!(a.status, 303, "admin POST: {a:?}");
    let loc = a.header("location").expect("a Location");
    let code = loc
        .strip_prefix(&format!("{uri};st="))
        .unwrap_or_else(|| panic!("Location {loc:?} is not {uri};st=CODE"));
    code.to_string()
}

/// True if IP_TRANSPARENT can be set here (what `source ... usesrc` needs).
fn can_use_ip_transparent() -> bool {
    use std::os::fd::AsRawFd;
    let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a descriptor we own, with a valid int of the right size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_IP,
            libc::IP_TRANSPARENT,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

// ---------------------------------------------------------------------------
// Seeds 16 and 17 as written
// ---------------------------------------------------------------------------

/// Checks the `listen stats` page of a seed: credentials, realm, every proxy and server,
/// no version, and no admin POST.
fn check_seed_page(cfg: &str, h: &Halo, stats: SocketAddr) {
    let version = binary_version();

    let a = get(stats, "/");
    assert_401(&a, REALM, "no credentials");
    let a = Req::get("/").auth("admin:wrong").send(stats);
    assert_401(&a, REALM, "wrong password");
    let a = Req::get("/").auth("nobody:admin").send(stats);
    assert_401(&a, REALM, "unknown user");

    let a = Req::get("/").auth("admin:admin").send(stats);
    assert_page(&a, "admin:admin");
    let proxies = proxies_of(cfg);
    assert!(proxies.len() >= 4, "{proxies:?}");
    for (px, servers) in &proxies {
        assert!(a.body.contains(px.as_str()), "proxy {px} not on the page");
        for s in servers {
            assert!(
                a.body.contains(&format!("{px}/{s}")),
                "server {px}/{s} not on the page"
            );
        }
    }
    assert!(
        !a.body.contains(&version),
        "stats hide-version, yet the version {version} is on the page"
    );

    // Read-only: no admin form, and a POST is refused with ;st=DENY.
    assert!(!has_tag(&a.body, "select", &[("name", "action")]));
    let (px, servers) = proxies
        .iter()
        .find(|(_, s)| !s.is_empty())
        .expect("a proxy with servers");
    let before = server_state(h, px, &servers[0]);
    let body = form(&[
        ("s", &servers[0]),
        ("action", "maint"),
        ("b", &format!("#{}", iid(h, px))),
    ]);
    let a = Req::post_form("/", &body).send(stats);
    assert_401(&a, REALM, "POST without credentials");
    let a = Req::post_form("/", &body).auth("admin:admin").send(stats);
    assert_eq!(st_code(&a, "/"), "DENY");
    assert_eq!(server_state(h, px, &servers[0]), before, "state changed");
}

#[test]
fn seed16_stats_page_asks_credentials_and_hides_version() {
    let keep_usesrc = can_use_ip_transparent();
    if !keep_usesrc {
        eprintln!("no IP_TRANSPARENT here: seed 16's two `usesrc` lines dropped");
    }
    let cfg: String = seed_text("16-varnish-single-hostname.cfg")
        .lines()
        .filter(|l| keep_usesrc || !l.contains("usesrc"))
        .map(|l| format!("{l}\n"))
        .collect();
    let sys = Syslog::udp();
    let (s1, s2, v1, v2) = (
        HttpBackend::start("s1", Duration::ZERO),
        HttpBackend::start("s2", Duration::ZERO),
        HttpBackend::start("v1", Duration::ZERO),
        HttpBackend::start("v2", Duration::ZERO),
    );
    let stats = free_addr();
    let h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("FE_STATS", haproxy_addr(stats)),
            ("FE_STATIC", haproxy_addr(free_addr())),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
            ("V1", v1.cfg_addr()),
            ("V2", v2.cfg_addr()),
            ("SYSLOG", sys.target()),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    check_seed_page(&cfg, &h, stats);
}

#[test]
fn seed17_stats_page_asks_credentials_and_hides_version() {
    let cfg = seed_text("17-request-flood-mitigation.cfg");
    let (s1, s2) = (
        HttpBackend::start("srv1", Duration::ZERO),
        HttpBackend::start("srv2", Duration::ZERO),
    );
    let stats = free_addr();
    let h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("FE_STATS", haproxy_addr(stats)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    check_seed_page(&cfg, &h, stats);
}

// ---------------------------------------------------------------------------
// Version
// ---------------------------------------------------------------------------

fn version_cfg(keyword: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         listen stats\n    bind \"${{FE_STATS}}\"\n    stats enable\n    stats uri /\n{keyword}"
    )
}

fn page_of(cfg: &str) -> Answer {
    let stats = free_addr();
    let _h = Halo::start(cfg, &[("FE_STATS", haproxy_addr(stats))]);
    get(stats, "/")
}

#[test]
fn version_shown_unless_hidden() {
    let version = binary_version();
    let hidden = page_of(&version_cfg("    stats hide-version\n"));
    assert_page(&hidden, "hide-version");
    assert!(
        !hidden.body.contains(&version),
        "hide-version shows {version}"
    );

    let plain = page_of(&version_cfg(""));
    assert_page(&plain, "no version keyword");
    if is_reference_haproxy() {
        // 2.6: shown by default (and `stats show-version` does not exist).
        assert!(
            plain.body.contains(&version),
            "2.6 shows {version} by default"
        );
    } else {
        // 3.5: hidden by default, `stats show-version` shows it.
        assert!(
            !plain.body.contains(&version),
            "3.5 hides the version by default, yet {version} is on the page"
        );
        let shown = page_of(&version_cfg("    stats show-version\n"));
        assert_page(&shown, "show-version");
        assert!(shown.body.contains(&version), "show-version: no {version}");
        let both = page_of(&version_cfg(
            "    stats show-version\n    stats hide-version\n",
        ));
        assert!(
            !both.body.contains(&version),
            "show-version then hide-version: the last one wins"
        );
    }
}

// ---------------------------------------------------------------------------
// uri, refresh, ;norefresh, ;csv, ;json, ;up
// ---------------------------------------------------------------------------

const MYSTATS: &str = r#"
global
    stats socket "${DIR}/admin.sock" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen web
    bind "${FE_STATS}"
    stats enable
    stats uri /mystats
    stats refresh 5s
    server app "${S1}"
backend bk_mixed
    balance leastconn
    cookie SRV insert indirect nocache
    server live1 "${S1}" weight 7 cookie l1
    server live2 "${S2}" weight 3 check inter 500ms
    server spare "${S2}" backup
    server deadsrv "${DEAD}" check inter 200ms fall 1 rise 1
backend bk_hash
    balance uri
    server h1 "${S1}"
"#;

struct MyStats {
    h: Halo,
    stats: SocketAddr,
    _s1: HttpBackend,
    _s2: HttpBackend,
}

fn start_mystats() -> MyStats {
    let s1 = HttpBackend::start("app", Duration::ZERO);
    let s2 = HttpBackend::start("other", Duration::ZERO);
    let stats = free_addr();
    let h = Halo::start(
        MYSTATS,
        &[
            ("FE_STATS", haproxy_addr(stats)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
            ("DEAD", haproxy_addr(free_addr())),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    wait_status(&h, "bk_mixed", "deadsrv", "DOWN");
    wait_status(&h, "bk_mixed", "live2", "UP");
    MyStats {
        h,
        stats,
        _s1: s1,
        _s2: s2,
    }
}

#[test]
fn uri_prefix_and_refresh() {
    let m = start_mystats();
    let a = get(m.stats, "/mystats");
    assert_page(&a, "/mystats");
    assert_eq!(a.header("refresh"), Some("5"), "stats refresh 5s");
    for p in [
        "bk_mixed/live1",
        "bk_mixed/deadsrv",
        "bk_hash/h1",
        "web/app",
    ] {
        assert!(a.body.contains(p), "{p} not on the page");
    }

    let a = get(m.stats, "/mystats;norefresh");
    assert_page(&a, ";norefresh");
    assert!(!has_header(&a, "refresh"), ";norefresh: {:?}", a.headers);

    // The uri is a prefix.
    let a = get(m.stats, "/mystatsx");
    assert_page(&a, "/mystatsx");

    // Anything else goes to the proxy's server.
    for p in ["/", "/other", "/my"] {
        let a = get(m.stats, p);
        assert_eq!(a.status, 200, "{p}: {a:?}");
        assert_eq!(a.body, format!("app {p} 0\n"), "{p} reached the server");
        assert!(!has_header(&a, "refresh"));
    }
}

/// Columns that do not move between two reads of an idle process.
const STATIC_COLUMNS: &[&str] = &[
    "pxname",
    "svname",
    "status",
    "weight",
    "act",
    "bck",
    "pid",
    "iid",
    "sid",
    "tracked",
    "type",
    "check_status",
    "check_rise",
    "check_fall",
    "mode",
    "slim",
    "qlimit",
];

#[test]
fn csv_export_matches_show_stat() {
    let m = start_mystats();
    let a = get(m.stats, "/mystats;csv");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.content_type(), "text/plain");
    let page = StatCsv::parse(&a.body);
    let api = show_stat(&m.h);
    assert_eq!(page.header_line, api.header_line, "header lines differ");
    assert_eq!(page.keys(), api.keys(), "rows differ");
    assert!(
        page.keys().contains(&("bk_mixed".into(), "deadsrv".into())),
        "{:?}",
        page.keys()
    );
    for row in 0..page.rows.len() {
        for col in STATIC_COLUMNS {
            let c = page.col(col);
            assert_eq!(
                page.rows[row].get(c),
                api.rows[row].get(c),
                "column {col} of {:?}",
                page.keys()[row]
            );
        }
    }
    // The page shows no server address, cookie nor algorithm without `stats show-legends`
    // (the runtime API does).
    assert_eq!(page.get("bk_mixed", "live1", "addr").unwrap(), "");
    assert_eq!(page.get("bk_mixed", "live1", "cookie").unwrap(), "");
    assert_eq!(page.get("bk_mixed", "BACKEND", "algo").unwrap(), "");
    assert_eq!(api.get("bk_mixed", "live1", "cookie").unwrap(), "l1");
    assert!(
        api.get("bk_mixed", "live1", "addr")
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    // A few values as configured.
    assert_eq!(api.get("bk_mixed", "live1", "weight").unwrap(), "7");
    assert_eq!(api.get("bk_mixed", "spare", "bck").unwrap(), "1");
    assert_eq!(api.get("bk_mixed", "deadsrv", "status").unwrap(), "DOWN");
    assert_eq!(api.get("bk_mixed", "BACKEND", "algo").unwrap(), "leastconn");
    assert_eq!(api.get("bk_hash", "BACKEND", "algo").unwrap(), "uri");

    // ;csv;norefresh: same table, no Refresh header (the page has one: refresh 5s).
    let a = get(m.stats, "/mystats;csv;norefresh");
    assert_eq!(a.status, 200);
    assert!(!has_header(&a, "refresh"));
    assert_eq!(StatCsv::parse(&a.body).keys(), api.keys());
}

/// Validates the shape of the `;json` export with python3 and returns the proxy names it
/// reports; None if python3 is absent.
fn json_proxies(json: &str) -> Option<BTreeSet<String>> {
    const SCRIPT: &str = r#"
import json, sys
d = json.load(sys.stdin)
assert isinstance(d, list) and d, "not a non-empty list"
names = set()
for row in d:
    assert isinstance(row, list), "a row is not a list"
    for f in row:
        assert "field" in f and "value" in f, f
        if f["field"]["name"] == "pxname":
            names.add(f["value"]["value"])
for n in sorted(names):
    print(n)
"#;
    let mut child = match Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no python3 ({e}): ;json not parsed");
            return None;
        }
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(json.as_bytes()).unwrap();
    }
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            send_signal(pid, libc::SIGKILL);
            panic!("python3 did not finish parsing the JSON");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not valid stats JSON: {}\n{:.300}",
        String::from_utf8_lossy(&out.stderr),
        json
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn json_export_names_the_same_proxies() {
    let m = start_mystats();
    let a = get(m.stats, "/mystats;json");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.content_type(), "application/json");
    let Some(names) = json_proxies(&a.body) else {
        return;
    };
    let api: BTreeSet<String> = show_stat(&m.h).keys().into_iter().map(|k| k.0).collect();
    assert_eq!(names, api);
    assert!(names.contains("bk_mixed") && names.contains("web"));
}

#[test]
fn up_hides_down_servers() {
    let m = start_mystats();
    let all = get(m.stats, "/mystats");
    assert_page(&all, "plain");
    let up = get(m.stats, "/mystats;up");
    assert_page(&up, ";up");
    assert!(all.body.contains("bk_mixed/deadsrv"), "DOWN server shown");
    assert!(
        !up.body.contains("bk_mixed/deadsrv"),
        ";up shows the DOWN server"
    );
    for p in ["bk_mixed/live1", "bk_mixed/live2", "bk_hash/h1"] {
        assert!(up.body.contains(p), ";up hides {p}, which is not DOWN");
    }
}

// ---------------------------------------------------------------------------
// Default uri, frontend and backend pages
// ---------------------------------------------------------------------------

#[test]
fn default_uri_is_haproxy_stats() {
    let app = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let _h = Halo::start(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         listen l\n    bind \"${FE}\"\n    stats enable\n    server app \"${S1}\"\n",
        &[("FE", haproxy_addr(fe)), ("S1", app.cfg_addr())],
    );
    let a = get(fe, "/haproxy?stats");
    assert_page(&a, "/haproxy?stats");
    assert!(a.body.contains("l/app"));
    for p in ["/", "/haproxy", "/stats"] {
        let a = get(fe, p);
        assert_eq!(a.body, format!("app {p} 0\n"), "{p} reached the server");
    }
}

#[test]
fn stats_page_in_a_frontend_and_in_a_used_backend() {
    let app = HttpBackend::start("app", Duration::ZERO);
    let (fe1, fe2) = (free_addr(), free_addr());
    let _h = Halo::start(
        r#"
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_stats
    bind "${FE_ONE}"
    stats enable
    stats uri /festats
    default_backend app
frontend fe_main
    bind "${FE_TWO}"
    use_backend be_stats if { path_beg /bestats }
    default_backend app
backend be_stats
    stats enable
    stats uri /bestats
backend app
    server web "${S1}"
"#,
        &[
            ("FE_ONE", haproxy_addr(fe1)),
            ("FE_TWO", haproxy_addr(fe2)),
            ("S1", app.cfg_addr()),
        ],
    );
    // In a frontend: the page answers at its uri, the rest goes to the default backend.
    let a = get(fe1, "/festats");
    assert_page(&a, "frontend page");
    assert!(a.body.contains("app/web") && a.body.contains("be_stats"));
    assert_eq!(get(fe1, "/other").body, "app /other 0\n");
    // In a backend chosen by use_backend.
    let a = get(fe2, "/bestats");
    assert_page(&a, "backend page");
    assert!(a.body.contains("app/web") && a.body.contains("fe_stats"));
    let a = get(fe2, "/bestats;csv");
    assert_eq!(a.content_type(), "text/plain");
    assert!(a.body.contains("\nbe_stats,BACKEND,"), "{:.300}", a.body);
    assert_eq!(get(fe2, "/other").body, "app /other 0\n");
    // The frontend of fe_main has no page of its own.
    assert_eq!(get(fe2, "/festats").body, "app /festats 0\n");
}

// ---------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------

const ADMIN: &str = r#"
global
    stats socket "${DIR}/admin.sock" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen stats
    bind "${FE_STATS}"
    stats enable
    stats uri /admin
    stats auth admin:admin
    stats admin if TRUE
listen readonly
    bind "${FE_RO}"
    stats enable
    stats uri /ro
    stats auth admin:admin
backend bk_app
    server web1 "${S1}"
    server web2 "${S1}"
    server chk "${S1}" check inter 1s rise 10 fall 1
"#;

struct Admin {
    h: Halo,
    stats: SocketAddr,
    ro: SocketAddr,
    iid: String,
    _app: HttpBackend,
}

fn start_admin() -> Admin {
    let app = HttpBackend::start("app", Duration::ZERO);
    let (stats, ro) = (free_addr(), free_addr());
    let h = Halo::start(
        ADMIN,
        &[
            ("FE_STATS", haproxy_addr(stats)),
            ("FE_RO", haproxy_addr(ro)),
            ("S1", app.cfg_addr()),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    wait_status(&h, "bk_app", "chk", "UP");
    let iid = iid(&h, "bk_app");
    Admin {
        h,
        stats,
        ro,
        iid,
        _app: app,
    }
}

impl Admin {
    /// POSTs `pairs` (plus `b=#IID` unless `b` is given) as a browser on the page would,
    /// and returns the `;st=` code.
    fn post(&self, pairs: &[(&str, &str)]) -> String {
        let b = format!("#{}", self.iid);
        let mut all = pairs.to_vec();
        if !pairs.iter().any(|(k, _)| *k == "b") {
            all.push(("b", &b));
        }
        let a = Req::post_form("/admin", &form(&all))
            .auth("admin:admin")
            .header("Origin", &format!("http://{}", self.stats))
            .send(self.stats);
        st_code(&a, "/admin")
    }

    fn status(&self, sv: &str) -> String {
        status(&self.h, "bk_app", sv)
    }
}

#[test]
fn admin_form_only_where_admin_is_allowed() {
    let ad = start_admin();
    let a = Req::get("/admin").auth("admin:admin").send(ad.stats);
    assert_page(&a, "admin page");
    for sv in ["web1", "web2", "chk"] {
        assert!(
            has_tag(
                &a.body,
                "input",
                &[("type", "checkbox"), ("name", "s"), ("value", sv)]
            ),
            "no checkbox for {sv}"
        );
    }
    assert!(has_tag(&a.body, "select", &[("name", "action")]));
    for action in ["ready", "drain", "maint", "hrunn", "hdown", "shutdown"] {
        assert!(
            has_tag(&a.body, "option", &[("value", action)]),
            "no action {action}"
        );
    }
    let b = format!("#{}", ad.iid);
    assert!(has_tag(
        &a.body,
        "input",
        &[("type", "hidden"), ("name", "b"), ("value", b.as_str())]
    ));

    let a = Req::get("/ro").auth("admin:admin").send(ad.ro);
    assert_page(&a, "read-only page");
    assert!(a.body.contains("bk_app/web1"));
    assert!(!has_tag(&a.body, "select", &[("name", "action")]));
    assert!(!has_tag(&a.body, "input", &[("name", "s")]));
    assert!(!has_tag(&a.body, "input", &[("type", "checkbox")]));
}

#[test]
fn admin_post_sets_server_states() {
    let ad = start_admin();
    assert_eq!(ad.status("web1"), "no check");
    assert_eq!(server_state(&ad.h, "bk_app", "web1"), (2, 0));

    assert_eq!(ad.post(&[("s", "web1"), ("action", "maint")]), "DONE");
    assert_eq!(ad.status("web1"), "MAINT");
    assert_eq!(server_state(&ad.h, "bk_app", "web1"), (0, 1));
    // The page reports the outcome of the redirect target.
    let a = Req::get("/admin;st=DONE")
        .auth("admin:admin")
        .send(ad.stats);
    assert_page(&a, ";st=DONE");

    assert_eq!(ad.post(&[("s", "web1"), ("action", "ready")]), "DONE");
    assert_eq!(ad.status("web1"), "no check");
    assert_eq!(server_state(&ad.h, "bk_app", "web1"), (2, 0));

    assert_eq!(ad.post(&[("s", "web1"), ("action", "drain")]), "DONE");
    assert_eq!(ad.status("web1"), "DRAIN");
    assert_eq!(server_state(&ad.h, "bk_app", "web1").1, 8);
    assert_eq!(ad.post(&[("s", "web1"), ("action", "ready")]), "DONE");
    assert_eq!(server_state(&ad.h, "bk_app", "web1"), (2, 0));

    // Several servers at once.
    assert_eq!(
        ad.post(&[("s", "web1"), ("s", "web2"), ("action", "maint")]),
        "DONE"
    );
    assert_eq!(ad.status("web1"), "MAINT");
    assert_eq!(ad.status("web2"), "MAINT");
    assert_eq!(
        ad.post(&[("s", "web1"), ("s", "web2"), ("action", "ready")]),
        "DONE"
    );
    assert_eq!(ad.status("web2"), "no check");

    // Health of a checked server: forced down (checks need 10 successes to bring it back,
    // 10 s), then forced up.
    assert_eq!(ad.post(&[("s", "chk"), ("action", "hdown")]), "DONE");
    assert!(
        ad.status("chk").starts_with("DOWN"),
        "hdown: {}",
        ad.status("chk")
    );
    assert_eq!(server_state(&ad.h, "bk_app", "chk").0, 0);
    assert_eq!(ad.post(&[("s", "chk"), ("action", "hrunn")]), "DONE");
    assert_eq!(ad.status("chk"), "UP");
    assert_eq!(server_state(&ad.h, "bk_app", "chk").0, 2);
}

#[test]
fn admin_post_status_codes() {
    let ad = start_admin();
    // An unknown server alone: nothing altered.
    assert_eq!(ad.post(&[("s", "nosuch"), ("action", "maint")]), "ERRP");
    // One known, one unknown: partly done.
    assert_eq!(
        ad.post(&[("s", "nosuch"), ("s", "web2"), ("action", "drain")]),
        "PART"
    );
    assert_eq!(ad.status("web2"), "DRAIN");
    // No server named.
    assert_eq!(ad.post(&[("action", "maint")]), "NONE");
    // No action.
    assert_eq!(ad.post(&[("s", "web1")]), "NONE");
    // An unknown action.
    assert_eq!(ad.post(&[("s", "web1"), ("action", "explode")]), "ERRP");
    // An unknown backend.
    assert_eq!(
        ad.post(&[("s", "web1"), ("action", "maint"), ("b", "#9999")]),
        "ERRP"
    );
    assert_eq!(ad.status("web1"), "no check", "nothing applied to web1");

    // Credentials are still needed.
    let a = Req::post_form("/admin", &form(&[("s", "web1"), ("action", "maint")])).send(ad.stats);
    assert_401(&a, REALM, "admin POST without credentials");
    // A page without `stats admin` refuses the POST.
    let a = Req::post_form(
        "/ro",
        &form(&[
            ("s", "web1"),
            ("action", "maint"),
            ("b", &format!("#{}", ad.iid)),
        ]),
    )
    .auth("admin:admin")
    .send(ad.ro);
    assert_eq!(st_code(&a, "/ro"), "DENY");
    assert_eq!(ad.status("web1"), "no check");
}

/// halo-only: 3.5 checks the Origin (or the Referer) of an admin POST against Host.
#[test]
fn admin_post_from_another_origin_is_denied() {
    if skip_on_reference("2.6 does not check Origin/Referer of admin POSTs") {
        return;
    }
    let ad = start_admin();
    let body = form(&[
        ("s", "web1"),
        ("action", "maint"),
        ("b", &format!("#{}", ad.iid)),
    ]);
    let post = || Req::post_form("/admin", &body).auth("admin:admin");
    let a = post()
        .header("Origin", "http://evil.example")
        .send(ad.stats);
    assert_eq!(st_code(&a, "/admin"), "DENY", "foreign Origin");
    let a = post()
        .header("Referer", "http://evil.example/admin")
        .send(ad.stats);
    assert_eq!(st_code(&a, "/admin"), "DENY", "foreign Referer, no Origin");
    // Same host, other port: another origin.
    let other_port = format!("http://{}:{}", ad.stats.ip(), ad.stats.port() + 1);
    let a = post().header("Origin", &other_port).send(ad.stats);
    assert_eq!(st_code(&a, "/admin"), "DENY", "Origin on another port");
    assert_eq!(ad.status("web1"), "no check", "a denied POST changed web1");
    assert_eq!(server_state(&ad.h, "bk_app", "web1"), (2, 0));

    // The page's own origin, by Origin or by Referer.
    let a = post()
        .header("Origin", &format!("http://{}", ad.stats))
        .send(ad.stats);
    assert_eq!(st_code(&a, "/admin"), "DONE");
    assert_eq!(ad.status("web1"), "MAINT");
    let ready = form(&[
        ("s", "web1"),
        ("action", "ready"),
        ("b", &format!("#{}", ad.iid)),
    ]);
    let a = Req::post_form("/admin", &ready)
        .auth("admin:admin")
        .header("Referer", &format!("http://{}/admin", ad.stats))
        .send(ad.stats);
    assert_eq!(st_code(&a, "/admin"), "DONE");
    assert_eq!(ad.status("web1"), "no check");
}

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------

const SCOPED: &str = r#"
global
    stats socket "${DIR}/admin.sock" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen scoped
    bind "${FE_STATS}"
    stats enable
    stats uri /
    stats scope bk_one
    stats scope .
    stats auth admin:admin
    stats admin if TRUE
backend bk_one
    server one_a "${S1}"
backend bk_two
    server two_a "${S1}"
"#;

fn start_scoped() -> (Halo, SocketAddr, HttpBackend) {
    let app = HttpBackend::start("app", Duration::ZERO);
    let stats = free_addr();
    let h = Halo::start(
        SCOPED,
        &[("FE_STATS", haproxy_addr(stats)), ("S1", app.cfg_addr())],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    (h, stats, app)
}

#[test]
fn scope_limits_the_proxies_shown() {
    let (h, stats, _app) = start_scoped();
    let a = Req::get("/").auth("admin:admin").send(stats);
    assert_page(&a, "scoped page");
    assert!(a.body.contains("bk_one/one_a"));
    assert!(a.body.contains("scoped"));
    assert!(!a.body.contains("bk_two"), "bk_two is out of scope");
    assert!(!a.body.contains("two_a"), "two_a is out of scope");

    let a = Req::get("/;csv").auth("admin:admin").send(stats);
    let csv = StatCsv::parse(&a.body);
    let keys: Vec<(String, String)> = csv.keys();
    let want: Vec<(String, String)> = [
        ("scoped", "FRONTEND"),
        ("scoped", "BACKEND"),
        ("bk_one", "one_a"),
        ("bk_one", "BACKEND"),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), s.to_string()))
    .collect();
    assert_eq!(keys, want);
    // The runtime API is not scoped.
    assert!(show_stat(&h).get("bk_two", "two_a", "status").is_some());

    // Admin on a proxy in scope.
    let post = |px: &str, sv: &str| {
        let a = Req::post_form(
            "/",
            &form(&[
                ("s", sv),
                ("action", "maint"),
                ("b", &format!("#{}", iid(&h, px))),
            ]),
        )
        .auth("admin:admin")
        .header("Origin", &format!("http://{stats}"))
        .send(stats);
        st_code(&a, "/")
    };
    assert_eq!(post("bk_one", "one_a"), "DONE");
    assert_eq!(status(&h, "bk_one", "one_a"), "MAINT");

    // halo-only: 3.5 rejects state changes out of scope (2.6 applies them).
    if !skip_on_reference("2.6 applies admin POSTs to proxies out of scope") {
        assert_eq!(post("bk_two", "two_a"), "DENY");
        assert_eq!(status(&h, "bk_two", "two_a"), "no check");
    }
}

// ---------------------------------------------------------------------------
// http-request rules, users
// ---------------------------------------------------------------------------

#[test]
fn stats_http_request_rules_and_users() {
    let addrs: Vec<SocketAddr> = (0..6).map(|_| free_addr()).collect();
    let _h = Halo::start(
        r#"
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen denied
    bind "${FE_A}"
    stats enable
    stats uri /
    stats http-request deny if { src 127.0.0.1 }
listen not_denied
    bind "${FE_B}"
    stats enable
    stats uri /
    stats http-request deny if { src 10.0.0.0/8 }
listen authfoo
    bind "${FE_C}"
    stats enable
    stats uri /
    stats http-request auth realm Foo
listen twousers
    bind "${FE_D}"
    stats enable
    stats uri /
    stats realm Two\ Users
    stats auth alice:wonder
    stats auth bob:builder
listen allowed
    bind "${FE_E}"
    stats enable
    stats uri /
    stats http-request allow if { src 127.0.0.1 }
    stats http-request auth realm Bar
listen asked
    bind "${FE_F}"
    stats enable
    stats uri /
    stats http-request allow if { src 10.0.0.0/8 }
    stats http-request auth realm Bar
"#,
        &[
            ("FE_A", haproxy_addr(addrs[0])),
            ("FE_B", haproxy_addr(addrs[1])),
            ("FE_C", haproxy_addr(addrs[2])),
            ("FE_D", haproxy_addr(addrs[3])),
            ("FE_E", haproxy_addr(addrs[4])),
            ("FE_F", haproxy_addr(addrs[5])),
        ],
    );
    let a = get(addrs[0], "/");
    assert_eq!(a.status, 403, "deny if src 127.0.0.1: {a:?}");
    assert!(!a.body.contains("denied/"), "the page leaked into the 403");
    assert_page(&get(addrs[1], "/"), "deny whose condition is false");

    let a = get(addrs[2], "/");
    assert_401(&a, "Basic realm=\"Foo\"", "http-request auth realm Foo");

    let two = addrs[3];
    assert_401(
        &get(two, "/"),
        "Basic realm=\"Two Users\"",
        "no credentials",
    );
    assert_page(&Req::get("/").auth("alice:wonder").send(two), "alice");
    assert_page(&Req::get("/").auth("bob:builder").send(two), "bob");
    assert_401(
        &Req::get("/").auth("alice:builder").send(two),
        "Basic realm=\"Two Users\"",
        "alice with bob's password",
    );
    assert_401(
        &Req::get("/").auth("carol:wonder").send(two),
        "Basic realm=\"Two Users\"",
        "unknown user",
    );

    // `allow` ends the rules before the credentials are asked for.
    assert_page(&get(addrs[4], "/"), "http-request allow");
    assert_401(
        &get(addrs[5], "/"),
        "Basic realm=\"Bar\"",
        "allow not taken",
    );

    // `stats auth` and `stats http-request` cannot be mixed in one proxy.
    let (code, _, err) = run_check(
        Cfg::Text(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             listen both\n    bind 127.0.0.1:8080\n    stats enable\n    stats auth alice:wonder\n    \
             stats http-request allow if { src 127.0.0.1 }\n",
        ),
        &[],
    );
    assert_ne!(
        code, 0,
        "stats auth with stats http-request accepted: {err}"
    );
    assert!(
        err.contains("http-request"),
        "refused for another reason: {err}"
    );
}

// ---------------------------------------------------------------------------
// show-node, show-desc, show-legends
// ---------------------------------------------------------------------------

#[test]
fn show_node_desc_and_legends() {
    let app = HttpBackend::start("app", Duration::ZERO);
    let addrs: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
    let _h = Halo::start(
        r#"
global
    node globalnode
    description globaldesc
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen named
    bind "${FE_A}"
    stats enable
    stats uri /
    stats show-node Europe-1
    stats show-desc Master node for Europe
    stats show-legends
listen from_global
    bind "${FE_B}"
    stats enable
    stats uri /
    stats show-node
    stats show-desc
listen plain
    bind "${FE_C}"
    stats enable
    stats uri /
backend bk_one
    server one_a "${S1}" cookie c1
"#,
        &[
            ("FE_A", haproxy_addr(addrs[0])),
            ("FE_B", haproxy_addr(addrs[1])),
            ("FE_C", haproxy_addr(addrs[2])),
            ("S1", app.cfg_addr()),
        ],
    );
    let named = get(addrs[0], "/");
    assert_page(&named, "show-node NAME");
    assert!(named.body.contains("Europe-1"), "no node name");
    assert!(
        named.body.contains("Master node for Europe"),
        "no description"
    );
    assert!(!named.body.contains("globalnode"));

    let global = get(addrs[1], "/");
    assert_page(&global, "show-node without a name");
    assert!(global.body.contains("globalnode"), "no global node");
    assert!(global.body.contains("globaldesc"), "no global description");

    let plain = get(addrs[2], "/");
    assert_page(&plain, "plain");
    for s in ["globalnode", "globaldesc", "Europe-1"] {
        assert!(!plain.body.contains(s), "{s} shown without show-node/desc");
    }

    // Legends: the server's address and the proxies' mode.
    let server = app.cfg_addr();
    assert!(named.body.contains(&server), "legends: no {server}");
    assert!(named.body.contains("mode: http"), "legends: no mode");
    assert!(!plain.body.contains(&server), "no legends, yet {server}");
    assert!(!plain.body.contains("mode: http"));
    // The same in the CSV export.
    let csv = |addr: SocketAddr| StatCsv::parse(&get(addr, "/;csv").body);
    let (named, plain) = (csv(addrs[0]), csv(addrs[2]));
    assert_eq!(named.get("bk_one", "one_a", "addr").unwrap(), server);
    assert_eq!(named.get("bk_one", "one_a", "cookie").unwrap(), "c1");
    assert_eq!(
        named.get("bk_one", "BACKEND", "algo").unwrap(),
        "roundrobin"
    );
    assert_eq!(plain.get("bk_one", "one_a", "addr").unwrap(), "");
    assert_eq!(plain.get("bk_one", "one_a", "cookie").unwrap(), "");
    assert_eq!(plain.get("bk_one", "BACKEND", "algo").unwrap(), "");
}

// ---------------------------------------------------------------------------
// Headless browser
// ---------------------------------------------------------------------------

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs chromium headless with `args` and `url` in its own process group, killed with its
/// children after 60 s. Returns its stdout.
fn chromium(profile: &Path, args: &[String], url: &str) -> String {
    use std::os::unix::process::CommandExt;
    let out_path = profile.with_extension("out");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(fs::File::create(&out_path).unwrap())
    .stderr(Stdio::null())
    .process_group(0);
    let mut child = cmd.spawn().expect("run chromium");
    let pgid = child.id() as i32;
    let status = wait_child(&mut child, Duration::from_secs(60));
    // The renderer and helper processes are in the group too: they end on their own once
    // the browser is gone, and whatever is left after 3 s is killed.
    // SAFETY: kill(2) on the process group this test created.
    let group_alive = || unsafe { libc::kill(-pgid, 0) == 0 };
    if status.is_some() {
        wait_until(Duration::from_secs(3), || !group_alive());
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if status.is_none() {
        let _ = child.wait();
        panic!("chromium did not finish within 60 s");
    }
    fs::read_to_string(&out_path).unwrap_or_default()
}

/// The `data-proxy` of every element whose class has `halo-chart`.
fn chart_proxies(dom: &str) -> Vec<String> {
    tags(dom, "")
        .iter()
        .filter(|a| {
            attr(a, "class").is_some_and(|c| c.split_whitespace().any(|w| w == "halo-chart"))
        })
        .filter_map(|a| attr(a, "data-proxy").map(str::to_string))
        .collect()
}

#[test]
fn headless_browser_renders_the_page() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("skipped: {CHROMIUM} is not installed");
        return;
    }
    let (a1, b1) = (
        HttpBackend::start("alpha1", Duration::ZERO),
        HttpBackend::start("beta1", Duration::ZERO),
    );
    let stats = free_addr();
    let _h = Halo::start(
        r#"
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen stats
    bind "${FE_STATS}"
    stats enable
    stats uri /
    stats auth admin:admin
    stats admin if TRUE
backend bk_alpha
    server alpha1 "${S1}"
    server alpha2 "${S2}"
backend bk_beta
    server beta1 "${S2}"
"#,
        &[
            ("FE_STATS", haproxy_addr(stats)),
            ("S1", a1.cfg_addr()),
            ("S2", b1.cfg_addr()),
        ],
    );
    let url = format!("http://admin:admin@{stats}/");
    let dir = tempfile::tempdir().unwrap();

    let png = dir.path().join("stats.png");
    chromium(
        &dir.path().join("profile1"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,900".into(),
        ],
        &url,
    );
    let bytes = fs::read(&png).expect("chromium wrote no screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 900));
    assert!(
        bytes.len() > 20_000,
        "a {} byte screenshot is too small to show the tables",
        bytes.len()
    );

    let dom = chromium(
        &dir.path().join("profile2"),
        &["--dump-dom".into(), "--virtual-time-budget=3000".into()],
        &url,
    );
    for p in ["bk_alpha/alpha1", "bk_alpha/alpha2", "bk_beta/beta1"] {
        assert!(dom.contains(p), "the rendered page has no {p}: {dom:.300}");
    }
    assert!(has_tag(&dom, "select", &[("name", "action")]));

    if skip_on_reference("halo's live charts") {
        return;
    }
    let charts = chart_proxies(&dom);
    for be in ["bk_alpha", "bk_beta"] {
        assert!(
            charts.iter().any(|c| c == be),
            "no halo-chart for {be}: {charts:?}"
        );
    }
}
