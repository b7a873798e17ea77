//! One client connection in HTTP mode: for each request, read and check the head (`timeout
//! http-request` → 408, malformed → HAProxy's status), apply `monitor-uri` and the frontend's
//! HTTP rules, choose the backend (`use_backend` rules with ACLs or `%[…]` names,
//! `default_backend`), apply the backend's rules, add `X-Forwarded-For`, pick the server (the
//! one a persistence cookie designates, else hashing the URI, a URL parameter or a header where
//! asked), stream the body each way, and keep the client (and the server) connection alive as
//! the connection mode allows; responses go through the backend's then the frontend's
//! `http-response` rules, then cookie persistence.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::proxy::connect::ServerStream;
use halo_config::model::{Balance, HttpConnMode, HttpReuse};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::compile::Runtime;
use crate::http::h1::{
    self, BodyState, Framing, Head, Limits, parse_request, parse_response, request_framing,
    response_framing,
};
use crate::http::pages::early_page;
use crate::http::rules::{Answer, Env, Txn, Verdict};
use crate::lb::hash::hash_key;
use crate::log::record::{Marks, Origin};
use crate::proxy::conn::{BULK_BUFSIZE, Conn, ReadInto, give_buf, take_buf, take_bulk_buf};
use crate::proxy::proxy_protocol;
use crate::proxy::stream::{
    BackendSession, Choice, ConnInfo, Slot, connect_again, connect_server, l4_rules,
};
use crate::sample::Ctx;
use crate::server::{Backend, Server};
use crate::tcp::{Stage, Verdict as L4};

/// The session's connection to a server: carrying the request in progress, or waiting for
/// the session's next request.
struct ServerConn {
    stream: crate::proxy::connect::ServerStream,
    be_idx: usize,
    srv: Option<Arc<Server>>,
    /// The server slot of the request in progress.
    slot: Option<Slot>,
    buf: Vec<u8>,
    /// Requests sent over it so far.
    uses: u32,
    /// Whether other sessions may use it once idle (not with `http-reuse never`, a PROXY
    /// header, or a connection-based authentication such as NTLM).
    poolable: bool,
    /// The server asked for authentication: the next request prefers it.
    stick: bool,
    /// A response ended cleanly and nothing is pending: it can carry another request.
    idle_ok: bool,
    /// Responses accepted only thanks to `accept-unsafe-violations-in-http-response`
    /// (`tune.h1.be.glitches-threshold`).
    glitches: u32,
    /// Hash of the `pool-conn-name` it was made for (0: none).
    name: u64,
    /// Where the last response head was found invalid (`show errors`).
    bad_at: Option<usize>,
}

/// The hash of a request's `pool-conn-name` for `srv` (0 when the server has none or the
/// expression gives nothing).
fn conn_name(srv: &Server, ctx: &Ctx<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some(expr) = &srv.pool_conn_name else {
        return 0;
    };
    match expr.eval(ctx) {
        Some(s) => {
            let mut h = std::hash::DefaultHasher::new();
            s.to_bytes().hash(&mut h);
            h.finish() | 1
        }
        None => 0,
    }
}

/// Gives an idle connection to its server's pool when it may be shared, else closes it.
fn park(sc: Option<ServerConn>) {
    let Some(mut sc) = sc else { return };
    if sc.buf.capacity() > 0 {
        give_buf(std::mem::take(&mut sc.buf));
    }
    if sc.idle_ok
        && sc.poolable
        && sc.buf.is_empty()
        && let Some(srv) = &sc.srv
        && srv.usable()
    {
        srv.idle.park(sc.stream, sc.uses, sc.name);
    }
}

/// The session's server connection; when the session ends it goes to the idle pool.
struct Attached(Option<ServerConn>);

impl Drop for Attached {
    fn drop(&mut self) {
        park(self.0.take());
    }
}

/// How waiting for a response head failed.
enum Fail {
    /// The server closed (or reset) the connection before sending anything.
    Server,
    /// Answer the client with this status.
    Status(u16),
}

impl Fail {
    fn status(&self) -> u16 {
        match self {
            Fail::Server => 502,
            Fail::Status(s) => *s,
        }
    }

    /// The termination state it gives the stream: the server aborted (`SH`), timed out
    /// (`sH`) or answered something invalid (`PH`) before a response head; no server
    /// could be connected again (`SC`).
    fn term(&self) -> [u8; 2] {
        match self {
            Fail::Server => *b"SH",
            Fail::Status(504) => *b"sH",
            Fail::Status(503) => *b"SC",
            Fail::Status(_) => *b"PH",
        }
    }
}

/// Reads the response head into `rhead`, passing interim 1xx responses (except 101) to the
/// client; returns the head's length in `sc.buf`.
async fn read_response_head<C: AsyncWrite + Unpin>(
    sc: &mut ServerConn,
    client: &mut C,
    limits: &Limits,
    rhead: &mut Head,
    timeout: Option<u64>,
) -> Result<usize, Fail> {
    let mut received = false;
    loop {
        match parse_response(&sc.buf, limits, rhead) {
            Ok(Some(n)) => {
                let threshold = limits.glitches_threshold;
                if threshold > 0 && limits.accept_invalid && is_glitch(&sc.buf[..n], limits, false)
                {
                    match glitch_step(&mut sc.glitches, threshold) {
                        Some(true) => return Err(Fail::Status(502)),
                        Some(false) => rhead.close = true,
                        None => {}
                    }
                }
                let st = rhead.status();
                if (100..200).contains(&st) && st != 101 {
                    let _ = client.write_all(&sc.buf[..n]).await;
                    sc.buf.drain(..n);
                    rhead.clear();
                    received = true;
                    continue;
                }
                return Ok(n);
            }
            Ok(None) => {}
            Err(e) => {
                sc.bad_at = Some(e.offset);
                return Err(Fail::Status(e.status));
            }
        }
        match fill_or(&mut sc.stream, &mut sc.buf, timeout).await {
            Ok(0) | Err(Stop::Error) if !received && sc.buf.is_empty() => return Err(Fail::Server),
            Ok(0) | Err(Stop::Error) => return Err(Fail::Status(502)),
            Ok(_) => received = true,
            Err(Stop::Timeout) => return Err(Fail::Status(504)),
        }
    }
}

/// Whether a message accepted under `accept-unsafe-violations-*` is one HAProxy's strict
/// parser refuses: one glitch for `tune.h1.*.glitches-threshold` (halo counts messages,
/// HAProxy each tolerated event). Only called when a threshold is set.
fn is_glitch(bytes: &[u8], limits: &Limits, request: bool) -> bool {
    let strict = Limits {
        accept_invalid: false,
        ..*limits
    };
    let mut probe = Head::new();
    if request {
        parse_request(bytes, &strict, &mut probe).is_err()
    } else {
        parse_response(bytes, &strict, &mut probe).is_err()
    }
}

/// Counts a glitch against `threshold` (0: none): `Some(true)` at the threshold (the
/// connection is killed), `Some(false)` from 75% of it (closed after this message, HAProxy's
/// graceful step), `None` below.
fn glitch_step(count: &mut u32, threshold: u32) -> Option<bool> {
    *count += 1;
    if *count >= threshold {
        Some(true)
    } else if u64::from(*count) * 4 >= u64::from(threshold) * 3 {
        Some(false)
    } else {
        None
    }
}

/// What the connection does after a request.
enum Step {
    Next,
    Close,
}

enum Next {
    /// Serve the next request of the connection.
    Continue,
    /// Close the client connection.
    Close,
}

/// Why a read brought nothing.
enum Stop {
    Timeout,
    Error,
}

async fn read_more_or<R: ReadInto>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: Option<u64>,
) -> Result<usize, Stop> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16384);
    }
    let fut = r.read_into(buf);
    match limit {
        Some(ms) => match tokio::time::timeout(Duration::from_millis(ms.max(1)), fut).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(_)) => Err(Stop::Error),
            Err(_) => Err(Stop::Timeout),
        },
        None => fut.await.map_err(|_| Stop::Error),
    }
}

async fn read_more<R: ReadInto>(r: &mut R, buf: &mut Vec<u8>, limit: Option<u64>) -> Option<usize> {
    read_more_or(r, buf, limit).await.ok()
}

/// Like `read_more`, but an empty buffer without capacity is only taken from the pool once
/// the peer has sent something.
async fn fill<C: Conn>(c: &mut C, buf: &mut Vec<u8>, limit: Option<u64>) -> Option<usize> {
    fill_or(c, buf, limit).await.ok()
}

async fn fill_or<C: Conn>(c: &mut C, buf: &mut Vec<u8>, limit: Option<u64>) -> Result<usize, Stop> {
    if buf.capacity() > 0 {
        return read_more_or(c, buf, limit).await;
    }
    let deadline = limit.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms.max(1)));
    loop {
        let ready = c.wait_readable();
        match deadline {
            Some(d) => match tokio::time::timeout_at(d, ready).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Stop::Error),
                Err(_) => return Err(Stop::Timeout),
            },
            None => ready.await.map_err(|_| Stop::Error)?,
        }
        let mut b = take_buf();
        match c.try_read_into(&mut b) {
            Ok(n) => {
                *buf = b;
                return Ok(n);
            }
            // Readiness without data (a new socket starts "ready"): give the buffer
            // back and wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => give_buf(b),
            Err(_) => {
                give_buf(b);
                return Err(Stop::Error);
            }
        }
    }
}

/// Resolves when the client closes its side (`option abortonclose`). Data it sends
/// meanwhile (the rest of a body, a pipelined request) is kept in `buf`, up to one buffer.
async fn client_gone<C: Conn>(c: &C, buf: &mut Vec<u8>) {
    loop {
        if c.wait_readable().await.is_err() {
            return;
        }
        if buf.capacity() == 0 {
            *buf = take_buf();
        }
        if buf.len() >= buf.capacity() {
            // Full: nothing more can be watched without losing data.
            std::future::pending::<()>().await;
        }
        match c.try_read_into(buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Gives an empty buffer back to the pool.
fn release(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > 0 {
        give_buf(std::mem::take(buf));
    }
}

/// Sends an error page (empty: none, as for an empty `errorfile`) and ends the connection.
async fn send_page<W: AsyncRead + AsyncWrite + Unpin>(w: &mut W, page: &[u8], marks: &mut Marks) {
    if !page.is_empty() {
        marks.status = page_status(page).or(marks.status);
        if w.write_all(page).await.is_ok() {
            marks.bytes_out += crate::log::record::htx_size(page);
        }
        let _ = w.flush().await;
    }
    // The connection ends after an error page: close our side first and drain what the
    // client still sends for a moment, so that closing does not reset the connection
    // (a reset can destroy the page before the client reads it).
    let _ = w.shutdown().await;
    let drain = async {
        let mut sink = vec![0u8; 4096];
        let mut total = 0usize;
        while let Ok(n) = w.read(&mut sink).await {
            total += n;
            if n == 0 || total > 256 * 1024 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1000), drain).await;
}

/// Answers an error found before the stream has a complete request (`early_page`): HAProxy
/// logs it with termination state `term`, no bytes (the connection sent the page, not a
/// stream), and `<BADREQ>` when the request line was not read (`bad`); `log` is false for
/// a connection that sent nothing under `option dontlognull`.
#[allow(clippy::too_many_arguments)]
async fn early_error<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    rt: &Runtime,
    px_idx: usize,
    info: &ConnInfo,
    head: &Head,
    txn: &mut Txn,
    (status, term, bad): (u16, [u8; 2], bool),
    log: bool,
) {
    txn.marks.end(term);
    txn.marks.bad_request |= bad;
    txn.marks.early_error = true;
    txn.marks.status = Some(status);
    send_page(client, early_page(rt, px_idx, status), &mut txn.marks).await;
    txn.marks.bytes_out = 0;
    if let Some(fe) = &rt.proxies[px_idx].frontend {
        fe.counters.note_status(status);
    }
    if log {
        log_http(rt, px_idx, info, head, txn, false);
    }
}

/// The end of a transaction in the counters: the status class of its response for the
/// frontend (and, when a server answered, for the backend and the server with its connect,
/// response and total times); an answer of the proxy itself counts as intercepted.
fn count_transaction(
    rt: &Runtime,
    px_idx: usize,
    m: &Marks,
    start: std::time::Instant,
    (bytes_in, bind): (u64, usize),
) {
    let Some(fe) = &rt.proxies[px_idx].frontend else {
        return;
    };
    // Bytes: the request as received, the response as sent (a tunnel counted its own).
    let bytes_out = m.bytes_out;
    let be = m.backend.and_then(|b| rt.proxies[b].backend.as_ref());
    if !m.counted {
        let srv = m.server.as_ref().map(|s| &s.counters);
        crate::stats::LiveBytes::new([
            Some(&fe.counters),
            fe.listener(bind),
            be.map(|b| &b.counters),
            srv,
        ])
        .reach(bytes_in, bytes_out);
    }
    let Some(status) = m.status else {
        return;
    };
    fe.counters.note_status(status);
    let (Some(srv), Some(sent), Some(res)) = (&m.server, m.sent, m.res_head) else {
        if m.term.is_some_and(|t| t[0] == b'L') {
            fe.counters.intercepted.fetch_add(1, Relaxed);
        }
        return;
    };
    let ms = |d: Duration| d.as_millis() as u64;
    let connect = m.connect.connect_ms.unwrap_or(0);
    let response = ms(res.saturating_duration_since(sent));
    let total = ms(start.elapsed());
    srv.counters.note_status(status);
    srv.counters.note_times(connect, Some(response), total);
    if let Some(be) = be {
        be.counters.note_status(status);
        be.counters.note_times(connect, Some(response), total);
    }
}

/// Serves the stats page of proxy `stats_px` (the frontend after its rules, or the backend
/// after its own) when the request is for it: `stats http-request` and `stats auth`
/// first, then the admin form's body for a POST, then the page, sent like an answer of
/// the rules. None: the request is not for the page; else whether the connection goes on.
#[allow(clippy::too_many_arguments)]
async fn stats_page<C: Conn>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    rt: &Runtime,
    info: &ConnInfo,
    (fe, be): (usize, Option<usize>),
    stats_px: usize,
    head: &mut Head,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    txn: &mut Txn,
    first: bool,
    keep: bool,
    timeout: Option<u64>,
) -> Option<bool> {
    let page = rt.proxies[stats_px].http.stats.as_deref()?;
    if !page.matches(head) {
        return None;
    }
    let (verdict, admin) = {
        let env = Env {
            rt,
            body: &[],
            body_ready: false,
            src: info.src,
            dst: info.dst,
            frontend: fe,
            backend: Some(be.unwrap_or(stats_px)),
            server: None,
            listener_id: 0,
            first_req: first,
            tls: info.tls.as_deref(),
            bc_tls: None,
        };
        let px = &rt.proxies[stats_px];
        px.http.rules.stats_access(page, &px.acls, &env, head, txn)
    };
    let mut verdict = match verdict {
        Verdict::Continue | Verdict::WaitBody { .. } => {
            let mut body: &[u8] = &[];
            if head.method() == b"POST" {
                if let Err(status) =
                    wait_body(client, cbuf, head, head_len, framing, limits, timeout, 0).await
                {
                    if status != 0 {
                        let page = error_page(rt, info, (fe, be), head, txn, status);
                        send_page(client, &page, &mut txn.marks).await;
                    }
                    return Some(false);
                }
                let all = cbuf.get(head_len..).unwrap_or_default();
                body = match framing {
                    Framing::Length(n) => all.get(..n as usize).unwrap_or(all),
                    _ => all,
                };
            }
            // As the 3.5 manual says: an admin POST whose Origin (or Referer) names
            // another host than the request's Host is refused (CSRF).
            let admin = admin && same_origin(head);
            // The page is the stream's target, in the proxy serving it (HAProxy's applet).
            if let Some(be) = &rt.proxies[stats_px].backend {
                txn.marks.backend = Some(stats_px);
                be.counters
                    .last_sess
                    .store(crate::stats::now_sec(), Relaxed);
            }
            Verdict::Answer(page.serve(rt, head, body, admin))
        }
        v => v,
    };
    after_verdict(rt, info, (fe, be), first, &mut verdict, txn);
    let f = rt.proxies[fe].frontend.as_ref();
    let counters = [
        f.map(|f| &f.counters),
        f.and_then(|f| f.listener(info.bind)),
    ];
    Some(
        answer_verdict(
            client,
            cbuf,
            verdict,
            head_len,
            framing,
            limits,
            head,
            keep,
            timeout,
            counters,
            &mut txn.marks,
        )
        .await,
    )
}

/// Whether the `Origin` (else `Referer`) of a request names the host of its `Host`
/// header (true without either).
fn same_origin(head: &Head) -> bool {
    let Some(origin) = head.get(b"origin").or_else(|| head.get(b"referer")) else {
        return true;
    };
    let host = head.get(b"host").unwrap_or_default();
    let rest = origin
        .iter()
        .position(|&c| c == b':')
        .filter(|&i| origin[i..].starts_with(b"://"))
        .map_or(origin, |i| &origin[i + 3..]);
    let authority = rest.split(|&c| c == b'/').next().unwrap_or_default();
    authority.eq_ignore_ascii_case(host)
}

/// Milliseconds from `a` to `b` (-1 when either is unknown).
fn ms_between(a: Option<std::time::Instant>, b: Option<std::time::Instant>) -> i64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
        _ => -1,
    }
}

