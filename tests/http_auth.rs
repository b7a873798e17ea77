//! HTTP authentication end to end: `userlist` sections with every password hash method of
//! the system, `http-request auth` (HAProxy 2.6's 401 page and `WWW-Authenticate`), the
//! `http_auth*` fetches, and `http_auth_group` ACLs routing by group. Passes unchanged
//! with `HALO_BIN=/usr/sbin/haproxy`.

mod support;

use std::time::Duration;

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

// Hashes of "secret" made with `openssl passwd -1/-5/-6 secret`, `mkpasswd -m bcrypt -R 5
// secret`, `mkpasswd -m yescrypt secret` and `mkpasswd -m descrypt secret` (Debian 12).
const HASHES: &[(&str, &str)] = &[
    ("md5", "$1$k4vSGFjC$Yqdbt.UDYbM2lXCsnirYm0"),
    (
        "sha256",
        "$5$sJQ7k/uWz7kIBkuw$WLwSw5DcO9DrmOoFIlyverZSMjPCdNngE0yDdwyOrB7",
    ),
    (
        "sha512",
        "$6$2pJmmOMP2TvLWC2p$Lck9JQSH7Ucv.9uj6T5QKNPbY.nKzydjHtl2u7S.4N/5yUQITDR5fNG3wpTmxw4ljtubnK23J9S.VtfRAa4wo.",
    ),
    (
        "bcrypt",
        "$2b$05$kzzPmY.vJHpxtTcqF.Crvuw3Jca80pEJJ0lyPEkZwm8QXAjd/.K/G",
    ),
    (
        "yescrypt",
        "$y$j9T$g.KoAthg1mSbqJVK7V56f.$RHJJSj56IWLQIYhA3FHnteXZIf/5l6IMW1IX9t41A66",
    ),
    ("des", "1Hoqi/WyYerVc"),
];

const PAGE_401: &str = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";

fn userlist() -> String {
    let mut u = String::from(
        "userlist L1\n    group admin users root\n    group staff\n    user root insecure-password 'r00t'\n    user scott insecure-password 'elgato' groups staff\n",
    );
    for (name, hash) in HASHES {
        u.push_str(&format!("    user {name} password '{hash}' groups staff\n"));
    }
    u
}

/// `Authorization: Basic …` for `user:pass`.
fn basic(user: &str, pass: &str) -> String {
    format!(
        "Authorization: Basic {}\r\n",
        b64(format!("{user}:{pass}").as_bytes())
    )
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn assert_challenge(r: &Response, realm: &str) {
    assert_eq!(r.status, 401);
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "content-length",
            "cache-control",
            "content-type",
            "www-authenticate"
        ],
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Basic realm=\"{realm}\"").as_str())
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.body, PAGE_401);
}

#[test]
fn challenge_then_every_hash_method_reaches_the_server() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let (fe, fe_realm) = (free_addr(), free_addr());
    let cfg = format!(
        "{DEFAULTS}{}frontend fe\n    bind \"${{FE_A}}\"\n    acl ok http_auth(L1)\n    http-request auth if !ok\n    default_backend app\nfrontend staff\n    bind \"${{FE_B}}\"\n    http-request auth realm \"Staff only\" unless {{ http_auth(L1) }}\n    default_backend app\nbackend app\n    server s1 \"${{S1}}\"\n",
        userlist()
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE_A", haproxy_addr(fe)),
            ("FE_B", haproxy_addr(fe_realm)),
            ("S1", be.cfg_addr()),
        ],
    );
    let mut c = Client::connect(fe);
    // No credentials, an unknown user, a wrong password: the challenge, on a connection
    // that stays open.
    assert_challenge(&c.get("/a", ""), "fe");
    assert_challenge(&c.get("/a", &basic("nobody", "secret")), "fe");
    assert_challenge(&c.get("/a", &basic("sha512", "Secret")), "fe");
    assert_challenge(&c.get("/a", &basic("scott", "elgato ")), "fe");
    assert_challenge(&c.get("/a", "Authorization: Basic !!!!\r\n"), "fe");
    assert_challenge(&c.get("/a", "Authorization: Bearer abc\r\n"), "fe");
    assert!(be.seen().is_empty());
    // The right password for each method, twice (the second check may be cached).
    let mut n = 0;
    for (user, _) in HASHES {
        for _ in 0..2 {
            let r = c.get(&format!("/{user}"), &basic(user, "secret"));
            assert_eq!(r.status, 200, "{user}: {}", r.body);
            assert_eq!(r.body, format!("app /{user} 0\n"));
            n += 1;
        }
    }
    let r = c.get("/plain", &basic("scott", "elgato"));
    assert_eq!(r.status, 200);
    n += 1;
    let seen = be.seen();
    assert_eq!(seen.len(), n);
    // The credentials are forwarded untouched.
    assert_eq!(
        seen[0].header("authorization"),
        basic("md5", "secret")
            .trim_end()
            .strip_prefix("Authorization: ")
    );
    // A wrong password after a right one on the same connection is refused again.
    assert_challenge(&c.get("/a", &basic("md5", "nope")), "fe");
    // The realm given to `auth`.
    let mut c = Client::connect(fe_realm);
    assert_challenge(&c.get("/", ""), "Staff only");
    assert_eq!(c.get("/", &basic("root", "r00t")).status, 200);
}

