//! Running one check: the steps of the plan in order (connect, send, expect) over one
//! connection at a time, with `timeout connect`/`timeout check`/`inter` bounds, and the
//! result named as HAProxy names it (status, code, info).

use crate::sample::conv::hex_upper as hex;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use halo_config::checks::{ConnectRule, Pattern};
use halo_config::model::ProxyProtocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::rules::{ExpectRt, HttpReq, Msg, Plan, SetValue, StepKind};
use crate::sample::vars::Vars;
use crate::sample::{Ctx, Sample};
use crate::server::Backend;

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: &'static str,
    pub code: Option<u32>,
    pub info: String,
}

impl Outcome {
    fn new(status: &'static str, code: Option<u32>, info: impl Into<String>) -> Outcome {
        Outcome {
            status,
            code,
            info: info.into(),
        }
    }
}

/// Whether a status lets the server take traffic (L7OKC: only persistent traffic).
pub fn passed(status: &str) -> bool {
    matches!(status, "L4OK" | "L6OK" | "L7OK" | "L7OKC")
}

fn status_name(s: &str) -> &'static str {
    match s {
        "L4OK" => "L4OK",
        "L4CON" => "L4CON",
        "L4TOUT" => "L4TOUT",
        "L6OK" => "L6OK",
        "L6RSP" => "L6RSP",
        "L6TOUT" => "L6TOUT",
        "L7OKC" => "L7OKC",
        "L7STS" => "L7STS",
        "L7TOUT" => "L7TOUT",
        "L7OK" => "L7OK",
        _ => "L7RSP",
    }
}