/// The wall-clock time of `at`, from a reference pair taken together.
fn wall(
    at: std::time::Instant,
    r: (std::time::Instant, std::time::SystemTime),
) -> crate::log::time::Stamp {
    crate::log::time::of(r.1 + at.saturating_duration_since(r.0))
}

/// Sends the log line of the transaction that just ended, if the frontend logs.
/// (`holding`: the stream still holds its server slot, which the counts leave out.)
/// The lines of `do-log` rules that ran since the last ones go first.
fn log_http(
    rt: &Runtime,
    px_idx: usize,
    info: &ConnInfo,
    head: &Head,
    txn: &mut Txn,
    holding: bool,
) {
    flush_do_logs(rt, px_idx, info, head, txn, holding);
    let Some(pl) = rt.proxies[px_idx].log.as_deref() else {
        return;
    };
    if txn.marks.logged || !(txn.marks.logging_early || pl.logs_close()) {
        return;
    }
    // (`option logasap`: during the response, as HAProxy 3.x's `%OG` says.)
    let origin = if txn.marks.logging_early {
        crate::log::record::Origin::Response
    } else {
        crate::log::record::Origin::Close
    };
    http_line(
        rt,
        px_idx,
        info,
        head,
        txn,
        holding,
        |pl, ctx, rec, error| {
            rec.origin = origin;
            pl.emit(ctx, rec, error)
        },
    );
}

/// The line of `log-steps` step `step` (not the end), when the frontend asks for it,
/// after those of the `do-log` rules that ran before.
fn log_step(
    rt: &Runtime,
    px_idx: usize,
    info: &ConnInfo,
    head: &Head,
    txn: &mut Txn,
    step: crate::log::record::Origin,
) {
    flush_do_logs(rt, px_idx, info, head, txn, false);
    if rt.proxies[px_idx]
        .log
        .as_deref()
        .is_some_and(|pl| pl.logs_step(step))
    {
        http_line(rt, px_idx, info, head, txn, false, |pl, ctx, rec, error| {
            rec.origin = step;
            pl.emit(ctx, rec, error)
        });
    }
}

/// Sends the lines of the `do-log` rules that ran and were not logged yet.
fn flush_do_logs(
    rt: &Runtime,
    px_idx: usize,
    info: &ConnInfo,
    head: &Head,
    txn: &mut Txn,
    holding: bool,
) {
    if txn.do_logs.is_empty() {
        return;
    }
    let mut list = std::mem::take(&mut txn.do_logs);
    for d in &list {
        http_line(
            rt,
            px_idx,
            info,
            head,
            txn,
            holding,
            |pl, ctx, rec, error| pl.emit_do_log(ctx, rec, error, d),
        );
    }
    list.clear();
    txn.do_logs = list;
}

/// Runs `f` with the frontend's logging, the transaction's record as of now, its sample
/// context and whether it is an error, if the frontend logs.
fn http_line(
    rt: &Runtime,
    px_idx: usize,
    info: &ConnInfo,
    head: &Head,
    txn: &Txn,
    holding: bool,
    f: impl FnOnce(&crate::log::ProxyLog, &Ctx<'_>, &mut crate::log::record::LogRecord<'_>, bool),
) {
    let Some(pl) = rt.proxies[px_idx].log.as_deref() else {
        return;
    };
    let mut rec = http_record(rt, px_idx, info, head, txn, holding);
    rec.partial = txn.marks.logging_early;
    rec.hostname = Some(&pl.host);
    if txn.marks.early_error {
        rec.origin = crate::log::record::Origin::Error;
    }
    // HAProxy's "not normal": an error state other than a local answer, a retry or a
    // redispatch, or a 5xx.
    let m = &txn.marks;
    let error = !matches!(rec.term[0], b'-' | b'L')
        || m.connect.retries > 0
        || m.connect.redispatched
        || m.status.is_some_and(|s| s >= 500);
    let ctx = request_ctx(rt, info, px_idx, m.backend, head, txn, true);
    f(pl, &ctx, &mut rec, error);
}

/// The transaction's `unique-id-format`, rendered into `txn.unique_id`.
fn make_unique_id(rt: &Runtime, px_idx: usize, info: &ConnInfo, head: &Head, txn: &mut Txn) {
    let Some(u) = rt.proxies[px_idx].unique_id.as_deref() else {
        return;
    };
    let mut id = Vec::new();
    {
        let rec = http_record(rt, px_idx, info, head, txn, false);
        let ctx = request_ctx(rt, info, px_idx, None, head, txn, true);
        u.format.render_log(&ctx, &rec, &mut id);
    }
    txn.unique_id = Some(id);
}

/// What the log line (or the unique id) of the transaction says, as of now.
fn http_record<'a>(
    rt: &'a Runtime,
    px_idx: usize,
    info: &'a ConnInfo,
    head: &Head,
    txn: &'a Txn,
    holding: bool,
) -> crate::log::record::LogRecord<'a> {
    let m = &txn.marks;
    let now = std::time::Instant::now();
    let start = m.stream_start.unwrap_or(info.accept);
    let req_start = m.req_start;
    let th = m.handshake_ms as i64;
    let timers = crate::log::record::Timers {
        handshake: th,
        idle: req_start.map_or(-1, |r| (ms_between(Some(start.0), Some(r)) - th).max(0)),
        request: ms_between(req_start, m.req_ready),
        queue: m.connect.queue_ms.map_or(-1, |v| v as i64),
        connect: m.connect.connect_ms.map_or(-1, |v| v as i64),
        response: ms_between(m.sent, m.res_head),
        active: ms_between(req_start.or(Some(start.0)), Some(now)),
        total: ms_between(Some(start.0), Some(now)),
    };
    let term = m.term.unwrap_or(*b"--");
    let fe_rules = &rt.proxies[px_idx].http.rules;
    let fe = rt.proxies[px_idx].frontend.as_ref();
    let backend = m.backend.map(|b| rt.proxies[b].name.as_str());
    let server = m.server.as_ref().or(m.connect.server.as_ref());
    let received = !m.bad_request && txn.received.req_version().is_some();
    crate::log::record::LogRecord {
        origin: crate::log::record::Origin::Close,
        level: txn.ov.log_level,
        accept: crate::log::time::of(start.1),
        request_date: wall(req_start.unwrap_or(start.0), start),
        timers,
        partial: false,
        http: true,
        status: m.status,
        bytes_out: m.bytes_out,
        bytes_in: if received {
            crate::log::record::htx_head_size(head) + m.bytes_in
        } else {
            0
        },
        term,
        cookie: if m.cookie[0] == 0 { *b"--" } else { m.cookie },
        frontend: &rt.proxies[px_idx].name,
        backend: backend.or(Some(&rt.proxies[px_idx].name)),
        server: server.map(|s| s.name.as_str()),
        src: info.src,
        dst: info.dst,
        backend_src: m.backend_src,
        server_addr: server.map(|s| s.addr.target(info.dst.port())),
        actconn: u64::from(rt.cur_conns.load(Relaxed)),
        feconn: fe.map_or(0, |f| f.counters.scur.load(Relaxed)),
        beconn: m
            .backend
            .and_then(|b| rt.proxies[b].backend.as_ref())
            .map_or(0, |b| u64::from(b.beconn.load(Relaxed))),
        srvconn: server.map_or(0, |s| {
            u64::from(s.cur.load(Relaxed)).saturating_sub(u64::from(holding))
        }),
        retries: m.connect.retries,
        redispatched: m.connect.redispatched,
        srv_queue: m.connect.srv_queue.into(),
        be_queue: m.connect.be_queue.into(),
        req_caps: Some((&txn.req_captures, fe_rules.req_capture_lens.len())),
        res_caps: Some((&txn.res_captures, fe_rules.res_capture_lens.len())),
        cookie_req: txn.cookie_req.as_deref(),
        cookie_res: txn.cookie_res.as_deref(),
        received: received.then_some(&txn.received),
        bad_request: !received,
        unique_id: txn.unique_id.as_deref(),
        tls: info.tls.as_deref(),
        req_counter: m.req_id,
        log_counter: 0,
        hostname: None,
    }
}

/// The status code of a response written out (`HTTP/1.1 NNN …`).
fn page_status(page: &[u8]) -> Option<u16> {
    let code = page.get(9..12)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The page for error `status` once the request head is read: the backend's (once chosen),
/// else the frontend's, else HAProxy's (see `http::pages::stream_page`).
fn error_page<'a>(
    rt: &'a Runtime,
    info: &'a ConnInfo,
    (fe, be): (usize, Option<usize>),
    req: &Head,
    txn: &mut Txn,
    status: u16,
) -> std::borrow::Cow<'a, [u8]> {
    let env = Env {
        rt,
        body: &[],
        body_ready: true,
        src: info.src,
        dst: info.dst,
        frontend: fe,
        backend: be,
        server: None,
        listener_id: 0,
        first_req: false,
        tls: info.tls.as_deref(),
        bc_tls: None,
    };
    let page = crate::http::pages::stream_page(&env, status, Some(req), txn);
    if !has_after(rt, (fe, be)) {
        return page;
    }
    // `http-after-response` rules see the page too.
    let Some(end) = page.windows(4).position(|w| w == b"\r\n\r\n") else {
        return page;
    };
    let mut h = Head::new();
    if !matches!(
        h1::parse_response(&page[..end + 4], &Limits::default(), &mut h),
        Ok(Some(_))
    ) {
        return page;
    }
    after_response(rt, info, (fe, be), None, false, &mut h, txn);
    let mut out = h.to_vec();
    out.extend_from_slice(&page[end + 4..]);
    std::borrow::Cow::Owned(out)
}

