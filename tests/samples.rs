//! The sample engine end to end: `capture.req.method/uri/ver` and `capture.res.ver` (the
//! messages as received), the `set-var`/`unset-var`/`capture-req`/`capture-res`
//! converters, the `tune.vars.*-max-size` limits and `tune.http.cookielen`, seen in what
//! the client gets from `http-request return` and what the backend receives.

mod support;

use std::time::Duration;

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Starts `global` + defaults + a frontend `f` bound to `FE` with `body` as its lines;
/// `server` (if any) is the address of backend `b`'s only server.
fn start(global: &str, body: &str, server: Option<String>) -> (Halo, std::net::SocketAddr) {
    let fe = free_addr();
    let mut cfg = format!("global\n{global}\n{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n{body}\n");
    let mut env = vec![("FE", haproxy_addr(fe))];
    if let Some(s) = server {
        cfg.push_str("    default_backend b\nbackend b\n    server s1 \"${S1}\"\n");
        env.push(("S1", s));
    }
    (Halo::start(&cfg, &env), fe)
}

/// The body of the answer to `GET path` on a new connection.
fn answer(fe: std::net::SocketAddr, path: &str) -> String {
    let r = Client::connect(fe).get(path, "");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

#[test]
fn capture_fetches_keep_the_request_as_received() {
    let be = HttpBackend::start("b1", Duration::ZERO);
    let (_h, fe) = start(
        "",
        "    http-request set-method POST\n    http-request set-uri /rewritten?q=2\n    http-request set-header X-Cap-M %[capture.req.method]\n    http-request set-header X-Cap-U %[capture.req.uri]\n    http-request set-header X-Cap-V %[capture.req.ver]\n    http-request set-header X-Res-V \"<%[capture.res.ver]>\"\n    http-response set-header X-Res-V %[capture.res.ver]\n    http-response set-header X-Req-M %[capture.req.method]\n    http-response set-header X-Req-U %[capture.req.uri]",
        Some(be.cfg_addr()),
    );
    let mut c = Client::connect(fe);
    c.send(b"GET /orig/p?x=1 HTTP/1.0\r\nHost: test\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    // In the response: the request as received, and the response's version.
    assert_eq!(r.header("x-res-v"), Some("HTTP/1.1"));
    assert_eq!(r.header("x-req-m"), Some("GET"));
    assert_eq!(r.header("x-req-u"), Some("/orig/p?x=1"));
    let seen = be.seen();
    let s = seen.last().expect("request reached the backend");
    // The server gets the rewritten request, the fetches the original one.
    assert_eq!(s.method, "POST");
    assert_eq!(s.target, "/rewritten?q=2");
    assert_eq!(s.header("x-cap-m"), Some("GET"));
    assert_eq!(s.header("x-cap-u"), Some("/orig/p?x=1"));
    assert_eq!(s.header("x-cap-v"), Some("HTTP/1.0"));
    // No response yet while the request rules run.
    assert_eq!(s.header("x-res-v"), Some("<>"));
}

#[test]
fn capture_req_uri_drops_scheme_and_authority() {
    let (_h, fe) = start(
        "",
        "    http-request return status 200 content-type text/plain lf-string \"m=%[capture.req.method] u=<%[capture.req.uri]> v=%[capture.req.ver]\"",
        None,
    );
    let mut c = Client::connect(fe);
    c.send(b"PURGE http://h.example:80/abs/p?x=1 HTTP/1.1\r\nHost: h.example:80\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.body, "m=PURGE u=</abs/p?x=1> v=HTTP/1.1");
    // `*` has no path: the fetch fails.
    let mut c = Client::connect(fe);
    c.send(b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.body, "m=OPTIONS u=<> v=HTTP/1.1");
}

#[test]
fn set_var_and_unset_var_converters() {
    let be = HttpBackend::start("b1", Duration::ZERO);
    let (_h, fe) = start(
        "",
        "    http-request set-var(txn.a) int(3)\n    http-request set-var(txn.b) int(9),set-var(txn.a,ifgt),add(1)\n    http-request set-var(txn.c) int(1),set-var(txn.a,ifgt),add(1)\n    http-request set-var(txn.d) str(dd)\n    http-request set-var(txn.e) str(zz),set-var(txn.f),unset-var(txn.d)\n    http-request set-var(txn.g) str(x),set-var(txn.g2,ifnotexists),set-var(txn.g2,ifnotexists)\n    http-request set-header X-Pass %[str(hello),set-var(txn.h),upper]\n    http-request set-header X-Var %[var(txn.h)]\n    http-request set-header X-Same \"%[str(v1),set-var(txn.s)]-%[var(txn.s)]\"\n    http-request return status 200 content-type text/plain lf-string \"a=%[var(txn.a)] b=%[var(txn.b)] c=%[var(txn.c)] d=%[var(txn.d)] e=%[var(txn.e)] f=%[var(txn.f)] g=%[var(txn.g)] g2=%[var(txn.g2)]\" if { path /vars }",
        Some(be.cfg_addr()),
    );
    // ifgt: the variable (3) must be greater than the input; 9 fails (the converter
    // fails, nothing is stored anywhere), 1 passes and is stored.
    // The second `ifnotexists` on g2 fails, so g is not set either.
    assert_eq!(answer(fe, "/vars"), "a=1 b= c=2 d= e=zz f=zz g= g2=x");
    let r = Client::connect(fe).get("/other", "");
    assert_eq!(r.status, 200);
    let seen = be.seen();
    let s = seen.last().expect("request reached the backend");
    assert_eq!(s.header("x-pass"), Some("HELLO"));
    assert_eq!(s.header("x-var"), Some("hello"));
    assert_eq!(s.header("x-same"), Some("v1-v1"));
}

#[test]
fn capture_req_and_capture_res_converters() {
    let be = HttpBackend::start("b1", Duration::ZERO);
    let (_h, fe) = start(
        "",
        "    declare capture request len 4\n    declare capture response len 3\n    http-request set-header X-In %[req.hdr(x-in),capture-req(0)]\n    http-request set-header X-Bad \"<%[str(nope),capture-req(1)]>\"\n    http-request set-header X-Cap %[capture.req.hdr(0)]\n    http-response set-header X-Out %[res.hdr(x-server),capture-res(0)]\n    http-response set-header X-Cap-Res %[capture.res.hdr(0)]\n    http-response set-header X-Cap-Req %[capture.req.hdr(0)]",
        Some(be.cfg_addr()),
    );
    let r = Client::connect(fe).get("/", "X-In: hello\r\n");
    assert_eq!(r.status, 200);
    // The converters pass the sample on whole and store it truncated to the slot length.
    let seen = be.seen();
    let s = seen.last().expect("request reached the backend");
    assert_eq!(s.header("x-in"), Some("hello"));
    assert_eq!(s.header("x-cap"), Some("hell"));
    // Slot 1 was never declared: the converter fails.
    assert_eq!(s.header("x-bad"), Some("<>"));
    assert_eq!(r.header("x-out"), Some("b1"));
    assert_eq!(r.header("x-cap-res"), Some("b1"));
    assert_eq!(r.header("x-cap-req"), Some("hell"));
}

#[test]
fn txn_limit_counts_entries_and_string_bytes() {
    // HAProxy 2.6 counts 80 bytes per variable plus the bytes of a string: a 10-byte
    // string fits in 90 bytes and leaves no room for a second variable.
    let (_h, fe) = start(
        "    tune.vars.txn-max-size 90",
        "    http-request set-var(txn.a) str(abcdefghij)\n    http-request set-var(txn.b) int(1)\n    http-request set-var(req.c) int(1)\n    http-request set-var(sess.d) int(4)\n    http-request return status 200 content-type text/plain lf-string \"a=%[var(txn.a)] b=%[var(txn.b)] c=%[var(req.c)] d=%[var(sess.d)] conv=<%[str(x),set-var(txn.e)]>\"",
        None,
    );
    assert_eq!(answer(fe, "/"), "a=abcdefghij b= c= d=4 conv=<>");
    let (_h, fe) = start(
        "    tune.vars.txn-max-size 89",
        "    http-request set-var(txn.a) str(abcdefghij)\n    http-request return status 200 content-type text/plain lf-string \"a=<%[var(txn.a)]>\"",
        None,
    );
    if !is_reference_haproxy() {
        // HAProxy 2.6 keeps a corrupted variable when only its string does not fit (its
        // manual warns about it); halo stores nothing.
        assert_eq!(answer(fe, "/"), "a=<>");
    }
}

#[test]
fn limits_are_hierarchical_and_freed() {
    // reqres limits req and res together, txn includes them, sess includes txn.
    let (_h, fe) = start(
        "    tune.vars.reqres-max-size 100",
        "    http-request set-var(req.a) int(7)\n    http-request set-var(req.b) int(1)\n    http-request set-var(txn.c) int(2)\n    http-request return status 200 content-type text/plain lf-string \"a=%[var(req.a)] b=%[var(req.b)] c=%[var(txn.c)]\"",
        None,
    );
    assert_eq!(answer(fe, "/"), "a=7 b= c=2");
    let (_h, fe) = start(
        "    tune.vars.sess-max-size 170",
        "    http-request set-var(sess.n) int(1)\n    http-request set-var(txn.t) int(2)\n    http-request set-var(txn.u) int(3)\n    http-request set-header X-U %[int(4),unset-var(txn.t)]\n    http-request set-var(txn.w) int(5)\n    http-request return status 200 content-type text/plain lf-string \"n=%[var(sess.n)] t=%[var(txn.t)] u=%[var(txn.u)] w=%[var(txn.w)]\"",
        None,
    );
    // sess.n and txn.t fill 160 bytes: txn.u does not fit; unset-var gives txn.t's
    // room back to txn.w. The next request on the same connection starts with an empty
    // transaction scope, so the same rules give the same result.
    let mut c = Client::connect(fe);
    for _ in 0..2 {
        let r = c.get("/", "");
        assert_eq!(r.body, "n=1 t= u= w=5");
    }
    // proc and global include every scope.
    let (_h, fe) = start(
        "    tune.vars.proc-max-size 160",
        "    http-request set-var(txn.a) int(7)\n    http-request set-var(sess.b) int(1)\n    http-request set-var(txn.c) int(2)\n    http-request return status 200 content-type text/plain lf-string \"a=%[var(txn.a)] b=%[var(sess.b)] c=%[var(txn.c)]\"",
        None,
    );
    assert_eq!(answer(fe, "/"), "a=7 b=1 c=");
    // Once the first connection is gone its variables no longer count.
    let (_h, fe) = start(
        "    tune.vars.global-max-size 80",
        "    http-request set-var(txn.a) int(7)\n    http-request return status 200 content-type text/plain lf-string \"a=%[var(txn.a)]\"",
        None,
    );
    assert_eq!(answer(fe, "/"), "a=7");
    assert!(wait_until(Duration::from_secs(5), || {
        Client::connect(fe).get("/", "").body == "a=7"
    }));
}

#[test]
fn tunables_are_read_as_haproxy_does() {
    let cfg = |global: &str| {
        format!(
            "global\n{global}\n{DEFAULTS}frontend f\n    bind 127.0.0.1:8080\n    capture cookie SID len 40\n    http-request deny\n"
        )
    };
    let (code, _, err) = run_check(Cfg::Text(&cfg("    tune.http.cookielen 10")), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("truncating capture length to 10 bytes for frontend 'f'."),
        "{err}"
    );
    let (code, _, err) = run_check(Cfg::Text(&cfg("    tune.vars.txn-max-size 1k")), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("tune.vars.txn-max-size: '1k' is an invalid size"),
        "{err}"
    );
    let (code, _, err) = run_check(Cfg::Text(&cfg("    tune.pattern.cache-size -1")), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("'tune.pattern.cache-size' expects a positive numeric value"),
        "{err}"
    );
    let ok = "    tune.vars.global-max-size 1000\n    tune.vars.proc-max-size 1000\n    tune.vars.reqres-max-size 100\n    tune.vars.sess-max-size 1000\n    tune.vars.txn-max-size 500\n    tune.pattern.cache-size 100";
    let (code, _, err) = run_check(Cfg::Text(&cfg(ok)), &[]);
    assert_eq!(code, 0, "{err}");
}

/// The arithmetic converters take a variable name as their argument ("a numeric value or a
/// variable name"); an unset one makes the expression give nothing.
#[test]
fn arithmetic_converters_read_variables() {
    let (_h, fe) = start(
        "    set-var proc.base int(100)",
        "    http-request set-var(txn.d) int(4)\n    http-request return status 200 content-type text/plain lf-string \"%[int(10),sub(txn.d)] %[int(10),mul(txn.d)] %[int(1),add(proc.base)] <%[int(1),add(txn.unset)]>\"",
        None,
    );
    assert_eq!(answer(fe, "/"), "6 40 101 <>");
}

/// `be_conn_free`, `srv_conn_free`, `srv_weight/iweight/uweight`, `be/fe/srv_sess_rate`
/// follow the servers' limits, weights and state (values checked against haproxy 2.6).
#[test]
fn backend_and_server_state_fetches() {
    let body = "    http-request return status 200 content-type text/plain lf-string \"%[be_conn_free(be)] %[srv_conn_free(be/s1)] %[srv_weight(be/s1)] %[srv_iweight(be/s1)] %[srv_uweight(be/s1)] %[be_sess_rate(be)] %[fe_sess_rate] %[srv_sess_rate(be/s1)] %[be_conn_free(nomax)] %[srv_conn_free(nomax/n1)]\"
backend be
    server s1 127.0.0.1:9 maxconn 10 weight 5
    server s2 127.0.0.1:9 maxconn 20 weight 3
    server b1 127.0.0.1:9 maxconn 7 backup
backend nomax
    server n1 127.0.0.1:9";
    let (h, fe) = start(
        "    stats socket \"${DIR}/admin.sock\" level admin",
        body,
        None,
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let get = || Client::connect(fe).get("/", "").body;
    assert_eq!(get(), "30 10 5 5 5 0 1 0 -1 -1");
    cli(&sock, "set weight be/s1 2").unwrap();
    assert_eq!(get(), "30 10 2 5 2 0 2 0 -1 -1");
    // Only the backup server left: its slots.
    cli(&sock, "disable server be/s1").unwrap();
    cli(&sock, "disable server be/s2").unwrap();
    assert_eq!(get(), "7 10 2 5 2 0 3 0 -1 -1");
}

/// Configured values (`be_server_timeout`, `be_tunnel_timeout`, `fe_client_timeout`,
/// `fe_defbe`), `proc`, `uuid` (version 4) as haproxy 2.6 gives them; `uptime`.
#[test]
fn configured_values_and_uuid_fetches() {
    let fe = free_addr();
    let cfg = "global
defaults
    mode http
    timeout connect 1500
    timeout client 5s
    timeout server 7s
    timeout tunnel 1h
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    http-request return status 200 content-type text/plain lf-string \"%[be_server_timeout] %[be_tunnel_timeout] %[fe_client_timeout] %[fe_defbe] %[proc] %[uuid]\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe))]);
    let body = Client::connect(fe).get("/", "").body;
    let (fixed, uuid) = body.rsplit_once(' ').unwrap();
    assert_eq!(fixed, "7000 3600000 5000 be 1");
    let groups: Vec<&str> = uuid.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{uuid}"
    );
    assert!(groups[2].starts_with('4'), "version 4: {uuid}");
    assert!("89ab".contains(&groups[3][..1]), "variant: {uuid}");
    let other = Client::connect(fe).get("/", "").body;
    assert_ne!(body, other, "two random UUIDs");
    if skip_on_reference("uptime is a 3.x fetch") {
        return;
    }
    let fe2 = free_addr();
    let cfg2 = cfg
        .replace("%[proc] %[uuid]", "%[uptime] %[uuid(7)]")
        .replace("${FE}", "${FE2}");
    let _h2 = Halo::builder(&cfg2)
        .envs(&[("FE2", haproxy_addr(fe2))])
        .wait_for(&[fe2])
        .start();
    let body = Client::connect(fe2).get("/", "").body;
    let f: Vec<&str> = body.split(' ').collect();
    assert!(f[4].parse::<u64>().unwrap() < 60, "{body}");
    assert!(f[5].split('-').nth(2).unwrap().starts_with('7'), "{body}");
}
