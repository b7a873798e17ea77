//! One client connection in HTTP mode: for each request, read and check the head (`timeout
//! http-request` → 408, malformed → HAProxy's status), apply `monitor-uri` and the frontend's
//! HTTP rules, choose the backend (`use_backend` rules with ACLs or `%[…]` names,
//! `default_backend`), apply the backend's rules, add `X-Forwarded-For`, pick the server (hashing
//! the URI, a URL parameter or a header where asked), stream the body each way, and keep
//! the client (and the server) connection alive as the connection mode allows; responses go
//! through the backend's then the frontend's `http-response` rules.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use halo_config::model::{Balance, HttpConnMode, ProxyProtocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::compile::Runtime;
use crate::http::h1::{
    self, BodyState, Framing, Head, Limits, parse_request, parse_response, request_framing,
    response_framing,
};
use crate::http::pages::early_page;
use crate::http::rules::{Answer, Env, Txn, Verdict};
use crate::lb::hash::hash_key;
use crate::proxy::conn::{BULK_BUFSIZE, Conn, give_buf, take_buf, take_bulk_buf};
use crate::proxy::proxy_protocol;
use crate::proxy::stream::{ConnInfo, Slot, connect_with_retries};
use crate::sample::Ctx;
use crate::server::{Backend, Server};
use crate::stats::now_sec;

/// A connection to a server kept for the next requests of the same client.
struct ServerConn {
    stream: TcpStream,
    be_idx: usize,
    srv: Option<Arc<Server>>,
    _slot: Option<Slot>,
    buf: Vec<u8>,
    /// Whether the PROXY header (`send-proxy`) went out on this connection.
    proxy_sent: bool,
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

async fn read_more<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: Option<u64>,
) -> Option<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16384);
    }
    let fut = r.read_buf(buf);
    match limit {
        Some(ms) => match tokio::time::timeout(Duration::from_millis(ms.max(1)), fut).await {
            Ok(Ok(n)) => Some(n),
            _ => None,
        },
        None => fut.await.ok(),
    }
}