/// Whether the backend or the frontend has `http-after-response` rules.
fn has_after(rt: &Runtime, (fe, be): (usize, Option<usize>)) -> bool {
    rt.proxies[fe].http.rules.has_after_rules()
        || be.is_some_and(|b| rt.proxies[b].http.rules.has_after_rules())
}

/// `http-after-response`: the backend's rules, then the frontend's, on a response head (the
/// server's or one made by the proxy).
fn after_response(
    rt: &Runtime,
    info: &ConnInfo,
    (fe, be): (usize, Option<usize>),
    server: Option<&Server>,
    first: bool,
    head: &mut Head,
    txn: &mut Txn,
) {
    let env = Env {
        rt,
        body: &[],
        body_ready: true,
        src: info.src,
        dst: info.dst,
        frontend: fe,
        backend: be,
        server,
        listener_id: 0,
        first_req: first,
        tls: info.tls.as_deref(),
        bc_tls: None,
    };
    if let Some(b) = be
        && b != fe
    {
        let r = &rt.proxies[b].http.rules;
        if r.has_after_rules() {
            r.after_response(&rt.proxies[b].acls, &env, head, txn);
        }
    }
    let r = &rt.proxies[fe].http.rules;
    if r.has_after_rules() {
        r.after_response(&rt.proxies[fe].acls, &env, head, txn);
    }
}

/// `http-after-response` on an answer the rules made (`return`, `deny`, redirects...).
fn after_verdict(
    rt: &Runtime,
    info: &ConnInfo,
    sides: (usize, Option<usize>),
    first: bool,
    verdict: &mut Verdict,
    txn: &mut Txn,
) {
    // A denied or tarpitted request is an HTTP error of the tracked counters.
    if matches!(verdict, Verdict::Deny(_) | Verdict::Tarpit(..)) {
        txn.tracked.http_error();
    }
    let a = match verdict {
        Verdict::Answer(a) | Verdict::Deny(a) | Verdict::Tarpit(a, _) => a,
        _ => return,
    };
    if a.head.is_empty() || !has_after(rt, sides) {
        return;
    }
    let mut raw = a.head.clone();
    raw.extend_from_slice(b"\r\n");
    let mut h = Head::new();
    if !matches!(
        h1::parse_response(&raw, &Limits::default(), &mut h),
        Ok(Some(_))
    ) {
        return;
    }
    after_response(rt, info, sides, None, first, &mut h, txn);
    let mut out = h.to_vec();
    out.truncate(out.len().saturating_sub(2));
    a.head = out;
    a.status = h.status();
}

/// Sends the `103 Early Hints` response built by `early-hint` rules, to HTTP/1.1 clients
/// (HTTP/1.0 ones get nothing). False if the client is gone.
async fn send_early_hints<C: AsyncWrite + Unpin>(
    client: &mut C,
    req: &Head,
    txn: &mut Txn,
) -> bool {
    if txn.early_hints.is_empty() {
        return true;
    }
    let out = std::mem::take(&mut txn.early_hints);
    if req.version() != h1::Version::Http11 {
        return true;
    }
    client.write_all(&out).await.is_ok()
}

/// The answer for an error found before anything went to a server (no backend, no server
/// reachable): the proxies' page or HAProxy's, sent like a rule's answer so that the client
/// connection may serve its next request, as HAProxy does.
fn stream_answer(
    rt: &Runtime,
    info: &ConnInfo,
    (fe, be): (usize, Option<usize>),
    req: &Head,
    txn: &Txn,
    status: u16,
) -> crate::http::rules::Answer {
    let env = Env {
        rt,
        body: &[],
        body_ready: true,
        src: info.src,
        dst: info.dst,
        frontend: fe,
        backend: be,
        server: None,
        listener_id: 0,
        first_req: false,
        tls: info.tls.as_deref(),
        bc_tls: None,
    };
    let ctx = env.ctx(Some(req), None, txn);
    crate::http::pages::answer(&env, status, &ctx)
}

/// The sample context of the request a stream is working on (no body, no response yet).
fn request_ctx<'a>(
    rt: &'a Runtime,
    info: &'a ConnInfo,
    fe: usize,
    be: Option<usize>,
    head: &'a Head,
    txn: &'a Txn,
    first: bool,
) -> Ctx<'a> {
    Ctx {
        rt: Some(rt),
        src: Some(info.src),
        dst: Some(info.dst),
        frontend: Some(fe),
        backend: be,
        server: None,
        listener_id: 0,
        req_payload: &[],
        res_payload: &[],
        req_final: true,
        res_dir: false,
        req: Some(head),
        res: None,
        first_req: first,
        vars: Some(&txn.vars),
        req_caps: Some(&txn.req_captures),
        res_caps: Some(&txn.res_captures),
        received: Some(&txn.received),
        tracked: Some(&txn.tracked),
        tls: info.tls.as_deref(),
        bc_tls: None,
        unique_id: txn.unique_id.as_deref(),
        log: None,
    }
}

/// The hash key of the balancing algorithm, if it hashes something of the request.
fn lb_key(be: &Backend, head: &Head, body: &[u8], info: &ConnInfo) -> Option<u32> {
    let ht = &be.settings.hash_type;
    match &be.settings.balance {
        Balance::Source => Some(crate::lb::hash::source_key(ht, info.src.ip())),
        Balance::Uri {
            whole,
            len,
            depth,
            path_only,
        } => {
            let uri = head.uri();
            let mut key: &[u8] = if *path_only || !*whole {
                let end = uri.iter().position(|&c| c == b'?').unwrap_or(uri.len());
                &uri[..end]
            } else {
                uri
            };
            if *depth > 0 {
                let mut seen = 0;
                for (i, &c) in key.iter().enumerate() {
                    if c == b'/' {
                        seen += 1;
                        if seen > *depth {
                            key = &key[..i];
                            break;
                        }
                    }
                }
            }
            if *len > 0 && key.len() > *len as usize {
                key = &key[..*len as usize];
            }
            Some(hash_key(ht, key))
        }
        Balance::UrlParam { name, check_post } => {
            let find = |q: &[u8]| {
                q.split(|&c| c == b'&').find_map(|p| {
                    p.strip_prefix(name.as_bytes())
                        .and_then(|r| r.strip_prefix(b"="))
                        .map(|v| hash_key(ht, v))
                })
            };
            let uri = head.uri();
            let in_query = uri
                .iter()
                .position(|&c| c == b'?')
                .and_then(|i| find(&uri[i + 1..]));
            if in_query.is_some() || !*check_post || head.method() != b"POST" {
                return in_query;
            }
            // `check_post`: the body (its first chunk when chunked), up to the first blank
            // or control character.
            let data = match request_framing(head) {
                Ok(Framing::Chunked) => {
                    let eol = body.iter().position(|&c| c == b'\n')?;
                    let size = std::str::from_utf8(&body[..eol])
                        .ok()
                        .and_then(|l| usize::from_str_radix(l.trim_end_matches('\r'), 16).ok())?;
                    let rest = &body[eol + 1..];
                    &rest[..size.min(rest.len())]
                }
                Ok(Framing::Length(n)) => {
                    &body[..usize::try_from(n).unwrap_or(usize::MAX).min(body.len())]
                }
                _ => return None,
            };
            let end = data
                .iter()
                .position(|&c| c <= b' ' || c == 0x7f)
                .unwrap_or(data.len());
            find(&data[..end])
        }
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            let v = head.get(name.as_bytes())?;
            let v = if *use_domain_only { domain_only(v) } else { v };
            Some(hash_key(ht, v))
        }
        _ => None,
    }
}

/// `use_domain_only`: the domain's main part (`www.example.com` → `example`).
fn domain_only(v: &[u8]) -> &[u8] {
    let host = match v.iter().position(|&c| c == b':') {
        Some(i) => &v[..i],
        None => v,
    };
    let parts: Vec<&[u8]> = host.split(|&c| c == b'.').collect();
    if parts.len() >= 2 {
        parts[parts.len() - 2]
    } else {
        host
    }
}

/// Adds `name: ip`, formatting the address on the stack (no allocation per request).
fn add_ip_header(head: &mut Head, name: &[u8], ip: IpAddr) {
    use std::io::Write;
    let mut b = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut b[..]);
    if write!(cur, "{ip}").is_ok() {
        let n = cur.position() as usize;
        head.add(name, &b[..n]);
    }
}

/// A request's `Connection` without its `close` and `keep-alive` tokens (left untouched
/// when it has none, removed when nothing else remains): they concern the client's
/// connection, the proxy decides the server's.
fn keep_only_upgrade_tokens(head: &mut Head) {
    let is_mode = |t: &[u8]| {
        let t = t.trim_ascii();
        t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"keep-alive")
    };
    let tokens = || {
        head.get_all(b"connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .filter(|t| !t.trim_ascii().is_empty())
    };
    if !tokens().any(is_mode) {
        return;
    }
    let kept: Vec<&[u8]> = tokens()
        .filter(|t| !is_mode(t))
        .map(|t| t.trim_ascii())
        .collect();
    if kept.is_empty() {
        head.remove(b"connection");
        return;
    }
    let value = kept.join(&b", "[..]);
    head.set(b"Connection", &value);
}

/// Runs the `tcp-request content` rules of `px_idx` (the frontend, or the backend when
/// `backend` is set) on an HTTP request: anything but `Accept` drops the connection.
fn content_rules(
    rt: &Runtime,
    px_idx: usize,
    backend: Option<usize>,
    info: &mut ConnInfo,
    head: &Head,
    txn: &mut Txn,
    first: bool,
) -> L4 {
    let px = &rt.proxies[backend.unwrap_or(px_idx)];
    let mut env = crate::tcp::Env {
        rt,
        frontend: px_idx,
        backend,
        src: info.src,
        dst: info.dst,
        req: &[],
        res: &[],
        final_: true,
        vars: Some(&txn.vars),
        head: Some(head),
        first_req: first,
        tracked: Some(&mut txn.tracked),
        req_caps: Some(&txn.req_captures),
        retries: txn.ov.retries,
        prio: (txn.prio_class, txn.prio_offset),
        tls: info.tls.as_deref(),
        bc_tls: None,
        log_level: txn.ov.log_level,
        do_logs: std::mem::take(&mut txn.do_logs),
    };
    let v = px
        .tcp
        .run(Stage::Content, 0, &px.acls, &mut env, &mut false);
    info.src = env.src;
    info.dst = env.dst;
    txn.ov.retries = env.retries;
    txn.ov.log_level = env.log_level;
    txn.do_logs = env.do_logs;
    (txn.prio_class, txn.prio_offset) = env.prio;
    v
}

/// Runs an HTTP session to its end.
pub async fn run_http<C>(
    rt: Arc<Runtime>,
    px_idx: usize,
    mut client: C,
    mut info: ConnInfo,
    accept_proxy: bool,
    tls: Option<Arc<crate::tls::bind::BindTls>>,
) where
    C: crate::tls::conn::TlsSock,
{
    let Some(fe) = rt.proxies[px_idx].frontend.as_ref() else {
        return;
    };
    // Connection rules: monitor-net gets a bare 200 (1.x semantics), nothing forwarded.
    if fe.monitor_net.iter().any(|n| n.contains(info.src.ip())) {
        let _ = client.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        return;
    }
    let mut txn = Txn::default();
    // tcp-request connection rules, before any PROXY header (unless `expect-proxy layer4`).
    let tcp = &rt.proxies[px_idx].tcp;
    let mut accept_proxy = accept_proxy;
    if tcp.has(Stage::Connection) {
        let v = l4_rules(
            &rt,
            px_idx,
            Stage::Connection,
            &mut info,
            &txn.vars,
            Some(&mut txn.tracked),
            &mut accept_proxy,
        );
        if v != L4::Accept {
            client.reset_on_close(v == L4::SilentDrop);
            return;
        }
    }
    let mut early = Vec::new();
    if accept_proxy {
        let limit = fe.client_timeout.unwrap_or(10_000);
        match crate::proxy::stream::read_proxy_header(&mut client, &mut info, limit).await {
            Ok(rest) => early = rest,
            Err(e) => {
                fe.count_err_req(info.bind);
                crate::proxy::stream::log_conn_error(&rt, px_idx, &info, e);
                return;
            }
        }
    }
    match tls {
        None => serve_http(rt, px_idx, client, info, txn, early).await,
        Some(bind) => {
            // Boxed: the TLS states do not enlarge every plain connection's task.
            let conn = match Box::pin(crate::tls::conn::handshake(client, &bind, &early, fe)).await
            {
                Ok(c) => c,
                Err(e) => {
                    crate::proxy::stream::log_conn_error(&rt, px_idx, &info, e);
                    return;
                }
            };
            info.tls = Some(conn.info().clone());
            Box::pin(serve_http(rt, px_idx, conn, info, txn, Vec::new())).await
        }
    }
}