/// Statuses reported with a code (HAProxy: L57DATA and above).
fn has_code(s: &str) -> bool {
    matches!(s, "L7OK" | "L7OKC" | "L7STS")
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        std::io::ErrorKind::TimedOut => "Connection timed out".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

struct Conn {
    stream: crate::proxy::connect::ServerStream,
    /// The last request was a HEAD: its response has no body.
    head: bool,
    inbuf: Vec<u8>,
    eof: bool,
}

enum Eval {
    Wait,
    Done(Result<Outcome, Outcome>),
}

/// Runs the plan against server `idx`; never fails, the result says what happened.
/// The sample context of a check: its variables and what the server sent so far.
fn check_ctx<'a>(vars: &'a Vars, payload: &'a [u8]) -> Ctx<'a> {
    let mut ctx = Ctx::empty();
    ctx.vars = Some(vars);
    ctx.res_payload = payload;
    ctx.res_dir = true;
    ctx
}

pub async fn run(be: &Backend, idx: usize, plan: &Plan) -> Outcome {
    let srv = &be.servers[idx];
    // `check.` variables live for one check (`proc.` ones for the process).
    let vars = Vars::new();
    let start = Instant::now();
    let inter = srv.cfg.inter.max(1);
    let check_to = be.settings.check_timeout;
    // Without `timeout check`, `inter` bounds the whole check; with it, the connection is
    // bounded by min(timeout connect, inter), then `timeout check` bounds the rest.
    let mut deadline = start + Duration::from_millis(inter);
    let mut conn: Option<Conn> = None;
    let mut last: Option<usize> = None;
    let mut last_http_code: Option<u32> = None;
    for (i, st) in plan.steps.iter().enumerate() {
        let stepno = st.id.max(1);
        let tcp_info = |what: &str| {
            if plan.tcp_check {
                format!(" at step {stepno} of tcp-check ({what})")
            } else {
                String::new()
            }
        };
        match &st.kind {
            StepKind::SetVar(name, value) => {
                let payload = conn.as_ref().map(|c| &c.inbuf[..]).unwrap_or(&[]);
                let ctx = check_ctx(&vars, payload);
                let v = match value {
                    SetValue::Expr(e) => e.eval(&ctx).map(Sample::into_owned),
                    SetValue::Fmt(f) => Some(Sample::Str(f.render_vec(&ctx).into())),
                };
                if let Some(v) = v {
                    vars.set(name, v);
                }
            }
            StepKind::UnsetVar(name) => vars.unset(name),
            StepKind::Connect(c) => {
                drop(conn.take());
                let (target, proxy) = target_of(be, idx, c);
                let mut ct = inter;
                if check_to.is_some()
                    && let Some(t) = be.settings.connect_timeout
                {
                    ct = ct.min(t.max(1));
                }
                let remaining = deadline.saturating_duration_since(Instant::now());
                let limit = Duration::from_millis(ct).min(remaining);
                let what = connect_desc(c, st.implicit);
                let res = tokio::time::timeout(
                    limit.max(Duration::from_millis(1)),
                    crate::proxy::connect::connect(
                        target,
                        srv.source.as_ref(),
                        Some(srv),
                        None,
                        None,
                    ),
                )
                .await;
                let mut stream = match res {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        let mut info = io_reason(&e);
                        info.push_str(&tcp_info(&what));
                        return Outcome::new("L4CON", None, comment(info, st.comment.as_deref()));
                    }
                    Err(_) => {
                        let info = tcp_info(&what);
                        return Outcome::new("L4TOUT", None, comment(info, st.comment.as_deref()));
                    }
                };
                if let Some(v) = proxy
                    && let (Ok(src), Ok(dst)) = (stream.local_addr(), stream.peer_addr())
                {
                    let mut hdr = Vec::new();
                    match v {
                        ProxyProtocol::V1 => {
                            crate::proxy::proxy_protocol::write_v1(src, dst, &mut hdr)
                        }
                        ProxyProtocol::V2 => {
                            crate::proxy::proxy_protocol::write_v2(src, dst, &mut hdr)
                        }
                    }
                    if let Err(e) = stream.write_all(&hdr).await {
                        return Outcome::new("L4CON", None, io_reason(&e));
                    }
                }
                // `check-ssl` (or `ssl` without a check `port`/`addr`): a TLS handshake
                // below the check, bounded like the connection.
                // The implicit connect (and `connect default`) follows the server's
                // `check-ssl`; an explicit rule goes over TLS only with `ssl` (with its own
                // `sni`, else `check-sni`).
                let tls = match srv.tls.as_ref() {
                    Some(t) if c.ssl => Some((t, c.sni.as_deref(), c.alpn.as_deref())),
                    Some(t) if (st.implicit || c.default) && t.check_ssl => Some((t, None, None)),
                    _ => None,
                };
                let stream = match tls {
                    None => crate::proxy::connect::ServerStream::Plain(stream),
                    Some((tls, sni, alpn)) => {
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        let hs = tls.connect_with(stream, sni, alpn, target.ip(), true);
                        match tokio::time::timeout(remaining.max(Duration::from_millis(1)), hs)
                            .await
                        {
                            Ok(Ok(t)) => crate::proxy::connect::ServerStream::Tls(Box::new(t)),
                            Ok(Err(_)) => {
                                return Outcome::new(
                                    "L6RSP",
                                    None,
                                    comment("SSL handshake failure".into(), st.comment.as_deref()),
                                );
                            }
                            Err(_) => {
                                return Outcome::new(
                                    "L6TOUT",
                                    None,
                                    comment(String::new(), st.comment.as_deref()),
                                );
                            }
                        }
                    }
                };
                if let Some(t) = check_to {
                    deadline = Instant::now() + Duration::from_millis(t.max(1));
                }
                conn = Some(Conn {
                    stream,
                    head: false,
                    inbuf: Vec::new(),
                    eof: false,
                });
                last = Some(i);
            }
            StepKind::Send(_)
            | StepKind::SendFmt(..)
            | StepKind::SendSslHello
            | StepKind::HttpSend(_) => {
                let Some(c) = conn.as_mut() else {
                    return Outcome::new("L7RSP", None, "no connection to send on");
                };
                let data = match &st.kind {
                    StepKind::Send(b) => b.clone(),
                    StepKind::SendFmt(f, hex) => {
                        let v = f.render_vec(&check_ctx(&vars, &[]));
                        if *hex {
                            halo_config::checks::parse_hex(&String::from_utf8_lossy(&v))
                                .unwrap_or_default()
                        } else {
                            v
                        }
                    }
                    StepKind::SendSslHello => ssl_hello(),
                    StepKind::HttpSend(r) => http_request(be, idx, plan, r, &vars),
                    _ => Vec::new(),
                };
                // A new question: the answer to look at is the one that follows.
                c.inbuf.clear();
                if let StepKind::HttpSend(r) = &st.kind {
                    c.head = r.meth.eq_ignore_ascii_case("HEAD");
                }
                let w = tokio::time::timeout_at(deadline.into(), c.stream.write_all(&data)).await;
                match w {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Outcome::new("L4CON", None, io_reason(&e)),
                    Err(_) => return Outcome::new("L7TOUT", None, ""),
                }
                last = Some(i);
            }
            StepKind::Expect(x) => {
                let Some(c) = conn.as_mut() else {
                    return Outcome::new("L7RSP", None, "no connection to read from");
                };
                loop {
                    let full = c.inbuf.len() >= plan.bufsize;
                    let last_read = c.eof || full;
                    let ev = if plan.http {
                        eval_http(x, c, last_read, be, idx, plan, &mut last_http_code, &vars)
                    } else {
                        eval_tcp(x, &c.inbuf, last_read, stepno, st.comment.as_deref(), &vars)
                    };
                    match ev {
                        Eval::Done(Ok(o)) => {
                            if o.status == "L7OKC" {
                                return o;
                            }
                            break;
                        }
                        Eval::Done(Err(o)) => return o,
                        Eval::Wait => {}
                    }
                    if last_read {
                        // Nothing more can come: evaluate as final already did; fail.
                        return Outcome::new("L7RSP", None, "");
                    }
                    let mut buf = vec![0u8; (plan.bufsize - c.inbuf.len()).clamp(1, 16384)];
                    match tokio::time::timeout_at(deadline.into(), c.stream.read(&mut buf)).await {
                        Ok(Ok(0)) => c.eof = true,
                        Ok(Ok(n)) => c.inbuf.extend_from_slice(&buf[..n]),
                        Ok(Err(e)) => {
                            if c.inbuf.is_empty() {
                                return Outcome::new("L7RSP", None, io_reason(&e));
                            }
                            c.eof = true;
                        }
                        Err(_) => {
                            let st_name =
                                x.e.tout_status
                                    .as_deref()
                                    .map(status_name)
                                    .unwrap_or("L7TOUT");
                            let info = if plan.tcp_check {
                                format!(
                                    " at step {stepno} of tcp-check (expect {})",
                                    pattern_desc(&x.e.pattern)
                                )
                            } else {
                                String::new()
                            };
                            return Outcome::new(
                                st_name,
                                None,
                                comment(info, st.comment.as_deref()),
                            );
                        }
                    }
                }
                last = Some(i);
            }
        }
    }
    // Every rule passed: the status comes from the last connect or expect.
    match last.map(|i| &plan.steps[i]) {
        Some(st) => match &st.kind {
            StepKind::Expect(x) => {
                let status = x.e.ok_status.as_deref().map(status_name).unwrap_or("L7OK");
                let payload = conn.as_ref().map(|c| &c.inbuf[..]).unwrap_or(&[]);
                let code = if plan.http {
                    last_http_code
                } else if x.code_from_payload {
                    // Built-ins take the code from the answer (`status-code res.payload(0,3)`).
                    std::str::from_utf8(payload.get(..3).unwrap_or(&[]))
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                        .or(Some(0))
                } else {
                    Some(0)
                };
                let info = match &x.on_success {
                    Some(m) => {
                        render_msg(m, conn.as_ref().map(|c| &c.inbuf[..]).unwrap_or(&[]), &vars)
                    }
                    None if plan.http => String::new(),
                    None if plan.tcp_check => "(tcp-check)".into(),
                    None => String::new(),
                };
                Outcome::new(status, if has_code(status) { code } else { None }, info)
            }
            // A connection completed over TLS passed layer 6.
            StepKind::Connect(c) => Outcome::new(
                if matches!(
                    conn.as_ref().map(|c| &c.stream),
                    Some(crate::proxy::connect::ServerStream::Tls(_))
                ) {
                    "L6OK"
                } else {
                    "L4OK"
                },
                None,
                if st.implicit || c.default && plan.steps.len() == 1 {
                    String::new()
                } else {
                    "(tcp-check)".into()
                },
            ),
            _ => Outcome::new("L7OK", Some(0), ""),
        },
        None => Outcome::new("L7OK", Some(0), ""),
    }
}