/// Like `read_more`, but an empty buffer without capacity is only taken from the pool once
/// the peer has sent something.
async fn fill<C: Conn>(c: &mut C, buf: &mut Vec<u8>, limit: Option<u64>) -> Option<usize> {
    if buf.capacity() > 0 {
        return read_more(c, buf, limit).await;
    }
    let deadline = limit.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms.max(1)));
    loop {
        let ready = c.wait_readable();
        match deadline {
            Some(d) => match tokio::time::timeout_at(d, ready).await {
                Ok(Ok(())) => {}
                _ => return None,
            },
            None => ready.await.ok()?,
        }
        let mut b = take_buf();
        match c.try_read_into(&mut b) {
            Ok(n) => {
                *buf = b;
                return Some(n);
            }
            // Readiness without data (a new socket starts "ready"): give the buffer
            // back and wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => give_buf(b),
            Err(_) => {
                give_buf(b);
                return None;
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
async fn send_page<W: AsyncRead + AsyncWrite + Unpin>(w: &mut W, page: &[u8]) {
    if !page.is_empty() {
        let _ = w.write_all(page).await;
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

/// The page for error `status` once the request head is read: the backend's (once chosen),
/// else the frontend's, else HAProxy's (see `http::pages::stream_page`).
fn error_page<'a>(
    rt: &'a Runtime,
    info: &ConnInfo,
    (fe, be): (usize, Option<usize>),
    req: &Head,
    txn: &Txn,
    status: u16,
) -> std::borrow::Cow<'a, [u8]> {
    let env = Env {
        rt,
        src: info.src,
        dst: info.dst,
        frontend: fe,
        backend: be,
        server: None,
        listener_id: 0,
        first_req: false,
    };
    crate::http::pages::stream_page(&env, status, Some(req), &txn.vars)
}

/// The hash key of the balancing algorithm, if it hashes something of the request.
fn lb_key(be: &Backend, head: &Head, info: &ConnInfo) -> Option<u32> {
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
        Balance::UrlParam { name, .. } => {
            let uri = head.uri();
            let q = uri.iter().position(|&c| c == b'?').map(|i| &uri[i + 1..])?;
            q.split(|&c| c == b'&').find_map(|p| {
                p.strip_prefix(name.as_bytes())
                    .and_then(|r| r.strip_prefix(b"="))
                    .map(|v| hash_key(ht, v))
            })
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

/// Runs an HTTP session to its end.
pub async fn run_http<C>(
    rt: Arc<Runtime>,
    px_idx: usize,
    mut client: C,
    mut info: ConnInfo,
    accept_proxy: bool,
) where
    C: crate::proxy::conn::Conn,
{
    let Some(fe) = rt.proxies[px_idx].frontend.as_ref() else {
        return;
    };
    // Connection rules: monitor-net gets a bare 200 (1.x semantics), nothing forwarded.
    if fe.monitor_net.iter().any(|n| n.contains(info.src.ip())) {
        let _ = client.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        return;
    }
    let mut early = Vec::new();
    if accept_proxy {
        let limit = fe.client_timeout.unwrap_or(10_000);
        match crate::proxy::stream::read_proxy_header(&mut client, &mut info, limit).await {
            Some(rest) => early = rest,
            None => {
                fe.counters.err_req.fetch_add(1, Relaxed);
                return;
            }
        }
    }
    let limits = Limits::from_tune(
        rt.global.tune_bufsize,
        rt.global.tune_maxrewrite,
        rt.global.tune_http_maxhdr,
        false,
    );
    // The request buffer is taken from the pool when data arrives and given back when the
    // connection goes idle: a waiting keep-alive connection holds no buffer.
    let mut cbuf: Vec<u8> = Vec::new();
    cbuf.extend_from_slice(&early);
    let mut head = Head::new();
    let mut server: Option<ServerConn> = None;
    let mut first = true;
    let mut txn = Txn::default();
    loop {
        // Between requests: empty buffers go back to the pool.
        release(&mut cbuf);
        if let Some(sc) = server.as_mut() {
            release(&mut sc.buf);
        }
        // 1. The request head.
        head.clear();
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
                Ok(Some(n)) => break n,
                Ok(None) => {}
                Err(e) => {
                    fe.counters.err_req.fetch_add(1, Relaxed);
                    send_page(&mut client, early_page(&rt, px_idx, e.status)).await;
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
                    send_page(&mut client, early_page(&rt, px_idx, 408)).await;
                }
                return;
            }
            match fill(&mut client, &mut cbuf, remaining).await {
                Some(0) => {
                    // Closed before a complete head.
                    let ignore = rt.proxies[px_idx].http.ignore_probes;
                    if let Some(e) = h1::truncated_head(h1::Kind::Request, cbuf.len(), ignore) {
                        fe.counters.err_req.fetch_add(1, Relaxed);
                        send_page(&mut client, early_page(&rt, px_idx, e.status)).await;
                    }
                    return;
                }
                Some(_) => {}
                None => {
                    // Timeout (or read error): 408 if a request had started.
                    if !cbuf.is_empty() || (first && remaining.is_some() && !probes_ok) {
                        send_page(&mut client, early_page(&rt, px_idx, 408)).await;
                    }
                    return;
                }
            }
        };
        let framing = match request_framing(&head) {
            Ok(f) => f,
            Err(e) => {
                fe.counters.err_req.fetch_add(1, Relaxed);
                send_page(&mut client, early_page(&rt, px_idx, e.status)).await;
                return;
            }
        };
        // The work on one request is boxed: a connection waiting for its next request
        // keeps only the small state above, not the futures of a request in progress.
        let step = Box::pin(async {
            txn.new_transaction();
            let req_close = h1::wants_close(&head);
            let fe_http = &rt.proxies[px_idx].http;
            // 2. monitor-uri, then the frontend's http-request rules.
            let verdict = {
                let env = Env {
                    rt: &rt,
                    src: info.src,
                    dst: info.dst,
                    frontend: px_idx,
                    // Until `use_backend` runs, the frontend is the stream's backend.
                    backend: Some(px_idx),
                    server: None,
                    listener_id: 0,
                    first_req: first,
                };
                let acls = &rt.proxies[px_idx].acls;
                match fe_http.rules.monitor(acls, &env, &head, &txn) {
                    Some(a) => Verdict::Answer(a),
                    None => fe_http.rules.request(acls, &env, &mut head, &mut txn),
                }
            };
            if !matches!(verdict, Verdict::Continue) {
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
                    Some(&fe.counters),
                )
                .await;
                if !go_on || matches!(next_step(&rt), Next::Close) {
                    return Step::Close;
                }
                first = false;
                return Step::Next;
            }
            // 3. Backend choice.
            let be_idx = {
                let ctx = Ctx {
                    rt: Some(&rt),
                    src: Some(info.src),
                    dst: Some(info.dst),
                    frontend: Some(px_idx),
                    backend: None,
                    server: None,
                    listener_id: 0,
                    req_payload: &[],
                    res_payload: &[],
                    req_final: true,
                    req: Some(&head),
                    res: None,
                    first_req: first,
                    vars: Some(&txn.vars),
                };
                let px = &rt.proxies[px_idx];
                fe.choose_backend(&rt, &px.acls, &ctx)
            };
            let Some(be_idx) = be_idx else {
                let page = error_page(&rt, &info, (px_idx, None), &head, &txn, 503);
                send_page(&mut client, &page).await;
                return Step::Close;
            };
            let Some(be) = rt.proxies[be_idx].backend.clone() else {
                let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, 503);
                send_page(&mut client, &page).await;
                return Step::Close;
            };
            let be_http = &rt.proxies[be_idx].http;
            // 4. The backend's http-request rules.
            if be_idx != px_idx && be_http.rules.has_request_rules() {
                let verdict = {
                    let env = Env {
                        rt: &rt,
                        src: info.src,
                        dst: info.dst,
                        frontend: px_idx,
                        backend: Some(be_idx),
                        server: None,
                        listener_id: 0,
                        first_req: first,
                    };
                    let acls = &rt.proxies[be_idx].acls;
                    be_http.rules.request(acls, &env, &mut head, &mut txn)
                };
                if !matches!(verdict, Verdict::Continue) {
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
                        Some(&be.counters),
                    )
                    .await;
                    if !go_on || matches!(next_step(&rt), Next::Close) {
                        return Step::Close;
                    }
                    first = false;
                    return Step::Next;
                }
            }
            if fe_http.rules.has_request_rules() || be_http.rules.has_request_rules() {
                let now = request_framing(&head).ok();
                keep_framing(&mut head, framing, now);
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
            if server_close {
                head.set(b"Connection", b"close");
            }
            let upgrade = h1::upgrade(&head).is_some();
            let method = head.method().to_vec();
            // 4. The server: keep the previous one if it serves the same backend.
            if server.as_ref().map(|s| s.be_idx != be_idx).unwrap_or(false) {
                server = None;
            }
            if server.is_none() {
                be.beconn.fetch_add(1, Relaxed);
                be.counters.session_start(now_sec());
                let key = lb_key(&be, &head, &info);
                let res = if be.settings.abortonclose {
                    tokio::select! {
                        r = connect_with_retries(&be, key, &info) => r,
                        _ = client_gone(&client, &mut cbuf) => {
                            // The client left while waiting: its request goes nowhere.
                            let _ = be
                                .beconn
                                .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
                            be.counters.session_end();
                            be.counters.cli_abort.fetch_add(1, Relaxed);
                            return Step::Close;
                        }
                    }
                } else {
                    connect_with_retries(&be, key, &info).await
                };
                let _ = be
                    .beconn
                    .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
                be.counters.session_end();
                match res {
                    Some((srv, slot, stream)) => {
                        server = Some(ServerConn {
                            stream,
                            be_idx,
                            srv,
                            _slot: slot,
                            buf: Vec::new(),
                            proxy_sent: false,
                        });
                    }
                    None => {
                        let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, 503);
                        send_page(&mut client, &page).await;
                        return Step::Close;
                    }
                }
            }
            let Some(sc) = server.as_mut() else {
                return Step::Close;
            };
            // 5. Request head and body to the server.
            let mut out = Vec::with_capacity(head_len + 256);
            // A new server connection starts with the PROXY header when the server asks for it.
            if !sc.proxy_sent {
                sc.proxy_sent = true;
                match sc.srv.as_ref().and_then(|s| s.send_proxy) {
                    Some(ProxyProtocol::V1) => {
                        proxy_protocol::write_v1(info.src, info.dst, &mut out)
                    }
                    Some(ProxyProtocol::V2) => {
                        proxy_protocol::write_v2(info.src, info.dst, &mut out)
                    }
                    None => {}
                }
            }
            head.write_to(&mut out);
            cbuf.drain(..head_len);
            let mut body = BodyState::new(framing).with_limits(&limits);
            let server_timeout = be.settings.server_timeout;
            let client_timeout = fe.client_timeout;
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
            if let Err(status) = sent {
                if status != 0 {
                    let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, status);
                    send_page(&mut client, &page).await;
                }
                return Step::Close;
            }
            // 6. The response head.
            let mut rhead = Head::new();
            let rhead_len = loop {
                let r = loop {
                    match parse_response(&sc.buf, &limits, &mut rhead) {
                        Ok(Some(n)) => break Ok(n),
                        Ok(None) => {}
                        Err(e) => break Err(e.status),
                    }
                    match fill(&mut sc.stream, &mut sc.buf, server_timeout).await {
                        Some(0) => break Err(502),
                        Some(_) => {}
                        None => break Err(504),
                    }
                };
                match r {
                    Ok(n) => {
                        // Interim 1xx (except 101) go to the client, then wait for the final one.
                        let st = rhead.status();
                        if (100..200).contains(&st) && st != 101 {
                            let _ = client.write_all(&sc.buf[..n]).await;
                            sc.buf.drain(..n);
                            rhead.clear();
                            continue;
                        }
                        break n;
                    }
                    Err(status) => {
                        if let Some(s) = &sc.srv {
                            s.counters.err_resp.fetch_add(1, Relaxed);
                        }
                        be.counters.err_resp.fetch_add(1, Relaxed);
                        let page =
                            error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, status);
                        send_page(&mut client, &page).await;
                        return Step::Close;
                    }
                }
            };
            let status = rhead.status();
            if status == 101 && !upgrade {
                // A switch nobody asked for: never tunnel on the server's word alone.
                be.counters.err_resp.fetch_add(1, Relaxed);
                let page = error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, 502);
                send_page(&mut client, &page).await;
                return Step::Close;
            }
            // 7. Upgrade (WebSocket): both sides become a tunnel.
            if status == 101 && upgrade {
                let mut out = Vec::new();
                rhead.write_to(&mut out);
                out.extend_from_slice(&sc.buf[rhead_len..]);
                if client.write_all(&out).await.is_err() {
                    return Step::Close;
                }
                let Some(mut sc) = server.take() else {
                    return Step::Close;
                };
                let tunnel = be.settings.tunnel_timeout.or(fe.tunnel_timeout);
                let t = crate::proxy::forward::Timeouts {
                    client: tunnel.or(client_timeout),
                    server: tunnel.or(server_timeout),
                    client_fin: fe.client_fin_timeout,
                    server_fin: be.settings.server_fin_timeout,
                };
                crate::proxy::forward::forward(
                    &mut client,
                    &mut sc.stream,
                    &cbuf,
                    t,
                    rt.global.tune_bufsize,
                )
                .await;
                return Step::Close;
            }
            let rframing = match response_framing(&rhead, &method) {
                Ok(f) => f,
                Err(e) => {
                    let page =
                        error_page(&rt, &info, (px_idx, Some(be_idx)), &head, &txn, e.status);
                    send_page(&mut client, &page).await;
                    return Step::Close;
                }
            };
            let until_close = matches!(rframing, Framing::UntilClose);
            let server_reusable = !server_close && !until_close && !h1::wants_close(&rhead);
            // 8. http-response rules: the backend's, then the frontend's.
            if be_http.rules.has_response_rules()
                || (be_idx != px_idx && fe_http.rules.has_response_rules())
            {
                let verdict = {
                    let env = Env {
                        rt: &rt,
                        src: info.src,
                        dst: info.dst,
                        frontend: px_idx,
                        backend: Some(be_idx),
                        server: sc.srv.as_deref(),
                        listener_id: 0,
                        first_req: first,
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
                if !matches!(verdict, Verdict::Continue) {
                    if matches!(verdict, Verdict::Deny(_)) {
                        be.counters.denied_resp.fetch_add(1, Relaxed);
                    }
                    // The server's response is dropped, and its connection with it.
                    server = None;
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
                        None,
                    )
                    .await;
                    if !go_on || matches!(next_step(&rt), Next::Close) {
                        return Step::Close;
                    }
                    first = false;
                    return Step::Next;
                }
                let now = response_framing(&rhead, &method).ok();
                keep_framing(&mut rhead, rframing, now);
            }
            // Towards the client the response is HTTP/1.1, whatever the server spoke (HAProxy
            // does the same), so the client's connection can stay alive.
            rhead.set_version(h1::Version::Http11);
            let keep_client = !client_close && !until_close;
            // The server's connection header concerns the server side only; towards the
            // client it says what halo does with the client connection.
            rhead.remove(b"connection");
            if !keep_client {
                rhead.add(b"Connection", b"close");
            } else if head.version() == h1::Version::Http10 {
                rhead.add(b"Connection", b"keep-alive");
            }
            let mut out = Vec::with_capacity(rhead_len + 256);
            rhead.write_to(&mut out);
            sc.buf.drain(..rhead_len);
            // 9. Response body to the client.
            let mut rbody = BodyState::new_response(rframing);
            let ok = forward_response(&mut rbody, sc, &mut client, &mut out, server_timeout).await;
            if !ok {
                return Step::Close;
            }
            if !server_reusable {
                server = None;
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
        })
        .await;
        if let Step::Close = step {
            return;
        }
    }
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
async fn forward_body<C: AsyncRead + Unpin>(
    body: &mut BodyState,
    cbuf: &mut Vec<u8>,
    client: &mut C,
    server: &mut TcpStream,
    out: &mut Vec<u8>,
    timeout: Option<u64>,
) -> Result<(), u16> {
    loop {
        if !cbuf.is_empty() && !body.is_done() {
            let (n, _) = body.advance(cbuf).map_err(|e| e.status)?;
            out.extend_from_slice(&cbuf[..n]);
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
) -> bool {
    loop {
        if !sc.buf.is_empty() && !body.is_done() {
            let n = match body.advance(&sc.buf) {
                Ok((n, _)) => n,
                Err(_) => {
                    let _ = client.write_all(out).await;
                    return false;
                }
            };
            if !out.is_empty() && n <= 4096 {
                out.extend_from_slice(&sc.buf[..n]);
            } else {
                if !out.is_empty() {
                    if client.write_all(out).await.is_err() {
                        return false;
                    }
                    out.clear();
                }
                if client.write_all(&sc.buf[..n]).await.is_err() {
                    return false;
                }
            }
            sc.buf.drain(..n);
        }
        if !out.is_empty() {
            if client.write_all(out).await.is_err() {
                return false;
            }
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
                let _ = body.eof();
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
            None => return false,
        }
    }
}

/// Sends an answer made by the proxy itself (rules, monitor-uri) and, when the client
/// connection may stay, skips what is left of the request body. Returns whether the
/// connection serves another request.
#[allow(clippy::too_many_arguments)]
async fn answer_client<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    answer: &Answer,
    req: &Head,
    keep: bool,
    timeout: Option<u64>,
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
    if client.write_all(&out).await.is_err() || client.flush().await.is_err() {
        return false;
    }
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
async fn tarpit_wait<C: AsyncRead + Unpin>(client: &mut C, cbuf: &mut Vec<u8>, ms: u64) -> bool {
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
async fn answer_verdict<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    cbuf: &mut Vec<u8>,
    verdict: Verdict,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    req: &Head,
    keep: bool,
    timeout: Option<u64>,
    denied: Option<&crate::stats::Counters>,
) -> bool {
    if let Some(c) = denied
        && matches!(
            verdict,
            Verdict::Deny(_) | Verdict::Tarpit(..) | Verdict::Reject
        )
    {
        c.denied_req.fetch_add(1, Relaxed);
    }
    let answer = match verdict {
        Verdict::Continue => return true,
        Verdict::Reject => return false,
        Verdict::Answer(a) | Verdict::Deny(a) => a,
        Verdict::Tarpit(a, ms) => {
            if !tarpit_wait(client, cbuf, ms).await {
                return false;
            }
            a
        }
    };
    answer_client(
        client, cbuf, head_len, framing, limits, &answer, req, keep, timeout,
    )
    .await
}