/// The session past its connection rules, PROXY header and TLS handshake: `tcp-request
/// session` rules, then requests until the connection ends.
async fn serve_http<C: crate::proxy::conn::Conn>(
    rt: Arc<Runtime>,
    px_idx: usize,
    mut client: C,
    mut info: ConnInfo,
    mut txn: Txn,
    early: Vec<u8>,
) {
    let Some(fe) = rt.proxies[px_idx].frontend.as_ref() else {
        return;
    };
    let kill = crate::server::sessions::current();
    let tcp = &rt.proxies[px_idx].tcp;
    if tcp.has(Stage::Session) {
        let v = l4_rules(
            &rt,
            px_idx,
            Stage::Session,
            &mut info,
            &txn.vars,
            Some(&mut txn.tracked),
            &mut false,
        );
        if v != L4::Accept {
            client.reset_on_close(v == L4::SilentDrop);
            return;
        }
    }
    // The session is accepted: entries tracked so far count it.
    txn.tracked.session_accepted();
    if let Some(pl) = rt.proxies[px_idx].log.as_deref() {
        pl.connect_line(info.src, info.dst, &rt.proxies[px_idx].name, true);
    }
    let limits = Limits {
        glitches_threshold: rt.global.tune_h1_fe_glitches,
        payload_any_method: rt.global.h1_payload_any_method,
        keep_on_te_with_cl: rt.global.h1_keep_on_te_with_cl,
        ..Limits::from_tune(
            rt.global.tune_bufsize,
            rt.global.tune_maxrewrite,
            rt.global.tune_http_maxhdr,
            rt.proxies[px_idx].http.accept_unsafe_req,
        )
    };
    // The request buffer is taken from the pool when data arrives and given back when the
    // connection goes idle: a waiting keep-alive connection holds no buffer.
    let mut cbuf: Vec<u8> = Vec::new();
    cbuf.extend_from_slice(&early);
    let mut head = Head::new();
    let mut attached = Attached(None);
    let mut first = true;
    let mut glitches = 0u32;
    // Whether any rule may track stick counters (then each stream's bytes are measured).
    let tracking = rt.proxies.iter().any(|p| p.http.rules.tracks);
    // The connection's byte counts at the end of the previous stream: each stream's
    // `bytes_in`/`bytes_out` are what the counts grew by since.
    let mut io_mark = (0u64, 0u64);
    // Logs: when the stream of the next transaction started, and the handshakes it paid.
    let mut stream_start = info.accept;
    let mut handshake_ms = info.handshake_ms;
    let dontlognull = rt.proxies[px_idx]
        .log
        .as_ref()
        .is_some_and(|l| l.dontlognull);
    // Timers and addresses are noted only for a log line or a unique id.
    let noting = rt.proxies[px_idx].log.is_some() || rt.proxies[px_idx].unique_id.is_some();
    loop {
        if noting {
            txn.marks.restart(stream_start, handshake_ms);
            txn.marks.connect.noting = true;
            if !cbuf.is_empty() {
                txn.marks.req_start = Some(std::time::Instant::now());
            }
        } else {
            txn.marks.clear();
        }
        // Between requests: empty buffers go back to the pool.
        release(&mut cbuf);
        if let Some(sc) = attached.0.as_mut() {
            release(&mut sc.buf);
        }
        // 1. The request head. A connection waiting for its next request keeps no
        // allocation of the previous one (idle connections cost memory, not requests).
        if first || cbuf.is_empty() {
            head = Head::new();
            txn.received = Default::default();
        } else {
            head.clear();
        }
        let head_limit = if first {
            fe.http_request_timeout.or(fe.client_timeout)
        } else {
            fe.http_keep_alive_timeout
                .or(fe.http_request_timeout)
                .or(fe.client_timeout)
        };
        let deadline = head_limit.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
        let head_len = loop {
            match parse_request(&cbuf, &limits, &mut head) {
                Ok(Some(n)) => {
                    let threshold = limits.glitches_threshold;
                    if threshold > 0
                        && limits.accept_invalid
                        && is_glitch(&cbuf[..n], &limits, true)
                    {
                        match glitch_step(&mut glitches, threshold) {
                            // Killed without an answer, as HAProxy does.
                            Some(true) => return,
                            Some(false) => head.close = true,
                            None => {}
                        }
                    }
                    if noting {
                        txn.marks.req_ready = Some(std::time::Instant::now());
                    }
                    break n;
                }
                Ok(None) => {}
                Err(e) => {
                    fe.count_err_req(info.bind);
                    crate::stats::errors::capture_request(&rt, px_idx, info.src, &cbuf, e.offset);
                    // An invalid request is a request all the same (HAProxy's `req_tot`).
                    fe.counters.req_tot.fetch_add(1, Relaxed);
                    txn.tracked.http_error();
                    let what = (e.status, *b"PR", true);
                    early_error(&mut client, &rt, px_idx, &info, &head, &mut txn, what, true).await;
                    return;
                }
            }
            let remaining = deadline.map(|d| {
                d.saturating_duration_since(tokio::time::Instant::now())
                    .as_millis() as u64
            });
            let probes_ok = rt.proxies[px_idx].http.ignore_probes;
            if remaining == Some(0) {
                if !cbuf.is_empty() || (first && !probes_ok) {
                    let log = !(dontlognull && cbuf.is_empty());
                    let what = (408, *b"cR", true);
                    early_error(&mut client, &rt, px_idx, &info, &head, &mut txn, what, log).await;
                }
                return;
            }
            match fill(&mut client, &mut cbuf, remaining).await {
                Some(0) => {
                    // Closed before a complete head; between two requests of a
                    // keep-alive connection, with nothing sent, HAProxy closes silently.
                    if !first && cbuf.is_empty() {
                        return;
                    }
                    let ignore = rt.proxies[px_idx].http.ignore_probes;
                    if let Some(e) = h1::truncated_head(h1::Kind::Request, cbuf.len(), ignore) {
                        fe.count_err_req(info.bind);
                        txn.tracked.http_error();
                        let log = !(dontlognull && cbuf.is_empty());
                        let what = (e.status, *b"CR", true);
                        early_error(&mut client, &rt, px_idx, &info, &head, &mut txn, what, log)
                            .await;
                    }
                    return;
                }
                Some(_) => {
                    if noting && txn.marks.req_start.is_none() {
                        txn.marks.req_start = Some(std::time::Instant::now());
                    }
                }
                None => {
                    // Timeout (or read error): 408 if a request had started.
                    if !cbuf.is_empty() || (first && remaining.is_some() && !probes_ok) {
                        let log = !(dontlognull && cbuf.is_empty());
                        let what = (408, *b"cR", true);
                        early_error(&mut client, &rt, px_idx, &info, &head, &mut txn, what, log)
                            .await;
                    }
                    return;
                }
            }
        };
        // HAProxy parses its whole buffer before anything else: a chunked body already
        // malformed in the bytes that came with the head refuses the request, before any
        // server is connected to.
        let framing = match request_framing(&head).and_then(|f| {
            h1::check_received(h1::Kind::Request, f, &limits, &cbuf[head_len..]).map(|_| f)
        }) {
            Ok(f) => f,
            Err(e) => {
                fe.count_err_req(info.bind);
                txn.tracked.http_error();
                let what = (e.status, *b"PR", false);
                early_error(&mut client, &rt, px_idx, &info, &head, &mut txn, what, true).await;
                return;
            }
        };
        // The work on one request is boxed: a connection waiting for its next request
        // keeps only the small state above, not the futures of a request in progress.
        let txn_start = std::time::Instant::now();
        let work = Box::pin(async {
            txn.new_transaction();
            txn.received.request(&head);
            // The counters the session tracks see one more request.
            txn.tracked.http_request();
            fe.counters.req_tot.fetch_add(1, Relaxed);
            fe.counters.req_rate.count(crate::stats::now_sec());
            let fe_rules = &rt.proxies[px_idx].http.rules;
            if fe_rules.has_captures() {
                fe_rules.capture_request(&head, &mut txn);
            }
            make_unique_id(&rt, px_idx, &info, &head, &mut txn);
            // `log-steps accept`: the stream of this transaction starts (halo's streams
            // start with their request head).
            if noting {
                log_step(&rt, px_idx, &info, &head, &mut txn, Origin::Accept);
            }
            let req_close = h1::wants_close(&head);
            // tcp-request content rules of the frontend, on the parsed request (in HTTP
            // mode HAProxy runs them once the request is in; a reject closes silently).
            if tcp.has(Stage::Content) {
                let v = content_rules(&rt, px_idx, None, &mut info, &head, &mut txn, first);
                if v != L4::Accept {
                    fe.count_denied_req(info.bind);
                    client.reset_on_close(v == L4::SilentDrop);
                    return Step::Close;
                }
            }
            let fe_http = &rt.proxies[px_idx].http;
            // `option http-buffer-request` in the frontend: the body before any rule.
            let body_timeout = fe.http_request_timeout.or(fe.client_timeout);
            let mut body_ready = false;
            if fe_http.buffer_request {
                let waited = wait_body(
                    &mut client,
                    &mut cbuf,
                    &mut head,
                    head_len,
                    framing,
                    &limits,
                    body_timeout,
                    0,
                )
                .await;
                if let Err(status) = waited {
                    if status != 0 {
                        let page = error_page(&rt, &info, (px_idx, None), &head, &mut txn, status);
                        send_page(&mut client, &page, &mut txn.marks).await;
                    }
                    return Step::Close;
                }
                body_ready = true;
            }
            // 2. monitor-uri, then the frontend's http-request rules (run again after a
            // `wait-for-body` from the rule that follows it).
            let mut start = 0;
            let verdict = loop {
                let verdict = {
                    let env = Env {
                        rt: &rt,
                        body: cbuf.get(head_len..).unwrap_or_default(),
                        body_ready,
                        src: info.src,
                        dst: info.dst,
                        frontend: px_idx,
                        // Until `use_backend` runs, the frontend is the stream's backend.
                        backend: Some(px_idx),
                        server: None,
                        listener_id: 0,
                        first_req: first,
                        tls: info.tls.as_deref(),
                        bc_tls: None,
                    };
                    let acls = &rt.proxies[px_idx].acls;
                    match (start, fe_http.rules.monitor(acls, &env, &head, &txn)) {
                        (0, Some(a)) => Verdict::Answer(a),
                        _ => fe_http
                            .rules
                            .request_from(start, acls, &env, &mut head, &mut txn),
                    }
                };
                let Verdict::WaitBody {
                    resume,
                    ms,
                    at_least,
                } = verdict
                else {
                    break verdict;
                };
                let waited = wait_body(
                    &mut client,
                    &mut cbuf,
                    &mut head,
                    head_len,
                    framing,
                    &limits,
                    Some(ms),
                    at_least,
                )
                .await;
                if let Err(status) = waited {
                    if status != 0 {
                        let page = error_page(&rt, &info, (px_idx, None), &head, &mut txn, status);
                        send_page(&mut client, &page, &mut txn.marks).await;
                    }
                    return Step::Close;
                }
                body_ready = true;
                start = resume;
            };
            if !send_early_hints(&mut client, &head, &mut txn).await {
                return Step::Close;
            }
            // `option http-restrict-req-hdr-names` of the frontend, after its rules.
            let mut verdict = verdict;
            if matches!(verdict, Verdict::Continue) && !fe_http.restrict_names.apply(&mut head) {
                fe.count_denied_req(info.bind);
                let page = error_page(&rt, &info, (px_idx, None), &head, &mut txn, 403);
                send_page(&mut client, &page, &mut txn.marks).await;
                return Step::Close;
            }
            if !matches!(verdict, Verdict::Continue) {
                after_verdict(&rt, &info, (px_idx, None), first, &mut verdict, &mut txn);
                let keep = !req_close && fe_http.mode != HttpConnMode::Close;
                let go_on = answer_verdict(
                    &mut client,
                    &mut cbuf,
                    verdict,
                    head_len,
                    framing,
                    &limits,
                    &head,
                    keep,
                    fe.client_timeout,
                    [Some(&fe.counters), fe.listener(info.bind)],
                    &mut txn.marks,
                )
                .await;
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            }
            // The frontend's stats page, once its rules let the request in.
            let keep = !req_close && fe_http.mode != HttpConnMode::Close;
            if let Some(go_on) = stats_page(
                &mut client,
                &mut cbuf,
                &rt,
                &info,
                (px_idx, None),
                px_idx,
                &mut head,
                head_len,
                framing,
                &limits,
                &mut txn,
                first,
                keep,
                fe.client_timeout,
            )
            .await
            {
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            }
            // 3. Backend choice.
            let be_idx = {
                let ctx = request_ctx(&rt, &info, px_idx, None, &head, &txn, first);
                let px = &rt.proxies[px_idx];
                fe.choose_backend(&rt, &px.acls, &ctx)
            };
            let chosen = be_idx.and_then(|b| rt.proxies[b].backend.clone().map(|be| (b, be)));
            txn.marks.backend = chosen.as_ref().map(|c| c.0);
            // `unique-id-header`, once the frontend's rules ran (a rule deleting a header
            // of that name sent by the client does not remove this one).
            if let (Some(u), Some(id)) = (rt.proxies[px_idx].unique_id.as_deref(), &txn.unique_id)
                && let Some(h) = &u.header
            {
                head.set(h, id);
            }
            let Some((be_idx, be)) = chosen else {
                let sides = (px_idx, be_idx);
                let mut verdict =
                    Verdict::Answer(stream_answer(&rt, &info, sides, &head, &txn, 503));
                after_verdict(&rt, &info, sides, first, &mut verdict, &mut txn);
                let keep = !req_close && fe_http.mode != HttpConnMode::Close;
                let go_on = answer_verdict(
                    &mut client,
                    &mut cbuf,
                    verdict,
                    head_len,
                    framing,
                    &limits,
                    &head,
                    keep,
                    fe.client_timeout,
                    [None, None],
                    &mut txn.marks,
                )
                .await;
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            };
            be.counters.req_tot.fetch_add(1, Relaxed);
            // A request routed elsewhere than the proxy whose rules ran takes that backend's
            // own `retries` and timeouts again (`set-retries`, `set-timeout`).
            if be_idx != px_idx {
                txn.ov.enter_backend();
            }
            // The backend's own tcp-request content rules (a listen runs its rules once).
            if be_idx != px_idx && rt.proxies[be_idx].tcp.has(Stage::Content) {
                let v = content_rules(&rt, px_idx, Some(be_idx), &mut info, &head, &mut txn, first);
                if v != L4::Accept {
                    be.counters.denied_req.fetch_add(1, Relaxed);
                    client.reset_on_close(v == L4::SilentDrop);
                    return Step::Close;
                }
            }
            let be_http = &rt.proxies[be_idx].http;
            // `force-persist` / `ignore-persist`: the first rule whose condition holds.
            let persist_rule: Option<bool> = if be_http.persist_rules.is_empty() {
                None
            } else {
                let ctx = request_ctx(&rt, &info, px_idx, Some(be_idx), &head, &txn, first);
                let acls = &rt.proxies[be_idx].acls;
                be_http
                    .persist_rules
                    .iter()
                    .find(|(_, c)| c.eval(acls, &ctx))
                    .map(|(force, _)| *force)
            };
            let ignore_persist = persist_rule == Some(false);
            let force_persist = persist_rule == Some(true);
            // `option http-buffer-request` in the backend: the body before its rules.
            if be_http.buffer_request && !body_ready {
                let waited = wait_body(
                    &mut client,
                    &mut cbuf,
                    &mut head,
                    head_len,
                    framing,
                    &limits,
                    body_timeout,
                    0,
                )
                .await;
                if let Err(status) = waited {
                    if status != 0 {
                        let page =
                            error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, status);
                        send_page(&mut client, &page, &mut txn.marks).await;
                    }
                    return Step::Close;
                }
                body_ready = true;
            }
            // 4. The backend's http-request rules.
            if be_idx != px_idx && be_http.rules.has_request_rules() {
                let mut start = 0;
                let verdict = loop {
                    let verdict = {
                        let env = Env {
                            rt: &rt,
                            body: cbuf.get(head_len..).unwrap_or_default(),
                            body_ready,
                            src: info.src,
                            dst: info.dst,
                            frontend: px_idx,
                            backend: Some(be_idx),
                            server: None,
                            listener_id: 0,
                            first_req: first,
                            tls: info.tls.as_deref(),
                            bc_tls: None,
                        };
                        let acls = &rt.proxies[be_idx].acls;
                        be_http
                            .rules
                            .request_from(start, acls, &env, &mut head, &mut txn)
                    };
                    let Verdict::WaitBody {
                        resume,
                        ms,
                        at_least,
                    } = verdict
                    else {
                        break verdict;
                    };
                    let waited = wait_body(
                        &mut client,
                        &mut cbuf,
                        &mut head,
                        head_len,
                        framing,
                        &limits,
                        Some(ms),
                        at_least,
                    )
                    .await;
                    if let Err(status) = waited {
                        if status != 0 {
                            let page = error_page(
                                &rt,
                                &info,
                                (px_idx, Some(be_idx)),
                                &head,
                                &mut txn,
                                status,
                            );
                            send_page(&mut client, &page, &mut txn.marks).await;
                        }
                        return Step::Close;
                    }
                    body_ready = true;
                    start = resume;
                };
                if !send_early_hints(&mut client, &head, &mut txn).await {
                    return Step::Close;
                }
                let mut verdict = verdict;
                if !matches!(verdict, Verdict::Continue) {
                    after_verdict(
                        &rt,
                        &info,
                        (px_idx, Some(be_idx)),
                        first,
                        &mut verdict,
                        &mut txn,
                    );
                    let keep =
                        !req_close && strictest(fe_http.mode, be_http.mode) != HttpConnMode::Close;
                    let go_on = answer_verdict(
                        &mut client,
                        &mut cbuf,
                        verdict,
                        head_len,
                        framing,
                        &limits,
                        &head,
                        keep,
                        fe.client_timeout,
                        [Some(&be.counters), None],
                        &mut txn.marks,
                    )
                    .await;
                    if !go_on || matches!(next_step(&rt), Next::Close) {
                        return Step::Close;
                    }
                    first = false;
                    return Step::Next;
                }
            }
            // The backend's stats page, once its rules let the request in.
            if be_idx != px_idx
                && let Some(go_on) = stats_page(
                    &mut client,
                    &mut cbuf,
                    &rt,
                    &info,
                    (px_idx, Some(be_idx)),
                    be_idx,
                    &mut head,
                    head_len,
                    framing,
                    &limits,
                    &mut txn,
                    first,
                    !req_close && fe_http.mode != HttpConnMode::Close,
                    fe.client_timeout,
                )
                .await
            {
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            }
            // `option http-restrict-req-hdr-names` of the backend, after its rules.
            if be_idx != px_idx && !be_http.restrict_names.apply(&mut head) {
                be.counters.denied_req.fetch_add(1, Relaxed);
                let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, 403);
                send_page(&mut client, &page, &mut txn.marks).await;
                return Step::Close;
            }
            if fe_http.rules.has_request_rules() || be_http.rules.has_request_rules() {
                let now = request_framing(&head).ok();
                keep_framing(&mut head, framing, now);
            }
            // `log-steps request`: the request went through the rules of both sides.
            if noting {
                log_step(&rt, px_idx, &info, &head, &mut txn, Origin::Request);
            }
            // 5. Request changes: X-Forwarded-For, connection mode towards the server.
            // One header each, as HAProxy adds it when either side asks (the backend's
            // settings win): the client's address, and where it connected to.
            let canonical = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            // `option forwarded` of the backend: the RFC 7239 header, before X-Forwarded-For.
            if let Some(fw) = &be_http.forwarded {
                let value = {
                    let ctx = request_ctx(&rt, &info, px_idx, Some(be_idx), &head, &txn, first);
                    fw.value(&ctx, &head, info.src, info.dst)
                };
                head.add(b"forwarded", &value);
            }
            if let Some(ff) = be_http.forwardfor.as_ref().or(fe_http.forwardfor.as_ref()) {
                let excepted = ff
                    .except
                    .map(|n| n.contains(info.src.ip()))
                    .unwrap_or(false);
                let present = ff.if_none && head.get(ff.header.as_bytes()).is_some();
                if !(excepted || present) {
                    add_ip_header(&mut head, ff.header.as_bytes(), canonical(info.src.ip()));
                }
            }
            if let Some(ot) = be_http.originalto.as_ref().or(fe_http.originalto.as_ref()) {
                let excepted = ot
                    .except
                    .map(|n| n.contains(info.dst.ip()))
                    .unwrap_or(false);
                if !excepted {
                    add_ip_header(&mut head, ot.header.as_bytes(), canonical(info.dst.ip()));
                }
            }
            let mode = strictest(fe_http.mode, be_http.mode);
            let client_close = req_close || mode == HttpConnMode::Close;
            let server_close = mode != HttpConnMode::KeepAlive;
            let upgrade = h1::upgrade(&head).is_some();
            if upgrade {
                // An upgrade keeps its `Connection: upgrade` whatever the connection mode (a
                // server refuses to switch on `Connection: close`; after a 101 the connection
                // is a tunnel anyway). As HAProxy, only `close`/`keep-alive` are dropped.
                keep_only_upgrade_tokens(&mut head);
            } else if server_close && !be.settings.pretend_keepalive {
                head.set(b"Connection", b"close");
            } else if head.version() == h1::Version::Http11 {
                // Keep-alive towards the server whatever the client does (its `close`
                // ends the client connection only), as HAProxy: the server connection
                // stays reusable.
                keep_only_upgrade_tokens(&mut head);
            }
            // Only HEAD and CONNECT change how the response is framed.
            let method: &'static [u8] = match head.method() {
                b"HEAD" => b"HEAD",
                b"CONNECT" => b"CONNECT",
                _ => b"GET",
            };
            let bodyless = !upgrade && matches!(framing, Framing::None | Framing::Length(0));
            let idempotent = matches!(
                head.method(),
                b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
            );
            // 6. The server, balanced for every request: the session's connection when the
            // same server is chosen again, else an idle one as `http-reuse` allows, else a
            // new one. `option prefer-last-server` (and a server that asked for
            // authentication) keeps the request on the last server when it can take it.
            let _be_session = BackendSession::start(&be);
            let mut stuck = false;
            let mut prefer = attached
                .0
                .as_ref()
                .filter(|sc| sc.be_idx == be_idx && (be.settings.prefer_last_server || sc.stick))
                .and_then(|sc| sc.srv.clone());
            // Persistence: a server `stick match|on` finds wins over the balancer.
            let stick = &rt.proxies[be_idx].stick;
            let stick_keys = if stick.has_request_rules() {
                let ctx = request_ctx(&rt, &info, px_idx, Some(be_idx), &head, &txn, first);
                let (found, keys) = stick.on_request(&be, &rt.proxies[be_idx].acls, &ctx);
                if found.is_some() {
                    prefer = found;
                    stuck = true;
                }
                keys
            } else {
                Vec::new()
            };
            if attached.0.as_ref().is_some_and(|sc| sc.be_idx != be_idx) {
                park(attached.0.take());
            }
            // `balance url_param ... check_post`: a POST's body is waited for (not with
            // `Expect: 100-continue`, as HAProxy).
            if let Balance::UrlParam {
                check_post: true, ..
            } = be.settings.balance
                && !body_ready
                && head.method() == b"POST"
                && !h1::expects_continue(&head)
            {
                let waited = wait_body(
                    &mut client,
                    &mut cbuf,
                    &mut head,
                    head_len,
                    framing,
                    &limits,
                    body_timeout,
                    0,
                )
                .await;
                if let Err(status) = waited {
                    if status != 0 {
                        let page =
                            error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, status);
                        send_page(&mut client, &page, &mut txn.marks).await;
                    }
                    return Step::Close;
                }
            }
            // `use-server`: before cookies and stick rules, and winning over both.
            let use_server = &rt.proxies[be_idx].use_server;
            let used = if use_server.is_empty() {
                None
            } else {
                let ctx = request_ctx(&rt, &info, px_idx, Some(be_idx), &head, &txn, first);
                use_server.choose(
                    &be,
                    &rt.proxies[be_idx].acls,
                    &ctx,
                    be.settings.persist || force_persist,
                )
            };
            // Cookie persistence: the server the request's cookie designates (the cookie is
            // stripped or un-prefixed on its way to the server; after `use-server` it
            // designates nothing).
            let now = crate::stats::now_sec();
            let req_cookie = match &be_http.cookie {
                Some(ck) => crate::http::cookie::on_request(
                    ck,
                    &mut head,
                    &be.servers,
                    ignore_persist || used.is_some(),
                    be.settings.persist || force_persist,
                    now,
                ),
                None => Default::default(),
            };
            if be_http.cookie.is_some() {
                txn.marks.cookie = [req_cookie.flag, b'N'];
            }
            let choice = match (used.or(req_cookie.server), &prefer) {
                (Some(idx), _) => Choice::Direct {
                    idx,
                    force: force_persist,
                },
                (None, Some(p)) if stuck => Choice::Stick(p),
                (None, Some(p)) => Choice::Prefer(p),
                (None, None) => Choice::Balance,
            };
            let key = lb_key(&be, &head, cbuf.get(head_len..).unwrap_or_default(), &info);
            // `usesrc hdr_ip(H)`: this request's address to present to the server.
            // What `set-retries` / `set-timeout` changed for this request.
            let info = ConnInfo {
                hdr_src: match &be.settings.hdr_src {
                    Some((name, occ)) => hdr_ip(&head, name.as_bytes(), *occ),
                    None => info.hdr_src,
                },
                ov: txn.ov,
                ..info.clone()
            };
            let reuse_mode = be.settings.http_reuse;
            let first_req = first;
            let mut redirect_to: Option<Arc<Server>> = None;
            // `pool-conn-name` and `sni` of each server for this request (nothing to
            // compute, and no allocation, without them). A connection made with an SNI is
            // reused only for the same SNI (it is part of its name).
            let (conn_names, snis): (Vec<u64>, Vec<Option<String>>) = if be
                .servers
                .iter()
                .any(|s| s.pool_conn_name.is_some() || s.sni.is_some())
            {
                let name_ctx = request_ctx(&rt, &info, px_idx, Some(be_idx), &head, &txn, first);
                let snis = crate::proxy::connect::sni_values(&be, &name_ctx);
                let names = (0..be.servers.slots())
                    .map(|i| {
                        let n = conn_name(&be.servers[i], &name_ctx);
                        match snis.get(i) {
                            Some(Some(v)) => {
                                use std::hash::{Hash, Hasher};
                                let mut h = std::hash::DefaultHasher::new();
                                (n, v).hash(&mut h);
                                h.finish() | 1
                            }
                            _ => n,
                        }
                    })
                    .collect();
                (names, snis)
            } else {
                (Vec::new(), Vec::new())
            };
            let sni_of = |s: &Server| -> Option<String> { snis.get(s.index).cloned().flatten() };
            let name_of = |srv: &Arc<Server>| -> u64 {
                if conn_names.is_empty() {
                    return 0;
                }
                be.index_of(srv)
                    .and_then(|i| conn_names.get(i).copied())
                    .unwrap_or(0)
            };
            let res = {
                let own = &mut attached.0;
                let name_of = &name_of;
                let mut reuse = |srv: &Arc<Server>| -> Option<(ServerStream, u32)> {
                    let name = name_of(srv);
                    if let Some(sc) = own.take() {
                        if sc.srv.as_ref().is_some_and(|s| Arc::ptr_eq(s, srv)) && sc.name == name {
                            // A request that could not be sent again is only sent over a
                            // connection the server has not closed meanwhile.
                            if (bodyless && idempotent) || sc.stream.alive() {
                                return Some((sc.stream, sc.uses));
                            }
                        } else {
                            park(Some(sc));
                        }
                    }
                    // `safe`: not for the first request of a session; `aggressive`: the
                    // first one only over a connection already reused once.
                    let proven = match reuse_mode {
                        HttpReuse::Never => return None,
                        HttpReuse::Safe if first_req => return None,
                        HttpReuse::Aggressive => first_req,
                        _ => false,
                    };
                    let check = !(bodyless && idempotent);
                    srv.idle
                        .take(proven, name, check)
                        .map(|c| (c.stream, c.uses))
                };
                let redirectable = matches!(head.method(), b"GET" | b"HEAD");
                let connecting = crate::server::QUEUE_PRIORITY.scope(
                    (txn.prio_class, txn.prio_offset),
                    connect_server(
                        &be,
                        key,
                        &info,
                        choice,
                        &mut reuse,
                        redirectable.then_some(&mut redirect_to),
                        &sni_of,
                        &mut txn.marks.connect,
                    ),
                );
                if be.settings.abortonclose {
                    tokio::select! {
                        r = connecting => r,
                        _ = client_gone(&client, &mut cbuf) => {
                            // The client left while waiting: its request goes nowhere.
                            be.counters.cli_abort.fetch_add(1, Relaxed);
                            txn.marks.end(*b"CQ");
                            return Step::Close;
                        }
                    }
                } else {
                    connecting.await
                }
            };
            if let Some(srv) = redirect_to {
                // `redir PREFIX`: 302 to the prefix followed by the path from its '/'.
                let prefix = srv.cfg.redir.as_deref().unwrap_or_default();
                let uri = head.uri();
                let path = match uri.windows(3).position(|w| w == b"://") {
                    Some(i) if uri.first() != Some(&b'/') => {
                        let rest = &uri[i + 3..];
                        &rest[rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())..]
                    }
                    _ => uri,
                };
                let mut page = Vec::with_capacity(128 + prefix.len() + path.len());
                page.extend_from_slice(
                    b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: ",
                );
                page.extend_from_slice(prefix.as_bytes());
                page.extend_from_slice(if path.is_empty() { b"/" } else { path });
                page.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
                send_page(&mut client, &page, &mut txn.marks).await;
                cbuf.drain(..head_len);
                return Step::Close;
            }
            let Some(c) = res else {
                // No server reachable: nothing was sent, the client connection may stay.
                let fail = txn.marks.connect.fail.unwrap_or(*b"SC");
                txn.marks.end(fail);
                let sides = (px_idx, Some(be_idx));
                let mut verdict =
                    Verdict::Answer(stream_answer(&rt, &info, sides, &head, &txn, 503));
                after_verdict(&rt, &info, sides, first, &mut verdict, &mut txn);
                let keep =
                    !req_close && strictest(fe_http.mode, be_http.mode) != HttpConnMode::Close;
                let go_on = answer_verdict(
                    &mut client,
                    &mut cbuf,
                    verdict,
                    head_len,
                    framing,
                    &limits,
                    &head,
                    keep,
                    fe.client_timeout,
                    [None, None],
                    &mut txn.marks,
                )
                .await;
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            };
            // `log-steps connect`: the server connection is established (or reused).
            if noting {
                log_step(&rt, px_idx, &info, &head, &mut txn, Origin::Connect);
            }
            let poolable = reuse_mode != HttpReuse::Never
                && c.srv.as_ref().is_some_and(|s| s.send_proxy.is_none());
            let name = c.srv.as_ref().map_or(0, name_of);
            let direct = c.direct;
            let sc = attached.0.insert(ServerConn {
                name,
                stream: c.stream,
                be_idx,
                srv: c.srv,
                slot: c.slot,
                buf: Vec::new(),
                uses: c.uses,
                poolable,
                stick: false,
                idle_ok: false,
                glitches: 0,
                bad_at: None,
            });
            if let Some(s) = &sc.srv {
                crate::stick::rules::store(&stick_keys, s);
            }
            // The server and when the request left it: for the log line and for the
            // backend's and server's response times.
            txn.marks.server = sc.srv.clone();
            txn.marks.sent = Some(std::time::Instant::now());
            if let Some(s) = &sc.srv {
                s.counters.req_tot.fetch_add(1, Relaxed);
            }
            if noting
                && rt.proxies[px_idx]
                    .log
                    .as_ref()
                    .is_some_and(|l| l.needs_backend_src)
            {
                txn.marks.backend_src = sc.stream.local_addr();
            }
            if let (Some(name), Some(s)) = (&be.settings.send_name_header, &sc.srv) {
                head.set(name.as_bytes(), s.name.as_bytes());
            }
            // 7. Request head and body to the server, then the response head. A request
            // without body that finds an idle connection closed by the server is sent
            // again over a new connection.
            cbuf.drain(..head_len);
            let server_timeout = txn.ov.server.or(be.settings.server_timeout);
            let client_timeout = txn.ov.client.or(fe.client_timeout);
            // `option accept-unsafe-violations-in-http-response` of the backend.
            let rlimits = Limits {
                accept_invalid: be_http.accept_unsafe_res,
                glitches_threshold: rt.global.tune_h1_be_glitches,
                ..limits
            };
            let mut retried = false;
            // `retry-on` beyond connection failures: the request is sent again only when
            // it is whole in the buffer (head and body, within tune.bufsize), a copy of its
            // body kept for that (HAProxy's rule; no copy without such a `retry-on`).
            let retry_on = &be.settings.retry_on;
            let mut l7_left = 0u32;
            let mut replay: Vec<u8> = Vec::new();
            if retry_on.layer7() && !txn.no_l7_retry && !upgrade {
                // As HAProxy 2.6: only a request whole in the buffer when it leaves.
                let whole = match framing {
                    Framing::None => Some(0),
                    Framing::Length(n) if (cbuf.len() as u64) >= n => Some(n as usize),
                    _ => None,
                };
                if let Some(n) = whole
                    && head_len + n <= rt.global.tune_bufsize
                {
                    replay.extend_from_slice(&cbuf[..n]);
                    l7_left = txn.ov.retries.unwrap_or(be.settings.retries);
                }
            }
            let mut rhead = Head::new();
            let rhead_len = loop {
                let reused = sc.uses > 0;
                let mut out = Vec::with_capacity(head_len + 256);
                // A new server connection starts with the PROXY header when the server
                // asks for it.
                // (Over TLS it went in clear before the handshake.)
                if sc.uses == 0
                    && let Some(srv) = sc.srv.as_ref().filter(|s| !s.uses_tls())
                {
                    proxy_protocol::write_for(srv, &info, &mut out);
                }
                if be_http.case_adjust_server {
                    head.write_adjusted(&mut out, &rt.case_adjust);
                } else {
                    head.write_to(&mut out);
                }
                sc.uses += 1;
                let mut body = BodyState::new(framing)
                    .with_limits(&limits)
                    .dropping_trailers(be_http.drop_req_trailers);
                let sent = if upgrade {
                    // The tunnel carries whatever follows the head.
                    sc.stream.write_all(&out).await.map_err(|_| 502u16)
                } else {
                    forward_body(
                        &mut body,
                        &mut cbuf,
                        &mut client,
                        &mut sc.stream,
                        &mut out,
                        client_timeout,
                    )
                    .await
                };
                // `%U` and `bin` count the body as HAProxy stores it (no chunk framing).
                txn.marks.bytes_in = body.htx_size();
                let got = match sent {
                    Err(502) => Some(Err(Fail::Server)),
                    Err(status) => {
                        if status != 0 {
                            let page = error_page(
                                &rt,
                                &info,
                                (px_idx, Some(be_idx)),
                                &head,
                                &mut txn,
                                status,
                            );
                            send_page(&mut client, &page, &mut txn.marks).await;
                        }
                        return Step::Close;
                    }
                    Ok(()) => {
                        let reading = read_response_head(
                            sc,
                            &mut client,
                            &rlimits,
                            &mut rhead,
                            server_timeout,
                        );
                        match &kill {
                            Some(k) => tokio::select! {
                                biased;
                                _ = k.killed() => {
                                    k.take_kill();
                                    None
                                }
                                r = reading => Some(r),
                            },
                            None => Some(reading.await),
                        }
                    }
                };
                let Some(got) = got else {
                    // Killed while waiting for the response: as HAProxy, the server
                    // connection closes and the request gets a 502; the client's
                    // connection stays for its next request.
                    attached.0 = None;
                    let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, 502);
                    txn.marks.end(*b"KH");
                    if client_close {
                        send_page(&mut client, &page, &mut txn.marks).await;
                        return Step::Close;
                    }
                    txn.marks.status = Some(502);
                    txn.marks.bytes_out += crate::log::record::htx_size(&page);
                    if client.write_all(&page).await.is_err() {
                        return Step::Close;
                    }
                    first = false;
                    return match next_step(&rt) {
                        Next::Close => Step::Close,
                        Next::Continue => Step::Next,
                    };
                };
                if let Some(at) = sc.bad_at.take() {
                    crate::stats::errors::capture_response(
                        &rt,
                        (px_idx, be_idx),
                        sc.srv.as_deref(),
                        info.src,
                        &sc.buf,
                        at,
                    );
                }
                // `observe layer7`: what the server answered counts towards its health.
                if let Some(s) = &sc.srv
                    && s.cfg.observe == halo_config::model::Observe::Layer7
                    // An idle connection the server had closed is not its error.
                    && !(reused && sc.buf.is_empty() && matches!(got, Err(Fail::Server)))
                {
                    use crate::server::check::Observed;
                    let what = match &got {
                        Ok(_) if Observed::status_ok(rhead.status()) => Observed::L7Ok,
                        Ok(_) => Observed::HttpStatus,
                        Err(Fail::Server) => Observed::HttpClosed,
                        Err(Fail::Status(504)) => Observed::HttpTimeout,
                        Err(Fail::Status(_)) => Observed::HttpInvalid,
                    };
                    crate::server::check::observe(&be, s, what, crate::runtime::log::quiet());
                }
                let l7_retry = l7_left > 0
                    && match &got {
                        Err(Fail::Server) => retry_on.empty_response,
                        Err(Fail::Status(504)) => retry_on.response_timeout,
                        Err(Fail::Status(_)) => retry_on.junk_response,
                        Ok(_) => retry_on.statuses.contains(&rhead.status()),
                    }
                    // A closed idle connection is retried below without counting.
                    && !(reused && sc.buf.is_empty() && matches!(got, Err(Fail::Server)));
                let got = if l7_retry {
                    l7_left -= 1;
                    if let Some(s) = &sc.srv {
                        s.counters.retries.fetch_add(1, Relaxed);
                    }
                    be.counters.retries.fetch_add(1, Relaxed);
                    // The body goes again, in front of whatever the client sent after it.
                    cbuf.splice(0..0, replay.iter().copied());
                    rhead.clear();
                    sc.buf.clear();
                    match retry_connection(&be, key, &info, sc, &sni_of).await {
                        true => continue,
                        false => Err(Fail::Status(503)),
                    }
                } else {
                    got
                };
                match got {
                    Ok(n) => break n,
                    Err(Fail::Server) if reused && sc.buf.is_empty() => {
                        // The server had closed the idle connection.
                        if !retried
                            && bodyless
                            && idempotent
                            && let Some(s) = sc.srv.clone()
                            && let Some(stream) =
                                connect_again(&be, &s, &info, sni_of(&s).as_deref()).await
                        {
                            retried = true;
                            sc.stream = stream;
                            sc.uses = 0;
                            continue;
                        }
                        txn.marks.end(*b"SH");
                        if !first {
                            // As HAProxy does: a keep-alive client retries by itself when
                            // its connection closes without an answer.
                            return Step::Close;
                        }
                        be.counters.err_resp.fetch_add(1, Relaxed);
                        let page =
                            error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, 502);
                        send_page(&mut client, &page, &mut txn.marks).await;
                        return Step::Close;
                    }
                    Err(f) => {
                        txn.marks.end(f.term());
                        if let Some(s) = &sc.srv {
                            s.counters.err_resp.fetch_add(1, Relaxed);
                        }
                        be.counters.err_resp.fetch_add(1, Relaxed);
                        if matches!(f.status(), 502 | 504) && !client_close {
                            // An invalid or missing response is the server's fault: like
                            // HAProxy, its connection goes, the client's stays for the next
                            // request.
                            attached.0 = None;
                            let page = error_page(
                                &rt,
                                &info,
                                (px_idx, Some(be_idx)),
                                &head,
                                &mut txn,
                                f.status(),
                            );
                            txn.marks.status = Some(f.status());
                            txn.marks.bytes_out += crate::log::record::htx_size(&page);
                            if client.write_all(&page).await.is_err() {
                                return Step::Close;
                            }
                            first = false;
                            return match next_step(&rt) {
                                Next::Close => Step::Close,
                                Next::Continue => Step::Next,
                            };
                        }
                        let page = error_page(
                            &rt,
                            &info,
                            (px_idx, Some(be_idx)),
                            &head,
                            &mut txn,
                            f.status(),
                        );
                        send_page(&mut client, &page, &mut txn.marks).await;
                        return Step::Close;
                    }
                }
            };
            let status = rhead.status();
            txn.marks.res_head = Some(std::time::Instant::now());
            txn.tracked.server_status(status);
            // A server asking for authentication keeps the session's next request; one
            // authenticating the connection itself (NTLM, Negotiate) keeps its connection
            // private to the session.
            sc.stick = status == 401 || status == 407;
            if sc.stick {
                let field: &[u8] = if status == 401 {
                    b"www-authenticate"
                } else {
                    b"proxy-authenticate"
                };
                if rhead.get_all(field).any(|v| {
                    let v = v.trim_ascii_start();
                    v.len() >= 4 && v[..4].eq_ignore_ascii_case(b"ntlm")
                        || v.len() >= 9 && v[..9].eq_ignore_ascii_case(b"negotiate")
                }) {
                    sc.poolable = false;
                }
            }
            if status == 101 && !upgrade {
                // A switch nobody asked for: never tunnel on the server's word alone.
                be.counters.err_resp.fetch_add(1, Relaxed);
                let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, 502);
                send_page(&mut client, &page, &mut txn.marks).await;
                return Step::Close;
            }
            // 7. Upgrade (WebSocket): both sides become a tunnel.
            if status == 101 && upgrade {
                let mut out = Vec::new();
                if fe_http.case_adjust_client {
                    rhead.write_adjusted(&mut out, &rt.case_adjust);
                } else {
                    rhead.write_to(&mut out);
                }
                out.extend_from_slice(&sc.buf[rhead_len..]);
                txn.marks.status = Some(101);
                txn.marks.bytes_out +=
                    crate::log::record::htx_head_size(&rhead) + (sc.buf.len() - rhead_len) as u64;
                if client.write_all(&out).await.is_err() {
                    return Step::Close;
                }
                let Some(mut sc) = attached.0.take() else {
                    return Step::Close;
                };
                let tunnel = txn
                    .ov
                    .tunnel
                    .or(be.settings.tunnel_timeout)
                    .or(fe.tunnel_timeout);
                let t = crate::proxy::forward::Timeouts {
                    client: tunnel.or(client_timeout),
                    server: tunnel.or(server_timeout),
                    client_fin: fe.client_fin_timeout,
                    server_fin: be.settings.server_fin_timeout,
                };
                // The tunnel's bytes count for the transaction (`%B`, `%U`, `bin`, `bout`):
                // with `option contstats` as they pass, the rest when it ends.
                let (head_in, head_out) = (
                    crate::log::record::htx_head_size(&head) + cbuf.len() as u64,
                    txn.marks.bytes_out,
                );
                let mut live = crate::stats::LiveBytes::new([
                    Some(&fe.counters),
                    fe.listener(info.bind),
                    Some(&be.counters),
                    sc.srv.as_deref().map(|s| &s.counters),
                ]);
                live.reach(head_in, head_out);
                let o = crate::proxy::forward::forward(
                    &mut client,
                    &mut sc.stream,
                    &cbuf,
                    t,
                    fe.contstats.then_some(&mut live),
                )
                .await;
                live.reach(head_in + o.bytes_in, head_out + o.bytes_out);
                txn.marks.bytes_in += cbuf.len() as u64 + o.bytes_in;
                txn.marks.bytes_out += o.bytes_out;
                txn.marks.counted = true;
                if o.client_timeout {
                    txn.marks.end(*b"cD");
                } else if o.server_timeout {
                    txn.marks.end(*b"sD");
                }
                return Step::Close;
            }
            let rframing = match response_framing(&rhead, method).and_then(|f| {
                h1::check_received(h1::Kind::Response, f, &rlimits, &sc.buf[rhead_len..]).map(|_| f)
            }) {
                Ok(f) => f,
                Err(e) => {
                    be.counters.err_resp.fetch_add(1, Relaxed);
                    let page = error_page(
                        &rt,
                        &info,
                        (px_idx, Some(be_idx)),
                        &head,
                        &mut txn,
                        e.status,
                    );
                    send_page(&mut client, &page, &mut txn.marks).await;
                    return Step::Close;
                }
            };
            let until_close = matches!(rframing, Framing::UntilClose);
            let server_reusable = !server_close
                && !until_close
                && !h1::wants_close(&rhead)
                && sc.srv.as_ref().is_none_or(|s| {
                    s.idle.may_reuse(sc.uses) && (!sc.poolable || s.idle.enabled())
                });
            txn.received.response(&rhead);
            if fe_http.rules.has_captures() {
                fe_http.rules.capture_response(&rhead, &mut txn);
            }
            // What the TLS handshake with the server negotiated (`ssl_bc_*`), for the
            // response rules.
            let bc_tls = if stick.has_response_rules()
                || be_http.rules.has_response_rules()
                || fe_http.rules.has_response_rules()
            {
                sc.stream.tls_info()
            } else {
                None
            };
            // `stick store-response`, before the http-response rules (as HAProxy).
            if stick.has_response_rules()
                && let Some(srv) = sc.srv.as_deref()
            {
                let ctx = Ctx {
                    rt: Some(&rt),
                    src: Some(info.src),
                    dst: Some(info.dst),
                    frontend: Some(px_idx),
                    backend: Some(be_idx),
                    server: Some(srv),
                    listener_id: 0,
                    req_payload: &[],
                    res_payload: &[],
                    req_final: true,
                    res_dir: false,
                    req: Some(&head),
                    res: Some(&rhead),
                    first_req: first,
                    vars: Some(&txn.vars),
                    req_caps: Some(&txn.req_captures),
                    res_caps: Some(&txn.res_captures),
                    received: Some(&txn.received),
                    tracked: Some(&txn.tracked),
                    tls: info.tls.as_deref(),
                    bc_tls: bc_tls.as_deref(),
                    unique_id: txn.unique_id.as_deref(),
                    log: None,
                };
                stick.on_response(&rt.proxies[be_idx].acls, &ctx, srv);
            }
            // 8. http-response rules: the backend's, then the frontend's.
            if be_http.rules.has_response_rules()
                || (be_idx != px_idx && fe_http.rules.has_response_rules())
            {
                let verdict = {
                    let env = Env {
                        rt: &rt,
                        body: &[],
                        body_ready: true,
                        src: info.src,
                        dst: info.dst,
                        frontend: px_idx,
                        backend: Some(be_idx),
                        server: sc.srv.as_deref(),
                        listener_id: 0,
                        first_req: first,
                        tls: info.tls.as_deref(),
                        bc_tls: bc_tls.as_deref(),
                    };
                    let v = be_http.rules.response(
                        &rt.proxies[be_idx].acls,
                        &env,
                        &mut rhead,
                        &mut txn,
                    );
                    if matches!(v, Verdict::Continue) && be_idx != px_idx {
                        fe_http
                            .rules
                            .response(&rt.proxies[px_idx].acls, &env, &mut rhead, &mut txn)
                    } else {
                        v
                    }
                };
                let mut verdict = verdict;
                if !matches!(verdict, Verdict::Continue) {
                    if matches!(verdict, Verdict::Deny(_)) {
                        be.counters.denied_resp.fetch_add(1, Relaxed);
                    }
                    after_verdict(
                        &rt,
                        &info,
                        (px_idx, Some(be_idx)),
                        first,
                        &mut verdict,
                        &mut txn,
                    );
                    // The server's response is dropped, and its connection with it.
                    attached.0 = None;
                    let go_on = answer_verdict(
                        &mut client,
                        &mut cbuf,
                        verdict,
                        0,
                        Framing::None,
                        &limits,
                        &head,
                        !client_close,
                        fe.client_timeout,
                        [None, None],
                        &mut txn.marks,
                    )
                    .await;
                    if !go_on || matches!(next_step(&rt), Next::Close) {
                        return Step::Close;
                    }
                    first = false;
                    return Step::Next;
                }
                let now = response_framing(&rhead, method).ok();
                keep_framing(&mut rhead, rframing, now);
            }
            // Cookie persistence on the response: the server's cookie, then ours.
            if let Some(ck) = &be_http.cookie {
                let cacheable = crate::http::options::cacheable(head.method(), &rhead);
                let state = crate::http::cookie::ResState {
                    server: sc.srv.as_deref(),
                    direct,
                    ignored: ignore_persist,
                    post: head.method() == b"POST",
                    cookie: &req_cookie,
                    now,
                };
                txn.marks.cookie[1] =
                    crate::http::cookie::on_response(ck, &mut rhead, &state, cacheable);
            }
            // `option checkcache`: a cacheable response setting a cookie is blocked (502).
            if (be_http.checkcache || fe_http.checkcache)
                && crate::http::options::cacheable_cookie(head.method(), &rhead)
            {
                be.counters.denied_resp.fetch_add(1, Relaxed);
                if let Some(s) = &sc.srv {
                    s.counters.denied_resp.fetch_add(1, Relaxed);
                }
                attached.0 = None;
                let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &mut txn, 502);
                send_page(&mut client, &page, &mut txn.marks).await;
                return Step::Close;
            }
            // `http-after-response`: the backend's rules, then the frontend's.
            after_response(
                &rt,
                &info,
                (px_idx, Some(be_idx)),
                sc.srv.as_deref(),
                first,
                &mut rhead,
                &mut txn,
            );
            // Towards the client the response is HTTP/1.1, whatever the server spoke (HAProxy
            // does the same), so the client's connection can stay alive.
            rhead.set_version(h1::Version::Http11);
            // During a soft stop the connection ends after this response, and says so
            // (`option idle-close-on-response` keeps idle connections until then).
            let keep_client = !client_close && !until_close && !rt.stopping.load(Relaxed);
            // The server's connection header concerns the server side only; towards the
            // client it says what halo does with the client connection.
            rhead.remove(b"connection");
            if !keep_client {
                rhead.add(b"Connection", b"close");
            } else if head.version() == h1::Version::Http10 {
                rhead.add(b"Connection", b"keep-alive");
            }
            let mut out = Vec::with_capacity(rhead_len + 256);
            if fe_http.case_adjust_client {
                rhead.write_adjusted(&mut out, &rt.case_adjust);
            } else {
                rhead.write_to(&mut out);
            }
            sc.buf.drain(..rhead_len);
            // 9. Response body to the client (`http-response set-timeout server` counts).
            let server_timeout = txn.ov.server.or(be.settings.server_timeout);
            let mut rbody =
                BodyState::new_response(rframing).dropping_trailers(fe_http.drop_res_trailers);
            // `%B` counts the head as HAProxy stores it, then the body as sent.
            txn.marks.status = Some(rhead.status());
            // `option logasap`: the line leaves with the response head.
            if noting
                && rt.proxies[px_idx]
                    .log
                    .as_ref()
                    .is_some_and(|l| l.logs_asap())
            {
                txn.marks.logging_early = true;
                txn.marks.bytes_out += crate::log::record::htx_head_size(&rhead);
                log_http(&rt, px_idx, &info, &head, &mut txn, true);
                txn.marks.bytes_out -= crate::log::record::htx_head_size(&rhead);
                txn.marks.logging_early = false;
                txn.marks.logged = true;
            }
            // `log-steps response`: the response head is in and its rules ran.
            if noting {
                let size = crate::log::record::htx_head_size(&rhead);
                txn.marks.bytes_out += size;
                log_step(&rt, px_idx, &info, &head, &mut txn, Origin::Response);
                txn.marks.bytes_out -= size;
            }
            let (counted, wire_head) = (txn.marks.bytes_out, out.len() as u64);
            let ok = forward_response(
                &mut rbody,
                sc,
                &mut client,
                &mut out,
                server_timeout,
                rframing == Framing::Chunked,
                &mut txn.marks,
            )
            .await;
            // `%B` and `bout` count the response as HAProxy stores it: its head in HTX
            // form, then the body without chunk framing.
            let wire = txn.marks.bytes_out - counted;
            txn.marks.bytes_out = counted
                + crate::log::record::htx_head_size(&rhead)
                + if rframing == Framing::Chunked {
                    rbody.htx_size()
                } else {
                    wire.saturating_sub(wire_head)
                };
            if !ok {
                return Step::Close;
            }
            // Bytes the server sent past its response answer nothing: that connection is
            // out of step and is not reused.
            if server_reusable && sc.buf.is_empty() {
                // The request is over: the server's slot goes back, the connection waits
                // for the session's next request (or the idle pool when the session ends).
                sc.slot = None;
                sc.idle_ok = true;
                // A shareable connection waits in its server's pool, where the pool limits
                // and purges apply (an idle client does not pin a server connection, as
                // in HAProxy) and where this session's next request finds it again. A
                // private one (`http-reuse never`, NTLM, PROXY header), or one the next
                // request should prefer, stays with the session.
                let private = !sc.poolable || sc.stick || be.settings.prefer_last_server;
                if !fe_http.session_keeps_conn || !private {
                    // (`max-session-srv-conns 0`: shared with others or closed at once.)
                    park(attached.0.take());
                }
            } else {
                attached.0 = None;
            }
            if !keep_client {
                let _ = client.shutdown().await;
                return Step::Close;
            }
            first = false;
            if let Next::Close = next_step(&rt) {
                return Step::Close;
            }
            Step::Next
        });
        // A kill (`shutdown sessions server`, `on-marked-down shutdown-sessions`…) while
        // the request holds a server ends the session, except while it waits for the
        // response head: that request gets a 502 below and the session goes on.
        let step = match &kill {
            Some(k) => tokio::select! {
                biased;
                s = work => s,
                _ = k.killed() => return,
            },
            None => work.await,
        };
        // The stream ends: its bytes are counted, the counters it tracked released.
        if tracking && let Some((i1, o1)) = client.io_bytes() {
            let (i0, o0) = std::mem::replace(&mut io_mark, (i1, o1));
            txn.tracked
                .bytes(i1.saturating_sub(i0), o1.saturating_sub(o0));
        }
        txn.tracked.end_stream();
        // `bin` counts what `%U` counts: the request head in HTX form and its body.
        let received = !txn.marks.bad_request && txn.received.req_version().is_some();
        let bytes_in = if received {
            crate::log::record::htx_head_size(&head) + txn.marks.bytes_in
        } else {
            head_len as u64
        };
        count_transaction(&rt, px_idx, &txn.marks, txn_start, (bytes_in, info.bind));
        if noting {
            let holding = attached.0.as_ref().is_some_and(|sc| sc.slot.is_some());
            log_http(&rt, px_idx, &info, &head, &mut txn, holding);
            // The next transaction's stream starts now.
            let now = std::time::Instant::now();
            stream_start = (
                now,
                info.accept.1 + now.saturating_duration_since(info.accept.0),
            );
            handshake_ms = 0;
        }
        if let Step::Close = step {
            return;
        }
    }
}