fn comment(mut info: String, c: Option<&str>) -> String {
    if let Some(c) = c {
        info.push_str(" comment: ");
        info.push_str(c);
    }
    info
}

fn connect_desc(c: &ConnectRule, implicit: bool) -> String {
    let mut s = String::from("connect");
    if implicit {
        return s;
    }
    if let Some(p) = c.port {
        s.push_str(&format!(" port {p}"));
    }
    s
}

/// Where a connect step goes, and whether it sends a PROXY header.
fn target_of(be: &Backend, idx: usize, c: &ConnectRule) -> (SocketAddr, Option<ProxyProtocol>) {
    let srv = &be.servers[idx];
    let mut target = srv.addr.target(0);
    let addr = c.addr.as_ref().or(srv.cfg.check_addr.as_ref());
    if let Some(a) = addr
        && let Ok(ip) = a.parse()
    {
        target.set_ip(ip);
    }
    if let Some(p) = c.port.or(srv.check_port()) {
        target.set_port(p);
    }
    let version = srv.send_proxy.unwrap_or(ProxyProtocol::V1);
    // The PROXY header goes on checks with `check-send-proxy`, `send-proxy` on the connect
    // rule, or, by default, when the server uses it and the check goes where traffic goes.
    let proxy = if c.send_proxy || srv.cfg.check_send_proxy {
        Some(version)
    } else if c.default
        && srv.send_proxy.is_some()
        && srv.check_port().is_none()
        && srv.cfg.check_addr.is_none()
    {
        srv.send_proxy
    } else {
        None
    };
    (target, proxy)
}