#[test]
fn groups_route_and_fetches_report_the_credentials() {
    let users = HttpBackend::start("users", Duration::ZERO);
    let admins = HttpBackend::start("admins", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}{}frontend fe\n    bind \"${{FE}}\"\n    acl authed http_auth(L1)\n    acl admin http_auth_group(L1) admin\n    http-request return status 200 content-type text/plain lf-string \"user=%[http_auth_user] pass=%[http_auth_pass] type=%[http_auth_type] group=%[http_auth_group(L1)] ok=%[http_auth(L1)] bearer=%[http_auth_bearer]\\n\" if {{ path /info }}\n    http-request auth unless authed\n    http-request set-header X-User %[http_auth_user]\n    use_backend admins if admin\n    use_backend users if {{ http_auth_group(L1) staff }}\nbackend users\n    server s1 \"${{S1}}\"\nbackend admins\n    server s2 \"${{S2}}\"\n",
        userlist()
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", users.cfg_addr()),
            ("S2", admins.cfg_addr()),
        ],
    );
    let mut c = Client::connect(fe);
    // `group admin users root` and `user … groups staff` both make members.
    assert_eq!(c.get("/x", &basic("root", "r00t")).body, "admins /x 0\n");
    assert_eq!(c.get("/y", &basic("scott", "elgato")).body, "users /y 0\n");
    assert_eq!(c.get("/z", &basic("sha256", "secret")).body, "users /z 0\n");
    assert_eq!(admins.seen()[0].header("x-user"), Some("root"));
    assert_eq!(users.seen()[1].header("x-user"), Some("sha256"));
    // The fetches.
    let info = |c: &mut Client, extra: &str| c.get("/info", extra).body;
    assert_eq!(
        info(&mut c, &basic("scott", "elgato")),
        "user=scott pass=elgato type=Basic group=scott ok=1 bearer=\n"
    );
    // Wrong password: the user and password are still reported, the group is not.
    assert_eq!(
        info(&mut c, &basic("scott", "elgato:x")),
        "user=scott pass=elgato:x type=Basic group= ok=0 bearer=\n"
    );
    assert_eq!(
        info(&mut c, "Authorization: Bearer tok.en\r\n"),
        "user= pass= type=Bearer group= ok= bearer=tok.en\n"
    );
    assert_eq!(info(&mut c, ""), "user= pass= type= group= ok= bearer=\n");
    // HAProxy takes a prefix of the scheme name ("b" = "Basic").
    assert_eq!(
        info(&mut c, "Authorization: b cm9vdDpyMDB0\r\n"),
        "user=root pass=r00t type=Basic group=root ok=1 bearer=\n"
    );
}

#[test]
fn configuration_errors_name_the_line() {
    let cases = [
        // An unknown userlist in an ACL.
        format!(
            "{DEFAULTS}userlist L1\n    user a insecure-password x\nfrontend f\n    bind 127.0.0.1:0\n    acl ok http_auth(L2)\n    http-request auth unless ok\n"
        ),
        // An unknown group in an `http_auth_group` ACL.
        format!(
            "{DEFAULTS}userlist L1\n    group G\n    user a insecure-password x groups G\nfrontend f\n    bind 127.0.0.1:0\n    http-request auth unless {{ http_auth_group(L1) G H }}\n"
        ),
        // A user in an unknown group.
        format!(
            "{DEFAULTS}userlist L1\n    user a insecure-password x groups nope\nfrontend f\n    bind 127.0.0.1:0\n"
        ),
    ];
    let lines = [10, 11, 7];
    for (cfg, line) in cases.iter().zip(lines) {
        let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
        assert_ne!(code, 0, "{cfg}\n{err}");
        if !is_reference_haproxy() {
            assert!(err.contains(&format!("halo.cfg:{line}]")), "{err}");
        }
    }
}

#[test]
fn client_closing_after_the_challenge_gets_nothing_more() {
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}{}frontend fe\n    bind \"${{FE}}\"\n    http-request auth unless {{ http_auth(L1) }}\n    http-request return status 200\n",
        userlist()
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut c = Client::connect(fe);
        c.send(req.as_bytes());
        let _ = c.w.shutdown(std::net::Shutdown::Write);
        let r = c.read().expect("the challenge");
        assert_eq!(r.status, 401);
        // Then the connection ends without another answer (no 400).
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut c.r, &mut rest);
        assert_eq!(rest, "", "{req:?}");
    }
}