/// A new server connection for a request sent again after `retry-on`: with `option
/// redispatch`, wherever the balancer says; otherwise to the same server. False when none
/// could be opened.
async fn retry_connection(
    be: &Arc<Backend>,
    key: Option<u32>,
    info: &ConnInfo,
    sc: &mut ServerConn,
    sni: &crate::proxy::stream::SniOf<'_>,
) -> bool {
    let same = sc.srv.clone();
    if be.settings.redispatch.is_some() || same.is_none() {
        let Some(c) = crate::proxy::stream::connect_with_retries(be, key, info, sni).await else {
            return false;
        };
        if let (Some(old), Some(new)) = (&same, &c.srv)
            && !Arc::ptr_eq(old, new)
        {
            old.counters.redispatches.fetch_add(1, Relaxed);
            be.counters.redispatches.fetch_add(1, Relaxed);
        }
        sc.stream = c.stream;
        sc.srv = c.srv;
        sc.slot = c.slot;
        sc.uses = c.uses;
        return true;
    }
    let Some(s) = same else {
        return false;
    };
    match connect_again(be, &s, info, sni(&s).as_deref()).await {
        Some(stream) => {
            sc.stream = stream;
            sc.uses = 0;
            true
        }
        None => false,
    }
}

/// Occurrence `occ` (1: the first, -1: the last; 0: none) of the comma-separated values of
/// header `name`, as an IP address.
fn hdr_ip(head: &Head, name: &[u8], occ: i32) -> Option<IpAddr> {
    if occ == 0 {
        return None;
    }
    let mut values = head
        .get_all(name)
        .flat_map(|v| v.split(|&c| c == b','))
        .map(|v| v.trim_ascii());
    let v = if occ > 0 {
        values.nth(occ as usize - 1)?
    } else {
        let all: Vec<&[u8]> = values.collect();
        *all.get(all.len().checked_sub(occ.unsigned_abs() as usize)?)?
    };
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn next_step(rt: &Runtime) -> Next {
    if rt.stopping.load(Relaxed) {
        Next::Close
    } else {
        Next::Continue
    }
}

fn strictest(a: HttpConnMode, b: HttpConnMode) -> HttpConnMode {
    use HttpConnMode::*;
    match (a, b) {
        (Close, _) | (_, Close) => Close,
        (ServerClose, _) | (_, ServerClose) => ServerClose,
        _ => KeepAlive,
    }
}

/// Sends the request head (in `out`) and streams the body from the client to the server,
/// reading more as needed. Err(status) to answer the client (0: just close, 502: the
/// server is gone).
async fn forward_body<C: ReadInto>(
    body: &mut BodyState,
    cbuf: &mut Vec<u8>,
    client: &mut C,
    server: &mut ServerStream,
    out: &mut Vec<u8>,
    timeout: Option<u64>,
) -> Result<(), u16> {
    loop {
        if !cbuf.is_empty() && !body.is_done() {
            // Chunked bodies go on re-encoded as HAProxy sends them (CRLF, no extensions).
            let (n, _) = body.advance_into(cbuf, out).map_err(|e| e.status)?;
            cbuf.drain(..n);
        }
        if !out.is_empty() {
            server.write_all(out).await.map_err(|_| 502u16)?;
            out.clear();
        }
        if body.is_done() {
            return Ok(());
        }
        match read_more(client, cbuf, timeout).await {
            Some(0) => return Err(0),
            Some(_) => {}
            None => return Err(408),
        }
    }
}

/// Streams the response (head in `out`) to the client. Returns false when the client
/// connection must end. Small first pieces of body go out with the head in one write;
/// the rest is written straight from the server buffer, which grows to a bulk buffer
/// while reads keep filling it.
async fn forward_response<C: AsyncWrite + Unpin>(
    body: &mut BodyState,
    sc: &mut ServerConn,
    client: &mut C,
    out: &mut Vec<u8>,
    timeout: Option<u64>,
    chunked: bool,
    marks: &mut Marks,
) -> bool {
    loop {
        if chunked && !sc.buf.is_empty() && !body.is_done() {
            // Chunked bodies go on re-encoded as HAProxy sends them (CRLF, no extensions).
            match body.advance_into(&sc.buf, out) {
                Ok((n, _)) => {
                    sc.buf.drain(..n);
                }
                Err(_) => {
                    let _ = client.write_all(out).await;
                    marks.bytes_out += out.len() as u64;
                    marks.end(*b"SD");
                    return false;
                }
            }
        } else if !sc.buf.is_empty() && !body.is_done() {
            let n = match body.advance(&sc.buf) {
                Ok((n, _)) => n,
                Err(_) => {
                    let _ = client.write_all(out).await;
                    marks.bytes_out += out.len() as u64;
                    marks.end(*b"SD");
                    return false;
                }
            };
            if !out.is_empty() && n <= 4096 {
                out.extend_from_slice(&sc.buf[..n]);
            } else {
                if !out.is_empty() {
                    if client.write_all(out).await.is_err() {
                        marks.end(*b"CD");
                        return false;
                    }
                    marks.bytes_out += out.len() as u64;
                    out.clear();
                }
                if client.write_all(&sc.buf[..n]).await.is_err() {
                    marks.end(*b"CD");
                    return false;
                }
                marks.bytes_out += n as u64;
            }
            sc.buf.drain(..n);
        }
        if !out.is_empty() {
            if client.write_all(out).await.is_err() {
                marks.end(*b"CD");
                return false;
            }
            marks.bytes_out += out.len() as u64;
            out.clear();
        }
        if body.is_done() {
            return true;
        }
        let cap = sc.buf.capacity();
        match fill(&mut sc.stream, &mut sc.buf, timeout).await {
            Some(0) => {
                // Server closed: the end of a close-delimited body (the client connection
                // closes to mark it), or a truncated one: either way the client goes.
                if body.eof().is_err() {
                    marks.end(*b"SD");
                }
                return false;
            }
            Some(n) => {
                if n == cap && cap < BULK_BUFSIZE && sc.buf.len() == n {
                    // Bulk data: continue with a larger buffer.
                    let mut big = take_bulk_buf();
                    big.extend_from_slice(&sc.buf);
                    give_buf(std::mem::replace(&mut sc.buf, big));
                }
            }
            None => {
                marks.end(*b"sD");
                return false;
            }
        }
    }
}

/// Sends an answer made by the proxy itself (rules, monitor-uri) and, when the client
/// connection may stay, skips what is left of the request body. Returns whether the
/// connection serves another request.
#[allow(clippy::too_many_arguments)]
async fn answer_client<C: ReadInto + AsyncWrite>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    answer: &Answer,
    req: &Head,
    keep: bool,
    timeout: Option<u64>,
    marks: &mut Marks,
) -> bool {
    // A client waiting for "100 Continue" before sending its body will not send it: the
    // connection cannot be reused.
    let waits_continue =
        h1::expects_continue(req) && matches!(framing, Framing::Chunked | Framing::Length(1..));
    let keep = keep && !answer.closes() && !matches!(framing, Framing::Tunnel) && !waits_continue;
    let connection = if !keep {
        Some("close")
    } else if req.version() == h1::Version::Http10 {
        Some("keep-alive")
    } else {
        None
    };
    let mut out = Vec::with_capacity(answer.head.len() + answer.body.len() + 32);
    answer.write(&mut out, connection, req.method() != b"HEAD");
    marks.status = Some(answer.status);
    if client.write_all(&out).await.is_err() || client.flush().await.is_err() {
        marks.end(*b"CL");
        return false;
    }
    // The log counts HAProxy's HTX size; the proxies' counters the bytes written.
    marks.bytes_out += if marks.connect.noting {
        crate::log::record::htx_size(&out)
    } else {
        out.len() as u64
    };
    if !keep {
        let _ = client.shutdown().await;
        return false;
    }
    // The request body goes nowhere, but it must be read to find the next request.
    cbuf.drain(..head_len.min(cbuf.len()));
    let mut body = BodyState::new(framing).with_limits(limits);
    loop {
        if !cbuf.is_empty() && !body.is_done() {
            match body.advance(cbuf) {
                Ok((n, _)) => {
                    cbuf.drain(..n);
                }
                Err(_) => return false,
            }
        }
        if body.is_done() {
            return true;
        }
        match read_more(client, cbuf, timeout).await {
            Some(0) | None => return false,
            Some(_) => {}
        }
    }
}