fn pattern_desc(p: &Pattern) -> String {
    match p {
        Pattern::String(s) => format!("string '{s}'"),
        Pattern::RString(s) => format!("rstring '{s}'"),
        Pattern::StringLf(s) => format!("string-lf '{s}'"),
        Pattern::Binary(b) => format!("binary '{}'", hex(b)),
        Pattern::RBinary(s) => format!("rbinary '{s}'"),
        Pattern::BinaryLf(s) => format!("binary-lf '{s}'"),
        Pattern::Status(_) => "status".into(),
        Pattern::RStatus(s) => format!("rstatus '{s}'"),
        Pattern::Hdr { .. } => "hdr".into(),
        Pattern::Custom(_) => "custom function".into(),
    }
}

fn render_msg(m: &Msg, payload: &[u8], vars: &Vars) -> String {
    match m {
        Msg::Text(t) => t.clone(),
        Msg::Fmt(f) => {
            String::from_utf8_lossy(&f.render_vec(&check_ctx(vars, payload))).into_owned()
        }
        // A log-format string ends at the first NUL, as in HAProxy.
        Msg::Line(off) => {
            let rest = payload.get(*off..).unwrap_or(&[]);
            let end = rest
                .iter()
                .position(|&c| c == b'\r' || c == b'\n' || c == 0)
                .unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .trim_start_matches(' ')
                .to_string()
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A tcp-check expect on the bytes received so far.
fn eval_tcp(
    x: &ExpectRt,
    buf: &[u8],
    last_read: bool,
    stepno: usize,
    cmt: Option<&str>,
    vars: &Vars,
) -> Eval {
    let e = &x.e;
    if let Pattern::Custom(kind) = &e.pattern {
        return eval_custom(kind, buf, last_read);
    }
    let needle: Option<Vec<u8>> = match &e.pattern {
        Pattern::String(s) => Some(s.as_bytes().to_vec()),
        Pattern::Binary(b) => Some(b.clone()),
        Pattern::StringLf(_) | Pattern::BinaryLf(_) => x.fmt.as_ref().map(|f| {
            let v = f.render_vec(&check_ctx(vars, buf));
            if matches!(e.pattern, Pattern::BinaryLf(_)) {
                halo_config::checks::parse_hex(&String::from_utf8_lossy(&v)).unwrap_or_default()
            } else {
                v
            }
        }),
        _ => None,
    };
    let mut min = e.min_recv;
    if let Some(n) = &needle
        && (min < 0 || (n.len() as i64) < min)
        && !e.inverse
    {
        min = min.max(n.len() as i64).min(n.len() as i64);
    }
    if min > 0 && (buf.len() as i64) < min && !last_read {
        return Eval::Wait;
    }
    let matched = match (&e.pattern, &needle) {
        (_, Some(n)) => find(buf, n),
        (Pattern::RBinary(_), _) => x
            .regex
            .as_ref()
            .is_some_and(|r| r.is_match(hex(buf).as_bytes())),
        _ => x.regex.as_ref().is_some_and(|r| r.is_match(buf)),
    };
    if !matched && !last_read && e.min_recv == -1 {
        return Eval::Wait;
    }
    if matched != e.inverse {
        return Eval::Done(Ok(Outcome::new("L7OK", Some(0), "")));
    }
    let status = e
        .error_status
        .as_deref()
        .map(status_name)
        .unwrap_or("L7RSP");
    let info = match &x.on_error {
        Some(m) => render_msg(m, buf, vars),
        None => {
            let mut s = String::from(if matched {
                "TCPCHK matched unwanted content"
            } else {
                "TCPCHK did not match content"
            });
            match &e.pattern {
                Pattern::String(p) => s.push_str(&format!(" '{p}'")),
                Pattern::Binary(_) => s.push_str(" (binary)"),
                Pattern::RString(_) => s.push_str(" (regex)"),
                Pattern::RBinary(_) => s.push_str(" (binary regex)"),
                Pattern::StringLf(_) => s.push_str(" (log-format string)"),
                Pattern::BinaryLf(_) => s.push_str(" (log-format binary)"),
                _ => {}
            }
            s.push_str(&format!(" at step {stepno}"));
            comment(s, cmt)
        }
    };
    let code = if x.code_from_payload {
        std::str::from_utf8(buf.get(..3).unwrap_or(&[]))
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .or(Some(0))
    } else {
        Some(0)
    };
    Eval::Done(Err(Outcome::new(
        status,
        if has_code(status) { code } else { None },
        info,
    )))
}

/// Built-in protocol checks (MySQL, LDAP).
fn eval_custom(kind: &str, buf: &[u8], last_read: bool) -> Eval {
    let short = |last_read: bool| {
        if last_read {
            Eval::Done(Err(Outcome::new("L7RSP", None, "")))
        } else {
            Eval::Wait
        }
    };
    match kind {
        "mysql-init" | "mysql-ok" => {
            let plen = |b: &[u8]| b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16;
            // The answer to the login follows the greeting.
            let mut buf = buf;
            if kind == "mysql-ok" {
                if buf.len() < 4 {
                    return short(last_read);
                }
                buf = buf.get(4 + plen(buf)..).unwrap_or(&[]);
            }
            if buf.len() < 5 {
                return short(last_read);
            }
            let len = plen(buf);
            if buf.len() < 4 + len {
                return short(last_read);
            }
            let p = &buf[4..4 + len];
            if p.first() == Some(&0xff) {
                let code = p
                    .get(1..3)
                    .map(|c| c[0] as u32 | (c[1] as u32) << 8)
                    .unwrap_or(0);
                // The message as sent, SQL state (`#28000`) included.
                let msg = p.get(3..).unwrap_or(&[]);
                return Eval::Done(Err(Outcome::new(
                    "L7STS",
                    Some(code),
                    String::from_utf8_lossy(msg).into_owned(),
                )));
            }
            // Any other packet passes (HAProxy 2.6 only looks for the error marker): an
            // OK, or a MySQL 8 authentication switch request.
            Eval::Done(Ok(Outcome::new("L7OK", Some(0), "")))
        }
        "ldap" => {
            let bad = || Eval::Done(Err(Outcome::new("L7RSP", None, "Not LDAPv3 protocol")));
            if buf.len() < 7 {
                return short(last_read);
            }
            let mut i = 0;
            let len_at = |i: &mut usize| -> Option<()> {
                let b = *buf.get(*i)?;
                *i += 1;
                if b & 0x80 != 0 {
                    *i += (b & 0x7f) as usize;
                }
                Some(())
            };
            if buf[i] != 0x30 {
                return bad();
            }
            i += 1;
            if len_at(&mut i).is_none() {
                return short(last_read);
            }
            if buf.get(i..i + 3) != Some(&[0x02, 0x01, 0x01][..]) {
                return if buf.len() < i + 3 {
                    short(last_read)
                } else {
                    bad()
                };
            }
            i += 3;
            match buf.get(i) {
                Some(0x61) => i += 1,
                Some(_) => return bad(),
                None => return short(last_read),
            }
            if len_at(&mut i).is_none() {
                return short(last_read);
            }
            match buf.get(i..i + 3) {
                Some([0x0a, 0x01, rc]) => {
                    if *rc == 0 {
                        Eval::Done(Ok(Outcome::new("L7OK", Some(0), "Success")))
                    } else {
                        Eval::Done(Err(Outcome::new(
                            "L7STS",
                            Some(*rc as u32),
                            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
                        )))
                    }
                }
                Some(_) => bad(),
                None => short(last_read),
            }
        }
        _ => Eval::Done(Err(Outcome::new("L7RSP", None, ""))),
    }
}

/// A parsed HTTP response.
struct Resp {
    code: u32,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    head_len: usize,
    /// The body, once complete (or all that could be read).
    body: Option<Vec<u8>>,
}

fn parse_response(buf: &[u8], last_read: bool, head_only_method: bool) -> Option<Result<Resp, ()>> {
    let mut head = crate::http::h1::Head::new();
    let limits = crate::http::h1::Limits::default();
    let head_len = match crate::http::h1::parse_response(buf, &limits, &mut head) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return if last_read { Some(Err(())) } else { None };
        }
        Err(_) => return Some(Err(())),
    };
    let code = head.status() as u32;
    let reason = String::from_utf8_lossy(head.reason()).into_owned();
    let headers: Vec<(String, Vec<u8>)> = head
        .headers()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
        .collect();
    let rest = &buf[head_len..];
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
    };
    let no_body = head_only_method || code < 200 || code == 204 || code == 304;
    let body = if no_body {
        Some(Vec::new())
    } else if let Some(cl) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() >= cl {
            Some(rest[..cl].to_vec())
        } else if last_read {
            Some(rest.to_vec())
        } else {
            None
        }
    } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        dechunk(rest).or_else(|| last_read.then(|| rest.to_vec()))
    } else if last_read {
        Some(rest.to_vec())
    } else {
        None
    };
    Some(Ok(Resp {
        code,
        reason,
        headers,
        head_len,
        body,
    }))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let sz = std::str::from_utf8(&b[..eol]).ok()?;
        let sz = usize::from_str_radix(sz.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if sz == 0 {
            return Some(out);
        }
        if b.len() < sz + 2 {
            return None;
        }
        out.extend_from_slice(&b[..sz]);
        b = &b[sz + 2..];
    }
}