/// `http-request tarpit`: holds the request for `ms` milliseconds; false if the client
/// went away meanwhile. What the client sends in the meantime is kept in `cbuf`.
async fn tarpit_wait<C: ReadInto>(client: &mut C, cbuf: &mut Vec<u8>, ms: u64) -> bool {
    let sleep = tokio::time::sleep(Duration::from_millis(ms));
    tokio::pin!(sleep);
    loop {
        if cbuf.len() >= 65536 {
            sleep.as_mut().await;
            return true;
        }
        tokio::select! {
            _ = &mut sleep => return true,
            r = read_more(client, cbuf, None) => match r {
                Some(0) | None => return false,
                Some(_) => {}
            },
        }
    }
}

/// `option http-buffer-request` and `http-request wait-for-body`: reads the request body
/// into `cbuf` until it is complete, `at_least` bytes of it arrived (0: no such limit) or
/// the buffer is full. A client waiting for `100 Continue` gets it (and the server will not
/// see the `Expect` field). Err(408) on timeout, Err(0) when the client went away.
#[allow(clippy::too_many_arguments)]
async fn wait_body<C: Conn>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    head: &mut Head,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    timeout: Option<u64>,
    at_least: u64,
) -> Result<(), u16> {
    let deadline = timeout.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let mut continued = false;
    loop {
        let body = cbuf.get(head_len..).unwrap_or_default();
        let mut st = BodyState::new(framing).with_limits(limits);
        // A malformed body is reported when it is forwarded.
        let done = st.advance(body).map(|_| st.is_done()).unwrap_or(true);
        if done
            || matches!(framing, Framing::UntilClose | Framing::Tunnel)
            || (at_least > 0 && st.consumed() >= at_least)
            || cbuf.len() >= limits.max_head
        {
            return Ok(());
        }
        if !continued && h1::expects_continue(head) {
            continued = true;
            client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| 0u16)?;
            head.remove(b"expect");
        }
        let remaining = deadline.map(|d| {
            d.saturating_duration_since(tokio::time::Instant::now())
                .as_millis() as u64
        });
        if remaining == Some(0) {
            return Err(408);
        }
        match read_more_or(client, cbuf, remaining).await {
            Ok(0) | Err(Stop::Error) => return Err(0),
            Ok(_) => {}
            Err(Stop::Timeout) => return Err(408),
        }
    }
}

/// Rules may have edited `Content-Length`/`Transfer-Encoding`: the message keeps the
/// framing it was received with, whatever the rules did to these fields.
fn keep_framing(head: &mut Head, framing: Framing, now: Option<Framing>) {
    let stray_length = matches!(framing, Framing::Chunked) && head.get(b"content-length").is_some();
    if now == Some(framing) && !stray_length {
        return;
    }
    head.remove(b"content-length");
    head.remove(b"transfer-encoding");
    match framing {
        Framing::Length(n) => head.add(b"content-length", n.to_string().as_bytes()),
        Framing::Chunked => head.add(b"transfer-encoding", b"chunked"),
        _ => {}
    }
}

/// Carries out what the rules decided instead of forwarding the request.
#[allow(clippy::too_many_arguments)]
async fn answer_verdict<C: ReadInto + AsyncWrite>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    verdict: Verdict,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    req: &Head,
    keep: bool,
    timeout: Option<u64>,
    denied: [Option<&crate::stats::Counters>; 2],
    marks: &mut Marks,
) -> bool {
    if matches!(
        verdict,
        Verdict::Deny(_) | Verdict::Tarpit(..) | Verdict::Reject
    ) {
        for c in denied.into_iter().flatten() {
            c.denied_req.fetch_add(1, Relaxed);
        }
    }
    let answer = match verdict {
        Verdict::Continue | Verdict::WaitBody { .. } => return true,
        Verdict::Reject => {
            marks.end(*b"PR");
            return false;
        }
        Verdict::Deny(a) => {
            marks.end(*b"PR");
            a
        }
        Verdict::Answer(a) => {
            marks.end(*b"LR");
            a
        }
        Verdict::Tarpit(a, ms) => {
            marks.end(*b"PT");
            if !tarpit_wait(client, cbuf, ms).await {
                marks.term = Some(*b"CT");
                return false;
            }
            a
        }
    };
    answer_client(
        client, cbuf, head_len, framing, limits, &answer, req, keep, timeout, marks,
    )
    .await
}