#[allow(clippy::too_many_arguments)]
fn eval_http(
    x: &ExpectRt,
    c: &Conn,
    last_read: bool,
    be: &Backend,
    idx: usize,
    plan: &Plan,
    last_code: &mut Option<u32>,
    vars: &Vars,
) -> Eval {
    let needs_body = matches!(
        x.e.pattern,
        Pattern::String(_) | Pattern::RString(_) | Pattern::StringLf(_)
    );
    let resp = match parse_response(&c.inbuf, last_read, c.head) {
        None => return Eval::Wait,
        Some(Err(())) => {
            return Eval::Done(Err(Outcome::new(
                "L7RSP",
                None,
                if c.inbuf.is_empty() {
                    ""
                } else {
                    "HTTP parser error"
                },
            )));
        }
        Some(Ok(r)) => r,
    };
    let _ = resp.head_len;
    *last_code = Some(resp.code);
    // `disable-on-404` wins over the expect rule, for running servers.
    if plan.disable_on_404 && resp.code == 404 && be.servers[idx].up.load(Relaxed) {
        return Eval::Done(Ok(Outcome::new("L7OKC", Some(404), "")));
    }
    if needs_body && resp.body.is_none() && !last_read {
        return Eval::Wait;
    }
    let e = &x.e;
    let body = resp.body.clone().unwrap_or_default();
    let matched = match &e.pattern {
        Pattern::Status(ranges) => ranges
            .iter()
            .any(|(a, b)| (*a as u32..=*b as u32).contains(&resp.code)),
        Pattern::RStatus(_) => x
            .regex
            .as_ref()
            .is_some_and(|r| r.is_match(resp.code.to_string().as_bytes())),
        Pattern::String(s) => find(&body, s.as_bytes()),
        Pattern::StringLf(_) => x
            .fmt
            .as_ref()
            .is_some_and(|f| find(&body, &f.render_vec(&check_ctx(vars, &c.inbuf)))),
        Pattern::RString(_) => x.regex.as_ref().is_some_and(|r| r.is_match(&body)),
        Pattern::Hdr { full, name, value } => resp.headers.iter().any(|(k, v)| {
            let name_ok = match &x.hdr_name {
                Some(r) => r.is_match(k.as_bytes()),
                None => k.eq_ignore_ascii_case(&name.text),
            };
            if !name_ok {
                return false;
            }
            let Some(vp) = value else { return true };
            let vals: Vec<&[u8]> = if *full {
                vec![v.as_slice()]
            } else {
                v.split(|&c| c == b',').collect()
            };
            vals.iter().any(|one| {
                let t = String::from_utf8_lossy(one);
                let t = t.trim();
                match &x.hdr_value {
                    Some(r) => r.is_match(t.as_bytes()),
                    None => t == vp.text,
                }
            })
        }),
        _ => false,
    };
    if matched != e.inverse {
        return Eval::Done(Ok(Outcome::new("L7OK", Some(resp.code), "")));
    }
    let body_rule = needs_body;
    let default_status = if body_rule { "L7RSP" } else { "L7STS" };
    let status = e
        .error_status
        .as_deref()
        .map(status_name)
        .unwrap_or(default_status);
    let info = match &x.on_error {
        Some(m) => render_msg(m, &c.inbuf, vars),
        None if body_rule => {
            if matched {
                "HTTP check matched unwanted content".into()
            } else {
                "HTTP content check did not match".into()
            }
        }
        None => resp.reason.clone(),
    };
    Eval::Done(Err(Outcome::new(
        status,
        if has_code(status) {
            Some(resp.code)
        } else {
            None
        },
        info,
    )))
}

/// The HTTP request of a check as HAProxy 2.6 writes it: names in lower case, the state
/// header, `content-length` with a body, `connection: close` from HTTP/1.1 on.
fn http_request(be: &Backend, idx: usize, plan: &Plan, r: &HttpReq, vars: &Vars) -> Vec<u8> {
    let ctx = check_ctx(vars, &[]);
    let mut out = Vec::new();
    out.extend_from_slice(r.meth.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&r.uri.render_vec(&ctx));
    out.push(b' ');
    out.extend_from_slice(r.ver.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_conn = false;
    for (k, v) in &r.hdrs {
        let lk = k.to_ascii_lowercase();
        has_conn |= lk == "connection";
        out.extend_from_slice(lk.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&v.render_vec(&ctx));
        out.extend_from_slice(b"\r\n");
    }
    if plan.send_state {
        out.extend_from_slice(b"x-haproxy-server-state: ");
        out.extend_from_slice(server_state(be, idx, &plan.node).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = r.body.as_ref().map(|b| b.render_vec(&ctx));
    if let Some(b) = &body {
        out.extend_from_slice(format!("content-length: {}\r\n", b.len()).as_bytes());
    }
    let v11 = r.ver.eq_ignore_ascii_case("HTTP/1.1") || r.ver.starts_with("HTTP/2");
    if v11 && !has_conn {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(&b);
    }
    out
}

/// `X-Haproxy-Server-State`: `UP 2/3; address=…; port=…; name=bk/srv; node=…;
/// weight=W/TOTAL; scur=CUR/BECUR; qcur=Q`.
pub fn server_state(be: &Backend, idx: usize, node: &str) -> String {
    let srv = &be.servers[idx];
    let word = srv.status_word();
    let total_w: u32 = be
        .servers
        .iter()
        .filter(|s| s.usable())
        .map(|s| s.uweight.load(Relaxed))
        .sum();
    let be_cur: u32 = be.servers.iter().map(|s| s.cur.load(Relaxed)).sum();
    let (_, q) = be.queue_lengths();
    let t = srv.addr.target(0);
    format!(
        "{word}; address={}; port={}; name={}/{}; node={node}; weight={}/{total_w}; scur={}/{be_cur}; qcur={}",
        t.ip(),
        t.port(),
        be.name,
        srv.name,
        srv.uweight.load(Relaxed),
        srv.cur.load(Relaxed),
        q.get(idx).copied().unwrap_or(0)
    )
}

/// The SSLv3 client hello of `option ssl-hello-chk`, with the current time.
fn ssl_hello() -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let mut v = vec![
        0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
    ];
    v.extend_from_slice(&now.to_be_bytes());
    v.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    v.push(0x00);
    v.extend_from_slice(&[0x00, 0x4e]);
    for c in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v.extend_from_slice(&[0x01, 0x00]);
    v
}
